"""The structure recorder: runs inside every Python process of a traced run and records, exactly
and cheaply, the units of concurrency and what the event loop ran, independently of viztracer's
function slices (which are filtered by duration by default).

It is installed before the program starts, by tracekit's `sitecustomize` (tracekit/_boot), in the
main process and in every Python process the program starts (spawn, forkserver, subprocess), and
re-armed after a fork. It writes one file per process, `<dir>/<pid>.jsonl`, one JSON array a line,
times in CLOCK_MONOTONIC ns (`time.monotonic_ns()`, the clock of viztracer's µs):

  ["proc", t, pid, ppid, how, argv0]       the process's first record; how: "start" | "fork"
  ["target", t, target]                    a multiprocessing process starts its work (its _bootstrap):
                                           target "module:qualname" of the function it runs, or of
                                           a Process subclass's run
  ["task", t, task, name, coro, creator, site, os_tid]
                                           an asyncio task was created (`loop.create_task`, which
                                           asyncio.create_task, gather, TaskGroup and ensure_future
                                           call), or a trio task spawned (an instrument added to every
                                           trio.run; trio's own machinery tasks are left out, a trio
                                           function the program's task spawns is not); task is a
                                           serial within the process; creator the creating task's serial
                                           or 0; site the first caller outside asyncio ("func
                                           (file:line)"); "?" for trio and for an asyncio task first seen
                                           at its first step (built directly, on 3.11); on 3.12+ a task
                                           built directly is recorded when it registers itself (an eager
                                           task after its first, synchronous step; one that finished
                                           there is not recorded)
  ["step", t0, t1, os_tid, task, loop, label]
                                           one event-loop callback (`Handle._run`; for trio, one task
                                           step between before_task_step and after_task_step): a task step when
                                           task > 0, else a plain callback (recorded when it took at
                                           least PLAIN_MIN_NS; label names the callback); loop is a
                                           serial of the loop object
  ["done", t, task, state, name]           the step that finished a task; state ok|cancelled|error
  ["thread", t, os_tid, name, how, target] a thread started running; how: "threading" | "_thread";
                                           target: "module:qualname" of the function it runs (a
                                           Thread subclass's run), "" unknown (older records: absent)
  ["thread_end", t, os_tid]
  ["gen", t0, t1, os_tid, gen, func, finished, driver]
                                           one resume of a generator through next(): gen is a serial
                                           within the process, func "qualname (file:line)", finished
                                           whether the generator ended, driver the calling function;
                                           resumes from contextlib (a @contextmanager) are counted only
  ["calls", n_plain, plain_ns, n_contextlib]   totals: plain callbacks and contextlib resumes seen
  ["sampler", t, os_tid, interval_ns]     the stack sampler started (sampled capture only): the
                                           thread it runs on is tracekit's, not the program's
  ["own", t, os_tid, what]                a thread of tracekit's own started (e.g. "sigterm re-sender",
                                           tracekit.vizboot): not the program's
  ["fn", fn, name]                         a Python function first seen by the sampler: fn a serial
                                           within the process, name "qualname (file:firstline)"
  ["stack", sid, parent, fn]               a call stack first seen: stack `parent` (0: none) + fn
  ["smp", t, os_tid, sid, keep, line]     the thread's Python stack changed to `sid` at t (0: the
                                           thread is gone or the process is ending); its first `keep`
                                           frames (from the root) are the same calls as at the
                                           thread's previous "smp", the rest are new calls; line is
                                           the innermost frame's current line; a stack holds until
                                           the thread's next "smp"
  ["end", t]                               the last record of a process that exited normally

Nothing here changes what the program computes: wrappers forward every argument, result and
exception. Differences a program can observe: `builtins.next` is a Python function, and tracebacks
through Handle._run, next() or a thread's start show one frame of this module.

This module must stay import-light and never raise into the program.
"""

from __future__ import annotations

import builtins
import os
import sys
import threading
import time
import types
import weakref
from typing import Any

