"""The structure record (`structure.jsonl`, written by tracekit.recorder in every Python process of
the run and merged by the runner) → typed frames. The record format is documented in
tracekit/recorder.py; times there are CLOCK_MONOTONIC ns, here µs (the trace's clock and unit).

Frames of `Structure` (one row each):
  procs    pid, ppid, how ("start" | "fork"), argv0, start_us, end_us (NaN: the process left
           without its final record: os._exit before the flush, a signal, a crash), n_plain
           (plain loop callbacks), plain_s (their summed time)
  tasks    pid, task (serial within pid), name (final), coro ("qualname (file:line)"), creator (the
           creating task's serial, 0 if none), site (first caller outside asyncio, "?" unknown),
           os_tid (the thread that created it), created_us, first_step_us, last_step_us, done_us
           (NaN: never finished), state ("ok" | "cancelled" | "error" | "" never finished), steps
  steps    pid, os_tid, task (0 for a plain callback), loop, label, start_us, end_us, dur_us
  threads  pid, os_tid, name, how ("threading" | "_thread"), start_us, end_us (NaN: still running),
           target ("module:qualname" the thread runs, "" unknown)
  gens     pid, os_tid, gen, func, driver, start_us, end_us, finished: resumes through next()
  stack_samples  pid, os_tid, t_us, leaf ("qualname (file:line)" of the innermost Python frame, "" when
           the thread ended), line (its current line): `--sampled` only, one row per change
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tracekit import records

PROC_COLUMNS = ["pid", "ppid", "how", "argv0", "start_us", "end_us", "n_plain", "plain_s", "target"]
TASK_COLUMNS = [
    "pid", "task", "name", "coro", "creator", "site", "os_tid", "created_us", "first_step_us", "last_step_us",
    "done_us", "state", "steps",
]  # fmt: skip
STEP_COLUMNS = ["pid", "os_tid", "task", "loop", "label", "start_us", "end_us", "dur_us"]
THREAD_COLUMNS = ["pid", "os_tid", "name", "how", "start_us", "end_us", "target"]
GEN_COLUMNS = ["pid", "os_tid", "gen", "func", "driver", "start_us", "end_us", "finished"]
SAMPLE_COLUMNS = ["pid", "os_tid", "t_us", "leaf", "line"]


class StructureError(Exception):
    """structure.jsonl is not a structure record."""


@dataclass(frozen=True)
class Structure:
    procs: pd.DataFrame
    tasks: pd.DataFrame
    steps: pd.DataFrame
    threads: pd.DataFrame
    gens: pd.DataFrame
    n_contextlib: int  # next() resumes from contextlib (@contextmanager), counted, not units
    own_threads: frozenset[tuple[int, int]] = frozenset()  # (pid, os tid): tracekit's own threads
    stack_samples: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SAMPLE_COLUMNS))

    @property
    def empty(self) -> bool:
        return bool(self.procs.empty)


def merge_files(directory: Path) -> bytes:
    """The per-process files of a run (`<pid>.jsonl`) as one record: each line prefixed with its pid
    as `[pid, record]`; lines cut short by a process that died mid-write are dropped."""
    out: list[bytes] = []
    for path in sorted(directory.glob("*.jsonl")):
        try:
            pid = int(path.stem)
        except ValueError:
            continue
        for line in path.read_bytes().splitlines():
            if line.startswith(b"[") and line.endswith(b"]"):
                out.append(b"[%d," % pid + line + b"]\n")
    return b"".join(out)


def load(raw: bytes) -> Structure:
    """Parse a merged record (see merge_files) into frames."""
    recs: dict[str, list[tuple[int, list[Any]]]] = {}
    try:
        for pid, rec in records.parse(raw):
            kind = rec[0]
            group = recs.get(kind) if isinstance(kind, str) else None
            if group is None:
                group = recs.setdefault(str(kind), [])
            group.append((pid, rec))
    except records.RecordError as exc:
        raise StructureError(str(exc)) from None
    try:
        return _frames(recs)
    except (ValueError, TypeError, IndexError, OverflowError) as exc:
        raise StructureError(f"structure.jsonl has a malformed record ({exc})") from None


def load_path(path: Path) -> Structure:
    return load(path.read_bytes())


def _us(ns: Any) -> float:
    return float(ns) / 1e3


def _frames(recs: dict[str, list[tuple[int, list[Any]]]]) -> Structure:
    ends = {pid: _us(r[1]) for pid, r in recs.get("end", [])}
    calls = {pid: (int(r[1]), int(r[2]) / 1e9) for pid, r in recs.get("calls", [])}
    n_contextlib = sum(int(r[3]) for _pid, r in recs.get("calls", []))
    targets = {pid: str(r[2]) for pid, r in recs.get("target", [])}  # "" where none: not a multiprocessing child
    procs = pd.DataFrame(
        [
            (
                pid,
                int(r[3]),
                str(r[4]),
                str(r[5]),
                _us(r[1]),
                ends.get(pid, np.nan),
                *calls.get(pid, (0, 0.0)),
                targets.get(pid, ""),
            )
            for pid, r in recs.get("proc", [])
        ],
        columns=PROC_COLUMNS,
    )
    steps = _steps(recs.get("step", []))
    threads = _threads(recs)
    gens = pd.DataFrame(
        [
            (pid, int(r[3]), int(r[4]), str(r[5]), str(r[7]), _us(r[1]), _us(r[2]), bool(r[6]))
            for pid, r in recs.get("gen", [])
        ],
        columns=GEN_COLUMNS,
    ).sort_values("start_us", kind="stable")
    return Structure(
        procs=procs,
        tasks=_tasks(recs, steps),
        steps=steps,
        threads=threads,
        gens=gens.reset_index(drop=True),
        n_contextlib=n_contextlib,
        own_threads=frozenset((pid, int(r[2])) for kind in ("sampler", "own") for pid, r in recs.get(kind, [])),
        stack_samples=_stack_samples(recs),
    )


def _stack_samples(recs: dict[str, list[tuple[int, list[Any]]]]) -> pd.DataFrame:
    fns = {(pid, int(r[1])): str(r[2]) for pid, r in recs.get("fn", [])}
    leaf = {(pid, int(r[1])): fns.get((pid, int(r[3])), "?") for pid, r in recs.get("stack", [])}
    rows = [
        (pid, int(r[2]), _us(r[1]), leaf.get((pid, int(r[3])), "") if int(r[3]) else "", int(r[5] or 0))
        for pid, r in recs.get("smp", [])
        if len(r) > 5
    ]
    return pd.DataFrame(rows, columns=SAMPLE_COLUMNS).sort_values("t_us", kind="stable").reset_index(drop=True)


def _threads(recs: dict[str, list[tuple[int, list[Any]]]]) -> pd.DataFrame:
    ended = {(pid, int(r[2])): _us(r[1]) for pid, r in recs.get("thread_end", [])}
    rows = [
        (pid, int(r[2]), str(r[3]), str(r[4]), _us(r[1]), ended.get((pid, int(r[2])), np.nan), _target(r))
        for pid, r in recs.get("thread", [])
    ]
    return pd.DataFrame(rows, columns=THREAD_COLUMNS).sort_values("start_us", kind="stable").reset_index(drop=True)


def _target(thread_record: list[Any]) -> str:
    """A thread record's target ("" in records written before it was recorded)."""
    return str(thread_record[5]) if len(thread_record) > 5 else ""


