"""The CPU of untraced helper programs (a browser, node) kept apart from the program's, on hand-built
inputs: analysis.helpers_apart and what the verdicts say with it (the real program is in
tests/test_helpers_e2e.py)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from tests.runinfo_records import proc, run_info
from tracekit.analysis import helpers_apart
from tracekit.analysis.findings import verdicts
from tracekit.analysis.model import DataLoss

# the program (pid 10, one thread) drove node (11) and chromium (12, a child of node)
INFO = run_info(
    processes={10: proc(("python", "a.py")), 11: proc(("node",), ppid=10), 12: proc(("chromium",), ppid=11)}
)
HELPERS = ["pid 11 node (not a Python program)", "pid 12 chromium (not a Python program)"]


def loss(helpers: list[str], untraced: list[int] | None = None) -> DataLoss:
    return DataLoss(overflow=False, untraced_pids=untraced or [], trace_status="ok", timed_out=False,
                    interrupted=False, output_truncated=False, warnings=[], helpers=helpers)  # fmt: skip


def units(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {"kind": "thread", "role": "main", "pid": 10, "tid": 10, "name": "MainThread", "cpu_s": 0.0}
    return pd.DataFrame([{**base, **r} for r in rows])


PROGRAM = units(
    {"kind": "process", "tid": 0, "name": "MainProcess", "cpu_s": 0.4},
    {"cpu_s": 0.4},
    {"role": "worker", "tid": 13, "name": "asyncio-waitpid-0"},  # asyncio's child watcher, as Playwright has
)


def test_the_tree_less_the_programs_processes_is_the_helpers() -> None:
    # the tree used 2.6 s in 2 s; the program's one process 0.4 s of it
    assert helpers_apart(INFO, PROGRAM, loss(HELPERS), cpu_s=2.6, wall_s=2.0) == (2.2, frozenset({11, 12}))


def test_no_helpers_or_unknown_cpu_leaves_the_cpu_whole() -> None:
    assert helpers_apart(INFO, PROGRAM, loss([]), 2.6, 2.0)[0] == 0.0  # nothing named as a helper
    lost = loss(HELPERS, untraced=[12])  # a Python process without a trace: whose CPU is unknown
    assert helpers_apart(INFO, PROGRAM, lost, 2.6, 2.0) == (0.0, frozenset({11}))
    unsampled = units({"kind": "process", "tid": 0, "cpu_s": float("nan")})
    assert helpers_apart(INFO, unsampled, loss(HELPERS), 2.6, 2.0)[0] == 0.0
    # under 0.05 cores on average: within the sampling's noise (10 ms ticks a process)
    assert helpers_apart(INFO, PROGRAM, loss(HELPERS), 0.49, 2.0)[0] == 0.0
    assert helpers_apart(INFO, PROGRAM, loss(HELPERS), 0.51, 2.0)[0] == pytest.approx(0.11)


def test_a_browser_busy_on_a_core_is_not_the_programs_threads_in_parallel() -> None:
    kw: dict[str, Any] = dict(wall_s=2.0, cores=2, units=PROGRAM, peak=1, blocks=[], loss_warnings=[], helpers=HELPERS)
    # before: the tree's 2.6 s read as one process's threads running 1.3 cores at once
    assert next(f.kind for f in verdicts(cpu_s=2.6, **kw)) == "parallel"
    fs = verdicts(cpu_s=0.4, helpers_cpu_s=2.2, **kw)
    assert "parallel" not in [f.kind for f in fs]
    helper = next(f for f in fs if f.kind == "untraced-helpers")
    assert helper.message == (
        "not traced, as expected (no data lost): pid 11 node (not a Python program); pid 12 chromium (not a Python "
        "program). They used 2.20 s of CPU (1.10 cores on average): counted in the run's CPU and parallelism, but "
        "left out of the verdicts on the program's own processes, threads and tasks."
    )
    assert helper.evidence == {"helpers": HELPERS, "helpers_cpu_s": 2.2}
    assert all(f.evidence.get("helpers_cpu_s") == 2.2 for f in fs if "cpu_s" in f.evidence)


def test_a_program_parallel_itself_stays_parallel_beside_its_helpers() -> None:
    two = units(
        {"kind": "process", "tid": 0, "cpu_s": 3.0}, {"cpu_s": 1.5}, {"role": "worker", "tid": 13, "cpu_s": 1.5}
    )
    fs = verdicts(wall_s=2.0, cpu_s=3.0, helpers_cpu_s=0.5, cores=2, units=two, peak=2, blocks=[], loss_warnings=[],
                  helpers=HELPERS)  # fmt: skip
    assert fs[0].kind == "parallel" and fs[0].evidence["parallelism"] == 1.5, fs
    assert "parallel threads: 1.50 of 2 cores" in fs[0].message
