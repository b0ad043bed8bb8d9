"""report.html: one self-contained page rendered with Jinja2 (autoescape on) from an Analysis."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from tracekit.analysis import Analysis
from tracekit.render.terminal import fmt_bytes

_env = Environment(
    loader=PackageLoader("tracekit.render", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["bytes"] = fmt_bytes


def report(an: Analysis) -> str:
    s = an.stats
    ctx: dict[str, Any] = {
        "s": s,
        "units": an.units.to_dict("records"),
        "functions": an.functions.head(50).to_dict("records"),
        "functions_total": len(an.functions),
        "output": an.output.head(500).to_dict("records"),
    }
    return _env.get_template("report.html.j2").render(**ctx)
