"""Two runs of a program → Diff: what changed, and whether it is beyond the noise (pure: no I/O;
tracekit/diff_inputs.py reads the run or comparison directories into Sides).

Noise: a comparison directory carries repeated untraced timings (wall, CPU, and their ratio, the
parallelism, one per repeat); a run directory carries one traced run (n = 1). A timing changed when an
exact two-sided Mann–Whitney test on the two sets of values gives p ≤ ALPHA (0.05): with 5 vs 5 runs
a complete separation (p = 0.008) or one or two swapped pairs (p = 0.016, 0.032) do, so one run slowed
by a load spike does not hide a real change; 3 vs 3 runs can never reach it (p ≥ 0.1: "rerun with more
repeats"), 4 vs 4 only by separating (p = 0.029). A change of the median under MIN_EFFECT (3%) counts as
none however consistent: below what timings on a shared machine resolve, and it keeps two identical
programs measured interleaved (exchangeable runs) from differing more often than 1 in 30 (8 / 252).
With one value on a side there is no noise estimate and the verdict says so ("lower?"). The noise
floor shown is the larger of the two sides' robust relative spread, 2 × 1.4826 × MAD / median (about
two standard deviations for normal noise, but one run slowed by a load spike barely moves it).
Concurrency comes from the structure recorder, exact:
it changed or it did not.

Functions (from the one traced run of each side) are matched by qualified name and a file key that
survives moving the program: the script itself is `<script>`, its other files are relative to its
directory, a package's and the stdlib's files relative to site-packages or the stdlib
(`aiohttp/client.py`, `asyncio/runners.py`). Their times have no repeats, so a change counts when it
exceeds both FUNCTION_MIN_S (or FUNCTION_MIN_SHARE of the wall time) and the relative noise floor
(at least FUNCTION_MIN_REL); with one run a side they say "slower?" / "faster?", like the timings.
Units are matched by kind, role and name (pids dropped; a task named
Task-N by its coroutine, since the numbers shift between runs); findings by kind.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import pandas as pd

from tracekit.analysis.calltree import MIN_SHARE, CallTree
from tracekit.compare import Distribution, GateResult, describe, gate, speedup

SCHEMA = "tracekit.diff/1"
FUNCTION_MIN_S = 0.001
FUNCTION_MIN_SHARE = 0.01  # of the larger mean wall time
FUNCTION_MIN_REL = 0.10
MAX_FUNCTIONS = 40
ALPHA = 0.05
MIN_EFFECT = 0.03  # a timing change under 3% of A's median counts as none, however consistent
_PID = re.compile(r" \(pid \d+\)$")
_TASK_N = re.compile(r"^Task-\d+$")
_SITE = re.compile(r"/(?:site|dist)-packages/")
_STDLIB = re.compile(r"/lib/python3\.\d+t?/")


@dataclass(frozen=True)
class Side:
    """One run as diff sees it. `wall_s`/`cpu_s`/`parallelism` are repeats (comparison) or the traced run."""

    label: str
    source: str
    kind: str  # "run" | "comparison"
    wall_s: Distribution
    cpu_s: Distribution
    parallelism: Distribution
    concurrency_peak: int
    concurrency_mean: float
    findings: tuple[tuple[str, str, str], ...]  # (kind, severity, message)
    functions: pd.DataFrame  # the traced run's Functions frame (analysis.functions)
    units: pd.DataFrame  # the traced run's Units frame (analysis.units)
    tree: CallTree  # the traced run's call tree, merged (no process/track levels)
    roots: tuple[str, ...]  # the program's directories (analysis.origin.program_roots)
    script: str  # the script's absolute path ("" for a module)

    def nodes_total(self) -> list[float]:
        return [float(t) for t in self.tree.nodes["total_us"]]


@dataclass(frozen=True)
class Metric:
    name: str  # wall_s | cpu_s | parallelism | concurrency_peak | concurrency_mean
    a: Distribution
    b: Distribution
    delta: float  # median B − median A
    change: float  # delta / median A (NaN when A is 0)
    verdict: str  # lower | higher | no change beyond noise | same; lower? | higher?: n = 1, no noise estimate
    p: float | None  # chance of such a separation if nothing changed; None without repeats
    noise_floor: float | None  # relative; None without repeats


@dataclass(frozen=True)
class FunctionChange:
    function: str
    file: str  # the file key (module docstring)
    origin: str
    total_a_s: float
    total_b_s: float
    self_a_s: float
    self_b_s: float
    calls_a: int
    calls_b: int
    verdict: str  # slower | faster | new | gone; slower? | faster?: one run a side, no noise estimate


@dataclass(frozen=True)
class UnitChange:
    kind: str
    role: str
    name: str
    wall_a_s: float | None
    wall_b_s: float | None
    cpu_a_s: float | None
    cpu_b_s: float | None
    verdict: str  # slower | faster | new | gone; slower? | faster?: one run a side, no noise estimate


@dataclass(frozen=True)
class Diff:
    schema: str
    a: str
    b: str
    sources: tuple[str, str]
    kinds: tuple[str, str]
    metrics: tuple[Metric, ...]
    speedup: float  # mean wall A / mean wall B (> 1: B is faster)
    speedup_stdev: float
    summary: str  # one sentence: B is N× faster / slower / no change beyond noise
    functions: tuple[FunctionChange, ...]
    functions_unchanged: int
    unit_counts: dict[str, tuple[int, int]]  # kind → (A, B)
    units: tuple[UnitChange, ...]
    findings_appeared: tuple[tuple[str, str, str], ...]
    findings_gone: tuple[tuple[str, str, str], ...]
    findings_kept: tuple[str, ...]
    thresholds: dict[str, float]

    def metric(self, name: str) -> Metric:
        return next(m for m in self.metrics if m.name == name)

    def to_dict(self) -> dict[str, Any]:
        def clean(x: Any) -> Any:
            if isinstance(x, float) and not math.isfinite(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list | tuple):
                return [clean(v) for v in x]
            return x

        d = asdict(self)
        d["findings_appeared"] = [
            dict(zip(("kind", "severity", "message"), f, strict=True)) for f in self.findings_appeared
        ]
        d["findings_gone"] = [dict(zip(("kind", "severity", "message"), f, strict=True)) for f in self.findings_gone]
        d["unit_counts"] = {k: {"a": a, "b": b} for k, (a, b) in self.unit_counts.items()}
        return clean(d)  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------- metrics


@cache
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """How many orderings of m A-values and n B-values give each Mann–Whitney U (pairs with A > B)."""
    if m == 0 or n == 0:
        return (1,)
    with_a_last = _u_counts(m - 1, n)  # the largest value is an A: it beats all n B-values
    with_b_last = _u_counts(m, n - 1)
    out = [0] * (m * n + 1)
    for u, c in enumerate(with_a_last):
        out[u + n] += c
    for u, c in enumerate(with_b_last):
        out[u] += c
    return tuple(out)


def mann_whitney_p(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Exact two-sided p of the Mann–Whitney U test (ties count half)."""
    m, n = len(a), len(b)
    u = sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b)
    counts = _u_counts(m, n)
    total = sum(counts)
    extreme = min(u, m * n - u)
    tail = sum(c for k, c in enumerate(counts) if k <= extreme + 1e-9)
    return min(1.0, 2 * tail / total)


