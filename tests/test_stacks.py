"""tracekit.stacks: sampled Python stacks -> function slices, exact on hand-built records."""

from __future__ import annotations

import json

from tracekit.stacks import stack_events


def _raw(*recs: tuple[int, list[object]]) -> bytes:
    return b"".join(json.dumps([pid, rec]).encode() + b"\n" for pid, rec in recs)


def _slices(events: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return sorted((e["tid"], e["name"], e["ts"], e["dur"]) for e in events if e["ph"] == "X")


def test_a_frame_is_one_call_while_consecutive_samples_show_it_at_the_same_place() -> None:
    raw = _raw(
        (1, ["proc", 0, 1, 0, "start", "/x/prog.py"]),
        (1, ["sampler", 0, 99, 5_000_000]),
        (1, ["fn", 1, "main (p.py:1)"]),
        (1, ["stack", 1, 0, 1]),
        (1, ["fn", 2, "f (p.py:5)"]),
        (1, ["stack", 2, 1, 2]),
        (1, ["smp", 1000, 1, 1, 0]),  # main
        (1, ["smp", 2000, 1, 2, 1]),  # main > f
        (1, ["smp", 4000, 1, 1, 1]),  # f returned
        (1, ["smp", 5000, 1, 2, 1]),  # f called again: a second call
        (1, ["smp", 7000, 1, 2, 1]),  # ...and a third, between two samples (the same stack, new frame)
        (1, ["smp", 8000, 1, 0, 0]),  # the thread is gone
    )
    events, facts = stack_events(raw)
    # a callee starts 1 ns after and ends 1 ns before its caller's sample times, so it nests strictly
    assert _slices(events) == [
        (1, "f (p.py:5)", 2.001, 1.998),
        (1, "f (p.py:5)", 5.001, 1.998),
        (1, "f (p.py:5)", 7.001, 0.998),
        (1, "main (p.py:1)", 1.0, 7.0),
    ]
    assert facts == {"samples": 6, "interval_us": 5000.0, "sampler_tids": [[1, 99]]}
    meta = {(e["name"], e["tid"]): e["args"] for e in events if e["ph"] == "M"}
    assert meta == {("process_name", 1): {"name": "MainProcess"}, ("thread_name", 1): {"name": "MainThread"}}


def test_threads_and_processes_apart_and_a_killed_process_closed_at_its_last_record() -> None:
    raw = _raw(
        (1, ["proc", 0, 1, 0, "start", "prog.py"]),
        (1, ["fn", 1, "main (p.py:1)"]),
        (1, ["stack", 1, 0, 1]),
        (1, ["thread", 10, 7, "worker", "threading"]),
        (1, ["fn", 2, "run (p.py:9)"]),
        (1, ["stack", 2, 0, 2]),
        (2, ["proc", 20, 2, 1, "fork", "prog.py"]),
        (2, ["fn", 1, "child (p.py:20)"]),  # serials are per process: fn 1 of pid 2 is not pid 1's
        (2, ["stack", 1, 0, 1]),
        (1, ["smp", 1000, 1, 1]),
        (1, ["smp", 1000, 7, 2]),
        (2, ["smp", 3000, 2, 1]),
        (1, ["smp", 8000, 7, 0]),
        (1, ["end", 9000]),
        (1, ["smp", 9000, 1, 0]),
        (2, ["step", 3000, 7000, 2, 0, 1, "cb"]),  # pid 2's last record: killed after it, never closed
    )
    events, facts = stack_events(raw)
    assert _slices(events) == [
        (1, "main (p.py:1)", 1.0, 8.0),
        (2, "child (p.py:20)", 3.0, 4.0),
        (7, "run (p.py:9)", 1.0, 7.0),
    ]
    assert {e["pid"] for e in events if e["ph"] == "X" and e["tid"] == 2} == {2}
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert names == {(1, 1): "MainThread", (1, 7): "worker", (2, 2): "MainThread"}
    assert facts["samples"] == 5 and facts["interval_us"] is None


def test_a_call_that_began_in_a_loop_step_ends_with_the_step() -> None:
    """The next sample may come after the step ended; the coroutine's frame left the stack by then."""
    raw = _raw(
        (1, ["fn", 1, "run_once (b.py:1)"]),
        (1, ["stack", 1, 0, 1]),
        (1, ["fn", 2, "Handle._run (events.py:78)"]),
        (1, ["stack", 2, 1, 2]),
        (1, ["fn", 3, "count (a.py:7)"]),
        (1, ["stack", 3, 2, 3]),
        (1, ["smp", 2000, 1, 3, 0]),  # the thread's first sample, inside the step 1500..6000
        (1, ["step", 1500, 6000, 1, 2, 1, ""]),
        (1, ["smp", 9000, 1, 1, 1]),  # the first sample after it
        (1, ["smp", 10000, 1, 0, 0]),
    )
    events, _facts = stack_events(raw)
    # the coroutine ended with the step; the loop's frames, first seen in it, did not
    assert _slices(events) == [
        (1, "Handle._run (events.py:78)", 2.001, 6.998),
        (1, "count (a.py:7)", 2.002, 3.996),
        (1, "run_once (b.py:1)", 2.0, 8.0),
    ]


def test_a_deep_stack_does_not_recurse() -> None:
    depth = 5000
    recs: list[tuple[int, list[object]]] = [(1, ["fn", 1, "f (r.py:1)"])]
    recs += [(1, ["stack", i, i - 1, 1]) for i in range(1, depth + 1)]
    recs += [(1, ["smp", 1000, 1, depth, 0]), (1, ["smp", 2000, 1, 0, 0])]
    events, _facts = stack_events(_raw(*recs))
    assert len([e for e in events if e["ph"] == "X"]) == depth


def test_the_structure_keeps_each_samples_innermost_frame_and_line() -> None:
    from tracekit import structure

    st = structure.load(
        _raw(
            (1, ["proc", 0, 1, 0, "start", "p.py"]),
            (1, ["sampler", 0, 9, 5_000_000]),
            (1, ["fn", 1, "main (p.py:1)"]),
            (1, ["fn", 2, "f (p.py:5)"]),
            (1, ["stack", 1, 0, 1]),
            (1, ["stack", 2, 1, 2]),
            (1, ["smp", 1000, 1, 2, 0, 6]),
            (1, ["smp", 3000, 1, 1, 1, 2]),
            (1, ["smp", 4000, 1, 0, 0, 0]),
        )
    )
    assert st.stack_samples.values.tolist() == [
        [1, 1, 1.0, "f (p.py:5)", 6],
        [1, 1, 3.0, "main (p.py:1)", 2],
        [1, 1, 4.0, "", 0],
    ]
    assert st.own_threads == frozenset({(1, 9)})
    assert st.threads.empty  # the sampler's thread is not a unit


def test_tracekits_own_threads_are_known_and_not_units() -> None:
    from tracekit import structure

    st = structure.load(
        _raw(
            (1, ["proc", 0, 1, 0, "start", "p.py"]),
            (1, ["sampler", 0, 9, 5_000_000]),
            (1, ["own", 10, 11, "sigterm re-sender"]),
            (2, ["proc", 0, 2, 1, "fork", "p.py"]),
            (2, ["own", 20, 21, "sigterm re-sender"]),
        )
    )
    assert st.own_threads == frozenset({(1, 9), (1, 11), (2, 21)})
    assert st.threads.empty


def test_a_stack_whose_record_was_lost_keeps_what_is_known() -> None:
    raw = _raw(
        (1, ["fn", 1, "main (p.py:1)"]),
        (1, ["stack", 1, 0, 1]),
        (1, ["smp", 1000, 1, 1, 0, 1]),
        (1, ["smp", 2000, 1, 7, 1, 1]),  # stack 7 was never written
        (1, ["smp", 3000, 1, 0, 0, 0]),
    )
    events, _facts = stack_events(raw)
    assert _slices(events) == [(1, "main (p.py:1)", 1.0, 1.0)]  # stack 7 is not main's: main ended there


def test_a_sample_without_a_line_number_is_line_0() -> None:
    """A frame at an instruction without a line (f_lineno None) must not make the record corrupt."""
    from tracekit import structure

    st = structure.load(_raw((1, ["fn", 1, "f (p.py:5)"]), (1, ["stack", 1, 0, 1]), (1, ["smp", 1000, 1, 1, 0, None])))
    assert st.stack_samples.values.tolist() == [[1, 1, 1.0, "f (p.py:5)", 0]]
