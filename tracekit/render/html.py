"""report.html: one self-contained page rendered with Jinja2 (autoescape on) from an Analysis.

The page makes no network request: uPlot (vendored from npm, see vendor/README.md), tracekit's own
script and the CSS are inlined, and a hash-based Content-Security-Policy allows exactly those two
scripts and that one stylesheet. The hashes come from the asset files themselves, never from the
rendered page, so nothing the traced program printed or named can be allowed by accident.

What the page shows and where it comes from:
  time-series charts (uPlot)  Analysis.concurrency (workers in flight), Analysis.timeline (cores busy),
                              Analysis.processes (CPU % and RSS per process); a ChartData, via `tojson`
  Gantt of units (SVG)        Analysis.units, plus when each unit ran (Analysis.running: a task's
                              steps, a thread's or process's sampled CPU)
  output timeline (SVG)       Analysis.output, each line at its time
  flame graph (SVG, flame.js)  the call tree of Analysis.events (analysis.calltree), per process and
                              thread/task; data via `tojson` (render/flame.py)
  tables                      Analysis.units; Analysis.functions: own code, by package, all (top N)

Layout helpers (`downsample`, `nice_ticks`, `gantt_rows`, `output_lanes`) are pure functions so
they can be tested on tiny inputs; `report` returns the page as a string and writes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from tracekit.analysis import Analysis
from tracekit.analysis.calltree import MIN_SHARE, CallTree, build_call_tree
from tracekit.analysis.findings import at_peak_label
from tracekit.analysis.functions import calls_out, own_first, packages_table
from tracekit.render.flame import report_flame
from tracekit.render.tasktree import task_tree, unit_label
from tracekit.render.templating import env

MAX_POINTS = 1200  # per time-series chart; longer series are bucketed (the page says so)
MAX_GANTT_ROWS = 120
MAX_UNIT_ROWS = 400
TOP_FUNCTIONS = 60
TOP_CALLS_OUT = 20
MAX_OUTPUT_LINES = 400  # in the output timeline and table
PLOT_X0 = 230  # px: the Gantt's label column; the plot area follows
PLOT_W = 930
ROW_H = 16
LABEL_CHARS = 30
CHAR_W = 7.0  # px per character of 12px monospace, to lay output lines out without overlap


@dataclass(frozen=True)
class Assets:
    """Inlined scripts and styles, and the CSP whose hashes allow exactly them."""

    scripts: tuple[str, ...]
    style: str
    csp: str


def _asset(name: str) -> str:
    return resources.files("tracekit.render").joinpath(name).read_text(encoding="utf-8")


def sha256_source(text: str) -> str:
    """A CSP source expression for an inline <script>/<style> whose body is exactly `text`."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(scripts: tuple[str, ...], styles: tuple[str, ...]) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(sha256_source(s) for s in scripts),
            "style-src " + " ".join(sha256_source(s) for s in styles),
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


@cache
def assets() -> Assets:
    scripts = (_asset("vendor/uPlot.iife.min.js"), _asset("templates/report.js"), _asset("templates/flame.js"))
    style = _asset("vendor/uPlot.min.css") + "\n" + _asset("templates/report.css")
    for s in scripts:
        if "</script" in s.lower() or "<!--" in s:
            raise ValueError("an inlined script contains </script or <!--; it would end the <script> element")
    return Assets(scripts=scripts, style=style, csp=content_security_policy(scripts, (style,)))


# ---------------------------------------------------------------------------------------------- series


def downsample(t: np.ndarray, v: np.ndarray, edges: np.ndarray, how: str) -> np.ndarray:
    """Aggregate samples (t, v) into the buckets [edges[i], edges[i+1]) ("mean", "max" or "sum");
    NaN for an empty bucket. The last bucket also takes t == edges[-1]."""
    n = len(edges) - 1
    idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, n - 1)
    inside = (t >= edges[0]) & (t <= edges[-1]) & ~np.isnan(v)
    agg = pd.Series(v[inside]).groupby(idx[inside]).agg(how)
    out = np.full(n, np.nan)
    out[agg.index.to_numpy(dtype=np.int64)] = agg.to_numpy(dtype=np.float64)
    return out


