"""The flame graph's data: a CallTree (analysis.calltree) as the JSON block templates/flame.js draws.

Payload (plain lists; goes into the page through `tojson`):
  labels    per distinct name: short frame text ("count (app.py:7)", a process's or track's label)
  titles    per distinct name: the full name (viztracer's "qualname (/full/path.py:line)")
  and one entry per node, parents first:
  name      index into labels and titles (a name repeats across threads and tasks: stored once)
  parent, kind, origin   kind: root | process | track | call; origin: own | stdlib | package | unknown
  total, self            µs (rounded to 0.1 µs); calls; cpu (s, null where unknown)
  dropped   nodes left out by pruning (too small to see); total_us of the root
For the differential flame graph (diff.html) also `delta` (µs: B − A per node), `scale` (the largest
|delta|) and `sides` (the two runs' labels).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tracekit.analysis.calltree import MAX_NODES, MIN_SHARE, CallTree, prune
from tracekit.analysis.functions import split_name


def frame_label(name: str, kind: str) -> str:
    """A call's short label: its qualified name and file name:line; other nodes keep their label."""
    if kind != "call":
        return name
    func, file, line = split_name(name)
    return f"{func} ({file.rsplit('/', 1)[-1]}:{line})" if file else func


def _num(x: float, digits: int) -> float | None:
    return None if not math.isfinite(x) else round(float(x), digits)


def flame_data(tree: CallTree, origin_of: Mapping[str, str], dropped: int = 0) -> dict[str, Any]:
    n = tree.nodes
    kinds = [str(k) for k in n["kind"]]
    names = [str(x) for x in n["name"]]
    index: dict[tuple[str, str], int] = {}
    for x, k in zip(names, kinds, strict=True):
        index.setdefault((x, "call" if k == "call" else "level"), len(index))
    return {
        "labels": [frame_label(x, "call" if k == "call" else "") for x, k in index],
        "titles": [x for x, _ in index],
        "name": [index[(x, "call" if k == "call" else "level")] for x, k in zip(names, kinds, strict=True)],
        "parent": [int(p) for p in n["parent"]],
        "kind": kinds,
        "origin": [origin_of.get(x, "unknown") if k == "call" else "" for x, k in zip(names, kinds, strict=True)],
        "total": [_num(v, 1) for v in n["total_us"]],
        "self": [_num(v, 1) for v in n["self_us"]],
        "calls": [int(c) for c in n["calls"]],
        "cpu": [_num(v, 6) for v in n["cpu_s"]],
        "dropped": dropped,
        "total_us": round(tree.total_us, 1),
    }


def report_flame(tree: CallTree, origin_of: Mapping[str, str]) -> dict[str, Any]:
    """The report's flame graph: the tree pruned to what can be seen."""
    small, dropped = prune(tree, MIN_SHARE, MAX_NODES)
    return flame_data(small, origin_of, dropped)
