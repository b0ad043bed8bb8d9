"""Units by what they run and the creation tree (render.tasktree), on a hand-built Units frame."""

from __future__ import annotations

import pandas as pd

from tracekit.render.tasktree import TreeNode, task_tree, unit_label

COLS = [
    "kind",
    "name",
    "pid",
    "tid",
    "coroutine",
    "creator",
    "created_at",
    "role",
    "start_s",
    "end_s",
    "wall_s",
    "cpu_s",
]
UNITS = pd.DataFrame(
    [
        ("process", "MainProcess", 7, 0, "", "", "", "main", 0.0, 2.0, 2.0, 0.1),
        ("thread", "MainThread", 7, 7, "", "", "", "main", 0.0, 2.0, 2.0, 0.1),
        ("task", "Task-1", 7, 1, "main (app.py:20)", "", "", "entry", 0.0, 2.0, 2.0, float("nan")),
        ("task", "Task-2", 7, 2, "fetch_page (app.py:9)", "Task-1", "main (app.py:22)", "worker", 0.1, 1.0, 0.9, 0.0),
        ("task", "Task-3", 7, 3, "parse (app.py:14)", "Task-2", "fetch_page (app.py:11)", "worker", 0.5, 0.9, 0.4, 0.0),
        ("task", "saver", 7, 4, "save (app.py:17)", "Task-1", "main (app.py:23)", "worker", 0.2, 1.5, 1.3, 0.0),
        ("generator", "count #1", 7, 5, "count (app.py:3)", "drive (app.py:30)", "", "worker", 1.6, 1.9, 0.3, 0.0),
        ("thread", "pool-1", 7, 8, "threading", "", "", "worker", 0.3, 0.6, 0.3, 0.2),
    ],
    columns=COLS,
)


def shape(nodes: list[TreeNode] | tuple[TreeNode, ...]) -> list:  # type: ignore[type-arg]
    return [(n.label, shape(n.children)) if n.children else n.label for n in nodes]


def test_unit_label() -> None:
    assert unit_label("task", "Task-2", "fetch_page (app.py:9)") == "fetch_page (Task-2)"
    assert unit_label("task", "saver", "save (app.py:17)") == "save (saver)"
    assert unit_label("task", "count", "count (app.py:3)") == "count"  # named after its coroutine
    assert unit_label("task", "Task-9", "") == "Task-9"  # no structure record: the name alone
    assert unit_label("generator", "count #1", "count (app.py:3)") == "count #1"
    assert unit_label("thread", "pool-1", "threading") == "pool-1"


def test_task_tree_by_creator() -> None:
    forest, left_out = task_tree(UNITS)
    assert left_out == 0
    assert shape(forest) == [
        ("MainProcess", [
            "MainThread",
            ("main (Task-1)", [("fetch_page (Task-2)", ["parse (Task-3)"]), "save (saver)"]),
            "pool-1",
            "count #1",
        ]),
    ]  # fmt: skip
    gen = forest[0].children[-1]
    assert gen.detail == "1.600 → 1.900 s (0.300 s), CPU 0.000 s, runs count (app.py:3), driven by drive (app.py:30)"
    fetch = forest[0].children[1].children[0]
    assert (
        fetch.detail
        == "0.100 → 1.000 s (0.900 s), CPU 0.000 s, runs fetch_page (app.py:9), created at main (app.py:22)"
    )


def test_ambiguous_creator_and_limits() -> None:
    dup = pd.concat([UNITS, UNITS.iloc[[3]].assign(tid=9, start_s=0.15)], ignore_index=True)  # a second Task-2
    forest, _ = task_tree(dup)
    parse = forest[0].children[1].children[0].children[0]
    assert parse.label == "parse (Task-3)" and "creator Task-2 is ambiguous" in parse.detail
    assert task_tree(UNITS.drop(columns=["creator"])) == ([], 0)  # no structure record: no tree
    forest, left_out = task_tree(UNITS, max_nodes=4)
    assert left_out == 4


def test_siblings_running_one_coroutine_fold_into_a_group() -> None:
    # main (Task-1) creates six fetch tasks and one saver; five or more siblings of one coroutine fold
    fetches = [
        (
            "task",
            f"Task-{k}",
            7,
            k,
            "fetch (app.py:9)",
            "Task-1",
            "main (app.py:22)",
            "worker",
            0.1 * k,
            1.0 + k,
            0.9,
            0.0,
        )
        for k in range(2, 8)
    ]
    units = pd.concat([UNITS.iloc[:3], pd.DataFrame(fetches, columns=COLS), UNITS.iloc[[5]]], ignore_index=True)
    forest, _ = task_tree(units)
    assert shape(forest) == [
        ("MainProcess", [
            "MainThread",
            ("main (Task-1)", [
                ("fetch × 6 tasks", [f"fetch (Task-{k})" for k in range(2, 8)]),
                "save (saver)",
            ]),
        ]),
    ]  # fmt: skip
    group = forest[0].children[1].children[0]
    assert group.kind == "group" and group.detail == "fetch (Task-2) … fetch (Task-7); 0.200 → 8.000 s"
    # four of them stay as they are, in start order with the saver (0.2 s) first
    forest, _ = task_tree(units.drop(index=[3, 4]))
    assert [n.label for n in forest[0].children[1].children] == ["save (saver)"] + [
        f"fetch (Task-{k})" for k in (4, 5, 6, 7)
    ]
