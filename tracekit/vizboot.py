"""Workarounds for five measured viztracer 1.1.1 bugs, installed in the traced child by
tracekit._child before viztracer's CLI starts. Nothing here changes what the traced program sees
while it runs.

1. An asyncio task name containing `"`, `\\` or a control character makes viztracer's raw dump
   invalid JSON (it prints task names with `%s`), and the save then writes a 0-byte trace with
   exit code 0. The parent's ReportBuilder is given a reader that, only when a per-process file
   fails to parse, re-escapes the task-name records at its end (names kept exactly).
2. A task, thread or process name that is not valid UTF-8 (a lone surrogate) makes the dump
   print "(null)" and raise, or crash with SIGSEGV. Task and process names are made valid at
   save time (the program has finished); a thread's name is made valid only for the instant the
   tracer records it, and restored before the thread's own code runs.
3. A child that was killed and never waited for stays a zombie, and viztracer waits for it
   forever. A zombie counts as finished (it can never write its trace), and so does a process
   that is no longer a descendant (a double-forked daemon): viztracer would wait for it forever.
4. viztracer turns SIGTERM into exit code 0. The first SIGTERM is recorded in the file named by
   TRACEKIT_SIGNAL_FILE so that tracekit can report the real cause.
5. viztracer turns SIGTERM into `sys.exit(0)`, which Python swallows when it is raised inside a
   finalizer: a terminated multiprocessing.Pool worker then lives on, and the pool waits for it
   forever. The signal is delivered again until the process is exiting; one that then leaves by
   os._exit (multiprocessing's children) dies by SIGTERM, so its parent sees -15 as untraced.

With TRACEKIT_NO_SOURCE=1 the saved trace has no `file_info` (the source text of every traced
file), for traces that are shared (`tracekit profile --no-source`).

This module must stay import-light: it runs inside the traced program's process.
"""

from __future__ import annotations

import os
import re
from typing import Any

SIGNAL_FILE_ENV = "TRACEKIT_SIGNAL_FILE"
NO_SOURCE_ENV = "TRACEKIT_NO_SOURCE"

# A task-name record as viztracer's dump writes it, up to the next such record or the file's end.
_TASK_RECORD = re.compile(
    r'\{"ph":"M","pid":(\d+),"tid":(\d+),"name":"thread_name","args":\{"name":"(.*?)"\}\}'
    r'(?=,\{"ph":"M","pid":\d+,"tid":\d+,"name":"thread_name","args":\{"name":"|\], "viztracer_metadata": )',
    re.S,
)


_SURROGATE = re.compile("[\ud800-\udfff]")


def repair_task_names(text: str) -> str:
    """Re-escape the task-name records at the end of a raw dump (after its last non-metadata event)."""
    import json

    last_event = text.rfind('{"pid":')
    start = text.find('{"ph":"M"', max(last_event, 0))
    if start < 0:
        return text

    def fix(m: re.Match[str]) -> str:
        pid, tid, name = m.group(1), m.group(2), m.group(3)
        return f'{{"ph":"M","pid":{pid},"tid":{tid},"name":"thread_name","args":{{"name":{json.dumps(name)}}}}}'

    return text[:start] + _TASK_RECORD.sub(fix, text[start:])


def valid_utf8(name: str) -> str:
    """`name` with lone surrogates replaced by U+FFFD (viztracer's C code cannot encode them)."""
    return _SURROGATE.sub("\ufffd", name)


def _patch_report_builder() -> None:
    from viztracer import report_builder

    original = report_builder.get_json

    def get_json(data: Any) -> dict[str, Any]:
        try:
            doc: dict[str, Any] = original(data)
            return doc
        except ValueError as exc:
            if not isinstance(data, str):
                raise
            error = exc
        with open(data, encoding="utf-8", errors="surrogateescape") as fh:
            fixed = repair_task_names(fh.read())
        try:
            return _json_loads(fixed)
        except ValueError:
            raise error from None

    report_builder.get_json = get_json


def _json_loads(text: str) -> dict[str, Any]:
    import json

    doc: dict[str, Any] = json.loads(text)
    return doc


