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
  threads  pid, os_tid, name, how ("threading" | "_thread"), start_us, end_us (NaN: still running)
  gens     pid, os_tid, gen, func, driver, start_us, end_us, finished: resumes through next()
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PROC_COLUMNS = ["pid", "ppid", "how", "argv0", "start_us", "end_us", "n_plain", "plain_s"]
TASK_COLUMNS = [
    "pid", "task", "name", "coro", "creator", "site", "os_tid", "created_us", "first_step_us", "last_step_us",
    "done_us", "state", "steps",
]  # fmt: skip
STEP_COLUMNS = ["pid", "os_tid", "task", "loop", "label", "start_us", "end_us", "dur_us"]
THREAD_COLUMNS = ["pid", "os_tid", "name", "how", "start_us", "end_us"]
GEN_COLUMNS = ["pid", "os_tid", "gen", "func", "driver", "start_us", "end_us", "finished"]


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
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            pid, rec = json.loads(line)
            recs.setdefault(str(rec[0]), []).append((int(pid), rec))
        except (ValueError, TypeError, IndexError):
            raise StructureError(f"structure.jsonl line {n} is not a structure record") from None
    try:
        return _frames(recs)
    except (ValueError, TypeError, IndexError) as exc:
        raise StructureError(f"structure.jsonl has a malformed record ({exc})") from None


def load_path(path: Path) -> Structure:
    return load(path.read_bytes())


def _us(ns: Any) -> float:
    return float(ns) / 1e3


def _frames(recs: dict[str, list[tuple[int, list[Any]]]]) -> Structure:
    ends = {pid: _us(r[1]) for pid, r in recs.get("end", [])}
    calls = {pid: (int(r[1]), int(r[2]) / 1e9) for pid, r in recs.get("calls", [])}
    n_contextlib = sum(int(r[3]) for _pid, r in recs.get("calls", []))
    procs = pd.DataFrame(
        [
            (pid, int(r[3]), str(r[4]), str(r[5]), _us(r[1]), ends.get(pid, np.nan), *calls.get(pid, (0, 0.0)))
            for pid, r in recs.get("proc", [])
        ],
        columns=PROC_COLUMNS,
    )
    steps = pd.DataFrame(
        [(pid, int(r[3]), int(r[4]), int(r[5]), str(r[6]), _us(r[1]), _us(r[2])) for pid, r in recs.get("step", [])],
        columns=STEP_COLUMNS[:-1],
    )
    steps["dur_us"] = steps["end_us"] - steps["start_us"]
    steps = steps.sort_values("start_us", kind="stable").reset_index(drop=True)
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
    )


def _threads(recs: dict[str, list[tuple[int, list[Any]]]]) -> pd.DataFrame:
    ended = {(pid, int(r[2])): _us(r[1]) for pid, r in recs.get("thread_end", [])}
    rows = [
        (pid, int(r[2]), str(r[3]), str(r[4]), _us(r[1]), ended.get((pid, int(r[2])), np.nan))
        for pid, r in recs.get("thread", [])
    ]
    return pd.DataFrame(rows, columns=THREAD_COLUMNS).sort_values("start_us", kind="stable").reset_index(drop=True)


def _tasks(recs: dict[str, list[tuple[int, list[Any]]]], steps: pd.DataFrame) -> pd.DataFrame:
    done = {(pid, int(r[2])): (_us(r[1]), str(r[3]), str(r[4])) for pid, r in recs.get("done", [])}
    rows = []
    for pid, r in recs.get("task", []):
        key = (pid, int(r[2]))
        d_us, state, final_name = done.get(key, (np.nan, "", str(r[3])))
        rows.append((pid, key[1], final_name, str(r[4]), int(r[5]), str(r[6]), int(r[7]), _us(r[1]), d_us, state))
    tasks = pd.DataFrame(
        rows, columns=["pid", "task", "name", "coro", "creator", "site", "os_tid", "created_us", "done_us", "state"]
    )
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


def view_events(st: Structure, cat: str) -> list[dict[str, Any]]:
    """Perfetto events for the structure: one track per asyncio task (its lifetime, with its steps
    nested inside), per generator unit (its resumes) and per event loop (plain callbacks of 1 ms and
    more). All carry `cat` so the trace loader keeps them out of the function slices."""
    out: list[dict[str, Any]] = []

    def track(pid: int, tid: int, name: str) -> None:
        out.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}, "cat": cat})

    def slice_(pid: int, tid: int, ts: float, dur: float, name: str, args: dict[str, Any]) -> None:
        out.append(
            {"ph": "X", "pid": pid, "tid": tid, "ts": ts, "dur": max(dur, 0.0), "name": name, "cat": cat, "args": args}
        )

    for t in st.tasks.itertuples(index=False):
        tid = TASK_TID_BASE + int(t.task)
        track(int(t.pid), tid, f"{short(str(t.coro)).split(' (')[0]} ({t.name})")
        end = next((float(x) for x in (t.done_us, t.last_step_us) if x == x), float(t.created_us))
        slice_(
            int(t.pid),
            tid,
            float(t.created_us),
            end - float(t.created_us),
            short(str(t.coro)),
            {"task": str(t.name), "created at": short(str(t.site)), "state": str(t.state) or "not finished"},
        )
    for s in st.steps.itertuples(index=False):
        if s.task > 0:
            slice_(int(s.pid), TASK_TID_BASE + int(s.task), float(s.start_us), float(s.dur_us), "step", {})
        else:
            tid = LOOP_TID_BASE + int(s.loop)
            slice_(int(s.pid), tid, float(s.start_us), float(s.dur_us), str(s.label), {"thread": int(s.os_tid)})
    for pid, loop in {(int(s.pid), int(s.loop)) for s in st.steps.itertuples(index=False) if s.task == 0}:
        track(pid, LOOP_TID_BASE + loop, "event loop: callbacks >= 1 ms")
    seen: set[tuple[int, int]] = set()
    for g in st.gens.itertuples(index=False):
        key = (int(g.pid), GEN_TID_BASE + int(g.gen))
        if key not in seen:
            seen.add(key)
            track(key[0], key[1], f"generator {short(str(g.func)).split(' (')[0]} #{g.gen}")
        slice_(
            key[0],
            key[1],
            float(g.start_us),
            float(g.end_us) - float(g.start_us),
            short(str(g.func)),
            {"resumed by": short(str(g.driver)), "finished": bool(g.finished)},
        )
    return out
