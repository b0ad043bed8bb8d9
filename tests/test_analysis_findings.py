"""Verdicts from hand-built units and events, with exact evidence."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from tracekit.analysis.findings import verdicts
from tracekit.analysis.loop import LoopBlock
from tracekit.analysis.model import ThreadSched
from tracekit.analysis.units import UNIT_COLUMNS

from .runinfo_records import output, proc, run_info
from .structure_records import structure
from .test_analysis_units import events, tracks


def units(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = dict(
        name="u",
        pid=1,
        tid=0,
        parent=1,
        coroutine="",
        creator="",
        created_at="",
        start_s=0.0,
        end_s=1.0,
        wall_s=1.0,
        cpu_s=float("nan"),
        wait_s=float("nan"),
        cpu_ratio=float("nan"),
        python_s=0.0,
        slices=1,
    )
    return pd.DataFrame([{**base, **r} for r in rows], columns=UNIT_COLUMNS)


def kinds(fs: list) -> list[str]:  # type: ignore[type-arg]
    return [f.kind for f in fs]


def sched(
    tid: int, on: float, rq: float, vol: float, span: float = 1.0, pid: int = 1, inv: int = 0, c: float = 0.0
) -> ThreadSched:
    return ThreadSched(pid=pid, tid=tid, span_s=span, oncpu_s=on, runq_s=rq, sleep_s=max(0.0, span - on - rq),
                       voluntary=int(vol), involuntary=inv, in_c_s=c)  # fmt: skip


def thread_units(n: int) -> pd.DataFrame:
    return units(
        [dict(kind="process", role="main"), *[dict(kind="thread", role="worker", tid=i) for i in range(2, 2 + n)]]
    )


def test_gil_bound_rests_on_the_kernels_view_of_each_thread() -> None:
    # three Python CPU threads as measured here: each on a CPU a third of the time, asleep ~60%,
    # woken ~260 times a second (the GIL's 5 ms switch interval)
    th = [sched(2, 0.33, 0.05, 260), sched(3, 0.34, 0.04, 265), sched(4, 0.32, 0.06, 255)]
    fs = verdicts(wall_s=1.0, cpu_s=0.99, cores=2, units=thread_units(3), peak=3, blocks=[], loss_warnings=[],
                  threads=th)  # fmt: skip
    assert kinds(fs) == ["gil-bound"]
    ev = fs[0].evidence
    assert ev["threads"] == 3 and ev["tids"] == [2, 3, 4]
    assert ev["cores_used"] == pytest.approx(0.99)
    assert ev["gil_wait_s"] == pytest.approx(0.62 + 0.62 + 0.62)
    assert ev["wakeups_per_s"] == pytest.approx(260.0)
    assert "33% of the time" in fs[0].message and "0.99 cores" in fs[0].message


def test_gil_bound_is_not_claimed_for_lock_waiters_numpy_or_self_time() -> None:
    # threads blocked on a Lock: asleep all along, hardly woken, 0 cores (the old verdict said GIL-bound)
    lock = [sched(i, 0.0, 0.0, 1) for i in (2, 3, 4)]
    fs = verdicts(wall_s=1.5, cpu_s=0.01, cores=2, units=thread_units(3), peak=3, blocks=[], loss_warnings=[],
                  threads=lock)  # fmt: skip
    assert "gil-bound" not in kinds(fs) and kinds(fs)[0] == "concurrent-not-parallel"
    # numpy threads on a loaded 2-core machine: on a CPU 65%, in the run queue 35%, never asleep
    num = [sched(i, 0.65, 0.35, 1, inv=120) for i in (2, 3, 4)]
    fs = verdicts(wall_s=1.0, cpu_s=1.95, cores=2, units=thread_units(3), peak=3, blocks=[], loss_warnings=[],
                  threads=num)  # fmt: skip
    assert kinds(fs) == ["parallel"] and "parallel threads" in fs[0].message
    # no schedstat at all (an old run directory): no verdict from traced self time alone
    old = thread_units(3).assign(python_s=0.95, cpu_s=0.33)
    fs = verdicts(wall_s=1.0, cpu_s=0.99, cores=2, units=old, peak=3, blocks=[], loss_warnings=[])
    assert "gil-bound" not in kinds(fs) and kinds(fs) == ["serialised"]
    assert "unknown" in fs[0].message and "needs processes" not in fs[0].message
    # the same under a capture that hooks no calls (--sampled, --sample-only): the CPU is the program's
    fs = verdicts(wall_s=1.0, cpu_s=0.87, cores=2, units=old, peak=3, blocks=[], loss_warnings=[], c_calls_known=False)
    assert kinds(fs) == ["serialised"] and fs[0].evidence["per_call_cost"] is False
    assert fs[0].message == (
        "concurrent, one core at most: up to 3 threads were in flight and together kept 0.87 cores busy, with no "
        "tracer to inflate it (this capture hooks no calls): the program computed 87% of its run, one unit at a time, "
        "so its units took turns on a core rather than running in parallel; more of them cannot make that part "
        "faster, and CPU work spread over processes could."
    )


def test_gil_bound_needs_two_contenders_a_lower_bound_on_cpu_and_at_most_one_core() -> None:
    one = [sched(2, 0.5, 0.0, 200), sched(3, 0.0, 0.0, 2)]  # one hungry thread: nothing to contend with
    assert verdicts(wall_s=1, cpu_s=0.5, cores=2, units=thread_units(2), peak=2, blocks=[], loss_warnings=[],
                    threads=one)[0].kind != "gil-bound"  # fmt: skip
    idle = [sched(i, 0.05, 0.0, 200) for i in (2, 3)]  # woken often but hardly ran: below the CPU bound
    fs = verdicts(wall_s=1, cpu_s=0.1, cores=2, units=thread_units(2), peak=2, blocks=[], loss_warnings=[],
                  threads=idle)  # fmt: skip
    assert "gil-bound" not in kinds(fs)
    many = [sched(i, 0.45, 0.0, 200) for i in (2, 3, 4)]  # 1.35 cores: more than the GIL allows
    fs = verdicts(wall_s=1, cpu_s=1.35, cores=2, units=thread_units(3), peak=3, blocks=[], loss_warnings=[],
                  threads=many)  # fmt: skip
    assert "gil-bound" not in kinds(fs)


def test_io_thread_pool_at_half_a_core_is_waiting_not_serialised() -> None:
    # the traced run read 0.6 cores (tracer cost), but the kernel saw the threads asleep 80% of the time
    th = [sched(i, 0.15, 0.05, 30) for i in (2, 3, 4, 5)]
    fs = verdicts(wall_s=1.0, cpu_s=0.6, cores=2, units=thread_units(4), peak=4, blocks=[], loss_warnings=[],
                  threads=th)  # fmt: skip
    assert kinds(fs) == ["concurrent-not-parallel"]
    assert (fs[0].evidence["asleep_threads"], fs[0].evidence["hungry_threads"]) == (4, 0)
    assert "4 threads" in fs[0].message and "needs processes" not in fs[0].message


def test_labels_count_each_kind_apart() -> None:
    u = units([dict(kind="process", role="main"),
               *[dict(kind="task", role="worker", tid=10 + i, start_s=0.0, end_s=1.0) for i in range(3)],
               dict(kind="process", role="worker", pid=2, start_s=0.1, end_s=0.9),
               dict(kind="process", role="worker", pid=3, start_s=0.2, end_s=0.8),
               dict(kind="thread", role="worker", tid=7, start_s=0.95, end_s=1.0)])  # fmt: skip
    fs = verdicts(wall_s=1.0, cpu_s=0.1, cores=2, units=u, peak=5, blocks=[], loss_warnings=[])
    assert fs[0].kind == "concurrent-not-parallel"
    assert "up to 2 processes and 3 tasks were in flight" in fs[0].message
    assert fs[0].evidence["in_flight_at_peak"] == {"process": 2, "task": 3}


def test_trio_gets_trios_words_and_unknown_concurrency() -> None:
    fs = verdicts(wall_s=1.0, cpu_s=0.01, cores=2, units=units([dict(kind="process", role="main")]), peak=1,
                  blocks=[], loss_warnings=[], framework="trio")  # fmt: skip
    assert kinds(fs) == ["concurrency-unknown", "mostly-waiting"]
    assert "no trio task was recorded" in fs[0].message
    assert "trio nurseries" in fs[1].message and "asyncio" not in fs[1].message
    # trio tasks recorded as units: "trio tasks" in the label, trio's fixes for a blocked run loop
    u = units([dict(kind="process", role="main"), *[dict(kind="task", role="worker", tid=t) for t in (5, 6)]])
    blocks = [LoopBlock(task="__main__.main", coroutine="main (t.py:9)", pid=1, os_tid=1, start_s=0.0, dur_s=0.3,
                        cpu_s=0.0, min_s=0.3, certain=True, chain=["main (t.py:9)", "time.sleep"])]  # fmt: skip
    fs = verdicts(wall_s=1.0, cpu_s=0.01, cores=2, units=u, peak=2, blocks=blocks, loss_warnings=[],
                  framework="trio")  # fmt: skip
    assert kinds(fs) == ["loop-blocked", "concurrent-not-parallel", "mostly-waiting"]
    text = " ".join(f.message for f in fs)
    assert "asyncio" not in text and "trio.to_thread.run_sync" in text and "trio's run loop blocked" in text
    assert "2 trio tasks" in fs[1].message


def test_untraced_threads_make_sequential_unknown() -> None:
    fs = verdicts(wall_s=1.0, cpu_s=0.5, cores=2, units=units([dict(kind="process", role="main")]), peak=1,
                  blocks=[], loss_warnings=["2 thread(s) ran untraced"], untraced_threads=2)  # fmt: skip
    assert kinds(fs) == ["data-loss", "concurrency-unknown"]
    assert "2 thread(s) ran that the tracer did not see" in fs[1].message


def test_parallel_processes_with_ideal_speedup() -> None:
    u = units([dict(kind="process", role="main"), *[dict(kind="process", role="worker", pid=p) for p in (2, 3, 4)]])
    fs = verdicts(wall_s=1.0, cpu_s=1.8, cores=2, units=u, peak=3, blocks=[], loss_warnings=[])
    assert kinds(fs) == ["parallel"]
    assert fs[0].evidence["ideal_speedup"] == 2


def test_concurrent_not_parallel_and_mostly_waiting() -> None:
    u = units([dict(kind="task", role="worker", tid=t) for t in (1, 2, 3)])
    fs = verdicts(wall_s=1.0, cpu_s=0.02, cores=2, units=u, peak=3, blocks=[], loss_warnings=[])
    assert kinds(fs) == ["concurrent-not-parallel", "mostly-waiting"]
    assert "3 tasks" in fs[0].message


def test_sequential_and_data_loss_first() -> None:
    u = units([dict(kind="process", role="main")])
    fs = verdicts(wall_s=3.0, cpu_s=2.9, cores=2, units=u, peak=1, blocks=[], loss_warnings=["buffer overflowed"])
    assert kinds(fs) == ["data-loss", "sequential"]
    assert fs[0].severity == "warning" and fs[0].message == "buffer overflowed"


def test_a_brief_thread_pool_in_a_single_threaded_run_is_mostly_sequential() -> None:
    # two pool threads together from 0.20 to 0.25 s and a third from 0.60 to 0.62 s alone, in a 1.0 s
    # run: 0.05 s (5%) with two workers in flight, under the 10% bound
    u = units([dict(kind="process", role="main"), dict(kind="thread", role="main", tid=1, start_s=0.0, end_s=1.0),
               dict(kind="thread", role="worker", tid=2, start_s=0.20, end_s=0.25),
               dict(kind="thread", role="worker", tid=3, start_s=0.20, end_s=0.25),
               dict(kind="thread", role="worker", tid=4, start_s=0.60, end_s=0.62)])  # fmt: skip
    fs = verdicts(wall_s=1.0, cpu_s=0.97, cores=2, units=u, peak=2, blocks=[], loss_warnings=[])
    assert kinds(fs) == ["sequential"]
    assert fs[0].message == (
        "sequential for the most part: one unit did the work, one thing at a time, except for 0.050 s (5%) of the "
        "1.00 s run, when up to 2 threads were in flight together (97% of a core busy)."
    )
    assert fs[0].evidence["concurrent_s"] == pytest.approx(0.05) and fs[0].evidence["concurrent_share"] == 0.05
    # the same pool in flight together for 0.12 s (12%) of the run: that is concurrency, judged as before
    longer = u.assign(end_s=[1.0, 1.0, 0.32, 0.32, 0.62])
    fs = verdicts(wall_s=1.0, cpu_s=0.97, cores=2, units=longer, peak=2, blocks=[], loss_warnings=[])
    assert kinds(fs) == ["serialised"]


def test_generator_coroutines_finding_counts_instances() -> None:
    fs = verdicts(wall_s=1.0, cpu_s=0.01, cores=2, units=units([]), peak=1, blocks=[], loss_warnings=[],
                  generators={"count (g.py:11)": 3})  # fmt: skip
    assert kinds(fs) == ["generator-coroutines", "mostly-waiting"]
    assert "3 generator instances" in fs[0].message and "count (g.py:11) (3 instances)" in fs[0].message
    assert fs[0].evidence == {"instances": {"count (g.py:11)": 3}}


def test_data_loss_is_recorded_with_its_fix() -> None:
    from tracekit.analysis.loss import data_loss
    from tracekit.trace.frames import EVENT_COLUMNS, TRACK_COLUMNS, Trace

    trace = Trace(
        events=pd.DataFrame(columns=EVENT_COLUMNS), tracks=pd.DataFrame(columns=TRACK_COLUMNS),
        overflow=False, version="1.1.1", events_per_pid={10: 5000, 11: 7},
    )  # fmt: skip
    run = run_info(tracer_entries=5000, processes={10: proc(), 11: proc(), 12: proc()}, timed_out=True, timeout_s=3.0,
                   output=output((0, "stdout", "x"), total_lines=9))  # fmt: skip
    loss = data_loss(run, trace, pd.DataFrame({"t_ns": [1]}))
    assert loss.overflow is True  # pid 10 filled its buffer although viztracer's flag said no
    assert loss.untraced_pids == [12]
    assert loss.timed_out and loss.output_truncated and not loss.interrupted
    text = " | ".join(loss.warnings)
    assert "in pid 10" in text and "--tracer-entries" in text
    assert "pid 12" in text and "--timeout after 3 s" in text and "printed 9 lines" in text
    assert len(loss.warnings) == 4


def test_helpers_are_named_and_untraced_threads_are_data_loss() -> None:
    from tracekit.analysis.loss import data_loss
    from tracekit.trace.frames import EVENT_COLUMNS, Trace

    ev = events([(10, 10, 0, 1000, "main (a.py:1)", -1), (10, 11, 10, 500, "work (a.py:5)", -1)])
    tr = tracks([(10, 10, "MainThread", "thread"), (10, 11, "Thread-1", "thread")])
    trace = Trace(events=ev[EVENT_COLUMNS], tracks=tr, overflow=False, version="1.1.1", events_per_pid={10: 2})
    run = run_info(processes={
        10: proc(("python", "a.py")),
        12: proc(("/usr/bin/python3", "-c", "from multiprocessing.resource_tracker import main;main(5)")),
        13: proc(("/sbin/ldconfig", "-p")),
        14: proc(("/usr/bin/python3.11", "worker.py")),
        15: proc((), last=15_000_000),  # gone before it could be read
        16: proc((), last=900_000_000),  # lived long: unknown, lost
    })  # fmt: skip
    # the sampler saw threads 10, 11 (traced) and 15 (no track) of pid 10 at three samples in the window,
    # and thread 16 once only (a blip: not enough to count)
    rows = [(t, 10, tid) for t in (100, 200, 300) for tid in (10, 11, 15)] + [
        (200, 10, 16),
        (900, 10, 17),
        (950, 10, 17),
    ]
    samples = pd.DataFrame([{"t_ns": t, "kind": "t", "pid": p, "tid": tid} for t, p, tid in rows])
    loss = data_loss(run, trace, samples, (50.0, 400.0))
    assert loss.untraced_pids == [14, 16]
    assert loss.helpers == ["pid 12 multiprocessing's resource_tracker", "pid 13 ldconfig (not a Python program)",
                            "pid 15 a process gone 15 ms after it was seen (command line unreadable)"]  # fmt: skip
    assert loss.untraced_threads == ["10:15"]
    text = " | ".join(loss.warnings)
    assert "2 process(es) ran but left no trace (pid 14, 16)" in text and "12" not in text and "13" not in text
    assert "1 thread(s) ran that neither the trace nor tracekit's structure record shows (pid:tid 10:15)" in text
    # a thread the structure record saw start (threading or _thread) is known, traced slices or not
    rec = structure(
        [(10, ["proc", 0, 10, 1, "start", "a.py"]), (10, ["thread", 60_000, 15, "_thread: serve", "_thread"])]
    )
    assert data_loss(run, trace, samples, (50.0, 400.0), rec).untraced_threads == []
    # with a structure record: a copy of its parent's command line seen 1 ms and never recorded is a
    # subprocess's child before its exec (ldconfig run by an import), not a lost Python process
    forked = {**run.processes, 17: proc(("python", "a.py"), ppid=10, last=1_000_000)}
    with_fork = data_loss(run_info(processes=forked), trace, samples, (50.0, 400.0), rec)
    assert with_fork.untraced_pids == [14, 16]
    assert "pid 17 a child of pid 10 seen 1 ms before it exec'd another program" in with_fork.helpers
    # without a record (an older run) the same process cannot be told from a lost fork: it is reported
    assert 17 in data_loss(run_info(processes=forked), trace, samples, (50.0, 400.0)).untraced_pids
    # on a loaded machine the copy may be seen for 100 ms and more (sampler ticks stretched): still a
    # child before its exec; one never recorded for over a second is a lost process
    long_lost = proc(("python", "a.py"), ppid=10, last=1_500_000_000)
    slow = {**forked, 17: proc(("python", "a.py"), ppid=10, last=146_000_000), 18: long_lost}
    with_slow = data_loss(run_info(processes=slow), trace, samples, (50.0, 400.0), rec)
    assert "pid 17 a child of pid 10 seen 146 ms before it exec'd another program" in with_slow.helpers
    assert with_slow.untraced_pids == [14, 16, 18]
    fs = verdicts(wall_s=1, cpu_s=0.01, cores=2, units=units([]), peak=1, blocks=[], loss_warnings=loss.warnings,
                  helpers=loss.helpers, untraced_threads=1)  # fmt: skip
    helper = next(f for f in fs if f.kind == "untraced-helpers")
    assert "resource_tracker" in helper.message and "no data lost" in helper.message


def test_gil_bound_on_a_loaded_machine_is_not_also_called_overlapped_waiting() -> None:
    # measured with other jobs on the machine: each thread on a CPU ~19%, in the run queue ~39%, asleep ~42%
    th = [sched(i, 0.19 * 2.2, 0.39 * 2.2, 138 * 2.2, span=2.2) for i in (2, 3, 4)]
    fs = verdicts(wall_s=2.3, cpu_s=1.29, cores=2, units=thread_units(3), peak=3, blocks=[], loss_warnings=[],
                  threads=th)  # fmt: skip
    assert kinds(fs) == ["gil-bound"]
    assert "runnable with no free core" in fs[0].message


def test_gil_threads_at_load_six_are_short_of_cores_and_the_gil_is_unknown() -> None:
    # measured (corpus threads_gil, Python 3.12, load 6 on 2 cores): each thread on a CPU ~11%, queued
    # ~65%, asleep only ~24%: too little sleep to show the GIL's rhythm, so no GIL verdict either way
    th = [sched(2, 0.195, 1.382, 123, span=2.04), sched(3, 0.236, 1.185, 167, span=1.98),
          sched(4, 0.237, 1.293, 161, span=1.99)]  # fmt: skip
    fs = verdicts(wall_s=2.1, cpu_s=0.68, cores=2, units=thread_units(3), peak=3, blocks=[], loss_warnings=[],
                  threads=th)  # fmt: skip
    assert kinds(fs) == ["core-contention"]
    assert "whether they also took turns on the GIL is unknown" in fs[0].message
    assert "slept 25% of their life" in fs[0].message and fs[0].evidence["hungry_sleep_fraction"] == 0.247
    assert "needs processes" not in fs[0].message and "not of the GIL" not in fs[0].message


def test_io_pool_traced_at_load_nine_is_not_called_gil_bound() -> None:
    # measured (corpus threads_http, Python 3.13, load ~9 on 2 cores, others using 1.7 cores): the pool's
    # traced threads each on a CPU 3-8%, queued 30-50%, asleep 40-60%, woken 60-110 times a second, and
    # together "wanting" over a core, the queue included: every GIL criterion met but one, asleep ~7 ms per
    # wake-up, longer than a GIL waiter's 5 ms
    shares = [(0.07, 0.50, 59, 0.61), (0.07, 0.44, 68, 0.60), (0.07, 0.32, 93, 0.47), (0.07, 0.45, 91, 0.47),
              (0.07, 0.33, 66, 0.47), (0.08, 0.51, 97, 0.47), (0.01, 0.09, 103, 1.61)]  # fmt: skip
    th = [sched(i, on * span, rq * span, vol * span, span=span) for i, (on, rq, vol, span) in enumerate(shares, 2)]
    fs = verdicts(wall_s=1.6, cpu_s=0.5, cores=2, units=thread_units(7), peak=7, blocks=[], loss_warnings=[],
                  threads=th)  # fmt: skip
    assert "gil-bound" not in kinds(fs), [f.message for f in fs]
    # the same threads on a quiet machine (their queue time asleep instead): the GIL's rhythm, called so
    quiet = [dataclasses.replace(t, runq_s=0.0, sleep_s=t.sleep_s + t.runq_s) for t in th]
    fs = verdicts(wall_s=1.6, cpu_s=0.5, cores=2, units=thread_units(7), peak=7, blocks=[], loss_warnings=[],
                  threads=quiet)  # fmt: skip
    assert "gil-bound" not in kinds(fs)  # together they wanted < 0.8 of a core: an I/O pool, not the GIL


def test_threads_short_of_cores_are_not_serialised_by_the_gil() -> None:
    # hashlib threads on a machine other programs kept busy: on a CPU 30%, queued for a core 68%, asleep 2%
    th = [sched(i, 0.3, 0.68, 2) for i in (2, 3, 4)]
    fs = verdicts(wall_s=1.0, cpu_s=0.9, cores=2, units=thread_units(3), peak=3, blocks=[], loss_warnings=[],
                  threads=th)  # fmt: skip
    assert kinds(fs) == ["core-contention"]
    assert fs[0].evidence["hungry_runq_fraction"] == round(0.68 / 0.98, 3)
    assert "3 threads runnable most of their life" in fs[0].message and "69% of that time" in fs[0].message


def test_process_pool_starved_of_cores_is_not_called_waiting() -> None:
    # ProcessPoolExecutor on a machine other jobs kept busy: the traced run used 0.23 cores, yet its two
    # single-threaded workers were runnable all along (on a CPU 12%, queued 85%); the pool's helper
    # thread in the main process slept (idle: not counted)
    u = units([dict(kind="process", role="main"), dict(kind="process", role="worker", pid=2),
               dict(kind="process", role="worker", pid=3), dict(kind="thread", role="worker", tid=9)])  # fmt: skip
    th = [sched(2, 0.12, 0.85, 5, pid=2), sched(3, 0.11, 0.86, 5, pid=3), sched(9, 0.0, 0.0, 40)]
    fs = verdicts(wall_s=1.0, cpu_s=0.23, cores=2, units=u, peak=3, blocks=[], loss_warnings=[], threads=th)
    assert kinds(fs) == ["core-contention"]
    assert "2 processes and 1 thread" in fs[0].message
    assert fs[0].evidence["hungry_runq_fraction"] == round(1.71 / 1.94, 3)


def test_io_pool_on_a_loaded_machine_is_waiting_though_some_threads_queued() -> None:
    # an I/O thread pool at load ~4 on 2 cores (corpus threads_http, Python 3.12): 5 threads asleep most
    # of their life, 3 runnable most of it but queued for a core 80% of that, each woken ~30 times a second
    # (a request at a time, not the GIL's rhythm): waiting, not computing; the 3 queued ones asleep 40% of
    # their life, 77% of their time out of the queue, 16 ms a wake-up, count as waiting too
    th = [*[sched(i, 0.05, 0.10, 30) for i in (2, 3, 4, 5, 6)], *[sched(i, 0.12, 0.48, 25) for i in (7, 8, 9)]]
    fs = verdicts(wall_s=1.0, cpu_s=0.3, cores=2, units=thread_units(8), peak=8, blocks=[], loss_warnings=[],
                  threads=th)  # fmt: skip
    assert kinds(fs) == ["concurrent-not-parallel"]
    ev = fs[0].evidence
    assert (ev["active_threads"], ev["asleep_threads"], ev["hungry_threads"]) == (8, 8, 3)
    assert ev["hungry_runq_fraction"] == 0.8
    assert "8 of their 8 active threads asleep" in fs[0].message
    assert "3 of them were runnable most of their life but waited for a free core 80%" in fs[0].message
    # one of the hungry threads a queued CPU-bound worker (on a CPU 13%, queued 87%, asleep 0%, as a
    # multiprocessing worker measured at load 6): no longer only waiting
    computing = [*th[:7], sched(9, 0.13, 0.87, 5)]
    fs = verdicts(wall_s=1.0, cpu_s=0.6, cores=2, units=thread_units(8), peak=8, blocks=[], loss_warnings=[],
                  threads=computing)  # fmt: skip
    assert "concurrent-not-parallel" not in kinds(fs), kinds(fs)


def test_gil_bound_needs_the_group_to_want_most_of_a_core() -> None:
    # four I/O threads, each on a CPU 8%, asleep 90%, woken 80 times a second: GIL-like per thread,
    # but together they wanted 0.4 cores: waiting for I/O, not for the GIL
    th = [sched(i, 0.08, 0.02, 80) for i in (2, 3, 4, 5)]
    fs = verdicts(wall_s=1.0, cpu_s=0.35, cores=2, units=thread_units(4), peak=4, blocks=[], loss_warnings=[],
                  threads=th)  # fmt: skip
    assert kinds(fs) == ["concurrent-not-parallel"]
    # under heavy load (measured): on a CPU 18%, queued 35%, asleep 47%, 135 wake-ups/s: GIL-bound
    loaded = [sched(i, 0.18, 0.35, 135) for i in (2, 3, 4)]
    fs = verdicts(wall_s=1.0, cpu_s=0.55, cores=2, units=thread_units(3), peak=3, blocks=[], loss_warnings=[],
                  threads=loaded)  # fmt: skip
    assert kinds(fs) == ["gil-bound"] and fs[0].evidence["demand_cores"] == pytest.approx(1.59)


def test_numpy_threads_beside_a_sleeping_main_thread_and_an_idle_blas_thread() -> None:
    # measured at load ~5 on 2 cores: the main thread (in join) and OpenBLAS's idle thread sleep, the three
    # numpy threads are on a CPU 14% and queued 86%: short of cores, whatever the sleepers do
    th = [sched(1, 0.07, 0.22, 11, span=2.42), sched(8, 0.016, 0.11, 1, span=2.42),
          *[sched(i, 0.30, 1.83, 0, span=2.13) for i in (2, 3, 4)]]  # fmt: skip
    fs = verdicts(wall_s=2.45, cpu_s=1.01, cores=2, units=thread_units(3), peak=3, blocks=[], loss_warnings=[],
                  threads=th)  # fmt: skip
    assert kinds(fs) == ["core-contention"]
    assert fs[0].evidence["hungry_threads"] == 3 and fs[0].evidence["active_threads"] == 5


def test_a_starved_sampler_is_data_loss_and_withholds_cpu_verdicts() -> None:
    from tracekit.analysis.loss import data_loss
    from tracekit.trace.frames import EVENT_COLUMNS, TRACK_COLUMNS, Trace

    trace = Trace(events=pd.DataFrame(columns=EVENT_COLUMNS), tracks=pd.DataFrame(columns=TRACK_COLUMNS),
                  overflow=False, version="1.1.1", events_per_pid={10: 5})  # fmt: skip
    # samples at 0 s and 3 s only, for a script from 0.5 s to 2 s (a starved sampler): the tree's CPU
    # read across the whole window would be a guess
    rows = [dict(t_ns=int(t * 1e9), kind="p", pid=10, ppid=1, tid=0, user_s=0.0, system_s=0.0, children_user_s=0.0,
                 children_system_s=0.0, rss_bytes=1.0) for t in (0.0, 3.0)]  # fmt: skip
    loss = data_loss(run_info(processes={10: proc()}), trace, pd.DataFrame(rows), (0.5e9, 2.0e9))
    assert any("the sampler took no sample for 1.50 s of the script's 1.50 s" in w for w in loss.warnings)
    fs = verdicts(wall_s=1.5, cpu_s=0.0, cores=2, units=thread_units(3), peak=3, blocks=[], loss_warnings=loss.warnings,
                  cpu_known=False)  # fmt: skip
    assert kinds(fs) == ["data-loss"]  # neither "concurrent, not parallel" nor "mostly waiting" from 0 CPU


def test_io_pool_queued_for_cores_is_waiting_not_short_of_cores() -> None:
    # measured (corpus threads_http traced, Python 3.13, load ~1.5 on 2 cores): five pool threads each on
    # a CPU ~10% of their life, queued for a core ~43%, asleep ~47% at ~14 ms a wake-up: asleep less than
    # half their life, but most of their time out of the queue, and longer per wake-up than a GIL waiter
    th = [sched(i, 0.045, 0.182, 14, span=0.427) for i in (2, 3, 4, 5, 6)]
    fs = verdicts(wall_s=2.3, cpu_s=0.8, cores=2, units=thread_units(5), peak=5, blocks=[], loss_warnings=[],
                  threads=th)  # fmt: skip
    assert kinds(fs) == ["concurrent-not-parallel"], [f.message for f in fs]
    assert (fs[0].evidence["asleep_threads"], fs[0].evidence["hungry_threads"]) == (5, 5)
    assert "5 of their 5 active threads asleep" in fs[0].message
    assert "5 of them were runnable most of their life but waited for a free core 80%" in fs[0].message
    # the same shares woken every 2 ms (a GIL waiter's rhythm, not I/O): not called waiting
    gil_like = [sched(i, 0.045, 0.182, 100, span=0.427) for i in (2, 3, 4, 5, 6)]
    fs = verdicts(wall_s=2.3, cpu_s=0.8, cores=2, units=thread_units(5), peak=5, blocks=[], loss_warnings=[],
                  threads=gil_like)  # fmt: skip
    assert "concurrent-not-parallel" not in kinds(fs), [f.message for f in fs]


def test_sequential_claims_no_cpu_it_did_not_sample() -> None:
    one = units([dict(kind="process", role="main")])
    fs = verdicts(wall_s=0.0006, cpu_s=0.0006, cores=2, units=one, peak=1, blocks=[], loss_warnings=[])
    assert [f.message for f in fs] == [
        "sequential: one unit did all the work, one thing at a time (100% of a core busy)."
    ]
    fs = verdicts(wall_s=0.0006, cpu_s=0.0006, cores=2, units=one, peak=1, blocks=[], loss_warnings=[], cpu_known=False)
    assert [f.message for f in fs] == [
        "sequential: one unit did all the work, one thing at a time (its CPU unknown: the sampler saw too little "
        "of its 0.6 ms)."
    ]


# The failing CI run of corpus threads_http (Python 3.12, default capture, load ~1): the main thread (its
# imports, then waiting on the pool) and six of the pool's eight threads, each of the six on a CPU 12-17% of
# its life, queued 28-43%, asleep 43-55%, woken 58-169 times a second; with `c`, the time the trace showed
# each inside C calls (socket.recv, SSLContext.set_default_verify_paths, SimpleQueue.get) over its span.
IO_POOL_312 = [
    sched(20397, 0.559, 0.033, 133, span=1.480, c=1.105),
    sched(20410, 0.076, 0.125, 69, span=0.447, c=0.433),
    sched(20411, 0.064, 0.177, 26, span=0.447, c=0.435),
    sched(20412, 0.062, 0.168, 42, span=0.439, c=0.418),
    sched(20418, 0.060, 0.155, 47, span=0.406, c=0.392),
    sched(20417, 0.058, 0.182, 71, span=0.421, c=0.410),
    sched(20407, 0.053, 0.178, 62, span=0.447, c=0.437),
    sched(20415, 0.020, 0.062, 56, span=0.421, c=0.387),
    sched(20408, 0.020, 0.054, 48, span=0.447, c=0.422),
    sched(20405, 0.014, 0.055, 204, span=1.153, c=1.142),
]


def test_io_pool_asleep_inside_c_calls_is_not_gil_bound() -> None:
    # every schedstat criterion of the GIL met (7 threads, 0.63 cores used, 1.32 wanted, 4.7 ms asleep a
    # wake-up), but 93-98% of each pool thread's sampled life was inside C calls: its sleep was I/O and work
    # waits, never waiting to run Python (the untraced oracle: the same shares, on a CPU ~10%, asleep ~67%)
    fs = verdicts(wall_s=1.483, cpu_s=1.053, cores=2, units=thread_units(9), peak=9, blocks=[], loss_warnings=[],
                  threads=IO_POOL_312)  # fmt: skip
    assert "gil-bound" not in kinds(fs), [f.message for f in fs]
    assert kinds(fs) == ["concurrent-not-parallel"]
    assert (fs[0].evidence["asleep_threads"], fs[0].evidence["active_threads"]) == (6, 10)
    # the same schedstat from threads that ran Python outside any C call: the GIL's rhythm, and called so
    # (the rule before this one called the run above this, with these exact numbers)
    python = [dataclasses.replace(t, in_c_s=0.0) for t in IO_POOL_312]
    fs = verdicts(wall_s=1.483, cpu_s=1.053, cores=2, units=thread_units(9), peak=9, blocks=[], loss_warnings=[],
                  threads=python)  # fmt: skip
    assert kinds(fs) == ["gil-bound"]
    ev = fs[0].evidence
    assert ev["threads"] == 7 and ev["tids"] == [20397, 20410, 20411, 20412, 20418, 20417, 20407]
    assert (ev["cores_used"], ev["demand_cores"], ev["gil_wait_s"], ev["in_c_sleep_s"]) == (0.63, 1.318, 2.137, 0.0)
    # 65% of each thread's life in C calls: only its sleep in the other 35% can be GIL waits, 1.43 s of 2.14 s,
    # still at least 30% of each thread's life
    c65 = [dataclasses.replace(t, in_c_s=0.65 * t.span_s) for t in IO_POOL_312]
    fs = verdicts(wall_s=1.483, cpu_s=1.053, cores=2, units=thread_units(9), peak=9, blocks=[], loss_warnings=[],
                  threads=c65)  # fmt: skip
    assert kinds(fs) == ["gil-bound"]
    assert (fs[0].evidence["gil_wait_s"], fs[0].evidence["in_c_sleep_s"]) == (1.43, 0.707)
    assert "slept 1.43 s in all outside C calls (and 0.71 s inside them, not counted)" in fs[0].message
    assert fs[0].evidence["c_calls_known"] is True and "records no C calls" not in fs[0].message
    # a capture without traced C calls (--sampled, --sample-only): the run above is GIL-bound on schedstat
    # alone, and the finding says that whether the threads waited for the GIL or for I/O is unknown
    fs = verdicts(wall_s=1.483, cpu_s=1.053, cores=2, units=thread_units(9), peak=9, blocks=[], loss_warnings=[],
                  threads=[dataclasses.replace(t, in_c_s=0.0) for t in IO_POOL_312], c_calls_known=False)  # fmt: skip
    assert kinds(fs) == ["gil-bound"] and fs[0].evidence["c_calls_known"] is False
    assert "whether these threads waited for the GIL or for I/O is unknown" in fs[0].message


def test_io_pool_threads_queued_on_a_busy_machine_are_not_computing() -> None:
    # corpus threads_http traced at load ~3 on 2 cores (3.12): pool threads queued for a core 81% of their
    # life, on a CPU 9-10%, asleep 9-11%; and a thread that spent its 0.1 s life queued (on a CPU 1 ms,
    # asleep 0). Neither is evidence of computing: the rest slept, so waiting, not short of cores
    queued = [sched(2, 0.045, 0.375, 8, span=0.461), sched(3, 0.040, 0.372, 22, span=0.461)]
    th = [*queued, sched(4, 0.001, 0.107, 1, span=0.101), *[sched(i, 0.03, 0.1, 40, span=0.461) for i in range(5, 10)]]
    fs = verdicts(wall_s=1.7, cpu_s=0.9, cores=2, units=thread_units(8), peak=8, blocks=[], loss_warnings=[],
                  threads=th)  # fmt: skip
    assert kinds(fs) == ["concurrent-not-parallel"], [f.message for f in fs]
    assert (fs[0].evidence["hungry_threads"], fs[0].evidence["asleep_threads"]) == (3, 5)
    # a queued CPU-bound worker (on a CPU 13%, queued 85%, asleep 2%) still computes: short of cores
    fs = verdicts(wall_s=1.7, cpu_s=0.9, cores=2, units=thread_units(9), peak=9, blocks=[], loss_warnings=[],
                  threads=[*th, sched(10, 0.06, 0.392, 1, span=0.461)])  # fmt: skip
    assert kinds(fs) == ["core-contention"], [f.message for f in fs]
