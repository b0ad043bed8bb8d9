"""Tools people run: a click CLI, pytest with pytest-xdist, CPython's own asyncio tests under
unittest. Oracles: /proc's thread lists against threading's count in the untraced run, the
untraced tree's processes, every loop callback timed untraced."""

from __future__ import annotations

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


def test_xdist_workers_threads_are_data_loss_not_silence(xdist: Pair) -> None:
    check_common(xdist)
    t, u = xdist.t, xdist.u
    assert t.facts["pytest_exit"] == u.facts["pytest_exit"] == 0
    # oracle: in the untraced run /proc listed threads that threading did not know (execnet's
    # _thread.start_new_thread I/O threads in the controller and its two workers)
    assert untraced_c_threads(u) >= 1, (u.max_os_threads, u.boot["max_threads"])
    loss = t.stats["data_loss"]
    assert loss["untraced_threads"], loss
    assert any("thread(s) ran that the trace does not show" in w for w in loss["warnings"])
    # shown everywhere data loss is shown: the terminal summary and the report
    assert "thread(s) ran that the trace does not show" in t.stdout + t.stderr
    assert "thread(s) ran that the trace does not show" in (t.run_dir / "report.html").read_text()
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
    # the overflow the small buffer causes is reported with its fix
    assert t.stats["data_loss"]["overflow"] and "--tracer-entries" in t.text()
