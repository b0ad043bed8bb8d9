"""CPU, memory and parallelism from the Samples frame (pure pandas).

The process tree's cumulative CPU at a sample is Σ over live processes of own + waited-for
children's CPU: when a parent reaps a child, the child's CPU moves into the parent's children
counters, so the total neither drops nor double-counts.

Timeline frame (`Analysis.timeline`), one row per sample interval:
  t_s         end of the interval, seconds from the script's start
  cores_busy  CPU seconds used by the tree in the interval ÷ its length (2.0 = two cores busy)
  rss_bytes   summed RSS of the tree's processes at the sample
  in_flight   workers in flight at the sample (see units.py)

The analysis's Events frame (`Analysis.events`) is tracekit.trace.frames' Events frame, with asyncio
task slices moved to their task's track (units.attribute_tasks), plus one column from here:
  cpu_s       CPU seconds the slice's OS thread used between its start and end (`slice_cpu`: an
              estimate at the sampling interval's resolution); NaN where that thread was not sampled
analysis.functions and analysis.calltree read it (NaN throughout for a frame without it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tracekit.analysis.functions import split_name
from tracekit.analysis.model import ThreadSched

SAMPLE_DTYPES = {
    "t_ns": "int64",
    "kind": "category",
    "pid": "int64",
    "ppid": "int64",
    "tid": "int64",
    "user_s": "float64",
    "system_s": "float64",
    "children_user_s": "float64",
    "children_system_s": "float64",
    "rss_bytes": "float64",
    "num_threads": "float64",
    "ctx_voluntary": "float64",
    "ctx_involuntary": "float64",
}
# Added later (per-thread schedstat): a run directory written before them lacks these columns, and
# `with_sched_columns` gives such samples NaN there (the GIL verdict is then unknown).
SCHED_DTYPES = {"oncpu_s": "float64", "runq_s": "float64"}


def tree_totals(samples: pd.DataFrame) -> pd.DataFrame:
    """Per sample time: cumulative user_s, system_s of the whole tree, and summed rss_bytes."""
    p = samples[samples["kind"] == "p"]
    if p.empty:
        return pd.DataFrame({"t_ns": [], "user_s": [], "system_s": [], "rss_bytes": []})
    g = p.assign(u=p["user_s"] + p["children_user_s"], s=p["system_s"] + p["children_system_s"]).groupby("t_ns")
    out = pd.DataFrame({"user_s": g["u"].sum(), "system_s": g["s"].sum(), "rss_bytes": g["rss_bytes"].sum()})
    # A reaped child's CPU lands in its parent only when reaped; make the total monotone so a sample
    # that saw neither the child nor its parent's updated counter never reads as negative CPU.
    out["user_s"] = out["user_s"].cummax()
    out["system_s"] = out["system_s"].cummax()
    return out.reset_index()


def cpu_between(totals: pd.DataFrame, start_ns: float, end_ns: float) -> tuple[float, float]:
    """(user_s, system_s) the tree used between two times, interpolating between samples."""
    if len(totals) == 0:
        return 0.0, 0.0
    t = totals["t_ns"].to_numpy(dtype=np.float64)
    out = []
    for col in ("user_s", "system_s"):
        v = totals[col].to_numpy(dtype=np.float64)
        out.append(max(0.0, float(np.interp(end_ns, t, v) - np.interp(start_ns, t, v))))
    return out[0], out[1]


def timeline(totals: pd.DataFrame, start_ns: float, end_ns: float) -> pd.DataFrame:
    """Cores busy per sample interval inside the script's window, and tree RSS."""
    if len(totals) < 2:
        return pd.DataFrame({"t_s": [], "cores_busy": [], "rss_bytes": []})
    t = totals["t_ns"].to_numpy(dtype=np.float64)
    cpu = (totals["user_s"] + totals["system_s"]).to_numpy(dtype=np.float64)
    dt = np.diff(t) / 1e9
    busy = np.divide(np.diff(cpu), dt, out=np.zeros_like(dt), where=dt > 0)
    df = pd.DataFrame({"t_ns": t[1:], "cores_busy": busy, "rss_bytes": totals["rss_bytes"].to_numpy()[1:]})
    # Only intervals that end inside the script's window: the one after it holds the tracer's save.
    df = df[(df["t_ns"] > start_ns) & (df["t_ns"] <= end_ns)]
    return pd.DataFrame(
        {"t_s": (df["t_ns"] - start_ns) / 1e9, "cores_busy": df["cores_busy"], "rss_bytes": df["rss_bytes"]}
    ).reset_index(drop=True)


