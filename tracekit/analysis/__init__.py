"""Events + Samples + run facts → Stats and frames (pure: no I/O; `tracekit.rundir.load_inputs`
reads the files).

`Analysis` holds the frames notebook users get from `tracekit.load()`:
  events     Events frame + cpu_s (analysis.cpu)    samples   Samples frame (tracekit.sampler)
  units      Units frame (analysis.units)           timeline  Timeline frame (analysis.cpu)
  concurrency  step series t_s, in_flight           functions Functions frame (analysis.functions)
  processes  per process and sample: t_s, pid, cpu_pct, rss_bytes
  output     the program's output lines: t_s, stream, text
and `stats`, the Stats that stats.json holds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tracekit.analysis import cpu
from tracekit.analysis import units as unitmod
from tracekit.analysis.findings import verdicts
from tracekit.analysis.functions import functions_table, name_mask
from tracekit.analysis.loop import LOOP_BLOCK_THRESHOLD_S, TRACER_STRETCH_MAX, LoopBlock, loop_blocks
from tracekit.analysis.model import Concurrency, Context, DataLoss, Stats, UnitCounts
from tracekit.analysis.origin import Origins, program_origins
from tracekit.structure import Structure
from tracekit.structure import empty as empty_structure
from tracekit.trace.frames import EVENT_COLUMNS, TRACK_COLUMNS, Trace

STATS_SCHEMA = "tracekit.stats/1"


@dataclass(frozen=True)
class Inputs:
    """The raw facts of one run, loaded: run.json, the trace (None if the run left none), samples."""

    run: dict[str, Any]
    trace: Trace | None
    samples: pd.DataFrame
    structure: Structure = dataclasses.field(default_factory=empty_structure)


@dataclass(frozen=True)
class Analysis:
    stats: Stats
    events: pd.DataFrame
    tracks: pd.DataFrame
    samples: pd.DataFrame
    units: pd.DataFrame
    structure: Structure
    timeline: pd.DataFrame
    concurrency: pd.DataFrame
    functions: pd.DataFrame
    processes: pd.DataFrame
    output: pd.DataFrame
    loop_blocks: list[LoopBlock]


def analyse(inp: Inputs, loop_threshold_s: float = LOOP_BLOCK_THRESHOLD_S) -> Analysis:
    run = inp.run
    trace = inp.trace
    root = int(run.get("pid", 0))
    events = trace.events if trace is not None else pd.DataFrame(columns=EVENT_COLUMNS)
    tracks = trace.tracks if trace is not None else pd.DataFrame(columns=TRACK_COLUMNS)

    # The script's window: its main process's first to last traced event; the process lifetime if untraced.
    main_ev = events[events["pid"] == root] if len(events) else events
    if len(main_ev):
        start_ns = float(main_ev["start_us"].min()) * 1e3
        end_ns = float(main_ev["end_us"].max()) * 1e3
    elif root in set(inp.structure.procs["pid"].tolist()):  # untraced (--sample-only): the recorded life
        proc = inp.structure.procs[inp.structure.procs["pid"] == root].iloc[0]
        start_ns = float(proc["start_us"]) * 1e3
        end_ns = (
            float(proc["end_us"]) * 1e3 if proc["end_us"] == proc["end_us"] else float(run.get("ended_ns") or start_ns)
        )
    else:
        start_ns = float(run["started_ns"])
        end_ns = float(run.get("ended_ns") or run["started_ns"])
    wall_s = max(0.0, (end_ns - start_ns) / 1e9)

    st = inp.structure
    events, tracks = unitmod.attribute_tasks(events, tracks, st)
    samples = cpu.with_sched_columns(inp.samples)
    totals = cpu.tree_totals(samples)
    user_s, system_s = cpu.cpu_between(totals, start_ns, end_ns)
    cpu_s = user_s + system_s
    ppids = {int(k): int(v.get("ppid", 0)) for k, v in run.get("processes", {}).items()}
    events = events.assign(cpu_s=cpu.slice_cpu(events, samples, unitmod.os_threads(events, tracks)))
    units = unitmod.build_units(events, tracks, root, ppids, start_ns / 1e3, samples, st, set(helper_pids(run)))
    steps = unitmod.in_flight_steps(units, wall_s)
    peak, mean = unitmod.concurrency_summary(steps, wall_s)
    tl = cpu.timeline(totals, start_ns, end_ns)
    tl["in_flight"] = unitmod.in_flight_at(steps, tl["t_s"].to_numpy(dtype=np.float64))
    fw = framework(events)
    stretch = TRACER_STRETCH_MAX if run.get("traced", True) else 1.0  # sampling adds no per-call cost
    blocks = loop_blocks(st, events, tracks, samples, start_ns / 1e3, loop_threshold_s, stretch)
    loss = data_loss(run, trace, samples, (start_ns, end_ns), st)
    cores = int(run.get("cores", 1))
    findings = verdicts(
        wall_s=wall_s, cpu_s=cpu_s, cores=cores, units=units, peak=peak, blocks=blocks,
        loss_warnings=loss.warnings, generators=generator_instances(units),
        threads=cpu.thread_sched(samples, start_ns, end_ns), framework=fw,
        untraced_threads=len(loss.untraced_threads), helpers=loss.helpers,
        cpu_known=not samples.empty and not cpu_gap(samples, (start_ns, end_ns)),
        sampled=bool(run.get("stack_interval_us")),
        tracer_stopped=loss.tracer_stopped_s is not None,
    )  # fmt: skip
    output = output_frame(run, start_ns)
    procs = cpu.process_series(samples)
    procs.insert(0, "t_s", (procs.pop("t_ns") - start_ns) / 1e9)
    offset = int(run.get("wall_clock_offset_ns", 0))
    wk = units[units["role"] == "worker"] if len(units) else units
    stats = Stats(
        schema=STATS_SCHEMA,
        target=str(run.get("target", "")),
        command=[str(c) for c in run.get("command", [])],
        wall_s=round(wall_s, 6),
        cpu_s=round(cpu_s, 6),
        cpu_user_s=round(user_s, 6),
        cpu_system_s=round(system_s, 6),
        parallelism=round(cpu_s / wall_s, 4) if wall_s > 0 else 0.0,
        peak_rss_bytes=cpu.peak_rss(totals, start_ns, end_ns),
        save_peak_rss_bytes=cpu.save_peak_rss(totals, end_ns),
        units=UnitCounts(
            tasks=int((units["kind"] == "task").sum()) if len(units) else 0,
            threads=int((units["kind"] == "thread").sum()) if len(units) else 0,
            processes=int((units["kind"] == "process").sum()) if len(units) else len(run.get("processes", {})),
            generators=int((units["kind"] == "generator").sum()) if len(units) else 0,
            workers=len(wk),
        ),
        concurrency=Concurrency(peak=peak, mean=round(mean, 4)),
        loop_blocked_max_s=round(max((b.dur_s for b in blocks if b.certain), default=0.0), 6),
        output_order=output_order(output),
        exit_code=run.get("exit_code"),
        timed_out=bool(run.get("timed_out", False)),
        data_loss=loss,
        findings=findings,
        context=Context(
            cores=cores,
            python=str(run.get("python", "")),
            platform=str(run.get("platform", "")),
            load_avg_before=list(run.get("load_avg_before", [])),
            load_avg_after=list(run.get("load_avg_after", [])),
            start_method=str(run.get("start_method", "")),
            tracekit_version=str(run.get("tracekit_version", "")),
            viztracer_version=run.get("viztracer_version"),
            interval_s=float(run.get("interval_s", 0.0)),
            traced=bool(run.get("traced", True)),
            min_duration_us=run.get("min_duration_us", 0.0) if run.get("traced", True) else None,
            framework=fw,
            stack_interval_us=run.get("stack_interval_us"),
        ),
        started_at=dt.datetime.fromtimestamp((start_ns + offset) / 1e9, dt.UTC).isoformat(timespec="milliseconds"),
    )
    return Analysis(
        stats=stats, events=events, tracks=tracks, samples=samples, units=units, structure=st, timeline=tl,
        concurrency=steps, functions=functions_table(events, _origins(run)), processes=procs, output=output,
        loop_blocks=blocks,
    )  # fmt: skip


def _origins(run: dict[str, Any]) -> Origins:
    """Own code: under the script's directory or the directory the program was run from."""
    return program_origins(str(run.get("cwd", "")), str(run.get("target", "")), bool(run.get("module")))


