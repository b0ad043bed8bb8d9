"""viztracer 1.1.1's trace format (the only module that knows it): parse, validate, enrich, and turn
a trace into the Events frame.

Events frame (`Trace.events`), one row per completed call (`X` event), sorted by start:
  pid, tid       OS pid; OS thread id, or viztracer's fake id for an asyncio task (`--log_async`)
  start_us       CLOCK_MONOTONIC µs (same clock as time.monotonic_ns() / 1000)
  dur_us, end_us duration and end, µs
  name           viztracer's name: "qualname (file:line)" for Python, "module.func" for C functions
                 (categorical, categories sorted)
  self_us        dur_us minus the durations of its direct callees (never double-counts nesting)
  depth          nesting level within its (pid, tid) track, 0 for the outermost call
  parent         row index of the caller slice in this frame, -1 for an outermost call

Tracks (`Trace.tracks`), one row per (pid, tid) track:
  pid, tid, name, kind ("thread" or "task"), process_name
A `thread_name` metadata event that viztracer writes after the events of its process names an
asyncio task, not an OS thread (viztracer appends task names at dump time); that is how tasks are
told apart from threads, and tracekit records the verdict in trace.json under "tracekit".

Layout of the trace.json that `enrich` writes: ordinary JSON (Perfetto opens it), with the events
list split over lines of `EVENTS_PER_LINE` events each:
    {"traceEvents":[
    {...},{...},...,
    ...
    {...}
    ],"viztracer_metadata":{...},"file_info":{...},"tracekit":{...}}
so that `load` parses it one line at a time and never holds a million event dicts at once (peak
memory stays near the file size instead of ~5x it). Any other layout (viztracer's own output) is
parsed whole.

numpy and pandas are imported inside the functions that need them: `tracekit profile` imports this
module before it starts the child, and enrich needs only orjson.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

EVENT_COLUMNS = ["pid", "tid", "start_us", "dur_us", "end_us", "self_us", "name", "depth", "parent"]
TRACK_COLUMNS = ["pid", "tid", "name", "kind", "process_name"]
EVENTS_PER_LINE = 8192
_HEAD = b'{"traceEvents":[\n'
_X_FIELDS = itemgetter("ph", "pid", "tid", "ts", "dur", "name", "cat")
# in the names of tracekit's own frames in the traced program: the structure recorder's wrappers and
# vizboot's Thread._bootstrap_inner (it keeps a thread's name valid UTF-8 for the tracer)
OWN_MARKS = ("/tracekit/recorder.py:", "/tracekit/vizboot.py:")
VIEW_CAT = "tracekit"  # tracekit's own events in trace.json (task and generator tracks, counters): for the
# viewer only; the analysis reads structure.jsonl and never takes them for function calls


class TraceError(Exception):
    """The trace file is not a usable viztracer trace (empty, truncated, not JSON)."""


@dataclass(frozen=True)
class Trace:
    events: pd.DataFrame
    tracks: pd.DataFrame
    overflow: bool
    version: str
    events_per_pid: dict[int, int]


def parse(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise TraceError("the trace file is empty")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise TraceError(f"the trace is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        raise TraceError("the trace has no traceEvents list")
    return doc


def classify_tracks(events: list[dict[str, Any]]) -> dict[tuple[int, int], str]:
    """(pid, tid) → "thread" | "task", from where each thread_name event stands (see module doc)."""
    kinds: dict[tuple[int, int], str] = {}
    _classify_into(events, set(), kinds)
    return kinds


def _classify_into(events: list[dict[str, Any]], seen_events: set[int], kinds: dict[tuple[int, int], str]) -> None:
    for e in events:
        ph = e.get("ph")
        if e.get("cat") == VIEW_CAT:
            continue
        if ph == "M":
            if e.get("name") == "thread_name":
                pid = int(e["pid"])
                kinds[(pid, int(e["tid"]))] = "task" if pid in seen_events else "thread"
        elif ph == "X":
            seen_events.add(int(e["pid"]))


def enrich(raw: bytes, counters: list[dict[str, Any]] | None = None) -> tuple[bytes, dict[str, Any]]:
    data, summary, _doc = _enrich(raw, counters)
    return data, summary


def enrich_to_trace(raw: bytes, extra: list[dict[str, Any]] | None = None) -> tuple[bytes, dict[str, Any], Trace]:
    """`enrich`, and the Trace of the result built from the parsed document itself, so that the run's
    first analysis does not parse trace.json again (`tracekit profile` stores it as the events cache)."""
    data, summary, doc = _enrich(raw, extra)
    return data, summary, _from_doc(doc)


def _enrich(raw: bytes, counters: list[dict[str, Any]] | None) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    """Validate a raw viztracer trace, record which tracks are tasks, readable process names and
    psutil counter tracks; return the new trace bytes (in the line layout of the module doc) and a
    summary for run.json."""
    doc = parse(raw)
    del raw
    events = doc["traceEvents"]
    meta = doc.get("tracekit")
    kinds = classify_tracks(events) if meta is None else _kinds_from_meta(meta)
    pids: dict[int, int] = {}
    for e in events:
        ph = e.get("ph")
        if ph == "X":
            pid = int(e["pid"])
            pids[pid] = pids.get(pid, 0) + 1
        elif ph == "M" and e.get("name") == "process_name":
            name = str(e.get("args", {}).get("name", ""))
            if not name.endswith(f"(pid {e['pid']})"):
                e["args"] = {"name": f"{name} (pid {e['pid']})"}
    if counters:
        events.extend(counters)
    doc["tracekit"] = {"tracks": [[pid, tid, kind] for (pid, tid), kind in kinds.items()]}
    vmeta = doc.get("viztracer_metadata", {})
    summary = {
        "events": sum(pids.values()),
        "events_per_pid": {str(k): v for k, v in pids.items()},
        "overflow": bool(vmeta.get("overflow", False)),
        "viztracer_version": vmeta.get("version"),
    }
    return dump(doc), summary, doc


def dump(doc: dict[str, Any]) -> bytes:
    """A trace document as JSON in the line layout (see module doc): traceEvents first, as viztracer
    writes it, then the other keys on the last line."""
    events = doc["traceEvents"]
    rest = {k: v for k, v in doc.items() if k != "traceEvents"}
    lines = [orjson.dumps(events[i : i + EVENTS_PER_LINE])[1:-1] for i in range(0, len(events), EVENTS_PER_LINE)]
    tail = orjson.dumps(rest)
    return b"".join([_HEAD, b",\n".join(lines), b"\n]", b"," if len(tail) > 2 else b"", tail[1:]])


def _kinds_from_meta(meta: dict[str, Any]) -> dict[tuple[int, int], str]:
    return {(int(p), int(t)): str(k) for p, t, k in meta.get("tracks", [])}


class _Columns:
    """Accumulates the X events' columns chunk by chunk (numpy arrays, names as global codes) and
    the metadata events, so no list of a million event dicts is ever needed."""

    def __init__(self) -> None:
        self.parts: list[tuple[Any, ...]] = []
        self.name_codes: dict[str, int] = {}
        self.pnames: dict[int, str] = {}
        self.tnames: dict[tuple[int, int], str] = {}
        self.kinds: dict[tuple[int, int], str] = {}
        self.seen: set[int] = set()

    def add(self, events: list[dict[str, Any]], classify: bool) -> None:
        import numpy as np
        import pandas as pd

        try:  # the common case, a run of X events only: one C-level pass, no per-event Python
            ph, pid, tid, ts, dur, names, cat = zip(*map(_X_FIELDS, events), strict=True)
            all_x = ph.count("X") == len(ph) and VIEW_CAT not in cat
        except (KeyError, ValueError):  # metadata, counters, or an X event without dur
            all_x = False
        if all_x:
            if classify:
                self.seen.update(pid)
        else:
            xs = [e for e in events if e.get("ph") == "X" and e.get("cat") != VIEW_CAT]
            for e in events:
                if e.get("ph") == "M" and e.get("cat") != VIEW_CAT:
                    name = str(e.get("args", {}).get("name", ""))
                    if e.get("name") == "process_name":
                        self.pnames[int(e["pid"])] = name
                    elif e.get("name") == "thread_name":
                        self.tnames[(int(e["pid"]), int(e["tid"]))] = name
            if classify:
                _classify_into(events, self.seen, self.kinds)
            if not xs:
                return
            pid = tuple(e["pid"] for e in xs)
            tid = tuple(e["tid"] for e in xs)
            ts = tuple(e["ts"] for e in xs)
            dur = tuple(e.get("dur", 0.0) for e in xs)
            names = tuple(e["name"] for e in xs)
        codes, uniq = pd.factorize(np.asarray(names, dtype=object))
        table = np.fromiter((self.name_codes.setdefault(n, len(self.name_codes)) for n in uniq), np.int64, len(uniq))
        self.parts.append(
            (
                np.asarray(pid, dtype=np.int64),
                np.asarray(tid, dtype=np.int64),
                np.asarray(ts, dtype=np.float64),
                np.asarray(dur, dtype=np.float64),
                table[codes],
            )
        )


def _lines(raw: bytes) -> tuple[list[tuple[int, int]], bytes] | None:
    """(start, end) of each events line and the closing line, if `raw` has the line layout."""
    if not raw.startswith(_HEAD):
        return None
    close = raw.rfind(b"\n]")
    if close < len(_HEAD) - 1:
        return None
    spans = []
    pos = len(_HEAD)
    while pos < close:
        nl = raw.find(b"\n", pos, close)
        end = close if nl < 0 else nl
        spans.append((pos, end))
        pos = end + 1
    return spans, raw[close + 2 :]


def load(raw: bytes) -> Trace:
    """trace.json (as written by tracekit, or raw viztracer output) → Trace."""
    layout = _lines(raw)
    if layout is None:
        return _load_doc(raw)
    spans, tail = layout
    return _load_lines((raw[a:b] for a, b in spans), lambda: tail)


def load_path(path: Path) -> Trace:
    """Like `load(path.read_bytes())`, but a trace in the line layout is read one line at a time, so
    the file's bytes are never all in memory (peak RSS about 2x the file instead of 3-4x)."""
    with open(path, "rb") as fh:
        first = fh.readline()
        if first != _HEAD:
            return _load_doc(first + fh.read())
        tail: list[bytes] = []

        def lines() -> Iterator[bytes]:
            for line in fh:
                if line.startswith(b"]"):  # the closing line: "],<other keys>}"
                    tail.append(line[1:] + fh.read())
                    return
                yield line.rstrip(b"\n")
            raise TraceError("the trace is truncated (no closing line)")

        return _load_lines(lines(), lambda: tail[0])