DIR_ENV = "TRACEKIT_STRUCTURE_DIR"
STACKS_ENV = "TRACEKIT_STACK_INTERVAL_US"  # set: sample every thread's Python stack this often
SAMPLER_SHARE = 0.02  # the stack sampler's most CPU, as a share of one core
PLAIN_MIN_NS = 1_000_000  # plain callbacks shorter than 1 ms are counted, not recorded one by one
FLUSH_EVERY = 2048  # records buffered before a write
FLUSH_AFTER_NS = 200_000_000  # ...or once the buffer is this old: a process killed by a signal loses less

_now = time.monotonic_ns
_native_id = threading.get_native_id


class _Recorder:
    """Per-process state; replaced after a fork."""

    def __init__(self, directory: str, how: str) -> None:
        self.dir = directory
        self.pid = os.getpid()
        self.buf: list[list[Any]] = []
        self.tasks: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self.gens: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self.loops: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self.counter = 0
        self.ended = False
        self.n_plain = 0
        self.plain_ns = 0
        self.n_contextlib = 0
        self.sampler: _StackSampler | None = None
        self.inherited: frozenset[int] = frozenset()  # ids of the frames a forked child inherited
        self.inherited_refs: list[types.FrameType] = []  # ...held, so those ids stay theirs
        self.lock = threading.Lock()
        self.idents: dict[int, int] = {threading.get_ident(): _native_id()}  # thread ident -> OS tid
        argv0 = sys.argv[0] if sys.argv else ""
        self.flushed_ns = _now()
        self.buf.append(["proc", self.flushed_ns, self.pid, os.getppid(), how, str(argv0)])
        self.flush()  # every process leaves its start, even if a signal ends it

    def add(self, rec: list[Any]) -> None:
        buf = self.buf
        buf.append(rec)
        if len(buf) >= FLUSH_EVERY or rec[1] - self.flushed_ns > FLUSH_AFTER_NS:
            self.flush()

    def flush(self, final: bool = False) -> None:
        with self.lock:
            if self.ended:
                return
            buf, self.buf = self.buf, []
            self.ended = final
            self.flushed_ns = _now()
            if final:
                sampler = self.sampler
                if sampler is not None:
                    buf.extend(sampler.last())
                buf.append(["calls", self.n_plain, self.plain_ns, self.n_contextlib])
                buf.append(["end", _now()])
            if not buf or os.getpid() != self.pid:
                return
            import json

            text = "".join(json.dumps(r, ensure_ascii=True, default=str) + "\n" for r in buf)
            try:
                fd = os.open(
                    os.path.join(self.dir, f"{self.pid}.jsonl"),
                    os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0),
                    0o644,
                )
                try:
                    os.write(fd, text.encode("ascii"))
                finally:
                    os.close(fd)
            except OSError:
                pass  # the run directory went away: tracekit reports the missing record

    def serial(self, table: weakref.WeakKeyDictionary[Any, int], obj: Any) -> int:
        """A number for obj, unique within this process (weakly held: the program's objects die freely)."""
        try:
            n = table.get(obj)
            if n is None:
                self.counter += 1
                n = table[obj] = self.counter
            return n
        except TypeError:  # not weak-referenceable
            return 0


