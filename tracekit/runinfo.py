"""The run facts: what run.json holds (schema `tracekit.run/2`), as typed frozen dataclasses, and the
one place that turns them into JSON and back (`RunInfo.to_json`, `RunInfo.from_json`).

RunInfo says what ran (target, command, options), on what machine (cores, Python, load), on which
clocks, how it ended (exit code, timeout, interrupt, what was killed), and what each capture kept: the
sampler (`samples`), the processes it saw (`processes`), the output capture (`output`), the structure
recorder (`structure`) and the tracer (`trace`).

Clocks: every `*_ns` time is CLOCK_MONOTONIC in nanoseconds (`time.monotonic_ns()`, the clock of
viztracer's µs timestamps and of samples.csv's t_ns); `wall_clock_offset_ns` added to one gives
wall-clock time (Unix epoch ns). Durations carry their unit in their name (`_s`, `_us`, `_ns`).

Reading is strict: a run.json of another schema, or with a field missing, unknown or of the wrong
type, raises RunInfoError naming the field (never a silent default). A mistyped field is reported
before a missing one, and a missing one before an unknown one (a renamed field reads "missing").
"""

from __future__ import annotations

import dataclasses
import math
import types
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Union, get_args, get_origin, get_type_hints

RUN_SCHEMA = "tracekit.run/2"
SCHEMA_PREFIX = "tracekit.run/"
_INT64 = 2**63


class RunInfoError(ValueError):
    """A run.json that is not a RunInfo: `field` is the path of the first wrong part (`output.lines[3]`)."""

    def __init__(self, where: str, problem: str) -> None:
        self.field = where
        super().__init__(f"field {where!r} {problem}" if where else problem)


class OutputLine(NamedTuple):
    """One line of the program's output (a JSON array [t_ns, stream, text])."""

    t_ns: int  # CLOCK_MONOTONIC when tracekit read the line
    stream: Literal["stdout", "stderr"]
    text: str  # decoded as UTF-8 (bad bytes as U+FFFD), without its line end, cut to MAX_LINE_CHARS


@dataclass(frozen=True)
class SamplerFacts:
    """What the psutil sampler did (JSON `samples`)."""

    n: int  # sampling ticks taken
    rows: int  # rows written to samples.csv (one per process and thread at a tick)
    sampler_cpu_s: float  # CPU seconds the sampling thread itself used (its cost to the machine)


@dataclass(frozen=True)
class ProcessSeen:
    """A process of the run's tree as the sampler saw it (JSON `processes`, keyed by pid)."""

    ppid: int | None
    cmdline: tuple[str, ...]  # () when it could not be read (gone, or not ours)
    first_seen_ns: int  # CLOCK_MONOTONIC of the first sample that saw it
    last_seen_ns: int  # CLOCK_MONOTONIC of the last sample that saw it


@dataclass(frozen=True)
class OutputFacts:
    """The program's stdout and stderr as captured (its bytes were passed through unchanged)."""

    lines: tuple[OutputLine, ...]  # the first MAX_OUTPUT_LINES lines, in the order read
    total_lines: int  # lines the program printed, kept or not
    total_bytes: int  # bytes the program printed
    cut_lines: int  # kept lines shortened to MAX_LINE_CHARS
    truncated: bool  # some lines were not kept, or kept shortened


@dataclass(frozen=True)
class StructureFacts:
    """The structure recorder's merged file (structure.jsonl)."""

    status: Literal["ok", "pending"]  # pending: the record written before the child ran
    records: int  # lines in structure.jsonl
    bytes: int  # its size


TraceStatus = Literal["ok", "missing", "empty", "invalid", "not traced", "pending"]


@dataclass(frozen=True)
class TraceFacts:
    """What became of the trace: `status` ok (trace.json is valid), missing / empty (the tracer wrote
    nothing), invalid (kept as `kept_as`), not traced (--sample-only), pending (run not finished)."""

    status: TraceStatus
    detail: str | None = None  # why, when the status is not ok or tracekit's tracks were left out
    enriched: bool = False  # tracekit's names, CPU/RSS counters and structure tracks were added
    events: int | None = None  # function slices in trace.json (None: not counted)
    events_per_pid: dict[int, int] = field(default_factory=dict)  # slices per process
    overflow: bool | None = None  # viztracer's own flag: its ring buffer wrapped (None: not read)
    viztracer_version: str | None = None  # the version viztracer wrote into its trace
    kept_as: str | None = None  # the invalid trace's file name in the run directory
    capture: Literal["traced", "sampled", "none"] = "traced"  # sampled: slices built from stack samples
    stack_samples: int | None = None  # sampled: stack changes seen
    stack_interval_us: float | None = None  # sampled: the stack sampler's measured period


