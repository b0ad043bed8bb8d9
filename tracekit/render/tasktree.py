"""Units by what they run, and the tree of which unit created which (pure: frames in, dataclasses out).

Reads the Units frame's `coroutine` and `creator` columns (analysis.units, from the structure
record): a task is shown by its coroutine with its name beside it ("count (Task-2)"), a generator
unit by its name ("count #2"), a thread or process by its name. The tree: each process, under it its
threads, then its tasks that no other task created (those `asyncio.run` or a thread made), each task's
children the tasks it created, and the generator units under their process with the function that
drove them. A creator is matched by task name within its process; when two tasks share a name, the
first (by start) is taken and the node says the creator was ambiguous. What each task awaited is not
in the structure record, so the tree does not show it.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pandas as pd

MAX_NODES = 400
_TASK_N = re.compile(r"^Task-\d+$")


@dataclass(frozen=True)
class TreeNode:
    label: str
    kind: str
    detail: str  # times and where it was created, for the line under the label
    children: tuple[TreeNode, ...]


def coroutine_name(coroutine: str) -> str:
    """ "count (x.py:7)" → "count"."""
    return coroutine.split(" (", 1)[0]


def unit_label(kind: str, name: str, coroutine: str) -> str:
    """A task by its coroutine with its name beside it; anything else by its name."""
    coro = coroutine_name(coroutine) if coroutine else ""
    if kind == "task" and coro and coro != name:
        return f"{coro} ({name})"
    return name


def _detail(u: Any) -> str:
    cpu = "" if u.cpu_s is None or (isinstance(u.cpu_s, float) and math.isnan(u.cpu_s)) else f", CPU {u.cpu_s:.3f} s"
    where = f", created at {u.created_at}" if getattr(u, "created_at", "") else ""
    driver = f", driven by {u.creator}" if u.kind == "generator" and u.creator else ""
    coro = f", runs {u.coroutine}" if u.kind in ("task", "generator") and u.coroutine else ""
    return f"{u.start_s:.3f} → {u.end_s:.3f} s ({u.wall_s:.3f} s){cpu}{coro}{where}{driver}"


def task_tree(units: pd.DataFrame, max_nodes: int = MAX_NODES) -> tuple[list[TreeNode], int]:
    """The forest (one root per process, in the Units frame's order) and how many units were left
    out to keep it under max_nodes."""
    if units.empty or "creator" not in units.columns:
        return [], 0
    u = units.sort_values("start_s", kind="stable").head(max_nodes)
    left_out = len(units) - len(u)
    rows = list(u.itertuples(index=False))
    first_by_name: dict[tuple[int, str], int] = {}
    counts: dict[tuple[int, str], int] = defaultdict(int)
    for i, r in enumerate(rows):
        if r.kind == "task":
            first_by_name.setdefault((int(r.pid), str(r.name)), i)
            counts[(int(r.pid), str(r.name))] += 1
    kids: dict[int, list[int]] = defaultdict(list)
    roots_of_pid: dict[int, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        if r.kind == "process":
            continue
        creator = first_by_name.get((int(r.pid), str(r.creator))) if r.kind == "task" and r.creator else None
        if creator is not None and creator != i:
            kids[creator].append(i)
        else:
            roots_of_pid[int(r.pid)].append(i)

    def node(i: int) -> TreeNode:
        r = rows[i]
        ambiguous = r.kind == "task" and r.creator and counts[(int(r.pid), str(r.creator))] > 1
        detail = _detail(r) + (
            f" (creator {r.creator!s} is ambiguous: several tasks have that name)" if ambiguous else ""
        )
        children = tuple(node(k) for k in kids[i])
        return TreeNode(unit_label(str(r.kind), str(r.name), str(r.coroutine or "")), str(r.kind), detail, children)

    forest = []
    for r in rows:
        if r.kind == "process":
            forest.append(
                TreeNode(str(r.name), "process", _detail(r), tuple(node(k) for k in roots_of_pid[int(r.pid)]))
            )
    return forest, left_out
