"""Hand-built RunInfo values for the pure stages' tests (a finished run with nothing in it)."""

from __future__ import annotations

import dataclasses
from typing import Any

from tracekit.runinfo import OutputFacts, OutputLine, ProcessSeen, RunInfo, SamplerFacts, StructureFacts, TraceFacts

BASE = RunInfo(
    target="a.py", module=False, args=(), command=("python", "-m", "tracekit._child", "--", "a.py"), cwd="/w",
    traced=True, interval_s=0.01, timeout_s=None, tracer_entries=1_000_000, min_duration_us=100.0,
    stack_interval_us=None, python="3.11.2", platform="Linux", cores=2, load_avg_before=(0.5, 0.25, 0.125),
    load_avg_after=(0.75, 0.5, 0.25), start_method="fork", tracekit_version="0.1.0", viztracer_version="1.1.1",
    wall_clock_offset_ns=1_700_000_000_000_000_000, started_ns=1_000, ended_ns=2_000_000_000, status="finished",
    pid=10, exit_code=0, raw_exit_code=0, exit_note=None, timed_out=False, interrupted=False, interrupted_by=None,
    killed_after_grace=False, killed_escaped_pids=(), write_errors=(),
    samples=SamplerFacts(n=3, rows=6, sampler_cpu_s=0.002), processes={},
    output=OutputFacts(lines=(), total_lines=0, total_bytes=0, cut_lines=0, truncated=False),
    structure=StructureFacts(status="ok", records=4, bytes=200),
    trace=TraceFacts("ok", enriched=True, events=5, events_per_pid={10: 5}, overflow=False, viztracer_version="1.1.1"),
)  # fmt: skip


def run_info(**changes: Any) -> RunInfo:
    return dataclasses.replace(BASE, **changes)


def proc(cmdline: tuple[str, ...] = (), ppid: int | None = 1, first: int = 0, last: int = 2_000_000_000) -> ProcessSeen:
    """A process seen from `first` to `last` (CLOCK_MONOTONIC ns); by default for 2 s."""
    return ProcessSeen(ppid=ppid, cmdline=cmdline, first_seen_ns=first, last_seen_ns=last)


def output(*lines: tuple[int, str, str], total_lines: int | None = None) -> OutputFacts:
    kept = tuple(OutputLine(t, "stderr" if s == "stderr" else "stdout", x) for t, s, x in lines)
    total = len(kept) if total_lines is None else total_lines
    return OutputFacts(lines=kept, total_lines=total, total_bytes=0, cut_lines=0, truncated=total > len(kept))
