"""Loop blocks from hand-built structure records, events and samples, with exact numbers: which
steps held the loop, the untraced lower bound, the culprit chain and the finding's words."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tracekit.analysis.loop import LoopBlock, loop_blocks, loop_finding, loop_load, sampled_line
from tracekit.analysis.units import attribute_tasks
from tracekit.structure import SAMPLE_COLUMNS

from .structure_records import structure, us
from .test_analysis_units import events, tracks

PROC = (1, ["proc", 0, 1, 0, "start", "b.py"])


def task(n: int, name: str, coro: str) -> tuple[int, list[object]]:
    return (1, ["task", 0, n, name, coro, 0, "main (/p/b.py:12)", 1])


def samples(cpu_at: list[tuple[float, float]], tid: int = 1) -> pd.DataFrame:
    """The loop thread's cumulative CPU (s) at times (µs)."""
    rows = [dict(t_ns=int(t * 1e3), kind="t", pid=1, tid=tid, user_s=c, system_s=0.0) for t, c in cpu_at]
    return pd.DataFrame(rows, columns=["t_ns", "kind", "pid", "tid", "user_s", "system_s"])


def test_a_sleeping_step_is_a_certain_block_named_down_to_the_blocking_call() -> None:
    st = structure(
        [
            PROC,
            task(2, "Task-2", "count (/p/b.py:7)"),
            task(3, "Task-3", "count (/p/b.py:7)"),
            (1, ["step", 0, us(500_100), 1, 2, 9, ""]),
            (1, ["step", us(600_000), us(600_030), 1, 3, 9, ""]),
        ]
    )
    ev = events(
        [
            (1, 1, 1, 500_098, "Handle._run (/usr/lib/python3.11/asyncio/events.py:78)", -1),
            (1, 1, 2, 500_090, "count (/p/b.py:7)", 0),
            (1, 1, 50, 500_020, "helper (/p/b.py:3)", 1),
            (1, 1, 60, 500_000, "time.sleep", 2),
        ]
    )
    smp = samples([(0, 0.0), (600_000, 0.001)])  # 1 ms of CPU: it slept
    ev, tr = attribute_tasks(ev, tracks([(1, 1, "MainThread", "thread")]), st)  # the step's calls → Task-2's track
    assert set(tr["name"]) == {"MainThread", "count (Task-2)"}
    assert ev.loc[ev["name"] == "count (/p/b.py:7)", "depth"].item() == 0  # the task track's outermost call
    blocks = loop_blocks(st, ev, tr, smp, t0_us=0, threshold_s=0.1)
    assert len(blocks) == 1
    b = blocks[0]
    assert (b.task, b.coroutine, b.dur_s) == ("Task-2", "count (/p/b.py:7)", pytest.approx(0.5001))
    assert b.cpu_s == pytest.approx(0.001 * 500_100 / 600_000)
    assert b.min_s == pytest.approx(0.5001 - b.cpu_s + b.cpu_s / 5)
    assert b.certain
    assert b.chain == ["count (/p/b.py:7)", "helper (/p/b.py:3)", "time.sleep"]
    f = loop_finding(blocks)
    assert f is not None and f.kind == "loop-blocked"
    assert "helper (b.py:3)" in f.message and "time.sleep" in f.message and "asyncio.to_thread" in f.message
    assert f.evidence["max_s"] == 0.5 and f.evidence["blocks"] == 1


def test_a_cpu_step_that_tracing_may_have_stretched_is_only_possible() -> None:
    # 0.3 s of pure CPU under the tracer: untraced it may have taken 0.06 s, under the 0.1 s threshold
    st = structure([PROC, task(2, "Task-2", "work (/p/c.py:9)"), (1, ["step", 0, us(300_000), 1, 2, 9, ""])])
    ev, tr = attribute_tasks(events([(1, 1, 0, 300_000, "work (/p/c.py:9)", -1)]),
                             tracks([(1, 1, "MainThread", "thread")]), st)  # fmt: skip
    smp = samples([(0, 0.0), (300_000, 0.3)])
    blocks = loop_blocks(st, ev, tr, smp, 0, 0.1)
    assert [b.certain for b in blocks] == [False] and blocks[0].min_s == pytest.approx(0.06)
    f = loop_finding(blocks)
    assert f is not None and f.kind == "loop-maybe-blocked" and f.severity == "info"
    assert "between 0.060 and 0.30 s" in f.message and "Unknown" in f.message
    # untraced (--sample-only: stretch 1) the same step is certain, and it is CPU work of the coroutine
    sure = loop_blocks(st, ev, tr, smp, 0, 0.1, stretch=1.0)
    f2 = loop_finding(sure)
    assert f2 is not None and f2.kind == "loop-blocked"
    assert "the code of work (c.py:9) itself" in f2.message and "ProcessPoolExecutor" in f2.message


