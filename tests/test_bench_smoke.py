"""The benchmark runner still works (tiny sizes, one round): keeps bench/ from rotting.

It checks that every benchmark ran and produced numbers, never the numbers themselves: timings on a
shared machine are noise at this size (bench/README.md has the real figures).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_runs_every_quick_benchmark(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    p = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["quick"] is True and doc["rounds"] == 1
    assert doc["machine"]["nproc"] >= 1 and doc["machine"]["python"]
    names = [r["name"] for r in doc["results"]]
    assert names == ["e2e", "sampler", "analysis", "scale"]
    for res in doc["results"]:
        assert res["rows"], res["name"]
        for row in res["rows"]:
            assert math.isfinite(row["value"]) and row["value"] >= 0, row
            assert row["target"]
    # the printed table has one line per figure
    assert p.stdout.count("\n| ") == sum(len(r["rows"]) for r in doc["results"]) + 1
    assert "| e2e | total wall, tracekit / bare |" in p.stdout


def test_capture_bench_quick_measures_each_variant(tmp_path: Path) -> None:
    out = tmp_path / "capture.json"
    p = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "capture.py"), "--quick", "--only", "async_count",
         "--variants", "untraced,viztracer,tracekit", "--out", str(out)],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    (res,) = json.loads(out.read_text())["results"]
    assert res["workload"] == "async_count" and set(res["variants"]) == {"untraced", "viztracer", "tracekit"}
    for v in res["variants"].values():
        assert v["codes"] == [0] and v["wall_s"] > 0.9 and v["tree_peak_rss_mib"] > 1  # the script sleeps 1 s
    tk = res["variants"]["tracekit"]
    assert tk["data_loss"] == [] and tk["overflow"] is False and tk["events"] > 0 and tk["run_dir_mib"] > 0
    assert res["variants"]["untraced"]["wall_ratio"] == 1.0
    # tracekit's time around the run: its start-up before, the run (the 1 s sleep and more), its work after
    (raw,) = [m for m in res["raw"] if m["variant"] == "tracekit"]
    assert 0 < raw["before_s"] < raw["wall_s"] and raw["child_s"] > 0.9 and raw["after_s"] > 0
    assert abs(raw["before_s"] + raw["child_s"] + raw["after_s"] - raw["wall_s"]) < 0.005