@dataclass(frozen=True)
class RunInfo:
    """The facts of one run (run.json). Written first with status "running" (before the child starts:
    pid 0, no end, empty captures), then again when the run is over (status "finished")."""

    # what ran, and how (the options of `tracekit profile`)
    target: str  # a script path as given, or a module name (`module`)
    module: bool
    args: tuple[str, ...]  # the program's arguments
    command: tuple[str, ...]  # the child's full command line
    cwd: str  # the directory the program ran in
    traced: bool  # viztracer ran (False: --sample-only or the sampled capture)
    interval_s: float  # the psutil sampler's period
    timeout_s: float | None  # --timeout (None: none)
    tracer_entries: int  # viztracer's ring buffer size, in entries
    min_duration_us: float | None  # slices shorter than this were dropped (0: all kept; None: untraced)
    stack_interval_us: float | None  # without the tracer: Python stacks sampled this often (None: not sampled)
    # the machine and the software
    python: str
    platform: str
    cores: int  # logical CPUs of the machine
    load_avg_before: tuple[float, ...]  # 1, 5, 15-minute load averages before the run
    load_avg_after: tuple[float, ...]  # and after it (() while running)
    start_method: str  # multiprocessing's default start method ("" while running: found as the child starts)
    tracekit_version: str
    viztracer_version: str | None  # installed viztracer (None: untraced, or while running)
    # clocks
    wall_clock_offset_ns: int  # time.time_ns() - time.monotonic_ns() at the start
    started_ns: int  # CLOCK_MONOTONIC just before the child was started
    ended_ns: int | None  # CLOCK_MONOTONIC when the child was seen to end (None while running)
    # how it ended
    status: Literal["running", "finished"]
    pid: int  # the child's (the program's main process); 0 while running
    exit_code: int | None  # the program's true exit code (-N: killed by signal N); None while running
    raw_exit_code: int | None  # the child's as the OS reported it
    exit_note: str | None  # why exit_code differs from raw_exit_code
    timed_out: bool  # stopped by --timeout
    interrupted: bool  # stopped by Ctrl-C, SIGTERM or SIGHUP sent to tracekit
    interrupted_by: str | None  # that signal's name
    killed_after_grace: bool  # it did not stop within GRACE_S of SIGINT and was SIGKILLed
    killed_escaped_pids: tuple[int, ...]  # processes of the run killed outside its process group
    write_errors: tuple[str, ...]  # files tracekit could not write (a full disk), "path: reason"
    # what each capture kept
    samples: SamplerFacts
    processes: dict[int, ProcessSeen]
    output: OutputFacts
    structure: StructureFacts
    trace: TraceFacts

    def to_json(self) -> dict[str, Any]:
        """The JSON object of run.json (its schema first)."""
        return {"schema": RUN_SCHEMA, **_encode(self)}

    @classmethod
    def from_json(cls, doc: object) -> RunInfo:
        """Read a run.json object; RunInfoError names the first field of another schema, missing,
        mistyped or unknown."""
        if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith(SCHEMA_PREFIX):
            raise RunInfoError("", "not a tracekit run.json")
        if doc["schema"] != RUN_SCHEMA:
            raise RunInfoError("schema", f"is {str(doc['schema'])[:40]!r}, not {RUN_SCHEMA!r}")
        info = _decode({k: v for k, v in doc.items() if k != "schema"}, cls, "")
        assert isinstance(info, RunInfo)
        return info


def _encode(value: object) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


def _wrong(where: str, expected: str, value: object) -> RunInfoError:
    shown = repr(value)
    return RunInfoError(where, f"has the wrong type (expected {expected}, got {shown[:40]})")


def _decode(value: object, tp: Any, where: str) -> Any:
    """`value` (parsed JSON) as type `tp`, checked all the way down."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]  # only `X | None` is used
        return _decode(value, inner, where)
    if origin is Literal:
        if not isinstance(value, str) or value not in get_args(tp):
            raise _wrong(where, " or ".join(map(repr, get_args(tp))), value)
        return value
    if origin is tuple:
        return _decode_tuple(value, get_args(tp), where)
    if origin is dict:
        return _decode_dict(value, get_args(tp), where)
    if isinstance(tp, type) and issubclass(tp, tuple):  # a NamedTuple: a JSON array of its fields
        hints = get_type_hints(tp)
        items = _decode_tuple(value, tuple(hints.values()), where)
        return tp(*items)
    if dataclasses.is_dataclass(tp):
        return _decode_object(value, tp, where)
    return _decode_scalar(value, tp, where)


def _decode_scalar(value: object, tp: Any, where: str) -> Any:
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is str:
        ok = isinstance(value, str)
    elif tp is int:  # a JSON integer within int64, never a bool
        ok = isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64
    elif tp is float:  # a finite number (an integer in JSON is a float here)
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and abs(value) < 1e300
        ):
            return float(value)
        ok = False
    else:
        raise TypeError(f"run.json has no reader for {tp!r}")
    if not ok:
        raise _wrong(where, {bool: "true or false", str: "a string", int: "an integer", float: "a number"}[tp], value)
    return value


def _decode_tuple(value: object, args: tuple[Any, ...], where: str) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise _wrong(where, "an array", value)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_decode(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise _wrong(where, f"an array of {len(args)}", value)
    return tuple(_decode(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))


def _decode_dict(value: object, args: tuple[Any, ...], where: str) -> dict[Any, Any]:
    key_type, value_type = args
    if not isinstance(value, dict):
        raise _wrong(where, "an object", value)
    out: dict[Any, Any] = {}
    for k, v in value.items():
        path = f"{where}.{k}"
        if key_type is int:
            if not (k.isascii() and k.lstrip("-").isdigit()):
                raise RunInfoError(path, "is not a process id (a decimal integer key)")
            out[int(k)] = _decode(v, value_type, path)
        else:
            out[k] = _decode(v, value_type, path)
    return out


def _decode_object(value: object, tp: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise _wrong(where, "an object", value)
    hints = get_type_hints(tp)
    names = [f.name for f in dataclasses.fields(tp)]
    prefix = f"{where}." if where else ""
    # every present field is checked before any absent one is named: a mistyped field is the better clue
    decoded = {n: _decode(value[n], hints[n], prefix + n) for n in names if n in value}
    for n in names:
        if n not in decoded:
            raise RunInfoError(prefix + n, "is missing")
    for k in value:
        if k not in decoded:
            raise RunInfoError(prefix + str(k), "is not a field of " + RUN_SCHEMA)
    return tp(**decoded)
