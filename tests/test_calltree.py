"""The call tree (analysis.calltree) and the flame graph's payload (render.flame), on hand-built events."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tests.test_analysis_origin import events
from tracekit.analysis.calltree import build_call_tree, prune
from tracekit.render.flame import flame_data, frame_label

# pid 1: main thread 1 calls main → work twice (recursion work → work once), then print;
# a second thread 2 runs work; pid 2 (a worker process) runs work.
EV = events(
    [
        (1, 1, 0, 1000, "main (/p/app.py:1)", -1),
        (1, 1, 10, 300, "work (/p/app.py:5)", 0),
        (1, 1, 20, 100, "work (/p/app.py:5)", 1),
        (1, 1, 400, 200, "work (/p/app.py:5)", 0),
        (1, 1, 700, 50, "builtins.print", 0),
        (1, 2, 0, 500, "work (/p/app.py:5)", -1),
        (2, 2, 0, 800, "work (/p/app.py:5)", -1),
    ]
)
EV["cpu_s"] = [0.0009, 0.0003, 0.0001, 0.0002, float("nan"), 0.0004, 0.0008]
TRACKS = pd.DataFrame(
    [(1, 1, "MainThread", "thread"), (1, 2, "pool-1", "thread"), (2, 2, "MainThread", "thread")],
    columns=["pid", "tid", "name", "kind"],
)
NAMES = {1: "MainProcess", 2: "work-0"}


def rows(tree) -> list[tuple]:  # type: ignore[no-untyped-def,type-arg]
    paths = tree.paths()
    n = tree.nodes
    return [
        (" / ".join(p) or "all", r.kind, r.depth, r.calls, r.total_us, r.self_us)
        for p, r in zip(paths, n.itertuples(), strict=True)
    ]


def test_calls_merge_by_path_per_process_and_track() -> None:
    t = build_call_tree(EV, TRACKS, NAMES)
    got = sorted(rows(t))
    assert got == sorted(
        [
            ("all", "root", 0, 0, 2300.0, 0.0),
            ("MainProcess", "process", 1, 0, 1500.0, 0.0),
            ("MainProcess / thread MainThread", "track", 2, 0, 1000.0, 0.0),
            ("MainProcess / thread MainThread / main (/p/app.py:1)", "call", 3, 1, 1000.0, 450.0),
            # the two calls of work under main are one frame; the recursive call is a frame below it
            ("MainProcess / thread MainThread / main (/p/app.py:1) / work (/p/app.py:5)", "call", 4, 2, 500.0, 400.0),
            (
                "MainProcess / thread MainThread / main (/p/app.py:1) / work (/p/app.py:5) / work (/p/app.py:5)",
                "call",
                5,
                1,
                100.0,
                100.0,
            ),
            ("MainProcess / thread MainThread / main (/p/app.py:1) / builtins.print", "call", 4, 1, 50.0, 50.0),
            ("MainProcess / thread pool-1", "track", 2, 0, 500.0, 0.0),
            ("MainProcess / thread pool-1 / work (/p/app.py:5)", "call", 3, 1, 500.0, 500.0),
            ("work-0", "process", 1, 0, 800.0, 0.0),
            ("work-0 / thread MainThread", "track", 2, 0, 800.0, 0.0),
            ("work-0 / thread MainThread / work (/p/app.py:5)", "call", 3, 1, 800.0, 800.0),
        ]
    )
    # parents come before their children; the root is node 0
    assert all(p < i for i, p in enumerate(t.nodes["parent"]) if p >= 0) and t.nodes["parent"].iloc[0] == -1
    cpu = dict(zip([" / ".join(p) or "all" for p in t.paths()], t.nodes["cpu_s"], strict=True))
    assert cpu["MainProcess / thread MainThread / main (/p/app.py:1) / work (/p/app.py:5)"] == pytest.approx(0.0005)
    assert math.isnan(cpu["MainProcess / thread MainThread / main (/p/app.py:1) / builtins.print"])
    assert cpu["all"] == pytest.approx(0.0009 + 0.0004 + 0.0008)
    pids = t.nodes.set_index("name")["pid"]
    assert pids["work-0"] == 2 and pids["builtins.print"] == 1


def test_merged_tree_has_no_process_or_track_levels() -> None:
    t = build_call_tree(EV, TRACKS, NAMES, merged=True)
    got = {" / ".join(p) or "all": (r.calls, r.total_us) for p, r in zip(t.paths(), t.nodes.itertuples(), strict=True)}
    assert got == {
        "all": (0, 2300.0),
        "main (/p/app.py:1)": (1, 1000.0),
        "main (/p/app.py:1) / work (/p/app.py:5)": (2, 500.0),
        "main (/p/app.py:1) / work (/p/app.py:5) / work (/p/app.py:5)": (1, 100.0),
        "main (/p/app.py:1) / builtins.print": (1, 50.0),
        "work (/p/app.py:5)": (2, 1300.0),  # thread pool-1's and process work-0's outermost calls
    }
    assert set(t.nodes["pid"]) == {-1}


def test_prune_keeps_ancestors_and_counts_what_went() -> None:
    t = build_call_tree(EV, TRACKS, NAMES)
    small, dropped = prune(
        t, 0.03, 1000
    )  # 3% of 2300 µs = 69 µs: print (50 µs) goes, the recursive work (100 µs) stays
    kept = {" / ".join(p) for p in small.paths()}
    assert "MainProcess / thread MainThread / main (/p/app.py:1) / builtins.print" not in kept
    assert dropped == 1 and len(small.nodes) == len(t.nodes) - 1
    assert all(p < i for i, p in enumerate(small.nodes["parent"]) if p >= 0)
    tiny, dropped = prune(t, 0.0, 7)  # 7 nodes: the 6 processes and tracks always, and the largest call
    calls = [" / ".join(p) for p, k in zip(tiny.paths(), tiny.nodes["kind"], strict=True) if k == "call"]
    assert calls == ["MainProcess / thread MainThread / main (/p/app.py:1)"]
    assert dropped == len(t.nodes) - 7
    bare, _ = prune(t, 0.0, 2)  # fewer than the processes and tracks: those still stay
    assert set(bare.nodes["kind"]) == {"root", "process", "track"} and len(bare.nodes) == 6


def test_empty_events_give_just_the_root() -> None:
    t = build_call_tree(EV.iloc[0:0], TRACKS, NAMES)
    assert rows(t) == [("all", "root", 0, 0, 0.0, 0.0)]


def test_flame_payload() -> None:
    t = build_call_tree(EV[EV["pid"] == 2], TRACKS, NAMES)
    d = flame_data(t, {"work (/p/app.py:5)": "own"}, dropped=3)
    assert d == {
        "labels": ["all", "work-0", "thread MainThread", "work (app.py:5)"],
        "titles": ["all", "work-0", "thread MainThread", "work (/p/app.py:5)"],
        "name": [0, 1, 2, 3],
        "parent": [-1, 0, 1, 2],
        "kind": ["root", "process", "track", "call"],
        "origin": ["", "", "", "own"],
        "total": [800.0, 800.0, 800.0, 800.0],
        "self": [0.0, 0.0, 0.0, 800.0],
        "calls": [0, 0, 0, 1],
        "cpu": [0.0008, 0.0008, 0.0008, 0.0008],
        "dropped": 3,
        "total_us": 800.0,
    }
    assert frame_label("Runner.run (/usr/lib/python3.11/asyncio/runners.py:86)", "call") == "Runner.run (runners.py:86)"
    assert frame_label("time.sleep", "call") == "time.sleep"
    assert frame_label("task <img src=x>", "track") == "task <img src=x>"


def test_flame_payload_stores_each_name_once() -> None:
    d = flame_data(build_call_tree(EV, TRACKS, NAMES), {})
    assert d["titles"].count("work (/p/app.py:5)") == 1 and d["titles"].count("thread MainThread") == 1
    work = d["titles"].index("work (/p/app.py:5)")
    assert d["name"].count(work) == 4  # under main, recursively, in pool-1 and in work-0
    assert [d["titles"][i] for i in d["name"]][:3] == ["all", "MainProcess", "work-0"]


def test_track_labels_name_tasks_by_what_they_run() -> None:
    labels = {(1, 2): "task count (Task-2)"}
    t = build_call_tree(EV, TRACKS, NAMES, labels)
    assert "task count (Task-2)" in set(t.nodes["name"]) and "thread pool-1" not in set(t.nodes["name"])
