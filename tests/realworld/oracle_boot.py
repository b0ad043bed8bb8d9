"""Run a program untraced with the corpus's oracle instruments, then write their facts as JSON to the
file named by $TK_ORACLE_OUT (this file imports nothing from tracekit).

    python oracle_boot.py SCRIPT [ARGS...]      python oracle_boot.py -m MODULE [ARGS...]

Instruments, installed before the program starts:
  - every asyncio loop callback and task step timed by a wrapper of asyncio.events.Handle._run
    (agrees with asyncio debug mode's slow-callback log to the millisecond, shared/notes/oracles.md);
  - asyncio.all_tasks() counted after callbacks (at most every 2 ms) and threading.enumerate() counted
    by a helper thread every 5 ms: the peaks of each;
  - the size each process pool was made with (multiprocessing.Pool's processes, ProcessPoolExecutor's
    max_workers), read from the pool after its __init__: the most at once, "pool_workers";
  - each threading.Thread's start (seconds from the program's start) and
    own /proc/self/task/TID/schedstat at its start and end (on-CPU and
    run-queue ns) and its wall time, so its sleep is wall - on-CPU - run-queue.
Only the main process writes (forked children inherit the wrappers but their facts are not needed).
"""

from __future__ import annotations

import asyncio
import asyncio.events
import atexit
import json
import os
import runpy
import sys
import threading
import time

MAIN_PID = os.getpid()
T0 = time.monotonic()  # the program's start: threads' start_s count from here
FACTS: dict[str, object] = {"callbacks": 0, "slow_callbacks": [], "max_callback_s": 0.0, "max_tasks": 0,
                            "max_threads": 1, "threads": [], "pool_workers": 0}  # fmt: skip
_last_count = [0.0]
_orig_run = asyncio.events.Handle._run


def _timed_run(self: asyncio.events.Handle) -> None:
    t0 = time.perf_counter()
    try:
        _orig_run(self)
    finally:
        d = time.perf_counter() - t0
        FACTS["callbacks"] = int(FACTS["callbacks"]) + 1  # type: ignore[call-overload]
        if d > float(FACTS["max_callback_s"]):  # type: ignore[arg-type]
            FACTS["max_callback_s"] = d
        if d >= 0.1:
            FACTS["slow_callbacks"].append(round(d, 4))  # type: ignore[attr-defined]
        now = time.perf_counter()
        if now - _last_count[0] > 0.002:
            _last_count[0] = now
            try:
                n = len(asyncio.all_tasks(self._loop))
            except RuntimeError:
                n = 0
            FACTS["max_tasks"] = max(int(FACTS["max_tasks"]), n)  # type: ignore[call-overload]


asyncio.events.Handle._run = _timed_run  # type: ignore[method-assign]


def _schedstat() -> tuple[int, int]:
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as fh:
            on, rq = fh.read().split()[:2]
        return int(on), int(rq)
    except OSError:
        return 0, 0


_orig_thread_run = threading.Thread.run


def _measured_run(self: threading.Thread) -> None:
    t0, (on0, rq0) = time.monotonic(), _schedstat()
    try:
        _orig_thread_run(self)
    finally:
        on1, rq1 = _schedstat()
        wall = time.monotonic() - t0
        FACTS["threads"].append(  # type: ignore[attr-defined]
            {
                "name": self.name,
                "start_s": t0 - T0,
                "wall_s": wall,
                "oncpu_s": (on1 - on0) / 1e9,
                "runq_s": (rq1 - rq0) / 1e9,
            }
        )


threading.Thread.run = _measured_run  # type: ignore[method-assign]


def _sized(cls: type, size_attr: str) -> None:
    init = cls.__init__  # type: ignore[misc]

    def sized_init(self: object, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)
        FACTS["pool_workers"] = max(int(FACTS["pool_workers"]), int(getattr(self, size_attr)))  # type: ignore[call-overload]

    cls.__init__ = sized_init  # type: ignore[misc]


def _size_pools() -> None:
    import concurrent.futures
    import multiprocessing.pool

    _sized(multiprocessing.pool.Pool, "_processes")
    _sized(concurrent.futures.ProcessPoolExecutor, "_max_workers")


def _count_threads() -> None:
    while True:
        FACTS["max_threads"] = max(int(FACTS["max_threads"]), threading.active_count() - 1)  # type: ignore[call-overload]
        time.sleep(0.005)


def _write() -> None:
    if os.getpid() == MAIN_PID and os.environ.get("TK_ORACLE_OUT"):
        with open(os.environ["TK_ORACLE_OUT"], "w") as fh:
            json.dump(FACTS, fh)


def main() -> None:
    atexit.register(_write)
    _size_pools()
    threading.Thread(target=_count_threads, name="oracle-counter", daemon=True).start()
    args = sys.argv[1:]
    if args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = args
        sys.path.insert(0, os.path.dirname(os.path.abspath(args[0])))
        runpy.run_path(args[0], run_name="__main__")


if __name__ == "__main__":
    try:
        main()
    except SystemExit as exc:
        _write()
        atexit.unregister(_write)
        raise exc
