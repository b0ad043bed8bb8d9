"""An event loop saturated by short steps (none a block on its own) against asyncio's debug mode, an oracle
tracekit does not compute: with `loop.slow_callback_duration` at 1 ms, asyncio logs every step it ran
("Executing <Task ...> took 0.046 seconds"), and their sum over the program's own wall time is the share
of its time the loop was busy. Run untraced for the oracle, then under `tracekit profile` in both captures.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_tracekit

pytestmark = pytest.mark.slow

PROGRAM = textwrap.dedent(
    """
    import asyncio, json, sys, time

    DATA = {"k%d" % i: list(range(20)) for i in range(50)}

    def encode(seconds):  # CPU work on the loop: json encoding for a fixed time
        t = time.perf_counter()
        while time.perf_counter() - t < seconds:
            json.dumps(DATA)

    async def handle(i, seconds, pause):
        for _ in range(3):
            await asyncio.sleep(pause)
            encode(seconds)

    async def main(seconds, pause):
        asyncio.get_running_loop().slow_callback_duration = 0.001  # debug mode logs every step of 1 ms or more
        t = time.perf_counter()
        await asyncio.gather(*(handle(i, seconds, pause) for i in range(10)))
        print(json.dumps({"wall_s": time.perf_counter() - t}))

    asyncio.run(main(float(sys.argv[1]), float(sys.argv[2])))
    """
)
TOOK = re.compile(r"^Executing .* took (\d+\.\d+) seconds$", re.M)


def oracle(script: Path, *args: str) -> float:
    """The share of the program's time asyncio's debug mode saw its loop run steps, untraced."""
    proc = subprocess.run([sys.executable, "-X", "dev", str(script), *args], capture_output=True, text=True,
                          timeout=120, env={"PYTHONASYNCIODEBUG": "1", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    took = [float(x) for x in TOOK.findall(proc.stderr)]
    wall = json.loads(proc.stdout.strip().splitlines()[-1])["wall_s"]
    return sum(took) / wall


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("saturation") / "json_on_the_loop.py"
    path.write_text(PROGRAM)
    return path


def profile(script: Path, args: tuple[str, str], *options: str) -> dict[str, Any]:
    out = script.parent / f"run-{args[0]}-{'-'.join(o.strip('-') for o in options) or 'traced'}"
    proc = run_tracekit("profile", "-q", *options, "-o", str(out), str(script), *args, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    stats: dict[str, Any] = json.loads((out / "stats.json").read_text())
    return stats


def saturation(stats: dict[str, Any]) -> dict[str, Any] | None:
    return next((f for f in stats["findings"] if f["kind"] in ("loop-saturated", "loop-maybe-saturated")), None)


@pytest.mark.parametrize("capture", ["traced", "sampled"])
def test_a_loop_busy_with_short_steps_is_saturated(script: Path, capture: str) -> None:
    args = ("0.03", "0.002")  # 30 steps of 30 ms of CPU, each after a 2 ms sleep: none a block of 0.1 s
    share = oracle(script, *args)
    assert share >= 0.8, share  # the workload does what it is for
    s = profile(script, args, *(["--sampled"] if capture == "sampled" else []))
    f = saturation(s)
    assert f is not None, s["findings"]
    ev = f["evidence"]
    assert ev["share"] == pytest.approx(share, abs=0.1), (ev, share)  # fixed-time steps: tracing cannot stretch them
    assert ev["untraced_min_share"] <= share + 0.05, (ev, share)  # the lower bound is one
    assert s["loop_blocked_max_s"] == 0.0 and not any(x["kind"].startswith("loop-") and "blocked" in x["kind"]
                                                      for x in s["findings"])  # fmt: skip
    if capture == "sampled":  # no per-call cost: the measured share is the program's, and the finding is sure
        assert f["kind"] == "loop-saturated" and f["severity"] == "warning", f
        assert "ProcessPoolExecutor" in f["message"]


@pytest.mark.parametrize("capture", ["traced", "sampled"])
def test_a_loop_that_mostly_waits_is_not_saturated(script: Path, capture: str) -> None:
    args = ("0.002", "0.05")  # 10 tasks, each 2 ms of CPU per 50 ms asleep: the loop is busy ~30%
    share = oracle(script, *args)
    assert share < 0.5, share
    s = profile(script, args, *(["--sampled"] if capture == "sampled" else []))
    assert saturation(s) is None, (s["findings"], share)
