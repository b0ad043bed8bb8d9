"""Units of concurrency and how many were in flight over time (pure pandas), built from the
structure record (tracekit.structure), not inferred from function slices.

A **worker** is an asyncio task other than an entry task (a task created while no other task of its
process was in flight, such as the one `asyncio.run(main())` creates), a thread other than its
process's main thread, a child process, or a generator unit (a generator instance driven as a
coroutine: see `generator_units`). A **helper** is a thread or task a library starts to manage other
units, not to do the program's work (`HELPER_TARGETS`, `HELPER_COROUTINES`: a process pool's manager and
queue-feeder threads, asyncio's waitpid threads): shown, never counted as a worker.
A worker is **in flight** from its start to its end: a task from
its creation (`loop.create_task`) to the step that finished it, since a created task is in flight
even while it waits for the loop; a thread from its start to its end; a process over its recorded
or traced life; a generator unit from its first resume to the resume that finished it.
`in_flight(t)` is the number of workers in flight at t, or 1 when none is (the main thread is then
the one unit doing the work), so a program that does everything on its main thread has concurrency
1 throughout.

Units frame (`Analysis.units`), one row per process, thread, task or generator unit:
  kind         "process" | "thread" | "task" | "generator"
  name         as the program named it (raw; renderers escape it); "count #2" for a generator unit
  pid, tid     OS ids; for a task or generator unit the id of its track in trace.json; 0 for a process
  parent       for a process its parent pid, for the others its pid
  coroutine    a task's coroutine, a generator unit's function ("count (x.py:7)"); a thread's start
               mechanism ("threading" | "_thread"); "" otherwise
  creator      the task that created a task (its name), the function that drove a generator unit
  created_at   for a task, the first caller outside asyncio of its create_task ("main (x.py:13)")
  role         "main" (main process/thread), "entry" (entry task), "helper" or "worker"
  start_s, end_s, wall_s   in-flight span, seconds from the script's start
  cpu_s        CPU seconds from psutil (processes: own; threads: per OS thread; tasks: the CPU their
               loop thread used during the task's steps, estimated from samples; NaN if unknown)
  wait_s       wall_s − cpu_s where cpu_s is known: time in flight but not on a CPU
  cpu_ratio    cpu_s / wall_s
  python_s     for a thread, self time of Python functions on its trace track (slices kept by the
               tracer's duration filter only); 0 for other kinds
  slices       a task's steps, a generator unit's resumes, a thread's or process's traced slices

While `build_units` works, each row (`_unit`) also holds build columns, dropped before it returns:
start_us and end_us (the in-flight span on the trace clock, µs), os_tid (the OS thread whose samples
give the unit's CPU; 0 for a process) and trace_tid (a thread's track in the Events frame, for
python_s; -1 for the others). No helper changes a frame it is given: each returns new rows or columns.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from tracekit.analysis.cpu import unit_cpu, window_cpu
from tracekit.analysis.functions import name_mask
from tracekit.structure import GEN_TID_BASE, TASK_TID_BASE, Structure, short

UNIT_COLUMNS = [
    "kind", "name", "pid", "tid", "parent", "coroutine", "creator", "created_at", "role", "start_s", "end_s",
    "wall_s", "cpu_s", "wait_s", "cpu_ratio", "python_s", "slices",
]  # fmt: skip


def main_threads(events: pd.DataFrame, tracks: pd.DataFrame) -> dict[int, int]:
    """pid → tid of its main thread: tid == pid, else (fork children keep their parent's stale tid)
    the thread track holding the process's earliest event."""
    out: dict[int, int] = {}
    threads = tracks[tracks["kind"] == "thread"]
    for pid, grp in threads.groupby("pid"):
        tids = set(grp["tid"].tolist())
        if pid in tids:
            out[int(pid)] = int(pid)
            continue
        ev = events[(events["pid"] == pid) & events["tid"].isin(tids)]
        if len(ev):
            out[int(pid)] = int(ev.iloc[0]["tid"])
    return out


def os_threads(events: pd.DataFrame, tracks: pd.DataFrame) -> dict[tuple[int, int], int]:
    """Trace track (pid, tid) → the OS thread id that ran it: a process's main thread is its pid on
    Linux (fork children carry a stale tid in the trace); an asyncio task runs on its process's main
    thread (tracekit assumes the event loop runs there)."""
    mains = main_threads(events, tracks)
    out: dict[tuple[int, int], int] = {}
    for pid, tid, kind in zip(tracks["pid"].tolist(), tracks["tid"].tolist(), tracks["kind"].tolist(), strict=True):
        out[(pid, tid)] = pid if kind == "task" or mains.get(pid) == tid else tid
    return out


def build_units(
    events: pd.DataFrame,
    tracks: pd.DataFrame,
    root_pid: int,
    ppids: dict[int, int],
    start_us: float,
    samples: pd.DataFrame,
    structure: Structure,
    helpers: set[int] | None = None,
) -> pd.DataFrame:
    """One row per unit (see module doc). `start_us` is the script's start on the trace clock.

    Units come from the structure record (exact: every task, thread, process and generator unit,
    whatever the tracer kept); a process without a record (another Python, or no record written)
    falls back to its traced threads."""
    if helpers:  # tooling processes (multiprocessing's resource_tracker, forkserver) are no units of the program
        keep = ~structure.procs["pid"].isin(list(helpers))
        structure = dataclasses.replace(structure, procs=structure.procs[keep])
        events = events[~events["pid"].isin(list(helpers))]
    rows = _process_rows(events, tracks, root_pid, ppids, structure, samples)
    recorded = set(structure.procs["pid"].tolist())
    rows += _thread_rows(events, tracks, structure, recorded, rows)
    tasks = _task_rows(structure)
    rows += _generator_rows(structure)
    if not rows and tasks.empty:
        return pd.DataFrame(columns=UNIT_COLUMNS)
    units = _rows_and_tasks(rows, tasks)
    units = units.assign(role=entry_roles(units))
    units["start_s"] = (units["start_us"] - start_us) / 1e6
    units["end_s"] = (units["end_us"] - start_us) / 1e6
    units["wall_s"] = units["end_s"] - units["start_s"]
    spans = pd.DataFrame(
        {
            "kind": units["kind"],
            "pid": units["pid"],
            "os_tid": units["os_tid"],
            "start_ns": units["start_us"] * 1e3,
            "end_ns": units["end_us"] * 1e3,
        }
    )
    measured = unit_cpu(samples, spans)
    units["cpu_s"] = np.where(np.isnan(measured), units["cpu_s"].astype("float64"), measured)
    units["cpu_s"] = units["cpu_s"].where(units["kind"] != "task", task_cpu(structure, samples, units))
    units["wait_s"] = (units["wall_s"] - units["cpu_s"]).clip(lower=0)
    units["cpu_ratio"] = units["cpu_s"] / units["wall_s"].where(units["wall_s"] > 0)
    python_s = _python_self(events)
    units["python_s"] = [
        float(python_s.get((p, t), 0.0)) if k == "thread" else 0.0
        for k, p, t in zip(units["kind"], units["pid"], units["trace_tid"], strict=True)
    ]
    order = {"process": 0, "thread": 1, "task": 2, "generator": 3}
    units = units.sort_values(["kind", "start_s"], key=lambda c: c.map(order) if c.name == "kind" else c)
    return units[UNIT_COLUMNS].reset_index(drop=True)


def _rows_and_tasks(rows: list[dict[str, object]], tasks: pd.DataFrame) -> pd.DataFrame:
    """Processes and threads, then tasks, then generator units (the order rows were built in)."""
    others = pd.DataFrame([r for r in rows if r["kind"] != "generator"])
    gens = pd.DataFrame([r for r in rows if r["kind"] == "generator"])
    parts = [p for p in (others, tasks, gens) if not p.empty]
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)


