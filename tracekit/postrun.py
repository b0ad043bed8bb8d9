"""After the child of a run has ended: turn what the captures left into the run directory's raw files.
Validates viztracer's trace (never trusting the exit code) and stores it as trace.json, enriched with
tracekit's readable names, the psutil samples as CPU / RSS counter tracks (pandas) and the structure
record's tracks; builds the sampled capture's trace from the recorder's stack samples; merges the
recorder's per-process files into structure.jsonl. Each returns the facts run.json keeps about it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tracekit.phases import Phase
from tracekit.rundir import EVENTS_CACHE, atomic_write
from tracekit.runinfo import StructureFacts, TraceFacts
from tracekit.supervise import StopSignals
from tracekit.trace.cache import save_columns
from tracekit.trace.format import TraceError
from tracekit.trace.frames import enrich_to_trace


@dataclass(frozen=True)
class TraceFiles:
    """Where the trace comes from and goes: viztracer's raw output, trace.json, and the files whose
    tracks are added to it."""

    raw: Path
    final: Path
    samples_csv: Path
    structure_jsonl: Path


@dataclass(frozen=True)
class TraceOutcome:
    facts: TraceFacts
    write_error: str | None = None  # trace.json could not be written in full: "path: reason"


def finish_trace(
    files: TraceFiles, traced: bool, stack_sampled: bool, on_phase: Callable[[Phase], None], stops: StopSignals
) -> TraceOutcome:
    """Validate viztracer's output instead of trusting the exit code, then enrich and store it.
    Without the tracer, the trace is built from the recorder's stack samples (if it took any)."""
    if traced:
        return _store_trace(files, on_phase, stops)
    if not stack_sampled:
        return TraceOutcome(TraceFacts("not traced", detail="--sample-only", capture="none"))
    from tracekit.stacks import trace_document

    try:
        doc, facts = trace_document(files.structure_jsonl.read_bytes())
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        return TraceOutcome(
            TraceFacts("missing", detail=f"the stack samples could not be read ({exc})", capture="sampled")
        )
    files.raw.write_bytes(doc)
    result = _store_trace(files, on_phase, stops)
    interval = facts["interval_us"]
    sampled = replace(
        result.facts, capture="sampled", stack_samples=int(facts["samples"]),
        stack_interval_us=None if interval is None else float(interval),
    )  # fmt: skip
    return replace(result, facts=sampled)


def _store_trace(files: TraceFiles, on_phase: Callable[[Phase], None], stops: StopSignals) -> TraceOutcome:
    raw, final = files.raw, files.final
    if not raw.exists():
        return TraceOutcome(TraceFacts("missing", detail="the tracer wrote no trace (os._exit, SIGKILL or a crash)"))
    if raw.stat().st_size == 0:
        raw.unlink()
        return TraceOutcome(TraceFacts("empty", detail="the tracer wrote an empty trace file"))
    on_phase(Phase.SAVING)
    stops.abortable = True  # Ctrl-C here skips tracekit's additions, not the trace
    try:
        data, summary, trace = enrich_to_trace(
            raw.read_bytes(), counter_events(files.samples_csv) + structure_view(files.structure_jsonl)
        )
    except TraceError as exc:
        keep = final.with_name("trace.invalid.json")
        os.replace(raw, keep)
        return TraceOutcome(TraceFacts("invalid", detail=str(exc), kept_as=keep.name))
    except KeyboardInterrupt:
        os.replace(raw, final)  # viztracer's own trace: valid, without tracekit's names and counters
        return TraceOutcome(TraceFacts("ok", detail="interrupted while adding tracekit's tracks"))
    finally:
        stops.abortable = False
    try:
        atomic_write(final, data)
    except OSError as exc:  # no room for the enriched copy: viztracer's own trace is kept as it is
        os.replace(raw, final)
        detail = f"{exc.strerror} (tracekit's tracks left out)"
        return TraceOutcome(TraceFacts("ok", detail=detail), write_error=f"{final}: {detail}")
    raw.unlink()
    with contextlib.suppress(OSError):  # the calls as columns: the first analysis then parses nothing again
        save_columns(trace, final.with_name(EVENTS_CACHE), final)
    return TraceOutcome(
        TraceFacts(
            "ok", enriched=True, events=int(summary["events"]),
            events_per_pid={int(k): int(v) for k, v in summary["events_per_pid"].items()},
            overflow=bool(summary["overflow"]), viztracer_version=summary["viztracer_version"],
        )
    )  # fmt: skip


def finish_structure(directory: Path, structure_jsonl: Path) -> StructureFacts:
    """Merge the recorder's per-process files into structure.jsonl (raw facts, before any analysis)."""
    from tracekit import structure as structure_mod  # pandas: imported after the child ran, not before

    try:
        merged = structure_mod.merge_files(directory)
        atomic_write(structure_jsonl, merged)
    finally:
        for f in directory.glob("*.jsonl"):
            f.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            directory.rmdir()
    return StructureFacts(status="ok", records=merged.count(b"\n"), bytes=len(merged))


def structure_view(structure_jsonl: Path) -> list[dict[str, Any]]:
    """The structure record as Perfetto tracks (tasks, generator units, loop callbacks); [] if unreadable."""
    from tracekit import structure as structure_mod
    from tracekit.trace.format import VIEW_CAT

    try:
        return structure_mod.view_events(structure_jsonl.read_bytes(), VIEW_CAT)
    except OSError:
        return []


def counter_events(samples_csv: Path) -> list[dict[str, Any]]:
    """psutil samples as Perfetto counter tracks: CPU % and RSS (MiB) under each process.

    Perfetto names a counter track "<event name> <arg key>", so name "CPU" with key "%" reads "CPU %".
    """
    import pandas as pd

    from tracekit.analysis.cpu import SAMPLE_DTYPES, process_series

    try:
        samples = pd.read_csv(samples_csv, dtype=SAMPLE_DTYPES)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return []
    series = process_series(samples)
    return [
        {"ph": "C", "pid": pid, "tid": pid, "ts": t_ns / 1e3, "name": name, "cat": "tracekit", "args": {unit: val}}
        for t_ns, pid, cpu_pct, rss in zip(
            series["t_ns"].tolist(), series["pid"].tolist(), series["cpu_pct"].tolist(),
            series["rss_bytes"].tolist(), strict=True,
        )
        for name, unit, val in (("CPU", "%", round(cpu_pct, 1)), ("RSS", "MiB", round(rss / 2**20, 2)))
    ]  # fmt: skip
