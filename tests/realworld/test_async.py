"""Event loops: an aiohttp server and client on one loop, blocking calls hidden in helpers of an
asyncio program, trio with anyio. Oracles: every loop callback timed by a wrapper of
asyncio.events.Handle._run in the untraced run, asyncio.all_tasks() counts, the program's own timing
of its blocking calls, a trio Instrument counting trio's tasks."""

from __future__ import annotations

import re

from .conftest import Pair, check_common, no_gil_claim
from .oracles import untraced, workload


def test_aiohttp_server_and_client_are_concurrent_tasks(aiohttp_pair: Pair) -> None:
    check_common(aiohttp_pair)
    no_gil_claim(aiohttp_pair)
    t, u = aiohttp_pair.t, aiohttp_pair.u
    assert t.facts["requests"] == u.facts["requests"] == 100
    # tasks in flight at once: the oracle's peak of asyncio.all_tasks() (the entry task included)
    assert u.boot["max_tasks"] - 5 <= t.stats["concurrency"]["peak"] <= u.boot["max_tasks"] + 1
    assert "serialised" not in t.kinds() or "unknown" in t.finding("serialised")["message"]  # type: ignore[index]
    mix = next(f for f in t.stats["findings"] if "in_flight_at_peak" in f["evidence"])["evidence"]["in_flight_at_peak"]
    assert set(mix) == {"task"}, mix  # one process, one thread: every worker in flight was a task


def test_hidden_blocking_calls_are_found_with_their_helper(hidden: Pair) -> None:
    check_common(hidden)
    t, u = hidden.t, hidden.u
    # oracle: the untraced Handle._run wrapper saw the program's four blocking calls as slow callbacks
    own = u.facts["blocks_s"]
    slow = u.boot["slow_callbacks"]
    assert len(own) == 4 and len(slow) == 4, (own, slow)
    # and the wrapper agrees with asyncio's own debug mode (its slow-callback log), run apart
    debug = untraced([workload("async_hidden_block.py")], env={"PYTHONASYNCIODEBUG": "1"})
    took = [float(x) for x in re.findall(r"Executing <.*?> took (\d+\.\d+) seconds", debug.stderr)]
    assert len(took) == 4 and all(d >= 0.25 for d in took), debug.stderr[-2000:]
    f = t.finding("loop-blocked")
    assert f is not None, t.kinds()
    assert f["evidence"]["blocks"] == len(slow)
    # the longest block as tracekit measured it agrees with the program's own timing (sleep and I/O
    # are not stretched by the tracer)
    assert abs(f["evidence"]["max_s"] - t.facts["max_block_s"]) < 0.05
    assert abs(t.stats["loop_blocked_max_s"] - max(slow)) < 0.15
    chain = " → ".join(f["evidence"]["chain"])
    assert "pause" in chain or "fetch_config" in chain, chain
    assert "asyncio.to_thread" in f["message"]


def test_trio_gets_trios_words(trio_pair: Pair) -> None:
    check_common(trio_pair)
    t = trio_pair.t
    assert t.facts["tasks_spawned"] == trio_pair.u.facts["tasks_spawned"]
    words = t.text()
    assert "asyncio" not in words, words
    # ldconfig (run by trio's import) is named for what it is, never "left no trace"
    for pid in t.stats["data_loss"]["untraced_pids"]:
        assert "ldconfig" not in " ".join(t.run["processes"][str(pid)]["cmdline"])
    assert "sequential" not in t.kinds()
    # oracle: trio's own Instrument counted every task it spawned; tracekit's units are those less trio's
    # two machinery tasks (its init task and the run_sync_soon task), each counted once
    assert t.facts["tasks_spawned"] - 2 <= t.stats["units"]["tasks"] <= t.facts["tasks_spawned"], t.stats["units"]
    # in flight at once, each kind apart: trio tasks never more than trio's own peak of live tasks, and
    # anyio's worker threads (to_thread) as threads: at most one per to_thread call (5)
    mix = next(f["evidence"]["in_flight_at_peak"] for f in t.stats["findings"] if "in_flight_at_peak" in f["evidence"])
    assert 1 <= mix.get("task", 0) <= t.facts["max_alive_tasks"], mix
    assert mix.get("thread", 0) <= 5, mix