def _python_self(events: pd.DataFrame) -> pd.Series:
    """Self seconds of Python functions per trace track (pid, tid)."""
    if events.empty:
        return pd.Series(dtype="float64")
    is_py = name_mask(events["name"], lambda n: n.str.endswith(")"))
    py_self = pd.Series(np.where(is_py, events["self_us"].to_numpy(dtype=np.float64), 0.0) / 1e6)
    return py_self.groupby([events["pid"].to_numpy(), events["tid"].to_numpy()]).sum()


def _unit(
    kind: str, name: str, pid: int, tid: int, parent: int, role: str, start_us: float, end_us: float, **extra: object
) -> dict[str, object]:
    row: dict[str, object] = dict(
        kind=kind,
        name=name,
        pid=pid,
        tid=tid,
        parent=parent,
        role=role,
        start_us=start_us,
        end_us=end_us,
        cpu_s=np.nan,
        os_tid=0,
        trace_tid=-1,
        coroutine="",
        creator="",
        created_at="",
        slices=0,
    )
    row.update(extra)
    return row


def _process_rows(
    events: pd.DataFrame,
    tracks: pd.DataFrame,
    root_pid: int,
    ppids: dict[int, int],
    st: Structure,
    samples: pd.DataFrame,
) -> list[dict[str, object]]:
    """A process is a unit from its first to its last record or traced event; one killed by a signal
    (no "end" record: SIGTERM kills a Pool's workers when the tracer is not installed) lasts at least
    until the sampler last saw it alive."""
    pspan = events.groupby("pid").agg(start_us=("start_us", "min"), end_us=("end_us", "max"), n=("start_us", "size"))
    spans = {int(p): (float(r.start_us), float(r.end_us), int(r.n)) for p, r in pspan.iterrows()}
    last = _last_record_us(st)
    seen: dict[int, float] = {}
    if not samples.empty:
        procs = samples[samples["kind"] == "p"]
        seen = {int(p): float(t) / 1e3 for p, t in procs.groupby("pid", observed=True)["t_ns"].max().items()}
    for pr in st.procs.itertuples(index=False):
        pid = int(pr.pid)
        if pr.end_us == pr.end_us:
            end = float(pr.end_us)
        else:
            end = max(last.get(pid, float(pr.start_us)), seen.get(pid, -np.inf))
        t0, t1, n = spans.get(int(pr.pid), (np.inf, -np.inf, 0))
        spans[int(pr.pid)] = (min(t0, float(pr.start_us)), max(t1, end), n)
    pnames = dict(zip(tracks["pid"], tracks["process_name"], strict=True))
    argv0 = dict(zip(st.procs["pid"], st.procs["argv0"], strict=True))
    targets = dict(zip(st.procs["pid"], st.procs["target"], strict=True))
    rows = []
    for pid, (t0, t1, n) in sorted(spans.items()):
        name = pnames.get(pid) or (f"{argv0[pid]} (pid {pid})" if pid in argv0 else f"pid {pid}")
        rows.append(
            _unit(
                "process",
                str(name),
                pid,
                0,
                ppids.get(pid, 0),
                "main" if pid == root_pid else "helper" if targets.get(pid) in HELPER_PROCESS_TARGETS else "worker",
                t0,
                t1,
                slices=n,
            )
        )
    return rows