def _columns(rows: list[tuple[int, list[Any]]], fields: dict[str, tuple[int, str]]) -> pd.DataFrame:
    """A frame from records, column-wise: `fields` maps a column to (index in the record, kind), kind
    "int" (int64), "us" (ns in the record, µs float64 here) or "str"; "pid" is the record's pid.
    Converted by numpy in one pass a column (28,000 aiohttp steps: 0.14 -> 0.09 s against a tuple a row), and
    a record of the wrong shape or type still raises (ValueError, TypeError, IndexError)."""
    if not rows:
        return pd.DataFrame(columns=list(fields))  # as pandas builds it from no rows: object columns
    cols: dict[str, Any] = {}
    for name, (i, kind) in fields.items():
        if kind == "pid":
            cols[name] = np.fromiter((pid for pid, _ in rows), dtype=np.int64, count=len(rows))
            continue
        values = [r[i] for _, r in rows]
        if kind == "str":
            cols[name] = list(map(str, values))  # pandas infers the string dtype, as from rows
            continue
        # numpy refuses None, lists and words (TypeError, ValueError) and, like int(), takes "12"
        arr = np.asarray(values, dtype=np.int64)
        if arr.ndim != 1:
            raise ValueError(f"a {name} that is not a number")
        cols[name] = arr.astype(np.float64) / 1e3 if kind == "us" else arr
    return pd.DataFrame(cols, columns=list(fields))


def _steps(rows: list[tuple[int, list[Any]]]) -> pd.DataFrame:
    steps = _columns(rows, {
        "pid": (0, "pid"), "os_tid": (3, "int"), "task": (4, "int"), "loop": (5, "int"), "label": (6, "str"),
        "start_us": (1, "us"), "end_us": (2, "us"),
    })  # fmt: skip
    steps["dur_us"] = steps["end_us"] - steps["start_us"]
    return steps.sort_values("start_us", kind="stable").reset_index(drop=True)


