"""Typer commands: parse options, call the stages, print, exit. Thin by design.

Exit codes: the script's own exit code for `profile`; 2 usage errors; 124 timeout; 130 Ctrl-C.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tracekit.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TIMEOUT, TracekitError, UsageError

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


def fail(exc: TracekitError) -> typer.Exit:
    err.print(f"Error: {exc}")
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
    err.print(f"Error: internal error: {type(exc).__name__}: {exc}; please report it ({where})")
    return typer.Exit(EXIT_INTERNAL)


@app.command(context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
def profile(
    target: Annotated[str, typer.Argument(help="Script to run (or module name with -m).", show_default=False)],
    args: Annotated[list[str] | None, typer.Argument(help="Arguments passed to the script.")] = None,
    module: Annotated[bool, typer.Option("-m", "--module", help="TARGET is a module, run like python -m.")] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Exact run directory to write.")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between psutil samples.")] = 0.01,
    timeout: Annotated[float | None, typer.Option(help="Stop the run after this many seconds (exit 124).")] = None,
    tracer_entries: Annotated[int, typer.Option(help="viztracer ring-buffer size (events kept).")] = 1_000_000,
    sample_only: Annotated[bool, typer.Option(help="No tracer: psutil sampling and output capture only.")] = False,
    force: Annotated[bool, typer.Option(help="Replace a run already in --output.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Do not echo the program's output.")] = False,
    no_source: Annotated[
        bool, typer.Option("--no-source", help="Leave the traced files' source code out of trace.json (to share it).")
    ] = False,
) -> None:
    """Run a Python program under the tracer and sampler, and write its run directory.

    Example: tracekit profile scenarios/async_count.py
    """
    from tracekit import runner
    from tracekit.rundir import new_run_dir, prepare_output

    try:
        if interval <= 0:
            raise UsageError(f"--interval must be positive (got {interval}); try --interval 0.01")
        if timeout is not None and timeout <= 0:
            raise UsageError(f"--timeout must be positive (got {timeout}); omit it to wait for the program")
        if tracer_entries < 1000:
            raise UsageError(f"--tracer-entries must be at least 1000 (got {tracer_entries})")
        if not module:
            runner.validate_script(Path(target))
        stem = target.rsplit(".", 1)[-1] if module else Path(target).stem
        run_dir = prepare_output(output, force) if output is not None else new_run_dir(stem or "run")
    except TracekitError as exc:
        raise fail(exc) from None

    def echo(stream: str, line: str) -> None:
        (out if stream == "stdout" else err).print(line)

    cfg = runner.RunConfig(
        target=target, args=tuple(args or ()), out_dir=run_dir, module=module, interval_s=interval,
        timeout_s=timeout, tracer_entries=tracer_entries, trace=not sample_only, echo=None if quiet else echo,
        no_source=no_source,
    )  # fmt: skip
    status = err.status("running " + target, spinner="dots")
    status.start()

    def phase(name: str) -> None:
        msg = {"saving": "saving the trace", "timeout": "timed out: stopping", "interrupted": "interrupted: stopping"}
        status.update(msg.get(name, f"{name} {target}"))

    try:
        result = runner.run(cfg, on_phase=phase)
        status.update("analysing")
        an = _analyse_and_write(run_dir)
    except TracekitError as exc:
        status.stop()
        raise fail(exc) from None
    except Exception as exc:  # a bug: one line for the user, the traceback kept in the run directory
        status.stop()
        raise internal_error(exc, run_dir) from None
    finally:
        status.stop()
    from tracekit.render.terminal import summary

    err.print(summary(an, run_dir))
    if result.timed_out:
        raise typer.Exit(EXIT_TIMEOUT)
    if result.interrupted:  # Ctrl-C: 130; SIGTERM/SIGHUP to tracekit: 128 + N
        raise typer.Exit(128 + result.interrupt_signal if result.interrupt_signal else EXIT_INTERRUPTED)
    code = result.exit_code or 0
    raise typer.Exit(code if code >= 0 else 128 - code)


def _analyse_and_write(run_dir: Path):  # type: ignore[no-untyped-def]
    from tracekit.analysis import analyse
    from tracekit.render.html import report as render_report
    from tracekit.rundir import REPORT_HTML, STATS_JSON, atomic_write, load_inputs, read_run, write_json

    an = analyse(load_inputs(read_run(run_dir)))
    write_json(run_dir / STATS_JSON, an.stats.to_dict())
    atomic_write(run_dir / REPORT_HTML, render_report(an))
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

    err.print(summary(an, run_dir))


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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("Error: interrupted")
        sys.exit(EXIT_INTERRUPTED)
