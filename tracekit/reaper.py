"""Nothing of a run outlives it: the kernel mechanisms tracekit uses to find and kill every process
a run started, whatever the program does (daemons, double forks, new sessions) and whatever
happens to tracekit (SIGTERM, SIGHUP, SIGKILL).

- The run cookie: every process of a run inherits `TRACEKIT_RUN_ID=<token>` in its environment
  (the same idea as Jenkins' ProcessTreeKiller). `kill_token` finds them in /proc/PID/environ,
  whatever their parent, process group or session, and kills them until none is left.
- `become_subreaper`: PR_SET_CHILD_SUBREAPER on tracekit, so what the program orphans (the
  grandchild of a double fork) re-parents to tracekit instead of init: `kill_orphans` finds those
  even when they cleared their environment (and the cookie with it); `reap_zombies` collects them.
- `die_with_parent`: a preexec for the child, PR_SET_PDEATHSIG SIGKILL, so a SIGKILLed tracekit
  takes the child down at once.
- The guardian (`start_guardian`): a tiny process in its own session holding a pipe from tracekit.
  When the pipe closes (tracekit exited, or was SIGKILLed) it kills every process with the cookie.

This file is also run as a script (`python -S reaper.py guard TOKEN`, and imported by path in the
compare spawner), so it imports nothing but the standard library and nothing of tracekit.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator

TOKEN_ENV = "TRACEKIT_RUN_ID"
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_token: str | None = None
_guardian: subprocess.Popen[bytes] | None = None


def _prctl(option: int, arg: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, arg, 0, 0, 0)) == 0
    except (OSError, AttributeError):  # not Linux: the cookie and the group kill still work
        return False


def become_subreaper() -> bool:
    """Orphans of this process's descendants re-parent to it (Linux >= 3.4). True when set."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


_libc_prctl = None
with contextlib.suppress(OSError, AttributeError):
    _libc_prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before any fork (preexec)


def die_with_parent() -> None:
    """Popen preexec_fn: the child gets SIGKILL when tracekit dies. Imports and allocates nothing,
    because it runs between fork and exec."""
    if _libc_prctl is not None:
        _libc_prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def carriers(token: str, skip: Iterable[int] = ()) -> list[int]:
    """Live processes whose environment holds this run's cookie (zombies have an empty environ)."""
    needle = f"{TOKEN_ENV}={token}".encode()
    me, ignore = os.getpid(), set(skip)
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me or int(name) in ignore:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                env = fh.read()
        except OSError:  # gone, or not ours to read
            continue
        if needle in env.split(b"\0"):
            found.append(int(name))
    return found


def kill_token(token: str, skip: Iterable[int] = (), rounds: int = 50) -> list[int]:
    """SIGKILL every process carrying the cookie, again until none is left (one may fork while
    being killed); return the pids killed. Each is first stopped, so it cannot fork any more."""
    killed: list[int] = []
    for _ in range(rounds):
        pids = carriers(token, skip)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                if pid not in killed:
                    killed.append(pid)
        time.sleep(0.005)
    return killed


def _procs() -> Iterator[tuple[int, bytes, int]]:
    """(pid, state, ppid) of every process in /proc now (those gone meanwhile left out)."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[-1].split()
        except OSError:
            continue
        if len(fields) > 1:
            yield int(name), fields[0], int(fields[1])


def _parents() -> dict[int, int]:
    """pid -> ppid of every live process (zombies left out)."""
    return {pid: ppid for pid, state, ppid in _procs() if state not in (b"Z", b"X")}


def my_children() -> set[int]:
    """This process's live children now (taken before a run: they are not the run's)."""
    me = os.getpid()
    return {pid for pid, ppid in _parents().items() if ppid == me}


def kill_orphans(keep: Iterable[int], rounds: int = 50) -> list[int]:
    """SIGKILL every live child of this process not in `keep`, and all their descendants: with
    tracekit the subreaper, what a finished run left behind (even with its environment cleared,
    out of reach of the cookie) has been re-parented to tracekit. Return the pids killed."""
    me, keep_set = os.getpid(), set(keep)
    killed: list[int] = []
    for _ in range(rounds):
        parents = _parents()
        doomed = {pid for pid, ppid in parents.items() if ppid == me and pid not in keep_set}
        grew = True
        while grew:
            more = {pid for pid, ppid in parents.items() if ppid in doomed and pid not in doomed}
            doomed |= more
            grew = bool(more)
        if not doomed:
            break
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in doomed:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
        killed += [pid for pid in doomed if pid not in killed]
        time.sleep(0.005)
    return killed


def reap_zombies(keep: Iterable[int] = ()) -> None:
    """Collect this process's dead children that nobody else waits for (orphans re-parented to
    tracekit as the subreaper), except `keep`: pids a subprocess.Popen will wait for itself."""
    me, keep_set = os.getpid(), set(keep)
    for pid, state, ppid in _procs():
        if state == b"Z" and ppid == me and pid not in keep_set:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def run_token() -> str:
    """This tracekit's cookie (one per tracekit process), with its guardian started on first use."""
    global _token, _guardian
    if _token is None:
        _token = os.urandom(8).hex()  # secrets.token_hex(8), without importing hmac
        become_subreaper()
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
        with contextlib.suppress(OSError):
            _guardian = subprocess.Popen(
                [sys.executable, "-S", os.path.abspath(__file__), "guard", _token],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                start_new_session=True, cwd="/",
            )  # fmt: skip
    return _token


def guardian_pid() -> int | None:
    return _guardian.pid if _guardian is not None else None


def _guard(token: str) -> None:
    """The guardian's body: wait for the pipe from tracekit to close, then kill the run."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        while os.read(0, 4096):
            pass
    kill_token(token)


if __name__ == "__main__" and sys.argv[1:2] == ["guard"]:
    _guard(sys.argv[2])