def _last_record_us(st: Structure) -> dict[int, float]:
    """pid → its latest recorded time (for a process that left without its final record)."""
    frames = [
        st.steps[["pid", "end_us"]],
        st.threads[["pid", "start_us"]].rename(columns={"start_us": "end_us"}),
        st.gens[["pid", "end_us"]],
        st.tasks[["pid", "created_us"]].rename(columns={"created_us": "end_us"}),
    ]
    allt = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else None
    if allt is None:
        return {}
    return {int(k): float(v) for k, v in allt.groupby("pid")["end_us"].max().items()}


def _thread_rows(
    events: pd.DataFrame, tracks: pd.DataFrame, st: Structure, recorded: set[int], procs: list[dict[str, object]]
) -> list[dict[str, object]]:
    """Main threads of every process; worker threads from the record (traced ones where no record)."""
    pspan = {int(str(r["pid"])): (float(str(r["start_us"])), float(str(r["end_us"]))) for r in procs}
    mains = main_threads(events, tracks)
    span = events.groupby(["pid", "tid"]).agg(start_us=("start_us", "min"), end_us=("end_us", "max"), n=("pid", "size"))
    nslices = {(int(k[0]), int(k[1])): int(v) for k, v in span["n"].items()}
    rows = [
        _unit(
            "thread", "MainThread", pid,
            pid,  # its OS tid is the pid (a fork child's trace track keeps its parent's stale tid: trace_tid)
            pid, "main", t0, t1, os_tid=pid, trace_tid=mains.get(pid, pid),
            slices=nslices.get((pid, mains.get(pid, pid)), 0),
        )
        for pid, (t0, t1) in pspan.items()
    ]  # fmt: skip
    rows += _recorded_thread_rows(st, pspan, nslices)
    for tr in tracks[(tracks["kind"] == "thread") & ~tracks["pid"].isin(list(recorded))].itertuples(index=False):
        key = (int(tr.pid), int(tr.tid))
        if key not in nslices or mains.get(key[0]) == key[1]:
            continue
        t0, t1 = float(span.at[key, "start_us"]), float(span.at[key, "end_us"])
        rows.append(
            _unit("thread", str(tr.name), key[0], key[1], key[0], "worker", t0, t1,
                  os_tid=key[1], trace_tid=key[1], slices=nslices[key])
        )  # fmt: skip
    return rows


