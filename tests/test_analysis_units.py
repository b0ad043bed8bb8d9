"""Units, entry tasks, task creation and concurrency from hand-built events, with exact numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracekit.analysis import units as U
from tracekit.analysis.functions import functions_table, split_name
from tracekit.trace import EVENT_COLUMNS, TRACK_COLUMNS

EMPTY = pd.DataFrame(columns=["t_ns", "kind", "pid", "tid", "user_s", "system_s"])
CT = "BaseEventLoop.create_task (/usr/lib/python3.11/asyncio/base_events.py:436)"


def events(rows: list[tuple[int, int, float, float, str, int]]) -> pd.DataFrame:
    """rows: (pid, tid, start_us, dur_us, name, parent_row) in start order; depth from parents."""
    df = pd.DataFrame(rows, columns=["pid", "tid", "start_us", "dur_us", "name", "parent"])
    df["end_us"] = df["start_us"] + df["dur_us"]
    child = np.bincount(df["parent"][df["parent"] >= 0], weights=df["dur_us"][df["parent"] >= 0], minlength=len(df))
    df["self_us"] = df["dur_us"] - child
    depth = []
    for p in df["parent"]:
        depth.append(0 if p < 0 else depth[p] + 1)
    df["depth"] = depth
    return df[EVENT_COLUMNS]


def tracks(rows: list[tuple[int, int, str, str]]) -> pd.DataFrame:
    return pd.DataFrame([(*r, "MainProcess") for r in rows], columns=TRACK_COLUMNS)


def async_run() -> tuple[pd.DataFrame, pd.DataFrame]:
    """asyncio.run(main()) where main gathers two tasks that each wait 1 s (times in µs)."""
    ev = events(
        [
            (1, 1, 0, 1_100_000, "run (x.py:1)", -1),  # 0 main thread
            (1, 1, 10, 5, CT, 0),  # 1 creates Task-1
            (1, 900, 20, 100, "main (x.py:5)", -1),  # 2 Task-1 first step
            (1, 900, 30, 5, CT, 2),  # 3 Task-1 creates Task-2
            (1, 900, 40, 5, CT, 2),  # 4 ... and Task-3
            (1, 901, 200, 50, "count (x.py:9)", -1),  # 5 Task-2 steps
            (1, 902, 300, 50, "count (x.py:9)", -1),  # 6 Task-3
            (1, 901, 1_000_200, 50, "count (x.py:9)", -1),  # 7
            (1, 902, 1_000_300, 50, "count (x.py:9)", -1),  # 8
            (1, 900, 1_000_400, 100, "main (x.py:5)", -1),  # 9 Task-1 last step
        ]
    )
    tr = tracks([(1, 1, "MainThread", "thread"), (1, 900, "Task-1", "task"), (1, 901, "Task-2", "task"),
                 (1, 902, "Task-3", "task")])  # fmt: skip
    return ev, tr


def test_tasks_are_paired_with_their_creation_and_entry_task_is_not_a_worker() -> None:
    ev, tr = async_run()
    samples = pd.DataFrame(
        [dict(t_ns=t, kind="p", pid=1, tid=0, user_s=c, system_s=0.0) for t, c in ((0, 0.0), (1_100_000_000, 0.05))]
    )
    u = U.build_units(ev, tr, root_pid=1, ppids={}, start_us=0, samples=samples)
    tasks = u[u["kind"] == "task"].set_index("name")
    assert tasks.loc["Task-1", "role"] == "entry"
    assert tasks.loc["Task-2", "role"] == "worker"
    assert tasks.loc["Task-3", "role"] == "worker"
    # created at 30 µs and 40 µs, although their first steps came at 200 and 300 µs
    assert tasks.loc["Task-2", "start_s"] == pytest.approx(30e-6)
    assert tasks.loc["Task-3", "start_s"] == pytest.approx(40e-6)
    assert tasks.loc["Task-3", "end_s"] == pytest.approx(1_000_350e-6)
    assert tasks.loc["Task-2", "created_at"] == "main (x.py:5)"
    assert tasks.loc["Task-2", "slices"] == 2
    assert tasks.loc["Task-2", "python_s"] == pytest.approx(100e-6)  # two 50 µs steps of count()
    # main's two steps (200 µs) include two 5 µs create_task calls, Python code too: all of it counts
    assert tasks.loc["Task-1", "python_s"] == pytest.approx(200e-6)
    proc = u[u["kind"] == "process"].iloc[0]
    assert proc["role"] == "main" and proc["cpu_s"] == pytest.approx(0.05)
    assert proc["wall_s"] == pytest.approx(1.1)
    assert proc["cpu_ratio"] == pytest.approx(0.05 / 1.1)


def test_concurrency_steps_peak_and_time_weighted_mean() -> None:
    ev, tr = async_run()
    u = U.build_units(ev, tr, 1, {}, 0, EMPTY)
    steps = U.in_flight_steps(u, wall_s=1.1)
    peak, mean = U.concurrency_summary(steps, 1.1)
    assert peak == 2
    # 1 in flight for 30 µs, 2 from 40 µs to 1.00035 s, ...
    expected = (1 * 30e-6 + 1 * 10e-6 + 2 * (1_000_250e-6 - 40e-6) + 1 * (1_000_350e-6 - 1_000_250e-6)
                + 1 * (1.1 - 1_000_350e-6)) / 1.1  # fmt: skip
    assert mean == pytest.approx(expected)
    assert U.in_flight_at(steps, np.array([0.0, 0.5, 1.05])).tolist() == [1, 2, 1]


def test_main_thread_only_program_has_concurrency_one() -> None:
    ev = events([(5, 5, 0, 3_000_000, "main (s.py:1)", -1)])
    u = U.build_units(ev, tracks([(5, 5, "MainThread", "thread")]), 5, {}, 0, EMPTY)
    steps = U.in_flight_steps(u, 3.0)
    assert U.concurrency_summary(steps, 3.0) == (1, 1.0)


def test_fork_child_main_thread_with_stale_tid() -> None:
    # a fork child (pid 7) keeps its parent's tid 5 for its main thread; a helper thread 8 is a worker
    ev = events([(5, 5, 0, 100, "main (p.py:1)", -1), (7, 5, 10, 50, "work (p.py:3)", -1),
                 (7, 8, 20, 30, "feed (q.py:1)", -1)])  # fmt: skip
    tr = tracks([(5, 5, "MainThread", "thread"), (7, 5, "MainThread", "thread"), (7, 8, "Feeder", "thread")])
    u = U.build_units(ev, tr, 5, {7: 5}, 0, EMPTY)
    roles = {(r.kind, r.pid, r.tid): r.role for r in u.itertuples()}
    assert roles == {("process", 5, 0): "main", ("process", 7, 0): "worker", ("thread", 5, 5): "main",
                     ("thread", 7, 5): "main", ("thread", 7, 8): "worker"}  # fmt: skip
    assert u.loc[(u["kind"] == "process") & (u["pid"] == 7), "parent"].item() == 5


def test_functions_self_total_and_recursion() -> None:
    # fib(2) → fib(1), fib(0) nested; total time of fib counts the outer call once
    ev = events([(1, 1, 0, 100, "fib (f.py:1)", -1), (1, 1, 10, 30, "fib (f.py:1)", 0),
                 (1, 1, 50, 20, "fib (f.py:1)", 0), (1, 1, 80, 10, "time.sleep", 0)])  # fmt: skip
    ev["cpu_s"] = [60e-6, 30e-6, 20e-6, 0.0]  # the outer fib call used 60 µs of CPU in all
    f = functions_table(ev).set_index("name")
    assert f.loc["fib (f.py:1)", "cpu_s"] == pytest.approx(60e-6)  # nested calls are not added again
    assert f.loc["fib (f.py:1)", "wait_s"] == pytest.approx(40e-6)
    assert f.loc["time.sleep", "wait_s"] == pytest.approx(10e-6)
    assert f.loc["fib (f.py:1)", "calls"] == 3
    assert f.loc["fib (f.py:1)", "total_s"] == pytest.approx(100e-6)
    assert f.loc["fib (f.py:1)", "self_s"] == pytest.approx((100 - 60) * 1e-6 + 30e-6 + 20e-6)
    assert f.loc["time.sleep", "self_s"] == pytest.approx(10e-6)
    assert f.loc["time.sleep", "file"] == "" and f.loc["fib (f.py:1)", "line"] == 1
    assert split_name("Runner.run (/a/b/runners.py:86)") == ("Runner.run", "/a/b/runners.py", 86)
