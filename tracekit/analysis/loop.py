"""Event-loop blocking (pure pandas): which loop callbacks (task steps and plain callbacks) held an
event loop longer than the threshold, from the structure record's exact step times, with the
culprit from the function slices inside the step where the tracer kept them.

A loop step exists only where an event loop ran it (the recorder wraps `Handle._run`), so forked
workers, threads and processes that run no loop have none. Durations are measured under the
tracer, which slows Python calls (about 5x on call-heavy code, `TRACER_STRETCH_MAX`) but not
waiting (sleep, blocking I/O). So each block gets a lower bound on its untraced duration: its wait
(less the time the loop thread was queued for a core, schedstat: a busy machine's, not the program's)
plus its CPU time divided by that stretch; a block is certain when even the lower bound passes the
threshold, and "possible" otherwise (the finding says so, with the numbers).

A loop can also be saturated without one long step: many short ones that together keep it busy
(`loop_load`, the busiest loop's share of the script's window in steps). Its untraced lower bound
takes the loop thread's CPU over the window as the steps' CPU (the loop's own select and bookkeeping
between steps make it an overestimate, so the bound stays a bound).
"""

from __future__ import annotations

import linecache
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tracekit.analysis.cpu import window_cpu
from tracekit.analysis.model import Finding
from tracekit.analysis.units import main_threads
from tracekit.structure import TASK_TID_BASE, Structure, short

LOOP_BLOCK_THRESHOLD_S = 0.1  # asyncio debug mode's slow_callback_duration
TRACER_STRETCH_MAX = 5.0  # the most viztracer slows call-heavy Python (notes/oracles.md: ~5x on 3.11)
LOOP_SATURATED_SHARE = 0.8  # of the script's window in steps: tasks wait for the loop more than for I/O
LOOP_SATURATED_MIN_S = 0.2  # a shorter script says nothing about a steady state
_WRAPPERS = ("tk_run (", "Handle._run (", "_contextvars.Context.run")


@dataclass(frozen=True)
class LoopBlock:
    """One task step (a resume) or plain callback that held its event loop longer than the threshold."""

    task: str  # the task's name, or "callback" for a plain loop callback (call_soon, call_later)
    coroutine: str  # the task's coroutine, or the callback's name
    pid: int
    os_tid: int  # the thread that ran the loop
    start_s: float
    dur_s: float  # as measured under the tracer
    cpu_s: float  # CPU the loop thread used meanwhile (psutil samples); NaN if not sampled
    min_s: float  # lower bound of the untraced duration: wait + cpu / stretch
    certain: bool  # min_s passes the threshold: blocked even if tracing slowed every call the most
    chain: list[str]  # caller chain from the step's code down to the slowest slice; [] unknown
    line: str = ""  # --sampled: "file.py:10: time.sleep(1)", where the chain's last frame sat most; "" unknown


@dataclass(frozen=True)
class LoopLoad:
    """The busiest event loop of the run: how much of the script's window its steps took."""

    pid: int
    os_tid: int  # the thread that ran the loop
    wall_s: float  # the script's window
    busy_s: float  # Σ step durations inside the window, as measured (under the tracer, if any)
    steps: int
    longest_s: float
    cpu_s: float  # the loop thread's CPU over the window (psutil samples); NaN if not sampled
    min_busy_s: float  # lower bound of busy_s untraced: its wait + its CPU / stretch
    stretch: float = TRACER_STRETCH_MAX  # the most the capture slowed CPU work (1: no per-call hook)

    @property
    def share(self) -> float:
        return self.busy_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def min_share(self) -> float:
        return self.min_busy_s / self.wall_s if self.wall_s > 0 else 0.0


def loop_load(
    st: Structure, samples: pd.DataFrame, window_us: tuple[float, float], stretch: float = TRACER_STRETCH_MAX
) -> LoopLoad | None:
    """The loop whose steps took the most of the script's window (clipped to it), or None without steps."""
    lo, hi = window_us
    steps = st.steps
    if steps.empty or hi <= lo:
        return None
    start = steps["start_us"].clip(lower=lo, upper=hi)
    dur = (steps["end_us"].clip(lower=lo, upper=hi) - start).clip(lower=0.0)
    g = steps.assign(busy=dur).groupby(["pid", "loop", "os_tid"], sort=False)["busy"]
    busy, count, longest = g.sum(), g.size(), g.max()
    key = busy.idxmax()
    pid, os_tid, busy_s = int(key[0]), int(key[2]), float(busy[key]) / 1e6
    where = (samples, np.array([pid]), np.array([os_tid]), np.array([lo]), np.array([hi]))
    cpu = float(window_cpu(*where)[0])
    queued = float(window_cpu(*where, column="runq_s")[0])
    return LoopLoad(
        pid=pid, os_tid=os_tid, wall_s=(hi - lo) / 1e6, busy_s=busy_s, steps=int(count[key]),
        longest_s=float(longest[key]) / 1e6, cpu_s=cpu, min_busy_s=untraced_min(busy_s, cpu, queued, stretch),
        stretch=stretch,
    )  # fmt: skip