# Threads the standard library starts to manage other units, by the "module:qualname" they run
# (recorder._thread_target): each waits on, feeds or collects from workers, and none does the program's
# work. Checked against CPython 3.11-3.13's sources (the thread that runs each is named beside it).
HELPER_TARGETS = frozenset({
    "asyncio.unix_events:ThreadedChildWatcher._do_waitpid",  # "asyncio-waitpid-N": one per child process
    "asyncio.base_events:BaseEventLoop._do_shutdown",  # shutdown_default_executor's joiner
    "concurrent.futures.process:_ExecutorManagerThread.run",  # ProcessPoolExecutor's manager
    "multiprocessing.pool:Pool._handle_workers",  # multiprocessing.Pool's three handlers
    "multiprocessing.pool:Pool._handle_tasks",
    "multiprocessing.pool:Pool._handle_results",
    "multiprocessing.queues:Queue._feed",  # "QueueFeederThread": pickles what a queue's put() hands it
    "multiprocessing.resource_sharer:_ResourceSharer._serve",
    "multiprocessing.managers:Server.accepter",
    "multiprocessing.managers:Server.handle_request",  # a Manager's server: one thread per proxy connection
})  # fmt: skip
# Processes the standard library starts to serve other units, by what they run (recorder "target"):
# a Manager's server process holds the shared objects and answers its proxies; its CPU is counted apart.
HELPER_PROCESS_TARGETS = frozenset({"multiprocessing.managers:BaseManager._run_server"})
# Tasks asyncio starts for its own plumbing, by their coroutine ("qualname (path:line)"): a pattern
HELPER_COROUTINES = r"BaseSubprocessTransport\._connect_pipes \(.*/asyncio/base_subprocess\.py:\d+\)"


def _recorded_thread_rows(
    st: Structure, pspan: dict[int, tuple[float, float]], nslices: dict[tuple[int, int], int]
) -> list[dict[str, object]]:
    """The worker threads of the structure record; one still running at its process's end ends there."""
    rows = []
    for th in st.threads.itertuples(index=False):
        pid, tid = int(th.pid), int(th.os_tid)
        end = float(th.end_us) if th.end_us == th.end_us else pspan.get(pid, (0.0, float(th.start_us)))[1]
        rows.append(
            _unit("thread", str(th.name), pid, tid, pid, "helper" if th.target in HELPER_TARGETS else "worker",
                  float(th.start_us), max(end, th.start_us),
                  os_tid=tid, trace_tid=tid, slices=nslices.get((pid, tid), 0), coroutine=str(th.how))
        )  # fmt: skip
    return rows