def robust_spread(d: Distribution) -> float:
    """2 × 1.4826 × MAD / median: the relative noise of repeated timings, robust to one outlier."""
    if d.n < 2 or not d.median:
        return 0.0
    mad = statistics.median(abs(v - d.median) for v in d.values)
    return 2 * 1.4826 * mad / abs(d.median)


def compare_values(name: str, a: Distribution, b: Distribution, exact: bool = False) -> Metric:
    """Is B's value different from A's beyond the noise? (module docstring)"""
    delta = b.median - a.median
    change = delta / a.median if a.median else math.nan
    if exact:
        return Metric(
            name, a, b, delta, change, "same" if delta == 0 else ("higher" if delta > 0 else "lower"), None, None
        )
    if a.n > 1 and b.n > 1:
        p = mann_whitney_p(a.values, b.values)
        floor = max(robust_spread(s) for s in (a, b))
        if p <= ALPHA + 1e-12 and math.isfinite(change) and abs(change) >= MIN_EFFECT:
            verdict = "higher" if delta > 0 else "lower"
        else:
            verdict = "no change beyond noise"
        return Metric(name, a, b, delta, change, verdict, p, floor)
    verdict = "same" if delta == 0 else ("higher?" if delta > 0 else "lower?")
    return Metric(name, a, b, delta, change, verdict, None, None)