def generator_instances(units: pd.DataFrame) -> dict[str, int]:
    """Generator function → its instances driven as coroutines."""
    if units.empty:
        return {}
    g = units[units["kind"] == "generator"]
    return {str(k): int(v) for k, v in g["coroutine"].value_counts().items()}


def data_loss(
    run: dict[str, Any],
    trace: Trace | None,
    samples: pd.DataFrame,
    window_ns: tuple[float, float] | None = None,
    structure: Structure | None = None,
) -> DataLoss:
    warnings: list[str] = []
    tinfo = run.get("trace", {}) or {}
    status = str(tinfo.get("status", "ok" if trace is not None else "missing"))
    if not run.get("traced", True) and not run.get("stack_interval_us"):
        # --sample-only: no function slices by choice, which the summary's capture row states; units, tasks
        # and loop steps come from the structure record, so nothing was lost
        status = "not traced"
    elif trace is None:
        crashed = run.get("exit_code") == -11 and run.get("traced", True)  # SIGSEGV under viztracer
        hint = (
            "; the traced process crashed (SIGSEGV), as viztracer 1.1.1 does on some code (a module imported from a "
            "folder whose name is not valid UTF-8): `--sampled` runs without the tracer"
            if crashed
            else ""
        )
        warnings.append(f"no usable trace ({status}: {tinfo.get('detail', 'trace.json is missing')}){hint}")
    overflow = bool(trace.overflow) if trace is not None else False
    entries = int(run.get("tracer_entries") or 0)
    full = sorted(p for p, n in (trace.events_per_pid.items() if trace is not None else []) if entries and n >= entries)
    if overflow or full:
        which = f" in pid {', '.join(map(str, full))}" if full else ""
        warnings.append(
            f"the tracer's buffer overflowed{which} ({entries or '?'} entries): the earliest calls were lost, so "
            "early units and functions are missing; rerun with a larger --tracer-entries, or --sample-only"
        )
        overflow = True
    procs = structure.procs if structure is not None else None
    completed = set() if procs is None else {int(p) for p in procs.loc[procs["end_us"].notna(), "pid"]}
    recorded_pids = None if procs is None or procs.empty else {int(p) for p in procs["pid"]}
    untraced, helpers = untraced_processes(run, trace, completed, recorded_pids)
    if untraced:
        warnings.append(
            f"{len(untraced)} process(es) ran but left no trace (pid {', '.join(map(str, untraced[:10]))}): "
            "ended by os._exit or a signal; their CPU and memory are still counted"
        )
    th = structure.threads if structure is not None else None
    recorded = set() if th is None else {(int(p), int(t)) for p, t in zip(th["pid"], th["os_tid"], strict=True)}
    recorded |= set(structure.own_threads) if structure is not None else set()  # tracekit's stack sampler
    threads = untraced_threads(trace, samples, window_ns, recorded) if trace is not None and window_ns else []
    if threads:
        warnings.append(
            f"{len(threads)} thread(s) ran that neither the trace nor tracekit's structure record shows (pid:tid "
            f"{', '.join(threads[:10])}): started by C code, not through threading or _thread; their CPU is "
            "counted, but their calls are missing and concurrency does not count them"
        )
    timed_out = bool(run.get("timed_out", False))
    if timed_out:
        warnings.append(f"the run was stopped by --timeout after {run.get('timeout_s')} s; what ran until then is kept")
    interrupted = bool(run.get("interrupted", False))
    if interrupted:
        warnings.append("the run was interrupted (Ctrl-C); what ran until then is kept")
    out = run.get("output", {}) or {}
    truncated = bool(out.get("truncated", False))
    if truncated:
        warnings.append(
            f"the program printed {out.get('total_lines')} lines; only the first {len(out.get('lines', []))} "
            "are kept with their times"
        )
    if samples.empty:
        warnings.append("no psutil samples were taken (the program ended too soon): CPU and memory are unknown")
    elif window_ns is not None and cpu_gap(samples, window_ns):
        gap = cpu.sample_gap_s(cpu.tree_totals(samples), *window_ns)
        span = (window_ns[1] - window_ns[0]) / 1e9
        warnings.append(
            f"the sampler took no sample for {gap:.2f} s of the script's "
            f"{span:.2f} s (the machine was overloaded): CPU, parallelism and memory are uncertain, and no "
            "finding is drawn from them"
        )
    stopped = tracer_stopped_ns(run)
    if stopped is not None:
        warnings.append(
            f"the tracer stopped recording at {(stopped - float(run.get('started_ns', stopped))) / 1e9:.2f} s after "
            "the start (viztracer: 'Unexpected function return, tracing is stopped', as after an anyio cancel scope "
            "is cancelled by a child task): function slices after that are missing, so culprits and the function "
            "table cover only the time before; units, loop steps and their durations come from tracekit's structure "
            "record and are complete"
        )
    return DataLoss(
        overflow=overflow, untraced_pids=untraced, trace_status=status, timed_out=timed_out,
        interrupted=interrupted, output_truncated=truncated, warnings=warnings,
        untraced_threads=threads, helpers=helpers,
        tracer_stopped_s=None if stopped is None else round((stopped - float(run.get("started_ns", stopped))) / 1e9, 3),
    )  # fmt: skip


