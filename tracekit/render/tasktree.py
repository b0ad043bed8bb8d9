"""Units by what they run, and the tree of which unit created which (pure: frames in, dataclasses out).

Reads the Units frame's `coroutine` and `creator` columns (analysis.units, from the structure
record): a task is shown by its coroutine with its name beside it ("count (Task-2)"), a generator
unit by its name ("count #2"), a thread or process by its name. The tree: each process, under it its
threads, then its tasks that no other task created (those `asyncio.run` or a thread made), each task's
children the tasks it created, and the generator units under their process with the function that
drove them; five or more siblings that run the same coroutine are one folded "group" line
("handle × 100 tasks"). A creator is matched by task name within its process; when two tasks share a name, the
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
GROUP_MIN = 5  # siblings running one coroutine are folded into one line from this many on
_TASK_N = re.compile(r"^Task-\d+$")


@dataclass(frozen=True)
class TreeNode:
    label: str
    kind: str  # process | thread | task | generator | group (siblings that run the same coroutine)
    detail: str  # times and where it was created, for the line under the label
    children: tuple[TreeNode, ...]
    start_s: float = math.nan
    end_s: float = math.nan
    runs: str = ""  # a task's or generator's coroutine name, what groups siblings


def group_siblings(nodes: tuple[TreeNode, ...], min_group: int = GROUP_MIN) -> tuple[TreeNode, ...]:
    """Siblings of one kind that run the same coroutine, `min_group` of them or more (100 request
    tasks of one handler), folded into one "group" node where the first of them was; the rest as is."""
    members: dict[tuple[str, str], list[TreeNode]] = defaultdict(list)
    for n in nodes:
        if n.runs:
            members[(n.kind, n.runs)].append(n)
    out: list[TreeNode] = []
    for n in nodes:
        same = members.get((n.kind, n.runs), []) if n.runs else []
        if len(same) < min_group:
            out.append(n)
        elif same[0] is n:
            start, end = min(m.start_s for m in same), max(m.end_s for m in same)
            detail = f"{same[0].label} … {same[-1].label}; {start:.3f} → {end:.3f} s"
            out.append(TreeNode(f"{n.runs} × {len(same)} {n.kind}s", "group", detail, tuple(same), start, end))
    return tuple(out)


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
        children = group_siblings(tuple(node(k) for k in kids[i]))
        runs = coroutine_name(str(r.coroutine or "")) if r.kind in ("task", "generator") else ""
        label = unit_label(str(r.kind), str(r.name), str(r.coroutine or ""))
        return TreeNode(label, str(r.kind), detail, children, float(r.start_s), float(r.end_s), runs)

    forest = []
    for r in rows:
        if r.kind == "process":
            children = group_siblings(tuple(node(k) for k in roots_of_pid[int(r.pid)]))
            forest.append(TreeNode(str(r.name), "process", _detail(r), children, float(r.start_s), float(r.end_s)))
    return forest, left_out
