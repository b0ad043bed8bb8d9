"""The one Jinja2 environment every HTML renderer uses: autoescape on for every template and string,
so whatever came from the traced program is escaped unless a renderer deliberately marks it safe."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape

from tracekit.render.terminal import fmt_bytes

env = Environment(
    loader=PackageLoader("tracekit.render", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["bytes"] = fmt_bytes