SHORT_LIVED_NS = 50e6  # a traced Python process cannot start, run and save in less
# A Python fork writes its structure record at once, so a copy of its parent never recorded is a child
# before its exec for this long: on a loaded machine that phase, between two sampler ticks, was seen
# to span 100-146 ms (ldconfig run by trio's import), well over SHORT_LIVED_NS.
EXEC_CHILD_NS = 1e9


def cpu_gap(samples: pd.DataFrame, window_ns: tuple[float, float]) -> bool:
    """Was the sampler starved for more than a quarter of the script's window (and 0.5 s)?"""
    gap = cpu.sample_gap_s(cpu.tree_totals(samples), *window_ns)
    return gap > max(0.5, 0.25 * (window_ns[1] - window_ns[0]) / 1e9)


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


def helper_pids(run: dict[str, Any]) -> dict[int, str]:
    """Processes of the run that are tooling, not the program's units (see helper_name), with their
    names. A fork of a helper (a forkserver's worker keeps its command line) is the program's worker."""
    procs = run.get("processes", {})
    # by command line only (a short-lived process with an unreadable one is judged in untraced_processes)
    named = {int(k): helper_name(cmd) if (cmd := [str(c) for c in (v or {}).get("cmdline", [])]) else None
             for k, v in procs.items()}  # fmt: skip
    found = {pid: name for pid, name in named.items() if name is not None}
    return {pid: name for pid, name in found.items() if int((procs[str(pid)] or {}).get("ppid", 0)) not in found}


