"""tracekit.trace (format, frames, nesting) on tiny hand-built traces: exact depth, parent, self time,
tracks, and the fallbacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from tracekit.trace import format as fmt
from tracekit.trace import nesting as nesting_mod
from tracekit.trace.format import TraceError, enrich, parse
from tracekit.trace.frames import EVENT_COLUMNS, load, load_path
from tracekit.trace.nesting import nesting


def x(name: str, ts: float, dur: float, pid: int = 1, tid: int = 1) -> dict[str, Any]:
    return {"ph": "X", "name": name, "ts": ts, "dur": dur, "pid": pid, "tid": tid, "cat": "fee"}


def m(kind: str, name: str, pid: int = 1, tid: int = 1) -> dict[str, Any]:
    return {"ph": "M", "name": kind, "pid": pid, "tid": tid, "args": {"name": name}}


def doc(events: list[dict[str, Any]], overflow: bool = False) -> bytes:
    return orjson.dumps({"traceEvents": events, "viztracer_metadata": {"version": "1.1.1", "overflow": overflow}})


# main [0,100] calls a [10,40] (which calls b [15,25]) and c [50,90]; c calls b [60,61] and a zero-length d at 61.
# Events are written in return order, as viztracer does. A second thread (tid 2) has one call.
TINY = [
    m("process_name", "MainProcess"),
    m("thread_name", "MainThread"),
    m("thread_name", "worker", tid=2),
    x("b", 15, 10),
    x("a", 10, 30),
    x("b", 60, 1),
    x("d", 61, 0),
    x("c", 50, 40),
    x("w", 5, 20, tid=2),
    x("main", 0, 100),
]


def test_load_tiny_exact() -> None:
    t = load(doc(TINY))
    ev = t.events
    assert list(ev.columns) == EVENT_COLUMNS
    # sorted by start (ties: longer first); tid 2's call starts at 5
    assert ev["name"].astype(str).tolist() == ["main", "w", "a", "b", "c", "b", "d"]
    assert ev["start_us"].tolist() == [0, 5, 10, 15, 50, 60, 61]
    assert ev["end_us"].tolist() == [100, 25, 40, 25, 90, 61, 61]
    assert ev["depth"].tolist() == [0, 0, 1, 2, 1, 2, 2]
    assert ev["parent"].tolist() == [-1, -1, 0, 2, 0, 4, 4]
    assert ev["self_us"].tolist() == [30.0, 20.0, 20.0, 10.0, 39.0, 1.0, 0.0]
    assert ev["pid"].dtype == np.int64 and ev["depth"].dtype == np.int64 and ev["parent"].dtype == np.int64
    assert t.events_per_pid == {1: 7}
    assert t.overflow is False and t.version == "1.1.1"
    assert t.tracks.values.tolist() == [
        [1, 1, "MainThread", "thread", "MainProcess"],
        [1, 2, "worker", "thread", "MainProcess"],
    ]


def test_nesting_back_to_back_and_same_start() -> None:
    # f [0,10] then g starting exactly when f ends: g is f's sibling, not its child.
    # h and k start together: the longer one (h) is the caller.
    ev = [x("f", 0, 10), x("g", 10, 5), x("k", 20, 2), x("h", 20, 8), x("top", 0, 30, tid=9)]
    t = load(doc(ev)).events
    got = list(zip(t["name"].astype(str), t["depth"], t["parent"], t["self_us"], strict=True))
    assert got == [("f", 0, -1, 10.0), ("top", 0, -1, 30.0), ("g", 0, -1, 5.0), ("h", 0, -1, 6.0), ("k", 1, 3, 2.0)]


def test_nesting_tracks_are_separate_and_keyed_by_pid_and_tid() -> None:
    # Same tid in two processes (a fork child keeps its parent's tid): no nesting across them.
    ev = [x("outer", 0, 100, pid=1, tid=1), x("inner", 10, 10, pid=2, tid=1), x("inner", 10, 10, pid=1, tid=1)]
    t = load(doc(ev)).events
    assert t[["pid", "depth", "parent"]].values.tolist() == [[1, 0, -1], [1, 1, 0], [2, 0, -1]]
    assert t["self_us"].tolist() == [90.0, 10.0, 10.0]


def frame(rows: list[tuple[int, int, float, float]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["pid", "tid", "start_us", "dur_us"])
    df["end_us"] = df["start_us"] + df["dur_us"]
    return df


def test_nesting_improper_overlap_matches_the_stack_walk() -> None:
    # b starts inside a and ends after it (not a real call stack): the stack walk keeps b open,
    # so c (starting after a ended but inside b) is b's child at depth 2.
    df = frame([(1, 1, 0, 10), (1, 1, 5, 10), (1, 1, 12, 1)])
    depth, parent = nesting(df)
    assert depth.tolist() == [0, 1, 2]
    assert parent.tolist() == [-1, 0, 1]


def test_nesting_zero_duration_run_at_one_instant() -> None:
    # three zero-length calls at t=5 inside p: each closes before the next opens.
    df = frame([(1, 1, 0, 10), (1, 1, 5, 0), (1, 1, 5, 0), (1, 1, 5, 0), (1, 1, 5, 3)])
    df = df.sort_values(["start_us", "dur_us"], ascending=[True, False], kind="stable").reset_index(drop=True)
    depth, parent = nesting(df)
    assert df["dur_us"].tolist() == [10, 3, 0, 0, 0]
    assert depth.tolist() == [0, 1, 2, 2, 2]
    assert parent.tolist() == [-1, 0, 1, 1, 1]


def _stack_walk(df: pd.DataFrame) -> tuple[list[int], list[int]]:
    """The reference: the plain per-event stack walk the vectorised nesting must reproduce."""
    depth: list[int] = []
    parent: list[int] = []
    stack: list[int] = []
    prev: tuple[int, int] | None = None
    for i, (p, t, s) in enumerate(zip(df["pid"], df["tid"], df["start_us"], strict=True)):
        if (int(p), int(t)) != prev:
            stack, prev = [], (int(p), int(t))
        while stack and df["end_us"].iat[stack[-1]] <= s:
            stack.pop()
        depth.append(len(stack))
        parent.append(stack[-1] if stack else -1)
        stack.append(i)
    return depth, parent


@pytest.mark.parametrize("seed", range(6))
def test_nesting_matches_reference_on_random_call_trees(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, float, float]] = []

    def call(pid: int, tid: int, start: float, budget: float, level: int) -> float:
        t = start
        end = start + budget
        while t < end and level < 6 and rng.random() < 0.8:
            dur = float(rng.integers(0, max(1, int((end - t) / 2)) + 1))
            rows.append((pid, tid, t, dur))
            call(pid, tid, t, dur, level + 1)
            t += dur + float(rng.integers(0, 3))
        return t

    for pid, tid in [(1, 1), (1, 7), (2, 1)]:
        call(pid, tid, float(rng.integers(0, 50)), 2000.0, 0)
    if seed % 2:  # some traces with improper overlaps too, to exercise the exact fallback
        rows.append((1, 1, 3.0, 5000.0))
    else:  # properly nested: the vectorised path must answer alone

        def no_walk(*_a: object) -> None:
            raise AssertionError("fell back to the stack walk on a properly nested trace")

        monkeypatch.setattr(nesting_mod, "_stack_walk", no_walk)
    df = frame(rows).sort_values(["pid", "tid", "start_us", "dur_us"], ascending=[True, True, True, False])
    df = df.reset_index(drop=True)
    depth, parent = nesting(df)
    ref_depth, ref_parent = _stack_walk(df)
    assert depth.tolist() == ref_depth
    assert parent.tolist() == ref_parent


def test_load_skips_metadata_counters_and_instants_and_reads_b_events() -> None:
    ev = [
        m("process_name", "MainProcess"),
        {"ph": "C", "name": "CPU %", "pid": 1, "tid": 1, "ts": 3, "args": {"CPU %": 5}},
        {"ph": "i", "name": "print", "pid": 1, "tid": 1, "ts": 4, "s": "t"},
        {"ph": "B", "name": "open", "pid": 1, "tid": 1, "ts": 2},
        x("f", 1, 2),
    ]
    t = load(doc(ev, overflow=True))
    assert t.events["name"].astype(str).tolist() == ["f"]
    assert t.overflow is True
    assert t.tracks.values.tolist() == [[1, 1, "tid 1", "thread", "MainProcess"]]


def test_task_tracks_from_late_thread_names_and_enrich_roundtrip() -> None:
    ev = [m("process_name", "MainProcess"), m("thread_name", "MainThread"), x("step", 0, 1, tid=77)]
    ev.append(m("thread_name", "Task-2", tid=77))  # written after the events: an asyncio task
    data, summary = enrich(doc(ev), [{"ph": "C", "name": "RSS MiB", "pid": 1, "tid": 1, "ts": 0, "args": {"x": 1}}])
    assert summary == {"events": 1, "events_per_pid": {"1": 1}, "overflow": False, "viztracer_version": "1.1.1"}
    out = orjson.loads(data)
    assert out["tracekit"] == {"tracks": [[1, 1, "thread"], [1, 77, "task"]]}
    assert out["traceEvents"][0]["args"] == {"name": "MainProcess (pid 1)"}
    assert out["traceEvents"][-1]["ph"] == "C"
    t = load(data)
    assert t.tracks.values.tolist() == [
        [1, 1, "MainThread", "thread", "MainProcess (pid 1)"],
        [1, 77, "Task-2", "task", "MainProcess (pid 1)"],
    ]
    # enriching twice keeps the verdict and does not stack the pid suffix
    again, _ = enrich(data)
    assert orjson.loads(again)["traceEvents"][0]["args"] == {"name": "MainProcess (pid 1)"}
    assert orjson.loads(again)["tracekit"] == out["tracekit"]


@pytest.mark.parametrize("raw", [b"", b"  \n", b"{not json", b"[]", b'{"traceEvents": 3}'])
def test_parse_rejects_unusable_traces(raw: bytes) -> None:
    with pytest.raises(TraceError):
        parse(raw)


def test_load_empty_trace_gives_empty_frames() -> None:
    t = load(doc([m("process_name", "MainProcess")]))
    assert t.events.empty and list(t.events.columns) == EVENT_COLUMNS
    assert t.events_per_pid == {}


def test_enrich_writes_the_line_layout_and_load_reads_it_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fmt, "EVENTS_PER_LINE", 3)
    compact = doc(TINY)
    data, _ = enrich(compact)
    lines = data.split(b"\n")
    assert lines[0] == b'{"traceEvents":['
    assert len(lines) == 1 + 4 + 1  # the head, 10 events in lines of 3, the closing line
    assert lines[-1].startswith(b'],"viztracer_metadata":')
    assert orjson.loads(data)["traceEvents"] == orjson.loads(enrich(compact)[0])["traceEvents"]
    chunked, whole = load(data), load(compact)
    pd.testing.assert_frame_equal(chunked.events, whole.events)
    assert chunked.tracks["process_name"].tolist() == ["MainProcess (pid 1)"] * 2
    assert chunked.events_per_pid == whole.events_per_pid


def test_line_layout_with_no_events_and_a_truncated_file() -> None:
    data, summary = enrich(doc([]))
    assert summary["events"] == 0
    assert load(data).events.empty
    full, _ = enrich(doc(TINY))
    with pytest.raises(TraceError):
        load(full[: len(full) // 2])


def test_load_path_streams_the_line_layout_and_reads_other_layouts_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fmt, "EVENTS_PER_LINE", 2)
    data, _ = enrich(doc(TINY))
    for name, raw in [("lines.json", data), ("compact.json", doc(TINY)), ("empty.json", enrich(doc([]))[0])]:
        path = tmp_path / name
        path.write_bytes(raw)
        got, want = load_path(path), load(raw)
        pd.testing.assert_frame_equal(got.events, want.events)
        pd.testing.assert_frame_equal(got.tracks, want.tracks)
        assert (got.overflow, got.version, got.events_per_pid) == (want.overflow, want.version, want.events_per_pid)
    cut = tmp_path / "cut.json"
    cut.write_bytes(data[: data.rindex(b"\n]")])
    with pytest.raises(TraceError, match="truncated"):
        load_path(cut)


@pytest.mark.parametrize(
    ("frames", "kept", "self_us"),
    [
        # the recorder's wrapper of next(): its own 10 µs count as its caller's
        ([("run (/p/g.py:17)", 0, 100), ("_patch_next.<locals>.next (/venv/site-packages/tracekit/recorder.py:266)",
           10, 50), ("count (/p/g.py:11)", 12, 40)], ["run (/p/g.py:17)", "count (/p/g.py:11)"], [60.0, 40.0]),
        # vizboot's wrapper of Thread._bootstrap_inner (thread names valid UTF-8 for the tracer): a real
        # threads_http run listed it under "your code" with 57 calls and 14.7 s
        ([("_patch_threads.<locals>._bootstrap_inner (/venv/site-packages/tracekit/vizboot.py:123)", 0, 100),
          ("Thread._bootstrap_inner (/usr/lib/python3.11/threading.py:1038)", 2, 96), ("fetch (/p/t.py:34)", 10, 50)],
         ["Thread._bootstrap_inner (/usr/lib/python3.11/threading.py:1038)", "fetch (/p/t.py:34)"], [46.0, 50.0]),
    ],
)  # fmt: skip
def test_tracekits_own_frames_are_dropped_and_their_callees_renest(
    frames: list[tuple[str, float, float]], kept: list[str], self_us: list[float]
) -> None:
    ev = load(doc([x(*f) for f in frames])).events
    assert ev["name"].astype(str).tolist() == kept
    assert ev["depth"].tolist() == [0, 1] and ev["parent"].tolist() == [-1, 0]
    assert ev["self_us"].tolist() == self_us
