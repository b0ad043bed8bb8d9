"""Verdicts from hand-built units and events, with exact evidence."""

from __future__ import annotations

import pandas as pd
import pytest

from tracekit.analysis.findings import generator_resumes, loop_blocks, verdicts
from tracekit.analysis.units import UNIT_COLUMNS

from .test_analysis_units import events, tracks


def units(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = dict(name="u", pid=1, tid=0, parent=1, created_at="", start_s=0.0, end_s=1.0, wall_s=1.0,
                cpu_s=float("nan"), wait_s=float("nan"), cpu_ratio=float("nan"), python_s=0.0, slices=1)  # fmt: skip
    return pd.DataFrame([{**base, **r} for r in rows], columns=UNIT_COLUMNS)


def kinds(fs: list) -> list[str]:  # type: ignore[type-arg]
    return [f.kind for f in fs]


def test_gil_bound_threads() -> None:
    threads = [dict(kind="thread", role="worker", tid=i, cpu_s=0.33, python_s=0.95) for i in (2, 3, 4)]
    u = units([dict(kind="process", role="main", cpu_s=1.0), *threads])
    fs = verdicts(wall_s=1.0, cpu_s=0.99, cores=2, units=u, peak=3, blocks=[], loss_warnings=[])
    assert kinds(fs) == ["gil-bound"]
    assert fs[0].evidence["threads"] == 3
    assert fs[0].evidence["cores_used"] == pytest.approx(0.99)
    assert fs[0].evidence["ready_threads"] == pytest.approx(2.85)
    assert fs[0].evidence["gil_wait_s"] == pytest.approx(3 * (0.95 - 0.33))


def test_gil_bound_holds_on_a_loaded_machine_but_not_for_sleeping_threads() -> None:
    # the machine was busy: three CPU-hungry threads got only 0.3 cores, still GIL-bound
    hungry = [dict(kind="thread", role="worker", tid=i, cpu_s=0.1, python_s=0.9) for i in (2, 3, 4)]
    fs = verdicts(wall_s=1.0, cpu_s=0.3, cores=2, units=units(hungry), peak=3, blocks=[], loss_warnings=[])
    assert kinds(fs)[0] == "gil-bound"
    # threads that sleep in time.sleep (a C call) are not ready to run Python
    sleepy = [dict(kind="thread", role="worker", tid=i, cpu_s=0.001, python_s=0.001) for i in (2, 3, 4)]
    fs = verdicts(wall_s=1.0, cpu_s=0.01, cores=2, units=units(sleepy), peak=3, blocks=[], loss_warnings=[])
    assert "gil-bound" not in kinds(fs)


def test_parallel_processes_with_ideal_speedup() -> None:
    u = units([dict(kind="process", role="main"), *[dict(kind="process", role="worker", pid=p) for p in (2, 3, 4)]])
    fs = verdicts(wall_s=1.0, cpu_s=1.8, cores=2, units=u, peak=3, blocks=[], loss_warnings=[])
    assert kinds(fs) == ["parallel"]
    assert fs[0].evidence["ideal_speedup"] == 2


def test_concurrent_not_parallel_and_mostly_waiting() -> None:
    u = units([dict(kind="task", role="worker", tid=t) for t in (1, 2, 3)])
    fs = verdicts(wall_s=1.0, cpu_s=0.02, cores=2, units=u, peak=3, blocks=[], loss_warnings=[])
    assert kinds(fs) == ["concurrent-not-parallel", "mostly-waiting"]
    assert "3 tasks" in fs[0].message


def test_sequential_and_data_loss_first() -> None:
    u = units([dict(kind="process", role="main")])
    fs = verdicts(wall_s=3.0, cpu_s=2.9, cores=2, units=u, peak=1, blocks=[], loss_warnings=["buffer overflowed"])
    assert kinds(fs) == ["data-loss", "sequential"]
    assert fs[0].severity == "warning" and fs[0].message == "buffer overflowed"


def test_loop_block_names_the_blocking_helper() -> None:
    # Task-2's step runs count → helper → time.sleep for 0.5 s; Task-3's step is short.
    ev = events(
        [
            (1, 901, 0, 500_100, "count (b.py:7)", -1),
            (1, 901, 50, 500_020, "helper (b.py:3)", 0),
            (1, 901, 60, 500_000, "time.sleep", 1),
            (1, 902, 600_000, 30, "count (b.py:7)", -1),
        ]
    )
    tr = tracks([(1, 901, "Task-2", "task"), (1, 902, "Task-3", "task")])
    blocks = loop_blocks(ev, tr, t0_us=0, threshold_s=0.1)
    assert len(blocks) == 1
    b = blocks[0]
    assert (b.task, b.dur_s) == ("Task-2", pytest.approx(0.5001))
    assert b.chain == ["count (b.py:7)", "helper (b.py:3)", "time.sleep"]
    fs = verdicts(wall_s=0.7, cpu_s=0.01, cores=2, units=units([]), peak=1, blocks=blocks, loss_warnings=[])
    assert fs[0].kind == "loop-blocked"
    assert "helper (b.py:3)" in fs[0].message and "time.sleep" in fs[0].message
    assert "asyncio.to_thread" in fs[0].message
    # a step whose own code ran 0.3 s without awaiting: CPU work on the loop, a different fix
    cpu = loop_blocks(events([(1, 902, 0, 300_000, "work (c.py:9)", -1)]), tracks([(1, 902, "Task-3", "task")]), 0, 0.1)
    cpu_fs = verdicts(wall_s=0.3, cpu_s=0.3, cores=2, units=units([]), peak=1, blocks=cpu, loss_warnings=[])
    assert "the code of work (c.py:9) itself" in cpu_fs[0].message and "ProcessPoolExecutor" in cpu_fs[0].message
    assert fs[0].evidence["max_s"] == 0.5  # evidence is rounded to ms


def test_generator_coroutines_are_recognised_by_their_driver() -> None:
    # count() resumed twice through next(); gen() iterated by a for loop (no driver) is not counted
    ev = events(
        [
            (1, 1, 0, 100, "run (g.py:20)", -1),
            (1, 1, 10, 10, "builtins.next", 0),
            (1, 1, 12, 5, "count (g.py:11)", 1),
            (1, 1, 30, 10, "builtins.next", 0),
            (1, 1, 32, 5, "count (g.py:11)", 3),
            (1, 1, 50, 5, "gen (g.py:2)", 0),
            (1, 1, 60, 5, "gen (g.py:2)", 0),
            (1, 1, 70, 10, "builtins.next", 0),  # an iterator class driven by next() is no coroutine
            (1, 1, 72, 5, "Names.__next__ (g.py:30)", 7),
            (1, 1, 80, 10, "builtins.next", 0),
            (1, 1, 82, 5, "Names.__next__ (g.py:30)", 9),
        ]
    )
    assert generator_resumes(ev) == {"count (g.py:11)": 2}
    fs = verdicts(wall_s=1.0, cpu_s=0.01, cores=2, units=units([]), peak=1, blocks=[], loss_warnings=[],
                  generators={"count (g.py:11)": 2})  # fmt: skip
    assert kinds(fs) == ["generator-coroutines", "mostly-waiting"]
    assert "count (g.py:11) 2x" in fs[0].message


def test_data_loss_is_recorded_with_its_fix() -> None:
    from tracekit.analysis import data_loss
    from tracekit.trace import EVENT_COLUMNS, TRACK_COLUMNS, Trace

    trace = Trace(
        events=pd.DataFrame(columns=EVENT_COLUMNS), tracks=pd.DataFrame(columns=TRACK_COLUMNS),
        overflow=False, version="1.1.1", events_per_pid={10: 5000, 11: 7},
    )  # fmt: skip
    run = {"tracer_entries": 5000, "processes": {"10": {}, "11": {}, "12": {}}, "timed_out": True, "timeout_s": 3,
           "output": {"lines": [[0, "stdout", "x"]], "total_lines": 9, "truncated": True}}  # fmt: skip
    loss = data_loss(run, trace, pd.DataFrame({"t_ns": [1]}))
    assert loss.overflow is True  # pid 10 filled its buffer although viztracer's flag said no
    assert loss.untraced_pids == [12]
    assert loss.timed_out and loss.output_truncated and not loss.interrupted
    text = " | ".join(loss.warnings)
    assert "in pid 10" in text and "--tracer-entries" in text
    assert "pid 12" in text and "--timeout after 3 s" in text and "printed 9 lines" in text
    assert len(loss.warnings) == 4
