"""The call tree: traced calls merged by call path, per process and per thread or task (pure numpy).

CallTree frame (`CallTree.nodes`), one row per node, parents before children (node id = row number):
  parent     node id of the parent, -1 for the root
  kind       "root" (everything), "process", "track" (a thread or an asyncio task), "call"
  name       a call's viztracer name ("qualname (file:line)" or "module.func"); a process's or track's label
  depth      0 for the root, 1 processes, 2 tracks, 3 the outermost calls (without processes and tracks,
             `merged=True`: 1 for the outermost calls)
  pid, tid   the process and track (-1 where a node spans several: the root; tid -1 for a process)
  calls      completed calls merged into the node (0 for root, process, track)
  total_us   time inside the calls on this path (a process or track: the sum of its outermost calls;
             the root: the sum of its processes: threads that ran at once both count)
  self_us    total_us minus the children's total_us (a call's own code; the time a track was not inside
             any traced call does not count)
  cpu_s      the calls' CPU estimate from psutil thread samples (Events frame `cpu_s`), NaN if unknown

Calls on the same path are one node whatever their order (a flame graph, not a flame chart); a
recursive call is a new node under its caller. `prune` drops nodes below a share of the root so a
report stays small; exports use the whole tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# what a picture of the tree can show (the report's and the diff's flame graphs; `diff` counts the call paths
# one run lacks above the same share): `prune`'s bounds
MIN_SHARE = 0.0002  # of the root's total: narrower frames would be under a pixel until zoomed
MAX_NODES = 3000
NODE_COLUMNS = ["parent", "kind", "name", "depth", "pid", "tid", "calls", "total_us", "self_us", "cpu_s"]


@dataclass(frozen=True)
class CallTree:
    nodes: pd.DataFrame  # the CallTree frame (module docstring)

    @property
    def total_us(self) -> float:
        return float(self.nodes["total_us"].iloc[0]) if len(self.nodes) else 0.0

    def paths(self) -> list[tuple[str, ...]]:
        """Each node's names from below the root down to it (the root's is ())."""
        parent = self.nodes["parent"].to_numpy()
        names = self.nodes["name"].to_numpy()
        out: list[tuple[str, ...]] = []
        for i in range(len(parent)):
            out.append(() if parent[i] < 0 else (*out[parent[i]], str(names[i])))
        return out


@dataclass
class _Levels:
    """The root, process and track nodes, built before the calls."""

    kinds: list[str] = field(default_factory=lambda: ["root"])
    names: list[str] = field(default_factory=lambda: ["all"])
    parents: list[int] = field(default_factory=lambda: [-1])
    pids: list[int] = field(default_factory=lambda: [-1])
    tids: list[int] = field(default_factory=lambda: [-1])

    def add(self, kind: str, name: str, parent: int, pid: int, tid: int) -> int:
        self.kinds.append(kind)
        self.names.append(name)
        self.parents.append(parent)
        self.pids.append(int(pid))
        self.tids.append(int(tid))
        return len(self.kinds) - 1


def _track_labels(tracks: pd.DataFrame) -> dict[tuple[int, int], str]:
    return {(int(r.pid), int(r.tid)): f"{r.kind} {r.name}" for r in tracks.itertuples(index=False)}


def _call_nodes(
    events: pd.DataFrame, first_parent: np.ndarray, n_before: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge calls by path, one depth at a time: returns (node of each event, parent node of each new
    node, name code of each new node); new node ids start at n_before."""
    codes, uniques = pd.factorize(events["name"].astype(str), sort=False)
    depth = events["depth"].to_numpy(dtype=np.int64)
    parent = events["parent"].to_numpy(dtype=np.int64)
    node = np.full(len(events), -1, dtype=np.int64)
    new_parent: list[np.ndarray] = []
    new_code: list[np.ndarray] = []
    count = n_before
    width = np.int64(len(uniques) + 1)
    for d in range(int(depth.max()) + 1 if len(depth) else 0):
        idx = np.flatnonzero(depth == d)
        if not len(idx):
            continue
        pn = np.where(parent[idx] >= 0, node[np.maximum(parent[idx], 0)], first_parent[idx])
        keep = pn >= 0  # a call whose caller was not assigned (inconsistent nesting) is left out
        idx, pn = idx[keep], pn[keep]
        keys, first, inverse = np.unique(pn * width + codes[idx], return_index=True, return_inverse=True)
        node[idx] = count + inverse
        new_parent.append(pn[first])
        new_code.append(codes[idx][first])
        count += len(keys)
    cat = np.concatenate(new_code) if new_code else np.array([], dtype=np.int64)
    names = np.asarray(uniques, dtype=object)[cat] if len(cat) else np.array([], dtype=object)
    return node, (np.concatenate(new_parent) if new_parent else np.array([], dtype=np.int64)), names


