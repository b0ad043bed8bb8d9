"""Processes: multiprocessing.Pool with spawn, ProcessPoolExecutor with fork, a Manager shared with a fork
Pool, and black --check over a copy of stdlib asyncio files (asyncio driving forked workers). Oracles: the
untraced run's wait4 CPU, a psutil sampler of the untraced tree (summed RSS, processes alive at once)."""

from __future__ import annotations

import pytest

import tracekit

from .conftest import MIB, Pair, assert_core_verdict, check_common, no_gil_claim


@pytest.mark.parametrize("name", ["pool_spawn", "ppe_fork"])
def test_process_pools_count_processes_apart_and_name_their_helpers(name: str, request: pytest.FixtureRequest) -> None:
    p: Pair = request.getfixturevalue(name)
    check_common(p)
    no_gil_claim(p)
    t, u = p.t, p.u
    # oracle: the untraced tree had the main process and two workers alive at once (spawn adds the
    # resource tracker)
    assert u.max_processes >= 3
    assert t.stats["units"]["processes"] == 3
    # oracle: the size the program made its pool with (read from the pool itself, untraced). The pool's
    # own threads (Pool's three handlers; the executor's manager and queue feeder) are helpers, so what
    # was in flight is the pool's processes, not 4 or 5 units
    assert u.boot["pool_workers"] == 2
    assert t.stats["concurrency"]["peak"] == t.stats["units"]["workers"] == u.boot["pool_workers"]
    assert t.stats["units"]["helpers"] >= 2
    assert f"{t.stats['units']['helpers']} helpers" in t.stderr  # the summary says so
    shapes = ("parallel", "concurrent-not-parallel", "serialised", "core-contention")
    key = next(f for f in t.stats["findings"] if f["kind"] in shapes)
    # CPU-bound workers are never called waiting: the kernel saw them runnable (untraced too)
    assert key["kind"] != "concurrent-not-parallel", key
    assert_core_verdict(p, key)
    if key["kind"] == "parallel":
        assert key["evidence"]["processes"] == 2
    else:  # labels count each kind apart: the pool's processes are never called threads or tasks
        assert "2 processes" in key["message"], key["message"]
    # multiprocessing's resource_tracker and ldconfig are helpers, not lost data
    loss = t.stats["data_loss"]
    for pid in loss["untraced_pids"]:
        cmd = t.run["processes"][str(pid)]["cmdline"]
        assert not any("resource_tracker" in c for c in cmd) and "ldconfig" not in " ".join(cmd)
    assert "left no trace" not in t.text() or loss["untraced_pids"]


def test_a_managers_server_and_its_threads_are_helpers_not_workers(mp_manager: Pair) -> None:
    check_common(mp_manager)
    no_gil_claim(mp_manager)
    t, u = mp_manager.t, mp_manager.u
    assert t.facts == u.facts  # every result reached the Manager's dict, traced too
    # oracle: untraced, the main process, the Manager's server and the pool's two workers were alive at once
    assert u.max_processes >= 4
    assert t.stats["units"]["processes"] == 4
    # oracle: the pool's size, read from the pool. The Manager's server process and its one thread per proxy
    # connection (dozens) serve the proxies: helpers, so what was in flight is the pool's 2 processes (the old
    # count: 132 workers and a peak of 7)
    assert u.boot["pool_workers"] == 2
    assert t.stats["concurrency"]["peak"] == t.stats["units"]["workers"] == u.boot["pool_workers"]
    assert t.stats["units"]["helpers"] > 10
    units = tracekit.load(str(t.run_dir)).units
    server = units[(units["kind"] == "process") & (units["role"] == "helper")]
    assert len(server) == 1 and "SyncManager" in str(server["name"].iloc[0]), units[units["kind"] == "process"]
    # the pool's `with` ended by terminate(): both workers saved their traces on the way out
    assert not t.stats["data_loss"]["untraced_pids"], t.stats["data_loss"]


def test_pool_spawn_names_the_resource_tracker(pool_spawn: Pair) -> None:
    helpers = pool_spawn.t.stats["data_loss"]["helpers"]
    assert any("resource_tracker" in h for h in helpers), (helpers, pool_spawn.t.run["processes"])
    assert pool_spawn.t.finding("untraced-helpers") is not None


def test_black_peak_rss_is_the_programs_not_the_save(black: Pair) -> None:
    check_common(black)
    t, u = black.t, black.u
    assert t.facts == u.facts  # the same files checked, the same verdict from black
    # the tracer's save after the script is shown apart, and it is what used to be reported
    save = t.stats["save_peak_rss_tree_bytes"]
    assert t.stats["peak_rss_tree_bytes"] <= 1.3 * u.tree_rss_peak_bytes + 3 * 100 * MIB
    assert save is None or save > 0
    no_gil_claim(black)
    # black's workers are forked processes: two of them, counted as processes
    assert t.stats["units"]["processes"] >= 3 and u.max_processes >= 3