class _StackSampler:
    """Samples every thread's Python stack (`sys._current_frames`) every `interval_ns` on a thread of
    its own, started with the original `_thread.start_new_thread` so the program's `threading.enumerate()`
    does not list it. Cost scales with threads x depth x samples, not with the program's calls (a
    profile hook costs ~0.2 µs on every call). Writes a record only when a thread's stack changed."""

    def __init__(self, rec: _Recorder, interval_ns: int, start_thread: Any) -> None:
        self.rec = rec
        self.interval_ns = interval_ns
        self.fns: dict[Any, int] = {}  # code object -> fn serial
        self.stacks: dict[tuple[int, int], int] = {}  # (parent sid, fn) -> sid
        self.current: dict[int, Any] = {}  # OS tid -> its last (sid, innermost line), 0 when gone
        self.held: dict[int, list[types.FrameType]] = {}  # OS tid -> its frames at the last sample, root first
        self.stopped = False
        self.cost_ns = 0  # CPU one sample takes, averaged
        start_thread(self._loop, ())

    def _loop(self) -> None:
        rec = self.rec
        me = threading.get_ident()
        rec.add(["sampler", _now(), _native_id(), self.interval_ns])
        sleep, interval, cpu = time.sleep, self.interval_ns / 1e9, time.thread_time_ns
        while not self.stopped and not rec.ended and _rec is rec:
            # Never more than SAMPLER_SHARE of a core: with many threads or deep stacks, sample less often
            # (each sample holds the GIL while it walks the stacks). The records carry the real times.
            sleep(max(interval, self.cost_ns / SAMPLER_SHARE / 1e9))
            t0 = cpu()
            try:
                self._sample(me)
            except Exception:  # never into the program; a sample lost is a sample lost
                pass
            self.cost_ns = (7 * self.cost_ns + cpu() - t0) // 8  # a moving average

    def _sample(self, me: int) -> None:
        rec, current, held = self.rec, self.current, self.held
        frames = sys._current_frames()
        t = _now()
        idents = rec.idents
        seen = set()
        for ident, frame in frames.items():
            if ident == me:
                continue
            tid = idents.get(ident)
            if tid is None:  # a thread started by C code: the sampler knows no OS tid for it
                continue
            seen.add(tid)
            chain = _program_frames(frame, rec.inherited)
            sid = self._stack_id(chain)
            before = held.get(tid, ())
            keep = 0
            while keep < len(before) and keep < len(chain) and before[keep] is chain[keep]:
                keep += 1
            # The frames are held until the next sample, so a new call cannot get a returned call's
            # address: `is` tells a function called again from the same call continuing.
            held[tid] = chain
            # where the innermost Python frame is (a C call's line); None at an instruction without a line
            line = (chain[-1].f_lineno or 0) if chain else 0
            if current.get(tid) != (sid, line) or keep < len(chain):
                current[tid] = (sid, line)
                rec.add(["smp", t, tid, sid, keep, line])
        del frames
        for tid in [tid for tid in current if tid not in seen and current[tid]]:
            current[tid] = 0
            held.pop(tid, None)
            rec.add(["smp", t, tid, 0, 0, 0])

    def _stack_id(self, chain: list[types.FrameType]) -> int:
        rec, fns, stacks = self.rec, self.fns, self.stacks
        sid = 0
        for frame in chain:
            code = frame.f_code
            fn = fns.get(code)
            if fn is None:
                fn = fns[code] = len(fns) + 1
                rec.add(["fn", fn, f"{code.co_qualname} ({code.co_filename}:{code.co_firstlineno})"])
            key = (sid, fn)
            nxt = stacks.get(key)
            if nxt is None:
                nxt = stacks[key] = len(stacks) + 1
                rec.add(["stack", nxt, sid, fn])
            sid = nxt
        return sid

    def last(self) -> list[list[Any]]:
        """The closing records at the process's end: every thread's stack ends now."""
        self.stopped = True
        t = _now()
        out = [["smp", t, tid, 0, 0, 0] for tid, last in self.current.items() if last]
        self.current.clear()
        self.held.clear()
        return out


def _program_frames(leaf: types.FrameType, inherited: frozenset[int]) -> list[types.FrameType]:
    """A thread's frames, root first, without this module's wrappers nor tracekit's bootstrap (and
    the runpy frames it called to start the script), nor, in a forked child, the frames it inherited
    from its parent (the calls that forked: they are the parent's, as in viztracer's trace)."""
    chain: list[types.FrameType] = []
    f: types.FrameType | None = leaf
    while f is not None:
        if id(f) in inherited:
            break
        file = f.f_code.co_filename
        if file == _CHILD_FILE:
            while chain and chain[-1].f_code.co_filename in _RUNPY_FILES:
                chain.pop()
            break
        if file != __file__:
            chain.append(f)
        f = f.f_back
    chain.reverse()
    return chain