def _metrics(a: Side, b: Side) -> tuple[Metric, ...]:
    return (
        compare_values("wall_s", a.wall_s, b.wall_s),
        compare_values("cpu_s", a.cpu_s, b.cpu_s),
        compare_values("parallelism", a.parallelism, b.parallelism),
        compare_values("concurrency_peak", describe([a.concurrency_peak]), describe([b.concurrency_peak]), exact=True),
        compare_values("concurrency_mean", describe([a.concurrency_mean]), describe([b.concurrency_mean]), exact=True),
    )


def speed_summary(wall: Metric, a: str, b: str, ratio: float, sd: float) -> str:
    unc = f" ± {sd:.2f}" if math.isfinite(sd) and wall.p is not None else ""
    noise = (
        f"p = {wall.p:.3g}, noise floor ±{wall.noise_floor:.1%}"
        if wall.p is not None and wall.noise_floor is not None
        else "one run a side: no noise estimate"
    )
    medians = f"median wall {wall.a.median:.3f} s → {wall.b.median:.3f} s, {wall.change:+.1%}"
    if wall.verdict.startswith("lower"):
        sure = "" if wall.p is not None else " (unconfirmed)"
        return f"{b} is {ratio:.2f}{unc}× faster than {a}{sure}: {medians} ({noise})"
    if wall.verdict.startswith("higher"):
        sure = "" if wall.p is not None else " (unconfirmed)"
        unc = f" ± {sd / ratio**2:.2f}" if unc else ""  # the stdev of 1 / ratio, propagated
        return f"{b} is {1 / ratio:.2f}{unc}× slower than {a}{sure}: {medians} ({noise})"
    hint = ""
    if wall.p is not None and 2 / math.comb(wall.a.n + wall.b.n, wall.a.n) > ALPHA:
        hint = f"; {wall.a.n} vs {wall.b.n} runs can never show a change at p ≤ {ALPHA}: measure with --repeat 5"
    elif (
        wall.p is not None
        and abs(wall.change) >= MIN_EFFECT
        and (p_off := one_run_off_p(wall.a.values, wall.b.values)) <= ALPHA
    ):
        hint = (
            f"; without the one run farthest from its side's median p would be {p_off:.3g}: a single"
            f" run slowed by the machine's load can hide a change with {min(wall.a.n, wall.b.n)} a side,"
            " measure with --repeat 7 or more"
        )
    return f"no change beyond noise between {a} and {b}: {medians} ({noise}{hint})"


