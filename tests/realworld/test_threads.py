"""Threads on real work: pure Python (GIL), numpy and hashlib (GIL released), locks and queues, an
I/O thread pool with urllib, requests and httpx. Oracles: the untraced run's wait4 CPU, each thread's
own schedstat read inside the untraced program, and threading's own counts."""

from __future__ import annotations

import pytest

from .conftest import BUSY_OTHERS, Pair, assert_core_verdict, check_common, no_gil_claim, untraced_c_threads


def test_python_threads_are_gil_bound_as_the_kernel_saw_untraced(gil: Pair) -> None:
    check_common(gil)
    # oracle: untraced, each thread slept a share of its life (less on a loaded machine, where the
    # run queue takes its place) and together they used ~1 core at most
    sleeps = gil.u.thread_sleep_fractions()
    assert len(sleeps) == 3 and min(sleeps) >= 0.2, sleeps
    assert gil.u.parallelism <= 1.15
    assert gil.t.stats["units"]["threads"] == 1 + gil.u.facts["threads"]
    f = gil.t.finding("gil-bound")
    if f is None and gil.t.others_cores >= BUSY_OTHERS:
        # other programs kept the machine busy during the traced run: threads queued for a core show no
        # GIL rhythm, and tracekit says the GIL is unknown rather than guessing either way
        key = gil.t.finding("core-contention")
        assert key is not None, (gil.t.kinds(), gil.t.others_cores)
        assert "took turns on the GIL is unknown" in key["message"], key["message"]
        return
    assert f is not None, (gil.t.kinds(), gil.t.others_cores)
    ev = f["evidence"]
    # all three threads; on a busy machine one may have queued more than it slept and is left out
    assert ev["threads"] == 3 or (ev["threads"] == 2 and gil.t.others_cores >= BUSY_OTHERS), (ev, gil.t.others_cores)
    assert ev["cores_used"] <= 1.15 and ev["wakeups_per_s"] >= 50


@pytest.mark.parametrize("name", ["numpy_threads", "hashlib_threads"])
def test_gil_releasing_threads_are_not_called_gil_bound_or_serialised(
    name: str, request: pytest.FixtureRequest
) -> None:
    p: Pair = request.getfixturevalue(name)
    check_common(p)
    # oracle: untraced, the threads hardly slept: the GIL was released while they computed
    sleeps = p.u.thread_sleep_fractions()
    assert len(sleeps) == 3 and max(sleeps) < 0.2, sleeps
    no_gil_claim(p)
    assert "serialised" not in p.t.kinds() or "unknown" in p.t.finding("serialised")["message"]  # type: ignore[index]
    key = [f for f in p.t.stats["findings"] if f["kind"] in ("parallel", "core-contention", "serialised")]
    assert key, p.t.text()
    assert_core_verdict(p, key[0])


def test_numpy_threads_beside_a_busy_core_are_not_gil_bound(numpy_beside_a_busy_core: Pair) -> None:
    p = numpy_beside_a_busy_core
    check_common(p)
    # the spinning program held about a core through both runs
    assert p.u.others_cores >= 0.6 and p.t.others_cores >= 0.6, (p.u.others_cores, p.t.others_cores)
    # oracle: untraced, the threads still hardly slept (a thread waiting for the GIL sleeps; these queued)
    sleeps = p.u.thread_sleep_fractions()
    assert len(sleeps) == 3 and max(sleeps) < 0.2, sleeps
    no_gil_claim(p)
    key = [f for f in p.t.stats["findings"] if f["kind"] in ("parallel", "core-contention", "serialised")]
    assert key, p.t.text()
    assert_core_verdict(p, key[0])
    if key[0]["kind"] == "core-contention":  # they never slept: the GIL is ruled out, and said so
        assert "not of the GIL" in key[0]["message"], key[0]["message"]


def test_threads_blas_started_in_c_are_data_loss_not_silence(numpy_threads: Pair) -> None:
    # oracle: /proc listed more threads than the threading module knew in the untraced run
    hidden = untraced_c_threads(numpy_threads.u)
    loss = numpy_threads.t.stats["data_loss"]
    if hidden:
        assert loss["untraced_threads"], loss
        text = "thread(s) ran that neither the trace nor tracekit's structure record shows"
        assert any(text in w for w in loss["warnings"])
        # shown everywhere data loss is shown: the terminal summary and the report
        t = numpy_threads.t
        short = "thread(s) ran that neither the trace nor tracekit"  # before the apostrophe HTML escapes
        assert short in " ".join((t.stdout + t.stderr).replace("│", " ").split())  # rich wraps the line
        assert short in (t.run_dir / "report.html").read_text()
    else:
        assert not loss["untraced_threads"]


def test_threads_waiting_on_locks_and_queues_are_waiting(waiting: Pair) -> None:
    check_common(waiting)
    # oracle: untraced, the six threads slept most of their lives (a loaded machine queues them a little)
    # and were on a CPU < 5% of it; the whole run, the interpreter's start-up included, used < 0.2 core
    sleeps = waiting.u.thread_sleep_fractions()
    assert len(sleeps) == 6 and min(sleeps) >= 0.75, sleeps
    assert sum(waiting.u.thread_oncpu_fractions()) < 0.05 and waiting.u.parallelism < 0.2
    no_gil_claim(waiting)
    kinds = waiting.t.kinds()
    assert kinds[:2] == ["concurrent-not-parallel", "mostly-waiting"], kinds
    assert "6 threads" in waiting.t.finding("concurrent-not-parallel")["message"]  # type: ignore[index]
    # the units threading knew about: the main thread and six workers, all six in flight at once
    assert waiting.t.stats["units"]["threads"] == waiting.u.boot["max_threads"] == 7
    assert waiting.t.stats["concurrency"]["peak"] == 6


def test_io_thread_pool_is_concurrent_not_parallel(http_pool: Pair) -> None:
    check_common(http_pool)
    # oracle: untraced, the pool's 8 threads were hardly on a CPU (they waited on the server, and on a
    # loaded machine for a core too)
    oncpu = sorted(http_pool.u.thread_oncpu_fractions())
    assert len(oncpu) >= 8 and oncpu[len(oncpu) // 2] <= 0.25, oncpu
    assert http_pool.u.parallelism < 0.8
    no_gil_claim(http_pool)
    assert "serialised" not in http_pool.t.kinds()
    assert "concurrent-not-parallel" in http_pool.t.kinds(), http_pool.t.kinds()
    # threads in flight at once: the oracle's peak of threading.active_count() (main thread included)
    peak = http_pool.t.stats["concurrency"]["peak"]
    assert http_pool.u.boot["max_threads"] - 4 <= peak <= http_pool.u.boot["max_threads"] + 2
