"""viztracer 1.1.1's trace format (the only module that knows it): parse, validate, enrich, and turn
a trace into the Events frame.

Events frame (`Trace.events`), one row per completed call (`X` event), sorted by start:
  pid, tid       OS pid; OS thread id, or viztracer's fake id for an asyncio task (`--log_async`)
  start_us       CLOCK_MONOTONIC µs (same clock as time.monotonic_ns() / 1000)
  dur_us, end_us duration and end, µs
  name           viztracer's name: "qualname (file:line)" for Python, "module.func" for C functions
  self_us        dur_us minus the durations of its direct callees (never double-counts nesting)
  depth          nesting level within its (pid, tid) track, 0 for the outermost call
  parent         row index of the caller slice in this frame, -1 for an outermost call

Tracks (`Trace.tracks`), one row per (pid, tid) track:
  pid, tid, name, kind ("thread" or "task"), process_name
A `thread_name` metadata event that viztracer writes after the events of its process names an
asyncio task, not an OS thread (viztracer appends task names at dump time); that is how tasks are
told apart from threads, and tracekit records the verdict in trace.json under "tracekit".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

EVENT_COLUMNS = ["pid", "tid", "start_us", "dur_us", "end_us", "self_us", "name", "depth", "parent"]
TRACK_COLUMNS = ["pid", "tid", "name", "kind", "process_name"]


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
    seen_events: set[int] = set()
    kinds: dict[tuple[int, int], str] = {}
    for e in events:
        ph = e.get("ph")
        if ph == "M":
            if e.get("name") == "thread_name":
                pid = int(e["pid"])
                kinds[(pid, int(e["tid"]))] = "task" if pid in seen_events else "thread"
        elif ph == "X":
            seen_events.add(int(e["pid"]))
    return kinds


def enrich(raw: bytes, counters: list[dict[str, Any]] | None = None) -> tuple[bytes, dict[str, Any]]:
    """Validate a raw viztracer trace, record which tracks are tasks, readable process names and
    psutil counter tracks; return the new trace bytes and a summary for run.json."""
    doc = parse(raw)
    events = doc["traceEvents"]
    meta = doc.get("tracekit")
    kinds = classify_tracks(events) if meta is None else _kinds_from_meta(meta)
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "process_name":
            name = str(e.get("args", {}).get("name", ""))
            if not name.endswith(f"(pid {e['pid']})"):
                e["args"] = {"name": f"{name} (pid {e['pid']})"}
    if counters:
        events.extend(counters)
    pids: dict[int, int] = {}
    for e in events:
        if e.get("ph") == "X":
            pid = int(e["pid"])
            pids[pid] = pids.get(pid, 0) + 1
    doc["tracekit"] = {"tracks": [[pid, tid, kind] for (pid, tid), kind in kinds.items()]}
    vmeta = doc.get("viztracer_metadata", {})
    summary = {
        "events": sum(pids.values()),
        "events_per_pid": {str(k): v for k, v in pids.items()},
        "overflow": bool(vmeta.get("overflow", False)),
        "viztracer_version": vmeta.get("version"),
    }
    return orjson.dumps(doc), summary


def _kinds_from_meta(meta: dict[str, Any]) -> dict[tuple[int, int], str]:
    return {(int(p), int(t)): str(k) for p, t, k in meta.get("tracks", [])}


def load(raw: bytes) -> Trace:
    """trace.json (as written by tracekit, or raw viztracer output) → Trace."""
    doc = parse(raw)
    events = doc["traceEvents"]
    meta = doc.get("tracekit")
    kinds = classify_tracks(events) if meta is None else _kinds_from_meta(meta)
    pnames: dict[int, str] = {}
    tnames: dict[tuple[int, int], str] = {}
    pid_l: list[int] = []
    tid_l: list[int] = []
    ts_l: list[float] = []
    dur_l: list[float] = []
    name_l: list[str] = []
    for e in events:
        ph = e.get("ph")
        if ph == "X":
            pid_l.append(e["pid"])
            tid_l.append(e["tid"])
            ts_l.append(e["ts"])
            dur_l.append(e.get("dur", 0.0))
            name_l.append(e["name"])
        elif ph == "M":
            name = str(e.get("args", {}).get("name", ""))
            if e.get("name") == "process_name":
                pnames[int(e["pid"])] = name
            elif e.get("name") == "thread_name":
                tnames[(int(e["pid"]), int(e["tid"]))] = name
    ev = pd.DataFrame(
        {
            "pid": np.asarray(pid_l, dtype=np.int64),
            "tid": np.asarray(tid_l, dtype=np.int64),
            "start_us": np.asarray(ts_l, dtype=np.float64),
            "dur_us": np.asarray(dur_l, dtype=np.float64),
            "name": pd.Categorical(name_l),
        }
    )
    ev["end_us"] = ev["start_us"] + ev["dur_us"]
    ev = ev.sort_values(["pid", "tid", "start_us", "dur_us"], ascending=[True, True, True, False], kind="stable")
    ev = ev.reset_index(drop=True)
    depth, parent = nesting(ev)
    ev["depth"] = depth
    child_time = np.bincount(parent[parent >= 0], weights=ev["dur_us"].to_numpy()[parent >= 0], minlength=len(ev))
    ev["self_us"] = ev["dur_us"].to_numpy() - child_time
    order = np.argsort(ev["start_us"].to_numpy(), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    ev["parent"] = np.where(parent >= 0, rank[np.maximum(parent, 0)], -1)
    ev = ev.iloc[order].reset_index(drop=True)[EVENT_COLUMNS]
    track_keys = set(tnames) | set(zip(ev["pid"].tolist(), ev["tid"].tolist(), strict=True))
    rows = []
    for pid, tid in sorted(track_keys):
        kind = kinds.get((pid, tid), "thread")
        rows.append((pid, tid, tnames.get((pid, tid), f"tid {tid}"), kind, pnames.get(pid, f"pid {pid}")))
    tracks = pd.DataFrame(rows, columns=TRACK_COLUMNS)
    vmeta = doc.get("viztracer_metadata", {})
    per_pid = ev.groupby("pid").size()
    return Trace(
        events=ev,
        tracks=tracks,
        overflow=bool(vmeta.get("overflow", False)),
        version=str(vmeta.get("version", "")),
        events_per_pid={int(k): int(v) for k, v in per_pid.items()},
    )


def nesting(ev: pd.DataFrame) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]]]:
    """Depth and caller row of each slice in its (pid, tid) track; `ev` sorted by (pid, tid, start, -dur).

    A stack walk per track: slices on one track nest properly (a call ends before its caller), so a
    slice's caller is the innermost open slice that has not ended when it starts.
    """
    pids = ev["pid"].to_numpy()
    tids = ev["tid"].to_numpy()
    starts = ev["start_us"].to_numpy()
    ends = ev["end_us"].to_numpy()
    n = len(ev)
    depth = np.zeros(n, dtype=np.int64)
    parent = np.full(n, -1, dtype=np.int64)
    stack: list[int] = []
    prev = (-1, -1)
    for i in range(n):
        key = (int(pids[i]), int(tids[i]))
        if key != prev:
            stack.clear()
            prev = key
        s = starts[i]
        while stack and ends[stack[-1]] <= s:
            stack.pop()
        depth[i] = len(stack)
        if stack:
            parent[i] = stack[-1]
        stack.append(i)
    return depth, parent
