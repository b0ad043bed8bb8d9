"""CPU, parallelism and memory from hand-built samples, with exact expected numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracekit.analysis import cpu

S = 1_000_000_000  # ns per second


def proc_row(t_s: float, pid: int, user: float, system: float = 0.0, cu: float = 0.0, cs: float = 0.0, rss: int = 0):
    return dict(t_ns=int(t_s * S), kind="p", pid=pid, ppid=1, tid=0, user_s=user, system_s=system,
                children_user_s=cu, children_system_s=cs, rss_bytes=float(rss), num_threads=1.0,
                ctx_voluntary=0.0, ctx_involuntary=0.0)  # fmt: skip


def thread_row(t_s: float, pid: int, tid: int, user: float, system: float = 0.0):
    return dict(t_ns=int(t_s * S), kind="t", pid=pid, ppid=1, tid=tid, user_s=user, system_s=system,
                children_user_s=float("nan"), children_system_s=float("nan"), rss_bytes=float("nan"),
                num_threads=float("nan"), ctx_voluntary=float("nan"), ctx_involuntary=float("nan"))  # fmt: skip


def frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows).astype(cpu.SAMPLE_DTYPES)


def test_tree_cpu_is_conserved_when_a_child_is_reaped() -> None:
    # parent 10 and child 11; at t=2 the child has exited and been reaped: its 0.5 s moves into the
    # parent's children counters, so the tree total goes on rising instead of dropping.
    s = frame(
        [
            proc_row(0, 10, 0.1, rss=100),
            proc_row(1, 10, 0.2, rss=100),
            proc_row(1, 11, 0.4, rss=50),
            proc_row(2, 10, 0.3, cu=0.5, rss=100),
        ]
    )
    tot = cpu.tree_totals(s)
    assert tot["user_s"].tolist() == pytest.approx([0.1, 0.6, 0.8])
    assert tot["rss_bytes"].tolist() == [100, 150, 100]
    assert cpu.peak_rss(tot) == 150
    user, system = cpu.cpu_between(tot, 0.5 * S, 2 * S)
    assert user == pytest.approx(0.8 - 0.35)  # interpolated at 0.5 s between 0.1 and 0.6
    assert system == 0.0


def test_timeline_cores_busy_per_interval() -> None:
    s = frame([proc_row(0, 10, 0.0, rss=10), proc_row(1, 10, 0.5, 0.5, rss=20), proc_row(2, 10, 1.0, 1.5, rss=30)])
    tl = cpu.timeline(cpu.tree_totals(s), 0, 2 * S)
    assert tl["t_s"].tolist() == [1.0, 2.0]
    assert tl["cores_busy"].tolist() == pytest.approx([1.0, 1.5])
    assert tl["rss_bytes"].tolist() == [20, 30]
    # an interval that ends after the script's window (the tracer saving its trace) is left out
    assert cpu.timeline(cpu.tree_totals(s), 0, 1.5 * S)["t_s"].tolist() == [1.0]


def test_unit_cpu_inside_each_units_span() -> None:
    s = frame([proc_row(1, 10, 0.5, 0.1), thread_row(1, 10, 10, 0.2), thread_row(1, 10, 12, 0.3, 0.05),
               proc_row(2, 10, 0.9, 0.1), thread_row(2, 10, 12, 0.7, 0.05)])  # fmt: skip
    spans = pd.DataFrame(
        {"kind": ["process", "thread", "thread", "task"], "pid": [10, 10, 12, 10], "os_tid": [0, 12, 99, 0],
         "start_ns": [1.5 * S, 0.5 * S, 0, 0], "end_ns": [2 * S, 2 * S, S, S]}
    )  # fmt: skip
    got = cpu.unit_cpu(s, spans)
    # process: 0.8 at 1.5 s (interpolated) to 1.0 at 2 s; thread 12 started before its first
    # sample, so from zero: 0.75; an unsampled thread and a task have no OS-thread series
    assert got[:2].tolist() == pytest.approx([0.2, 0.75])
    assert np.isnan(got[2]) and np.isnan(got[3])


def test_slice_cpu_maps_task_tracks_to_the_loop_thread() -> None:
    s = frame([thread_row(0, 10, 10, 0.0), thread_row(1, 10, 10, 0.5), thread_row(2, 10, 10, 0.5)])
    ev = pd.DataFrame({"pid": [10, 10], "tid": [777, 10], "start_us": [0.0, 1e6], "end_us": [1e6, 2e6]})
    got = cpu.slice_cpu(ev, s, {(10, 777): 10, (10, 10): 10})
    assert got.tolist() == pytest.approx([0.5, 0.0])


def test_process_series_cpu_percent() -> None:
    s = frame([proc_row(0, 10, 0.0, rss=2**20), proc_row(0.5, 10, 0.25, rss=2**21)])
    ps = cpu.process_series(s)
    assert ps["cpu_pct"].tolist() == pytest.approx([50.0])
    assert ps["rss_bytes"].tolist() == [2**21]


def test_peak_rss_is_the_programs_inside_the_script_window_not_the_tracers_save() -> None:
    # the script ran from 1 s to 3 s (peak 300 B); at 4 s the tracer's save held 5000 B
    s = frame([proc_row(t, 10, 0.0, rss=r) for t, r in ((0, 100), (1, 200), (2, 300), (3, 250), (4, 5000))])
    totals = cpu.tree_totals(s)
    assert cpu.peak_rss(totals, 1 * S, 3 * S) == 300
    assert cpu.save_peak_rss(totals, 3 * S) == 5000
    assert cpu.save_peak_rss(totals, 4 * S) is None
    # a script shorter than one interval: the first sample after its start stands for it
    assert cpu.peak_rss(totals, 1.2 * S, 1.5 * S) == 300


def test_thread_sched_is_the_kernels_view_inside_the_window() -> None:
    def row(t_s: float, tid: int, on: float, rq: float, vol: float, inv: float) -> dict[str, object]:
        r = thread_row(t_s, 10, tid, on)
        return {**r, "ctx_voluntary": vol, "ctx_involuntary": inv, "oncpu_s": on, "runq_s": rq}

    rows = [row(0, 11, 0.0, 0.0, 0, 0), row(1, 11, 0.1, 0.0, 10, 0), row(2, 11, 0.4, 0.1, 210, 5),
            row(3, 11, 0.7, 0.2, 410, 9), row(9, 11, 5.0, 1.0, 9000, 90),  # after the window: the save
            row(1, 12, 0.0, 0.0, 1, 1)]  # fmt: skip
    s = frame([proc_row(0, 10, 0.0)]).pipe(cpu.with_sched_columns)
    s = pd.concat([s, pd.DataFrame(rows).astype({**cpu.SAMPLE_DTYPES, **cpu.SCHED_DTYPES})], ignore_index=True)
    [t] = cpu.thread_sched(s, 1 * S, 3 * S)  # thread 12 has one sample there: no span, left out
    assert (t.pid, t.tid) == (10, 11)
    assert t.span_s == pytest.approx(2.0)
    assert t.oncpu_s == pytest.approx(0.6) and t.runq_s == pytest.approx(0.2)
    assert t.sleep_s == pytest.approx(1.2)
    assert (t.voluntary, t.involuntary) == (400, 9)


def test_thread_sched_counts_the_traced_c_calls_inside_each_threads_sampled_span() -> None:
    from .test_analysis_units import events

    def row(t_s: float, tid: int, on: float) -> dict[str, object]:
        return {**thread_row(t_s, 10, tid, on), "ctx_voluntary": 0.0, "ctx_involuntary": 0.0, "oncpu_s": on,
                "runq_s": 0.0}  # fmt: skip

    # thread 11 sampled from 1 s to 3 s; its trace track is (10, 5), which os_tid maps to OS thread 11
    ev = events([
        (10, 5, 0.5e6, 2.0e6, "fetch (/p/x.py:3)", -1),  # Python: not C
        (10, 5, 0.5e6, 1.0e6, "socket.recv", 0),  # 0.5-1.5 s: half inside the span, 0.5 s
        (10, 5, 2.0e6, 0.4e6, "_queue.SimpleQueue.get", -1),  # 2.0-2.4 s, inside: 0.4 s
        (10, 6, 2.0e6, 0.5e6, "time.sleep", -1),  # another thread
    ])  # fmt: skip
    calls = cpu.c_call_time(ev, {(10, 5): 11})
    assert calls["self_s"].tolist() == pytest.approx([1.0, 0.4, 0.5]) and calls["tid"].tolist() == [11, 11, 6]
    s = frame([proc_row(0, 10, 0.0)]).pipe(cpu.with_sched_columns)
    rows = [row(1, 11, 0.0), row(3, 11, 0.2)]
    s = pd.concat([s, pd.DataFrame(rows).astype({**cpu.SAMPLE_DTYPES, **cpu.SCHED_DTYPES})], ignore_index=True)
    [t] = cpu.thread_sched(s, 0, 4 * S, calls)
    assert t.in_c_s == pytest.approx(0.9)
    assert cpu.thread_sched(s, 0, 4 * S)[0].in_c_s == 0.0  # no trace (--sample-only): nothing known in C


def test_old_samples_without_schedstat_columns_give_no_thread_evidence() -> None:
    s = cpu.with_sched_columns(frame([thread_row(0, 10, 11, 0.0), thread_row(1, 10, 11, 0.5)]))
    assert s["oncpu_s"].isna().all() and cpu.thread_sched(s, 0, 2 * S) == []


def test_sample_gap_is_the_longest_unsampled_stretch_of_the_window() -> None:
    totals = cpu.tree_totals(frame([proc_row(t, 10, 0.0) for t in (0, 0.1, 0.2, 1.5, 1.6, 3.0)]))
    assert cpu.sample_gap_s(totals, 0.05 * S, 2.0 * S) == pytest.approx(1.3)
    # nothing sampled after the last sample inside: the stretch to the window's end counts
    assert cpu.sample_gap_s(totals, 0.05 * S, 4.5 * S) == pytest.approx(1.5)
