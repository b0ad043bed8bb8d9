"""Functions table from the Events frame (pure pandas).

Functions frame (`Analysis.functions`), one row per function, by total time:
  name       viztracer's name ("qualname (file:line)" or "module.func")
  function   qualified name;  file, line: where it is defined (empty/0 for C functions)
  calls      completed calls traced
  total_s    time inside the function, counting a recursive call's inner calls once
  self_s     time in the function's own code, callees excluded (from per-track nesting)
  mean_s     total_s / calls
  cpu_s      CPU its thread used during its (outermost) calls, from psutil thread samples: an estimate
             at the sampling interval's resolution, NaN where the thread was not sampled
  wait_s     total_s − cpu_s: time in the call but off the CPU (sleeping, I/O, waiting for the GIL)
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

_PY_NAME = re.compile(r"^(?P<func>.*) \((?P<file>.*):(?P<line>\d+)\)$")


def split_name(name: str) -> tuple[str, str, int]:
    m = _PY_NAME.match(name)
    if m is None:
        return name, "", 0
    return m["func"], m["file"], int(m["line"])


def functions_table(events: pd.DataFrame) -> pd.DataFrame:
    cols = ["name", "function", "file", "line", "calls", "total_s", "self_s", "mean_s", "cpu_s", "wait_s"]
    if events.empty:
        return pd.DataFrame(columns=cols)
    names = events["name"].astype(str).to_numpy()
    parent = events["parent"].to_numpy()
    # Recursion: a call whose caller chain already holds the same function adds no new total time.
    outer = np.ones(len(events), dtype=bool)
    for i in np.flatnonzero(parent >= 0):
        p = parent[i]
        while p >= 0:
            if names[p] == names[i]:
                outer[i] = False
                break
            p = parent[p]
    cpu = events["cpu_s"] if "cpu_s" in events else pd.Series(np.nan, index=events.index)
    ev = events.assign(outer_us=np.where(outer, events["dur_us"], 0.0), name=names, outer_cpu=cpu.where(outer, 0.0))
    g = ev.groupby("name", sort=False).agg(
        calls=("dur_us", "size"), total_us=("outer_us", "sum"), self_us=("self_us", "sum"),
        cpu_s=("outer_cpu", lambda c: c.sum(min_count=1)),
    )  # fmt: skip
    g = g.reset_index()
    parts = [split_name(n) for n in g["name"]]
    g["function"] = [p[0] for p in parts]
    g["file"] = [p[1] for p in parts]
    g["line"] = [p[2] for p in parts]
    g["total_s"] = g["total_us"] / 1e6
    g["self_s"] = g["self_us"] / 1e6
    g["mean_s"] = g["total_s"] / g["calls"]
    g["cpu_s"] = g["cpu_s"].clip(lower=0.0, upper=g["total_s"])
    g["wait_s"] = g["total_s"] - g["cpu_s"]
    return g.sort_values(["total_s", "name"], ascending=[False, True])[cols].reset_index(drop=True)