def untraced_min(dur_s: float, cpu_s: float, queued_s: float, stretch: float) -> float:
    """The lower bound of a measured stretch of loop time without the tracer: its wait, less the time
    queued for a core (the machine's), plus its CPU ÷ stretch. Unknown CPU (NaN) counts as all CPU,
    unknown queueing as none."""
    used = dur_s if cpu_s != cpu_s else min(max(cpu_s, 0.0), dur_s)
    runq = 0.0 if queued_s != queued_s else min(max(queued_s, 0.0), dur_s - used)
    return (dur_s - used - runq) + used / stretch


def loop_blocks(
    st: Structure,
    events: pd.DataFrame,
    tracks: pd.DataFrame,
    samples: pd.DataFrame,
    t0_us: float,
    threshold_s: float = LOOP_BLOCK_THRESHOLD_S,
    stretch: float = TRACER_STRETCH_MAX,
) -> list[LoopBlock]:
    """Steps of `threshold_s` or more (traced time), each with its lower bound and culprit chain."""
    steps = st.steps[st.steps["dur_us"] >= threshold_s * 1e6]
    if steps.empty:
        return []
    where = (
        samples,
        steps["pid"].to_numpy(),
        steps["os_tid"].to_numpy(),
        steps["start_us"].to_numpy(dtype=np.float64),
        steps["end_us"].to_numpy(dtype=np.float64),
    )
    cpu = window_cpu(*where)
    queued = window_cpu(*where, column="runq_s")  # waiting for a core is the machine's, not the program's
    tasks = {
        (int(p), int(t)): (str(n), str(c))
        for p, t, n, c in st.tasks[["pid", "task", "name", "coro"]].itertuples(index=False)
    }
    mains = main_threads(events, tracks)
    out = []
    for s, c, q in zip(steps.itertuples(index=False), cpu.tolist(), queued.tolist(), strict=True):
        dur = float(s.dur_us) / 1e6
        min_s = untraced_min(dur, c, q, stretch)
        name, coro = (
            tasks.get((int(s.pid), int(s.task)), ("callback", str(s.label))) if s.task else ("callback", str(s.label))
        )
        if s.task:  # its calls are on the task's own track (analysis/units.attribute_tasks)
            trace_tid = TASK_TID_BASE + int(s.task)
        else:
            trace_tid = mains.get(int(s.pid), int(s.pid)) if int(s.os_tid) == int(s.pid) else int(s.os_tid)
        out.append(
            LoopBlock(
                task=name,
                coroutine=coro,
                pid=int(s.pid),
                os_tid=int(s.os_tid),
                start_s=(float(s.start_us) - t0_us) / 1e6,
                dur_s=dur,
                cpu_s=float(c),
                min_s=min_s,
                certain=min_s >= threshold_s,
                chain=(chain := culprit_chain(events, int(s.pid), trace_tid, float(s.start_us), float(s.end_us))),
                line=sampled_line(
                    st.stack_samples, int(s.pid), int(s.os_tid), float(s.start_us), float(s.end_us), chain
                ),
            )
        )
    return out


def sampled_line(smp: pd.DataFrame, pid: int, os_tid: int, start_us: float, end_us: float, chain: list[str]) -> str:
    """Where the chain's innermost frame sat longest in [start, end], from the stack samples (each
    holds until the thread's next one): "file.py:LINE: source", or "" if no sample shows it there."""
    if smp.empty or not chain:
        return ""
    th = smp[(smp["pid"] == pid) & (smp["os_tid"] == os_tid)]
    t = th["t_us"].to_numpy(dtype=np.float64)
    first = max(int(np.searchsorted(t, start_us, side="right")) - 1, 0)
    last = int(np.searchsorted(t, end_us, side="left"))
    part = th.iloc[first:last]
    if part.empty:
        return ""
    begin = np.maximum(part["t_us"].to_numpy(dtype=np.float64), start_us)
    stop = np.minimum(np.append(part["t_us"].to_numpy(dtype=np.float64)[1:], end_us), end_us)
    held = pd.Series(np.maximum(stop - begin, 0.0), index=part.index)
    mine = part["leaf"] == chain[-1]
    if not mine.any() or held[mine].max() <= 0:
        return ""
    line = int(held[mine].groupby(part.loc[mine, "line"]).sum().idxmax())
    file = chain[-1].rsplit(" (", 1)[-1].rsplit(":", 1)[0]
    source = linecache.getline(file, line).strip()
    if "#" in source and not any(q in source for q in "'\""):  # the code, not its comment
        source = source.split("#", 1)[0].rstrip()
    source = source if len(source) <= 80 else source[:79] + "…"
    return f"{file.rsplit('/', 1)[-1]}:{line}" + (f": {source}" if source else "")


