"""Runs the target under viztracer in a child process, samples it, captures its output, and writes
the raw files of the run directory (run.json, trace.json, samples.csv) before any analysis.

The child runs in its own session (process group) so a timeout or Ctrl-C can stop the whole tree,
and nothing the script does (crash, sys.exit, os._exit, hang) can take tracekit down.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from tracekit import __version__, reaper, recorder, vizboot
from tracekit import sampler as sampling
from tracekit.errors import Interrupted, OutputError, UsageError
from tracekit.rundir import (
    EVENTS_CACHE,
    RUN_JSON,
    RUN_SCHEMA,
    SAMPLES_CSV,
    STRUCTURE_JSONL,
    TRACE_JSON,
    atomic_write,
    write_json,
)
from tracekit.trace.cache import save_columns
from tracekit.trace.format import TraceError
from tracekit.trace.frames import enrich_to_trace

DEFAULT_TRACER_ENTRIES = 1_000_000
DEFAULT_MIN_DURATION_US = 100.0  # function slices shorter than this are not kept (--min-duration; --full keeps all)
GRACE_S = 6.0  # after SIGINT, how long viztracer may take to save before the group is killed
MAX_OUTPUT_LINES = 20_000  # lines kept with their times in run.json; the rest are counted
MAX_LINE_CHARS = 2_000
READ_CHUNK = 64 * 1024  # the longest piece of a line read at once (bounds memory for huge lines)
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


@dataclass
class OutputLog:
    """The child's output lines with their monotonic times, bounded; the rest are counted.

    Lines are read in chunks of at most READ_CHUNK bytes, so a 100 MB line costs no more memory
    than a short one; a chunk that continues a line adds bytes but no line.
    """

    lines: list[tuple[int, str, str]] = field(default_factory=list)
    total_lines: int = 0
    total_bytes: int = 0
    cut_lines: int = 0  # lines kept shortened to MAX_LINE_CHARS
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, t_ns: int, stream: str, raw: bytes, continuation: bool = False) -> None:
        with self.lock:
            self.total_bytes += len(raw)
            if continuation:
                return
            self.total_lines += 1
            if len(self.lines) < MAX_OUTPUT_LINES:
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if len(text) > MAX_LINE_CHARS or (len(raw) >= READ_CHUNK and not raw.endswith(b"\n")):
                    self.cut_lines += 1
                self.lines.append((t_ns, stream, text[:MAX_LINE_CHARS]))


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


class _LineLog:
    """Cuts one stream's bytes into the lines OutputLog keeps: a line ends at a newline, or after
    READ_CHUNK bytes (a continuation follows), so a huge line costs no more memory than a short one."""

    def __init__(self, log: OutputLog, stream: str) -> None:
        self.log, self.stream = log, stream
        self.pending = b""
        self.continuation = False

    def feed(self, t_ns: int, data: bytes) -> None:
        buf, start = self.pending + data, 0
        while True:
            nl = buf.find(b"\n", start)
            if 0 <= nl < start + READ_CHUNK:
                end = nl + 1
            elif len(buf) - start >= READ_CHUNK:
                end = start + READ_CHUNK
            else:
                break
            self._add(t_ns, buf[start:end])
            start = end
        self.pending = buf[start:]

    def close(self, t_ns: int) -> None:
        if self.pending:
            self._add(t_ns, self.pending)
            self.pending = b""

    def _add(self, t_ns: int, raw: bytes) -> None:
        self.log.add(t_ns, self.stream, raw, self.continuation)
        self.continuation = not raw.endswith(b"\n")


def _pump(pipe: IO[bytes], stream: str, echo: Callable[[str, bytes], None] | None, log: OutputLog) -> None:
    """Echo the child's bytes as they come, unchanged (no line splitting, no decoding: a prompt
    without a newline shows at once, CRLF and bad bytes pass through), and log them as lines."""
    lines = _LineLog(log, stream)
    fd = pipe.fileno()
    while data := os.read(fd, READ_CHUNK):
        if echo is not None:
            try:
                echo(stream, data)
            except (OSError, ValueError):  # our own stdout went away: keep recording
                echo = None
        lines.feed(time.monotonic_ns(), data)
    lines.close(time.monotonic_ns())
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
    interrupt_signal: int = 0  # the signal that interrupted tracekit (SIGINT for Ctrl-C), 0 if none


def run(cfg: RunConfig, on_phase: Callable[[str], None] = lambda _p: None) -> RunResult:
    """Run the target, write run.json, samples.csv and trace.json into cfg.out_dir, and return."""
    out = cfg.out_dir
    for stale in (SIGNAL_FILE, RAW_TRACE):  # a killed run's: never read as this run's
        (out / stale).unlink(missing_ok=True)
    cmd = child_command(cfg, (out / RAW_TRACE).resolve())  # absolute: the script may chdir
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env[reaper.TOKEN_ENV] = token = reaper.run_token()  # every process of the run inherits it
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
        "min_duration_us": cfg.min_duration_us if cfg.trace else None,
        "stack_interval_us": cfg.stack_interval_us if not cfg.trace and cfg.stack_interval_us > 0 else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cores": sampling.cpu_count(),
        "load_avg_before": list(sampling.load_average()),
        "start_method": _start_method(),
        "tracekit_version": __version__,
        "viztracer_version": _viztracer_version() if cfg.trace else None,
        "wall_clock_offset_ns": time.time_ns() - time.monotonic_ns(),
        "started_ns": time.monotonic_ns(),
        "ended_ns": None,
        "exit_code": None,
        "timed_out": False,
        "interrupted": False,
        "status": "running",
    }
    try:
        write_json(out / RUN_JSON, run)
    except OSError as exc:
        raise OutputError(
            f"cannot write {out / RUN_JSON} ({exc.strerror}); free some space or choose another -o DIR"
        ) from None

    log = OutputLog()
    ids = _RunIds(token, frozenset(reaper.my_children()))  # tracekit's children before the run are not the run's
    stops = StopSignals()
    stops.install()
    try:
        # stdin is tracekit's own (a terminal stays a terminal, piped input reaches the program);
        # die_with_parent: a SIGKILLed tracekit takes the child with it (the guardian gets the rest)
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
            preexec_fn=reaper.die_with_parent,
        )  # fmt: skip
    except BaseException:
        stops.restore()
        raise
    try:
        return _supervise(cfg, proc, run, log, stops, on_phase, ids)
    finally:
        # Whatever happens in tracekit (Ctrl-C at any point, a bug), the run's processes go.
        _killpg(proc.pid, signal.SIGKILL)
        reaper.kill_token(token)
        reaper.kill_orphans(keep=ids.before)
        stops.restore()


@dataclass(frozen=True)
class _RunIds:
    """How the run's processes are found at its end: the cookie in their environment, and (for those
    that cleared it) being re-parented to tracekit, the subreaper, without being one of its children
    from before the run (the guardian, compare's spawner)."""

    token: str
    before: frozenset[int]


class StopSignals:
    """Ctrl-C, SIGTERM and SIGHUP sent to tracekit during a run stop the run instead of killing
    tracekit (which would orphan the child: it runs in its own session, so it does not get them).
    A signal tracekit was started with ignored (nohup) is left alone: the child inherits SIG_IGN.

    While `abortable`, a signal raises KeyboardInterrupt; otherwise (while tracekit writes the run
    directory) it is only recorded, so that the files are finished first.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: list[int] = []
        self.abortable = True
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # handlers can only be set from the main thread (library use from a thread)
        for sig in self.SIGNALS:
            if signal.getsignal(sig) == signal.SIG_IGN:
                continue  # the user ignored it (nohup, `cmd &`): it stays ignored, for the program too
            self._old[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def _handle(self, signum: int, _frame: object) -> None:
        self.received.append(signum)
        if self.abortable:
            raise Interrupted(signum)


def _supervise(
    cfg: RunConfig,
    proc: subprocess.Popen[bytes],
    run: dict[str, Any],
    log: OutputLog,
    stops: StopSignals,
    on_phase: Callable[[str], None],
    ids: _RunIds,
) -> RunResult:
    out = cfg.out_dir
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

    timed_out = interrupted = killed = False
    deadline = None if cfg.timeout_s is None else time.monotonic() + cfg.timeout_s
    try:
        timed_out = _wait(proc, deadline)
        if timed_out:
            on_phase("timeout")
            killed = _stop(proc)
    except KeyboardInterrupt:
        interrupted = True
        on_phase("interrupted")
        killed = _stop(proc)
    ended_ns = time.monotonic_ns()
    stops.abortable = False  # from here on a signal is only recorded: the run directory is finished first
    smp_result, escaped, write_errors = _leave_nothing(proc, smp, ids, out)
    for t in pumps:
        t.join(timeout=5)
    exit_code = _exit_facts(run, proc, out, killed, escaped)
    run.update(
        ended_ns=ended_ns,
        timed_out=timed_out,
        interrupted=interrupted or bool(stops.received),
        interrupted_by=signal.Signals(stops.received[0]).name if stops.received else None,
        status="finished",
        load_avg_after=list(sampling.load_average()),
        **_observed_facts(smp_result, log),
    )
    run["structure"] = _finish_structure(out)
    run["trace"] = _finish_trace(
        cfg, out / RAW_TRACE, out / TRACE_JSON, out / SAMPLES_CSV, out / STRUCTURE_JSONL, on_phase, stops
    )
    if killed and run["trace"]["status"] in ("missing", "empty"):
        run["trace"]["detail"] = (
            f"the run did not stop within {GRACE_S:.0f} s of SIGINT (the tracer was still saving, or the script "
            "ignores SIGINT) and was killed; a smaller --tracer-entries saves faster"
        )
    if stops.received:  # a signal while tracekit saved the trace is recorded too
        run.update(interrupted=True, interrupted_by=signal.Signals(stops.received[0]).name)
    if run["trace"].pop("write_error", None):
        write_errors.append(f"{out / TRACE_JSON}: {run['trace']['detail']}")
    run["write_errors"] = write_errors
    _write_run_json(out, run)
    if run["write_errors"]:
        raise OutputError(
            f"could not write {run['write_errors'][0]}; the script exited with code {exit_code}; what was written "
            f"is in {out}: free some space (or choose another -o DIR) and rerun"
        )
    stop_sig = stops.received[0] if stops.received else (signal.SIGINT if interrupted else 0)
    return RunResult(out, run, exit_code, timed_out, bool(stop_sig), int(stop_sig))


def _leave_nothing(
    proc: subprocess.Popen[bytes], smp: sampling.Sampler, ids: _RunIds, out: Path
) -> tuple[sampling.SamplerResult, list[int], list[str]]:
    """Kill whatever the script left behind (its group, then every process that left it, then every
    process carrying the run's cookie), stop the sampler; return its result, the pids killed outside
    the group, and the write errors (a full disk, a quota: recorded, and the run still finishes)."""
    _killpg(proc.pid, signal.SIGKILL)
    write_errors: list[str] = []
    try:
        smp_result = smp.stop()
    except OSError as exc:
        write_errors.append(f"{out / SAMPLES_CSV}: {exc.strerror}")
        smp_result = sampling.SamplerResult(n_samples=0, rows=0)
    # processes of the run that left the group (setsid), seen by the sampler...
    escaped = sampling.kill_leftovers(list(smp_result.processes.values()))
    # ...and those it never saw: daemons re-parented to tracekit, sessions started just before the exit
    escaped += [pid for pid in reaper.kill_token(ids.token) if pid not in escaped]
    # ...and orphans that cleared their environment (`env -i`), re-parented to tracekit
    escaped += [pid for pid in reaper.kill_orphans(keep=ids.before) if pid not in escaped]
    reaper.reap_zombies(keep=[proc.pid])
    return smp_result, escaped, write_errors


def _exit_facts(run: dict[str, Any], proc: subprocess.Popen[bytes], out: Path, killed: bool, escaped: list[int]) -> int:
    """Record how the child ended; return the true exit code (-15 where viztracer turned SIGTERM into 0)."""
    exit_code = proc.returncode
    run.update(
        exit_code=exit_code, raw_exit_code=exit_code, exit_note=None, killed_after_grace=killed,
        killed_escaped_pids=escaped,
    )  # fmt: skip
    sig_file = out / SIGNAL_FILE
    if sig_file.exists():
        sig_file.unlink()
        if exit_code == 0:
            # viztracer's SIGTERM handler exits 0; the truth is a death by SIGTERM
            exit_code = -signal.SIGTERM
            run.update(exit_code=exit_code, exit_note="killed by SIGTERM (viztracer exited 0)")
    return int(exit_code)


def _observed_facts(smp_result: sampling.SamplerResult, log: OutputLog) -> dict[str, Any]:
    """What the sampler and the output capture saw, as run.json fields."""
    return {
        "samples": {"n": smp_result.n_samples, "rows": smp_result.rows, "sampler_cpu_s": smp_result.busy_s},
        "processes": {
            str(p.pid): {
                "ppid": p.ppid,
                "cmdline": p.cmdline,
                "first_seen_ns": p.first_seen_ns,
                "last_seen_ns": p.last_seen_ns,
            }
            for p in smp_result.processes.values()
        },
        "output": {
            "lines": [list(x) for x in log.lines],
            "total_lines": log.total_lines,
            "total_bytes": log.total_bytes,
            "cut_lines": log.cut_lines,
            "truncated": log.total_lines > len(log.lines) or log.cut_lines > 0,
        },
    }


def _write_run_json(out: Path, run: dict[str, Any]) -> None:
    """The final run.json; when the disk is too full for it, a compact one (no output lines, no
    process list) so that the exit code and the status survive; else OutputError with the exit code."""
    try:
        write_json(out / RUN_JSON, run)
        return
    except OSError as exc:
        error = f"{out / RUN_JSON}: {exc.strerror}"
    compact = dict(run, processes={}, output=dict(run["output"], lines=[], truncated=True))
    compact["write_errors"] = [*run["write_errors"], error]
    try:
        write_json(out / RUN_JSON, compact)
    except OSError:
        pass
    else:
        run.clear()
        run.update(compact)
        return
    try:  # no room even for a new small file: overwrite the first run.json in place, in its own blocks
        fd = os.open(out / RUN_JSON, os.O_WRONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps(compact, ensure_ascii=True, separators=(",", ":")).encode())
            fh.truncate()
    except (OSError, ValueError):
        raise OutputError(
            f"could not write {error}; the script exited with code {run['exit_code']}; free some space "
            "(or choose another -o DIR) and rerun"
        ) from None
    run.clear()
    run.update(compact)


def _wait(proc: subprocess.Popen[bytes], deadline: float | None) -> bool:
    """Wait for the child; True when the deadline passed first."""
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            proc.wait(timeout=timeout)
            return False
        except subprocess.TimeoutExpired:
            return True


def _stop(proc: subprocess.Popen[bytes]) -> bool:
    """Interrupt the whole group (viztracer saves on SIGINT), then kill it if it does not finish.
    True when it had to be killed."""
    _killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=GRACE_S)
        return False
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        _killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


def _finish_trace(
    cfg: RunConfig,
    raw: Path,
    final: Path,
    samples_csv: Path,
    structure_jsonl: Path,
    on_phase: Callable[[str], None],
    stops: StopSignals,
) -> dict[str, Any]:
    """Validate viztracer's output instead of trusting the exit code, then enrich and store it.
    Without the tracer, the trace is built from the recorder's stack samples (if it took any)."""
    if not cfg.trace:
        if cfg.stack_interval_us <= 0:
            return {"status": "not traced", "detail": "--sample-only"}
        from tracekit.stacks import trace_document

        try:
            doc, facts = trace_document(structure_jsonl.read_bytes())
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            return {"status": "missing", "detail": f"the stack samples could not be read ({exc})"}
        raw.write_bytes(doc)
        result = _finish_trace(replace(cfg, trace=True), raw, final, samples_csv, structure_jsonl, on_phase, stops)
        return {**result, "capture": "sampled", "stack_samples": facts["samples"],
                "stack_interval_us": facts["interval_us"]}  # fmt: skip
    if not raw.exists():
        return {"status": "missing", "detail": "the tracer wrote no trace (os._exit, SIGKILL or a crash)"}
    if raw.stat().st_size == 0:
        raw.unlink()
        return {"status": "empty", "detail": "the tracer wrote an empty trace file"}
    on_phase("saving")
    stops.abortable = True  # Ctrl-C here skips tracekit's additions, not the trace
    try:
        data, summary, trace = enrich_to_trace(
            raw.read_bytes(), counter_events(samples_csv) + structure_view(structure_jsonl)
        )
    except TraceError as exc:
        keep = final.with_name("trace.invalid.json")
        os.replace(raw, keep)
        return {"status": "invalid", "detail": str(exc), "kept_as": keep.name}
    except KeyboardInterrupt:
        os.replace(raw, final)  # viztracer's own trace: valid, without tracekit's names and counters
        return {"status": "ok", "enriched": False, "detail": "interrupted while adding tracekit's tracks"}
    finally:
        stops.abortable = False
    try:
        atomic_write(final, data)
    except OSError as exc:  # no room for the enriched copy: viztracer's own trace is kept as it is
        os.replace(raw, final)
        return {
            "status": "ok",
            "enriched": False,
            "write_error": True,
            "detail": f"{exc.strerror} (tracekit's tracks left out)",
        }
    raw.unlink()
    with contextlib.suppress(OSError):  # the calls as columns: the first analysis then parses nothing again
        save_columns(trace, final.with_name(EVENTS_CACHE), final)
    return {"status": "ok", "enriched": True, **summary}


def _finish_structure(out: Path) -> dict[str, Any]:
    """Merge the recorder's per-process files into structure.jsonl (raw facts, before any analysis)."""
    from tracekit import structure as structure_mod  # pandas: imported after the child ran, not before

    directory = out / STRUCTURE_DIR
    try:
        merged = structure_mod.merge_files(directory)
        atomic_write(out / STRUCTURE_JSONL, merged)
    finally:
        for f in directory.glob("*.jsonl"):
            f.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            directory.rmdir()
    return {"status": "ok", "records": merged.count(b"\n"), "bytes": len(merged)}


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


def structure_view(structure_jsonl: Path) -> list[dict[str, Any]]:
    """The structure record as Perfetto tracks (tasks, generator units, loop callbacks); [] if unreadable."""
    from tracekit import structure as structure_mod
    from tracekit.trace.format import VIEW_CAT

    try:
        return structure_mod.view_events(structure_jsonl.read_bytes(), VIEW_CAT)
    except OSError:
        return []


def counter_events(samples_csv: Path) -> list[dict[str, Any]]:
    """psutil samples as Perfetto counter tracks: CPU % and RSS (MiB) under each process.

    Perfetto names a counter track "<event name> <arg key>", so name "CPU" with key "%" reads "CPU %".
    """
    import pandas as pd

    from tracekit.analysis.cpu import SAMPLE_DTYPES, process_series

    try:
        samples = pd.read_csv(samples_csv, dtype=SAMPLE_DTYPES)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return []
    series = process_series(samples)
    return [
        {"ph": "C", "pid": pid, "tid": pid, "ts": t_ns / 1e3, "name": name, "cat": "tracekit", "args": {unit: val}}
        for t_ns, pid, cpu_pct, rss in zip(
            series["t_ns"].tolist(), series["pid"].tolist(), series["cpu_pct"].tolist(),
            series["rss_bytes"].tolist(), strict=True,
        )
        for name, unit, val in (("CPU", "%", round(cpu_pct, 1)), ("RSS", "MiB", round(rss / 2**20, 2)))
    ]  # fmt: skip
