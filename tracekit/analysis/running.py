"""When each unit was actually running, not only in flight (pure pandas).

Running frame (`Analysis.running`), one row per interval, in the order of the Units frame:
  unit       the unit's row position in the Units frame (0 = its first row)
  kind       the unit's kind: process | thread | task | generator
  start_s, end_s   seconds from the script's start (the clock of the Units frame)
  level      0..1 for a task or generator unit: 1 for each of its steps (a task's step held its event
             loop; a generator's resume ran its body), exact, from the structure record.
             For a thread or process: the CPU it used per second between two psutil samples (its share
             of one core; above 1 for a process whose threads ran in parallel), an estimate at the
             sampling interval. A thread that is not the main one reads its own thread samples; a
             process and its main thread read the process's (a fork child's main thread reports a stale tid).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tracekit.structure import GEN_TID_BASE, TASK_TID_BASE, Structure

RUNNING_COLUMNS = ["unit", "kind", "start_s", "end_s", "level"]


def running_frame(
    units: pd.DataFrame, structure: Structure, samples: pd.DataFrame, script_start_us: float
) -> pd.DataFrame:
    """The Running frame of `units` (see the module docstring)."""
    if units.empty:
        return pd.DataFrame(columns=RUNNING_COLUMNS)
    parts = [
        _stepped(units, "task", structure.steps, "task", TASK_TID_BASE, script_start_us),
        _stepped(units, "generator", structure.gens, "gen", GEN_TID_BASE, script_start_us),
    ]
    threads = _groups(samples[samples["kind"] == "t"], ["pid", "tid"]) if len(samples) else {}
    procs = _groups(samples[samples["kind"] == "p"], ["pid"]) if len(samples) else {}
    for i, u in enumerate(units.itertuples(index=False)):
        if u.kind in ("task", "generator"):
            continue
        pid, tid = int(u.pid), int(u.tid)
        if u.kind == "thread" and u.role != "main":
            start, end, level = _cpu_rates(threads.get((pid, tid)), script_start_us)
        else:
            start, end, level = _cpu_rates(procs.get((pid,)), script_start_us)
        if len(start):
            parts.append(pd.DataFrame({"unit": i, "kind": str(u.kind), "start_s": start, "end_s": end, "level": level}))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=RUNNING_COLUMNS)
    # in the order of the Units frame, each unit's intervals in their own order
    out = pd.concat(parts, ignore_index=True).sort_values("unit", kind="stable")
    return out[RUNNING_COLUMNS].reset_index(drop=True)


def _stepped(
    units: pd.DataFrame, kind: str, frame: pd.DataFrame, key: str, tid_base: int, script_start_us: float
) -> pd.DataFrame:
    """The steps (tasks) or resumes (generator units) of every unit of `kind` at once, level 1: each
    unit's row found by (pid, id) in one lookup (a frame a unit took ~0.8 s for 8,000 aiohttp tasks)."""
    rows = np.flatnonzero((units["kind"] == kind).to_numpy())
    if not len(rows) or frame.empty:
        return pd.DataFrame(columns=RUNNING_COLUMNS)
    ids = pd.Series(rows, index=pd.MultiIndex.from_arrays([
        units["pid"].to_numpy()[rows].astype(np.int64), units["tid"].to_numpy()[rows].astype(np.int64) - tid_base
    ]))  # fmt: skip
    if not ids.index.is_unique:
        ids = ids[~ids.index.duplicated()]
    at = ids.reindex(pd.MultiIndex.from_arrays([frame["pid"].astype(np.int64), frame[key].astype(np.int64)]))
    hit = at.notna().to_numpy()
    return pd.DataFrame({
        "unit": at.to_numpy()[hit].astype(np.int64), "kind": kind,
        "start_s": (frame["start_us"].to_numpy(dtype=np.float64)[hit] - script_start_us) / 1e6,
        "end_s": (frame["end_us"].to_numpy(dtype=np.float64)[hit] - script_start_us) / 1e6, "level": 1.0,
    })  # fmt: skip


def _groups(frame: pd.DataFrame, keys: list[str]) -> dict[tuple[int, ...], pd.DataFrame]:
    """frame split by `keys` once (a per-unit filter would scan every sample once per unit)."""
    if frame.empty:
        return {}
    return {
        tuple(int(k) for k in (key if isinstance(key, tuple) else (key,))): g
        for key, g in frame.groupby(keys, sort=False)
    }


Intervals = tuple[np.ndarray, np.ndarray, np.ndarray]


def _cpu_rates(g: pd.DataFrame | None, script_start_us: float) -> Intervals:
    """CPU seconds per second between consecutive samples (0 where two samples share a time)."""
    if g is None or len(g) < 2:
        return np.array([]), np.array([]), np.array([])
    g = g.sort_values("t_ns")
    t = (g["t_ns"].to_numpy(dtype=np.float64) - script_start_us * 1e3) / 1e9
    cpu = (g["user_s"] + g["system_s"]).to_numpy(dtype=np.float64)
    dt = np.diff(t)
    rate = np.divide(np.diff(cpu), dt, out=np.zeros_like(dt), where=dt > 0)
    return t[:-1], t[1:], rate
