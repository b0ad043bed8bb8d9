"""Typed results of the analysis: Stats (what stats.json holds) and its parts.

Every number carries its unit in its name (`_s`, `_bytes`); times are seconds from the script's
start unless named otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """A verdict in plain words. kind: sequential | concurrent-not-parallel | serialised | gil-bound |
    parallel | loop-blocked | generator-coroutines | mostly-waiting | data-loss; severity: error | warning | info."""

    kind: str
    severity: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UnitCounts:
    tasks: int
    threads: int
    processes: int
    workers: int  # the units counted in concurrency: see analysis/units.py


@dataclass(frozen=True)
class Concurrency:
    peak: int
    mean: float


@dataclass(frozen=True)
class DataLoss:
    """What is missing from this run, as data: every renderer shows `warnings`."""

    overflow: bool
    untraced_pids: list[int]
    trace_status: str
    timed_out: bool
    interrupted: bool
    output_truncated: bool
    warnings: list[str]


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
    peak_rss_bytes: int
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
