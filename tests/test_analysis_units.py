"""Units, entry tasks, task creation, generator units and concurrency from hand-built structure
records and events, with exact numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from tracekit.analysis import units as U
from tracekit.analysis.functions import functions_table, split_name
from tracekit.structure import TASK_TID_BASE, Structure, empty
from tracekit.trace.frames import EVENT_COLUMNS, TRACK_COLUMNS

from .structure_records import structure, us

EMPTY = pd.DataFrame(columns=["t_ns", "kind", "pid", "tid", "user_s", "system_s"])


def events(rows: list[tuple[int, int, float, float, str, int]]) -> pd.DataFrame:
    """rows: (pid, tid, start_us, dur_us, name, parent_row) in start order; depth from parents."""
    df = pd.DataFrame(rows, columns=["pid", "tid", "start_us", "dur_us", "name", "parent"])
    df["end_us"] = df["start_us"] + df["dur_us"]
    child = np.bincount(df["parent"][df["parent"] >= 0], weights=df["dur_us"][df["parent"] >= 0], minlength=len(df))
    df["self_us"] = df["dur_us"] - child
    depth = []
    for p in df["parent"]:
        depth.append(0 if p < 0 else depth[p] + 1)
    df["depth"] = depth
    return df[EVENT_COLUMNS]


def tracks(rows: list[tuple[int, int, str, str]]) -> pd.DataFrame:
    return pd.DataFrame([(*r, "MainProcess") for r in rows], columns=TRACK_COLUMNS)


def test_library_helper_threads_and_tasks_are_shown_but_not_workers() -> None:
    # a ProcessPoolExecutor's manager and queue feeder, asyncio's waitpid thread and its pipe-connecting
    # task help; a thread of the program's own, a Thread subclass, and a record without a target work
    st = structure(
        [
            (5, ["proc", us(0), 5, 1, "start", "t.py"]),
            (5, ["thread", us(100), 6, "Thread-1", "threading",
                 "concurrent.futures.process:_ExecutorManagerThread.run"]),
            (5, ["thread", us(110), 7, "QueueFeederThread", "threading", "multiprocessing.queues:Queue._feed"]),
            (5, ["thread", us(120), 8, "asyncio-waitpid-0", "threading",
                 "asyncio.unix_events:ThreadedChildWatcher._do_waitpid"]),
            (5, ["thread", us(130), 9, "mine", "threading", "__main__:work"]),
            (5, ["thread", us(140), 10, "Poller", "threading", "__main__:Poller.run"]),
            (5, ["thread", us(150), 11, "old", "threading"]),
            (5, ["task", us(200), 1, "Task-1", "main (/p/t.py:5)", 0, "<module> (/p/t.py:20)", 5]),
            (5, ["task", us(210), 2, "Task-2", "BaseSubprocessTransport._connect_pipes "
                 "(/usr/lib/python3.11/asyncio/base_subprocess.py:156)", 1, "one (/p/t.py:9)", 5]),
            (5, ["task", us(220), 3, "Task-3", "_connect_pipes (/p/base_subprocess.py:3)", 1, "one (/p/t.py:9)", 5]),
            (5, ["thread_end", us(600), 9]),
            (5, ["done", us(900), 1, "ok", "Task-1"]),
            (5, ["end", us(1_000)]),
        ]
    )  # fmt: skip
    u = U.build_units(events([]), tracks([]), 5, {}, 0, EMPTY, st)
    roles = dict(zip(u["name"], u["role"], strict=True))
    assert {n: roles[n] for n in ["Thread-1", "QueueFeederThread", "asyncio-waitpid-0", "Task-2"]} == dict.fromkeys(
        ["Thread-1", "QueueFeederThread", "asyncio-waitpid-0", "Task-2"], "helper"
    )
    assert [roles[n] for n in ["mine", "Poller", "old", "Task-3"]] == ["worker"] * 4
    assert roles["Task-1"] == "entry"
    # in flight: mine (130-600 µs), Poller and old (to the end), Task-3 (from 220 µs, never stepped: at its
    # creation only); the four helpers never count
    steps = U.in_flight_steps(u, 1e-3)
    assert U.in_flight_at(steps, np.array([105e-6, 125e-6, 135e-6, 155e-6, 700e-6])).tolist() == [1, 1, 1, 3, 2]


def test_a_managers_server_process_is_a_helper_and_a_killed_worker_lasts_while_it_was_seen() -> None:
    # main (pid 5) forks a Manager's server (6, with one connection thread) and two pool workers (7, 8);
    # SIGTERM killed the workers without their "end" record: the sampler saw 7 alive until 900 µs
    st = structure(
        [
            (5, ["proc", us(0), 5, 1, "start", "t.py"]),
            (6, ["proc", us(100), 6, 5, "fork", "t.py"]),
            (6, ["target", us(101), "multiprocessing.managers:BaseManager._run_server"]),
            (6, ["thread", us(300), 60, "Thread-2", "threading", "multiprocessing.managers:Server.handle_request"]),
            (7, ["proc", us(200), 7, 5, "fork", "t.py"]),
            (7, ["target", us(201), "multiprocessing.pool:worker"]),
            (8, ["proc", us(210), 8, 5, "fork", "t.py"]),
            (8, ["target", us(211), "multiprocessing.pool:worker"]),
            (8, ["thread", us(400), 80, "mine", "threading", "__main__:work"]),
            (6, ["end", us(1_000)]),
            (5, ["end", us(1_100)]),
        ]
    )  # fmt: skip
    smp = pd.DataFrame(
        {"t_ns": [us(500), us(900), us(900)], "kind": ["p", "p", "t"], "pid": [7, 7, 7], "tid": [0, 0, 7],
         "user_s": [0.0, 0.0, 0.0], "system_s": [0.0, 0.0, 0.0]}
    )  # fmt: skip
    u = U.build_units(events([]), tracks([]), 5, {6: 5, 7: 5, 8: 5}, 0, smp, st)
    procs = u[u["kind"] == "process"].set_index("pid")
    assert procs["role"].to_dict() == {5: "main", 6: "helper", 7: "worker", 8: "worker"}
    roles = dict(zip(u["name"], u["role"], strict=True))
    assert roles["Thread-2"] == "helper" and roles["mine"] == "worker"
    # 7 lasts until its last sample (900 µs), 8 until its last record (its thread's start, 400 µs)
    assert procs.loc[7, "end_s"] == pytest.approx(900e-6) and procs.loc[8, "end_s"] == pytest.approx(400e-6)
    steps = U.in_flight_steps(u, 1e-3)
    # in flight: 7 (200-900 µs), 8 (210-400 µs) and its thread (from 400 µs, to its process's end); never
    # the server or its connection thread
    at = U.in_flight_at(steps, np.array([150e-6, 250e-6, 350e-6, 600e-6, 950e-6]))
    assert at.tolist() == [1, 2, 2, 1, 1]


def async_run() -> tuple[pd.DataFrame, pd.DataFrame, Structure]:
    """asyncio.run(main()) where main gathers two tasks that each wait 1 s (times in µs)."""
    ev = events([(1, 1, 0, 1_100_000, "run (x.py:1)", -1)])
    tr = tracks([(1, 1, "MainThread", "thread")])
    st = structure(
        [
            (1, ["proc", us(0), 1, 0, "start", "x.py"]),
            (1, ["task", us(10), 1, "Task-1", "main (/p/x.py:5)", 0, "<module> (/p/x.py:20)", 1]),
            (1, ["step", us(20), us(120), 1, 1, 5, ""]),
            (1, ["task", us(30), 2, "Task-2", "count (/p/x.py:9)", 1, "main (/p/x.py:6)", 1]),
            (1, ["task", us(40), 3, "Task-3", "count (/p/x.py:9)", 1, "main (/p/x.py:6)", 1]),
            (1, ["step", us(200), us(250), 1, 2, 5, ""]),
            (1, ["step", us(300), us(350), 1, 3, 5, ""]),
            (1, ["step", us(1_000_200), us(1_000_250), 1, 2, 5, ""]),
            (1, ["done", us(1_000_250), 2, "ok", "Task-2"]),
            (1, ["step", us(1_000_300), us(1_000_350), 1, 3, 5, ""]),
            (1, ["done", us(1_000_350), 3, "cancelled", "Task-3"]),
            (1, ["step", us(1_000_400), us(1_000_500), 1, 1, 5, ""]),
            (1, ["done", us(1_000_500), 1, "ok", "Task-1"]),
            (1, ["calls", 3, 1000, 0]),
            (1, ["end", us(1_100_000)]),
        ]
    )
    return ev, tr, st


def test_tasks_come_from_the_structure_record_with_creation_and_creator() -> None:
    ev, tr, st = async_run()
    samples = pd.DataFrame(
        [
            dict(t_ns=t, kind=k, pid=1, tid=tid, user_s=c, system_s=0.0)
            for t, c in ((0, 0.0), (1_100_000_000, 0.05))
            for k, tid in (("p", 0), ("t", 1))
        ]
    )
    u = U.build_units(ev, tr, root_pid=1, ppids={}, start_us=0, samples=samples, structure=st)
    tasks = u[u["kind"] == "task"].set_index("name")
    assert tasks.loc["Task-1", "role"] == "entry"
    assert tasks.loc["Task-2", "role"] == "worker"
    assert tasks.loc["Task-3", "role"] == "worker"
    # in flight from their creation at 30 µs and 40 µs (first steps at 200 and 300 µs) to their last step
    assert tasks.loc["Task-2", "start_s"] == pytest.approx(30e-6)
    assert tasks.loc["Task-3", "start_s"] == pytest.approx(40e-6)
    assert tasks.loc["Task-3", "end_s"] == pytest.approx(1_000_350e-6)
    assert tasks.loc["Task-2", "created_at"] == "main (x.py:6)"
    assert tasks.loc["Task-2", "creator"] == "Task-1"
    assert tasks.loc["Task-2", "coroutine"] == "count (x.py:9)"
    assert tasks.loc["Task-1", "creator"] == ""
    assert tasks.loc["Task-2", "slices"] == 2  # steps
    # the loop thread used 0.05 s in 1.1 s, evenly: Task-2's two 50 µs steps got 100 µs of that rate
    assert tasks.loc["Task-2", "cpu_s"] == pytest.approx(0.05 * 100e-6 / 1.1)
    assert tasks.loc["Task-2", "tid"] == TASK_TID_BASE + 2
    proc = u[u["kind"] == "process"].iloc[0]
    assert proc["role"] == "main" and proc["cpu_s"] == pytest.approx(0.05)
    assert proc["wall_s"] == pytest.approx(1.1)
    assert proc["cpu_ratio"] == pytest.approx(0.05 / 1.1)
    assert st.tasks.set_index("task").loc[3, "state"] == "cancelled"
    assert st.procs.iloc[0]["n_plain"] == 3 and st.procs.iloc[0]["plain_s"] == pytest.approx(1e-6)


def test_a_task_never_stepped_nor_done_is_in_flight_only_at_its_creation() -> None:
    # created at an unknown site ("?") by a task of another process's numbering: no steps, no done record
    st = structure([
        (1, ["proc", us(0), 1, 0, "start", "x.py"]),
        (1, ["task", us(10), 1, "Task-1", "main (/p/x.py:5)", 0, "<module> (/p/x.py:20)", 1]),
        (1, ["task", us(50), 2, "Task-2", "idle (/p/x.py:9)", 7, "?", 1]),
        (1, ["step", us(20), us(120), 1, 1, 5, ""]),
        (1, ["end", us(1000)]),
    ])  # fmt: skip
    ev = events([(1, 1, 0, 1000, "run (x.py:1)", -1)])
    u = U.build_units(ev, tracks([(1, 1, "MainThread", "thread")]), root_pid=1, ppids={}, start_us=0,
                      samples=EMPTY, structure=st)  # fmt: skip
    t2 = u[u["name"] == "Task-2"].iloc[0]
    assert (t2["start_s"], t2["end_s"], t2["slices"]) == (50e-6, 50e-6, 0)
    assert (t2["created_at"], t2["creator"], t2["coroutine"]) == ("", "", "idle (x.py:9)")
    t1 = u[u["name"] == "Task-1"].iloc[0]
    assert (t1["end_s"], t1["created_at"], t1["slices"]) == (120e-6, "<module> (x.py:20)", 1)
    assert u["kind"].tolist() == ["process", "thread", "task", "task"] and np.isnan(t2["cpu_s"])


def test_concurrency_steps_peak_and_time_weighted_mean() -> None:
    ev, tr, st = async_run()
    u = U.build_units(ev, tr, 1, {}, 0, EMPTY, st)
    steps = U.in_flight_steps(u, wall_s=1.1)
    peak, mean = U.concurrency_summary(steps, 1.1)
    assert peak == 2
    # 1 in flight until 30 µs, 1 from 30 to 40 µs, 2 from 40 µs to 1.00025 s, 1 until 1.00035 s, then 1
    expected = (
        1 * 30e-6
        + 1 * 10e-6
        + 2 * (1_000_250e-6 - 40e-6)
        + 1 * (1_000_350e-6 - 1_000_250e-6)
        + 1 * (1.1 - 1_000_350e-6)
    ) / 1.1
    assert mean == pytest.approx(expected)
    assert U.in_flight_at(steps, np.array([0.0, 0.5, 1.05])).tolist() == [1, 2, 1]


def test_threads_from_the_record_including_thread_module_threads() -> None:
    st = structure(
        [
            (5, ["proc", us(0), 5, 1, "start", "t.py"]),
            (5, ["thread", us(100), 6, "worker-0", "threading"]),
            (5, ["thread", us(150), 7, "_thread: Gateway.serve", "_thread"]),
            (5, ["thread_end", us(600), 6]),
            (5, ["end", us(1_000)]),
        ]
    )
    u = U.build_units(events([]), tracks([]), 5, {}, 0, EMPTY, st)
    th = u[u["kind"] == "thread"].set_index("name")
    assert list(th.index) == ["MainThread", "worker-0", "_thread: Gateway.serve"]
    assert th.loc["worker-0", "wall_s"] == pytest.approx(500e-6)
    assert th.loc["_thread: Gateway.serve", "end_s"] == pytest.approx(1_000e-6)  # still running: to the end
    assert th.loc["_thread: Gateway.serve", "coroutine"] == "_thread"
    assert U.concurrency_summary(U.in_flight_steps(u, 1e-3), 1e-3)[0] == 2


def gen_records(order: list[tuple[int, int, bool]], tid: int = 1, driver: str = "run (/p/g.py:17)") -> list[Any]:
    """Resumes (gen, os_tid, finished) 10 µs apart, 5 µs each."""
    return [
        (1, ["gen", us(10 * i), us(10 * i + 5), t, g, "count (/p/g.py:11)", fin, driver])
        for i, (g, t, fin) in enumerate((g, t if t else tid, f) for g, t, f in order)
    ]


def test_interleaved_generators_are_units_and_nested_ones_are_not() -> None:
    sched = gen_records([(1, 0, False), (2, 0, False), (3, 0, False), (1, 0, True), (2, 0, True), (3, 0, True)])
    g = U.generator_units(structure([(1, ["proc", 0, 1, 0, "start", "g.py"]), *sched]).gens)
    assert g["gen"].tolist() == [1, 2, 3]
    assert g["resumes"].tolist() == [2, 2, 2] and g["finished"].all()
    assert g["start_us"].tolist() == [0.0, 10.0, 20.0] and g["end_us"].tolist() == [35.0, 45.0, 55.0]
    # nested (A B B A: an iterator consumed inside another's resume) and single resumes are no schedule
    nested = gen_records([(1, 0, False), (2, 0, False), (2, 0, True), (1, 0, True), (3, 0, False)])
    assert U.generator_units(structure(nested).gens).empty
    # A B A B but on two threads: two separate consumers, not one scheduler
    threads = gen_records([(1, 1, False), (2, 2, False), (1, 1, True), (2, 2, True)])
    assert U.generator_units(structure(threads).gens).empty
    u = U.build_units(
        events([]), tracks([]), 1, {}, 0, EMPTY, structure([(1, ["proc", 0, 1, 0, "start", "g.py"]), *sched])
    )
    gens = u[u["kind"] == "generator"]
    assert gens["name"].tolist() == ["count #1", "count #2", "count #3"]
    assert gens["coroutine"].unique().tolist() == ["count (g.py:11)"]
    assert gens["creator"].unique().tolist() == ["run (g.py:17)"]
    assert U.concurrency_summary(U.in_flight_steps(u, 55e-6), 55e-6)[0] == 3


def test_main_thread_only_program_has_concurrency_one() -> None:
    ev = events([(5, 5, 0, 3_000_000, "main (s.py:1)", -1)])
    u = U.build_units(ev, tracks([(5, 5, "MainThread", "thread")]), 5, {}, 0, EMPTY, empty())
    steps = U.in_flight_steps(u, 3.0)
    assert U.concurrency_summary(steps, 3.0) == (1, 1.0)


def test_fork_child_main_thread_with_stale_tid() -> None:
    # a fork child (pid 7) keeps its parent's tid 5 for its main thread; a helper thread 8 is a worker
    ev = events(
        [(5, 5, 0, 100, "main (p.py:1)", -1), (7, 5, 10, 50, "work (p.py:3)", -1), (7, 8, 20, 30, "feed (q.py:1)", -1)]
    )
    tr = tracks([(5, 5, "MainThread", "thread"), (7, 5, "MainThread", "thread"), (7, 8, "Feeder", "thread")])
    u = U.build_units(ev, tr, 5, {7: 5}, 0, EMPTY, empty())  # no record: the traced threads
    roles = {(r.kind, r.pid, r.tid): r.role for r in u.itertuples()}
    assert roles == {
        ("process", 5, 0): "main",
        ("process", 7, 0): "worker",
        ("thread", 5, 5): "main",
        ("thread", 7, 7): "main",  # its OS tid, the pid; the stale 5 is only its trace track
        ("thread", 7, 8): "worker",
    }
    assert u.loc[(u["kind"] == "process") & (u["pid"] == 7), "parent"].item() == 5


def test_functions_self_total_and_recursion() -> None:
    # fib(2) → fib(1), fib(0) nested; total time of fib counts the outer call once
    ev = events(
        [
            (1, 1, 0, 100, "fib (f.py:1)", -1),
            (1, 1, 10, 30, "fib (f.py:1)", 0),
            (1, 1, 50, 20, "fib (f.py:1)", 0),
            (1, 1, 80, 10, "time.sleep", 0),
        ]
    )
    ev["cpu_s"] = [60e-6, 30e-6, 20e-6, 0.0]  # the outer fib call used 60 µs of CPU in all
    f = functions_table(ev).set_index("name")
    assert f.loc["fib (f.py:1)", "cpu_s"] == pytest.approx(60e-6)  # nested calls are not added again
    assert f.loc["fib (f.py:1)", "wait_s"] == pytest.approx(40e-6)
    assert f.loc["time.sleep", "wait_s"] == pytest.approx(10e-6)
    assert f.loc["fib (f.py:1)", "calls"] == 3
    assert f.loc["fib (f.py:1)", "total_s"] == pytest.approx(100e-6)
    assert f.loc["fib (f.py:1)", "self_s"] == pytest.approx((100 - 60) * 1e-6 + 30e-6 + 20e-6)
    assert f.loc["time.sleep", "self_s"] == pytest.approx(10e-6)
    assert f.loc["time.sleep", "file"] == "" and f.loc["fib (f.py:1)", "line"] == 1
    assert split_name("Runner.run (/a/b/runners.py:86)") == ("Runner.run", "/a/b/runners.py", 86)
