"""Verdicts as data, most important first (pure pandas): one function per kind, each returning its
finding with the numbers it rests on (`evidence`), or None when its evidence is absent.

Which evidence each verdict uses, its threshold and what can fool it is the README's "How tracekit
knows". The rule across them: the OS's view (schedstat, context switches, psutil CPU) decides
whether threads were hungry, asleep or on a CPU, never the tracer's self time alone; where the
evidence is missing or was distorted by tracing, the finding says "unknown" instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tracekit.analysis.functions import split_name
from tracekit.analysis.loop import LoopBlock, LoopLoad, loop_finding
from tracekit.analysis.model import Concurrency, Finding, ThreadSched
from tracekit.analysis.units import in_flight_steps

ORDER = {"error": 0, "warning": 1, "info": 2}


def short(name: str) -> str:
    """'count (/a/b/x.py:7)' → 'count (x.py:7)'."""
    func, file, line = split_name(name)
    return f"{func} ({file.rsplit('/', 1)[-1]}:{line})" if file else func


@dataclass(frozen=True)
class RunFacts:
    """What the verdicts are judged on: the run's totals, its units and the kernel's view of its threads."""

    wall_s: float
    cpu_s: float
    cores: int
    units: pd.DataFrame
    peak: int
    blocks: list[LoopBlock]
    threads: list[ThreadSched]  # schedstat per OS thread in the script's window ([] if not sampled)
    framework: str  # "trio" when the program ran trio's event loop, else ""
    untraced_threads: int  # OS threads the sampler saw that the trace lacks
    cpu_known: bool = True  # False when the sampler was starved: no verdict from the CPU figure
    helpers_cpu_s: float = 0.0  # CPU of untraced helper programs (a browser, node), left out of cpu_s
    per_call_cost: bool = True  # a tracer hooked every call (viztracer); False: --sampled, --sample-only

    @property
    def parallelism(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def workers(self, kind: str) -> int:
        u = self.units
        return int(((u["role"] == "worker") & (u["kind"] == kind)).sum()) if len(u) else 0

    def base_evidence(self) -> dict[str, object]:
        ev: dict[str, object] = {
            "parallelism": round(self.parallelism, 3), "concurrency_peak": self.peak, "cpu_s": round(self.cpu_s, 3)
        }  # fmt: skip
        if self.helpers_cpu_s:
            ev["helpers_cpu_s"] = round(self.helpers_cpu_s, 3)
        return ev


def verdicts(
    *,
    wall_s: float,
    cpu_s: float,
    cores: int,
    units: pd.DataFrame,
    peak: int,
    blocks: list[LoopBlock],
    loss_warnings: list[str],
    generators: dict[str, int] | None = None,
    threads: list[ThreadSched] | None = None,
    framework: str = "",
    untraced_threads: int = 0,
    helpers: list[str] | None = None,
    cpu_known: bool = True,
    sampled: bool = False,
    tracer_stopped: bool = False,
    helpers_cpu_s: float = 0.0,
    c_calls_known: bool = True,
    loop_load: LoopLoad | None = None,
) -> list[Finding]:
    """The findings on the program's own units. `cpu_s` is the program's CPU: the run's, less
    `helpers_cpu_s` (untraced helper programs, named by `helpers`), and `threads` are the program's.
    `c_calls_known`: the capture traced C calls (viztracer ran), so the threads' in_c_s is measured."""
    certain = [b for b in blocks if b.certain]  # blocks tracing cannot explain (see analysis/loop.py)
    facts = RunFacts(wall_s, cpu_s, cores, units, peak, certain, threads or [], framework, untraced_threads, cpu_known,
                     helpers_cpu_s, per_call_cost=c_calls_known)  # fmt: skip
    out: list[Finding] = [Finding("data-loss", "warning", w) for w in loss_warnings]
    gil = gil_bound(facts.threads, c_calls_known)
    loop = loop_finding(blocks, framework, sampled=sampled, tracer_stopped=tracer_stopped, load=loop_load)
    found = [loop, gil, parallel(facts, gil)]
    found.append(None if found[-1] else shape(facts, gil, generators or {}))
    found += [generator_coroutines(generators or {}), mostly_waiting(facts), untraced_helpers(helpers or [], facts)]
    out += [f for f in found if f is not None]
    return sorted(out, key=lambda f: ORDER.get(f.severity, 3))