def _patch_dump() -> None:
    import gc
    import multiprocessing

    from viztracer import snaptrace, viztracer

    def dump(self: Any, filename: str, sanitize_function_name: bool = False) -> None:
        proc = multiprocessing.current_process()
        proc.name = valid_utf8(proc.name)
        if getattr(self, "log_async", False):
            import asyncio

            for obj in gc.get_objects():
                if isinstance(obj, asyncio.Task):
                    name = obj.get_name()
                    if valid_utf8(name) != name:
                        obj.set_name(valid_utf8(name))
        snaptrace.Tracer.dump(self, filename, sanitize_function_name)

    viztracer.VizTracer.dump = dump


def _patch_threads() -> None:
    import threading

    original = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def _bootstrap_inner(self: threading.Thread) -> None:
        name = self._name  # type: ignore[attr-defined]
        safe = valid_utf8(name)
        if safe != name:
            # The tracer records the name at the thread's first call (`run`); restore it right after.
            run = self.run

            def run_with_real_name() -> None:
                self._name = name  # type: ignore[attr-defined]
                del self.run
                run()

            self._name = safe  # type: ignore[attr-defined]
            self.run = run_with_real_name  # type: ignore[method-assign]
        original(self)

    threading.Thread._bootstrap_inner = _bootstrap_inner  # type: ignore[attr-defined]