def test_a_step_queued_for_a_core_is_not_read_as_blocking() -> None:
    # measured (corpus trio_anyio, 3.12 at load 4): a 0.17 s step that imports a module, 0.04 s on a CPU and
    # 0.12 s queued for a core; trio's own Instrument timed it 0.05 s untraced: the queue was the machine's
    st = structure([PROC, task(2, "Task-2", "main (/p/t.py:68)"), (1, ["step", 0, us(170_000), 1, 2, 9, ""])])
    ev, tr = attribute_tasks(events([(1, 1, 0, 170_000, "main (/p/t.py:68)", -1)]),
                             tracks([(1, 1, "MainThread", "thread")]), st)  # fmt: skip
    smp = samples([(0, 0.0), (170_000, 0.04)]).assign(runq_s=[0.0, 0.12])
    b = loop_blocks(st, ev, tr, smp, 0, 0.1)[0]
    assert b.min_s == pytest.approx(0.17 - 0.04 - 0.12 + 0.04 / 5) and not b.certain
    # without schedstat (an older run directory) the same step is a certain block, as before
    old = loop_blocks(st, ev, tr, samples([(0, 0.0), (170_000, 0.04)]), 0, 0.1)[0]
    assert old.min_s == pytest.approx(0.17 - 0.04 + 0.04 / 5) and old.certain


def test_no_loop_no_block_and_a_step_without_slices_has_an_unknown_culprit() -> None:
    # a forked worker (pid 2) runs 3 s of work on a thread that runs no event loop: no step, no block
    ev = events([(2, 1, 0, 3_000_000, "_process_worker (/usr/lib/python3.11/concurrent/futures/process.py:1)", -1)])
    st = structure([PROC, (2, ["proc", 0, 2, 1, "fork", "b.py"])])
    assert loop_blocks(st, ev, tracks([(2, 1, "MainThread", "thread")]), samples([]), 0, 0.1) == []
    # a plain callback of 0.2 s (no task) whose slices the tracer did not keep (it had stopped)
    st2 = structure([PROC, (1, ["step", 0, us(200_000), 1, 0, 9, "Server._accept"])])
    blocks = loop_blocks(st2, events([]), tracks([]), samples([]), 0, 0.1)
    assert [(b.task, b.coroutine, b.chain) for b in blocks] == [("callback", "Server._accept", [])]
    assert blocks[0].min_s == pytest.approx(0.2 / 5)  # CPU unknown: assume all of it was CPU
    f = loop_finding(blocks)
    assert f is not None and "culprit unknown" in f.message and f.kind == "loop-maybe-blocked"


def _block(chain: list[str], cpu_s: float) -> LoopBlock:
    return LoopBlock("Task-2", "count (/s/a.py:7)", 1, 1, 0.5, 1.0, cpu_s, 1.0, True, chain)


def test_sampled_blocks_in_a_coroutine_without_cpu_are_a_call_the_sampler_cannot_see() -> None:
    f = loop_finding([_block(["count (/s/a.py:7)"], 0.01)], sampled=True)
    assert f is not None and f.kind == "loop-blocked"
    assert (
        "by a call in count (a.py:7) that the stack sampler cannot see into (C code, such as time.sleep, a lock or "
        "blocking I/O: 0.01 s CPU in 1.00 s). Nothing" in f.message
    )
    assert "asyncio.to_thread" in f.message  # the fix for a blocking call, not for CPU work
    busy = loop_finding([_block(["count (/s/a.py:7)"], 0.95)], sampled=True)
    assert busy is not None and "by the code of count (a.py:7) itself, running without an await" in busy.message
    unseen = loop_finding([_block([], 0.01)], sampled=True)
    assert unseen is not None and "code the stack sampler did not see (culprit unknown" in unseen.message
    traced = loop_finding([_block(["count (/s/a.py:7)"], 0.01)])
    assert traced is not None and "itself, running without an await" in traced.message  # the tracer saw no call