def _task_rows(st: Structure) -> pd.DataFrame:
    """The task units, column-wise (the rows of `_unit`, for 8,000 aiohttp tasks 0.1 s faster than a
    dict a task): in flight from creation to done, else to its last step, else only at its creation."""
    t = st.tasks
    if t.empty:
        return pd.DataFrame()
    pid = t["pid"].to_numpy(dtype=np.int64)
    end = t["done_us"].astype("float64").fillna(t["last_step_us"].astype("float64"))
    end = end.fillna(t["created_us"].astype("float64"))
    names = pd.Series(
        t["name"].astype(str).to_numpy(), index=pd.MultiIndex.from_arrays([pid, t["task"].astype(np.int64)])
    )
    creator = names.reindex(pd.MultiIndex.from_arrays([pid, t["creator"].astype(np.int64)])).fillna("").to_numpy()
    creator = np.where(t["creator"].to_numpy(dtype=np.int64) != 0, creator, "")
    return pd.DataFrame({
        "kind": "task", "name": t["name"].astype(str).to_numpy(), "pid": pid,
        "tid": TASK_TID_BASE + t["task"].to_numpy(dtype=np.int64), "parent": pid,
        "role": np.where(t["coro"].astype(str).str.fullmatch(HELPER_COROUTINES).to_numpy(), "helper", "worker"),
        "start_us": t["created_us"].to_numpy(dtype=np.float64), "end_us": end.to_numpy(dtype=np.float64),
        "cpu_s": np.nan, "os_tid": t["os_tid"].to_numpy(dtype=np.int64), "trace_tid": -1,
        "coroutine": _short_each(t["coro"]), "creator": creator.astype(str),
        "created_at": _short_each(t["site"], unknown="?"), "slices": t["steps"].to_numpy(dtype=np.int64),
    })  # fmt: skip


def _short_each(names: pd.Series, unknown: str | None = None) -> np.ndarray:
    """short() of each name, computed once per distinct name (thousands of tasks share a few
    coroutines); `unknown` becomes ""."""
    uniq = {n: ("" if n == unknown else short(n)) for n in set(names.astype(str).tolist())}
    return np.array([uniq[n] for n in names.astype(str).tolist()], dtype=object)


def generator_units(gens: pd.DataFrame) -> pd.DataFrame:
    """Generator instances driven as coroutines: resumed through next() by the same driver on the
    same thread, interleaved with another such instance (A B A B; nested use A B B A, such as one
    iterator consumed inside another's step, is not a schedule). One row per instance: pid, os_tid,
    gen, func, driver, start_us (first resume), end_us (the resume that finished it, else the last),
    resumes, finished."""
    cols = ["pid", "os_tid", "gen", "func", "driver", "start_us", "end_us", "resumes", "finished"]
    if gens.empty:
        return pd.DataFrame(columns=cols)
    # (a named aggregation cannot be called "func": that is agg's own parameter)
    inst = (
        gens.groupby(["pid", "os_tid", "driver", "gen"], as_index=False)
        .agg(
            function=("func", "first"),
            start_us=("start_us", "min"),
            end_us=("end_us", "max"),
            resumes=("start_us", "size"),
            finished=("finished", "any"),
        )
        .rename(columns={"function": "func"})
    )
    keep = np.zeros(len(inst), dtype=bool)
    for _key, grp in inst.groupby(["pid", "os_tid", "driver"]):
        a = grp["start_us"].to_numpy(dtype=np.float64)
        b = grp["end_us"].to_numpy(dtype=np.float64)
        multi = grp["resumes"].to_numpy() > 1
        for i in range(len(grp)):
            # another multi-resume instance that overlaps i without either containing the other
            cross = multi & (a < b[i]) & (b > a[i]) & ~((a <= a[i]) & (b >= b[i])) & ~((a >= a[i]) & (b <= b[i]))
            keep[inst.index.get_indexer(grp.index[[i]])[0]] = bool(multi[i] and cross.any())
    return inst[keep][cols].reset_index(drop=True)