def build_call_tree(
    events: pd.DataFrame,
    tracks: pd.DataFrame,
    process_names: Mapping[int, str],
    track_labels: Mapping[tuple[int, int], str] | None = None,
    merged: bool = False,
) -> CallTree:
    """The call tree of an Events frame. `track_labels` name tracks over the Tracks frame's names
    (a task by what it runs: "task count (Task-2)"). `merged`: no process and track levels, every
    track's calls under the root (to compare two runs, whose pids differ)."""
    ev = events.reset_index(drop=True)
    pid = ev["pid"].to_numpy(dtype=np.int64)
    tid = ev["tid"].to_numpy(dtype=np.int64)
    labels = _track_labels(tracks) | dict(track_labels or {})
    top = _Levels()
    first_parent = np.zeros(len(ev), dtype=np.int64)
    if not merged and len(ev):
        pairs = pd.DataFrame({"pid": pid, "tid": tid}).drop_duplicates().sort_values(["pid", "tid"])
        proc_node = {p: top.add("process", process_names.get(p, f"pid {p}"), 0, p, -1) for p in pairs["pid"].unique()}
        track_node = {
            (p, t): top.add("track", labels.get((p, t), f"thread {t}"), proc_node[p], p, t)
            for p, t in pairs.itertuples(index=False)
        }
        key = pd.MultiIndex.from_arrays([pid, tid])
        first_parent = np.asarray(pd.Series(track_node).reindex(key).to_numpy(), dtype=np.int64)
    kinds, names, parents, pids, tids = top.kinds, top.names, top.parents, top.pids, top.tids
    node, call_parent, call_names = _call_nodes(ev, first_parent, len(kinds))
    n_calls = len(call_parent)
    n = len(kinds) + n_calls
    has = node >= 0
    dur = ev["dur_us"].to_numpy(dtype=np.float64)
    cpu = ev["cpu_s"].to_numpy(dtype=np.float64) if "cpu_s" in ev else np.full(len(ev), np.nan)
    calls = np.bincount(node[has], minlength=n).astype(np.int64)
    total = np.bincount(node[has], weights=dur[has], minlength=n)
    cpu_sum = np.bincount(node[has], weights=np.nan_to_num(cpu[has]), minlength=n)
    cpu_known = np.bincount(node[has], weights=(~np.isnan(cpu[has])).astype(np.float64), minlength=n) > 0
    parent = np.concatenate([np.asarray(parents, dtype=np.int64), call_parent])
    node_pid = np.concatenate([np.asarray(pids, dtype=np.int64), np.full(n_calls, -1, dtype=np.int64)])
    node_tid = np.concatenate([np.asarray(tids, dtype=np.int64), np.full(n_calls, -1, dtype=np.int64)])
    first_ev = np.full(n, -1, dtype=np.int64)
    call_ids = np.arange(len(kinds), n)
    if n_calls:
        first_ev[node[has][::-1]] = np.flatnonzero(has)[::-1]
        node_pid[call_ids], node_tid[call_ids] = pid[first_ev[call_ids]], tid[first_ev[call_ids]]
    if merged:
        node_pid[:] = -1
        node_tid[:] = -1
    frame = pd.DataFrame(
        {"parent": parent, "kind": kinds + ["call"] * n_calls, "name": names + [str(x) for x in call_names],
         "pid": node_pid, "tid": node_tid, "calls": calls, "total_us": total,
         "cpu_s": np.where(cpu_known, cpu_sum, np.nan)}
    )  # fmt: skip
    # a call node's depth: its events' depth below the levels above it (root, or root/process/track)
    depth = ev["depth"].to_numpy(dtype=np.int64)[first_ev[call_ids]] + (1 if merged else 3) if n_calls else call_ids
    return CallTree(_finish(frame, depth))


