"""psutil sampling of a process tree (the only module that imports psutil).

A background thread wakes every `interval_s`, walks the tree under the root pid and appends one row
per process and one per OS thread to a CSV file as it goes, so a long run keeps bounded memory and a
crash keeps every sample already taken.

Its own cost is recorded (`SamplerResult.busy_s`) and kept small (bench/README.md has the figures):
each /proc read costs ~50-70 µs of CPU after a 10 ms sleep on a small VM, so the sampler reads as
few as it can:
  - the tree is found again every `RESCAN_TICKS` samples, or at the next tick when /proc/loadavg
    says a pid was handed out since the last one, and then only new pids are classified (`Tree`),
    instead of reading every process's stat file every tick (`children(recursive=True)`); a child
    that lives less than one interval may still be missed, its CPU then counts in its parent's
    children_* columns once reaped;
  - the parent pid is read again only when the tree is rescanned (psutil's ppid() reads the stat
    file a second time to rule out pid reuse);
  - a process that has had one thread at every sample gets its thread row from its process row
    (same numbers, tid = pid) instead of listing /proc/<pid>/task; once it is seen with more
    threads, its threads are listed at every sample.

Samples frame (`samples.csv`), one row per (sample, pid[, tid]):
  t_ns               time.monotonic_ns() when the sample was taken (same clock as the trace's µs)
  kind               "p" for a process row, "t" for a thread row
  pid, ppid, tid     OS ids; tid is 0 on process rows
  user_s, system_s   cumulative CPU seconds of the process (or thread)
  children_user_s, children_system_s
                     cumulative CPU seconds of the process's waited-for children (process rows)
  rss_bytes          resident set size (process rows)
  num_threads        OS threads in the process (process rows)
  ctx_voluntary, ctx_involuntary  cumulative context switches: voluntary (it slept: a lock, I/O, the
                     GIL's 5 ms timed wait) and involuntary (preempted while runnable); on process
                     rows (psutil) and on the thread rows of multi-threaded processes (/proc status)
  oncpu_s, runq_s    cumulative seconds the thread ran on a CPU and waited runnable in the run queue
                     (no free core), from the kernel's /proc/PID/task/TID/schedstat (ns precision,
                     unlike psutil's 10 ms ticks); the rest of its wall time it slept. On thread rows;
                     on process rows, the main thread's (/proc/PID/schedstat), which a single-threaded
                     process's thread row repeats. Blank where the process was gone

Per-thread schedstat and context switches are what tell a thread waiting for the GIL (it sleeps, and
wakes every 5 ms switch interval) from one computing in C with the GIL released (on a CPU, or in the
run queue on a loaded machine) and from one blocked on a lock or I/O (asleep, rarely woken): psutil
has no per-thread call for them, so they are read from /proc here, beside psutil's thread list.
"""

from __future__ import annotations

import csv
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

COLUMNS = [
    "t_ns",
    "kind",
    "pid",
    "ppid",
    "tid",
    "user_s",
    "system_s",
    "children_user_s",
    "children_system_s",
    "rss_bytes",
    "num_threads",
    "ctx_voluntary",
    "ctx_involuntary",
    "oncpu_s",
    "runq_s",
]

CMDLINE_REREADS = 5  # sightings of a fork whose command line is still its parent's
RESCAN_TICKS = 5  # find new processes every 5th sample (50 ms at the default 10 ms interval)
_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied)


@dataclass
class ProcessInfo:
    """What the sampler learned once about a process: who it is and when it was seen."""

    pid: int
    ppid: int
    cmdline: list[str]
    first_seen_ns: int
    last_seen_ns: int
    create_time: float = 0.0  # psutil's, to tell this process from a later one with the same pid
    # a fork seen before it exec'd shows its parent's command line: read again at later sightings
    rereads: int = 0


@dataclass
class SamplerResult:
    n_samples: int
    rows: int
    processes: dict[int, ProcessInfo] = field(default_factory=dict)
    busy_s: float = 0.0  # CPU time the sampling thread itself spent (its own cost)


