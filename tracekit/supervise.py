"""Supervises the child of one run: starts it in its own session (process group), passes its output
through unchanged while logging it as timed lines, runs the psutil sampler beside it, enforces the
timeout, turns tracekit's own Ctrl-C / SIGTERM / SIGHUP into a stop of the run, and leaves nothing
behind (the group, processes that left it, daemons carrying the run's cookie, orphans). It returns
what it saw (`Supervised`); it writes no run file but samples.csv (the sampler's).

Nothing the script does (crash, sys.exit, os._exit, hang) can take tracekit down.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tracekit import reaper
from tracekit import sampler as sampling
from tracekit.errors import Interrupted
from tracekit.phases import Phase

GRACE_S = 6.0  # after SIGINT, how long viztracer may take to save before the group is killed
MAX_OUTPUT_LINES = 20_000  # lines kept with their times in run.json; the rest are counted
MAX_LINE_CHARS = 2_000
READ_CHUNK = 64 * 1024  # the longest piece of a line read at once (bounds memory for huge lines)


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


def killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


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


@dataclass(frozen=True)
class Watch:
    """How to watch the child: the sampler's period and file, the timeout, where its output goes."""

    interval_s: float
    samples_csv: Path
    timeout_s: float | None = None
    echo: Callable[[str, bytes], None] | None = None  # (stream, bytes) shown live, unchanged; None: silent


@dataclass(frozen=True)
class Supervised:
    """What supervision saw of a run that is over (every process of it gone)."""

    pid: int  # the child's
    raw_exit_code: int  # as the OS reported it (-N: killed by signal N)
    ended_ns: int  # CLOCK_MONOTONIC when the child was seen to end (or was stopped)
    timed_out: bool
    interrupted: bool  # a stop signal to tracekit ended the wait
    killed_after_grace: bool  # it did not stop within GRACE_S of SIGINT and was SIGKILLed
    escaped_pids: tuple[int, ...]  # killed outside its process group
    sampler: sampling.SamplerResult
    output: OutputLog
    write_errors: tuple[str, ...]  # samples.csv could not be written: "path: reason"


@dataclass(frozen=True)
class _RunIds:
    """How the run's processes are found at its end: the cookie in their environment, and (for those
    that cleared it) being re-parented to tracekit, the subreaper, without being one of its children
    from before the run (the guardian, compare's spawner)."""

    token: str
    before: frozenset[int]


def supervise(
    cmd: list[str], env: dict[str, str], watch: Watch, stops: StopSignals, on_phase: Callable[[Phase], None]
) -> Supervised:
    """Run `cmd` to its end (or the timeout, or a stop signal) and leave nothing of it running.
    `env` carries the run's cookie (reaper.TOKEN_ENV); `stops` must be installed by the caller."""
    ids = _RunIds(env[reaper.TOKEN_ENV], frozenset(reaper.my_children()))  # tracekit's before the run: not the run's
    # stdin is tracekit's own (a terminal stays a terminal, piped input reaches the program);
    # die_with_parent: a SIGKILLed tracekit takes the child with it (the guardian gets the rest)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
        preexec_fn=reaper.die_with_parent,
    )  # fmt: skip
    try:
        return _watch(proc, watch, stops, on_phase, ids)
    finally:
        # Whatever happens in tracekit (Ctrl-C at any point, a bug), the run's processes go.
        killpg(proc.pid, signal.SIGKILL)
        reaper.kill_token(ids.token)
        reaper.kill_orphans(keep=ids.before)


def _watch(
    proc: subprocess.Popen[bytes], watch: Watch, stops: StopSignals, on_phase: Callable[[Phase], None], ids: _RunIds
) -> Supervised:
    log = OutputLog()
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, "stdout", watch.echo, log), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, "stderr", watch.echo, log), daemon=True),
    ]
    for t in pumps:
        t.start()
    smp = sampling.Sampler(proc.pid, watch.interval_s, watch.samples_csv)
    smp.start()
    timed_out = interrupted = killed = False
    deadline = None if watch.timeout_s is None else time.monotonic() + watch.timeout_s
    try:
        on_phase(Phase.RUNNING)  # inside: a signal while the CLI shows it stops the run like any other
        timed_out = _wait(proc, deadline)
        if timed_out:
            on_phase(Phase.TIMEOUT)
            killed = _stop(proc)
    except KeyboardInterrupt:
        interrupted = True
        on_phase(Phase.INTERRUPTED)
        killed = _stop(proc)
    ended_ns = time.monotonic_ns()
    stops.abortable = False  # from here on a signal is only recorded: the run directory is finished first
    smp_result, escaped, write_errors = _leave_nothing(proc, smp, ids, watch.samples_csv)
    for t in pumps:
        t.join(timeout=5)
    return Supervised(
        pid=proc.pid, raw_exit_code=int(proc.returncode), ended_ns=ended_ns, timed_out=timed_out,
        interrupted=interrupted, killed_after_grace=killed, escaped_pids=tuple(escaped), sampler=smp_result,
        output=log, write_errors=tuple(write_errors),
    )  # fmt: skip


def _leave_nothing(
    proc: subprocess.Popen[bytes], smp: sampling.Sampler, ids: _RunIds, samples_csv: Path
) -> tuple[sampling.SamplerResult, list[int], list[str]]:
    """Kill whatever the script left behind (its group, then every process that left it, then every
    process carrying the run's cookie), stop the sampler; return its result, the pids killed outside
    the group, and the write errors (a full disk, a quota: recorded, and the run still finishes)."""
    killpg(proc.pid, signal.SIGKILL)
    write_errors: list[str] = []
    try:
        smp_result = smp.stop()
    except OSError as exc:
        write_errors.append(f"{samples_csv}: {exc.strerror}")
        smp_result = sampling.SamplerResult(n_samples=0, rows=0)
    # processes of the run that left the group (setsid), seen by the sampler...
    escaped = sampling.kill_leftovers(list(smp_result.processes.values()))
    # ...and those it never saw: daemons re-parented to tracekit, sessions started just before the exit
    escaped += [pid for pid in reaper.kill_token(ids.token) if pid not in escaped]
    # ...and orphans that cleared their environment (`env -i`), re-parented to tracekit
    escaped += [pid for pid in reaper.kill_orphans(keep=ids.before) if pid not in escaped]
    reaper.reap_zombies(keep=[proc.pid])
    return smp_result, escaped, write_errors


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
    killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=GRACE_S)
        return False
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True