def _patch_zombies() -> None:
    from viztracer import main as vmain

    original = vmain.pid_exists

    def pid_exists(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[-1].split()[0]
            if state in (b"Z", b"X") or not _descends_from_me(pid):
                return False
        except (OSError, IndexError):
            pass
        return bool(original(pid))

    vmain.pid_exists = pid_exists
    # "Wait for child processes to finish" would land in the program's own stdout, even with --quiet
    vmain.same_line_print = lambda *_a, **_k: None


def _descends_from_me(pid: int) -> bool:
    """Whether `pid` is a child, grandchild... of this process. A daemon (double fork) has been
    re-parented away: the program alone would not wait for it, so the tracer does not either."""
    me = os.getpid()
    for _ in range(64):
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                pid = int(fh.read().rsplit(b")", 1)[-1].split()[1])
        except (OSError, IndexError, ValueError):
            return True  # unknown: keep viztracer's own answer
        if pid == me:
            return True
        if pid <= 1:
            return False
    return True


RESEND_EVERY_S = 0.2  # how often a SIGTERM whose exit was swallowed is delivered again


def _patch_sigterm() -> None:
    """Wrap every SIGTERM handler viztracer installs (its CLI's in the main process, its tracer's in
    each forked or spawned child): the first SIGTERM is recorded for tracekit, and the signal is
    delivered again while the process does not exit (`_resend_until_exiting`)."""
    import signal

    from viztracer import main as vmain
    from viztracer import viztracer as vtracer

    path = os.environ.get(SIGNAL_FILE_ENV)
    main_pid = os.getpid()

    class _Signal:
        """viztracer's modules see this in place of `signal`: SIGTERM handlers are wrapped."""

        def __getattr__(self, name: str) -> Any:
            return getattr(signal, name)

        def signal(self, signum: int, handler: Any) -> Any:
            if signum == signal.SIGTERM and callable(handler):
                inner = handler

                def handler(sig: int, frame: Any) -> Any:
                    if path and os.getpid() == main_pid and not os.path.exists(path):
                        with open(path, "w") as fh:
                            fh.write("SIGTERM\n")
                    _resend_until_exiting(sig)
                    try:
                        return inner(sig, frame)
                    except SystemExit as exc:
                        _raised.append(exc)
                        raise

            return signal.signal(signum, handler)

    vmain.signal = _Signal()
    vtracer.signal = _Signal()


_resending_in = 0  # the pid whose SIGTERM re-sender runs (a forked child needs its own)
_raised: list[BaseException] = []  # the SystemExits viztracer's SIGTERM handlers raised in this process


def _resend_until_exiting(signum: int) -> None:
    """viztracer turns SIGTERM into `sys.exit(0)` so that the process saves its trace, but Python
    swallows an exception raised in a finalizer, a weakref callback or `__del__` ("Exception ignored
    in ..."): a multiprocessing.Pool worker terminated while a Manager proxy's finalizer talks to the
    manager then went back to waiting for work, and `with Pool()`'s terminate() waited for it forever
    (measured: 1 run in 4 of a Manager + Pool program hung under viztracer; 0 untraced, where SIGTERM
    kills). Every RESEND_EVERY_S, while the main thread has not reached the exit (viztracer's or
    multiprocessing's exit routine, tracekit's final flush; no Python frame: the interpreter is
    finalizing), the signal is delivered to it again; a blocked call is interrupted and the handler
    raises again. A SystemExit swallowed as unraisable (the finalizer case) is delivered again at once and
    not printed. The re-sender runs on a thread of tracekit's own, recorded as such."""
    global _resending_in
    if _resending_in == os.getpid():
        return
    _resending_in = os.getpid()
    import signal
    import sys
    import threading

    main = threading.main_thread().ident
    if main is None:
        return
    exiting = _exit_codes()
    _raised.clear()  # a forked child's copy holds its parent's
    again = threading.Event()
    previous = sys.unraisablehook

    def swallowed(unraisable: Any) -> None:
        """The exit was swallowed in a finalizer: deliver the signal again at once, without the
        "Exception ignored" traceback that the untraced program, killed by SIGTERM, never prints."""
        if any(unraisable.exc_value is exc for exc in _raised):
            again.set()  # not pthread_kill here: the handler would run (and be swallowed) inside this hook
            return
        previous(unraisable)

    sys.unraisablehook = swallowed  # the process is ending: the program's own hook still gets the rest

    def resend() -> None:
        while True:
            again.wait(RESEND_EVERY_S)
            again.clear()
            frame = sys._current_frames().get(main)
            if frame is None:
                return  # no Python frame left: the interpreter is finalizing
            while frame is not None and frame.f_code not in exiting:
                frame = frame.f_back
            if frame is not None:
                return  # the exit has begun: it must not be interrupted
            signal.pthread_kill(main, signum)

    rec = sys.modules.get("tracekit.recorder")
    start = getattr(rec, "own_thread", None) if rec is not None else None
    if start is not None:
        start(resend, "sigterm re-sender")
    else:
        import _thread

        _thread.start_new_thread(resend, ())


def _patch_os_exit() -> None:
    """A process that got SIGTERM and leaves by os._exit (every multiprocessing child started by fork or
    forkserver, after its exit routine saved the trace) dies by SIGTERM after all, as it would untraced:
    its parent sees exit code -15 (`Process.exitcode`), not viztracer's 0."""
    import signal
    import sys

    os_exit = os._exit

    def _exit(status: int) -> Any:
        if _resending_in == os.getpid():  # this process got SIGTERM
            final_flush = getattr(sys.modules.get("tracekit.recorder"), "final_flush", None)
            if final_flush is not None:
                final_flush()  # its last records first, as the recorder's own os._exit would
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
                os.kill(os.getpid(), signal.SIGTERM)
            except BaseException:  # even a SystemExit from a signal handler must not cancel the exit
                pass
        os_exit(status)

    os._exit = _exit
    _EXIT_CODES.append(_exit.__code__)


_EXIT_CODES: list[Any] = []  # this module's exit steps, which the re-sender must not interrupt


def _exit_codes() -> frozenset[Any]:
    """The code objects of the functions that mean "the process is exiting"."""
    import sys
    from multiprocessing import util

    from viztracer import main as vmain
    from viztracer import viztracer as vtracer

    codes = {
        *_EXIT_CODES,
        vmain.VizUI.exit_routine.__code__,
        vtracer.VizTracer.exit_routine.__code__,
        util._exit_function.__code__,  # type: ignore[attr-defined]
    }
    rec = sys.modules.get("tracekit.recorder")
    if rec is not None:
        codes |= set(getattr(rec, "EXIT_CODES", ()))
    return frozenset(codes)


def _patch_no_source() -> None:
    if os.environ.get(NO_SOURCE_ENV) != "1":
        return
    from viztracer import report_builder

    original = report_builder.ReportBuilder.save

    def save(self: Any, output_file: Any = "result.html", file_info: bool = True) -> None:
        original(self, output_file, file_info=False)

    report_builder.ReportBuilder.save = save


def install() -> None:
    """Apply every workaround; called by tracekit._child before it hands over to viztracer's CLI."""
    _patch_no_source()
    _patch_report_builder()
    _patch_dump()
    _patch_threads()
    _patch_zombies()
    _patch_sigterm()
    _patch_os_exit()