def _start_sampler(rec: _Recorder) -> None:
    try:
        interval_us = float(os.environ.get(STACKS_ENV, "0"))
    except ValueError:
        return
    if interval_us > 0:
        rec.sampler = _StackSampler(rec, int(interval_us * 1000), _start_thread)


_start_thread: Any = None  # the original _thread.start_new_thread, saved before it is wrapped
_CHILD_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_child.py")
_RUNPY_FILES = ("<frozen runpy>", os.path.join(os.path.dirname(os.__file__), "runpy.py"))


_rec: _Recorder | None = None


def _site(frame: types.FrameType | None) -> str:
    """The first caller outside asyncio and this module: 'func (file:line)'."""
    while frame is not None:
        file = frame.f_code.co_filename
        if f"{os.sep}asyncio{os.sep}" not in file and file != __file__:
            return f"{frame.f_code.co_qualname} ({file}:{frame.f_lineno})"
        frame = frame.f_back
    return "?"


def _coro_name(task: Any) -> str:
    coro = task.get_coro() if hasattr(task, "get_coro") else None
    code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
    if code is None:
        return type(coro).__qualname__ if coro is not None else "?"
    return f"{code.co_qualname} ({code.co_filename}:{code.co_firstlineno})"


def _record_task(rec: _Recorder, task: Any, site: str) -> int:
    import asyncio

    n = rec.serial(rec.tasks, task)
    try:
        parent = asyncio.current_task()
    except RuntimeError:
        parent = None
    creator = rec.tasks.get(parent, 0) if parent is not None else 0
    rec.add(["task", _now(), n, str(task.get_name()), _coro_name(task), creator, site, _native_id()])
    return n


def _patch_asyncio() -> None:
    """Wrap BaseEventLoop.create_task and Handle._run once asyncio is imported."""
    import asyncio
    from asyncio import base_events, events

    create_task = base_events.BaseEventLoop.create_task

    def tk_create_task(self: Any, coro: Any, *args: Any, **kwargs: Any) -> Any:
        task = create_task(self, coro, *args, **kwargs)
        rec = _rec
        if rec is not None:
            try:
                if rec.tasks.get(task) is None:  # not already seen registering (below)
                    _record_task(rec, task, _site(sys._getframe(1)))
            except Exception:
                pass
        return task

    base_events.BaseEventLoop.create_task = tk_create_task  # type: ignore[method-assign]
    _patch_task_registry(asyncio)
    run = events.Handle._run
    task_types = (asyncio.Task,)

    def tk_run(self: Any) -> None:
        rec = _rec
        if rec is None:
            return run(self)
        t0 = _now()
        try:
            return run(self)
        finally:
            t1 = _now()
            try:
                _record_step(rec, self, t0, t1, task_types)
            except Exception:
                pass

    events.Handle._run = tk_run  # type: ignore[method-assign]


def _patch_task_registry(asyncio: Any) -> None:
    """3.12+: every Task, the C one too, registers itself in the WeakSet asyncio.tasks._scheduled_tasks
    from its __init__ (an eager task after its first step, if that did not finish it), through the
    set's `add` method. Tasks built directly (`asyncio.Task(coro, eager_start=True)`, as aiohttp does on
    3.12+) never pass through loop.create_task, and an eager task's first step runs inside the creating
    callback, not Handle._run: without this they would be seen only at their second step."""
    registry = getattr(asyncio.tasks, "_scheduled_tasks", None)
    if not isinstance(registry, weakref.WeakSet):
        return
    add = registry.add

    def tk_register(task: Any) -> None:
        add(task)
        rec = _rec
        if rec is not None:
            try:
                if rec.tasks.get(task) is None:
                    _record_task(rec, task, _site(sys._getframe(1)))
            except Exception:
                pass

    registry.add = tk_register  # type: ignore[method-assign,assignment]