def unit_cpu(samples: pd.DataFrame, spans: pd.DataFrame) -> np.ndarray:
    """CPU seconds each unit used inside its own span (so a process's start-up and the tracer's save
    are not counted), interpolated from its cumulative samples.

    `spans` has columns kind ("process" or "thread"; others get NaN), pid, os_tid, start_ns, end_ns.
    A process's CPU is its own (its children are units of their own).
    """
    out = np.full(len(spans), np.nan)
    if samples.empty:
        return out
    cum = samples["user_s"] + samples["system_s"]
    series: dict[tuple[str, int, int], tuple[np.ndarray, np.ndarray]] = {}
    for (kind, pid, tid), idx in samples.groupby(["kind", "pid", "tid"], observed=True).groups.items():
        g = samples.loc[idx].sort_values("t_ns")
        series[(str(kind), int(pid), int(tid))] = (g["t_ns"].to_numpy(dtype=np.float64), cum.loc[g.index].to_numpy())
    for i, row in enumerate(spans.itertuples(index=False)):
        key = ("p", int(row.pid), 0) if row.kind == "process" else ("t", int(row.pid), int(row.os_tid))
        if row.kind not in ("process", "thread") or key not in series:
            continue
        t, c = series[key]
        # a unit that started before its first sample began at zero CPU (a new thread or process)
        lo = float(np.interp(row.start_ns, t, c)) if row.start_ns >= t[0] else 0.0
        out[i] = max(0.0, float(np.interp(row.end_ns, t, c)) - lo)
    return out


def sample_gap_s(totals: pd.DataFrame, start_ns: float, end_ns: float) -> float:
    """The longest stretch of the script's window with no sample of the tree (from its start or a
    sample to the next sample, or to its end). On an overloaded machine the sampler can be starved for
    seconds; CPU read across such a gap is a guess."""
    if end_ns <= start_ns:
        return 0.0
    t = np.sort(totals["t_ns"].to_numpy(dtype=np.float64)) if len(totals) else np.zeros(0)
    points = np.concatenate([[start_ns], t[(t > start_ns) & (t < end_ns)], [end_ns]])
    return float(np.diff(points).max()) / 1e9


def with_sched_columns(samples: pd.DataFrame) -> pd.DataFrame:
    """Samples with the per-thread schedstat columns, NaN where a run directory predates them."""
    missing = {c: np.nan for c in SCHED_DTYPES if c not in samples.columns}
    return samples.assign(**missing) if missing else samples


def c_call_time(events: pd.DataFrame, os_tid: dict[tuple[int, int], int]) -> pd.DataFrame:
    """Per traced C-function slice (viztracer names C functions without "(file:line)": socket.recv,
    _queue.SimpleQueue.get, SSLContext.set_default_verify_paths): pid, its OS thread `tid` (`os_tid`, as
    for slice_cpu), start_us, end_us and self_s, the time in the C code itself. A thread inside a C call
    runs C code, or waits in it (I/O, a lock, the GIL taken back at its end), never runs Python; calls
    shorter than the capture's --min-duration are not traced, so their time stays Python's."""
    cols = ["pid", "tid", "start_us", "end_us", "self_s"]
    if events.empty:
        return pd.DataFrame({c: [] for c in cols})
    names = events["name"].astype(str)
    is_c = {n: split_name(n)[1] == "" for n in names.unique().tolist()}  # a few thousand names at most
    c = events[names.map(is_c).to_numpy(dtype=bool)]
    tids = [os_tid.get((int(p), int(t)), int(t)) for p, t in zip(c["pid"].tolist(), c["tid"].tolist(), strict=True)]
    return pd.DataFrame(
        {"pid": c["pid"].to_numpy(), "tid": tids, "start_us": c["start_us"].to_numpy(dtype=np.float64),
         "end_us": c["end_us"].to_numpy(dtype=np.float64), "self_s": c["self_us"].to_numpy(dtype=np.float64) / 1e6}
    )  # fmt: skip


