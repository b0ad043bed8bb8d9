"""The structure recorder in real processes (no tracer): exact records of tasks, loop steps,
threads (threading and _thread), forked and spawned processes and generator resumes, and that the
program computes exactly what it computes alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tracekit import structure as S
from tracekit.runner import BOOT_DIR


def record(tmp_path: Path, source: str) -> tuple[S.Structure, subprocess.CompletedProcess[str]]:
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(source))
    rec = tmp_path / "rec"
    rec.mkdir()
    env = dict(os.environ, TRACEKIT_STRUCTURE_DIR=str(rec), PYTHONPATH=str(BOOT_DIR))
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    return S.load(S.merge_files(rec)), proc


def test_asyncio_tasks_steps_creators_and_a_blocking_step(tmp_path: Path) -> None:
    st, proc = record(
        tmp_path,
        """
        import asyncio, time
        async def child(n):
            await asyncio.sleep(0.05)
            if n == 2:
                time.sleep(0.2)  # blocks the loop
            return n
        async def main():
            t = asyncio.create_task(child(9), name="named")
            t.cancel()
            return await asyncio.gather(child(1), child(2), return_exceptions=True)
        print(asyncio.run(main()))
        """,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "[1, 2]", proc.stderr
    tasks = st.tasks.set_index("name")
    assert tasks.loc["Task-1", "coro"].startswith("main (") and tasks.loc["Task-1", "creator"] == 0
    assert tasks.loc["Task-1", "site"].startswith("<module> (")
    main = int(tasks.loc["Task-1", "task"])
    kids = tasks[tasks["coro"].str.startswith("child (")]
    assert len(kids) == 3 and (kids["creator"] == main).all()
    assert kids["site"].str.startswith("main (").all()  # the first caller outside asyncio (gather for two)
    assert tasks.loc["named", "state"] == "cancelled"
    assert sorted(kids["state"]) == ["cancelled", "ok", "ok"]
    long = st.steps[st.steps["dur_us"] >= 150_000]
    assert len(long) == 1 and 0.19 <= long.iloc[0]["dur_us"] / 1e6 <= 0.5
    assert int(long.iloc[0]["task"]) in set(kids["task"])
    assert st.procs.iloc[0]["end_us"] == st.procs.iloc[0]["end_us"]  # the final record was written


def test_tasks_built_directly_and_eager_tasks_are_in_flight_from_their_creation(tmp_path: Path) -> None:
    # aiohttp on 3.12+ builds its tasks as asyncio.Task(coro, eager_start=True): no loop.create_task,
    # and the first step runs inside the creating callback; such a task is in flight from then on
    st, proc = record(
        tmp_path,
        """
        import asyncio, sys, time
        async def child():
            await asyncio.sleep(0.2)
        async def quick():
            return 1
        async def main():
            loop = asyncio.get_running_loop()
            eager = {"eager_start": True} if sys.version_info >= (3, 12) else {}
            t0 = time.monotonic_ns()
            a = asyncio.Task(child(), loop=loop, name="direct")
            b = asyncio.Task(child(), loop=loop, name="eager", **eager)
            c = asyncio.Task(quick(), loop=loop, name="quick", **eager)
            print(t0)
            await asyncio.gather(a, b, c)
        asyncio.run(main())
        """,
    )
    assert proc.returncode == 0, proc.stderr
    made_ns = int(proc.stdout.split()[0])
    tasks = st.tasks.set_index("name")
    for name in ("direct", "eager"):
        # recorded at its creation, not at its first step through Handle._run (0.2 s later for "eager")
        assert 0 <= tasks.loc[name, "created_us"] - made_ns / 1e3 < 50_000, (name, tasks.loc[name])
        assert tasks.loc[name, "state"] == "ok" and tasks.loc[name, "done_us"] - made_ns / 1e3 >= 190_000
        if sys.version_info >= (3, 12):  # 3.11 records a task built directly at its first step, site unknown
            assert tasks.loc[name, "site"].startswith("main ("), tasks.loc[name, "site"]
            assert tasks.loc[name, "creator"] == tasks.loc["Task-1", "task"]
    assert (st.tasks["name"] == "direct").sum() == 1 and (st.tasks["name"] == "eager").sum() == 1


def test_threads_forks_spawn_and_os_exit_are_recorded(tmp_path: Path) -> None:
    st, proc = record(
        tmp_path,
        """
        import _thread, multiprocessing as mp, os, threading, time
        def work(x):
            return x * 2
        if __name__ == "__main__":
            done = threading.Event()
            _thread.start_new_thread(lambda: (time.sleep(0.05), done.set()), ())
            t = threading.Thread(target=time.sleep, args=(0.05,), name="sleeper"); t.start(); t.join()
            done.wait(5)
            for method in ("fork", "spawn"):
                with mp.get_context(method).Pool(1) as pool:
                    print(method, pool.map(work, [1, 2]))
            pid = os.fork()
            if pid == 0:
                os._exit(0)  # skips atexit: the recorder flushes anyway
            os.waitpid(pid, 0)
        """,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["fork [2, 4]", "spawn [2, 4]"]
    main = st.procs[st.procs["how"] == "start"].iloc[0]
    th = st.threads[st.threads["pid"] == main["pid"]].set_index("name")
    assert th.loc["sleeper", "how"] == "threading"
    assert th.loc["sleeper", "target"] == "time:sleep"  # what each thread runs, as "module:qualname"
    assert any(n.startswith("_thread: ") for n in th.index)
    assert next(t for n, t in th["target"].items() if n.startswith("_thread: ")).startswith("__main__:")
    # the Pools' own handler threads, by the functions multiprocessing gives them (the units' helpers)
    pool = {"multiprocessing.pool:Pool._handle_workers", "multiprocessing.pool:Pool._handle_tasks",
            "multiprocessing.pool:Pool._handle_results"}  # fmt: skip
    assert pool <= set(th["target"]) <= pool | {"time:sleep"} | {t for t in th["target"] if t.startswith("__main__:")}
    children = st.procs[st.procs["ppid"] == main["pid"]]
    assert set(children["how"]) == {"fork", "start"}  # fork children and a spawned interpreter
    # every child left its start (pool workers end by SIGTERM, unflushed); the os._exit child wrote its end too
    assert len(children) >= 3
    assert children[children["how"] == "fork"]["end_us"].notna().any()


def test_generator_resumes_through_next_but_not_context_managers(tmp_path: Path) -> None:
    st, proc = record(
        tmp_path,
        """
        import contextlib
        def count():
            yield 1
            yield 2
        @contextlib.contextmanager
        def cm():
            yield "x"
        a, b = count(), count()
        out = [next(a), next(b), next(a), next(b), next(a, "end")]
        with cm() as v:
            out.append(v)
        try:
            next(iter([]))
        except StopIteration:
            out.append("stop")
        print(out, next.__name__)
        """,
    )
    assert proc.stdout.strip() == "[1, 1, 2, 2, 'end', 'x', 'stop'] next", proc.stderr
    g = st.gens
    assert g["gen"].tolist() == [1, 2, 1, 2, 1] or len(set(g["gen"])) == 2
    assert g["func"].str.startswith("count (").all() and g["driver"].str.startswith("<module> (").all()
    assert g["finished"].tolist() == [False, False, False, False, True]
    assert st.n_contextlib == 2  # cm's enter and exit: counted, not recorded as resumes


def test_merge_drops_lines_cut_by_a_dying_process(tmp_path: Path) -> None:
    (tmp_path / "12.jsonl").write_bytes(b'["proc", 5, 12, 1, "start", "x"]\n["step", 1, 2, 12, 0, 1, "cb"]\n["ste')
    (tmp_path / "notapid.jsonl").write_bytes(b'["proc", 5, 13, 1, "start", "x"]\n')
    merged = S.merge_files(tmp_path)
    assert merged == b'[12,["proc", 5, 12, 1, "start", "x"]]\n[12,["step", 1, 2, 12, 0, 1, "cb"]]\n'
    st = S.load(merged)
    assert st.procs["pid"].tolist() == [12] and st.procs["end_us"].isna().all()
    with pytest.raises(S.StructureError, match="line 1"):
        S.load(b'{"not": "a record"}\n')
    # records of the right shape but the wrong types: named as malformed, never a wrong number
    for bad in (b'[12,["step", 1, 2, 12, "x", 1, "cb"]]', b'[12,["step", 1, null, 12, 0, 1, "cb"]]',
                b'[12,["step", 1, 2, 12, 0, 1]]', b'[12,["task", 1, [2], "T", "c", 0, "s", 12]]'):  # fmt: skip
        with pytest.raises(S.StructureError, match="malformed record"):
            S.load(b'[12,["proc", 5, 12, 1, "start", "x"]]\n' + bad + b"\n")


def test_view_events_put_tasks_and_generators_on_tracks_of_their_own() -> None:
    from .structure_records import records, us

    raw = records([
        (1, ["proc", 0, 1, 0, "start", "x.py"]),
        (1, ["task", us(10), 2, "Task-2", "count (/p/x.py:7)", 0, "main (/p/x.py:12)", 1]),
        (1, ["step", us(20), us(30), 1, 2, 9, ""]),
        (1, ["done", us(30), 2, "ok", "Task-2"]),
        (1, ["step", us(40), us(2040), 1, 0, 9, "Server._accept"]),
        (1, ["gen", us(50), us(55), 1, 3, "count (/p/g.py:11)", True, "run (/p/g.py:17)"]),
    ])  # fmt: skip
    ev = S.view_events(raw, "tk")
    assert {e["cat"] for e in ev} == {"tk"}
    names = {(e["tid"], e["args"]["name"]) for e in ev if e["ph"] == "M"}
    assert names == {(S.TASK_TID_BASE + 2, "count (Task-2)"), (S.LOOP_TID_BASE + 9, "event loop: callbacks >= 1 ms"),
                     (S.GEN_TID_BASE + 3, "generator count #3")}  # fmt: skip
    life = [e for e in ev if e["ph"] == "X" and e["tid"] == S.TASK_TID_BASE + 2]
    assert sorted((e["name"], e["ts"], e["dur"]) for e in life) == [
        ("count (x.py:7)", 10.0, 20.0),
        ("step", 20.0, 10.0),
    ]
    assert [e["args"]["state"] for e in life if e["name"] != "step"] == ["ok"]


def test_trio_tasks_and_steps_through_an_instrument(tmp_path: Path) -> None:
    st, proc = record(
        tmp_path,
        """
        import time, trio
        async def child(n):
            await trio.sleep(0.05)
            if n == 1:
                time.sleep(0.2)  # blocks trio's run loop
        async def main():
            async with trio.open_nursery() as nursery:
                for i in range(3):
                    nursery.start_soon(child, i)
                nursery.start_soon(trio.to_thread.run_sync, time.sleep, 0.01)  # a trio function, run by the program
        trio.run(main, instruments=())
        print("ok")
        """,
    )
    assert proc.stdout.strip() == "ok", proc.stderr
    tasks = st.tasks.set_index("task")
    # trio's own machinery tasks (init, run_sync_soon) are left out; what the program's task spawned is its unit
    coros = sorted(tasks["coro"].str.split(" ").str[0])
    assert coros == ["child", "child", "child", "main", "to_thread_run_sync"], coros
    main = tasks.index[tasks["coro"].str.startswith("main (")][0]
    assert (tasks.loc[~tasks["coro"].str.startswith("main ("), "creator"] == main).all()
    assert (tasks["state"] == "ok").all()
    long = st.steps[st.steps["dur_us"] >= 150_000]
    assert len(long) == 1 and tasks.loc[int(long.iloc[0]["task"]), "coro"].startswith("child (")


def test_viztracer_does_not_import_trio_but_the_program_still_can(tmp_path: Path) -> None:
    """viztracer's C module imports trio at its own import (~0.1 s and an ldconfig run) when trio is
    installed; the recorder hides trio during that import only."""
    st, proc = record(
        tmp_path,
        """
        import sys
        import viztracer.snaptrace
        before = "trio" in sys.modules
        import trio
        async def main():
            pass
        trio.run(main)
        print(before, "trio" in sys.modules, type(sys.modules["trio"]).__name__)
        """,
    )
    assert proc.stdout.split() == ["False", "True", "module"], proc.stderr
    assert list(st.tasks["coro"].str.split(" ").str[0]) == ["main"]  # trio.run is still instrumented