def _record_step(rec: _Recorder, handle: Any, t0: int, t1: int, task_types: Any) -> None:
    cb = handle._callback
    task: Any = getattr(cb, "__self__", None)
    loop = rec.serial(rec.loops, handle._loop)
    if isinstance(task, task_types):
        n = rec.tasks.get(task)
        if n is None:  # built directly (asyncio.Task(coro)) or by a task factory we did not see
            n = rec.serial(rec.tasks, task)
            rec.add(["task", t0, n, str(task.get_name()), _coro_name(task), 0, "?", _native_id()])
        rec.add(["step", t0, t1, _native_id(), n, loop, ""])
        if task.done():
            state = "cancelled" if task.cancelled() else "error" if task.exception() is not None else "ok"
            rec.add(["done", t1, n, state, str(task.get_name())])
        return
    rec.n_plain += 1
    rec.plain_ns += t1 - t0
    if t1 - t0 >= PLAIN_MIN_NS:
        label = getattr(cb, "__qualname__", None) or type(cb).__qualname__
        rec.add(["step", t0, t1, _native_id(), 0, loop, str(label)])


def _patch_threads() -> None:
    import _thread

    global _start_thread
    _start_thread = _thread.start_new_thread

    bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def tk_bootstrap_inner(self: threading.Thread) -> None:
        rec = _rec
        if rec is not None:
            rec.idents[threading.get_ident()] = _native_id()
            rec.add(["thread", _now(), _native_id(), str(self.name), "threading", _thread_target(self)])
        try:
            bootstrap(self)
        finally:
            rec = _rec
            if rec is not None:
                rec.add(["thread_end", _now(), _native_id()])
                rec.idents.pop(threading.get_ident(), None)  # the ident may be reused by a later thread

    threading.Thread._bootstrap_inner = tk_bootstrap_inner  # type: ignore[attr-defined]
    start_new_thread = _thread.start_new_thread

    def tk_start_new_thread(function: Any, args: Any, kwargs: Any = None) -> int:
        name = f"_thread: {getattr(function, '__qualname__', type(function).__qualname__)}"
        target = _where(function)

        def tk_thread_main(*a: Any, **k: Any) -> Any:
            rec = _rec
            if rec is not None:
                rec.idents[_thread.get_ident()] = _native_id()
                rec.add(["thread", _now(), _native_id(), name, "_thread", target])
            try:
                return function(*a, **k)
            finally:
                rec = _rec
                if rec is not None:
                    rec.add(["thread_end", _now(), _native_id()])
                    rec.idents.pop(_thread.get_ident(), None)

        return start_new_thread(tk_thread_main, args, *(() if kwargs is None else (kwargs,)))

    _thread.start_new_thread = tk_start_new_thread
    if getattr(_thread, "start_new", None) is start_new_thread:
        _thread.start_new = tk_start_new_thread


def _where(function: Any) -> str:
    """ "module:qualname" of a callable (a bound method's function), "" when it has neither."""
    try:
        module, qualname = getattr(function, "__module__", None), getattr(function, "__qualname__", None)
        return f"{module}:{qualname}" if isinstance(module, str) and isinstance(qualname, str) else ""
    except Exception:  # an object whose attributes raise: the program's, not ours
        return ""


def _thread_target(thread: Any) -> str:
    """What a starting thread (or multiprocessing process) runs: its target, or its class's run when it
    has none (a subclass)."""
    target = getattr(thread, "_target", None)  # threading.Thread keeps it there until run() ends
    return _where(target if target is not None else type(thread).run)


def _patch_process() -> None:
    """Record what each multiprocessing process runs, as it starts (fork, spawn or forkserver alike): a
    Manager's server process is library plumbing, a Pool's worker is the program's work."""
    from multiprocessing import process

    bootstrap = process.BaseProcess._bootstrap  # type: ignore[attr-defined]

    def tk_bootstrap(self: Any, *args: Any, **kwargs: Any) -> Any:
        rec = _rec
        if rec is not None and rec.pid == os.getpid():
            rec.add(["target", _now(), _thread_target(self)])
            rec.flush()  # at once, as the process's start: a worker killed by SIGTERM still leaves what it was
        return bootstrap(self, *args, **kwargs)

    process.BaseProcess._bootstrap = tk_bootstrap  # type: ignore[attr-defined]


