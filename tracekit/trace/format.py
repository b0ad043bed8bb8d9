"""viztracer 1.1.1's trace document (the only module that knows its format): parse, validate, tell
threads from asyncio tasks, enrich, and write and split tracekit's line layout of trace.json.

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
so that the loader (tracekit.trace.frames) parses it one line at a time and never holds a million
event dicts at once (peak memory stays near the file size instead of ~5x it). Any other layout
(viztracer's own output) is parsed whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

EVENTS_PER_LINE = 8192
HEAD = b'{"traceEvents":[\n'  # the first line of the line layout
VIEW_CAT = "tracekit"  # tracekit's own events in trace.json (task and generator tracks, counters): for the
# viewer only; the analysis reads structure.jsonl and never takes them for function calls


class TraceError(Exception):
    """The trace file is not a usable viztracer trace (empty, truncated, not JSON)."""


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
    classify_into(events, set(), kinds)
    return kinds


def classify_into(events: list[dict[str, Any]], seen_events: set[int], kinds: dict[tuple[int, int], str]) -> None:
    """`classify_tracks` one chunk of events at a time: `seen_events` (pids with an X event so far)
    and `kinds` carry over from the chunks before."""
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


def kinds_from_meta(meta: dict[str, Any]) -> dict[tuple[int, int], str]:
    """The verdicts `enrich` recorded under "tracekit" (a trace enriched once is not classified again)."""
    return {(int(p), int(t)): str(k) for p, t, k in meta.get("tracks", [])}


def enrich(raw: bytes, counters: list[dict[str, Any]] | None = None) -> tuple[bytes, dict[str, Any]]:
    data, summary, _doc = enrich_document(raw, counters)
    return data, summary


def enrich_document(raw: bytes, counters: list[dict[str, Any]] | None) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    """Validate a raw viztracer trace, record which tracks are tasks, readable process names and
    psutil counter tracks; return the new trace bytes (in the line layout of the module doc), a
    summary for run.json, and the enriched document itself."""
    doc = parse(raw)
    del raw
    events = doc["traceEvents"]
    meta = doc.get("tracekit")
    kinds = classify_tracks(events) if meta is None else kinds_from_meta(meta)
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
    lines = [orjson.dumps(chunk)[1:-1] for chunk in chunks(events)]
    tail = orjson.dumps(rest)
    return b"".join([HEAD, b",\n".join(lines), b"\n]", b"," if len(tail) > 2 else b"", tail[1:]])


def chunks(events: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """The events in slices of EVENTS_PER_LINE, the lines of the line layout."""
    for i in range(0, len(events), EVENTS_PER_LINE):
        yield events[i : i + EVENTS_PER_LINE]


def line_spans(raw: bytes) -> tuple[list[tuple[int, int]], bytes] | None:
    """(start, end) of each events line and the closing line, if `raw` has the line layout."""
    if not raw.startswith(HEAD):
        return None
    close = raw.rfind(b"\n]")
    if close < len(HEAD) - 1:
        return None
    spans = []
    pos = len(HEAD)
    while pos < close:
        nl = raw.find(b"\n", pos, close)
        end = close if nl < 0 else nl
        spans.append((pos, end))
        pos = end + 1
    return spans, raw[close + 2 :]


def parse_line(raw_line: bytes) -> list[dict[str, Any]]:
    """One events line of the line layout → its events."""
    line = raw_line.rstrip(b",")
    events: list[dict[str, Any]] = orjson.loads(b"[" + line + b"]") if line else []
    return events


def parse_tail(tail: bytes) -> dict[str, Any]:
    """The closing line ("],<other keys>}", without its "]") → the document's keys but traceEvents."""
    end = tail.strip()
    rest = orjson.loads(b"{" + end.lstrip(b",")) if end.strip(b", ") != b"}" else {}
    if not isinstance(rest, dict):
        raise TraceError("the trace's closing line is not an object")
    return rest