def test_the_line_a_sampled_block_sat_on_longest_is_named(tmp_path: Path) -> None:
    src = tmp_path / "a.py"
    src.write_text("import time\nasync def count():\n    x = 1\n    time.sleep(1)  # blocks\n")
    leaf = f"count ({src}:2)"
    smp = pd.DataFrame(
        [(1, 5, 900.0, "run_once (b.py:1)", 7),  # before the block: holds until the next sample
         (1, 5, 1_010.0, leaf, 3),  # 20 µs on line 3
         (1, 5, 1_030.0, leaf, 4),  # then line 4 until the block's end
         (1, 6, 1_100.0, leaf, 3),  # another thread: not this block's
         (1, 5, 5_000.0, "run_once (b.py:1)", 7)],
        columns=SAMPLE_COLUMNS,
    )  # fmt: skip
    assert sampled_line(smp, 1, 5, 1_000.0, 2_000.0, ["run_once (b.py:1)", leaf]) == "a.py:4: time.sleep(1)"
    assert sampled_line(smp, 1, 5, 1_000.0, 2_000.0, []) == ""
    assert sampled_line(smp, 1, 7, 1_000.0, 2_000.0, [leaf]) == ""  # no sample of that thread
    block = LoopBlock("Task-2", leaf, 1, 5, 0.0, 1.0, 0.0, 1.0, True, [leaf], "a.py:4: time.sleep(1)")
    f = loop_finding([block], sampled=True)
    assert f is not None and f.message.count("), at a.py:4: time.sleep(1). Nothing") == 1
    assert f.evidence["line"] == "a.py:4: time.sleep(1)"


def test_a_block_after_the_tracer_stopped_points_to_the_sampler_not_to_full() -> None:
    stopped = loop_finding([_block([], 0.01)], tracer_stopped=True)
    assert stopped is not None
    assert "culprit unknown: viztracer had stopped; rerun with --sampled" in stopped.message
    assert "--full" not in stopped.message  # the tracer would stop at the same place with every call kept
    filtered = loop_finding([_block([], 0.01)])
    assert filtered is not None and "rerun with --full to see every call" in filtered.message


def saturating_steps(n: int, dur_us: int, gap_us: int) -> list[tuple[int, list[object]]]:
    """n steps of task 2 on loop 9 of thread 1, `dur_us` each, `gap_us` apart."""
    return [(1, ["step", us(i * (dur_us + gap_us)), us(i * (dur_us + gap_us) + dur_us), 1, 2, 9, ""]) for i in range(n)]


def test_many_short_cpu_steps_saturate_the_loop_certainly_when_untraced() -> None:
    # 20 steps of 45 ms, 5 ms apart: 0.9 s of the 1.0 s window, all of it CPU (the loop thread used 0.9 s)
    st = structure([PROC, task(2, "Task-2", "handle (/p/s.py:9)"), *saturating_steps(20, 45_000, 5_000)])
    smp = samples([(0, 0.0), (1_000_000, 0.9)])
    load = loop_load(st, smp, (0.0, 1_000_000.0), stretch=1.0)  # --sampled: no per-call cost
    assert load is not None
    assert (load.pid, load.os_tid, load.steps) == (1, 1, 20)
    assert (load.busy_s, load.longest_s, load.cpu_s) == (pytest.approx(0.9), pytest.approx(0.045), pytest.approx(0.9))
    assert load.share == pytest.approx(0.9) and load.min_share == pytest.approx(0.9)
    assert loop_blocks(st, events([]), tracks([]), smp, 0, 0.1) == []  # none of them is a block
    f = loop_finding([], load=load)
    assert f is not None and (f.kind, f.severity) == ("loop-saturated", "warning")
    assert f.message == (
        "event loop saturated: its steps kept it busy 90% of the script's 1.00 s (20 steps, the longest 45 ms, none "
        "0.10 s or more): tasks waited for the loop, not for I/O, so more tasks cannot make it faster; move "
        "CPU-bound work off the loop (loop.run_in_executor with a ProcessPoolExecutor)."
    )
    assert f.evidence["share"] == 0.9 and f.evidence["untraced_min_share"] == 0.9 and f.evidence["steps"] == 20


