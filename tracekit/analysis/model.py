"""Typed results of the analysis: Stats (what stats.json holds) and its parts.

Every number carries its unit in its name (`_s`, `_bytes`); times are seconds from the script's
start unless named otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    """A verdict in plain words. kind: sequential | concurrent-not-parallel | serialised | gil-bound |
    parallel | loop-blocked | loop-maybe-blocked | loop-saturated | loop-maybe-saturated | generator-coroutines |
    mostly-waiting | core-contention | concurrency-unknown | untraced-helpers | data-loss; severity: error |
    warning | info."""

    kind: str
    severity: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UnitCounts:
    tasks: int
    threads: int
    processes: int
    generators: int  # generator instances driven as coroutines (see analysis/units.py)
    workers: int  # the units counted in concurrency: see analysis/units.py
    helpers: int = 0  # threads and tasks a library runs to manage workers (analysis/units.py): not counted


@dataclass(frozen=True)
class Concurrency:
    peak: int
    mean: float
    # workers of each kind in flight at the peak ({"thread": 4, "task": 4}): a task awaiting a thread or a
    # process it handed work to is in flight with it, so 4 asyncio.to_thread calls are 8 units in flight
    at_peak: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ThreadSched:
    """What the kernel says one OS thread did inside the script's window (/proc schedstat and status,
    sampled): on a CPU, runnable in the run queue with no free core, or asleep (a lock, I/O, the GIL).
    None of it depends on the tracer's view of the thread."""

    pid: int
    tid: int
    span_s: float  # first to last sample of the thread inside the window
    oncpu_s: float
    runq_s: float
    sleep_s: float  # span_s - oncpu_s - runq_s
    voluntary: int  # context switches because it slept
    involuntary: int  # context switches because it was preempted
    in_c_s: float = 0.0  # of span_s, time the trace shows it inside C functions (see cpu.c_call_time)


@dataclass(frozen=True)
class DataLoss:
    """What is missing from this run, as data: every renderer shows `warnings`.

    `untraced_threads` are OS threads the sampler saw inside the script's window that have no track in
    the trace, as "pid:tid" (threads of `_thread.start_new_thread` or of C code are invisible to the
    tracer). `helpers` describes processes that are expected to have no trace (multiprocessing's
    resource_tracker, programs that are not Python such as /sbin/ldconfig): not lost data."""

    overflow: bool
    untraced_pids: list[int]
    trace_status: str
    timed_out: bool
    interrupted: bool
    output_truncated: bool
    warnings: list[str]
    untraced_threads: list[str] = field(default_factory=list)
    helpers: list[str] = field(default_factory=list)
    tracer_stopped_s: float | None = None  # when viztracer stopped recording slices (s from the run's start)


@dataclass(frozen=True)
class Context:
    cores: int
    python: str
    platform: str
    load_avg_before: list[float]
    load_avg_after: list[float]
    start_method: str
    tracekit_version: str
    viztracer_version: str | None
    interval_s: float
    traced: bool
    # the capture's resolution: function slices shorter than this were not kept (0: every call, None: untraced);
    # the structure record (units, loop steps) is exact whatever this is
    min_duration_us: float | None = None
    framework: str = ""  # "trio" when the program ran trio's event loop (its tasks are trio tasks), else ""
    # the sampled capture (no tracer): function slices come from Python stacks sampled this often; None: not sampled
    stack_interval_us: float | None = None


@dataclass(frozen=True)
class Stats:
    schema: str
    target: str
    command: list[str]
    wall_s: float
    cpu_s: float
    cpu_user_s: float
    cpu_system_s: float
    parallelism: float
    peak_rss_tree_bytes: int  # the program's: highest summed RSS of the process tree at a sample in the window
    units: UnitCounts
    concurrency: Concurrency
    loop_blocked_max_s: float
    output_order: str
    exit_code: int | None
    timed_out: bool
    data_loss: DataLoss
    findings: list[Finding]
    context: Context
    started_at: str  # wall-clock ISO time of the script's start
    # the tracer's save after the script ended (viztracer saves in-process); None if no sample fell there
    save_peak_rss_tree_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
