"""Units of concurrency and how many were in flight over time (pure pandas).

A **worker** is an asyncio task other than an entry task (a task started while no other task of its
process was in flight, such as the one `asyncio.run(main())` creates), a thread other than its
process's main thread, or a child process. A worker is **in flight** from its first traced event to
its last; a task from its creation (its `loop.create_task` call, paired with tasks in creation
order when every task has one) to its last step, since a created task is in flight even while it
waits for the loop. `in_flight(t)` is the number of workers in flight at t, or 1 when none is (the main thread
is then the one unit doing the work), so a program that does everything on its main thread has
concurrency 1 throughout.

Units frame (`Analysis.units`), one row per task, thread or process:
  kind         "process" | "thread" | "task"
  name         as the program named it (raw; renderers escape it)
  pid, tid     OS ids (tid is viztracer's fake id for a task; 0 for a process row)
  parent       for a process its parent pid, for a thread or task its pid
  created_at   for a task, the first caller outside asyncio of its create_task ("main (x.py:13)")
  role         "main" (main process/thread), "entry" (entry task) or "worker"
  start_s, end_s, wall_s   in-flight span, seconds from the script's start
  cpu_s        CPU seconds from psutil (processes: own; threads: per OS thread; tasks: the CPU their
               loop thread used during the task's steps, estimated from samples; NaN if unknown)
  wait_s       wall_s − cpu_s where cpu_s is known: time in flight but not on a CPU
  cpu_ratio    cpu_s / wall_s
  python_s     self time of Python functions on its track: time it was running, or ready to run,
               Python code (not waiting inside a C call such as time.sleep); for a thread, python_s
               well above cpu_s is time spent waiting for the GIL (or for a core)
  slices       traced slices on the unit's track (for a task, one per resume)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tracekit.analysis.cpu import unit_cpu
from tracekit.analysis.functions import name_mask

UNIT_COLUMNS = [
    "kind", "name", "pid", "tid", "parent", "created_at", "role", "start_s", "end_s", "wall_s",
    "cpu_s", "wait_s", "cpu_ratio", "python_s", "slices",
]  # fmt: skip


def main_threads(events: pd.DataFrame, tracks: pd.DataFrame) -> dict[int, int]:
    """pid → tid of its main thread: tid == pid, else (fork children keep their parent's stale tid)
    the thread track holding the process's earliest event."""
    out: dict[int, int] = {}
    threads = tracks[tracks["kind"] == "thread"]
    for pid, grp in threads.groupby("pid"):
        tids = set(grp["tid"].tolist())
        if pid in tids:
            out[int(pid)] = int(pid)
            continue
        ev = events[(events["pid"] == pid) & events["tid"].isin(tids)]
        if len(ev):
            out[int(pid)] = int(ev.iloc[0]["tid"])
    return out


def os_threads(events: pd.DataFrame, tracks: pd.DataFrame) -> dict[tuple[int, int], int]:
    """Trace track (pid, tid) → the OS thread id that ran it: a process's main thread is its pid on
    Linux (fork children carry a stale tid in the trace); an asyncio task runs on its process's main
    thread (tracekit assumes the event loop runs there)."""
    mains = main_threads(events, tracks)
    out: dict[tuple[int, int], int] = {}
    for pid, tid, kind in zip(tracks["pid"].tolist(), tracks["tid"].tolist(), tracks["kind"].tolist(), strict=True):
        out[(pid, tid)] = pid if kind == "task" or mains.get(pid) == tid else tid
    return out


def build_units(
    events: pd.DataFrame,
    tracks: pd.DataFrame,
    root_pid: int,
    ppids: dict[int, int],
    start_us: float,
    samples: pd.DataFrame,
) -> pd.DataFrame:
    """One row per unit (see module doc). `start_us` is the script's start on the trace clock."""
    span = events.groupby(["pid", "tid"]).agg(
        start_us=("start_us", "min"), end_us=("end_us", "max"), slices=("start_us", "size")
    )
    top = events[events["depth"] == 0]
    step_cpu = (
        top.groupby(["pid", "tid"])["cpu_s"].sum(min_count=1) if "cpu_s" in events else pd.Series(dtype="float64")
    )
    is_py = name_mask(events["name"], lambda n: n.str.endswith(")"))
    py_self = pd.Series(np.where(is_py, events["self_us"].to_numpy(dtype=np.float64), 0.0) / 1e6)
    python_s = py_self.groupby([events["pid"].to_numpy(), events["tid"].to_numpy()]).sum()
    span_map = {k: (float(v[0]), float(v[1]), int(v[2])) for k, v in zip(span.index, span.to_numpy(), strict=True)}
    pspan = events.groupby("pid").agg(start_us=("start_us", "min"), end_us=("end_us", "max"))
    pcount = events.groupby("pid").size()
    mains = main_threads(events, tracks)
    rows: list[dict[str, object]] = []
    for pid, ps in pspan.iterrows():
        pid = int(pid)
        pname = tracks.loc[tracks["pid"] == pid, "process_name"]
        rows.append(
            dict(kind="process", name=pname.iloc[0] if len(pname) else f"pid {pid}", pid=pid, tid=0,
                 parent=ppids.get(pid, 0), role="main" if pid == root_pid else "worker",
                 start_us=ps["start_us"], end_us=ps["end_us"], cpu_s=np.nan, os_tid=0,
                 slices=int(pcount[pid]))
        )  # fmt: skip
    for tr in tracks.itertuples(index=False):
        key = (int(tr.pid), int(tr.tid))
        if key not in span_map:
            continue
        sp_start, sp_end, sp_slices = span_map[key]
        os_tid = 0
        if tr.kind == "thread":
            role = "main" if mains.get(key[0]) == key[1] else "worker"
            cpu, os_tid = np.nan, key[0] if role == "main" else key[1]
        else:
            role = "worker"
            cpu = float(step_cpu.get(key, np.nan))
        rows.append(
            dict(kind=tr.kind, name=tr.name, pid=key[0], tid=key[1], parent=key[0], role=role,
                 start_us=sp_start, end_us=sp_end, cpu_s=cpu, os_tid=os_tid, slices=sp_slices,
                 python_s=float(python_s.get(key, 0.0)))
        )  # fmt: skip
    if not rows:
        return pd.DataFrame(columns=UNIT_COLUMNS)
    units = pd.DataFrame(rows)
    units["created_at"] = ""
    task_creation(events, units)
    mark_entry_tasks(units)
    units["start_s"] = (units["start_us"] - start_us) / 1e6
    units["end_s"] = (units["end_us"] - start_us) / 1e6
    units["wall_s"] = units["end_s"] - units["start_s"]
    spans = pd.DataFrame({"kind": units["kind"], "pid": units["pid"], "os_tid": units["os_tid"],
                          "start_ns": units["start_us"] * 1e3, "end_ns": units["end_us"] * 1e3})  # fmt: skip
    measured = unit_cpu(samples, spans)
    units["cpu_s"] = np.where(np.isnan(measured), units["cpu_s"].astype("float64"), measured)
    units["wait_s"] = (units["wall_s"] - units["cpu_s"]).clip(lower=0)
    units["cpu_ratio"] = units["cpu_s"] / units["wall_s"].where(units["wall_s"] > 0)
    order = {"process": 0, "thread": 1, "task": 2}
    units = units.sort_values(["kind", "start_s"], key=lambda c: c.map(order) if c.name == "kind" else c)
    return units[UNIT_COLUMNS].reset_index(drop=True)


def task_creation(events: pd.DataFrame, units: pd.DataFrame) -> None:
    """Move each task's start back to its creation, and record where it was created.

    asyncio runs new tasks first-in first-out, so the k-th `BaseEventLoop.create_task` call of a
    process created the k-th task to take its first step. Only when the counts agree (no custom task
    factory, no tasks built directly) is the pairing trusted; otherwise first steps are kept.
    """
    creates = events[name_mask(events["name"], lambda n: n.str.startswith("BaseEventLoop.create_task ("))]
    parent = events["parent"].to_numpy()
    all_names = events["name"].to_numpy()
    for pid, grp in units[units["kind"] == "task"].groupby("pid"):
        calls = creates[creates["pid"] == pid].sort_values("start_us", kind="stable")
        if len(calls) != len(grp):
            continue
        tasks = grp.sort_values("start_us", kind="stable")
        created = calls["start_us"].to_numpy(dtype=np.float64)
        units.loc[tasks.index, "start_us"] = np.minimum(created, tasks["start_us"].to_numpy(dtype=np.float64))
        units.loc[tasks.index, "created_at"] = [creation_site(int(c), parent, all_names) for c in calls.index]


def creation_site(i: int, parent: np.ndarray, names: np.ndarray) -> str:
    """The first caller of slice i whose code is not asyncio's own."""
    while i >= 0:
        name = str(names[i])
        if "/asyncio/" not in name and "(" in name:
            func, _, where = name.rpartition(" (")
            return f"{func} ({where.rsplit('/', 1)[-1]}"
        i = int(parent[i])
    return ""


def mark_entry_tasks(units: pd.DataFrame) -> None:
    """A task started while no other task of its process was in flight is an entry task."""
    tasks = units[units["kind"] == "task"].sort_values(["pid", "start_us"], kind="stable")
    for _pid, grp in tasks.groupby("pid"):
        ends = grp["end_us"].to_numpy(dtype=np.float64)
        open_until = np.concatenate([[-np.inf], np.maximum.accumulate(ends)[:-1]])
        entry = grp["start_us"].to_numpy(dtype=np.float64) >= open_until
        units.loc[grp.index[entry], "role"] = "entry"


def in_flight_steps(units: pd.DataFrame, wall_s: float) -> pd.DataFrame:
    """Step series (t_s, in_flight) over [0, wall_s]: workers in flight, or 1 when none is."""
    w = units[units["role"] == "worker"]
    starts = np.clip(w["start_s"].to_numpy(dtype=np.float64), 0, wall_s)
    ends = np.clip(w["end_s"].to_numpy(dtype=np.float64), 0, wall_s)
    times = np.concatenate([[0.0], starts, ends])
    deltas = np.concatenate([[0], np.ones(len(starts), dtype=np.int64), -np.ones(len(ends), dtype=np.int64)])
    df = pd.DataFrame({"t_s": times, "d": deltas}).groupby("t_s", as_index=False)["d"].sum()
    df["workers"] = df["d"].cumsum()
    df["in_flight"] = df["workers"].where(df["workers"] > 0, 1).astype("int64")
    return df[["t_s", "in_flight"]].reset_index(drop=True)


def concurrency_summary(steps: pd.DataFrame, wall_s: float) -> tuple[int, float]:
    """(peak, time-weighted mean) of a step series over [0, wall_s]."""
    if steps.empty or wall_s <= 0:
        return 1, 1.0
    t = steps["t_s"].to_numpy(dtype=np.float64)
    v = steps["in_flight"].to_numpy(dtype=np.float64)
    dur = np.diff(np.append(t, wall_s)).clip(min=0)
    peak = int(v[dur > 0].max()) if (dur > 0).any() else int(v.max())
    return peak, float((v * dur).sum() / wall_s)


def in_flight_at(steps: pd.DataFrame, times_s: np.ndarray) -> np.ndarray:
    """The step series evaluated at given times (for the sampled timeline)."""
    if steps.empty:
        return np.ones(len(times_s), dtype=np.int64)
    t = steps["t_s"].to_numpy(dtype=np.float64)
    idx = np.searchsorted(t, times_s, side="right") - 1
    values: np.ndarray = steps["in_flight"].to_numpy(dtype=np.int64)
    return values[np.clip(idx, 0, len(t) - 1)]