def _generator_rows(st: Structure) -> list[dict[str, object]]:
    rows = []
    for g in generator_units(st.gens).itertuples(index=False):
        func = short(str(g.func))
        rows.append(
            _unit(
                "generator",
                f"{func.split(' (')[0]} #{g.gen}",
                int(g.pid),
                GEN_TID_BASE + int(g.gen),
                int(g.pid),
                "worker",
                float(g.start_us),
                float(g.end_us),
                os_tid=int(g.os_tid),
                coroutine=func,
                creator=short(str(g.driver)),
                slices=int(g.resumes),
            )
        )
    return rows


def task_cpu(st: Structure, samples: pd.DataFrame, units: pd.DataFrame) -> np.ndarray:
    """CPU seconds of each task row: what its loop thread used during the task's steps (from the
    thread's samples, interpolated); NaN for other rows or where the thread was not sampled."""
    out = np.full(len(units), np.nan)
    steps = st.steps[st.steps["task"] > 0]
    if steps.empty:
        return out
    cpu = window_cpu(
        samples,
        steps["pid"].to_numpy(),
        steps["os_tid"].to_numpy(),
        steps["start_us"].to_numpy(dtype=np.float64),
        steps["end_us"].to_numpy(dtype=np.float64),
    )
    per_task = pd.Series(cpu).groupby([steps["pid"].to_numpy(), steps["task"].to_numpy()]).sum(min_count=1)
    # one lookup for all task rows (a MultiIndex .get a row took 0.4 s for 8,000 aiohttp tasks)
    is_task = (units["kind"] == "task").to_numpy()
    wanted = pd.MultiIndex.from_arrays(
        [
            units["pid"].to_numpy()[is_task].astype(np.int64),
            units["tid"].to_numpy()[is_task].astype(np.int64) - TASK_TID_BASE,
        ]
    )
    out[is_task] = per_task.reindex(wanted).to_numpy(dtype=np.float64)
    return out


def entry_roles(units: pd.DataFrame) -> pd.Series:
    """The units' roles, "entry" for each task started while no other task of its process was in
    flight (an entry task); `units` itself is left as it is."""
    role = units["role"].copy()
    tasks = units[units["kind"] == "task"].sort_values(["pid", "start_us"], kind="stable")
    for _pid, grp in tasks.groupby("pid"):
        ends = grp["end_us"].to_numpy(dtype=np.float64)
        open_until = np.concatenate([[-np.inf], np.maximum.accumulate(ends)[:-1]])
        entry = (grp["start_us"].to_numpy(dtype=np.float64) >= open_until) & (grp["role"] != "helper").to_numpy()
        role.loc[grp.index[entry]] = "entry"
    return role


def in_flight_steps(units: pd.DataFrame, wall_s: float) -> pd.DataFrame:
    """Step series (t_s, in_flight) over [0, wall_s]: workers in flight, or 1 when none is."""
    w = units[units["role"] == "worker"]
    starts = np.clip(w["start_s"].to_numpy(dtype=np.float64), 0, wall_s)
    ends = np.clip(w["end_s"].to_numpy(dtype=np.float64), 0, wall_s)
    times = np.concatenate([[0.0], starts, ends])
    deltas = np.concatenate([[0], np.ones(len(starts), dtype=np.int64), -np.ones(len(ends), dtype=np.int64)])
    df = pd.DataFrame({"t_s": times, "d": deltas}).groupby("t_s", as_index=False)["d"].sum()
    df["workers"] = df["d"].cumsum()
    df["in_flight"] = df["workers"].where(df["workers"] > 0, 1).astype("int64")
    return df[["t_s", "in_flight"]].reset_index(drop=True)