def _tasks(recs: dict[str, list[tuple[int, list[Any]]]], steps: pd.DataFrame) -> pd.DataFrame:
    created = _columns(recs.get("task", []), {
        "pid": (0, "pid"), "task": (2, "int"), "name": (3, "str"), "coro": (4, "str"), "creator": (5, "int"),
        "site": (6, "str"), "os_tid": (7, "int"), "created_us": (1, "us"),
    })  # fmt: skip
    done = _columns(recs.get("done", []), {"pid": (0, "pid"), "task": (2, "int"), "done_us": (1, "us"),
                                           "state": (3, "str"), "final": (4, "str")})  # fmt: skip
    done = done.drop_duplicates(["pid", "task"], keep="last")  # as a dict keyed on (pid, task) did
    tasks = created.merge(done, on=["pid", "task"], how="left", sort=False)
    finished = tasks["final"].notna()
    tasks["name"] = tasks["final"].where(finished, tasks["name"])
    tasks["state"] = tasks["state"].where(finished, "")
    tasks = tasks.drop(columns="final")
    ts = steps[steps["task"] > 0]
    agg = ts.groupby(["pid", "task"]).agg(
        first_step_us=("start_us", "min"), last_step_us=("end_us", "max"), steps=("start_us", "size")
    )
    tasks = tasks.join(agg, on=["pid", "task"])
    tasks["steps"] = tasks["steps"].fillna(0).astype("int64")
    tasks = tasks.sort_values(["pid", "created_us"], kind="stable").reset_index(drop=True)
    return tasks[TASK_COLUMNS]


def empty() -> Structure:
    return load(b"")


# Tracks of tracekit's own in trace.json (for the viewer): ids above any OS thread id (pid_max <= 2^22).
TASK_TID_BASE = 1_000_000_000
GEN_TID_BASE = 1_500_000_000
LOOP_TID_BASE = 2_000_000_000


def short(name: str) -> str:
    """'count (/a/b/x.py:7)' → 'count (x.py:7)'."""
    func, sep, where = name.rpartition(" (")
    if not sep:
        return name
    return f"{func} ({where.rsplit('/', 1)[-1]}"


def view_events(raw: bytes, cat: str) -> list[dict[str, Any]]:
    """Perfetto events for a merged record (see merge_files), without pandas (it runs in `profile`
    before the analysis): one track per asyncio task (its lifetime, with its steps nested inside), per
    generator instance (its resumes) and per event loop (plain callbacks of 1 ms and more). All carry
    `cat` so the trace loader keeps them out of the function slices."""
    out: list[dict[str, Any]] = []
    tasks: dict[tuple[int, int], list[Any]] = {}
    ends: dict[tuple[int, int], float] = {}
    loops: set[tuple[int, int]] = set()
    gens: set[tuple[int, int]] = set()
    done: dict[tuple[int, int], tuple[str, str]] = {}

    def track(pid: int, tid: int, name: str) -> None:
        out.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}, "cat": cat})

    def slice_(pid: int, tid: int, ts: float, dur: float, name: str, args: dict[str, Any]) -> None:
        out.append(
            {"ph": "X", "pid": pid, "tid": tid, "ts": ts, "dur": max(dur, 0.0), "name": name, "cat": cat,
             "args": args}
        )  # fmt: skip

    for pid, r in records.parse(raw, strict=False):  # strings arrive valid UTF-8 (records mends them)
        try:
            kind = r[0]
            if kind == "task":
                tasks[(pid, r[2])] = r
            elif kind == "step" and r[4]:
                slice_(pid, TASK_TID_BASE + r[4], _us(r[1]), _us(r[2]) - _us(r[1]), "step", {})
                ends[(pid, r[4])] = max(ends.get((pid, r[4]), 0.0), _us(r[2]))
            elif kind == "step":
                loops.add((pid, r[5]))
                slice_(pid, LOOP_TID_BASE + r[5], _us(r[1]), _us(r[2]) - _us(r[1]), str(r[6]), {"thread": r[3]})
            elif kind == "done":
                ends[(pid, r[2])] = _us(r[1])
                done[(pid, r[2])] = (str(r[3]), str(r[4]))
            elif kind == "gen":
                if (pid, r[4]) not in gens:
                    gens.add((pid, r[4]))
                    track(pid, GEN_TID_BASE + r[4], f"generator {short(str(r[5])).split(' (')[0]} #{r[4]}")
                slice_(pid, GEN_TID_BASE + r[4], _us(r[1]), _us(r[2]) - _us(r[1]), short(str(r[5])),
                       {"resumed by": short(str(r[7])), "finished": bool(r[6])})  # fmt: skip
        except (ValueError, TypeError, IndexError, KeyError):
            continue  # the analysis reports a malformed record; the viewer just shows less
    for (pid, n), r in tasks.items():
        state, name = done.get((pid, n), ("not finished", str(r[3])))
        track(pid, TASK_TID_BASE + n, f"{short(str(r[4])).split(' (')[0]} ({name})")
        start = _us(r[1])
        slice_(pid, TASK_TID_BASE + n, start, ends.get((pid, n), start) - start, short(str(r[4])),
               {"task": name, "created at": short(str(r[6])), "state": state})  # fmt: skip
    for pid, loop in loops:
        track(pid, LOOP_TID_BASE + loop, "event loop: callbacks >= 1 ms")
    return out