PARALLEL_CORES = 1.15  # more than one core busy on average, beyond sampling noise


def parallel(facts: RunFacts, gil: Finding | None) -> Finding | None:
    """Processes, or threads whose C code released the GIL, kept more than one core busy (psutil CPU
    of the tree; tracing only adds CPU, so a program below the bound is not called parallel by it)."""
    if facts.parallelism <= PARALLEL_CORES or not facts.cpu_known:
        return None
    n_proc, n_thr, cores = facts.workers("process"), facts.workers("thread"), facts.cores
    ev = facts.base_evidence()
    if n_proc >= 1:
        ideal = min(n_proc, cores)
        return Finding(
            "parallel",
            "info",
            f"parallel: {n_proc} processes kept {facts.parallelism:.2f} cores busy on average "
            f"(ideal speed-up on this {cores}-core machine: {ideal}x).",
            {**ev, "processes": n_proc, "cores": cores, "ideal_speedup": ideal},
        )
    if gil is None and n_thr + facts.untraced_threads >= 1:
        running = sum(t.oncpu_s for t in facts.threads)
        return Finding(
            "parallel",
            "info",
            f"parallel threads: {facts.parallelism:.2f} of {cores} cores busy on average in one process, so its "
            "threads ran at the same time: their work is in C code that releases the GIL (numpy, hashlib, I/O), "
            "and threads are the right model for it.",
            {**ev, "threads": n_thr, "cores": cores, "threads_oncpu_s": round(running, 3)},
        )
    return None


def peak_mix(units: pd.DataFrame) -> dict[str, int]:
    """How many workers of each kind were in flight at the moment the most were: labels count each
    kind apart ("3 tasks and 2 processes"), never all under the first kind present."""
    w = units[units["role"] == "worker"] if len(units) else units
    if w.empty:
        return {}
    starts = w["start_s"].to_numpy(dtype=np.float64)
    ends = w["end_s"].to_numpy(dtype=np.float64)
    # in flight at each start: started at or before it, not yet ended (sorted counts, not an n x n matrix:
    # 10,000 tasks would take 100 M cells)
    started = np.searchsorted(np.sort(starts), starts, side="right")
    ended = np.searchsorted(np.sort(ends), starts, side="right")
    at = float(starts[int((started - ended).argmax())])
    kinds = w["kind"].to_numpy()[(starts <= at) & (ends > at)]
    return {k: int((kinds == k).sum()) for k in ("process", "thread", "task") if (kinds == k).any()}


def mix_label(mix: dict[str, int], framework: str = "") -> str:
    task_word = "trio tasks" if framework == "trio" else "tasks"
    words = {"process": ("process", "processes"), "thread": ("thread", "threads"), "task": ("task", task_word)}
    parts = [f"{n} {words[k][0] if n == 1 else words[k][1]}" for k, n in mix.items()]
    return " and ".join(parts) if len(parts) <= 2 else ", ".join(parts[:-1]) + " and " + parts[-1]


def at_peak_label(c: Concurrency, framework: str = "") -> str:
    """ "4 threads and 4 tasks" when workers of two or more kinds made up the peak (a task awaiting the
    thread it handed work to is in flight with it), else "" (one kind: the peak says it all)."""
    mix = c.at_peak
    return mix_label(mix, framework) if len(mix) > 1 and sum(mix.values()) == c.peak else ""


ASLEEP_FRACTION = 0.5  # threads that slept at least half their time were waiting, not computing
RUNQ_FRACTION = 0.3  # threads runnable but queued for a core this share of their time: the machine was full


def shape(facts: RunFacts, gil: Finding | None, generators: dict[str, int]) -> Finding | None:
    """The shape of the run's concurrency, one kind at most, in this order: with two or more units in
    flight, the kernel's view of the threads (waiting, short of cores), then the CPU figure
    (concurrent-not-parallel, serialised); with fewer, concurrency unknown or sequential. The kernel's
    view goes first: the traced CPU figure is inflated by the tracer and deflated by other programs on
    the machine, the threads' sleep and run-queue wait are not."""
    if facts.peak < 2:
        return concurrency_unknown(facts) or sequential(facts, generators)
    if gil is not None:
        return None  # the GIL verdict says why: the threads did not overlap their computing
    brief = mostly_sequential(facts, generators)
    if brief is not None:
        return brief
    mix = peak_mix(facts.units)
    label = mix_label(mix, facts.framework) if mix else f"{facts.peak} units"
    view = thread_view(facts.threads)
    if view is not None:
        by_threads = threads_waiting(facts, view, label, mix) or core_contention(facts, view, label, mix)
        if by_threads is not None:
            return by_threads
    if not facts.cpu_known:
        return None  # the data-loss warning says why
    if facts.parallelism < 0.5:
        return cpu_not_parallel(facts, label, mix)
    return None if facts.blocks else serialised(facts, label, mix)