class Tree:
    """The processes under a root pid, kept up to date cheaply, tick after tick.

    `psutil.Process.children()` reads the stat file of every process on the machine on each call
    (about 1.5 ms here with ~120 processes, 15 % of a core at a 10 ms interval). A process's parent
    never changes to one of ours after it starts, so each pid only needs classifying once: every
    tick lists the pids (one directory read), and only pids not seen before have their parent read.
    A descendant stays in the tree until it exits, even if it is re-parented (an orphan's CPU still
    belongs to the run); a pid that disappears from the listing is forgotten, so a reused pid is
    classified again.
    """

    def __init__(self, root: psutil.Process) -> None:
        self.root = root
        self.members: dict[int, psutil.Process] = {root.pid: root}
        self.foreign: set[int] = set()

    def current(self) -> list[psutil.Process]:
        """The tree as last refreshed (members that exited since are skipped by the caller)."""
        return list(self.members.values())

    def refresh(self) -> list[psutil.Process]:
        """The tree now, root first, then in order of discovery."""
        pids = set(psutil.pids())
        self.foreign &= pids
        for pid in [p for p in self.members if p not in pids and p != self.root.pid]:
            del self.members[pid]
        new = pids - self.foreign - self.members.keys()
        parents: dict[int, psutil.Process] = {}
        ppid_of: dict[int, int] = {}
        for pid in sorted(new):
            try:
                proc = psutil.Process(pid)
                ppid_of[pid] = proc.ppid()
                parents[pid] = proc
            except _GONE:
                continue
        grew = True
        while grew:  # a child and its own child can both be new in one tick
            grew = False
            for pid in [p for p, pp in ppid_of.items() if pp in self.members]:
                self.members[pid] = parents[pid]
                del ppid_of[pid]
                grew = True
        self.foreign.update(ppid_of)
        return list(self.members.values())