def _patch_next() -> None:
    builtin_next = builtins.next
    gen_type = types.GeneratorType
    getframe = sys._getframe

    def next(iterator: Any, *default: Any) -> Any:
        rec = _rec
        if type(iterator) is not gen_type or rec is None:
            return builtin_next(iterator, *default)
        caller = getframe(1).f_code
        if caller.co_filename.endswith("contextlib.py"):
            rec.n_contextlib += 1
            return builtin_next(iterator, *default)
        t0 = _now()
        try:
            return builtin_next(iterator, *default)
        finally:
            t1 = _now()
            try:
                code = iterator.gi_code
                rec.add(
                    ["gen", t0, t1, _native_id(), rec.serial(rec.gens, iterator),
                     f"{code.co_qualname} ({code.co_filename}:{code.co_firstlineno})",
                     iterator.gi_frame is None, f"{caller.co_qualname} ({caller.co_filename}:{caller.co_firstlineno})"]
                )  # fmt: skip
            except Exception:
                pass

    next.__qualname__ = next.__name__ = "next"
    next.__doc__ = builtin_next.__doc__
    builtins.next = next


class _ImportHook:
    """A meta-path finder that acts on a module the moment it is first imported, so programs that
    never use it pay nothing and the program's own import stays its own: `patch` runs right after the
    module executes; `hidden` is a module made unimportable while it executes, then importable again.

    The hiding is for viztracer's C module, which imports trio at its own import whenever trio is
    installed (~0.1 s, and trio's import runs /sbin/ldconfig) only to read trio's current task for
    `--log_async`, which tracekit does not use: trio's tasks come from this recorder's Instrument. A
    program that imports trio gets it."""

    def __init__(self, name: str, patch: Any = None, hidden: str = "") -> None:
        self.name = name
        self.patch = patch
        self.hidden = hidden

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != self.name:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        if self.hidden and self.hidden in sys.modules:
            return None
        import importlib.util

        spec = importlib.util.find_spec(name)
        loader = getattr(spec, "loader", None)
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            return spec
        if self.hidden:
            # an extension module with single-phase init runs its init in create_module, others in exec_module
            loader.create_module = self._hiding(loader.create_module)
            loader.exec_module = self._hiding(loader.exec_module)
        if self.patch is not None:
            exec_module, patch = loader.exec_module, self.patch

            def exec_and_patch(module: types.ModuleType) -> None:
                exec_module(module)
                try:
                    patch()
                except Exception:
                    pass

            loader.exec_module = exec_and_patch
        return spec

    def _hiding(self, step: Any) -> Any:
        hidden = self.hidden

        def run(arg: Any) -> Any:
            sys.modules[hidden] = None  # type: ignore[assignment]  # `import hidden` raises ImportError
            try:
                return step(arg)
            finally:
                if hidden in sys.modules and sys.modules[hidden] is None:
                    del sys.modules[hidden]

        return run


