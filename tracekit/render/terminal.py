"""The terminal summary: a rich table of the key numbers, the findings, where the time went and where
the files are, returned as text (`summary`); only the CLI prints it."""

from __future__ import annotations

import shlex
import unicodedata
from pathlib import Path

import pandas as pd
from rich.table import Table
from rich.text import Text

from tracekit.analysis import Analysis
from tracekit.analysis.findings import at_peak_label
from tracekit.render.text import ColorSystem, to_text

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
TOP_OWN = 5  # the program's own functions in the summary
TOP_PACKAGES = 5
TOP_CALLS_OUT = 5


def plain(text: str) -> str:
    """Untrusted text for a rich Text (which takes no markup): control characters dropped."""
    return "".join(c for c in str(text) if unicodedata.category(c) != "Cc")


def printable(text: str) -> str:
    """Untrusted text (a function or file name from the traced program) for a terminal: control
    characters (escape sequences, carriage returns) dropped. Markup needs no escaping: `to_text`
    renders with markup off, so "list[int]" shows as itself (an escape would show as "list\\[int]")."""
    return "".join(c for c in str(text) if unicodedata.category(c) != "Cc")


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}es" if noun.endswith("s") else f"{n} {noun}s"


def capture_text(min_duration_us: float | None, stack_interval_us: float | None = None) -> str:
    """The capture's resolution in words: what is exact and what the tracer's filter left out."""
    if stack_interval_us:
        return (
            f"structure exact; function times sampled every {stack_interval_us / 1e3:g} ms "
            "(Python frames; calls shorter than that may be missed; --trace or --full for the tracer)"
        )
    if min_duration_us is None:
        return "structure exact (units, loop steps); no function slices (--sample-only)"
    if min_duration_us <= 0:
        return "structure exact; every function call kept (--full)"
    return f"structure exact; function slices of {min_duration_us:g} µs and more (--full keeps all)"


def summary(
    an: Analysis, run_dir: Path, width: int = 80, color_system: ColorSystem | None = None, encoding: str = "utf-8"
) -> str:
    """The summary as the text a terminal `width` columns wide shows (colour only with `color_system`)."""
    s = an.stats
    t = Table(title=f"tracekit: {printable(s.target)}", show_header=False, title_justify="left")
    t.add_column("what", style="bold")
    t.add_column("value")
    t.add_row("wall", f"{s.wall_s:.3f} s")
    t.add_row("CPU", f"{s.cpu_s:.3f} s  (user {s.cpu_user_s:.3f} s, system {s.cpu_system_s:.3f} s)")
    t.add_row("parallelism", f"{s.parallelism:.2f} cores busy on average (of {s.context.cores})")
    mix = at_peak_label(s.concurrency, s.context.framework)
    kinds_at_peak = f" ({mix})" if mix else ""
    t.add_row("concurrency", f"peak {s.concurrency.peak} in flight{kinds_at_peak}, mean {s.concurrency.mean:.2f}")
    t.add_row("peak RSS", fmt_bytes(s.peak_rss_tree_bytes))
    u = s.units
    task = f"{s.context.framework or 'asyncio'} task"
    kinds = f"{plural(u.processes, 'process')}, {plural(u.threads, 'thread')}, {plural(u.tasks, task)}"
    if u.generators:
        kinds += f", {plural(u.generators, 'generator unit')}"
    helpers = f", {plural(u.helpers, 'helper')}" if u.helpers else ""
    t.add_row("units", f"{kinds}; {plural(u.workers, 'worker')}{helpers}")
    if s.output_order:
        t.add_row("output order", printable(s.output_order))  # the program's own output: untrusted
    if s.loop_blocked_max_s > 0:
        t.add_row("loop blocked", f"{s.loop_blocked_max_s:.3f} s at most")
    code = s.exit_code
    status = (
        "timed out" if s.timed_out
        else f"killed by signal {-code} (exit {128 - code})" if code is not None and code < 0
        else f"exit code {code}"
    )  # fmt: skip
    t.add_row("status", status)
    t.add_row("capture", capture_text(s.context.min_duration_us, s.context.stack_interval_us))
    parts: list[Table | Text] = [t]
    for f in s.findings:
        parts.append(Text.assemble(("• ", SEVERITY_STYLE.get(f.severity, "")), plain(f.message)))
    parts.extend(where_time_went(an.functions))
    files = Text(f"\nRun directory: {run_dir}\n", style="dim")
    files.append(f"  report:  {run_dir / 'report.html'}\n  stats:   {run_dir / 'stats.json'}\n")
    files.append(f"  trace:   tracekit open {shlex.quote(str(run_dir))}")
    parts.append(files)
    return to_text(parts, width, color_system, encoding)


def _calls_out_table(functions: pd.DataFrame) -> list[Table]:
    """What the program's own code called directly, by the time inside those calls."""
    from tracekit.analysis.functions import calls_out

    out = calls_out(functions).head(TOP_CALLS_OUT)
    if out.empty:
        return []
    t = Table(title="what your code calls (time inside the calls it made)", title_justify="left")
    for col in ("function", "package", "called by", "calls", "s"):
        t.add_column(col, justify="right" if col in ("calls", "s") else "left")
    for r in out.itertuples(index=False):
        pkg = printable(r.package or "?")
        t.add_row(printable(r.function), pkg, printable(r.own_caller), str(r.from_own_calls), f"{r.from_own_s:.3f}")
    return [t]


def where_time_went(functions: pd.DataFrame) -> list[Table]:
    """The program's own functions first (by total time), then what they call directly, then self
    time by package."""
    from tracekit.analysis.functions import packages_table

    if functions.empty or "origin" not in functions:
        return []
    own = functions[functions["origin"] == "own"].head(TOP_OWN)
    out: list[Table] = []
    if len(own):
        t = Table(title="your code (by total time)", title_justify="left")
        for col in ("function", "where", "calls", "total s", "self s"):
            t.add_column(col, justify="right" if col.endswith(("s", "calls")) and col != "function" else "left")
        for r in own.itertuples(index=False):
            where = f"{str(r.file).rsplit('/', 1)[-1]}:{r.line}" if r.file else ""
            t.add_row(printable(r.function), printable(where), str(r.calls), f"{r.total_s:.3f}", f"{r.self_s:.3f}")
        out.append(t)
    out.extend(_calls_out_table(functions))
    pk = packages_table(functions)
    pk = pk[pk["origin"] != "own"].head(TOP_PACKAGES)
    if len(pk):
        t = Table(title="the rest, by package (self time)", title_justify="left")
        for col in ("package", "from", "self s", "functions", "top function"):
            t.add_column(col, justify="right" if col in ("self s", "functions") else "left")
        for r in pk.itertuples(index=False):
            top = printable(r.top_function)
            t.add_row(printable(r.package or "?"), r.origin, f"{r.self_s:.3f}", str(r.functions), top)
        out.append(t)
    return out