class Sampler:
    """Samples the tree under `root_pid` into `out_path` until `stop()`."""

    def __init__(self, root_pid: int, interval_s: float, out_path: Path) -> None:
        self.root_pid = root_pid
        self.interval_s = interval_s
        self.out_path = out_path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracekit-sampler", daemon=True)
        self._result = SamplerResult(n_samples=0, rows=0)
        self._error: BaseException | None = None
        self._ticks = 0
        self._multi: set[int] = set()  # pids seen with more than their main thread
        self._ppids: dict[int, int] = {}  # read again only when the tree is rescanned
        self._last_pid = -1  # /proc/loadavg's last pid at the previous tick

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> SamplerResult:
        self._stop.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # surfaced by stop(); the CSV written so far is kept
            self._error = exc

    def _loop(self) -> None:
        res = self._result
        try:
            root = psutil.Process(self.root_pid)
        except _GONE:
            root = None
        cpu0 = time.thread_time()
        procs = Tree(root) if root is not None else None
        with open(self.out_path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            deadline = time.monotonic()
            while root is not None:
                rows = self._take(procs)
                if rows:
                    writer.writerows(rows)
                    res.rows += len(rows)
                    res.n_samples += 1
                if self._stop.is_set():
                    break
                deadline += self.interval_s
                now = time.monotonic()
                if deadline < now:  # fell behind (a loaded machine): skip ticks, never burst
                    deadline = now
                time.sleep(deadline - now)  # cheaper to wake from than Event.wait (no lock dance)
                if self._stop.is_set():
                    # one last sample at stop time so the final CPU totals are as late as possible
                    rows = self._take(procs, rescan=True)
                    writer.writerows(rows)
                    res.rows += len(rows)
                    res.n_samples += 1 if rows else 0
                    break
        res.busy_s = time.thread_time() - cpu0

    def _pid_created(self) -> bool:
        """Has any process or thread been created on the machine since the last tick? The last
        field of /proc/loadavg is the last pid handed out: one small read instead of a rescan, so
        a child that lives less than RESCAN_TICKS intervals is still seen."""
        try:
            with open("/proc/loadavg", "rb") as fh:
                last = int(fh.read().rsplit(None, 1)[-1])
        except (OSError, ValueError, IndexError):
            return False
        changed = last != self._last_pid
        self._last_pid = last
        return changed

    def _seen(self, p: psutil.Process, ppid: int, t_ns: int) -> None:
        """Record a process at its first sighting (who it is), and when it was last seen."""
        info = self._result.processes.get(p.pid)
        if info is None:
            try:
                cmd = p.cmdline()
            except _GONE:
                cmd = []
            self._result.processes[p.pid] = ProcessInfo(p.pid, ppid, cmd, t_ns, t_ns, _created(p))
        else:
            info.last_seen_ns = t_ns
            self._recheck_cmdline(p, info)

    def _recheck_cmdline(self, p: psutil.Process, info: ProcessInfo) -> None:
        """A child caught between fork and exec (subprocess's helpers, /sbin/ldconfig run by an
        import) still shows its parent's command line; read it again at its next few sightings, so
        run.json names what it became rather than a copy of the traced program."""
        parent = self._result.processes.get(info.ppid)
        if parent is None or info.rereads >= CMDLINE_REREADS or (info.cmdline and info.cmdline != parent.cmdline):
            return
        info.rereads += 1
        try:
            info.cmdline = p.cmdline()
        except _GONE:
            return

    def _take(self, procs: Tree | None, rescan: bool = False) -> list[list[object]]:
        rows: list[list[object]] = []
        t_ns = time.monotonic_ns()
        if procs is None:
            return rows
        rescan = rescan or self._ticks % RESCAN_TICKS == 0 or self._pid_created()
        self._ticks += 1
        for p in procs.refresh() if rescan else procs.current():
            try:
                with p.oneshot():
                    ct = p.cpu_times()
                    ppid = self._ppids.get(p.pid, -1)
                    if rescan or ppid < 0:  # psutil's ppid() re-reads stat to check pid reuse
                        ppid = self._ppids[p.pid] = p.ppid()
                    try:
                        rss = p.memory_info().rss
                        nthreads = p.num_threads()
                        ctx = p.num_ctx_switches()
                        if nthreads == 1 and p.pid not in self._multi:
                            threads = None
                        else:
                            threads = p.threads()
                            if len(threads) > 1 or any(th.id != p.pid for th in threads):
                                self._multi.add(p.pid)
                    except _GONE:  # a zombie still has CPU times but no memory or threads
                        rss, nthreads, threads = 0, 0, []
                        ctx = None
            except _GONE:
                continue
            self._seen(p, ppid, t_ns)
            sched = process_sched(p.pid)
            vol, inv = (ctx.voluntary, ctx.involuntary) if ctx else ("", "")
            rows.append([t_ns, "p", p.pid, ppid, 0, ct.user, ct.system, ct.children_user, ct.children_system,
                         rss, nthreads, vol, inv, *sched])  # fmt: skip
            if threads is None:  # single-threaded all along: the process's row is its thread's
                rows.append([t_ns, "t", p.pid, ppid, p.pid, ct.user, ct.system, "", "", "", "", vol, inv, *sched])
            for th in threads or ():
                rows.append([t_ns, "t", p.pid, ppid, th.id, th.user_time, th.system_time, "", "", "", "",
                             *thread_sched(p.pid, th.id)])  # fmt: skip
        return rows


def process_sched(pid: int) -> list[object]:
    """[oncpu_s, runq_s] of a process's main thread (/proc/PID/schedstat), blanks if it is gone."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as fh:
            oncpu_ns, runq_ns = fh.read().split()[:2]
    except (OSError, ValueError):
        return ["", ""]
    return [int(oncpu_ns) / 1e9, int(runq_ns) / 1e9]


def thread_sched(pid: int, tid: int) -> list[object]:
    """[ctx_voluntary, ctx_involuntary, oncpu_s, runq_s] of one thread from /proc, blanks if it is gone."""
    base = f"/proc/{pid}/task/{tid}/"
    try:
        with open(base + "schedstat", "rb") as fh:
            oncpu_ns, runq_ns = fh.read().split()[:2]
        with open(base + "status", "rb") as fh:
            status = fh.read()
    except (OSError, ValueError):
        return ["", "", "", ""]
    vol = invol = ""
    for line in status.splitlines()[-2:]:  # the two ctxt_switches lines end the file
        if line.startswith(b"voluntary_ctxt_switches:"):
            vol = line.split()[1].decode()
        elif line.startswith(b"nonvoluntary_ctxt_switches:"):
            invol = line.split()[1].decode()
    return [vol, invol, int(oncpu_ns) / 1e9, int(runq_ns) / 1e9]


def _created(p: psutil.Process) -> float:
    try:
        return p.create_time()  # psutil read it when it made the Process object: no extra /proc read
    except _GONE:
        return 0.0


def kill_leftovers(seen: list[ProcessInfo]) -> list[int]:
    """Kill every process the sampler saw that is still alive (the same process: same creation
    time), such as one that left the run's process group with setsid(); return their pids."""
    killed = []
    for info in seen:
        try:
            p = psutil.Process(info.pid)
            if info.create_time and p.create_time() == info.create_time and p.status() != psutil.STATUS_ZOMBIE:
                p.kill()
                killed.append(info.pid)
        except _GONE:
            continue
    return killed


def cpu_count() -> int:
    return psutil.cpu_count(logical=True) or os.cpu_count() or 1


def idle_cores(window_s: float = 0.1) -> float:
    """How many cores the machine left to spare over the next `window_s` seconds (0 .. cores): the idle
    ones, plus what this process itself used (tracekit's own start-up work, such as the status line and
    the run facts found as the child starts, is no program's and is over soon)."""
    a, own_a = psutil.cpu_times(), time.process_time()
    time.sleep(window_s)
    b, own_b = psutil.cpu_times(), time.process_time()
    total = sum(b) - sum(a)
    if total <= 0:
        return 0.0
    idle = (b.idle - a.idle) + (getattr(b, "iowait", 0.0) - getattr(a, "iowait", 0.0))
    cores = cpu_count()
    return min(float(cores), cores * (idle + max(0.0, own_b - own_a)) / total)


def load_average() -> tuple[float, float, float]:
    return psutil.getloadavg()