def cpu_not_parallel(facts: RunFacts, label: str, mix: dict[str, int]) -> Finding:
    """Two or more in flight and less than half a core busy (tracing only adds CPU, so the untraced
    program used even less): the work overlapped its waiting."""
    p = facts.parallelism
    return Finding(
        "concurrent-not-parallel",
        "info",
        f"concurrent, not parallel: up to {label} were in flight at once, but the CPU was busy only "
        f"{p * 100:.0f}% of one core: the work overlapped its waiting, not its computing.",
        {**facts.base_evidence(), "in_flight_at_peak": mix},
    )


def concurrency_unknown(facts: RunFacts) -> Finding | None:
    """Fewer than two units in flight, but threads the tracer did not see, or trio with no trio task
    recorded: whether the program did one thing at a time cannot be told."""
    if not (facts.untraced_threads or (facts.framework == "trio" and facts.workers("task") == 0)):
        return None
    why = (
        f"{facts.untraced_threads} thread(s) ran that the tracer did not see (see data loss)"
        if facts.untraced_threads
        else "the program ran trio, but no trio task was recorded as a unit"
    )
    return Finding(
        "concurrency-unknown",
        "info",
        f"concurrency unknown: {why}, so whether the program did one thing at a time cannot be told from "
        f"this trace ({facts.parallelism * 100:.0f}% of a core busy).",
        {**facts.base_evidence(), "untraced_threads": facts.untraced_threads, "framework": facts.framework},
    )


def sequential(facts: RunFacts, generators: dict[str, int]) -> Finding | None:
    """One unit did all the work (generator coroutines interleaved on one thread are their own finding)."""
    if generators:
        return None
    busy = (
        f"{facts.parallelism * 100:.0f}% of a core busy"
        if facts.cpu_known
        else f"its CPU unknown: the sampler saw too little of its {facts.wall_s * 1e3:.1f} ms"
    )
    return Finding(
        "sequential",
        "info",
        f"sequential: one unit did all the work, one thing at a time ({busy}).",
        facts.base_evidence(),
    )


MOSTLY_ONE_SHARE = 0.1  # two or more workers in flight for less than this share of the run: sequential


def mostly_sequential(facts: RunFacts, generators: dict[str, int]) -> Finding | None:
    """Two or more workers were in flight, but only for a short stretch of the run (a library's brief
    thread pool inside a single-threaded program): what the run was is sequential, said with that stretch.
    The stretch comes from the units' exact spans in the structure record, not from the tracer's CPU."""
    if generators or facts.wall_s <= 0 or facts.units.empty:
        return None
    steps = in_flight_steps(facts.units, facts.wall_s)
    t = steps["t_s"].to_numpy(dtype=np.float64)
    dur = np.diff(np.append(t, facts.wall_s)).clip(min=0)
    together = float(dur[steps["in_flight"].to_numpy() >= 2].sum())
    share = together / facts.wall_s
    if share >= MOSTLY_ONE_SHARE:
        return None
    mix = peak_mix(facts.units)
    label = mix_label(mix, facts.framework) if mix else f"{facts.peak} units"
    busy = f"{facts.parallelism * 100:.0f}% of a core busy" if facts.cpu_known else "its CPU unknown"
    return Finding(
        "sequential",
        "info",
        f"sequential for the most part: one unit did the work, one thing at a time, except for {together:.3f} s "
        f"({share:.0%}) of the {facts.wall_s:.2f} s run, when up to {label} were in flight together ({busy}).",
        {**facts.base_evidence(), "in_flight_at_peak": mix, "concurrent_s": round(together, 6),
         "concurrent_share": round(share, 4)},
    )  # fmt: skip


