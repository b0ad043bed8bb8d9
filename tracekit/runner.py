"""Runs the target: prepares the child's command and environment, writes the first run.json, has
tracekit.supervise run and watch the child, has tracekit.postrun store the trace and the structure
record, then assembles the run's facts (a RunInfo, tracekit.runinfo) from what those saw and writes
the final run.json: the raw files of the run directory, before any analysis.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tracekit import __version__, reaper, recorder, vizboot
from tracekit import sampler as sampling
from tracekit.errors import OutputError, UsageError
from tracekit.phases import Phase
from tracekit.rundir import RUN_JSON, SAMPLES_CSV, STRUCTURE_JSONL, TRACE_JSON, write_json
from tracekit.runinfo import (
    OutputFacts,
    OutputLine,
    ProcessSeen,
    RunInfo,
    SamplerFacts,
    StructureFacts,
    TraceFacts,
)
from tracekit.supervise import GRACE_S, StopSignals, Supervised, Watch, supervise

if TYPE_CHECKING:
    from tracekit.postrun import TraceOutcome

DEFAULT_TRACER_ENTRIES = 1_000_000
DEFAULT_MIN_DURATION_US = 100.0  # function slices shorter than this are not kept (--min-duration; --full keeps all)
SIGNAL_FILE = ".child-signal"
RAW_TRACE = ".trace.viztracer.json"
STRUCTURE_DIR = ".structure"  # the recorder's per-process files, merged into structure.jsonl after the run
BOOT_DIR = Path(__file__).resolve().parent / "_boot"  # tracekit's sitecustomize: starts the recorder


@dataclass(frozen=True)
class RunConfig:
    """What to run and how. `target` is a script path, or a module name when `module` is true."""

    target: str
    args: tuple[str, ...]
    out_dir: Path
    module: bool = False
    interval_s: float = 0.010
    timeout_s: float | None = None
    tracer_entries: int = DEFAULT_TRACER_ENTRIES
    min_duration_us: float = DEFAULT_MIN_DURATION_US  # 0: every call (--full)
    trace: bool = True  # False: no tracer (the sampled capture, or --sample-only)
    stack_interval_us: float = 0.0  # without the tracer: sample Python stacks this often (0: none)
    echo: Callable[[str, bytes], None] | None = None  # (stream, bytes) shown live, unchanged; None: silent
    no_source: bool = False  # strip the traced files' source text (file_info) from trace.json


def validate_script(path: Path, traced: bool = True) -> None:
    """Refuse, with a one-line fix, anything that is not a readable Python source file, or (traced)
    a path viztracer 1.1.1 cannot trace: a script path that is not valid UTF-8 makes it segfault."""
    if traced:
        try:
            str(path.absolute()).encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(path).decode("utf-8", errors="replace")
            raise UsageError(
                f"the path of {shown} is not valid UTF-8, and the tracer crashes on such paths; rename the "
                "file or its folders, or use --sample-only"
            ) from None
    if not path.exists():
        raise UsageError(f"script {path} not found; check the path (try `tracekit scenarios`)")
    if path.is_dir():
        raise UsageError(f"{path} is a directory; pass a Python script, or use -m MODULE for a package")
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path} ({exc.strerror}); check its permissions") from None
    if b"\0" in source:
        raise UsageError(f"{path} is not a Python script (it is binary); pass a .py file")
    try:
        compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise UsageError(f"{path}:{exc.lineno}: syntax error: {exc.msg}; fix the script and rerun") from None
    except ValueError as exc:
        raise UsageError(f"{path} is not a Python script ({exc}); pass a .py file") from None


def child_command(cfg: RunConfig, trace_path: Path) -> list[str]:
    cmd = [sys.executable, "-m", "tracekit._child"]
    if cfg.trace:
        cmd += ["--quiet", "--tracer_entries", str(cfg.tracer_entries)]
        if cfg.min_duration_us > 0:
            cmd += ["--min_duration", f"{cfg.min_duration_us:g}"]
        cmd += ["-o", str(trace_path)]
        cmd += ["--module", cfg.target] if cfg.module else ["--", cfg.target]
    else:
        cmd += ["--no-trace", *(["-m", cfg.target] if cfg.module else [cfg.target])]
    return [*cmd, *cfg.args]


@dataclass(frozen=True)
class RunOutcome:
    """One supervised run, over: its directory and facts, and the signal that stopped tracekit's run
    (SIGINT for Ctrl-C; 0 if none)."""

    out_dir: Path
    info: RunInfo
    interrupt_signal: int = 0

    @property
    def exit_code(self) -> int | None:
        return self.info.exit_code

    @property
    def timed_out(self) -> bool:
        return self.info.timed_out

    @property
    def interrupted(self) -> bool:
        return bool(self.interrupt_signal)


def run(cfg: RunConfig, on_phase: Callable[[Phase], None] = lambda _p: None) -> RunOutcome:
    """Run the target, write run.json, samples.csv and trace.json into cfg.out_dir, and return."""
    out = cfg.out_dir
    for stale in (SIGNAL_FILE, RAW_TRACE):  # a killed run's: never read as this run's
        (out / stale).unlink(missing_ok=True)
    cmd = child_command(cfg, (out / RAW_TRACE).resolve())  # absolute: the script may chdir
    env = _child_env(cfg)
    first = starting_info(cfg, cmd)
    try:
        write_json(out / RUN_JSON, first.to_json())
    except OSError as exc:
        raise OutputError(
            f"cannot write {out / RUN_JSON} ({exc.strerror}); free some space or choose another -o DIR"
        ) from None
    stops = StopSignals()
    stops.install()
    found: list[EnvironmentFacts] = []

    def phase(name: Phase) -> None:
        if name == Phase.RUNNING and not found:  # the parent is idle while the child boots: ~35 ms, not before it
            found.append(environment_facts(cfg.trace))
        on_phase(name)

    try:
        watch = Watch(cfg.interval_s, out / SAMPLES_CSV, cfg.timeout_s, cfg.echo)
        seen = supervise(cmd, env, watch, stops, phase)
        env_facts = found[0] if found else environment_facts(cfg.trace)
        first = replace(first, platform=env_facts.platform, start_method=env_facts.start_method,
                        viztracer_version=env_facts.viztracer_version)  # fmt: skip
        return _finish(cfg, first, seen, stops, on_phase)
    finally:
        stops.restore()


def _child_env(cfg: RunConfig) -> dict[str, str]:
    """The child's environment: the run's cookie, the recorder's directory (emptied), tracekit's boot."""
    out = cfg.out_dir
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env[reaper.TOKEN_ENV] = reaper.run_token()  # every process of the run inherits it
    env[vizboot.SIGNAL_FILE_ENV] = str((out / SIGNAL_FILE).resolve())
    if cfg.no_source:
        env[vizboot.NO_SOURCE_ENV] = "1"
    structure_dir = out / STRUCTURE_DIR
    if structure_dir.is_symlink() or (structure_dir.exists() and not structure_dir.is_dir()):
        structure_dir.unlink()  # never write through a link planted in the run directory
    structure_dir.mkdir(exist_ok=True)
    for old in structure_dir.glob("*.jsonl"):  # a killed run's records: never read as this run's
        old.unlink()
    env[recorder.DIR_ENV] = str(structure_dir.resolve())
    if not cfg.trace and cfg.stack_interval_us > 0:
        env[recorder.STACKS_ENV] = f"{cfg.stack_interval_us:g}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BOOT_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return env


def starting_info(cfg: RunConfig, cmd: list[str]) -> RunInfo:
    """The facts known before the child starts (status "running": no pid, no end, captures pending;
    the environment facts empty, found while the child starts: see `environment_facts`)."""
    return RunInfo(
        target=cfg.target, module=cfg.module, args=tuple(cfg.args), command=tuple(cmd), cwd=os.getcwd(),
        traced=cfg.trace, interval_s=cfg.interval_s, timeout_s=cfg.timeout_s, tracer_entries=cfg.tracer_entries,
        min_duration_us=cfg.min_duration_us if cfg.trace else None,
        stack_interval_us=cfg.stack_interval_us if not cfg.trace and cfg.stack_interval_us > 0 else None,
        python=platform.python_version(), platform="", cores=sampling.cpu_count(),
        load_avg_before=tuple(sampling.load_average()), load_avg_after=(), start_method="",
        tracekit_version=__version__, viztracer_version=None,
        wall_clock_offset_ns=time.time_ns() - time.monotonic_ns(), started_ns=time.monotonic_ns(), ended_ns=None,
        status="running", pid=0, exit_code=None, raw_exit_code=None, exit_note=None, timed_out=False,
        interrupted=False, interrupted_by=None, killed_after_grace=False, killed_escaped_pids=(), write_errors=(),
        samples=SamplerFacts(n=0, rows=0, sampler_cpu_s=0.0), processes={},
        output=OutputFacts(lines=(), total_lines=0, total_bytes=0, cut_lines=0, truncated=False),
        structure=StructureFacts(status="pending", records=0, bytes=0), trace=TraceFacts("pending"),
    )  # fmt: skip


def _finish(
    cfg: RunConfig, first: RunInfo, seen: Supervised, stops: StopSignals, on_phase: Callable[[Phase], None]
) -> RunOutcome:
    """Store the trace and the structure record, then write the final run.json from what was seen."""
    out = cfg.out_dir
    sigterm_hidden = (out / SIGNAL_FILE).exists()  # vizboot's note: SIGTERM reached the traced program
    (out / SIGNAL_FILE).unlink(missing_ok=True)
    load_after = tuple(sampling.load_average())
    # imported once the child has run: numpy and the trace modules need not delay its start (~26 ms)
    from tracekit.postrun import TraceFiles, finish_structure, finish_trace

    structure = finish_structure(out / STRUCTURE_DIR, out / STRUCTURE_JSONL)
    files = TraceFiles(out / RAW_TRACE, out / TRACE_JSON, out / SAMPLES_CSV, out / STRUCTURE_JSONL)
    trace = finish_trace(files, cfg.trace, cfg.stack_interval_us > 0, on_phase, stops)
    info = finished_info(first, seen, sigterm_hidden, load_after, structure, trace, stops.received)
    info = _write_run_json(out, info)
    if info.write_errors:
        raise OutputError(
            f"could not write {info.write_errors[0]}; the script exited with code {info.exit_code}; what was "
            f"written is in {out}: free some space (or choose another -o DIR) and rerun"
        )
    stop_sig = stops.received[0] if stops.received else (signal.SIGINT if seen.interrupted else 0)
    return RunOutcome(out, info, int(stop_sig))


def finished_info(
    first: RunInfo, seen: Supervised, sigterm_hidden: bool, load_after: tuple[float, ...],
    structure: StructureFacts, trace: TraceOutcome, received: list[int],
) -> RunInfo:  # fmt: skip
    """The run's facts once it is over (pure: assembles what supervision and the files left).
    `sigterm_hidden`: viztracer turned a SIGTERM into exit 0 (vizboot left its signal file)."""
    exit_code, note = seen.raw_exit_code, None
    if sigterm_hidden and exit_code == 0:  # viztracer's SIGTERM handler exits 0; the truth is a death by SIGTERM
        exit_code, note = -signal.SIGTERM, "killed by SIGTERM (viztracer exited 0)"
    facts = trace.facts
    if seen.killed_after_grace and facts.status in ("missing", "empty"):
        facts = replace(facts, detail=(
            f"the run did not stop within {GRACE_S:.0f} s of SIGINT (the tracer was still saving, or the script "
            "ignores SIGINT) and was killed; a smaller --tracer-entries saves faster"
        ))  # fmt: skip
    errors = seen.write_errors + ((trace.write_error,) if trace.write_error else ())
    log = seen.output
    return replace(
        first, status="finished", pid=seen.pid, ended_ns=seen.ended_ns, exit_code=exit_code,
        raw_exit_code=seen.raw_exit_code, exit_note=note, timed_out=seen.timed_out,
        interrupted=seen.interrupted or bool(received),
        interrupted_by=signal.Signals(received[0]).name if received else None,
        killed_after_grace=seen.killed_after_grace, killed_escaped_pids=seen.escaped_pids, write_errors=errors,
        load_avg_after=load_after,
        samples=SamplerFacts(n=seen.sampler.n_samples, rows=seen.sampler.rows, sampler_cpu_s=seen.sampler.busy_s),
        processes={p.pid: ProcessSeen(ppid=p.ppid, cmdline=tuple(p.cmdline), first_seen_ns=p.first_seen_ns,
                                      last_seen_ns=p.last_seen_ns) for p in seen.sampler.processes.values()},
        output=OutputFacts(
            lines=tuple(OutputLine(t, "stderr" if s == "stderr" else "stdout", x) for t, s, x in log.lines),
            total_lines=log.total_lines, total_bytes=log.total_bytes, cut_lines=log.cut_lines,
            truncated=log.total_lines > len(log.lines) or log.cut_lines > 0,
        ),
        structure=structure, trace=facts,
    )  # fmt: skip


def _write_run_json(out: Path, info: RunInfo) -> RunInfo:
    """Write the final run.json and return what was written; when the disk is too full for it, a
    compact one (no output lines, no process list) so that the exit code and the status survive;
    else OutputError with the exit code."""
    try:
        write_json(out / RUN_JSON, info.to_json())
        return info
    except OSError as exc:
        error = f"{out / RUN_JSON}: {exc.strerror}"
    compact = replace(
        info, processes={}, output=replace(info.output, lines=(), truncated=True),
        write_errors=(*info.write_errors, error),
    )  # fmt: skip
    try:
        write_json(out / RUN_JSON, compact.to_json())
        return compact
    except OSError:
        pass
    try:  # no room even for a new small file: overwrite the first run.json in place, in its own blocks
        fd = os.open(out / RUN_JSON, os.O_WRONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps(compact.to_json(), ensure_ascii=True, separators=(",", ":")).encode())
            fh.truncate()
    except (OSError, ValueError):
        raise OutputError(
            f"could not write {error}; the script exited with code {info.exit_code}; free some space "
            "(or choose another -o DIR) and rerun"
        ) from None
    return compact


@dataclass(frozen=True)
class EnvironmentFacts:
    platform: str
    start_method: str
    viztracer_version: str | None


def environment_facts(traced: bool) -> EnvironmentFacts:
    """The platform, multiprocessing's start method and viztracer's version: ~35 ms to find (`uname -p`,
    importlib.metadata, multiprocessing), so they are found once the child has started, not before."""
    return EnvironmentFacts(platform.platform(), _start_method(), _viztracer_version() if traced else None)


def _viztracer_version() -> str:
    """The installed viztracer's version (pyproject pins it; this says what ran)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("viztracer")
    except PackageNotFoundError:
        return "?"


def _start_method() -> str:
    import multiprocessing

    return multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]
