"""Verdicts as data: sequential, concurrent-not-parallel, GIL-bound, parallel, loop-blocked,
mostly-waiting and data-loss findings, most important first (pure pandas)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tracekit.analysis.functions import name_mask, split_name
from tracekit.analysis.model import Finding

LOOP_BLOCK_THRESHOLD_S = 0.1  # asyncio debug mode's slow_callback_duration
ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class LoopBlock:
    """One task step (a resume) or plain callback that held the event loop longer than the threshold."""

    task: str  # the task's name, or "callback" for a plain loop callback (call_soon, call_later)
    pid: int
    start_s: float
    dur_s: float
    chain: list[str]  # caller chain from the step's coroutine (or callback) down to the slowest leaf


def _chain(events: pd.DataFrame, parent: np.ndarray, top: int, leaf: int) -> list[str]:
    chain = []
    i = leaf
    while i >= 0:
        chain.append(str(events.at[i, "name"]))
        if i == top:
            break
        i = int(parent[i])
    return list(reversed(chain))


def _culprit(events: pd.DataFrame, top: int) -> int:
    """The slice under `top` (same track, inside its span) with the most self time."""
    row = events.loc[top]
    sub = events[(events["pid"] == row["pid"]) & (events["tid"] == row["tid"])]
    sub = sub[(sub["start_us"] >= row["start_us"]) & (sub["end_us"] <= row["end_us"])]
    return int(sub["self_us"].idxmax())


def loop_blocks(events: pd.DataFrame, tracks: pd.DataFrame, t0_us: float, threshold_s: float) -> list[LoopBlock]:
    """Task steps (outermost slices on task tracks) and plain callbacks (`Handle._run` slices that no
    task step explains) longer than the threshold, each with its culprit: the descendant with the
    most self time, and the chain of calls leading to it."""
    if events.empty:
        return []
    tasks = tracks[tracks["kind"] == "task"]
    keys = set(zip(tasks["pid"], tasks["tid"], strict=True))
    names = dict(zip(zip(tasks["pid"], tasks["tid"], strict=True), tasks["name"], strict=True))
    track = events["pid"].to_numpy(dtype=np.int64) * 2**32 + events["tid"].to_numpy(dtype=np.int64)
    on_task = np.isin(track, np.array([p * 2**32 + t for p, t in keys], dtype=np.int64))
    long = events["dur_us"].to_numpy() >= threshold_s * 1e6
    parent = events["parent"].to_numpy()
    steps = events[on_task & long & (events["depth"].to_numpy() == 0)]
    out = []
    for idx, step in steps.iterrows():
        out.append(
            LoopBlock(
                task=str(names[(step["pid"], step["tid"])]),
                pid=int(step["pid"]),
                start_s=(float(step["start_us"]) - t0_us) / 1e6,
                dur_s=float(step["dur_us"]) / 1e6,
                chain=_chain(events, parent, int(idx), _culprit(events, int(idx))),
            )
        )
    handles = events[~on_task & long & name_mask(events["name"], lambda n: n.str.startswith("Handle._run ("))]
    for idx, h in handles.iterrows():
        # a task step runs inside a Handle._run too; only a callback no step overlaps is new
        overlap = steps[
            (steps["pid"] == h["pid"]) & (steps["start_us"] < h["end_us"]) & (steps["end_us"] > h["start_us"])
        ]
        if len(overlap):
            continue
        children = events.index[parent == idx]
        if len(children) == 0:
            continue
        first = int(children[0])
        out.append(
            LoopBlock(
                task="callback",
                pid=int(h["pid"]),
                start_s=(float(h["start_us"]) - t0_us) / 1e6,
                dur_s=float(h["dur_us"]) / 1e6,
                chain=_chain(events, parent, first, _culprit(events, int(idx))),
            )
        )
    return sorted(out, key=lambda b: b.start_s)


DRIVERS = ("builtins.next", "generator.send", "generator.throw")


def generator_resumes(events: pd.DataFrame) -> dict[str, int]:
    """Python functions resumed by next()/send()/throw() more than once: generator coroutines, with
    their resume counts (a plain `for` loop over a generator calls no driver and is not counted)."""
    if events.empty:
        return {}
    parent = events["parent"].to_numpy()
    is_driver = name_mask(events["name"], lambda n: n.isin(DRIVERS))
    # Python code, but not an iterator class's __next__ (next() calls those too)
    is_python = name_mask(events["name"], lambda n: n.str.endswith(")") & ~n.str.contains(r"\.__next__ \(", regex=True))
    driven = (parent >= 0) & is_driver[parent.clip(min=0)] & is_python
    counts = events["name"][driven].astype(str).value_counts()
    return {str(k): int(v) for k, v in counts.items() if v > 1}


def short(name: str) -> str:
    """'count (/a/b/x.py:7)' → 'count (x.py:7)'."""
    func, file, line = split_name(name)
    return f"{func} ({file.rsplit('/', 1)[-1]}:{line})" if file else func


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
) -> list[Finding]:
    parallelism = cpu_s / wall_s if wall_s > 0 else 0.0
    workers = units[units["role"] == "worker"] if len(units) else units
    n_proc = int((workers["kind"] == "process").sum()) if len(units) else 0
    n_thr = int((workers["kind"] == "thread").sum()) if len(units) else 0
    out: list[Finding] = [Finding("data-loss", "warning", w) for w in loss_warnings]
    ev = {"parallelism": round(parallelism, 3), "concurrency_peak": peak, "cpu_s": round(cpu_s, 3)}
    if blocks:
        worst = max(blocks, key=lambda b: b.dur_s)
        total = sum(b.dur_s for b in blocks)
        culprit = worst.chain[-1]
        steps = [c for c in worst.chain if c != "_contextvars.Context.run"]
        where = "a callback" if worst.task == "callback" else f"task {worst.task}"
        if len(steps) > 1:  # a call inside the step blocked: name the chain down to it
            culprit_text = f"{short(culprit)}: {' → '.join(short(c) for c in steps)}"
            fix = (
                "await an async equivalent (asyncio.sleep, an async client) or move it to a thread (asyncio.to_thread)"
            )
        else:  # the coroutine's own code ran that long between two awaits: CPU work on the loop
            culprit_text = f"the code of {short(culprit)} itself, running without an await"
            fix = "move CPU-bound work off the loop (loop.run_in_executor with a ProcessPoolExecutor)"
        out.append(
            Finding(
                "loop-blocked",
                "warning",
                f"event loop blocked {len(blocks)}x for {total:.2f} s in all (longest {worst.dur_s:.2f} s in "
                f"{where}) by {culprit_text}. Nothing else on the loop can run meanwhile; {fix}.",
                {"blocks": len(blocks), "blocked_s": round(total, 3), "max_s": round(worst.dur_s, 3),
                 "culprit": culprit, "chain": worst.chain, "task": worst.task},
            )
        )  # fmt: skip
    gil = gil_bound(units)
    if gil is not None:
        out.append(gil)
    if n_proc >= 1 and parallelism > 1.15:
        ideal = min(n_proc, cores)
        out.append(
            Finding(
                "parallel",
                "info",
                f"parallel: {n_proc} processes kept {parallelism:.2f} cores busy on average "
                f"(ideal speed-up on this {cores}-core machine: {ideal}x).",
                {**ev, "processes": n_proc, "cores": cores, "ideal_speedup": ideal},
            )
        )
    elif peak >= 2 and parallelism < 0.5:
        what = "processes" if n_proc else "threads" if n_thr else "tasks"
        out.append(
            Finding(
                "concurrent-not-parallel",
                "info",
                f"concurrent, not parallel: up to {peak} {what} were in flight at once, but the CPU was busy only "
                f"{parallelism * 100:.0f}% of one core: the work overlapped its waiting, not its computing.",
                ev,
            )
        )
    elif peak >= 2 and gil is None and not blocks and parallelism >= 0.5:
        out.append(
            Finding(
                "serialised",
                "info",
                f"concurrent but serialised: up to {peak} units were in flight, yet together they kept only "
                f"{parallelism:.2f} cores busy; CPU-bound work needs processes to run in parallel.",
                ev,
            )
        )
    elif peak <= 1 and not generators:
        out.append(
            Finding(
                "sequential",
                "info",
                "sequential: one unit did all the work, one thing at a time "
                f"({parallelism * 100:.0f}% of a core busy).",
                ev,
            )
        )
    if generators:
        listing = ", ".join(f"{short(n)} {k}x" for n, k in list(generators.items())[:5])
        out.append(
            Finding(
                "generator-coroutines",
                "info",
                f"generator coroutines: resumed by next()/send() on one thread ({listing}); each resume is one "
                "slice in the trace. The trace cannot tell generator instances apart, so they are not counted "
                "as units in flight; the output order shows how they interleaved.",
                {"resumes": generators},
            )
        )
    if parallelism < 0.1 and wall_s > 0.2:
        out.append(
            Finding(
                "mostly-waiting",
                "info",
                f"mostly waiting: CPU time was {cpu_s:.2f} s in {wall_s:.2f} s of wall time; the program is "
                "bound by sleeping or I/O, so overlapping the waits (asyncio, threads) is what speeds it up.",
                ev,
            )
        )
    return sorted(out, key=lambda f: ORDER.get(f.severity, 3))


def gil_bound(units: pd.DataFrame) -> Finding | None:
    """Several threads of one process ready to run Python at once while together they got about one
    core at most: the GIL serialised them.

    "Ready to run Python" is the self time of Python functions on a thread's track (python_s),
    which excludes time blocked in C calls such as time.sleep; it does not depend on how loaded the
    machine was, so the verdict holds on a busy machine too.
    """
    if units.empty or "python_s" not in units:
        return None
    thr = units[(units["kind"] == "thread") & (units["role"] == "worker") & units["cpu_s"].notna()]
    for pid, grp in thr.groupby("pid"):
        busy = grp[grp["python_s"] > 0.5 * grp["wall_s"]]
        if len(busy) < 2:
            continue
        span = float(busy["end_s"].max() - busy["start_s"].min())
        if span <= 0:
            continue
        ready = float(busy["python_s"].sum()) / span  # threads that wanted to run Python, on average
        cores_used = float(busy["cpu_s"].sum()) / span
        if ready >= 1.5 and cores_used <= 1.15:
            waited = float((busy["python_s"] - busy["cpu_s"]).clip(lower=0).sum())
            return Finding(
                "gil-bound",
                "warning",
                f"GIL-bound: {len(busy)} threads of pid {pid} were running Python at once ({ready:.1f} on average) "
                f"but together used {cores_used:.2f} cores, waiting {waited:.2f} s in all for the GIL, which lets "
                "one thread run Python at a time. Use processes (multiprocessing, ProcessPoolExecutor) for "
                "CPU-bound Python.",
                {"pid": int(pid), "threads": len(busy), "ready_threads": round(ready, 3),
                 "cores_used": round(cores_used, 3), "gil_wait_s": round(waited, 3),
                 "thread_cpu_s": round(float(busy["cpu_s"].sum()), 3), "span_s": round(span, 3)},
            )  # fmt: skip
    return None
