"""The nesting algorithm: for the slices of a trace sorted by track, each slice's depth, caller and
self time. Pure numpy on arrays; the definition is a stack walk per track (`_stack_walk`), the fast
path a vectorised equivalent checked against that definition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def nest(
    pids: np.ndarray[Any, Any],
    tids: np.ndarray[Any, Any],
    starts: np.ndarray[Any, Any],
    durs: np.ndarray[Any, Any],
    ends: np.ndarray[Any, Any],
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Slices sorted by (pid, tid, start, -dur) → (depth, parent, self_us, by_start), all per slice in
    the given order except `by_start`: the stable order by start, in which the Events frame's rows
    are written. `parent` already counts rows in that final order (-1 for an outermost call);
    self_us is dur minus the durations of the direct callees (never double-counts nesting)."""
    import numpy as np

    depth, parent = _nesting_arrays(pids, tids, starts, ends)
    has = parent >= 0
    self_us = durs - np.bincount(parent[has], weights=durs[has], minlength=len(durs))
    by_start = np.argsort(starts, kind="stable")
    rank = np.empty_like(by_start)
    rank[by_start] = np.arange(len(by_start))
    return depth, np.where(has, rank[np.maximum(parent, 0)], -1), self_us, by_start


def nesting(ev: pd.DataFrame) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]]]:
    """Depth and caller row of each slice in its (pid, tid) track; `ev` sorted by (pid, tid, start, -dur).

    The result is the stack walk's (see `_stack_walk`): a slice's caller is the innermost open slice
    that has not ended when it starts.
    """
    return _nesting_arrays(
        ev["pid"].to_numpy(), ev["tid"].to_numpy(), ev["start_us"].to_numpy(), ev["end_us"].to_numpy()
    )


def _nesting_arrays(
    pids: np.ndarray[Any, Any], tids: np.ndarray[Any, Any], starts: np.ndarray[Any, Any], ends: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]]]:
    """Vectorised nesting, checked against the stack walk's definition; the walk itself only when the
    check fails (slices that overlap without nesting, which viztracer does not write).

    For slices that nest properly, i's depth is the number of earlier slices of its track still open
    at its start (end > start_i), and its caller is the last earlier slice one level up (a pre-order
    property). Earlier slices with end <= start_i are all those of the track with end <= start_i,
    except the zero-length slices that start at start_i and come at or after i. The result is
    accepted only if every caller is open at its callee's start and ends no earlier than it: then, by
    induction, each slice's open set is exactly its caller chain, which is what the walk's stack holds.
    """
    import numpy as np

    n = len(starts)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.full(0, -1, dtype=np.int64)
    idx = np.arange(n, dtype=np.int64)
    new_track = np.r_[True, (pids[1:] != pids[:-1]) | (tids[1:] != tids[:-1])]
    track = np.cumsum(new_track) - 1
    first = idx[new_track][track]
    # ends <= start_i within the track: sort ends (kind 0) before starts (kind 1) at equal times
    kind = np.r_[np.zeros(n, dtype=np.int8), np.ones(n, dtype=np.int8)]
    times = np.r_[ends, starts]
    order = np.lexsort((kind, times, np.r_[track, track]))
    ended = np.cumsum(kind[order] == 0)
    pos = np.empty(2 * n, dtype=np.int64)
    pos[order] = np.arange(2 * n)
    ended_before = ended[pos[n:]] - first  # per i: slices of the track with end <= start_i
    del kind, times, order, ended, pos
    # zero-length slices starting at start_i at or after i: a suffix of i's (track, start) group
    zero = (ends == starts).astype(np.int64)
    new_group = new_track | np.r_[True, starts[1:] != starts[:-1]]
    group = np.cumsum(new_group) - 1
    zcum = np.cumsum(zero)
    group_last = np.r_[idx[new_group][1:] - 1, n - 1][group]
    zero_at_or_after = zcum[group_last] - zcum + zero
    depth = (idx - first) - (ended_before - zero_at_or_after)
    # caller: the last earlier slice with depth - 1 (keys sort by depth, then row)
    key = depth * (n + 1) + idx
    sorted_keys = np.sort(key)
    want = (depth - 1) * (n + 1) + idx
    at = np.searchsorted(sorted_keys, want, side="left") - 1
    cand = sorted_keys[np.maximum(at, 0)]
    parent = np.where((depth > 0) & (at >= 0) & (cand // (n + 1) == depth - 1), cand % (n + 1), -1)
    has = depth > 0
    p = parent[has]
    ok = bool(
        (depth >= 0).all()
        and (p >= 0).all()
        and (track[p] == track[has]).all()
        and (ends[p] > starts[has]).all()
        and (ends[has] <= ends[p]).all()
    )
    if ok:
        return depth.astype(np.int64), parent.astype(np.int64)
    return _stack_walk(pids, tids, starts, ends)


def _stack_walk(
    pids: np.ndarray[Any, Any], tids: np.ndarray[Any, Any], starts: np.ndarray[Any, Any], ends: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]]]:
    """The definition: a stack walk per track; a slice's caller is the innermost open slice that has
    not ended when it starts."""
    import numpy as np

    n = len(starts)
    depth = np.zeros(n, dtype=np.int64)
    parent = np.full(n, -1, dtype=np.int64)
    stack: list[int] = []
    prev = (-1, -1)
    ends_l = ends.tolist()
    starts_l = starts.tolist()
    keys = list(zip(pids.tolist(), tids.tolist(), strict=True))
    for i in range(n):
        if keys[i] != prev:
            stack.clear()
            prev = keys[i]
        s = starts_l[i]
        while stack and ends_l[stack[-1]] <= s:
            stack.pop()
        depth[i] = len(stack)
        if stack:
            parent[i] = stack[-1]
        stack.append(i)
    return depth, parent