def untraced_processes(
    run: dict[str, Any], trace: Trace | None, completed: set[int] | None = None, recorded: set[int] | None = None
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
    tooling = helper_pids(run)
    lost, helpers = [], []
    for key, info in sorted(run.get("processes", {}).items(), key=lambda kv: int(kv[0])):
        pid = int(key)
        if pid in tooling:  # named as what it is, recorded or not: never the program's lost data
            helpers.append(f"pid {pid} {tooling[pid]}")
            continue
        if pid in traced:
            continue
        info = info or {}
        seen = float(info.get("last_seen_ns", 0)) - float(info.get("first_seen_ns", 0))
        name = helper_name(
            [str(c) for c in info.get("cmdline", [])], seen if "first_seen_ns" in info else SHORT_LIVED_NS
        )
        if name is None and recorded is not None and pid not in recorded and seen < EXEC_CHILD_NS:
            name = exec_child_name(run, info, seen)
        if name is None:
            lost.append(pid)
        else:
            helpers.append(f"pid {pid} {name}")
    return lost, helpers


def exec_child_name(run: dict[str, Any], info: dict[str, Any], seen_ns: float) -> str | None:
    """A process seen only with its parent's command line, briefly, and never recorded: a child that
    subprocess forked to exec another program, seen before the exec."""
    parent = run.get("processes", {}).get(str(info.get("ppid", ""))) or {}
    if not info.get("cmdline") or info.get("cmdline") != parent.get("cmdline"):
        return None
    return f"a child of pid {info.get('ppid')} seen {seen_ns / 1e6:.0f} ms before it exec'd another program"


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


def framework(events: pd.DataFrame) -> str:
    """ "trio" when the trace holds trio's run loop (its tasks then get trio's words), else ""."""
    if events.empty:
        return ""
    # unrolled_run is trio's scheduler loop: present only when trio.run ran, not when trio was merely imported
    loop = name_mask(events["name"], lambda n: n.str.startswith("unrolled_run (") & n.str.contains("/trio/_core/"))
    return "trio" if bool(loop.any()) else ""


STOPPED_TEXT = "VizTracer: Unexpected function return, tracing is stopped"


def tracer_stopped_ns(run: dict[str, Any]) -> float | None:
    """When viztracer said it stopped tracing (it prints STOPPED_TEXT in the traced process), or None."""
    for t_ns, _stream, text in (run.get("output") or {}).get("lines", []):
        if STOPPED_TEXT in str(text):
            return float(t_ns)
    return None


def output_frame(run: dict[str, Any], start_ns: float) -> pd.DataFrame:
    lines = (run.get("output") or {}).get("lines", [])
    df = pd.DataFrame(lines, columns=["t_ns", "stream", "text"])
    df.insert(0, "t_s", (df.pop("t_ns").astype("float64") - start_ns) / 1e9)
    return df.sort_values("t_s", kind="stable").reset_index(drop=True)


def output_order(output: pd.DataFrame, limit: int = 40) -> str:
    """The first word of each stdout line, in time order: "One One One Two Two Two" proves overlap."""
    out = output[output["stream"] == "stdout"]
    words = [t.split()[0].rsplit("/", 1)[-1] for t in out["text"] if t.split()]
    words = [w if len(w) <= 24 else w[:23] + "…" for w in words[:limit]]
    return " ".join(words) + (" …" if len(out) > limit else "")