ACTIVE_FRACTION = 0.05  # a thread runnable less than this share of its life is idle (a pool's helper)
HUNGRY_FRACTION = 0.5  # a thread on a CPU or queued for one at least half its life wanted a core
COMPUTE_MIN_SPAN_S = 0.1  # the shortest sampled life a thread is judged computing on
COMPUTE_ASLEEP_RATIO = 2.0  # a computing thread is on a CPU at least this many times as long as asleep
NO_SLEEP_FRACTION = 0.1  # hungry threads asleep less than this share of their life were not waiting for the GIL


def waiting(t: ThreadSched) -> bool:
    """Asleep at least half its life; or, queued for a core much of it (the machine's time, not the
    thread's), asleep at least half the rest in waits longer than a GIL waiter's (so on I/O or locks):
    measured on 3.13, an I/O pool's traced threads queued ~40% of their life, on a CPU ~10%, asleep ~47%
    at ~14 ms a wake-up."""
    if t.sleep_s >= ASLEEP_FRACTION * t.span_s:
        return True
    off_queue = t.span_s - t.runq_s
    return t.sleep_s >= ASLEEP_FRACTION * off_queue and t.sleep_s > GIL_MAX_SLEEP_PER_WAKEUP_S * t.voluntary


def computes(t: ThreadSched) -> bool:
    """Out of the run queue, on a CPU at least twice as long as asleep: a CPU-bound worker, however long
    it queued (a multiprocessing worker at load 6: on a CPU 13%, queued 87%, asleep 0%); over a few
    samples' span (a thread of 20 ms, seen at two or three samples, is noise either way) and on a CPU a
    real share of its life. Measured at load ~3 on 2 cores (corpus threads_http, 3.12): pool threads
    queued 81% of their life, on a CPU 10%, asleep 9%, and threads that spent their 0.1 s life queued
    (on a CPU 1 ms, asleep 0): no evidence of computing either."""
    return (
        t.span_s >= COMPUTE_MIN_SPAN_S
        and t.oncpu_s >= COMPUTE_ASLEEP_RATIO * t.sleep_s
        and t.oncpu_s >= ACTIVE_FRACTION * t.span_s
    )


@dataclass(frozen=True)
class ThreadView:
    """The kernel's view of the OS threads of the tree (each process's threads, a single-threaded
    process as its one thread), as the thread verdicts read it (schedstat, see ThreadSched)."""

    active: list[ThreadSched]  # runnable more than ACTIVE_FRACTION of their life
    hungry: list[ThreadSched]  # on a CPU or queued for one at least HUNGRY_FRACTION of their life
    computing: list[ThreadSched]  # hungry, and out of the run queue on a CPU at least as long as asleep
    asleep: list[ThreadSched]  # active and `waiting`
    queued: float  # share of the hungry threads' wanted time (on a CPU + queued) spent queued

    def evidence(self, facts: RunFacts, mix: dict[str, int]) -> dict[str, object]:
        return {**facts.base_evidence(), "in_flight_at_peak": mix, "active_threads": len(self.active),
                "hungry_threads": len(self.hungry), "asleep_threads": len(self.asleep),
                "hungry_runq_fraction": round(self.queued, 3)}  # fmt: skip


def thread_view(threads: list[ThreadSched]) -> ThreadView | None:
    """The threads' view, or None without schedstat for two or more active threads."""
    active = [t for t in threads if t.span_s > 0 and t.oncpu_s + t.runq_s > ACTIVE_FRACTION * t.span_s]
    if len(active) < 2:
        return None
    hungry = [t for t in active if t.oncpu_s + t.runq_s >= HUNGRY_FRACTION * t.span_s]
    computing = [t for t in hungry if computes(t)]
    wanted = sum(t.oncpu_s + t.runq_s for t in hungry)
    queued = sum(t.runq_s for t in hungry) / wanted if wanted > 0 else 0.0
    return ThreadView(active, hungry, computing, [t for t in active if waiting(t)], queued)


