"""diff.html: one self-contained page (Jinja2, autoescape on, hash-based CSP) from a Diff and the two
sides' call trees: the metrics with their noise, the changed functions and units, the findings that
appeared or went away, and a differential flame graph (templates/flame.js in delta mode: B's call tree,
each frame coloured by how its total changed since A, red slower, blue faster)."""

from __future__ import annotations

from functools import cache
from typing import Any

from tracekit.analysis.calltree import MAX_NODES, MIN_SHARE, prune
from tracekit.diff import ALPHA, MIN_EFFECT, Diff, Side, delta_tree
from tracekit.render.diff_terminal import metric_row
from tracekit.render.flame import flame_data
from tracekit.render.html import Assets, _asset, content_security_policy
from tracekit.render.templating import env


@cache
def diff_assets() -> Assets:
    """tracekit's table sorter and the flame graph (no charts, so no uPlot), and the CSP allowing them."""
    scripts = (_asset("templates/report.js"), _asset("templates/flame.js"))
    style = _asset("templates/report.css")
    return Assets(scripts=scripts, style=style, csp=content_security_policy(scripts, (style,)))


def diff_flame(a: Side, b: Side, origin_of: dict[str, str]) -> dict[str, Any]:
    """B's merged call tree (pruned to what can be seen) with each frame's change since A."""
    small, dropped = prune(b.tree, MIN_SHARE, MAX_NODES)
    data = flame_data(small, origin_of, dropped)
    delta, only_a = delta_tree(a, small, b)
    data["delta"] = [round(x, 1) for x in delta]
    calls = [abs(x) for x, k in zip(delta, data["kind"], strict=True) if k == "call"]
    data["scale"] = max(calls, default=0.0) or 1.0
    data["sides"] = [a.label, b.label]
    data["only_a"] = only_a
    return data


def diff_page(d: Diff, a: Side, b: Side) -> str:
    """The page; each call's origin (own, package, stdlib) from B's Functions frame."""
    f = b.functions
    origin_of = dict(zip(f["name"], f["origin"], strict=True)) if len(f) else {}
    ctx = {
        "d": d,
        "assets": diff_assets(),
        "metrics": [metric_row(m) for m in d.metrics],
        "flame": diff_flame(a, b, origin_of),
        "alpha": ALPHA,
        "min_effect_pct": f"{MIN_EFFECT * 100:g}",
    }
    return env.get_template("diff.html.j2").render(**ctx)
