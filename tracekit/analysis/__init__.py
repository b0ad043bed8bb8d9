"""Events + Samples + run facts → Stats and frames (pure: no I/O; `tracekit.rundir.load_inputs`
reads the files).

`Analysis` holds the frames notebook users get from `tracekit.load()`:
  events     Events frame + cpu_s (analysis.cpu)    samples   Samples frame (tracekit.sampler)
  units      Units frame (analysis.units)           timeline  Timeline frame (analysis.cpu)
  concurrency  step series t_s, in_flight           functions Functions frame (analysis.functions)
  processes  per process and sample: t_s, pid, cpu_pct, rss_bytes
  output     the program's output lines: t_s, stream, text
  running    when each unit was running, not only in flight: Running frame (analysis.running)
and `stats`, the Stats that stats.json holds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tracekit.analysis import cpu
from tracekit.analysis import units as unitmod
from tracekit.analysis.findings import peak_mix, verdicts
from tracekit.analysis.functions import functions_table, name_mask
from tracekit.analysis.loop import (
    LOOP_BLOCK_THRESHOLD_S,
    TRACER_STRETCH_MAX,
    LoopBlock,
    LoopLoad,
    loop_blocks,
    loop_load,
)
from tracekit.analysis.loss import cpu_gap, data_loss, helper_pids, too_short_to_sample
from tracekit.analysis.model import Concurrency, Context, DataLoss, Stats, UnitCounts
from tracekit.analysis.origin import Origins, program_origins
from tracekit.analysis.running import running_frame
from tracekit.runinfo import RunInfo
from tracekit.structure import Structure
from tracekit.structure import empty as empty_structure
from tracekit.trace.frames import EVENT_COLUMNS, TRACK_COLUMNS, Trace

STATS_SCHEMA = "tracekit.stats/2"  # /2: peak_rss_bytes became peak_rss_tree_bytes


@dataclass(frozen=True)
class Inputs:
    """The raw facts of one run, loaded: run.json, the trace (None if the run left none), samples."""

    info: RunInfo
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
    running: pd.DataFrame


@dataclass(frozen=True)
class _Derived:
    """What the analysis derived before the Stats are assembled."""

    info: RunInfo
    window_ns: tuple[float, float]  # the script's window, CLOCK_MONOTONIC ns
    samples: pd.DataFrame
    totals: pd.DataFrame  # cpu.tree_totals(samples)
    units: pd.DataFrame
    steps: pd.DataFrame  # in-flight step series
    blocks: list[LoopBlock]
    load: LoopLoad | None  # the busiest event loop's share of the window in steps
    loss: DataLoss
    framework: str
    output: pd.DataFrame
    c_calls: pd.DataFrame  # cpu.c_call_time(events): the traced C calls, for the threads' view

    @property
    def wall_s(self) -> float:
        return max(0.0, (self.window_ns[1] - self.window_ns[0]) / 1e9)


def analyse(inp: Inputs, loop_threshold_s: float = LOOP_BLOCK_THRESHOLD_S) -> Analysis:
    info, trace, st = inp.info, inp.trace, inp.structure
    events = trace.events if trace is not None else pd.DataFrame(columns=EVENT_COLUMNS)
    tracks = trace.tracks if trace is not None else pd.DataFrame(columns=TRACK_COLUMNS)
    window = script_window(info, events, st)
    events, tracks = unitmod.attribute_tasks(events, tracks, st)
    samples = cpu.with_sched_columns(inp.samples)
    os_tid = unitmod.os_threads(events, tracks)
    events = events.assign(cpu_s=cpu.slice_cpu(events, samples, os_tid))
    ppids = {pid: p.ppid or 0 for pid, p in info.processes.items()}
    units = unitmod.build_units(events, tracks, info.pid, ppids, window[0] / 1e3, samples, st, set(helper_pids(info)))
    wall_s = max(0.0, (window[1] - window[0]) / 1e9)
    stretch = TRACER_STRETCH_MAX if info.traced else 1.0  # sampling adds no per-call cost
    totals = cpu.tree_totals(samples)
    d = _Derived(
        info=info, window_ns=window, samples=samples, totals=totals, units=units,
        steps=unitmod.in_flight_steps(units, wall_s),
        blocks=loop_blocks(st, events, tracks, samples, window[0] / 1e3, loop_threshold_s, stretch),
        load=loop_load(st, samples, (window[0] / 1e3, window[1] / 1e3), stretch),
        loss=data_loss(info, trace, samples, window, st, totals), framework=framework(events),
        output=output_frame(info, window[0]), c_calls=cpu.c_call_time(events, os_tid),
    )  # fmt: skip
    tl = cpu.timeline(d.totals, *window)
    tl["in_flight"] = unitmod.in_flight_at(d.steps, tl["t_s"].to_numpy(dtype=np.float64))
    procs = cpu.process_series(samples)
    procs.insert(0, "t_s", (procs.pop("t_ns") - window[0]) / 1e9)
    return Analysis(
        stats=_stats(d), events=events, tracks=tracks, samples=samples, units=units, structure=st, timeline=tl,
        concurrency=d.steps, functions=functions_table(events, _origins(info)), processes=procs, output=d.output,
        loop_blocks=d.blocks, running=running_frame(units, st, samples, d.window_ns[0] / 1e3),
    )  # fmt: skip


def script_window(info: RunInfo, events: pd.DataFrame, structure: Structure) -> tuple[float, float]:
    """The script's window (CLOCK_MONOTONIC ns): its main process's first to last traced event; the
    recorded life of the process if untraced (--sample-only); else the run's start to its end."""
    main_ev = events[events["pid"] == info.pid] if len(events) else events
    if len(main_ev):
        return float(main_ev["start_us"].min()) * 1e3, float(main_ev["end_us"].max()) * 1e3
    procs = structure.procs
    if info.pid in set(procs["pid"].tolist()):
        proc = procs[procs["pid"] == info.pid].iloc[0]
        start_ns = float(proc["start_us"]) * 1e3
        ended = float(info.ended_ns) if info.ended_ns is not None else start_ns
        return start_ns, float(proc["end_us"]) * 1e3 if proc["end_us"] == proc["end_us"] else ended
    return float(info.started_ns), float(info.ended_ns if info.ended_ns is not None else info.started_ns)