def threads_waiting(facts: RunFacts, view: ThreadView, label: str, mix: dict[str, int]) -> Finding | None:
    """Concurrent-not-parallel by the kernel's view: most active threads slept at least half their life
    out of the run queue and none computed (a thread runnable most of its life computes when, out of the
    run queue, it was on a CPU at least as long as asleep: a queued CPU-bound worker hardly sleeps, a
    queued I/O thread sleeps most of the rest), so they were waiting (I/O, locks), whatever the load."""
    active, hungry, asleep, queued = view.active, view.hungry, view.asleep, view.queued
    if view.computing or 2 * len(asleep) <= len(active):
        return None
    also = (
        f"; {len(hungry)} of them were runnable most of their life but waited for a free core "
        f"{queued * 100:.0f}% of that time (other programs used this machine's cores)"
        if hungry
        else " and none runnable most of it"
    )
    return Finding(
        "concurrent-not-parallel",
        "info",
        f"concurrent, not parallel: up to {label} were in flight at once and the kernel saw {len(asleep)} of "
        f"their {len(active)} active threads asleep at least half their time out of the run queue{also} "
        f"(schedstat: waiting for I/O or locks; {facts.parallelism:.2f} cores busy in the traced run, the "
        "tracer's cost included): the work overlapped its waiting, not its computing.",
        view.evidence(facts, mix),
    )


def core_contention(facts: RunFacts, view: ThreadView, label: str, mix: dict[str, int]) -> Finding | None:
    """Two or more threads wanted a core most of their life (hungry) but waited in the run queue a
    large share of that: short of cores (not waiting; the GIL ruled out only if they hardly slept).
    Checked after `threads_waiting`, which takes the runs whose threads mostly slept."""
    hungry, queued = view.hungry, view.queued
    if len(hungry) < 2 or queued < RUNQ_FRACTION:
        return None
    slept = sum(t.sleep_s for t in hungry) / sum(t.span_s for t in hungry)
    # a thread waiting for the GIL sleeps; threads that hardly slept were not waiting for it
    gil = (
        "not of the GIL (they hardly slept, and a thread waiting for the GIL sleeps)"
        if slept < NO_SLEEP_FRACTION
        else f"and whether they also took turns on the GIL is unknown from this run (they slept {slept * 100:.0f}% "
        "of their life, and a thread queued for a core shows no GIL rhythm; rerun on a quieter machine)"
    )
    # schedstat says that they queued, not who held the cores
    holders = (
        f"more of its threads wanted a core than this {facts.cores}-core machine has, and other programs "
        "(tracekit's sampler among them) may have held cores too"
        if len(hungry) > facts.cores
        else "other threads or programs held the cores (tracekit's sampler among them)"
    )
    return Finding(
        "core-contention",
        "info",
        f"short of cores, {gil}: up to {label} were in flight and kept {facts.parallelism:.2f} cores busy; the "
        f"kernel saw {len(hungry)} threads runnable most of their life but waiting for a free core "
        f"{queued * 100:.0f}% of that time (schedstat): {holders}.",
        {**view.evidence(facts, mix), "hungry_sleep_fraction": round(slept, 3), "cores": facts.cores},
    )


def serialised(facts: RunFacts, label: str, mix: dict[str, int]) -> Finding:
    """Two or more in flight, between half a core and one core busy, and no evidence from the threads
    or the GIL. The traced run's CPU is inflated by the tracer (call-heavy code up to ~5x), so the CPU
    figure alone cannot say the program is CPU-bound: say so. A capture without a per-call hook
    (--sampled: the stack sampler keeps under 2% of a core; --sample-only) leaves the CPU the program's."""
    p = facts.parallelism
    if not facts.per_call_cost:
        return Finding(
            "serialised",
            "info",
            f"concurrent, one core at most: up to {label} were in flight and together kept {p:.2f} cores busy, "
            f"with no tracer to inflate it (this capture hooks no calls): the program computed {min(p, 1.0):.0%} of "
            "its run, one unit at a time, so its units took turns on a core rather than running in parallel; more "
            "of them cannot make that part faster, and CPU work spread over processes could.",
            {**facts.base_evidence(), "in_flight_at_peak": mix, "per_call_cost": False},
        )
    return Finding(
        "serialised",
        "info",
        f"concurrent, one core at most: up to {label} were in flight and together kept {p:.2f} cores busy in "
        "the traced run. Whether the program itself is CPU-bound is unknown from this run: tracing makes "
        "call-heavy code up to ~5x slower and its CPU larger; `tracekit compare` times it untraced.",
        {**facts.base_evidence(), "in_flight_at_peak": mix},
    )


