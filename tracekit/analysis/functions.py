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
  cpu_share  cpu_s / total_s, 0..1: how much of its time the function computed (1) rather than waited
             (0); NaN where cpu_s is or total_s is 0. The report's function tables show it as "CPU/total"
  origin     own | stdlib | package | unknown (analysis.origin): the program's own code first
  package    distribution name for a package ("aiohttp"), top-level module for the stdlib ("asyncio"),
             "" for own and unknown code
  from_own_calls, from_own_s   calls made directly by the program's own code (the caller slice is an
             own function) and the time inside them (a call nested in another such call of the same
             function counted once); 0 for own functions. What your code calls: `calls_out`
  own_caller the own function that spent the most time in those direct calls ("" if none)

Packages frame (`packages_table`), one row per (origin, package), by self time (self time adds up
without counting a call twice, total time would count nested calls once per level):
  origin, package, functions, calls, self_s, top_function (the package's function with most self time)
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from tracekit.analysis.origin import Origins, classify

_PY_NAME = re.compile(r"^(?P<func>.*) \((?P<file>.*):(?P<line>\d+)\)$")


def name_mask(names: pd.Series, test: Callable[[pd.Series], pd.Series]) -> np.ndarray:
    """`test` applied to each distinct name once (names are categorical: a few thousand functions
    behind a million events), spread back over the events as a boolean array."""
    if isinstance(names.dtype, pd.CategoricalDtype):
        hit = np.asarray(test(pd.Series(names.cat.categories.astype(str))), dtype=bool)
        codes = names.cat.codes.to_numpy()
        return np.where(codes >= 0, hit[codes.clip(min=0)], False)
    return np.asarray(test(names.astype(str)), dtype=bool)


def split_name(name: str) -> tuple[str, str, int]:
    m = _PY_NAME.match(name)
    if m is None:
        return name, "", 0
    return m["func"], m["file"], int(m["line"])


FUNCTION_COLUMNS = [
    "name", "function", "file", "line", "calls", "total_s", "self_s", "mean_s", "cpu_s", "wait_s", "cpu_share",
    "origin", "package", "from_own_calls", "from_own_s", "own_caller",
]  # fmt: skip
PACKAGE_COLUMNS = ["origin", "package", "functions", "calls", "self_s", "top_function"]


def functions_table(events: pd.DataFrame, origins: Origins | None = None) -> pd.DataFrame:
    """The Functions frame; `origins` classes each function (default: no program roots, so nothing is own)."""
    cols = FUNCTION_COLUMNS
    if events.empty:
        return pd.DataFrame(columns=cols)
    codes, uniques = pd.factorize(events["name"], sort=False)
    outer = _outermost(events, codes, np.ones(len(events), dtype=bool))
    cpu = events["cpu_s"].to_numpy(dtype=np.float64) if "cpu_s" in events else np.full(len(events), np.nan)
    outer_cpu = np.where(outer, cpu, 0.0)
    frame = pd.DataFrame(
        {
            "code": codes,
            "dur_us": events["dur_us"].to_numpy(),
            "outer_us": np.where(outer, events["dur_us"].to_numpy(), 0.0),
            "self_us": events["self_us"].to_numpy(),
            "outer_cpu": np.nan_to_num(outer_cpu),
            "has_cpu": ~np.isnan(outer_cpu),
        }
    )
    g = frame.groupby("code", sort=False).agg(
        calls=("dur_us", "size"), total_us=("outer_us", "sum"), self_us=("self_us", "sum"),
        cpu_s=("outer_cpu", "sum"), has_cpu=("has_cpu", "any"),
    )  # fmt: skip
    g["cpu_s"] = g["cpu_s"].where(g["has_cpu"])
    g = g.reset_index()
    g["name"] = np.asarray(uniques, dtype=object)[g["code"].to_numpy()].astype(str)
    parts = [split_name(n) for n in g["name"]]
    g["function"] = [p[0] for p in parts]
    g["file"] = [p[1] for p in parts]
    g["line"] = [p[2] for p in parts]
    g["total_s"] = g["total_us"] / 1e6
    g["self_s"] = g["self_us"] / 1e6
    g["mean_s"] = g["total_s"] / g["calls"]
    g["cpu_s"] = g["cpu_s"].clip(lower=0.0, upper=g["total_s"])
    g["wait_s"] = g["total_s"] - g["cpu_s"]
    g["cpu_share"] = (g["cpu_s"] / g["total_s"]).where(g["total_s"] > 0)
    found = classify(g["function"], g["file"], origins if origins is not None else Origins(roots=()))
    g["origin"] = [o.origin for o in found]
    g["package"] = [o.package for o in found]
    g = _add_from_own(g, events, codes, len(uniques))
    return g.sort_values(["total_s", "name"], ascending=[False, True])[cols].reset_index(drop=True)


def _outermost(events: pd.DataFrame, codes: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Which of the calls marked `among` are outermost among those calls of their function on their
    track. Recursion: a call nested inside another call of the same function on the same track adds
    no new total time. Calls of one function on one track either nest or are disjoint, so a call is
    outermost when it starts after every earlier call of that function on that track has ended."""
    idx = np.flatnonzero(among)
    out = np.zeros(len(events), dtype=bool)
    if not len(idx):
        return out
    pid, tid = events["pid"].to_numpy()[idx], events["tid"].to_numpy()[idx]
    start = events["start_us"].to_numpy(dtype=np.float64)[idx]
    end = events["end_us"].to_numpy(dtype=np.float64)[idx]
    c = codes[idx]
    order = np.lexsort((start, c, tid, pid))
    p, t, c, e = pid[order], tid[order], c[order], end[order]
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (p[1:] != p[:-1]) | (t[1:] != t[:-1]) | (c[1:] != c[:-1])
    running_end = pd.Series(e).groupby(np.cumsum(new_group) - 1).cummax().to_numpy()
    prev_end = np.concatenate([[-np.inf], running_end[:-1]])
    out[idx[order]] = new_group | (start[order] >= prev_end)
    return out


def _add_from_own(g: pd.DataFrame, events: pd.DataFrame, codes: np.ndarray, n_codes: int) -> pd.DataFrame:
    """The from_own_calls, from_own_s and own_caller columns (module docstring) of the per-code frame g."""
    own_code = np.zeros(n_codes, dtype=bool)
    own_code[g["code"].to_numpy()[(g["origin"] == "own").to_numpy()]] = True
    parent = events["parent"].to_numpy(dtype=np.int64) if "parent" in events else np.full(len(events), -1)
    caller = np.where(parent >= 0, codes[np.clip(parent, 0, None)], -1)
    direct = ~own_code[codes] & (caller >= 0) & own_code[np.clip(caller, 0, None)]
    outer = _outermost(events, codes, direct)
    dur = events["dur_us"].to_numpy(dtype=np.float64)
    calls = np.bincount(codes[direct], minlength=n_codes)
    total = np.bincount(codes[outer], weights=dur[outer], minlength=n_codes) / 1e6
    by_pair = pd.DataFrame({"code": codes[direct], "caller": caller[direct], "dur": dur[direct]})
    top = by_pair.groupby(["code", "caller"])["dur"].sum().reset_index().sort_values(["dur", "caller"])
    top = top.drop_duplicates("code", keep="last").set_index("code")["caller"]
    names = g.set_index("code")["function"]
    code = g["code"].to_numpy()
    return g.assign(
        from_own_calls=calls[code],
        from_own_s=total[code],
        own_caller=[str(names[top[c]]) if c in top.index else "" for c in code],
    )


def calls_out(functions: pd.DataFrame) -> pd.DataFrame:
    """What your code calls: the functions outside the program's own code that it called directly,
    by the time inside those calls (from_own_s)."""
    if functions.empty or "from_own_calls" not in functions:
        return functions.iloc[0:0]
    f = functions[(functions["origin"] != "own") & (functions["from_own_calls"] > 0)]
    return f.sort_values(["from_own_s", "name"], ascending=[False, True]).reset_index(drop=True)


def own_first(functions: pd.DataFrame) -> pd.DataFrame:
    """The program's own functions (by total time, as in the Functions frame), then what they call
    directly (`calls_out` order), then everything else."""
    own = functions["origin"] == "own"
    out = calls_out(functions)
    rest = functions[~own & ~functions["name"].isin(out["name"])]
    return pd.concat([functions[own], out, rest]).reset_index(drop=True)


def packages_table(functions: pd.DataFrame) -> pd.DataFrame:
    """Self time by (origin, package): where the time went, one line per package (see module docstring)."""
    if functions.empty:
        return pd.DataFrame(columns=PACKAGE_COLUMNS)
    f = functions.sort_values(["self_s", "name"], ascending=[False, True])
    g = f.groupby(["origin", "package"], sort=False).agg(
        functions=("name", "size"), calls=("calls", "sum"), self_s=("self_s", "sum"), top_function=("function", "first")
    )
    g = g.reset_index()
    rank = g["origin"].map({o: i for i, o in enumerate(("own", "package", "stdlib", "unknown"))})
    g = g.assign(_rank=rank).sort_values(["_rank", "self_s", "package"], ascending=[True, False, True])
    return g[PACKAGE_COLUMNS].reset_index(drop=True)
