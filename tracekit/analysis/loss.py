"""What a run lost, as data (DataLoss): one function per kind of loss, each returning its facts and the
warning every renderer shows. Kinds: no usable trace; the tracer's buffer overflowed; processes or
threads that ran without a trace (and helpers expected to have none); the run cut short (timeout,
interrupt); the output truncated; the sampler starved; the tracer stopped recording. Pure: reads the
RunInfo, the trace, the samples frame and the structure record.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tracekit.analysis import cpu
from tracekit.analysis import units as unitmod
from tracekit.analysis.model import DataLoss
from tracekit.runinfo import ProcessSeen, RunInfo
from tracekit.structure import Structure
from tracekit.trace.frames import Trace

SHORT_LIVED_NS = 50e6  # a traced Python process cannot start, run and save in less
# A Python fork writes its structure record at once, so a copy of its parent never recorded is a child
# before its exec for this long: on a loaded machine that phase, between two sampler ticks, was seen
# to span 100-146 ms (ldconfig run by trio's import), well over SHORT_LIVED_NS.
EXEC_CHILD_NS = 1e9
STOPPED_TEXT = "VizTracer: Unexpected function return, tracing is stopped"


def data_loss(
    info: RunInfo,
    trace: Trace | None,
    samples: pd.DataFrame,
    window_ns: tuple[float, float] | None = None,
    structure: Structure | None = None,
    totals: pd.DataFrame | None = None,
) -> DataLoss:
    """`totals`: cpu.tree_totals(samples), when the caller has it already."""
    status, no_trace = trace_loss(info, trace)
    overflow, overflowed = overflow_loss(info, trace)
    untraced, helpers, lost_procs = process_loss(info, trace, structure)
    threads, lost_threads = thread_loss(trace, samples, window_ns, structure)
    stopped_s, stopped = tracer_stop_loss(info)
    warnings = [no_trace, overflowed, lost_procs, lost_threads, *cut_short(info), output_loss(info),
                sample_loss(samples, window_ns, totals), stopped]  # fmt: skip
    return DataLoss(
        overflow=overflow, untraced_pids=untraced, trace_status=status, timed_out=info.timed_out,
        interrupted=info.interrupted, output_truncated=info.output.truncated,
        warnings=[w for w in warnings if w], untraced_threads=threads, helpers=helpers, tracer_stopped_s=stopped_s,
    )  # fmt: skip


def trace_loss(info: RunInfo, trace: Trace | None) -> tuple[str, str | None]:
    """(the trace's status, the warning when the run left no usable trace)."""
    status: str = info.trace.status
    if not info.traced and info.stack_interval_us is None:
        # --sample-only: no function slices by choice, which the summary's capture row states; units, tasks
        # and loop steps come from the structure record, so nothing was lost
        return "not traced", None
    if trace is not None:
        return status, None
    status = "missing" if status == "ok" else status  # trace.json removed since the run
    crashed = info.exit_code == -11 and info.traced  # SIGSEGV under viztracer
    hint = (
        "; the traced process crashed (SIGSEGV), as viztracer 1.1.1 does on some code (a module imported from a "
        "folder whose name is not valid UTF-8): `--sampled` runs without the tracer"
        if crashed
        else ""
    )
    return status, f"no usable trace ({status}: {info.trace.detail or 'trace.json is missing'}){hint}"


def overflow_loss(info: RunInfo, trace: Trace | None) -> tuple[bool, str | None]:
    """Did the tracer's ring buffer wrap? viztracer's flag, or a process that filled all its entries."""
    if trace is None:
        return False, None
    entries = info.tracer_entries
    full = sorted(p for p, n in trace.events_per_pid.items() if entries and n >= entries)
    if not trace.overflow and not full:
        return False, None
    which = f" in pid {', '.join(map(str, full))}" if full else ""
    return True, (
        f"the tracer's buffer overflowed{which} ({entries or '?'} entries): the earliest calls were lost, so "
        "early units and functions are missing; rerun with a larger --tracer-entries, or --sample-only"
    )


def process_loss(
    info: RunInfo, trace: Trace | None, structure: Structure | None
) -> tuple[list[int], list[str], str | None]:
    """(pids of processes that ran without a trace, expected helpers, the warning)."""
    procs = structure.procs if structure is not None else None
    completed = set() if procs is None else {int(p) for p in procs.loc[procs["end_us"].notna(), "pid"]}
    recorded = None if procs is None or procs.empty else {int(p) for p in procs["pid"]}
    untraced, helpers = untraced_processes(info, trace, completed, recorded)
    if not untraced:
        return untraced, helpers, None
    return (
        untraced,
        helpers,
        (
            f"{len(untraced)} process(es) ran but left no trace (pid {', '.join(map(str, untraced[:10]))}): "
            "ended by os._exit or a signal; their CPU and memory are still counted"
        ),
    )


def thread_loss(
    trace: Trace | None, samples: pd.DataFrame, window_ns: tuple[float, float] | None, structure: Structure | None
) -> tuple[list[str], str | None]:
    """(OS threads seen by the sampler that neither the trace nor the structure record knows, the warning)."""
    if trace is None or not window_ns:
        return [], None
    th = structure.threads if structure is not None else None
    recorded = set() if th is None else {(int(p), int(t)) for p, t in zip(th["pid"], th["os_tid"], strict=True)}
    recorded |= set(structure.own_threads) if structure is not None else set()  # tracekit's stack sampler
    threads = untraced_threads(trace, samples, window_ns, recorded)
    if not threads:
        return threads, None
    return threads, (
        f"{len(threads)} thread(s) ran that neither the trace nor tracekit's structure record shows (pid:tid "
        f"{', '.join(threads[:10])}): started by C code, not through threading or _thread; their CPU is "
        "counted, but their calls are missing and concurrency does not count them"
    )


def cut_short(info: RunInfo) -> list[str]:
    """The warnings of a run stopped before the program's end (--timeout, Ctrl-C)."""
    warnings = []
    if info.timed_out:
        after = "?" if info.timeout_s is None else f"{info.timeout_s:g}"
        warnings.append(f"the run was stopped by --timeout after {after} s; what ran until then is kept")
    if info.interrupted:
        warnings.append("the run was interrupted (Ctrl-C); what ran until then is kept")
    return warnings


def output_loss(info: RunInfo) -> str | None:
    out = info.output
    if not out.truncated:
        return None
    return f"the program printed {out.total_lines} lines; only the first {len(out.lines)} are kept with their times"


def sample_loss(
    samples: pd.DataFrame, window_ns: tuple[float, float] | None, totals: pd.DataFrame | None = None
) -> str | None:
    """No samples at all, or a sampler starved for much of the script's window."""
    if samples.empty:
        return "no psutil samples were taken (the program ended too soon): CPU and memory are unknown"
    if window_ns is None:
        return None
    totals = cpu.tree_totals(samples) if totals is None else totals
    if not cpu_gap(totals, window_ns):
        return None
    gap = cpu.sample_gap_s(totals, *window_ns)
    span = (window_ns[1] - window_ns[0]) / 1e9
    return (
        f"the sampler took no sample for {gap:.2f} s of the script's {span:.2f} s (the machine was overloaded): "
        "CPU, parallelism and memory are uncertain, and no finding is drawn from them"
    )


def tracer_stop_loss(info: RunInfo) -> tuple[float | None, str | None]:
    """(when viztracer stopped recording, in s from the run's start, the warning), or (None, None)."""
    stopped = tracer_stopped_ns(info)
    if stopped is None:
        return None, None
    after_s = (stopped - info.started_ns) / 1e9
    return round(after_s, 3), (
        f"the tracer stopped recording at {after_s:.2f} s after the start (viztracer: 'Unexpected function return, "
        "tracing is stopped': its call stack lost track, as when greenlets switch stacks (Playwright's sync API, "
        "gevent) or an anyio cancel scope is cancelled by a child task): function slices after that are missing, "
        "so culprits and the function table cover only the time before; units, loop steps and their durations "
        "come from tracekit's structure record and are complete; `tracekit profile --sampled` records function "
        "slices without viztracer"
    )


def cpu_gap(totals: pd.DataFrame, window_ns: tuple[float, float]) -> bool:
    """Was the sampler starved for more than a quarter of the script's window (and 0.5 s)?
    `totals`: cpu.tree_totals(samples)."""
    gap = cpu.sample_gap_s(totals, *window_ns)
    return gap > max(0.5, 0.25 * (window_ns[1] - window_ns[0]) / 1e9)


def too_short_to_sample(totals: pd.DataFrame, window_ns: tuple[float, float]) -> bool:
    """Fewer than two samples of the tree inside the script's window (a run of a few ms, such as a
    failed import): its CPU would be interpolated from samples outside it, not measured. Not data loss:
    the run was shorter than the sampling interval."""
    t = totals["t_ns"].to_numpy(dtype=np.float64)  # cpu.tree_totals(samples)
    return int(((t >= window_ns[0]) & (t <= window_ns[1])).sum()) < 2


def helper_name(cmdline: list[str], seen_ns: float = SHORT_LIVED_NS) -> str | None:
    """What an untraced process is when it is expected to have no trace, else None: multiprocessing's
    resource_tracker (a Python helper the tracer does not follow), a program that is not Python
    (such as /sbin/ldconfig, which trio's import runs), or one gone within 50 ms before its command
    line could be read (too short-lived to be a traced Python program)."""
    if not cmdline:
        return (
            f"a process gone {seen_ns / 1e6:.0f} ms after it was seen (command line unreadable)"
            if (seen_ns < SHORT_LIVED_NS)
            else None
        )
    if any("multiprocessing.resource_tracker" in c for c in cmdline):
        return "multiprocessing's resource_tracker"
    if any("multiprocessing.forkserver" in c for c in cmdline):
        return "multiprocessing's forkserver"
    exe = cmdline[0].rsplit("/", 1)[-1]
    if not exe.startswith("python") and not exe.startswith("pypy"):
        return f"{exe[:60]} (not a Python program)"
    return None


def helper_pids(info: RunInfo) -> dict[int, str]:
    """Processes of the run that are tooling, not the program's units (see helper_name), with their
    names. A fork of a helper (a forkserver's worker keeps its command line) is the program's worker."""
    procs = info.processes
    # by command line only (a short-lived process with an unreadable one is judged in untraced_processes)
    named = {pid: helper_name(list(p.cmdline)) if p.cmdline else None for pid, p in procs.items()}
    found = {pid: name for pid, name in named.items() if name is not None}
    return {pid: name for pid, name in found.items() if (procs[pid].ppid or 0) not in found}


def untraced_processes(
    info: RunInfo, trace: Trace | None, completed: set[int] | None = None, recorded: set[int] | None = None
) -> tuple[list[int], list[str]]:
    """(pids of Python processes that ran but left no trace, descriptions of expected helpers).

    `completed`: pids whose structure record ends normally: such a process saved its trace too, so no
    slices there means none reached the capture's resolution (--min-duration), not a lost trace.
    `recorded`: pids with any structure record (None when the run has no record); a Python fork
    writes one at once, so a short-lived copy of its parent's command line without one is a
    subprocess's child caught between fork and exec (such as /sbin/ldconfig run by an import)."""
    if trace is None:
        return [], []
    traced = set(trace.events_per_pid) | (completed or set())
    tooling = helper_pids(info)
    lost, helpers = [], []
    for pid, proc in sorted(info.processes.items()):
        if pid in tooling:  # named as what it is, recorded or not: never the program's lost data
            helpers.append(f"pid {pid} {tooling[pid]}")
            continue
        if pid in traced:
            continue
        seen = float(proc.last_seen_ns - proc.first_seen_ns)
        name = helper_name(list(proc.cmdline), seen)
        if name is None and recorded is not None and pid not in recorded and seen < EXEC_CHILD_NS:
            name = exec_child_name(info, proc, seen)
        if name is None:
            lost.append(pid)
        else:
            helpers.append(f"pid {pid} {name}")
    return lost, helpers


def exec_child_name(info: RunInfo, proc: ProcessSeen, seen_ns: float) -> str | None:
    """A process seen only with its parent's command line, briefly, and never recorded: a child that
    subprocess forked to exec another program, seen before the exec."""
    parent = info.processes.get(proc.ppid) if proc.ppid is not None else None
    if not proc.cmdline or parent is None or proc.cmdline != parent.cmdline:
        return None
    return f"a child of pid {proc.ppid} seen {seen_ns / 1e6:.0f} ms before it exec'd another program"


def untraced_threads(
    trace: Trace, samples: pd.DataFrame, window_ns: tuple[float, float], recorded: set[tuple[int, int]] | None = None
) -> list[str]:
    """OS threads of traced processes that the sampler saw at two or more samples inside the script's
    window but that neither the trace nor the structure record (`recorded`: (pid, os tid) of the
    threads it saw start) knows ("pid:tid")."""
    th = samples[samples["kind"] == "t"] if len(samples) else samples
    if th.empty:
        return []
    th = th[(th["t_ns"] >= window_ns[0]) & (th["t_ns"] <= window_ns[1])]
    seen = th.groupby(["pid", "tid"]).size()
    tracks = trace.tracks
    os_ids = unitmod.os_threads(trace.events, tracks)
    known = {(pid, os_ids.get((pid, tid), tid)) for pid, tid, kind in
             zip(tracks["pid"].tolist(), tracks["tid"].tolist(), tracks["kind"].tolist(), strict=True)
             if kind == "thread"}  # fmt: skip
    known |= {(pid, pid) for pid in trace.events_per_pid}  # a main thread, whatever tid the trace gave it
    known |= recorded or set()
    traced = set(trace.events_per_pid)
    return [f"{pid}:{tid}" for (pid, tid), n in seen.items()
            if n >= 2 and pid in traced and (pid, tid) not in known]  # fmt: skip


def tracer_stopped_ns(info: RunInfo) -> float | None:
    """When viztracer said it stopped tracing (it prints STOPPED_TEXT in the traced process), or None."""
    for line in info.output.lines:
        if STOPPED_TEXT in line.text:
            return float(line.t_ns)
    return None
