"""Runs the target under viztracer in a child process, samples it, captures its output, and writes
the raw files of the run directory (run.json, trace.json, samples.csv) before any analysis.

The child runs in its own session (process group) so a timeout or Ctrl-C can stop the whole tree,
and nothing the script does (crash, sys.exit, os._exit, hang) can take tracekit down.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tracekit import __version__
from tracekit import sampler as sampling
from tracekit.errors import UsageError
from tracekit.rundir import RUN_JSON, RUN_SCHEMA, SAMPLES_CSV, TRACE_JSON, atomic_write, write_json
from tracekit.trace import TraceError, enrich

VIZTRACER_VERSION = "1.1.1"
DEFAULT_TRACER_ENTRIES = 1_000_000
GRACE_S = 6.0  # after SIGINT, how long viztracer may take to save before the group is killed
MAX_OUTPUT_LINES = 20_000  # lines kept with their times in run.json; the rest are counted
MAX_LINE_CHARS = 2_000


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
    trace: bool = True  # False: --sample-only (psutil and output, no tracer)
    echo: Callable[[str, str], None] | None = None  # (stream, line) shown live; None: silent


@dataclass
class OutputLog:
    """The child's output lines with their monotonic times, bounded; the rest are counted."""

    lines: list[tuple[int, str, str]] = field(default_factory=list)
    total_lines: int = 0
    total_bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, t_ns: int, stream: str, raw: bytes) -> None:
        with self.lock:
            self.total_lines += 1
            self.total_bytes += len(raw)
            if len(self.lines) < MAX_OUTPUT_LINES:
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")[:MAX_LINE_CHARS]
                self.lines.append((t_ns, stream, text))


def validate_script(path: Path) -> None:
    """Refuse, with a one-line fix, anything that is not a readable Python source file."""
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
        cmd += ["--quiet", "--log_async", "--tracer_entries", str(cfg.tracer_entries)]
        cmd += ["-o", str(trace_path)]
        cmd += ["--module", cfg.target] if cfg.module else ["--", cfg.target]
    else:
        cmd += ["--no-trace", *(["-m", cfg.target] if cfg.module else [cfg.target])]
    return [*cmd, *cfg.args]


def _pump(pipe: IO[bytes], stream: str, echo: Callable[[str, str], None] | None, log: OutputLog) -> None:
    for raw in iter(pipe.readline, b""):
        t_ns = time.monotonic_ns()
        log.add(t_ns, stream, raw)
        if echo is not None:
            try:
                echo(stream, raw.decode("utf-8", errors="replace").rstrip("\r\n"))
            except (OSError, ValueError):  # our own stdout went away: keep recording
                echo = None
    pipe.close()


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass
class RunResult:
    out_dir: Path
    run: dict[str, Any]
    exit_code: int | None
    timed_out: bool
    interrupted: bool