def in_c(c: pd.DataFrame | None, lo_ns: float, hi_ns: float) -> float:
    """Seconds of one thread's C calls `c` (rows of `c_call_time`) inside [lo_ns, hi_ns]: each call's
    self time in the share of the call that falls inside."""
    if c is None or c.empty:
        return 0.0
    start, end = c["start_us"].to_numpy() * 1e3, c["end_us"].to_numpy() * 1e3
    inside = np.clip(np.minimum(end, hi_ns) - np.maximum(start, lo_ns), 0.0, None)
    share = np.divide(inside, end - start, out=np.zeros_like(inside), where=end > start)
    return float((c["self_s"].to_numpy(dtype=np.float64) * share).sum())


def thread_sched(
    samples: pd.DataFrame, start_ns: float, end_ns: float, c_calls: pd.DataFrame | None = None
) -> list[ThreadSched]:
    """Per OS thread with schedstat samples inside [start_ns, end_ns] (at least two): what the kernel
    says it did between its first and last sample there (see ThreadSched), and the time the trace shows
    it inside C calls meanwhile (`c_calls`, from c_call_time; without them: 0)."""
    th = samples[(samples["kind"] == "t") & samples["oncpu_s"].notna()]
    th = th[(th["t_ns"] >= start_ns) & (th["t_ns"] <= end_ns)]
    calls = dict(tuple(c_calls.groupby(["pid", "tid"]))) if c_calls is not None and len(c_calls) else {}
    out = []
    for (pid, tid), g in th.sort_values("t_ns").groupby(["pid", "tid"]):
        if len(g) < 2:
            continue
        first, last = g.iloc[0], g.iloc[-1]
        span = (float(last["t_ns"]) - float(first["t_ns"])) / 1e9
        on = float(last["oncpu_s"] - first["oncpu_s"])
        rq = float(last["runq_s"] - first["runq_s"])
        vol = last["ctx_voluntary"] - first["ctx_voluntary"]
        inv = last["ctx_involuntary"] - first["ctx_involuntary"]
        out.append(
            ThreadSched(
                pid=int(pid), tid=int(tid), span_s=span, oncpu_s=on, runq_s=rq, sleep_s=max(0.0, span - on - rq),
                voluntary=int(vol) if vol == vol else 0, involuntary=int(inv) if inv == inv else 0,
                in_c_s=min(span, in_c(calls.get((pid, tid)), float(first["t_ns"]), float(last["t_ns"]))),
            )
        )  # fmt: skip
    return out


def peak_rss(totals: pd.DataFrame, start_ns: float = -np.inf, end_ns: float = np.inf) -> int:
    """Highest tree RSS at a sample inside the script's window: the program's, not the tracer's save
    after it (viztracer builds its JSON in the traced process, 7-44x the program's memory). A script
    shorter than one interval has no sample inside: the first sample after its start stands for it."""
    if not len(totals):
        return 0
    t = totals["t_ns"]
    inside = totals[(t >= start_ns) & (t <= end_ns)]
    if inside.empty:
        inside = totals[t >= start_ns].head(1) if (t >= start_ns).any() else totals.tail(1)
    return int(inside["rss_bytes"].max())


def save_peak_rss(totals: pd.DataFrame, end_ns: float) -> int | None:
    """Highest tree RSS after the script ended (the tracer's save), None if no sample fell there."""
    after = totals[totals["t_ns"] > end_ns] if len(totals) else totals
    return int(after["rss_bytes"].max()) if len(after) else None