def culprit_chain(events: pd.DataFrame, pid: int, tid: int, start_us: float, end_us: float) -> list[str]:
    """The slices of track (pid, tid) inside [start, end]: the one with the most self time, and its
    callers up to the step's outermost code (the loop's own wrappers left out); [] when the tracer
    kept nothing there (stopped, filtered, or --sample-only)."""
    if events.empty:
        return []
    inside = events[
        (events["pid"] == pid)
        & (events["tid"] == tid)
        & (events["start_us"] >= start_us)
        & (events["end_us"] <= end_us)
    ]
    if inside.empty:
        return []
    leaf = int(inside["self_us"].idxmax())
    names = events["name"]
    parent = events["parent"].to_numpy()
    chain = []
    i = leaf
    while i >= 0 and i in inside.index:
        chain.append(str(names.iat[i]))
        i = int(parent[i])
    return [c for c in reversed(chain) if not c.startswith(_WRAPPERS)]


FIXES = {  # (a blocking call inside the step, the step's own CPU work) → what to do, in each framework's words
    "": ("await an async equivalent (asyncio.sleep, an async client) or move it to a thread (asyncio.to_thread)",
         "move CPU-bound work off the loop (loop.run_in_executor with a ProcessPoolExecutor)"),
    "trio": ("await an async equivalent (trio.sleep, an async client) or move it to a thread (trio.to_thread.run_sync)",
             "move CPU-bound work off trio's run loop (trio.to_thread.run_sync, or a process pool for Python code)"),
}  # fmt: skip


def loop_finding(
    blocks: list[LoopBlock],
    framework: str = "",
    threshold_s: float = LOOP_BLOCK_THRESHOLD_S,
    sampled: bool = False,
    tracer_stopped: bool = False,
    load: LoopLoad | None = None,
) -> Finding | None:
    """The loop-blocked finding (certain blocks), or loop-maybe-blocked (only blocks that tracing
    may have stretched past the threshold), with the worst block's culprit and the fix for its kind;
    without blocks, whether the busiest loop was saturated by short steps (`load`).
    `sampled`: the slices come from stack samples, which see Python frames only."""
    if not blocks:
        return saturated(load, framework, threshold_s) if load is not None else None
    call_fix, cpu_fix = FIXES.get(framework, FIXES[""])
    loop = "trio's run loop" if framework == "trio" else "event loop"
    certain = [b for b in blocks if b.certain]
    shown = certain or blocks
    worst = max(shown, key=lambda b: b.dur_s)
    total = sum(b.dur_s for b in shown)
    where = "a callback" if worst.task == "callback" else f"task {worst.task} ({short(worst.coroutine)})"
    evidence = {
        "blocks": len(shown),
        "blocked_s": round(total, 3),
        "max_s": round(worst.dur_s, 3),
        "max_untraced_min_s": round(worst.min_s, 3),
        "max_cpu_s": None if worst.cpu_s != worst.cpu_s else round(worst.cpu_s, 3),
        "threshold_s": threshold_s,
        "stretch_max": TRACER_STRETCH_MAX,
        "chain": worst.chain,
        "task": worst.task,
        "culprit": worst.chain[-1] if worst.chain else None,
        **({"line": worst.line} if worst.line else {}),
    }
    culprit_text, fix = _culprit(worst, call_fix, cpu_fix, sampled, tracer_stopped)
    if certain:
        return Finding(
            "loop-blocked",
            "warning",
            f"{loop} blocked {len(shown)}x for {total:.2f} s in all (longest {worst.dur_s:.2f} s in {where}, "
            f"at least {worst.min_s:.2f} s untraced) by {culprit_text}. Nothing else on the loop can run meanwhile; "
            f"{fix}.",
            evidence,
        )
    return Finding(
        "loop-maybe-blocked",
        "info",
        f"{loop} possibly blocked: {len(shown)} step(s) took {threshold_s:.2f} s or more under the tracer "
        f"(longest {worst.dur_s:.2f} s in {where}, by {culprit_text}), but they were CPU work that tracing slows "
        f"up to {TRACER_STRETCH_MAX:.0f}x: untraced the longest took between {worst.min_s:.3f} and "
        f"{worst.dur_s:.2f} s. Unknown whether it blocks without the tracer; check with `tracekit profile "
        "--sample-only` or PYTHONASYNCIODEBUG=1.",
        evidence,
    )