def run(cfg: RunConfig, on_phase: Callable[[str], None] = lambda _p: None) -> RunResult:
    """Run the target, write run.json, samples.csv and trace.json into cfg.out_dir, and return."""
    out = cfg.out_dir
    raw_trace = out / ".trace.viztracer.json"
    cmd = child_command(cfg, raw_trace)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    run: dict[str, Any] = {
        "schema": RUN_SCHEMA,
        "target": cfg.target,
        "module": cfg.module,
        "args": list(cfg.args),
        "command": cmd,
        "cwd": os.getcwd(),
        "traced": cfg.trace,
        "interval_s": cfg.interval_s,
        "timeout_s": cfg.timeout_s,
        "tracer_entries": cfg.tracer_entries,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cores": sampling.cpu_count(),
        "load_avg_before": list(sampling.load_average()),
        "start_method": _start_method(),
        "tracekit_version": __version__,
        "viztracer_version": VIZTRACER_VERSION if cfg.trace else None,
        "wall_clock_offset_ns": time.time_ns() - time.monotonic_ns(),
        "started_ns": time.monotonic_ns(),
        "ended_ns": None,
        "exit_code": None,
        "timed_out": False,
        "interrupted": False,
        "status": "running",
    }
    write_json(out / RUN_JSON, run)

    log = OutputLog()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True
    )
    run["pid"] = proc.pid
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, "stdout", cfg.echo, log), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, "stderr", cfg.echo, log), daemon=True),
    ]
    for t in pumps:
        t.start()
    smp = sampling.Sampler(proc.pid, cfg.interval_s, out / SAMPLES_CSV)
    smp.start()
    on_phase("running")

    timed_out = interrupted = False
    deadline = None if cfg.timeout_s is None else time.monotonic() + cfg.timeout_s
    try:
        timed_out = _wait(proc, deadline)
    except KeyboardInterrupt:
        interrupted = True
        on_phase("interrupted")
        _stop(proc)
    if timed_out:
        on_phase("timeout")
        _stop(proc)
    ended_ns = time.monotonic_ns()
    # Whatever the script left behind in its group (daemons, orphans) goes now: a run leaves nothing.
    _killpg(proc.pid, signal.SIGKILL)
    smp_result = smp.stop()
    for t in pumps:
        t.join(timeout=5)

    run.update(
        ended_ns=ended_ns,
        exit_code=proc.returncode,
        timed_out=timed_out,
        interrupted=interrupted,
        status="finished",
        load_avg_after=list(sampling.load_average()),
        samples={"n": smp_result.n_samples, "rows": smp_result.rows, "sampler_cpu_s": smp_result.busy_s},
        processes={
            str(p.pid): {
                "ppid": p.ppid,
                "cmdline": p.cmdline,
                "first_seen_ns": p.first_seen_ns,
                "last_seen_ns": p.last_seen_ns,
            }
            for p in smp_result.processes.values()
        },
        output={
            "lines": [list(x) for x in log.lines],
            "total_lines": log.total_lines,
            "total_bytes": log.total_bytes,
            "truncated": log.total_lines > len(log.lines),
        },
    )
    run["trace"] = _finish_trace(cfg, raw_trace, out / TRACE_JSON, out / SAMPLES_CSV, on_phase)
    write_json(out / RUN_JSON, run)
    return RunResult(out, run, proc.returncode, timed_out, interrupted)


def _wait(proc: subprocess.Popen[bytes], deadline: float | None) -> bool:
    """Wait for the child; True when the deadline passed first."""
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            proc.wait(timeout=timeout)
            return False
        except subprocess.TimeoutExpired:
            return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Interrupt the whole group (viztracer saves on SIGINT), then kill it if it does not finish."""
    _killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=GRACE_S)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        _killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _finish_trace(
    cfg: RunConfig, raw: Path, final: Path, samples_csv: Path, on_phase: Callable[[str], None]
) -> dict[str, Any]:
    """Validate viztracer's output instead of trusting the exit code, then enrich and store it."""
    if not cfg.trace:
        return {"status": "not traced", "detail": "--sample-only"}
    if not raw.exists():
        return {"status": "missing", "detail": "the tracer wrote no trace (os._exit, SIGKILL or a crash)"}
    if raw.stat().st_size == 0:
        raw.unlink()
        return {"status": "empty", "detail": "the tracer wrote an empty trace file"}
    on_phase("saving")
    try:
        data, summary = enrich(raw.read_bytes(), counter_events(samples_csv))
    except TraceError as exc:
        keep = final.with_name("trace.invalid.json")
        os.replace(raw, keep)
        return {"status": "invalid", "detail": str(exc), "kept_as": keep.name}
    atomic_write(final, data)
    raw.unlink()
    return {"status": "ok", **summary}


def _start_method() -> str:
    import multiprocessing

    return multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]


def counter_events(samples_csv: Path) -> list[dict[str, Any]]:
    """psutil samples as Perfetto counter tracks: CPU % and RSS (MiB) under each process."""
    import pandas as pd

    from tracekit.analysis.cpu import SAMPLE_DTYPES, process_series

    try:
        samples = pd.read_csv(samples_csv, dtype=SAMPLE_DTYPES)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return []
    series = process_series(samples)
    return [
        {"ph": "C", "pid": pid, "tid": pid, "ts": t_ns / 1e3, "name": name, "cat": "tracekit", "args": {name: val}}
        for t_ns, pid, cpu_pct, rss in zip(
            series["t_ns"].tolist(), series["pid"].tolist(), series["cpu_pct"].tolist(),
            series["rss_bytes"].tolist(), strict=True,
        )
        for name, val in (("CPU %", round(cpu_pct, 1)), ("RSS MiB", round(rss / 2**20, 2)))
    ]  # fmt: skip
