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
