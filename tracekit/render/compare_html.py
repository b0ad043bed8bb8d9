"""comparison.html: one self-contained page (Jinja2, autoescape on, no script, strict CSP) from a Comparison.

Charts are inline SVG whose geometry is computed here (pure arithmetic, so it is testable):
  bars       wall and CPU per model: mean bar, ±1 stdev whisker, one dot per measured run
  timelines  each model's units (from its traced run's Analysis.units) on one common 0..max time axis
Links to each run's report.html are relative to the comparison directory and percent-quoted, so a
path can never become a `javascript:` URL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tracekit.compare import Comparison, ModelResult, relation
from tracekit.render.compare_terminal import HEADERS, cells
from tracekit.render.templating import env

CHART_W = 760  # SVG width in px
LABEL_W = 170  # left margin for row labels
ROW_H = 26
AXIS_H = 30
MAX_ROWS_PER_MODEL = 12
KIND_COLOR = {"process": "#d95f02", "thread": "#1b9e77", "task": "#7570b3"}


def nice_ticks(top: float, max_ticks: int = 6) -> list[float]:
    """Round tick values 0, step, 2·step … ≥ top, with step in {1, 2, 5}·10^k and at most max_ticks + 1 ticks."""
    if not math.isfinite(top) or top <= 0:
        return [0.0, 1.0]
    raw = top / max_ticks
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


@dataclass(frozen=True)
class Bar:
    label: str
    y: float
    width: float  # mean
    lo: float  # mean − stdev (clamped at 0)
    hi: float  # mean + stdev
    dots: list[float]
    title: str
    reference: bool


@dataclass(frozen=True)
class Chart:
    title: str
    height: float
    ticks: list[tuple[float, str]]  # (x px, label)
    bars: list[Bar]


def bar_chart(cmp: Comparison, what: str) -> Chart:
    """what: "wall_s" | "cpu_s"."""
    dists = [(r, getattr(r, what)) for r in cmp.runs]
    top = max((max(d.max, d.mean + d.stdev) for _, d in dists), default=1.0)
    ticks = nice_ticks(top)
    scale = (CHART_W - LABEL_W - 20) / ticks[-1]
    bars = []
    for i, (r, d) in enumerate(dists):
        bars.append(
            Bar(
                label=r.name,
                y=AXIS_H + i * ROW_H,
                width=d.mean * scale,
                lo=max(0.0, d.mean - d.stdev) * scale,
                hi=(d.mean + d.stdev) * scale,
                dots=[v * scale for v in d.values],
                title=f"{r.name}: mean {d.mean:.3f} s ± {d.stdev:.3f}, median {d.median:.3f}, "
                f"min {d.min:.3f}, max {d.max:.3f}, n {d.n}",
                reference=r.name == cmp.reference,
            )
        )
    label = "wall time" if what == "wall_s" else "CPU time (user + system, whole process tree)"
    return Chart(
        title=f"{label}, untraced runs (s)",
        height=AXIS_H + len(bars) * ROW_H + 10,
        ticks=[(t * scale, f"{t:g}") for t in ticks],
        bars=bars,
    )


@dataclass(frozen=True)
class Row:
    y: float
    label: str
    header: bool
    x: float = 0.0
    width: float = 0.0
    color: str = ""
    title: str = ""


@dataclass(frozen=True)
class Timeline:
    height: float
    ticks: list[tuple[float, str]]
    rows: list[Row]


def _shown_units(r: ModelResult) -> list[Any]:
    workers = [u for u in r.units if u.role == "worker"]
    return workers or list(r.units)


def timelines(cmp: Comparison) -> Timeline:
    """Every model's units on one axis from 0 to the longest traced run, one lane per unit."""
    ends = [max([r.traced_wall_s or 0.0, *(u.end_s for u in r.units)]) for r in cmp.runs]
    ticks = nice_ticks(max(ends, default=1.0))
    scale = (CHART_W - LABEL_W - 20) / ticks[-1]
    rows: list[Row] = []
    y = float(AXIS_H)
    for r in cmp.runs:
        wall = f"{r.traced_wall_s:.3f} s traced" if r.traced_wall_s is not None else "not traced"
        rows.append(Row(y=y, label=f"{r.name} ({wall})", header=True))
        y += ROW_H
        units = _shown_units(r)
        for u in units[:MAX_ROWS_PER_MODEL]:
            start = max(0.0, u.start_s)
            rows.append(
                Row(
                    y=y, label=f"{u.kind} {u.name}", header=False, x=start * scale,
                    width=max(1.0, (u.end_s - start) * scale), color=KIND_COLOR.get(u.kind, "#666"),
                    title=f"{r.name}: {u.kind} {u.name} ({u.role}), {start:.3f}–{u.end_s:.3f} s",
                )
            )  # fmt: skip
            y += ROW_H
        if len(units) > MAX_ROWS_PER_MODEL:
            rows.append(Row(y=y, label=f"… {len(units) - MAX_ROWS_PER_MODEL} more units", header=False))
            y += ROW_H
    return Timeline(height=y + 10, ticks=[(t * scale, f"{t:g}") for t in ticks], rows=rows)


def comparison(cmp: Comparison) -> str:
    ctx: dict[str, Any] = {
        "c": cmp,
        "headers": HEADERS,
        "table": [(r, cells(r, cmp.reference)) for r in cmp.runs],
        "relations": [(r, relation(r, cmp.reference)) for r in cmp.runs],
        "links": {r.name: quote(f"{r.run_dir}/report.html") for r in cmp.runs if r.run_dir},
        "charts": [bar_chart(cmp, "wall_s"), bar_chart(cmp, "cpu_s")],
        "timeline": timelines(cmp),
        "W": CHART_W,
        "L": LABEL_W,
        "ROW_H": ROW_H,
        "AXIS_H": AXIS_H,
        "colors": KIND_COLOR,
    }
    return env.get_template("comparison.html.j2").render(**ctx)