def generator_coroutines(generators: dict[str, int]) -> Finding | None:
    """Generator instances driven as coroutines (generator units, see analysis/units.py), by function."""
    if not generators:
        return None
    listing = ", ".join(f"{short(n)} ({k} instances)" for n, k in list(generators.items())[:5])
    return Finding(
        "generator-coroutines",
        "info",
        f"generator coroutines: {sum(generators.values())} generator instances were driven by next() as "
        f"coroutines, interleaved on one thread ({listing}); each is a unit in flight from its first resume "
        "to the resume that finished it.",
        {"instances": generators},
    )


def mostly_waiting(facts: RunFacts) -> Finding | None:
    """CPU below 10% of wall: tracing only adds CPU, so this holds for the untraced program too."""
    if not (facts.parallelism < 0.1 and facts.wall_s > 0.2 and facts.cpu_known):
        return None
    how = "trio nurseries, threads" if facts.framework == "trio" else "asyncio, threads"
    return Finding(
        "mostly-waiting",
        "info",
        f"mostly waiting: CPU time was {facts.cpu_s:.2f} s in {facts.wall_s:.2f} s of wall time; the program is "
        f"bound by sleeping or I/O, so overlapping the waits ({how}) is what speeds it up.",
        facts.base_evidence(),
    )


def untraced_helpers(helpers: list[str], facts: RunFacts) -> Finding | None:
    if not helpers:
        return None
    h = round(facts.helpers_cpu_s, 3)  # the evidence's figure, so that the message states the same one
    counted = (
        f" They used {h:.2f} s of CPU ({h / facts.wall_s:.2f} cores on average): counted in the run's CPU and "
        "parallelism, but left out of the verdicts on the program's own processes, threads and tasks."
        if h and facts.wall_s > 0
        else " Their CPU and memory are counted."
    )
    return Finding(
        "untraced-helpers",
        "info",
        f"not traced, as expected (no data lost): {'; '.join(helpers[:5])}"
        + (f"; and {len(helpers) - 5} more" if len(helpers) > 5 else "")
        + "."
        + counted,
        {"helpers": helpers, **({"helpers_cpu_s": round(h, 3)} if h else {})},
    )


# A thread waiting for the GIL sleeps on a condition variable with a 5 ms timeout (sys.getswitchinterval),
# so it is woken hundreds of times a second while it waits; a thread blocked on a Lock, a Queue or I/O
# sleeps until it is released (a few wake-ups a second), and a thread in C code that released the GIL
# does not sleep at all (on a loaded machine it waits in the run queue instead). Measured here: 3 Python
# CPU threads each on a CPU 33-40% of the time, asleep ~60%, ~260 voluntary switches/s; lock or queue
# waiters ~0% on a CPU and 0-66/s; numpy/hashlib threads asleep 0-2%.
# On a machine other jobs kept busy (load 4.7 on 2 cores) the same threads were on a CPU 18%, queued 35%,
# asleep 47%, ~135-160 voluntary switches/s: hence the loose per-thread bounds, and the group bound
# GIL_MIN_DEMAND: with the GIL contended some thread always holds it, on a CPU or queued for one, while
# threads of an I/O pool are mostly all asleep at once. A GIL waiter sleeps in waits of at most the 5 ms
# switch interval (it wakes when the GIL is dropped, or times out and asks for it), so a group asleep
# longer than that per voluntary switch on average was waiting on something else: at load ~9 on 2 cores
# the traced threads of an I/O pool (corpus threads_http, 3.13) were on a CPU 3-8%, queued 30-50%,
# asleep 40-60%, woken 60-110 times a second, and with the queue "wanted" over a core: every other
# criterion met, but asleep 6.4 ms per wake-up; GIL threads measured 2.3 ms (quiet) to 3.8 ms (load 6).
GIL_MIN_SPAN_S = 0.2
GIL_MIN_ONCPU = 0.05  # a thread that hardly ran was not competing for the GIL
GIL_MIN_ASLEEP = 0.3
GIL_MIN_WAKEUPS_PER_S = 50.0
GIL_MIN_DEMAND = 0.8  # the lower bound on CPU: Σ (on a CPU + queued) of the contenders, in cores
GIL_MAX_SLEEP_PER_WAKEUP_S = 0.005  # sys.getswitchinterval(): the longest a GIL waiter sleeps at a time


NO_C_CALLS = (
    " This capture records no C calls, so sleep inside them (I/O, a lock) counted as GIL waits: whether these "
    "threads waited for the GIL or for I/O is unknown from it (an I/O thread pool of many threads on a busy "
    "machine can look the same); the default capture tells them apart."
)