def _patch_trio() -> None:
    """Add an instrument to every trio.run: trio's tasks and their steps, in the same records as
    asyncio's (trio runs no asyncio Handle._run)."""
    import trio

    run = trio.run

    class TkInstrument(trio.abc.Instrument):
        def __init__(self) -> None:
            self.t0: dict[Any, int] = {}

        def task_spawned(self, task: Any) -> None:
            rec = _rec
            code = getattr(task.coro, "cr_code", None)
            if rec is None or code is None:
                return
            parent = getattr(getattr(task, "parent_nursery", None), "parent_task", None)
            creator = rec.tasks.get(parent, 0) if parent is not None else 0
            if not creator and f"{os.sep}trio{os.sep}" in code.co_filename:
                # trio's own machinery tasks (init, run_sync_soon) are not the program's units; a trio
                # function the program's own task spawns (start_soon(trio.to_thread.run_sync, f)) is
                return
            name = f"{code.co_qualname} ({code.co_filename}:{code.co_firstlineno})"
            rec.add(["task", _now(), rec.serial(rec.tasks, task), str(task.name), name, creator, "?", _native_id()])

        def before_task_step(self, task: Any) -> None:
            self.t0[task] = _now()

        def after_task_step(self, task: Any) -> None:
            rec = _rec
            t0 = self.t0.pop(task, None)
            n = rec.tasks.get(task) if rec is not None else None
            if rec is not None and t0 is not None and n is not None:
                rec.add(["step", t0, _now(), _native_id(), n, rec.serial(rec.loops, self), ""])

        def task_exited(self, task: Any) -> None:
            rec = _rec
            n = rec.tasks.get(task) if rec is not None else None
            if rec is not None and n is not None:
                outcome = getattr(task, "_outcome", None) or getattr(task, "outcome", None)
                error = type(outcome).__name__ == "Error"
                rec.add(["done", _now(), n, "error" if error else "ok", str(task.name)])

    def tk_run(async_fn: Any, *args: Any, instruments: Any = (), **kwargs: Any) -> Any:
        return run(async_fn, *args, instruments=(*instruments, TkInstrument()), **kwargs)

    tk_run.__wrapped__ = run  # type: ignore[attr-defined]
    trio.run = tk_run  # type: ignore[assignment]


def _after_fork_in_child() -> None:
    global _rec
    old = _rec
    if old is None:
        return
    _rec = _Recorder(old.dir, "fork")
    _register_exit(_rec)
    if old.sampler is not None:  # the sampler's thread did not survive the fork
        frames = []
        f: types.FrameType | None = sys._getframe(1)
        while f is not None:
            frames.append(f)
            f = f.f_back
        _rec.inherited_refs = frames
        _rec.inherited = frozenset(map(id, frames))
        _start_sampler(_rec)


def _register_exit(rec: _Recorder) -> None:
    import atexit

    atexit.register(rec.flush, True)


# The code of tracekit's own exit steps: a SIGTERM re-sender (tracekit.vizboot) must not interrupt them.
EXIT_CODES: list[types.CodeType] = [_Recorder.flush.__code__]


def _patch_os_exit() -> None:
    """multiprocessing's children (and some programs) leave by os._exit, which skips atexit."""
    os_exit = os._exit

    def _exit(status: int) -> Any:
        final_flush()
        os_exit(status)

    os._exit = _exit
    EXIT_CODES.append(_exit.__code__)


def final_flush() -> None:
    """Write this process's last records (an exit that skips atexit: os._exit, or a death by signal to come)."""
    rec = _rec
    if rec is not None:
        try:
            rec.flush(True)
        except BaseException:  # even a SystemExit from a signal handler must not cancel the exit
            pass


EXIT_CODES.append(final_flush.__code__)


def own_thread(function: Any, what: str) -> None:
    """Run `function` on a thread of tracekit's own: started with the original `_thread.start_new_thread`
    (so neither threading.enumerate() nor the program's thread units list it), recorded as "own"."""
    start = _start_thread or __import__("_thread").start_new_thread

    def main() -> None:
        rec = _rec
        if rec is not None:
            rec.add(["own", _now(), _native_id(), what])
        function()

    start(main, ())


def install() -> None:
    """Start recording in this process, if TRACEKIT_STRUCTURE_DIR names a directory."""
    global _rec
    directory = os.environ.get(DIR_ENV)
    if not directory or _rec is not None:
        return
    _rec = _Recorder(directory, "start")
    _register_exit(_rec)
    os.register_at_fork(after_in_child=_after_fork_in_child)
    _patch_os_exit()
    _patch_threads()
    _patch_next()
    if "viztracer.snaptrace" not in sys.modules:
        sys.meta_path.insert(0, _ImportHook("viztracer.snaptrace", hidden="trio"))
    for name, patch in (
        ("asyncio", _patch_asyncio),
        ("trio", _patch_trio),
        ("multiprocessing.process", _patch_process),
    ):
        if name in sys.modules:
            patch()
        else:
            sys.meta_path.insert(0, _ImportHook(name, patch))
    _start_sampler(_rec)