def step_at(t_steps: np.ndarray, v_steps: np.ndarray, times: np.ndarray) -> np.ndarray:
    """A step series (value v_steps[i] from t_steps[i] on) evaluated at `times`."""
    idx = np.clip(np.searchsorted(t_steps, times, side="right") - 1, 0, len(t_steps) - 1)
    out: np.ndarray = v_steps[idx].astype(np.float64)
    return out


def step_max(t_steps: np.ndarray, v_steps: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The highest value a step series takes inside each bucket (so a short peak is never lost)."""
    held = step_at(t_steps, v_steps, edges[:-1])
    changes = downsample(t_steps, v_steps.astype(np.float64), edges, "max")
    out: np.ndarray = np.fmax(held, changes)
    return out


def _clean(values: np.ndarray, digits: int) -> Series:
    """JSON-safe list: NaN/inf become null (JSON.parse rejects NaN), numbers rounded to keep the page small."""
    return [None if not math.isfinite(x) else round(float(x), digits) for x in values]


def cpu_window_s(an: Analysis) -> float:
    """Width of the windows CPU is averaged over: psutil's CPU counters tick at 10 ms, so a single
    10 ms interval reads 0, 1 or 2 cores; five intervals or more make a readable level."""
    interval = float(an.stats.context.interval_s) or 0.01
    return max(5 * interval, float(an.stats.wall_s) / MAX_POINTS, 1e-3)


def rate_windows(
    t_end: np.ndarray, rate: np.ndarray, interval_s: float, window_s: float, end_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-interval rates (each interval ends at t_end, the first one `interval_s` long, each next one
    where the previous ended) averaged over windows [k·w, (k+1)·w) that cover [0, end_s], weighted by
    the intervals' lengths: a window's value is the CPU it used over the time its intervals span, so a
    1 ms interval that caught a 10 ms counter tick (10 cores) does not weigh as much as a whole 10 ms
    interval (a loaded sampler's intervals vary). Returns (window starts, mean rate, NaN where no sample)."""
    n = max(1, math.ceil(end_s / window_s - 1e-9))
    edges = np.arange(n + 1) * window_s
    dt = np.diff(t_end, prepend=t_end[:1] - interval_s) if len(t_end) else np.array([])
    dt = np.where(np.isnan(rate), 0.0, np.clip(dt, 0.0, None))
    centre = t_end - dt / 2
    used = downsample(centre, np.nan_to_num(rate) * dt, edges, "sum")
    span = downsample(centre, dt, edges, "sum")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(span > 0, used / np.where(span > 0, span, 1.0), np.nan)
    return edges[:-1], mean


Series = list[float | None]  # one value per time of the series' `t`; None (JSON null): no value there


@dataclass(frozen=True)
class FlightSeries:
    """The first chart: workers in flight and cores busy, on one time axis."""

    t: Series  # s from the script's start
    in_flight: Series  # units in flight (a step series; each bucket's peak when `downsampled`)
    cores_busy: Series  # the tree's CPU in cores, averaged over `window_s` windows (None: no sample there)
    window_s: float
    downsampled: bool  # more than MAX_POINTS steps: bucketed


@dataclass(frozen=True)
class ProcessSeries:
    """The CPU and memory charts: one column per process, one value per window."""

    t: Series  # window starts, s from the script's start
    names: list[str]  # one per process, as the Units frame names it ("pid N" if it has no unit)
    cpu_pct: list[Series]  # per process: % of one core, averaged over the window
    rss_mib: list[Series]  # per process: its highest RSS in the window, MiB
    window_s: float


@dataclass(frozen=True)
class ChartData:
    """Everything report.js draws with uPlot, embedded as JSON in the page's `tk-data` script
    (`to_dict()` piped through Jinja2's `tojson`); the script reads exactly these names."""

    cores: int  # the machine's: the cores-busy chart's ceiling
    wall_s: float
    end_s: float  # the x axis' end: the script's end, the last unit's or the last sample, whichever is last
    flight: FlightSeries
    procs: ProcessSeries

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def flight_series(an: Analysis, max_points: int = MAX_POINTS) -> FlightSeries:
    """Workers in flight (a step series; bucketed to each bucket's peak when longer than
    max_points) and cores busy (averaged over `cpu_window_s` windows) on one time axis."""
    wall = float(an.stats.wall_s)
    steps, tl = an.concurrency, an.timeline
    ts = steps["t_s"].to_numpy(dtype=np.float64) if len(steps) else np.array([0.0])
    vs = steps["in_flight"].to_numpy(dtype=np.float64) if len(steps) else np.array([1.0])
    downsampled = len(ts) > max_points and wall > 0
    if downsampled:
        edges = np.linspace(0.0, wall, max_points + 1)
        ts, vs = edges[:-1], step_max(ts, vs, edges)
    window = cpu_window_s(an)
    tt = tl["t_s"].to_numpy(dtype=np.float64) if len(tl) else np.array([])
    busy = tl["cores_busy"].to_numpy(dtype=np.float64) if len(tl) else np.array([])
    end = max(wall, float(tt.max()) if len(tt) else 0.0)
    wt, wb = np.array([]), np.array([])
    if len(tt):
        wt, wb = rate_windows(tt, busy, float(an.stats.context.interval_s) or 0.01, window, end)
    x = np.unique(np.concatenate([ts, wt, [0.0, wall]]))
    cb = np.full(len(x), np.nan)
    if len(tt):
        cb[np.searchsorted(x, wt)] = wb
    return FlightSeries(
        t=_clean(x, 6), in_flight=_clean(step_at(ts, vs, x), 3), cores_busy=_clean(cb, 3), window_s=round(window, 6),
        downsampled=downsampled,
    )  # fmt: skip


def process_series(an: Analysis) -> ProcessSeries:
    """CPU % (averaged over `cpu_window_s` windows) and peak RSS (MiB) per process and window."""
    wall = float(an.stats.wall_s)
    p = an.processes
    names = process_names(an)
    interval = float(an.stats.context.interval_s) or 0.01
    window = cpu_window_s(an)
    last_t = float(an.timeline["t_s"].max()) if len(an.timeline) else wall
    end = max(wall, last_t)
    p = p[(p["t_s"] >= 0) & (p["t_s"] <= end + interval)] if len(p) else p
    if p.empty:
        return ProcessSeries(t=[], names=[], cpu_pct=[], rss_mib=[], window_s=window)
    pids = sorted(p["pid"].unique().tolist())
    cpu_cols: list[Series] = []
    rss_cols: list[Series] = []
    starts = np.array([])
    for pid in pids:
        g = p[p["pid"] == pid]
        t = g["t_s"].to_numpy(dtype=np.float64)
        starts, cpu = rate_windows(t, g["cpu_pct"].to_numpy(dtype=np.float64), interval, window, end)
        edges = np.append(starts, starts[-1] + window)
        rss = downsample(t, g["rss_bytes"].to_numpy(dtype=np.float64) / 2**20, edges, "max")
        cpu_cols.append(_clean(cpu, 1))
        rss_cols.append(_clean(rss, 2))
    return ProcessSeries(
        t=_clean(starts, 6), names=[names.get(int(pid), f"pid {pid}") for pid in pids], cpu_pct=cpu_cols,
        rss_mib=rss_cols, window_s=round(window, 6),
    )  # fmt: skip


def process_names(an: Analysis) -> dict[int, str]:
    procs = an.units[an.units["kind"] == "process"] if len(an.units) else an.units
    return {int(r.pid): str(r.name) for r in procs.itertuples(index=False)}


# ----------------------------------------------------------------------------------------------- axes


def nice_ticks(lo: float, hi: float, target: int = 8) -> list[float]:
    """Round tick values (1, 2 or 5 × 10^k apart) covering [lo, hi], about `target` of them."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(1, target)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    n = math.floor((hi - first) / step + 1e-9) + 1
    return [round(first + i * step, 10) for i in range(n)]


def fmt_s(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class Scale:
    """Seconds → px across the plot area [x0, x0 + width]; times outside [t0, t1] are held at its
    edges (the main process starts before the script, at a negative time: its bar must not run into
    the labels)."""

    t0: float
    t1: float
    x0: float = PLOT_X0
    width: float = PLOT_W

    def px(self, t: float) -> float:
        span = self.t1 - self.t0
        t = min(max(t, self.t0), self.t1)
        return round(self.x0 + (0.0 if span <= 0 else (t - self.t0) / span * self.width), 1)

    def ticks(self) -> list[tuple[float, str]]:
        return [(self.px(t), fmt_s(t)) for t in nice_ticks(self.t0, self.t1)]


# ---------------------------------------------------------------------------------------------- Gantt


@dataclass(frozen=True)
class Segment:
    x: float
    w: float
    opacity: float


@dataclass(frozen=True)
class GanttRow:
    label: str
    kind: str
    role: str
    y: float
    x: float
    w: float
    title: str
    running: list[Segment] = field(default_factory=list)


def _quantize(v: float) -> float:
    return round(min(1.0, max(0.0, v)) * 10) / 10


def segments(t0: np.ndarray, t1: np.ndarray, level: np.ndarray, scale: Scale, min_px: float = 1.0) -> list[Segment]:
    """Intervals [t0, t1) at a level 0..1 as px segments: levels quantised to tenths, level-0 dropped,
    touching intervals of one level merged, and each at least `min_px` wide so a short step shows."""
    out: list[Segment] = []
    for a, b, lv in zip(t0, t1, level, strict=True):
        q = _quantize(float(lv))
        if q <= 0:
            continue
        xa, xb = scale.px(float(a)), scale.px(float(b))
        if out and out[-1].opacity == q and xa <= out[-1].x + out[-1].w + 0.05:
            prev = out.pop()
            xa = prev.x
        out.append(Segment(x=xa, w=round(max(min_px, xb - xa), 1), opacity=q))
    return out


def _running(an: Analysis, u: Any, ran: pd.DataFrame | None, scale: Scale) -> list[Segment]:
    """When a unit was actually running (Analysis.running): a task's steps and a generator unit's
    resumes as they are; a thread's or process's CPU share of a core, averaged over the same windows
    as the charts (single 10 ms intervals read as 0 % or 100 %) and only while the unit was in flight."""
    if ran is None or ran.empty:
        return []
    a, b = ran["start_s"].to_numpy(dtype=np.float64), ran["end_s"].to_numpy(dtype=np.float64)
    level = ran["level"].to_numpy(dtype=np.float64)
    if u.kind in ("task", "generator"):
        return segments(a, b, level, scale)
    window = cpu_window_s(an)
    starts, share = rate_windows(b, level, float(b[0] - a[0]), window, scale.t1)
    share = np.nan_to_num(share)
    a, b = np.maximum(starts, float(u.start_s)), np.minimum(np.minimum(starts + window, scale.t1), float(u.end_s))
    keep = b > a
    return segments(a[keep], b[keep], share[keep], scale, min_px=0.0)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def gantt_rows(an: Analysis, scale: Scale, max_rows: int = MAX_GANTT_ROWS) -> list[GanttRow]:
    """One row per unit (processes, threads, then tasks, as in Analysis.units), laid out on `scale`."""
    units = an.units.head(max_rows)
    shown = an.running[an.running["unit"] < max_rows] if len(an.running) else an.running  # not 8,000 tasks' steps
    ran = dict(tuple(shown.groupby("unit", sort=False))) if len(shown) else {}
    many = len(an.units) > 0 and an.units["pid"].nunique() > 1  # then say which process a thread is in
    rows = []
    for i, u in enumerate(units.itertuples(index=False)):
        x0, x1 = scale.px(float(u.start_s)), scale.px(float(u.end_s))
        cpu = "" if pd.isna(u.cpu_s) else f", CPU {u.cpu_s:.3f} s"
        created = f", created at {u.created_at}" if u.created_at else ""
        coro = getattr(u, "coroutine", "") or ""
        created += f", runs {coro}" if coro and u.kind in ("task", "generator") else ""
        created += f", created by {u.creator}" if getattr(u, "creator", "") and u.kind == "task" else ""
        title = (
            f"{u.name} — {u.kind}, {u.role}, pid {u.pid}"
            + (f", tid {u.tid}" if u.kind != "process" else "")
            + f"\nin flight {u.start_s:.3f} → {u.end_s:.3f} s ({u.wall_s:.3f} s){cpu}, {u.slices} slices{created}"
        )
        rows.append(
            GanttRow(
                label=_short(
                    f"{u.kind} · {unit_label(str(u.kind), str(u.name), str(getattr(u, 'coroutine', '') or ''))}"
                    + (f" @{u.pid}" if many and u.kind != "process" else ""),
                    LABEL_CHARS + 2,
                ),
                kind=str(u.kind),
                role=str(u.role),
                y=i * ROW_H,
                x=x0,
                w=round(max(1.0, x1 - x0), 1),
                title=title,
                running=_running(an, u, ran.get(i), scale),
            )
        )
    return rows


# --------------------------------------------------------------------------------------------- output


@dataclass(frozen=True)
class OutputMark:
    x: float
    lane: int
    text: str
    title: str
    stream: str
    anchor: str = "start"  # "end": the label sits left of its dot


def output_lanes(output: pd.DataFrame, scale: Scale, max_lanes: int = 14) -> tuple[list[OutputMark], int]:
    """Place each output line at its time, in the first lane where it does not overlap the previous
    label, so lines printed together stack ("One One One" at 0 s, "Two Two Two" at 1 s).
    Returns (marks, lines left out because every lane was taken)."""
    right = scale.x0 + scale.width
    ends: list[float] = []
    marks: list[OutputMark] = []
    dropped = 0
    for r in output.itertuples(index=False):
        x = scale.px(float(r.t_s))
        text = _short(str(r.text), LABEL_CHARS)
        w = CHAR_W * len(text) + 8
        left = x + w > right  # near the right edge the label goes to the left of its dot
        start = x - w if left else x
        lane = next((i for i, e in enumerate(ends) if e <= start), len(ends))
        if lane >= max_lanes:
            dropped += 1
            continue
        if lane == len(ends):
            ends.append(0.0)
        ends[lane] = (x if left else x + w) + CHAR_W
        marks.append(
            OutputMark(x=x, lane=lane, text=text, title=f"{r.t_s:.6f} s {r.stream}: {r.text}", stream=str(r.stream),
                       anchor="end" if left else "start")
        )  # fmt: skip
    return marks, dropped


# --------------------------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    fmt: str = "{}"  # format for numbers; text is shown as is
    numeric: bool = False
    cls: str = ""


UNIT_TABLE = [
    Column("kind", "kind"), Column("name", "name", cls="name"), Column("role", "role"),
    Column("pid", "pid", numeric=True), Column("tid", "tid", numeric=True),
    Column("start s", "start_s", "{:.3f}", True), Column("end s", "end_s", "{:.3f}", True),
    Column("wall s", "wall_s", "{:.3f}", True), Column("CPU s", "cpu_s", "{:.3f}", True),
    Column("wait s", "wait_s", "{:.3f}", True), Column("CPU/wall", "cpu_ratio", "{:.2f}", True),
    Column("slices", "slices", numeric=True), Column("runs", "coroutine", cls="name"),
    Column("created by", "creator", cls="name"), Column("created at", "created_at"),
]  # fmt: skip
FUNCTION_TABLE = [
    Column("function", "function", cls="name"), Column("where", "where"), Column("calls", "calls", numeric=True),
    Column("total s", "total_s", "{:.4f}", True), Column("self s", "self_s", "{:.4f}", True),
    Column("mean s", "mean_s", "{:.6f}", True), Column("CPU s", "cpu_s", "{:.4f}", True),
    Column("wait s", "wait_s", "{:.4f}", True), Column("CPU/total", "cpu_share", "{:.2f}", True),
    Column("from", "origin"), Column("package", "package"),
]  # fmt: skip
CALLS_OUT_TABLE = [
    Column("function", "function", cls="name"), Column("where", "where"), Column("package", "package"),
    Column("from", "origin"), Column("called by", "own_caller", cls="name"),
    Column("calls from your code", "from_own_calls", numeric=True),
    Column("time in them s", "from_own_s", "{:.4f}", True),
]  # fmt: skip
PACKAGE_TABLE = [
    Column("package", "package", cls="name"), Column("from", "origin"), Column("self s", "self_s", "{:.4f}", True),
    Column("functions", "functions", numeric=True), Column("calls", "calls", numeric=True),
    Column("top function (by self time)", "top_function", cls="name"),
]  # fmt: skip


def _cell(value: Any, col: Column) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if col.numeric and isinstance(value, int | float | np.integer | np.floating):
        return col.fmt.format(value)
    return str(value)


def table(df: pd.DataFrame, columns: list[Column]) -> tuple[list[Column], list[list[str]]]:
    """The columns of `columns` that `df` has, and its rows as display strings (NaN → blank)."""
    cols = [c for c in columns if c.key in df.columns]
    rows = [
        [_cell(v, c) for v, c in zip(rec, cols, strict=True)]
        for rec in df[[c.key for c in cols]].itertuples(index=False)
    ]
    return cols, rows


def units_view(units: pd.DataFrame) -> pd.DataFrame:
    """Units with a blank tid for tasks and generator units: theirs is tracekit's track id
    (1000000001), not an OS thread a reader could look up."""
    u = units.copy()
    if "tid" in u.columns and "kind" in u.columns:
        tids = [None if k in ("task", "generator") else int(t) for k, t in zip(u["kind"], u["tid"], strict=True)]
        u["tid"] = pd.Series(tids, index=u.index, dtype=object)  # ints stay ints (a float column shows "6442.0")
    return u


def functions_view(functions: pd.DataFrame) -> pd.DataFrame:
    """Functions with a short "where" (file name:line; the full path is in the name column's source)."""
    f = functions.copy()
    if "file" in f.columns and "line" in f.columns:
        f["where"] = [
            f"{str(fl).rsplit('/', 1)[-1]}:{ln}" if fl else "" for fl, ln in zip(f["file"], f["line"], strict=True)
        ]
    return f


def flame_of(an: Analysis) -> dict[str, Any]:
    """The call tree per process and thread/task, pruned to what can be seen, with each call's origin."""
    origin_of = dict(zip(an.functions["name"], an.functions["origin"], strict=True)) if len(an.functions) else {}
    return report_flame(call_tree(an), origin_of)


def task_labels(an: Analysis) -> dict[tuple[int, int], str]:
    """(pid, tid) → "task count (Task-2)": a task's track named by what it runs."""
    u = an.units
    if u.empty or "coroutine" not in u.columns:
        return {}
    tasks = u[u["kind"].isin(["task", "generator"])]
    # only the tracks that hold calls are named (a sample-only aiohttp run has 8,000 tasks and none)
    tracked = pd.MultiIndex.from_frame(an.tracks[["pid", "tid"]].astype("int64"))
    tasks = tasks[pd.MultiIndex.from_frame(tasks[["pid", "tid"]].astype("int64")).isin(tracked)]
    return {
        (int(r.pid), int(r.tid)): f"{r.kind} {unit_label(str(r.kind), str(r.name), str(r.coroutine or ''))}"
        for r in tasks.itertuples(index=False)
    }


def call_tree(an: Analysis, merged: bool = False) -> CallTree:
    """The run's call tree: per process and thread or task (tasks named by their coroutine)."""
    return build_call_tree(an.events, an.tracks, process_names(an), task_labels(an), merged=merged)


def functions_context(functions: pd.DataFrame) -> dict[str, Any]:
    """Your code first: the program's own functions, what they call directly, the rest grouped by
    package, and every function (own code first) behind a toggle."""
    has_origin = "origin" in functions.columns
    own = functions[functions["origin"] == "own"] if has_origin else functions.iloc[0:0]
    packages = packages_table(functions) if has_origin else pd.DataFrame()
    packages = packages[packages["origin"] != "own"] if len(packages) else packages
    everything = own_first(functions) if has_origin else functions
    out = calls_out(functions)
    return {
        "own": table(functions_view(own.head(TOP_FUNCTIONS)), FUNCTION_TABLE),
        "own_total": len(own),
        "calls_out": table(functions_view(out.head(TOP_CALLS_OUT)), CALLS_OUT_TABLE) if len(out) else ([], []),
        "calls_out_total": len(out),
        "packages": table(packages.assign(package=packages["package"].replace("", "?")), PACKAGE_TABLE)
        if len(packages)
        else ([], []),
        "functions": table(functions_view(everything.head(TOP_FUNCTIONS)), FUNCTION_TABLE),
        "functions_total": len(functions),
    }


# --------------------------------------------------------------------------------------------- report


def report(an: Analysis) -> str:
    s = an.stats
    a = assets()
    tl_end = float(an.timeline["t_s"].max()) if len(an.timeline) else 0.0
    end = max(float(s.wall_s), float(an.units["end_s"].max()) if len(an.units) else 0.0, 1e-3)
    scale = Scale(0.0, end)
    out_df = an.output.head(MAX_OUTPUT_LINES)
    marks, dropped = output_lanes(out_df[(out_df["t_s"] >= 0) & (out_df["t_s"] <= end * 1.02)], scale)
    chart_data = ChartData(
        cores=s.context.cores, wall_s=s.wall_s, end_s=max(end, tl_end), flight=flight_series(an),
        procs=process_series(an),
    )  # fmt: skip
    ctx: dict[str, Any] = {
        "s": s,
        "at_peak": at_peak_label(s.concurrency, s.context.framework),
        "assets": a,
        "chart_data": chart_data,
        "scale": scale,
        "ticks": scale.ticks(),
        "gantt": gantt_rows(an, scale),
        "gantt_total": len(an.units),
        "row_h": ROW_H,
        "plot_x0": PLOT_X0,
        "plot_w": PLOT_W,
        "marks": marks,
        "lanes": max((m.lane for m in marks), default=-1) + 1,
        "output_dropped": dropped + max(0, len(an.output) - MAX_OUTPUT_LINES),
        "output": out_df.to_dict("records"),
        "output_total": len(an.output),
        "units": table(units_view(an.units.head(MAX_UNIT_ROWS)), UNIT_TABLE),
        "units_total": len(an.units),
        **functions_context(an.functions),
        "flame": flame_of(an),
        "task_tree": task_tree(an.units),
        "flame_min_pct": f"{MIN_SHARE * 100:g}",
    }
    return env.get_template("report.html.j2").render(**ctx)
