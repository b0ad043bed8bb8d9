"""End to end: `tracekit profile --sampled` (no tracer; function times from sampled Python stacks) on
the bundled scenarios, through real subprocesses. The units, concurrency and findings come from the
structure record and must be the issue-3 table, as in a traced run; the function slices come from
the samples and must show the program's own calls, one per call."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

import tracekit

from .conftest import SCENARIOS, run_tracekit, scenario_runs
from .test_profile_e2e import TABLE, assert_table_row


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return scenario_runs(tmp_path_factory.mktemp("sampled"), "--sampled")


def stats(out: Path) -> Any:
    return json.loads((out / "stats.json").read_text())


@pytest.mark.parametrize(("name", "peak", "par", "finding"), TABLE)
def test_the_concurrency_table_holds_without_the_tracer(
    sampled: Any, name: str, peak: int, par: tuple[str, float], finding: str
) -> None:
    proc, out = sampled(name)
    assert proc.returncode == 0, proc.stderr
    s = stats(out)
    assert_table_row(s, peak, par, finding)
    assert s["data_loss"]["warnings"] == []  # the sampler's own thread is not an "untraced thread"
    assert s["context"]["stack_interval_us"] == 5000.0 and s["context"]["traced"] is False
    assert "sampled every 5 ms" in proc.stderr


def test_each_call_is_its_own_slice_and_the_bootstrap_is_left_out(sampled: Any) -> None:
    an = tracekit.load(str(sampled("sync_count")[1]))
    ev = an.events
    count = ev[ev["name"].astype(str).str.startswith("count (")]
    # count() sleeps 1 s three times in a row: three slices of ~1 s, not one of 3 s
    assert len(count) == 3, count
    assert count["dur_us"].between(0.9e6, 1.2e6).all()
    roots = set(ev.loc[ev["depth"] == 0, "name"].astype(str))
    assert roots == {f"<module> ({SCENARIOS / 'sync_count.py'}:1)"}  # no tracekit._child nor runpy frames
    run = json.loads((sampled("sync_count")[1] / "run.json").read_text())
    assert run["trace"]["capture"] == "sampled" and run["trace"]["stack_samples"] >= 3


def test_forked_workers_start_at_their_own_frames(sampled: Any) -> None:
    an = tracekit.load(str(sampled("process_count")[1]))
    ev = an.events
    root_pid = int(json.loads((sampled("process_count")[1] / "run.json").read_text())["pid"])
    children = ev[ev["pid"] != root_pid]
    assert children["pid"].nunique() == 3
    # a forked child's stack holds its parent's calls (the script's <module> ... Popen._launch); they
    # are the parent's, so the child's slices begin below them
    assert not children["name"].astype(str).str.startswith("<module> (").any()
    per_child = children[children["name"].astype(str).str.startswith("count (")].groupby("pid").size()
    assert per_child.tolist() == [1, 1, 1]


def test_the_sampler_thread_is_not_the_programs(tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text("import threading, time\ntime.sleep(0.1)\nprint(len(threading.enumerate()))\n")
    proc = run_tracekit("profile", "--sampled", "-o", str(tmp_path / "run"), str(script))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"  # only MainThread: the program sees no extra thread
    s = stats(tmp_path / "run")
    assert s["units"]["threads"] == 1 and s["data_loss"]["warnings"] == []
    assert threading.active_count() >= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--sampled", "--full"], "--sampled and --full are different captures; choose one"),
     (["--sampled", "--sample-only"], "--sampled and --sample-only are different captures; choose one"),
     (["--sampled", "--stack-interval", "0"], "--stack-interval must be 0.5 to 1000 ms (got 0.0); try 5")],
)  # fmt: skip
def test_conflicting_captures_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    proc = run_tracekit("profile", *args, "-o", str(tmp_path / "run"), str(SCENARIOS / "sync_count.py"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"Error: {message}"
    assert not (tmp_path / "run").exists()


def test_a_blocked_loop_is_found_and_its_unseen_c_call_said_so(sampled: Any) -> None:
    s = stats(sampled("async_blocking")[1])
    assert 0.9 <= s["loop_blocked_max_s"] <= 1.3  # from the structure record's exact step durations
    f = s["findings"][0]
    assert f["kind"] == "loop-blocked"
    assert f["evidence"]["chain"][-1].startswith("count (") and "async_blocking.py:" in f["evidence"]["chain"][-1]
    assert "that the stack sampler cannot see into (C code, such as time.sleep" in f["message"]
    assert f["evidence"]["line"] == "async_blocking.py:9: time.sleep(1)"  # where count sat: the sampled line


def test_a_script_path_that_is_not_utf8_runs_sampled(tmp_path: Path) -> None:
    """viztracer 1.1.1 crashes on such a path (so the default capture refuses it); the sampler does not."""
    import os
    import subprocess
    import sys

    folder = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9"))
    folder.mkdir()
    script = folder / "prog.py"
    script.write_text("import time\ndef work():\n    time.sleep(0.2)\nwork()\nprint('ok')\n")
    p = subprocess.run(
        [sys.executable, "-m", "tracekit", "profile", "-q", "--sampled", "-o", str(tmp_path / "run"), str(script)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    an = tracekit.load(str(tmp_path / "run"))
    names = set(an.events["name"].astype(str))
    assert any(n.startswith("work (") and "caf\ufffd" in n for n in names), names  # undecodable byte shown as U+FFFD


def test_code_the_tracer_crashes_on_is_named_and_runs_sampled(tmp_path: Path) -> None:
    """viztracer 1.1.1 segfaults on a module imported from a folder whose name is not UTF-8; the run
    says so and points to --sampled, which runs it."""
    import os

    folder = os.fsdecode(bytes(tmp_path) + b"/m\xe9od")
    os.makedirs(folder)
    Path(folder, "modx.py").write_text("def f():\n    return 41 + 1\n")
    script = tmp_path / "prog.py"
    where = os.fsencode(folder)
    # the sleep: a program that ends within the sampler's first ticks rightly warns "no psutil samples"
    script.write_text(
        f"import os, sys, time\nsys.path.insert(0, os.fsdecode({where!r}))\nimport modx\nprint(modx.f())\n"
        "time.sleep(0.3)\n"
    )
    traced = run_tracekit("profile", "-q", "-o", str(tmp_path / "t"), str(script))
    assert traced.returncode == 139, traced.stderr  # the crash is the program's exit, as a shell shows it
    warnings = stats(tmp_path / "t")["data_loss"]["warnings"]
    assert any("crashed (SIGSEGV)" in w and "`--sampled` runs without the tracer" in w for w in warnings), warnings
    sampled = run_tracekit("profile", "-q", "--sampled", "-o", str(tmp_path / "s"), str(script))
    assert sampled.returncode == 0, sampled.stderr
    run = json.loads((tmp_path / "s" / "run.json").read_text())
    assert [t for _t, stream, t in run["output"]["lines"] if stream == "stdout"] == ["42"]
    assert stats(tmp_path / "s")["data_loss"]["warnings"] == []
