"""The real-world corpus: each workload runs once untraced under its oracles and once under
`tracekit profile`, in a module-scoped fixture shared by all of its assertions."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from .oracles import Traced, Untraced, traced, untraced, workload

MIB = 2**20


@dataclass(frozen=True)
class Pair:
    u: Untraced  # the oracle's run
    t: Traced  # tracekit's run


def measure(
    tmp_path_factory: pytest.TempPathFactory, name: str, scratch: bool = False, options: list[str] | None = None
) -> Pair:
    """Run workloads/NAME.py untraced, then traced (with tracekit OPTIONS); `scratch` gives each run a
    fresh directory as argv[1]."""
    tmp = tmp_path_factory.mktemp(name)
    env = {"BLACK_CACHE_DIR": str(tmp / "black-cache")}  # black must not read or write the user's cache
    script = workload(f"{name}.py")
    u = untraced([script, *([str(tmp / "scratch-u")] if scratch else [])], env=env)
    assert u.exit_code == 0, u.stderr[-3000:]
    t = traced([script, *([str(tmp / "scratch-t")] if scratch else [])], tmp / "run", env=env, options=options)
    assert t.exit_code == 0, t.stderr[-3000:]
    return Pair(u, t)


def check_common(p: Pair) -> None:
    """What every workload must satisfy, whatever its model."""
    u, t = p.u, p.t
    # the program's own output survived tracing: same last-line facts where they are deterministic
    assert set(t.facts) == set(u.facts)
    # peak RSS is the program's: the untraced tree's peak plus at most the tracer's buffer per traced
    # process (88 B per entry, 1,000,000 entries), never the save after the script (7-44x before)
    traced_procs = max(1, t.stats["units"]["processes"])
    bound = 1.3 * u.tree_rss_peak_bytes + traced_procs * 100 * MIB
    assert t.stats["peak_rss_tree_bytes"] <= bound, (t.stats["peak_rss_tree_bytes"] / MIB, u.tree_rss_peak_bytes / MIB)
    # every finding states its evidence
    for f in t.stats["findings"]:
        if f["kind"] != "data-loss":
            assert f["evidence"], f
    # no advice that processes are needed unless the kernel saw threads contend for the GIL
    if "gil-bound" not in t.kinds():
        assert "needs processes" not in t.text()


def no_gil_claim(p: Pair) -> None:
    assert "gil-bound" not in p.t.kinds(), p.t.finding("gil-bound")
    assert "GIL-bound" not in p.t.text()


BUSY_OTHERS = 0.25  # cores other programs kept busy on average: enough to queue a run's threads for a core
BUSY_MACHINE = 0.6  # share of the machine's cores busy on average (whoever used them) over a traced run


def assert_core_verdict(p: Pair, key: dict[str, Any]) -> None:
    """A verdict about cores against the load of the run it came from (the corpus shares its machine):
    "parallel" only where the untraced run used more than a core too, unless other programs held the
    cores during that oracle run; "short of cores" only where the machine's cores were busy during the
    traced run (/proc/stat, whoever used them: 60% of them on average over the whole run, tracekit's
    single-threaded start and analysis included); "serialised" only with its "unknown", and only where
    the untraced run stayed near one core or the traced run was short of cores."""
    u, t = p.u, p.t
    if key["kind"] == "parallel":
        assert u.parallelism > 1.0 or u.others_cores >= 2 * BUSY_OTHERS, (u.parallelism, u.others_cores)
    elif key["kind"] == "core-contention":  # threads queued for a core: the machine's cores were busy
        cores = os.cpu_count() or 1
        assert t.machine_cores >= BUSY_MACHINE * cores, (t.machine_cores, key["message"])
    else:
        assert key["kind"] == "serialised" and "unknown" in key["message"], key
        assert u.parallelism < 1.3 or t.others_cores >= BUSY_OTHERS, (u.parallelism, t.others_cores)


def untraced_c_threads(u: Untraced) -> int:
    """Threads /proc listed in the main process beyond those the threading module knew (the oracle's
    own counter thread excluded): _thread.start_new_thread or C-extension threads."""
    return max(0, u.max_os_threads - 1 - int(u.boot.get("max_threads", 1)))


# One run per workload for the whole session: test_recorder_classes.py asserts on the same runs.
@pytest.fixture(scope="session")
def gil(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "threads_gil")


@pytest.fixture(scope="session")
def numpy_threads(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "threads_numpy")


@pytest.fixture(scope="session")
def numpy_beside_a_busy_core(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    """threads_numpy while another program keeps one core busy (class 4: numpy threads on a machine whose
    other core is busy were called GIL-bound): a pure-Python spin loop outside the run's tree, stopped as
    soon as both runs are measured (a session fixture that yielded kept it spinning through every later
    test, and took a core from the parallel ones: process_cpu, compare's CPU set, the viewer's timeout)."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        return measure(tmp_path_factory, "threads_numpy")
    finally:
        hog.kill()
        hog.wait()


@pytest.fixture(scope="session")
def hashlib_threads(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "threads_hashlib")


@pytest.fixture(scope="session")
def waiting(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "threads_locks_queues")


@pytest.fixture(scope="session")
def http_pool(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "threads_http")


@pytest.fixture(scope="session")
def pool_spawn(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "mp_pool_spawn")


@pytest.fixture(scope="session")
def ppe_fork(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "ppe_fork")


@pytest.fixture(scope="session")
def mp_manager(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "mp_manager")


@pytest.fixture(scope="session")
def black(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "black_asyncio", scratch=True)


@pytest.fixture(scope="session")
def aiohttp_pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "aiohttp_server")


@pytest.fixture(scope="session")
def hidden(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "async_hidden_block")


@pytest.fixture(scope="session")
def trio_pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "trio_anyio")


@pytest.fixture(scope="session")
def click_pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "click_cli")


@pytest.fixture(scope="session")
def mypy_pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "mypy_check")


@pytest.fixture(scope="session")
def xdist(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "xdist_run", scratch=True)  # at defaults: millions of calls, no overflow


@pytest.fixture(scope="session")
def cpython_tests(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "cpython_asyncio_tests")


@pytest.fixture(scope="session")
def anyio_httpx(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return measure(tmp_path_factory, "anyio_httpx")