def _load_lines(lines: Iterable[bytes], tail: Callable[[], bytes]) -> Trace:
    cols = _Columns()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of fresh dicts, none cyclic: the collector would only rescan them
    try:
        for raw_line in lines:
            line = raw_line.rstrip(b",")
            cols.add(orjson.loads(b"[" + line + b"]") if line else [], classify=True)
        end = tail().strip()
        rest = orjson.loads(b"{" + end.lstrip(b",")) if end.strip(b", ") != b"}" else {}
    except orjson.JSONDecodeError as exc:
        raise TraceError(f"the trace is not valid JSON ({exc})") from None
    finally:
        if gc_was_enabled:
            gc.enable()
    if not isinstance(rest, dict):
        raise TraceError("the trace's closing line is not an object")
    meta = rest.get("tracekit")
    kinds = cols.kinds if meta is None else _kinds_from_meta(meta)
    return _build(cols, kinds, rest.get("viztracer_metadata", {}))


def _load_doc(raw: bytes) -> Trace:
    """Any other layout (viztracer's own output): parsed whole, then read in slices."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _from_doc(parse(raw))
    finally:
        if gc_was_enabled:
            gc.enable()


def _from_doc(doc: dict[str, Any]) -> Trace:
    """A parsed trace document → Trace, read in slices of EVENTS_PER_LINE events."""
    cols = _Columns()
    events = doc["traceEvents"]
    meta = doc.get("tracekit")
    for i in range(0, len(events), EVENTS_PER_LINE):
        cols.add(events[i : i + EVENTS_PER_LINE], classify=meta is None)
    kinds = cols.kinds if meta is None else _kinds_from_meta(meta)
    return _build(cols, kinds, doc.get("viztracer_metadata", {}))


def _build(cols: _Columns, kinds: dict[tuple[int, int], str], vmeta: dict[str, Any]) -> Trace:
    import numpy as np
    import pandas as pd

    if cols.parts:
        pid, tid, start, dur, code = (np.concatenate(c) for c in zip(*cols.parts, strict=True))
    else:
        pid = tid = code = np.zeros(0, dtype=np.int64)
        start = dur = np.zeros(0, dtype=np.float64)
    cols.parts.clear()
    # tracekit's own frames (the recorder's thin wrappers of next(), Handle._run, ...; vizboot's thread
    # bootstrap) are instrumentation, not the program: dropped before nesting, so their callees nest under
    # the program's own callers
    ours = np.fromiter(
        (any(m in n for m in OWN_MARKS) for n in cols.name_codes), dtype=bool, count=len(cols.name_codes)
    )
    if ours.any() and len(code):
        keep = ~ours[code]
        pid, tid, start, dur, code = pid[keep], tid[keep], start[keep], dur[keep], code[keep]
    # by track, then start, longer first on ties (a caller before the callee that starts with it)
    order = np.lexsort((-dur, start, tid, pid))
    pid, tid, start, dur, code = pid[order], tid[order], start[order], dur[order], code[order]
    end = start + dur
    depth, parent = _nesting_arrays(pid, tid, start, end)
    has = parent >= 0
    self_us = dur - np.bincount(parent[has], weights=dur[has], minlength=len(dur))
    final = np.argsort(start, kind="stable")
    rank = np.empty_like(final)
    rank[final] = np.arange(len(final))
    parent = np.where(has, rank[np.maximum(parent, 0)], -1)
    del rank, has
    track_keys = set(cols.tnames)
    if len(pid):
        starts_of_track = np.flatnonzero(np.r_[True, (pid[1:] != pid[:-1]) | (tid[1:] != tid[:-1])])
        track_keys |= set(zip(pid[starts_of_track].tolist(), tid[starts_of_track].tolist(), strict=True))
    upids, counts = np.unique(pid, return_counts=True)
    # categories sorted, as pd.Categorical(list_of_names) would give
    names = np.array(list(cols.name_codes), dtype=object)
    by_name = np.argsort(names, kind="stable")
    remap = np.empty(len(names), dtype=np.int64)
    remap[by_name] = np.arange(len(names))
    # Reorder one column at a time and drop its source right away: a million rows are 8 MB per
    # column, and keeping every column twice (plus a consolidated copy) is what made the peak.
    src: dict[str, Any] = {
        "pid": pid, "tid": tid, "start_us": start, "dur_us": dur, "end_us": end, "self_us": self_us,
        "depth": depth, "parent": parent,
    }  # fmt: skip
    del pid, tid, start, dur, end, self_us, depth, parent
    data: dict[str, Any] = {}
    for col in EVENT_COLUMNS:
        if col == "name":
            codes = code[final]
            del code
            data[col] = pd.Categorical.from_codes(remap[codes] if len(names) else codes, categories=names[by_name])
            del codes
        else:
            data[col] = src.pop(col)[final]
    del final
    ev = pd.DataFrame(data, columns=EVENT_COLUMNS, copy=False)
    del data
    rows = [
        (p, t, cols.tnames.get((p, t), f"tid {t}"), kinds.get((p, t), "thread"), cols.pnames.get(p, f"pid {p}"))
        for p, t in sorted(track_keys)
    ]
    tracks = pd.DataFrame(rows, columns=TRACK_COLUMNS)
    return Trace(
        events=ev,
        tracks=tracks,
        overflow=bool(vmeta.get("overflow", False)),
        version=str(vmeta.get("version", "")),
        events_per_pid={int(k): int(v) for k, v in zip(upids.tolist(), counts.tolist(), strict=True)},
    )


def renest(ev: pd.DataFrame) -> pd.DataFrame:
    """An Events frame whose rows changed track (pid, tid): sorted by start again, with depth, parent
    and self_us computed anew for the new tracks (extra columns are carried along)."""
    import numpy as np

    order = np.lexsort((-ev["dur_us"].to_numpy(), ev["start_us"].to_numpy(), ev["tid"].to_numpy(),
                        ev["pid"].to_numpy()))  # fmt: skip
    by_track = ev.iloc[order].reset_index(drop=True)
    depth, parent = nesting(by_track)
    dur = by_track["dur_us"].to_numpy(dtype=np.float64)
    has = parent >= 0
    self_us = dur - np.bincount(parent[has], weights=dur[has], minlength=len(dur))
    final = np.argsort(by_track["start_us"].to_numpy(), kind="stable")
    rank = np.empty_like(final)
    rank[final] = np.arange(len(final))
    out = by_track.assign(depth=depth, parent=np.where(has, rank[np.maximum(parent, 0)], -1), self_us=self_us)
    return out.iloc[final].reset_index(drop=True)


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


# ---------------------------------------------------------------------------------------------
# Columnar cache: parsing a million-event trace.json costs about what json.load costs; a second
# analysis of the same run (`tracekit report`, `tracekit.load`) reads the columns instead.

CACHE_VERSION = 3  # 2: the recorder's frames are dropped at load; 3: vizboot's too
_NUMERIC = [c for c in EVENT_COLUMNS if c != "name"]


def save_columns(trace: Trace, path: Path, source: Path) -> None:
    """Store a loaded trace as numpy columns (.npz, no pickles), keyed by the size and mtime of the
    trace.json it came from, so it is used only while that file is unchanged. Written atomically."""
    import json
    import os
    import tempfile

    import numpy as np
    import pandas as pd

    st = source.stat()
    names = trace.events["name"]
    if not isinstance(names.dtype, pd.CategoricalDtype):
        names = names.astype("category")
    meta = {
        "version": CACHE_VERSION,
        "source_size": st.st_size,
        "source_mtime_ns": st.st_mtime_ns,
        "overflow": trace.overflow,
        "tracer_version": trace.version,
        "events_per_pid": [[int(k), int(v)] for k, v in trace.events_per_pid.items()],
        "tracks": trace.tracks[TRACK_COLUMNS].astype(object).values.tolist(),
        "names": [str(n) for n in names.cat.categories],
    }
    arrays = {c: trace.events[c].to_numpy() for c in _NUMERIC}
    arrays["name_codes"] = names.cat.codes.to_numpy()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_columns(path: Path, source: Path) -> Trace | None:
    """The cached columns of `source`, or None when there is no cache or it does not match the file."""
    import json
    import zipfile

    import numpy as np
    import pandas as pd

    try:
        st = source.stat()
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if (meta.get("version"), meta.get("source_size"), meta.get("source_mtime_ns")) != (
                CACHE_VERSION, st.st_size, st.st_mtime_ns,
            ):  # fmt: skip
                return None
            data: dict[str, Any] = {c: z[c] for c in _NUMERIC}
            codes = z["name_codes"]
        n = len(codes)
        if any(len(v) != n for v in data.values()) or (n and (codes.min() < -1 or codes.max() >= len(meta["names"]))):
            return None
        data["name"] = pd.Categorical.from_codes(codes, categories=meta["names"])
        events = pd.DataFrame(data)[EVENT_COLUMNS]
        tracks = pd.DataFrame(meta["tracks"], columns=TRACK_COLUMNS)
        tracks["pid"] = tracks["pid"].astype("int64")
        tracks["tid"] = tracks["tid"].astype("int64")
        return Trace(
            events=events,
            tracks=tracks,
            overflow=bool(meta["overflow"]),
            version=str(meta["tracer_version"]),
            events_per_pid={int(k): int(v) for k, v in meta["events_per_pid"]},
        )
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return None