def saturated(load: LoopLoad, framework: str = "", threshold_s: float = LOOP_BLOCK_THRESHOLD_S) -> Finding | None:
    """loop-saturated: the loop's steps took LOOP_SATURATED_SHARE of the script's window even at their
    untraced lower bound; loop-maybe-saturated: only as measured under the tracer."""
    if load.wall_s < LOOP_SATURATED_MIN_S or load.share < LOOP_SATURATED_SHARE:
        return None
    loop = "trio's run loop" if framework == "trio" else "event loop"
    cpu_fix = FIXES.get(framework, FIXES[""])[1]
    evidence = {
        "busy_s": round(load.busy_s, 3), "wall_s": round(load.wall_s, 3), "share": round(load.share, 3),
        "untraced_min_share": round(load.min_share, 3), "steps": load.steps, "longest_s": round(load.longest_s, 4),
        "loop_thread_cpu_s": None if load.cpu_s != load.cpu_s else round(load.cpu_s, 3),
        "threshold_share": LOOP_SATURATED_SHARE, "stretch_max": load.stretch,
    }  # fmt: skip
    steps = f"{load.steps} steps, the longest {load.longest_s * 1e3:.0f} ms, none {threshold_s:.2f} s or more"
    if load.min_share >= LOOP_SATURATED_SHARE:
        bound = f", at least {load.min_share:.0%} untraced" if load.min_share < load.share - 0.005 else ""
        return Finding(
            "loop-saturated",
            "warning",
            f"{loop} saturated: its steps kept it busy {load.share:.0%} of the script's {load.wall_s:.2f} s "
            f"({steps}{bound}): tasks waited for the loop, not for I/O, so more tasks cannot make it faster; "
            f"{cpu_fix}.",
            evidence,
        )
    return Finding(
        "loop-maybe-saturated",
        "info",
        f"{loop} possibly saturated: its steps kept it busy {load.share:.0%} of the script's {load.wall_s:.2f} s "
        + (
            f"under the tracer ({steps}), but that was mostly CPU work, which tracing slows up to "
            f"{load.stretch:.0f}x: untraced between {load.min_share:.0%} and {load.share:.0%}. Unknown whether it "
            "is saturated without the tracer; `tracekit profile --sampled` measures it without that cost."
            if load.stretch > 1
            else f"({steps}), but the loop thread waited for a core for part of it (other programs held the "
            f"cores): on a free machine between {load.min_share:.0%} and {load.share:.0%}. Unknown whether it is "
            "saturated on a machine of its own."
        ),
        evidence,
    )


def _culprit(
    worst: LoopBlock, call_fix: str, cpu_fix: str, sampled: bool, tracer_stopped: bool = False
) -> tuple[str, str]:
    """What held the loop in the worst block, in words, and the fix for that kind."""
    if not worst.chain:
        if tracer_stopped:  # --full would stop at the same place; the sampler does not depend on viztracer
            return "code the tracer did not record (culprit unknown: viztracer had stopped; rerun with --sampled)", (
                "find the call that does not await"
            )
        if sampled:
            return "code the stack sampler did not see (culprit unknown: rerun without --sampled)", (
                "find the call that does not await"
            )
        return "code the tracer did not keep (culprit unknown: rerun with --full to see every call)", (
            "find the call that does not await"
        )
    if len(worst.chain) > 1 or "(" not in worst.chain[-1]:  # a call inside the step blocked
        return f"{short(worst.chain[-1])}: {' → '.join(short(c) for c in worst.chain)}", call_fix
    leaf = short(worst.chain[-1])
    if sampled and worst.cpu_s == worst.cpu_s and worst.cpu_s < 0.5 * worst.dur_s:
        # samples see Python frames only: a C call (time.sleep, a lock, blocking I/O) shows as its caller
        at = f", at {worst.line}" if worst.line else ""
        return (
            f"a call in {leaf} that the stack sampler cannot see into (C code, such as time.sleep, a lock "
            f"or blocking I/O: {worst.cpu_s:.2f} s CPU in {worst.dur_s:.2f} s){at}",
            call_fix,
        )
    # the coroutine's own code ran that long between two awaits: CPU work on the loop
    return f"the code of {leaf} itself, running without an await", cpu_fix