def one_run_off_p(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """The Mann–Whitney p with the one run farthest from its own side's median left out (the smaller
    p of leaving it out of A or of B): a diagnostic for the hint, never the verdict."""
    out = 1.0
    for mine, other, first in ((a, b, True), (b, a, False)):
        if len(mine) < 3:
            continue
        med = statistics.median(mine)
        far = max(range(len(mine)), key=lambda i: abs(mine[i] - med))
        kept = tuple(v for i, v in enumerate(mine) if i != far)
        out = min(out, mann_whitney_p(kept, other) if first else mann_whitney_p(other, kept))
    return out


# ------------------------------------------------------------------------------------------ functions


def file_key(file: str, roots: tuple[str, ...], script: str) -> str:
    """A file's name that survives moving the program or its environment (module docstring)."""
    if not file:
        return ""
    if script and file == script:
        return "<script>"
    for pattern in (_SITE, _STDLIB):
        m = pattern.search(file)
        if m is not None:
            return file[m.end() :]
    for root in roots:
        if root and file.startswith(root.rstrip("/") + "/"):
            return file[len(root.rstrip("/")) + 1 :]
    return file


def _keyed(side: Side) -> pd.DataFrame:
    f = side.functions
    if f.empty:
        return pd.DataFrame(columns=["function", "key", "origin", "total_s", "self_s", "calls"])
    keyed = f.assign(key=[file_key(str(x), side.roots, side.script) for x in f["file"]])
    g = keyed.groupby(["function", "key"], sort=False).agg(
        origin=("origin", "first"), total_s=("total_s", "sum"), self_s=("self_s", "sum"), calls=("calls", "sum")
    )
    return g.reset_index()


def function_changes(a: Side, b: Side, rel_floor: float, sure: bool = True) -> tuple[list[FunctionChange], int]:
    """Functions whose total or self time changed beyond the floors, by size of change; and how many
    matched functions did not change. Not `sure` (one run a side: no noise estimate, so a whole run
    slowed by the machine's load looks like every function slowing), "slower?" / "faster?"."""
    ka, kb = _keyed(a), _keyed(b)
    m = ka.merge(kb, on=["function", "key"], how="outer", suffixes=("_a", "_b"), indicator="side")
    wall = max(a.wall_s.mean, b.wall_s.mean)
    min_s = max(FUNCTION_MIN_S, FUNCTION_MIN_SHARE * wall)
    rel = max(FUNCTION_MIN_REL, rel_floor)
    out: list[FunctionChange] = []
    unchanged = 0
    for r in m.itertuples(index=False):
        ta, tb = _f(r.total_s_a), _f(r.total_s_b)
        sa, sb = _f(r.self_s_a), _f(r.self_s_b)
        if r.side == "both":
            dt, ds = tb - ta, sb - sa
            big = [d for d, base in ((dt, ta), (ds, sa)) if abs(d) > min_s and abs(d) > rel * base]
            if not big:
                unchanged += 1
                continue
            verdict = ("slower" if max(big, key=abs) > 0 else "faster") + ("" if sure else "?")
        elif max(ta, tb) > min_s:
            verdict = "new" if r.side == "right_only" else "gone"
        else:
            continue
        origin = r.origin_b if isinstance(r.origin_b, str) else r.origin_a
        out.append(
            FunctionChange(
                function=str(r.function), file=str(r.key), origin=str(origin), total_a_s=ta, total_b_s=tb,
                self_a_s=sa, self_b_s=sb, calls_a=int(_f(r.calls_a)), calls_b=int(_f(r.calls_b)), verdict=verdict,
            )
        )  # fmt: skip
    out.sort(key=lambda c: (-max(abs(c.total_b_s - c.total_a_s), abs(c.self_b_s - c.self_a_s)), c.function))
    return out[:MAX_FUNCTIONS], unchanged


def _f(x: Any) -> float:
    return 0.0 if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


# ---------------------------------------------------------------------------------------------- units


def _unit_keys(units: pd.DataFrame) -> dict[tuple[str, str, str], Any]:
    """Each unit by (kind, role, name): a thread's or task's name is prefixed by its process's name
    (pids dropped), and a name that repeats gets #2, #3 … in start order."""
    if units.empty:
        return {}
    procs = units[units["kind"] == "process"]
    proc_name = {int(r.pid): _PID.sub("", str(r.name)) for r in procs.itertuples(index=False)}
    out: dict[tuple[str, str, str], Any] = {}
    for u in units.sort_values("start_s", kind="stable").itertuples(index=False):
        name = _PID.sub("", str(u.name))
        coro = str(getattr(u, "coroutine", "") or "")
        if u.kind == "task" and coro and _TASK_N.match(name):  # Task-N numbers shift between runs
            name = coro.split(" (", 1)[0]
        if u.kind != "process":
            name = f"{proc_name.get(int(u.pid), 'pid ?')}/{name}"
        key, k = (str(u.kind), str(u.role), name), 2
        while key in out:
            key, k = (str(u.kind), str(u.role), f"{name} #{k}"), k + 1
        out[key] = u
    return out


def unit_changes(
    a: Side, b: Side, rel_floor: float, sure: bool = True
) -> tuple[dict[str, tuple[int, int]], list[UnitChange]]:
    """Unit counts per kind, and the units (matched by kind, role, name) whose wall time changed
    ("slower?" / "faster?" when not `sure`, as for functions)."""
    kinds = ("process", "thread", "task", "generator")
    counts = {}
    for k in kinds:
        na = int((a.units["kind"] == k).sum()) if len(a.units) else 0
        nb = int((b.units["kind"] == k).sum()) if len(b.units) else 0
        if na or nb:
            counts[k] = (na, nb)
    ua, ub = _unit_keys(a.units), _unit_keys(b.units)
    min_s = max(FUNCTION_MIN_S, FUNCTION_MIN_SHARE * max(a.wall_s.mean, b.wall_s.mean))
    rel = max(FUNCTION_MIN_REL, rel_floor)
    out: list[UnitChange] = []
    for key in list(ua) + [k for k in ub if k not in ua]:
        x, y = ua.get(key), ub.get(key)
        wa = float(x.wall_s) if x is not None else None
        wb = float(y.wall_s) if y is not None else None
        if wa is not None and wb is not None:
            d = wb - wa
            if abs(d) <= min_s or abs(d) <= rel * wa:
                continue
            verdict = ("slower" if d > 0 else "faster") + ("" if sure else "?")
        else:
            verdict = "gone" if wb is None else "new"
        out.append(
            UnitChange(
                *key, wall_a_s=wa, wall_b_s=wb, cpu_a_s=_opt(x, "cpu_s"), cpu_b_s=_opt(y, "cpu_s"), verdict=verdict
            )
        )
    return counts, out[:MAX_FUNCTIONS]


def _opt(u: Any, field: str) -> float | None:
    if u is None:
        return None
    v = getattr(u, field)
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


# ----------------------------------------------------------------------------------------------- diff


# Notes about the capture, not the program: a brief helper process the sampler happened to catch in
# one run and not the other (a process gone 0 ms after it was seen) is not something the program changed.
CAPTURE_NOTES = frozenset({"untraced-helpers"})


def diff(a: Side, b: Side) -> Diff:
    metrics = _metrics(a, b)
    wall = metrics[0]
    sp, sd = speedup(a.wall_s, b.wall_s)
    rel_floor = wall.noise_floor or 0.0
    sure = wall.p is not None
    functions, unchanged = function_changes(a, b, rel_floor, sure)
    counts, units = unit_changes(a, b, rel_floor, sure)
    fa = tuple(f for f in a.findings if f[0] not in CAPTURE_NOTES)
    fb = tuple(f for f in b.findings if f[0] not in CAPTURE_NOTES)
    kinds_a = {f[0] for f in fa}
    kinds_b = {f[0] for f in fb}
    return Diff(
        schema=SCHEMA, a=a.label, b=b.label, sources=(a.source, b.source), kinds=(a.kind, b.kind), metrics=metrics,
        speedup=sp, speedup_stdev=sd if a.wall_s.n > 1 and b.wall_s.n > 1 else math.nan,
        summary=speed_summary(wall, a.label, b.label, sp, sd), functions=tuple(functions),
        functions_unchanged=unchanged, unit_counts=counts, units=tuple(units),
        findings_appeared=tuple(f for f in fb if f[0] not in kinds_a),
        findings_gone=tuple(f for f in fa if f[0] not in kinds_b),
        findings_kept=tuple(sorted(kinds_a & kinds_b)),
        thresholds={"function_min_s": FUNCTION_MIN_S, "function_min_share": FUNCTION_MIN_SHARE,
                    "function_min_rel": max(FUNCTION_MIN_REL, rel_floor)},
    )  # fmt: skip


def relabel(side: Side, label: str) -> Side:
    from dataclasses import replace

    return replace(side, label=label)


def wall_gate(a: Side, b: Side, threshold: float) -> GateResult:
    """compare's regression gate on the wall times: B slower than A by more than `threshold`, beyond noise."""
    return gate(a.wall_s, b.wall_s, threshold, a.label, b.label)


def tree_keys(tree: CallTree, side: Side) -> list[tuple[str, ...]]:
    """Each node's call path as (function @ file key) names, so the same code lines up across two runs
    whose files moved or whose lines shifted."""
    from tracekit.analysis.functions import split_name

    keys = []
    for name in tree.nodes["name"].astype(str):
        func, file, _line = split_name(name)
        keys.append(f"{func} @ {file_key(file, side.roots, side.script)}" if file else func)
    parent = tree.nodes["parent"].to_numpy()
    out: list[tuple[str, ...]] = []
    for i, k in enumerate(keys):
        out.append(() if parent[i] < 0 else (*out[parent[i]], k))
    return out


def delta_tree(a: Side, b_tree: CallTree, b: Side) -> tuple[list[float], int]:
    """For each node of `b_tree` (B's merged call tree, maybe pruned): its total minus the total of the
    same call path in A's, µs; and how many of A's call paths (at least MIN_SHARE of A's total) B lacks."""
    total_a: dict[tuple[str, ...], float] = {}
    for p, t in zip(tree_keys(a.tree, a), a.nodes_total(), strict=True):
        total_a[p] = total_a.get(p, 0.0) + t
    paths_b = tree_keys(b_tree, b)
    delta = [float(t) - total_a.get(p, 0.0) for p, t in zip(paths_b, b_tree.nodes["total_us"], strict=True)]
    in_b = set(tree_keys(b.tree, b))
    floor = MIN_SHARE * max(a.tree.total_us, 1e-9)
    only_a = sum(1 for p, t in total_a.items() if p not in in_b and t >= floor)
    return delta, only_a