HELPERS_MIN_CORES = 0.05  # helpers' CPU under this, on average, is left in: within the sampling's noise


def helpers_apart(
    info: RunInfo, units: pd.DataFrame, loss: DataLoss, cpu_s: float, wall_s: float
) -> tuple[float, frozenset[int]]:
    """(CPU seconds the run's untraced helper programs used in the script's window, their pids).

    A browser driven by Playwright, node, a shell: they are counted in the tree's CPU, but the verdicts
    are about the program's own units, so "1.2 cores busy" from chromium must not read as the Python
    process's threads running in parallel. Their CPU is the tree's less the program's processes' own
    (the process units'); it is 0 when that is unknown (a process unit's CPU was not sampled, or a
    Python process left no trace) or under HELPERS_MIN_CORES. The pids are every process of the run
    that is neither a process unit nor a lost Python process."""
    procs = units[units["kind"] == "process"] if len(units) else units
    program = {int(p) for p in procs["pid"]} if len(procs) else set()
    others = frozenset(set(info.processes) - program - set(loss.untraced_pids))
    if not others or not loss.helpers or loss.untraced_pids or not program or wall_s <= 0:
        return 0.0, others
    own = procs["cpu_s"].to_numpy(dtype=np.float64)
    if np.isnan(own).any():
        return 0.0, others
    rest = max(0.0, cpu_s - float(own.sum()))
    return (rest if rest >= HELPERS_MIN_CORES * wall_s else 0.0), others