def _finish(frame: pd.DataFrame, call_depth: np.ndarray) -> pd.DataFrame:
    """Depth, the synthetic levels' totals (sum of their children, deepest level first) and self time."""
    parent = frame["parent"].to_numpy()
    n = len(frame)
    synthetic = (frame["kind"] != "call").to_numpy()
    depth = np.zeros(n, dtype=np.int64)
    depth[~synthetic] = call_depth
    depth[synthetic] = frame.loc[synthetic, "kind"].map({"root": 0, "process": 1, "track": 2}).to_numpy()
    total = frame["total_us"].to_numpy(dtype=np.float64).copy()
    cpu = frame["cpu_s"].to_numpy(dtype=np.float64).copy()
    for level in sorted(set(depth[synthetic].tolist()), reverse=True):
        kids = depth == level + 1
        at = synthetic & (depth == level)
        total[at] = np.bincount(parent[kids], weights=total[kids], minlength=n)[at]
        known = np.bincount(parent[kids], weights=(~np.isnan(cpu[kids])).astype(np.float64), minlength=n)[at] > 0
        summed = np.bincount(parent[kids], weights=np.nan_to_num(cpu[kids]), minlength=n)[at]
        cpu[at] = np.where(known, summed, np.nan)
    has = parent >= 0
    child_total = np.bincount(parent[has], weights=total[has], minlength=n)
    frame = frame.assign(depth=depth, total_us=total, self_us=np.maximum(total - child_total, 0.0), cpu_s=cpu)
    return frame[NODE_COLUMNS]


def prune(tree: CallTree, min_share: float, max_nodes: int) -> tuple[CallTree, int]:
    """Keep the root, every process and track, and the calls whose total is at least `min_share` of the
    root's (at most `max_nodes` nodes, raising the share as needed) with their ancestors; returns the
    tree and how many nodes went."""
    nodes = tree.nodes
    if nodes.empty:
        return tree, 0
    total = nodes["total_us"].to_numpy(dtype=np.float64)
    synthetic = (nodes["kind"] != "call").to_numpy()  # every process, thread and task keeps its frame
    budget = max(0, max_nodes - int(synthetic.sum()))
    calls = np.sort(total[~synthetic])[::-1]
    floor = max(min_share * total[0], float(calls[budget - 1]) if len(calls) > budget > 0 else 0.0)
    keep = synthetic | ((total >= floor) if budget > 0 else np.zeros(len(total), dtype=bool))
    parent = nodes["parent"].to_numpy()
    for i in range(1, len(keep)):  # a node whose parent went goes too (parents come first)
        keep[i] = keep[i] and keep[parent[i]]
    if (keep & ~synthetic).sum() > budget:  # ties at the floor: the first ones (parents first) stay
        keep &= synthetic | (np.cumsum(keep & ~synthetic) <= budget)
    new_id = np.cumsum(keep) - 1
    kept = nodes[keep].copy()
    kept["parent"] = np.where(kept["parent"] >= 0, new_id[np.maximum(kept["parent"].to_numpy(), 0)], -1)
    return CallTree(kept.reset_index(drop=True)), int((~keep).sum())
