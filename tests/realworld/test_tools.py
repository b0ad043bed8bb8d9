"""Tools people run: a click CLI, pytest with pytest-xdist, CPython's own asyncio tests under
unittest. Oracles: /proc's thread lists against threading's count in the untraced run, the
untraced tree's processes, every loop callback timed untraced."""

from __future__ import annotations

import json

from .conftest import Pair, check_common, no_gil_claim, untraced_c_threads


def test_click_cli_is_one_process_one_thread(click_pair: Pair) -> None:
    check_common(click_pair)
    no_gil_claim(click_pair)
    t = click_pair.t
    assert t.facts == click_pair.u.facts
    assert t.stats["units"]["threads"] == 1 and t.stats["units"]["processes"] == 1
    assert t.stats["concurrency"]["peak"] == 1
    assert not t.stats["data_loss"]["untraced_pids"] and not t.stats["data_loss"]["untraced_threads"]
    assert "concurrent-not-parallel" not in t.kinds() and "parallel" not in t.kinds()


def test_mypy_with_its_brief_thread_pools_is_mostly_sequential(mypy_pair: Pair) -> None:
    check_common(mypy_pair)
    no_gil_claim(mypy_pair)
    t, u = mypy_pair.t, mypy_pair.u
    assert t.facts == u.facts and u.facts["errors"] == 1  # the same verdict from mypy, traced or not
    # oracle: mypy's own threads, timed untraced, ran two or more at once for under a tenth of the run
    assert u.threads_together_s() < 0.1 * u.wall_s, (u.threads_together_s(), u.wall_s, u.boot["threads"])
    assert len(u.boot["threads"]) >= 2 and t.stats["concurrency"]["peak"] >= 2
    # so the run is called sequential, with that stretch, and never "concurrent, one core at most"
    key = t.finding("sequential")
    assert key is not None and key["message"].startswith("sequential for the most part"), t.kinds()
    assert key["evidence"]["concurrent_share"] < 0.1
    assert not {"serialised", "concurrent-not-parallel", "core-contention", "parallel"} & set(t.kinds()), t.kinds()


def test_xdist_workers_thread_module_threads_are_units_not_silence(xdist: Pair) -> None:
    check_common(xdist)
    t, u = xdist.t, xdist.u
    assert t.facts["pytest_exit"] == u.facts["pytest_exit"] == 0
    # oracle: in the untraced run /proc listed threads that threading did not know (execnet's
    # _thread.start_new_thread I/O threads in the controller and its two workers)
    assert untraced_c_threads(u) >= 1, (u.max_os_threads, u.boot["max_threads"])
    # the structure record saw them start (it wraps _thread.start_new_thread): units, not lost data
    threads = [r for _pid, r in map(json.loads, (t.run_dir / "structure.jsonl").read_text().splitlines())
               if r[0] == "thread"]  # fmt: skip
    assert sum(1 for r in threads if r[4] == "_thread") >= untraced_c_threads(u), threads
    assert not t.stats["data_loss"]["untraced_threads"], t.stats["data_loss"]
    assert "sequential" not in t.kinds()
    # the two xdist workers are processes of the run, counted as such
    assert u.max_processes >= 3 and t.stats["units"]["processes"] >= 3
    no_gil_claim(xdist)


def test_cpython_asyncio_tests_labels_and_real_blocks(cpython_tests: Pair) -> None:
    check_common(cpython_tests)
    t, u = cpython_tests.t, cpython_tests.u
    assert t.facts == u.facts and u.facts["failures"] == u.facts["errors"] == 0
    # oracle: one process all along; its workers are tasks, so no label may call them processes
    assert u.max_processes == 1
    for f in t.stats["findings"]:
        mix = f["evidence"].get("in_flight_at_peak")
        if mix is not None:
            assert set(mix) <= {"task", "thread"}, mix
    assert t.stats["units"]["processes"] == 1
    no_gil_claim(cpython_tests)
    # millions of calls, yet the default capture (slices of 100 µs and more) keeps the buffer from overflowing
    assert not t.stats["data_loss"]["overflow"] and "--tracer-entries" not in t.text()
