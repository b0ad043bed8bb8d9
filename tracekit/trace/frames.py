"""A trace document (tracekit.trace.format) → `Trace`: the Events and Tracks frames the analysis reads.

Events frame (`Trace.events`), one row per completed call (`X` event), sorted by start:
  pid, tid       OS pid; OS thread id, or viztracer's fake id for an asyncio task (`--log_async`)
  start_us       CLOCK_MONOTONIC µs (same clock as time.monotonic_ns() / 1000)
  dur_us, end_us duration and end, µs
  name           viztracer's name: "qualname (file:line)" for Python, "module.func" for C functions
                 (categorical, categories sorted)
  self_us        dur_us minus the durations of its direct callees (never double-counts nesting)
  depth          nesting level within its (pid, tid) track, 0 for the outermost call
  parent         row index of the caller slice in this frame, -1 for an outermost call
(self_us, depth and parent come from tracekit.trace.nesting.)

Tracks (`Trace.tracks`), one row per (pid, tid) track:
  pid, tid, name, kind ("thread" or "task", see tracekit.trace.format), process_name

The events are read in chunks (one line of the line layout, or EVENTS_PER_LINE events of any other
layout) into numpy columns, so no list of a million event dicts is ever held.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tracekit.trace import format as fmt
from tracekit.trace.format import VIEW_CAT, TraceError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

EVENT_COLUMNS = ["pid", "tid", "start_us", "dur_us", "end_us", "self_us", "name", "depth", "parent"]
TRACK_COLUMNS = ["pid", "tid", "name", "kind", "process_name"]
_X_FIELDS = itemgetter("ph", "pid", "tid", "ts", "dur", "name", "cat")
# in the names of tracekit's own frames in the traced program: the structure recorder's wrappers and
# vizboot's Thread._bootstrap_inner (it keeps a thread's name valid UTF-8 for the tracer)
OWN_MARKS = ("/tracekit/recorder.py:", "/tracekit/vizboot.py:")


@dataclass(frozen=True)
class Trace:
    """A loaded trace: its frames and what viztracer's metadata says about it."""

    events: pd.DataFrame  # the Events frame (module doc)
    tracks: pd.DataFrame  # the Tracks frame (module doc)
    overflow: bool  # viztracer's ring buffer overflowed: its earliest calls are missing
    version: str  # the viztracer that wrote it ("" when its metadata does not say)
    events_per_pid: dict[int, int]  # rows of `events` per pid (tracekit's own frames already dropped)


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
            self._add_metadata(events)
            if classify:
                fmt.classify_into(events, self.seen, self.kinds)
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

    def _add_metadata(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            if e.get("ph") == "M" and e.get("cat") != VIEW_CAT:
                name = str(e.get("args", {}).get("name", ""))
                if e.get("name") == "process_name":
                    self.pnames[int(e["pid"])] = name
                elif e.get("name") == "thread_name":
                    self.tnames[(int(e["pid"]), int(e["tid"]))] = name


def load(raw: bytes) -> Trace:
    """trace.json (as written by tracekit, or raw viztracer output) → Trace."""
    layout = fmt.line_spans(raw)
    if layout is None:
        return _load_doc(raw)
    spans, tail = layout
    return _load_lines((raw[a:b] for a, b in spans), lambda: tail)


def load_path(path: Path) -> Trace:
    """Like `load(path.read_bytes())`, but a trace in the line layout is read one line at a time, so
    the file's bytes are never all in memory (peak RSS about 2x the file instead of 3-4x)."""
    with open(path, "rb") as fh:
        first = fh.readline()
        if first != fmt.HEAD:
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


def enrich_to_trace(raw: bytes, extra: list[dict[str, Any]] | None = None) -> tuple[bytes, dict[str, Any], Trace]:
    """`format.enrich`, and the Trace of the result built from the parsed document itself, so that the
    run's first analysis does not parse trace.json again (`tracekit profile` stores it as the events cache)."""
    data, summary, doc = fmt.enrich_document(raw, extra)
    return data, summary, _from_doc(doc)


def _load_lines(lines: Iterable[bytes], tail: Callable[[], bytes]) -> Trace:
    cols = _Columns()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of fresh dicts, none cyclic: the collector would only rescan them
    try:
        for raw_line in lines:
            cols.add(fmt.parse_line(raw_line), classify=True)
        rest = fmt.parse_tail(tail())
    except orjson.JSONDecodeError as exc:
        raise TraceError(f"the trace is not valid JSON ({exc})") from None
    finally:
        if gc_was_enabled:
            gc.enable()
    meta = rest.get("tracekit")
    kinds = cols.kinds if meta is None else fmt.kinds_from_meta(meta)
    return _build(cols, kinds, rest.get("viztracer_metadata", {}))


def _load_doc(raw: bytes) -> Trace:
    """Any other layout (viztracer's own output): parsed whole, then read in slices."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _from_doc(fmt.parse(raw))
    finally:
        if gc_was_enabled:
            gc.enable()


def _from_doc(doc: dict[str, Any]) -> Trace:
    """A parsed trace document → Trace, read in slices of EVENTS_PER_LINE events."""
    cols = _Columns()
    meta = doc.get("tracekit")
    for chunk in fmt.chunks(doc["traceEvents"]):
        cols.add(chunk, classify=meta is None)
    kinds = cols.kinds if meta is None else fmt.kinds_from_meta(meta)
    return _build(cols, kinds, doc.get("viztracer_metadata", {}))


def _build(cols: _Columns, kinds: dict[tuple[int, int], str], vmeta: dict[str, Any]) -> Trace:
    import numpy as np
    import pandas as pd

    from tracekit.trace.nesting import nest

    pid, tid, start, dur, code = _program_calls_by_track(cols)
    end = start + dur
    depth, parent, self_us, final = nest(pid, tid, start, dur, end)
    track_keys = set(cols.tnames)
    if len(pid):
        starts_of_track = np.flatnonzero(np.r_[True, (pid[1:] != pid[:-1]) | (tid[1:] != tid[:-1])])
        track_keys |= set(zip(pid[starts_of_track].tolist(), tid[starts_of_track].tolist(), strict=True))
    upids, counts = np.unique(pid, return_counts=True)
    src: dict[str, Any] = {
        "pid": pid, "tid": tid, "start_us": start, "dur_us": dur, "end_us": end, "self_us": self_us,
        "depth": depth, "parent": parent, "name": code,
    }  # fmt: skip
    del pid, tid, start, dur, end, self_us, depth, parent, code
    ev = _events_frame(src, final, list(cols.name_codes))
    rows = [
        (p, t, cols.tnames.get((p, t), f"tid {t}"), kinds.get((p, t), "thread"), cols.pnames.get(p, f"pid {p}"))
        for p, t in sorted(track_keys)
    ]
    return Trace(
        events=ev,
        tracks=pd.DataFrame(rows, columns=TRACK_COLUMNS),
        overflow=bool(vmeta.get("overflow", False)),
        version=str(vmeta.get("version", "")),
        events_per_pid={int(k): int(v) for k, v in zip(upids.tolist(), counts.tolist(), strict=True)},
    )


def _program_calls_by_track(cols: _Columns) -> tuple[np.ndarray[Any, Any], ...]:
    """The accumulated columns (pid, tid, start, dur, name code) without tracekit's recorder frames,
    sorted by track, then start, longer first on ties (a caller before the callee that starts with it)."""
    import numpy as np

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
    order = np.lexsort((-dur, start, tid, pid))
    return pid[order], tid[order], start[order], dur[order], code[order]


def _events_frame(src: dict[str, Any], final: np.ndarray[Any, Any], name_list: list[str]) -> pd.DataFrame:
    """The Events frame from its columns in track order (`src`, emptied as it goes; "name" holds the
    codes into `name_list`), each put in start order (`final`)."""
    import numpy as np
    import pandas as pd

    # categories sorted, as pd.Categorical(list_of_names) would give
    names = np.array(name_list, dtype=object)
    by_name = np.argsort(names, kind="stable")
    remap = np.empty(len(names), dtype=np.int64)
    remap[by_name] = np.arange(len(names))
    # Reorder one column at a time and drop its source right away: a million rows are 8 MB per
    # column, and keeping every column twice (plus a consolidated copy) is what made the peak.
    data: dict[str, Any] = {}
    for col in EVENT_COLUMNS:
        if col == "name":
            codes = src.pop(col)[final]
            data[col] = pd.Categorical.from_codes(remap[codes] if len(names) else codes, categories=names[by_name])
            del codes
        else:
            data[col] = src.pop(col)[final]
    ev = pd.DataFrame(data, columns=EVENT_COLUMNS, copy=False)
    del data
    return ev


def renest(ev: pd.DataFrame) -> pd.DataFrame:
    """An Events frame whose rows changed track (pid, tid): sorted by start again, with depth, parent
    and self_us computed anew for the new tracks (extra columns are carried along)."""
    import numpy as np

    from tracekit.trace.nesting import nest

    order = np.lexsort((-ev["dur_us"].to_numpy(), ev["start_us"].to_numpy(), ev["tid"].to_numpy(),
                        ev["pid"].to_numpy()))  # fmt: skip
    by_track = ev.iloc[order].reset_index(drop=True)
    depth, parent, self_us, final = nest(
        by_track["pid"].to_numpy(),
        by_track["tid"].to_numpy(),
        by_track["start_us"].to_numpy(),
        by_track["dur_us"].to_numpy(dtype=np.float64),
        by_track["end_us"].to_numpy(),
    )
    out = by_track.assign(depth=depth, parent=parent, self_us=self_us)
    return out.iloc[final].reset_index(drop=True)