def gil_sleep(t: ThreadSched) -> float:
    """The most of a thread's sleep that can have been waiting for the GIL to run Python: no more than
    its time outside traced C calls (in_c_s). A thread inside socket.recv, SimpleQueue.get or
    SSLContext.set_default_verify_paths waits for I/O, for work or for its C code; it takes the GIL back at
    the call's end, but that it slept there says nothing of the GIL. Measured (default capture, corpus
    threads_http traced 80 times on 3.12 and 40 on 3.13): the pool's threads that met every other GIL
    criterion were 85-99% of their sampled life inside C calls; threads of pure-Python arithmetic
    (threads_gil, 16 runs at load 1-3) 0-17%."""
    return max(0.0, min(t.sleep_s, t.span_s - t.in_c_s))


def gil_contender(t: ThreadSched) -> bool:
    """On a CPU a real share of its time, yet asleep a large share in what can be GIL waits (gil_sleep),
    woken at the GIL's switch interval."""
    span = t.span_s
    return (
        span >= GIL_MIN_SPAN_S
        and t.oncpu_s >= GIL_MIN_ONCPU * span
        and gil_sleep(t) >= GIL_MIN_ASLEEP * span
        and t.voluntary >= GIL_MIN_WAKEUPS_PER_S * span
    )


def gil_bound(threads: list[ThreadSched], c_calls_known: bool = True) -> Finding | None:
    """Two or more threads of one process that each ran on a CPU and slept in the GIL's rhythm while
    together they used about one core at most (the kernel's schedstat; see gil_contender). Without
    traced C calls (--sampled, --sample-only) their sleep inside C calls cannot be left out: said so."""
    by_pid: dict[int, list[ThreadSched]] = {}
    for t in threads:
        if gil_contender(t):
            by_pid.setdefault(t.pid, []).append(t)
    for pid, grp in sorted(by_pid.items(), key=lambda kv: -len(kv[1])):
        span = max(t.span_s for t in grp)
        oncpu = sum(t.oncpu_s for t in grp)
        cores_used = oncpu / span
        demand = (oncpu + sum(t.runq_s for t in grp)) / span
        if len(grp) < 2 or cores_used > PARALLEL_CORES or demand < GIL_MIN_DEMAND:
            continue
        if sum(t.sleep_s for t in grp) > GIL_MAX_SLEEP_PER_WAKEUP_S * sum(t.voluntary for t in grp):
            continue  # they slept longer per wake-up than a GIL waiter can: on I/O or locks
        asleep = sum(gil_sleep(t) for t in grp)
        longer = sum(t.sleep_s for t in grp) - asleep
        runq = sum(t.runq_s for t in grp)
        wake = sum(t.voluntary for t in grp) / sum(t.span_s for t in grp)
        share = sum(t.oncpu_s / t.span_s for t in grp) / len(grp)
        c_note = f" outside C calls (and {longer:.2f} s inside them, not counted)" if longer >= 0.01 else ""
        busy_note = f", and {runq:.2f} s runnable with no free core" if runq >= 0.1 * span else ""
        return Finding(
            "gil-bound",
            "warning",
            f"GIL-bound: {len(grp)} threads of pid {pid} each ran on a CPU only {share * 100:.0f}% of the time and "
            f"slept {asleep:.2f} s in all{c_note}, woken ~{wake:.0f} times a second per thread (the GIL's 5 ms "
            f"switch interval){busy_note}, while together they used {cores_used:.2f} cores: they took turns holding "
            "the GIL, which lets one thread run Python at a time. Use processes (multiprocessing, "
            f"ProcessPoolExecutor) for CPU-bound Python.{'' if c_calls_known else NO_C_CALLS}",
            {"pid": pid, "threads": len(grp), "cores_used": round(cores_used, 3), "gil_wait_s": round(asleep, 3),
             "in_c_sleep_s": round(longer, 3), "runq_s": round(runq, 3), "demand_cores": round(demand, 3),
             "wakeups_per_s": round(wake, 1), "thread_cpu_s": round(oncpu, 3), "span_s": round(span, 3),
             "c_calls_known": c_calls_known, "tids": [t.tid for t in grp]},
        )  # fmt: skip
    return None