def concurrency_summary(steps: pd.DataFrame, wall_s: float) -> tuple[int, float]:
    """(peak, time-weighted mean) of a step series over [0, wall_s]."""
    if steps.empty or wall_s <= 0:
        return 1, 1.0
    t = steps["t_s"].to_numpy(dtype=np.float64)
    v = steps["in_flight"].to_numpy(dtype=np.float64)
    dur = np.diff(np.append(t, wall_s)).clip(min=0)
    peak = int(v[dur > 0].max()) if (dur > 0).any() else int(v.max())
    return peak, float((v * dur).sum() / wall_s)


def in_flight_at(steps: pd.DataFrame, times_s: np.ndarray) -> np.ndarray:
    """The step series evaluated at given times (for the sampled timeline)."""
    if steps.empty:
        return np.ones(len(times_s), dtype=np.int64)
    t = steps["t_s"].to_numpy(dtype=np.float64)
    idx = np.searchsorted(t, times_s, side="right") - 1
    values: np.ndarray = steps["in_flight"].to_numpy(dtype=np.int64)
    return values[np.clip(idx, 0, len(t) - 1)]


LOOP_MACHINERY = ("Handle._run (", "_contextvars.Context.run")


def attribute_tasks(events: pd.DataFrame, tracks: pd.DataFrame, st: Structure) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Move the calls each asyncio task step ran from its loop thread's track to the task's own track
    (pid, TASK_TID_BASE + task), named "coroutine (Task-N)", and nest them anew: the layout viztracer's
    --log_async gave, now exact from the structure record's step times. The loop's own machinery
    (Handle._run, Context.run) stays on the thread."""
    steps = st.steps[st.steps["task"] > 0]
    if events.empty or steps.empty:
        return events, tracks
    mains = main_threads(events, tracks)
    new_tid = events["tid"].to_numpy(dtype=np.int64).copy()
    pids = events["pid"].to_numpy(dtype=np.int64)
    starts = events["start_us"].to_numpy(dtype=np.float64)
    ends = events["end_us"].to_numpy(dtype=np.float64)
    machinery = np.asarray(name_mask(events["name"], lambda n: n.str.startswith(LOOP_MACHINERY)), dtype=bool)
    for (pid, os_tid), grp in steps.groupby(["pid", "os_tid"]):
        trace_tid = mains.get(int(pid), int(pid)) if int(os_tid) == int(pid) else int(os_tid)
        on = np.flatnonzero((pids == int(pid)) & (new_tid == trace_tid) & ~machinery)
        g = grp.sort_values("start_us")
        t0 = g["start_us"].to_numpy(dtype=np.float64)
        t1 = g["end_us"].to_numpy(dtype=np.float64)
        i = np.searchsorted(t0, starts[on], side="right") - 1
        inside = (i >= 0) & (ends[on] <= t1[np.maximum(i, 0)] + 1e-3)
        new_tid[on[inside]] = TASK_TID_BASE + g["task"].to_numpy(dtype=np.int64)[i[inside]]
    moved = new_tid != events["tid"].to_numpy(dtype=np.int64)
    if not moved.any():
        return events, tracks
    from tracekit.trace.frames import renest

    events = renest(events.assign(tid=new_tid))
    pnames = dict(zip(tracks["pid"], tracks["process_name"], strict=True))
    t = st.tasks
    pid = t["pid"].astype(np.int64).tolist()
    func = {c: short(c).split(" (")[0] for c in set(t["coro"].astype(str).tolist())}  # once per coroutine
    extra = pd.DataFrame(
        {
            "pid": pid,
            "tid": (TASK_TID_BASE + t["task"].to_numpy(dtype=np.int64)).tolist(),
            "name": [f"{func[c]} ({n})" for c, n in zip(t["coro"].astype(str), t["name"].astype(str), strict=True)],
            "kind": "task",
            "process_name": [pnames.get(p, f"pid {p}") for p in pid],
        },
        columns=tracks.columns,
    )
    keys = set(zip(events["pid"].tolist(), events["tid"].tolist(), strict=True))
    extra = extra[[(p, t) in keys for p, t in zip(extra["pid"], extra["tid"], strict=True)]]
    return events, pd.concat([tracks, extra], ignore_index=True)