def process_series(samples: pd.DataFrame) -> pd.DataFrame:
    """Per process and sample: cpu_pct (of one core, over the last interval) and rss_bytes."""
    p = samples[samples["kind"] == "p"].sort_values(["pid", "t_ns"])
    cpu = p["user_s"] + p["system_s"]
    dcpu = cpu.groupby(p["pid"]).diff()
    dt = p["t_ns"].groupby(p["pid"]).diff() / 1e9
    pct = (dcpu / dt * 100).where(dt > 0)
    out = pd.DataFrame({"t_ns": p["t_ns"], "pid": p["pid"], "cpu_pct": pct, "rss_bytes": p["rss_bytes"]})
    return out.dropna(subset=["cpu_pct"]).reset_index(drop=True)


def slice_cpu(events: pd.DataFrame, samples: pd.DataFrame, os_tid: dict[tuple[int, int], int]) -> np.ndarray:
    """CPU seconds each traced slice's OS thread used between the slice's start and end (the analysis's
    Events column `cpu_s`, see the module doc).

    Interpolated from the thread's cumulative CPU samples, so it is an estimate at the sampling
    interval's resolution: meaningful for calls of tens of milliseconds and more. `os_tid` maps a
    trace track (pid, tid) to the OS thread that ran it (asyncio task tracks → their loop thread,
    fork children's stale main-thread tid → the child's real one); NaN where no thread was sampled.
    """
    out = np.full(len(events), np.nan)
    th = samples[samples["kind"] == "t"]
    if th.empty or events.empty:
        return out
    series = {
        (int(pid), int(tid)): (g["t_ns"].to_numpy(dtype=np.float64) / 1e3, (g["user_s"] + g["system_s"]).to_numpy())
        for (pid, tid), g in th.sort_values("t_ns").groupby(["pid", "tid"])
    }
    starts = events["start_us"].to_numpy(dtype=np.float64)
    ends = events["end_us"].to_numpy(dtype=np.float64)
    positions = pd.RangeIndex(len(events))
    for (pid, tid), ii in (
        pd.Series(positions).groupby([events["pid"].to_numpy(), events["tid"].to_numpy()]).indices.items()
    ):
        s = series.get((int(pid), os_tid.get((int(pid), int(tid)), int(tid))))
        if s is None:
            continue
        t, c = s
        out[ii] = np.interp(ends[ii], t, c) - np.interp(starts[ii], t, c)
    return out


def window_cpu(
    samples: pd.DataFrame,
    pids: np.ndarray,
    os_tids: np.ndarray,
    starts_us: np.ndarray,
    ends_us: np.ndarray,
    column: str = "",
) -> np.ndarray:
    """CPU seconds OS thread (pid, os_tid) used in each window [start, end] (µs, trace clock),
    interpolated from its cumulative samples (meaningful for windows of tens of ms and more); NaN
    where the thread was not sampled. A process's main thread is sampled as tid == pid. With
    `column` ("runq_s"), that cumulative schedstat column instead: seconds queued for a core."""
    out = np.full(len(pids), np.nan)
    th = samples[samples["kind"] == "t"]
    if column:
        th = th[th[column].notna()] if column in th.columns else th.iloc[0:0]
    if th.empty or not len(pids):
        return out
    series = {
        (int(pid), int(tid)): (
            g["t_ns"].to_numpy(dtype=np.float64) / 1e3,
            (g[column] if column else g["user_s"] + g["system_s"]).to_numpy(dtype=np.float64),
        )
        for (pid, tid), g in th.sort_values("t_ns").groupby(["pid", "tid"])
    }
    keys = pd.Series(np.arange(len(pids))).groupby([np.asarray(pids), np.asarray(os_tids)]).indices
    for (pid, tid), ii in keys.items():
        s = series.get((int(pid), int(tid)))
        if s is None:
            continue
        t, c = s
        out[ii] = np.interp(ends_us[ii], t, c) - np.interp(starts_us[ii], t, c)
    return out