def _stats(d: _Derived) -> Stats:
    info, (start_ns, end_ns), units = d.info, d.window_ns, d.units
    user_s, system_s = cpu.cpu_between(d.totals, start_ns, end_ns)
    cpu_s, wall_s = user_s + system_s, d.wall_s
    peak, mean = unitmod.concurrency_summary(d.steps, wall_s)
    helpers_cpu_s, helper_set = helpers_apart(info, units, d.loss, cpu_s, wall_s)
    findings = verdicts(
        wall_s=wall_s, cpu_s=cpu_s - helpers_cpu_s, cores=info.cores, units=units, peak=peak, blocks=d.blocks,
        loss_warnings=d.loss.warnings, generators=generator_instances(units),
        threads=[t for t in cpu.thread_sched(d.samples, start_ns, end_ns, d.c_calls) if t.pid not in helper_set],
        framework=d.framework, untraced_threads=len(d.loss.untraced_threads), helpers=d.loss.helpers,
        helpers_cpu_s=helpers_cpu_s, c_calls_known=info.traced, loop_load=d.load,
        cpu_known=not d.samples.empty and not cpu_gap(d.totals, d.window_ns)
        and not too_short_to_sample(d.totals, d.window_ns),
        sampled=info.stack_interval_us is not None, tracer_stopped=d.loss.tracer_stopped_s is not None,
    )  # fmt: skip
    return Stats(
        schema=STATS_SCHEMA, target=info.target, command=list(info.command), wall_s=round(wall_s, 6),
        cpu_s=round(cpu_s, 6), cpu_user_s=round(user_s, 6), cpu_system_s=round(system_s, 6),
        parallelism=round(cpu_s / wall_s, 4) if wall_s > 0 else 0.0,
        peak_rss_tree_bytes=cpu.peak_rss(d.totals, start_ns, end_ns),
        save_peak_rss_tree_bytes=cpu.save_peak_rss(d.totals, end_ns),
        units=_unit_counts(units, info),
        concurrency=Concurrency(peak=peak, mean=round(mean, 4), at_peak=peak_mix(units)),
        loop_blocked_max_s=round(max((b.dur_s for b in d.blocks if b.certain), default=0.0), 6),
        output_order=output_order(d.output), exit_code=info.exit_code, timed_out=info.timed_out, data_loss=d.loss,
        findings=findings, context=_context(info, d.framework),
        started_at=dt.datetime.fromtimestamp((start_ns + info.wall_clock_offset_ns) / 1e9, dt.UTC).isoformat(
            timespec="milliseconds"
        ),
    )  # fmt: skip


def _unit_counts(units: pd.DataFrame, info: RunInfo) -> UnitCounts:
    def count(kind: str) -> int:
        return int((units["kind"] == kind).sum()) if len(units) else 0

    wk = units[units["role"] == "worker"] if len(units) else units
    procs = count("process") if len(units) else len(info.processes)
    helpers = int((units["role"] == "helper").sum()) if len(units) else 0
    return UnitCounts(tasks=count("task"), threads=count("thread"), processes=procs, generators=count("generator"),
                      workers=len(wk), helpers=helpers)  # fmt: skip


def _context(info: RunInfo, fw: str) -> Context:
    return Context(
        cores=info.cores, python=info.python, platform=info.platform, load_avg_before=list(info.load_avg_before),
        load_avg_after=list(info.load_avg_after), start_method=info.start_method,
        tracekit_version=info.tracekit_version, viztracer_version=info.viztracer_version,
        interval_s=info.interval_s, traced=info.traced, min_duration_us=info.min_duration_us if info.traced else None,
        framework=fw, stack_interval_us=info.stack_interval_us,
    )  # fmt: skip


def _origins(info: RunInfo) -> Origins:
    """Own code: under the script's directory or the directory the program was run from."""
    return program_origins(info.cwd, info.target, info.module)


def generator_instances(units: pd.DataFrame) -> dict[str, int]:
    """Generator function → its instances driven as coroutines."""
    if units.empty:
        return {}
    g = units[units["kind"] == "generator"]
    return {str(k): int(v) for k, v in g["coroutine"].value_counts().items()}


def framework(events: pd.DataFrame) -> str:
    """ "trio" when the trace holds trio's run loop (its tasks then get trio's words), else ""."""
    if events.empty:
        return ""
    # unrolled_run is trio's scheduler loop: present only when trio.run ran, not when trio was merely imported
    loop = name_mask(events["name"], lambda n: n.str.startswith("unrolled_run (") & n.str.contains("/trio/_core/"))
    return "trio" if bool(loop.any()) else ""


def output_frame(info: RunInfo, start_ns: float) -> pd.DataFrame:
    df = pd.DataFrame([tuple(line) for line in info.output.lines], columns=["t_ns", "stream", "text"])
    df.insert(0, "t_s", (df.pop("t_ns").astype("float64") - start_ns) / 1e9)
    return df.sort_values("t_s", kind="stable").reset_index(drop=True)


def output_order(output: pd.DataFrame, limit: int = 40) -> str:
    """The first word of each stdout line, in time order: "One One One Two Two Two" proves overlap."""
    out = output[output["stream"] == "stdout"]
    words = [t.split()[0].rsplit("/", 1)[-1] for t in out["text"] if t.split()]
    words = [w if len(w) <= 24 else w[:23] + "…" for w in words[:limit]]
    return " ".join(words) + (" …" if len(out) > limit else "")