def test_a_saturated_loop_under_the_tracer_is_only_possible_when_its_steps_were_cpu() -> None:
    st = structure([PROC, task(2, "Task-2", "handle (/p/s.py:9)"), *saturating_steps(20, 45_000, 5_000)])
    load = loop_load(st, samples([(0, 0.0), (1_000_000, 0.9)]), (0.0, 1_000_000.0))  # stretch 5: traced
    assert load is not None and load.min_busy_s == pytest.approx(0.9 / 5)
    f = loop_finding([], load=load)
    assert f is not None and (f.kind, f.severity) == ("loop-maybe-saturated", "info")
    assert "busy 90% of the script's 1.00 s under the tracer" in f.message and "between 18% and 90%" in f.message
    # the same steps asleep (0.05 s of CPU: blocking I/O the tracer cannot stretch) are saturated for sure
    asleep = loop_load(st, samples([(0, 0.0), (1_000_000, 0.05)]), (0.0, 1_000_000.0))
    assert asleep is not None and asleep.min_busy_s == pytest.approx(0.85 + 0.05 / 5)
    f2 = loop_finding([], load=asleep)
    assert f2 is not None and f2.kind == "loop-saturated" and ", at least 86% untraced)" in f2.message


def test_a_loop_mostly_waiting_or_a_short_script_is_not_saturated_and_blocks_come_first() -> None:
    st = structure([PROC, task(2, "Task-2", "handle (/p/s.py:9)"), *saturating_steps(20, 10_000, 40_000)])
    idle = loop_load(st, samples([(0, 0.0), (1_000_000, 0.2)]), (0.0, 1_000_000.0), stretch=1.0)
    assert idle is not None and idle.share == pytest.approx(0.2) and loop_finding([], load=idle) is None
    short = structure([PROC, task(2, "Task-2", "h (/p/s.py:9)"), *saturating_steps(3, 45_000, 5_000)])
    brief = loop_load(short, samples([(0, 0.0), (150_000, 0.135)]), (0.0, 150_000.0), stretch=1.0)
    assert brief is not None and brief.share == pytest.approx(0.9) and loop_finding([], load=brief) is None
    # steps outside the script's window are clipped to it; a run without steps has no load
    clipped = loop_load(st, samples([(0, 0.0), (1_000_000, 0.2)]), (0.0, 55_000.0), stretch=1.0)
    assert clipped is not None and clipped.busy_s == pytest.approx(0.015)
    assert loop_load(structure([PROC]), samples([]), (0.0, 1e6)) is None
    # a loop with a certain block says that, not saturation
    sat = structure([PROC, task(2, "Task-2", "handle (/p/s.py:9)"), *saturating_steps(20, 45_000, 5_000)])
    load = loop_load(sat, samples([(0, 0.0), (1_000_000, 0.0)]), (0.0, 1e6))
    block = LoopBlock("Task-2", "handle (/p/s.py:9)", 1, 1, 0.0, 0.5, 0.0, 0.5, True, ["time.sleep"])
    f = loop_finding([block], load=load)
    assert f is not None and f.kind == "loop-blocked"


def test_a_loop_queued_for_a_core_without_a_tracer_is_possibly_saturated_because_of_the_machine() -> None:
    # --sampled (stretch 1): 0.9 s busy in steps, 0.3 s of it queued for a core while others held them
    st = structure([PROC, task(2, "Task-2", "handle (/p/s.py:9)"), *saturating_steps(20, 45_000, 5_000)])
    smp = samples([(0, 0.0), (1_000_000, 0.6)]).assign(runq_s=[0.0, 0.3])
    load = loop_load(st, smp, (0.0, 1_000_000.0), stretch=1.0)
    assert load is not None and load.min_busy_s == pytest.approx(0.6)
    f = loop_finding([], load=load)
    assert f is not None and f.kind == "loop-maybe-saturated" and f.evidence["stretch_max"] == 1.0
    assert "waited for a core for part of it" in f.message and "between 60% and 90%" in f.message
    assert "tracer" not in f.message
