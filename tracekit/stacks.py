"""Sampled Python stacks (the recorder's "fn", "stack" and "smp" records in structure.jsonl) → function
slices in viztracer's trace-event form, so that the sampled capture's trace.json, Events frame,
function table and flame graph are built by the same code as a traced run's.

A sample says "at time t this thread's Python stack was S, and its first `keep` frames are the same
calls as at the previous sample" (the recorder compares frame objects, which it holds from one
sample to the next). A call's slice starts at the first sample that shows it and ends at the first
sample that no longer does, so it is at least one sampling interval long. What sampling cannot
see: calls that start and end between two samples, and C functions (only Python frames are on the
stack). Pure: no pandas, no I/O.
"""

from __future__ import annotations

import bisect
from typing import Any

import orjson

from tracekit import records

# The frames that run one loop step: what is called below them belongs to the step (asyncio's
# Handle._run runs every callback and task step; trio's run loop resumes its tasks itself).
LOOP_FRAMES = ("Handle._run (", "unrolled_run (")
NEST_NS = 1  # each depth starts 1 ns later and ends 1 ns earlier, so a callee nests strictly in its caller


class _Slicer:
    """State of one pass over the record: functions, stacks, each thread's open calls."""

    def __init__(self, steps: dict[tuple[int, int], list[tuple[int, int]]]) -> None:
        self.fns: dict[tuple[int, int], str] = {}
        self.parents: dict[tuple[int, int], tuple[int, int]] = {}  # (pid, sid) -> (parent sid, fn)
        self.paths: dict[tuple[int, int], tuple[int, ...]] = {}
        self.open: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (pid, tid) -> [(fn, start ns)], root first
        self.steps = steps  # (pid, os tid) -> [(t0, t1)] of its loop steps, by t0
        self.events: list[dict[str, Any]] = []

    def path(self, pid: int, sid: int) -> tuple[int, ...]:
        """The functions of stack `sid`, root first (iterative: stacks can be a thousand deep)."""
        got = self.paths.get((pid, sid))
        if got is not None or sid == 0:
            return got or ()
        chain: list[int] = []
        cur = sid
        while cur and (pid, cur) not in self.paths:
            parent = self.parents.get((pid, cur))
            if parent is None:  # its record was lost (a process killed mid-write): the known part only
                break
            cur, fn = parent
            chain.append(fn)
        got = (*self.paths.get((pid, cur), ()), *reversed(chain))
        self.paths[(pid, sid)] = got
        return got

    def sample(self, pid: int, tid: int, t: int, sid: int, same: int) -> None:
        new = self.path(pid, sid)
        stack = self.open.setdefault((pid, tid), [])
        keep = 0
        while keep < min(len(stack), len(new), same) and stack[keep][0] == new[keep]:
            keep += 1
        self.close(pid, tid, stack, keep, t)
        stack.extend((fn, t) for fn in new[keep:])

    def close(self, pid: int, tid: int, stack: list[tuple[int, int]], keep: int, t: int) -> None:
        loop_depth = max(
            (i for i, (fn, _s) in enumerate(stack) if self.fns.get((pid, fn), "").startswith(LOOP_FRAMES)), default=-1
        )
        for depth in range(len(stack) - 1, keep - 1, -1):
            fn, start = stack[depth]
            end = min(t, self._step_end(pid, tid, start)) if 0 <= loop_depth < depth else t
            pad = depth * NEST_NS
            self.events.append({
                "ph": "X", "cat": "fee", "pid": pid, "tid": tid, "name": self.fns.get((pid, fn), "?"),
                "ts": (start + pad) / 1e3, "dur": max(end - start - 2 * pad, 0) / 1e3,
            })  # fmt: skip
        del stack[keep:]

    def _step_end(self, pid: int, tid: int, start: int) -> int:
        """A call below the loop's step frame that began inside a loop step ended by the step's end (the
        next sample may come later); the loop's own frames, first sampled in a step, did not."""
        steps = self.steps.get((pid, tid))
        if not steps:
            return start + 2**62
        i = bisect.bisect_right(steps, (start, 2**62)) - 1
        if i >= 0 and steps[i][0] <= start <= steps[i][1]:
            return steps[i][1]
        return start + 2**62


def stack_events(raw: bytes) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(X and M events, facts) from a merged structure record (lines `[pid, record]`).

    Facts: samples (stack changes seen), interval_us (the sampler's, None if it never ran),
    sampler_tids ([pid, os tid] of tracekit's sampler threads, which are not the program's)."""
    recs = records.parse(raw, strict=False)  # strings arrive valid UTF-8 (records mends them)
    steps: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for pid, r in recs:
        if r[0] == "step":
            steps.setdefault((pid, int(r[3])), []).append((int(r[1]), int(r[2])))
    for lst in steps.values():
        lst.sort()
    sl = _Slicer(steps)
    last_ns: dict[int, int] = {}
    names: dict[tuple[int, int], str] = {}
    procs: dict[int, str] = {}
    samplers: list[list[int]] = []
    interval_ns: int | None = None
    n = 0
    for pid, rec in recs:
        kind = rec[0]
        if kind == "smp":
            n += 1
            sid = int(rec[3])
            same = int(rec[4]) if len(rec) > 4 else len(sl.path(pid, sid))  # frames that are the same calls
            sl.sample(pid, int(rec[2]), int(rec[1]), sid, same)
        elif kind == "fn":
            sl.fns[(pid, int(rec[1]))] = str(rec[2])
        elif kind == "stack":
            sl.parents[(pid, int(rec[1]))] = (int(rec[2]), int(rec[3]))
        elif kind == "thread":
            names[(pid, int(rec[2]))] = str(rec[3])
        elif kind == "proc":
            procs[pid] = "MainProcess" if int(rec[3]) not in procs else "Process"  # enrich adds "(pid N)"
            names.setdefault((pid, pid), "MainThread")
        elif kind == "sampler":
            samplers.append([pid, int(rec[2])])
            interval_ns = int(rec[3])
        if kind in ("smp", "end", "proc", "thread_end", "step"):
            t_any = int(rec[2] if kind == "step" else rec[1])
            last_ns[pid] = max(last_ns.get(pid, t_any), t_any)
    for (pid, tid), stack in sl.open.items():  # a process that died without its closing samples
        sl.close(pid, tid, stack, 0, last_ns.get(pid, stack[0][1] if stack else 0))
    meta: list[dict[str, Any]] = [
        {"ph": "M", "pid": pid, "tid": pid, "name": "process_name", "args": {"name": name}}
        for pid, name in procs.items()
    ]
    meta += [
        {"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}}
        for (pid, tid), name in names.items()
        if (pid, tid) in sl.open or tid == pid
    ]
    facts = {"samples": n, "interval_us": None if interval_ns is None else interval_ns / 1e3, "sampler_tids": samplers}
    return meta + sl.events, facts


def trace_document(raw_structure: bytes) -> tuple[bytes, dict[str, Any]]:
    """A viztracer-shaped trace.json document (bytes) of the sampled stacks, and the facts."""
    events, facts = stack_events(raw_structure)
    doc = {
        "traceEvents": events,
        "viztracer_metadata": {"overflow": False, "version": "tracekit-sampled"},
        "tracekit_capture": {"mode": "sampled", **facts},
    }
    return orjson.dumps(doc), facts
