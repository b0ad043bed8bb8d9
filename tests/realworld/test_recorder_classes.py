"""Issue 10's classes 1, 2, 3 and 7, which the structure recorder (tracekit/recorder.py) fixes: phantom
loop blocks in forked workers, tracer stretch read as blocking, viztracer's stopped tracing, and
@contextmanager / next() on plain generators taken for generator coroutines. Same workloads and
oracles as the rest of the corpus (the session's runs are shared)."""

from __future__ import annotations

import tracekit

from .conftest import Pair, check_common


def oracle_slow(p: Pair, margin_s: float = 0.01) -> list[float]:
    """Loop callbacks the untraced run's Handle._run wrapper timed at or above 100 ms (less a margin
    for run-to-run noise)."""
    return [d for d in p.u.boot.get("slow_callbacks", []) if d >= 0.1 - margin_s]


def test_black_forked_workers_run_no_event_loop(black: Pair) -> None:
    # class 1: the untraced wrapper saw no callback over 100 ms (the work runs in forked workers)
    assert oracle_slow(black) == [], black.u.boot
    assert "loop-blocked" not in black.t.kinds(), black.t.finding("loop-blocked")
    assert black.t.stats["loop_blocked_max_s"] < 0.1
    # black's main process runs one asyncio task; its workers run none
    assert black.t.stats["units"]["tasks"] <= black.u.boot["max_tasks"] + 1


def test_tracer_stretch_is_not_read_as_blocking(aiohttp_pair: Pair, cpython_tests: Pair, trio_pair: Pair) -> None:
    # class 2: every block tracekit reports is one the untraced run had too
    for p in (aiohttp_pair, cpython_tests):
        f = p.t.finding("loop-blocked")
        n = f["evidence"]["blocks"] if f else 0
        assert n <= len(oracle_slow(p, margin_s=0.03)), (p.u.boot["slow_callbacks"], f)
    # trio: its Instrument timed every task step untraced (an import inside a step read 0.28 s traced)
    f = trio_pair.t.finding("loop-blocked")
    if f is not None:
        assert trio_pair.u.facts["max_step_s"] >= 0.07, (trio_pair.u.facts, f["message"])


def test_stopped_tracing_is_data_loss_and_real_blocks_are_found(anyio_httpx: Pair) -> None:
    # class 3: httpx.AsyncClient connects through anyio.connect_tcp, whose cancel scope makes
    # viztracer stop tracing ("Unexpected function return, tracing is stopped")
    check_common(anyio_httpx)
    t = anyio_httpx.t
    assert t.facts["requests"] == anyio_httpx.u.facts["requests"] == 40
    stopped = "stopped" in " ".join(t.stats["data_loss"]["warnings"]).lower()
    # oracle: viztracer's own message in the program's output (3.11's profile hook stops; 3.12+ need not)
    said = any("tracing is stopped" in str(line[2]) for line in t.run["output"]["lines"])
    if said:
        assert stopped or t.stats["data_loss"]["trace_status"] != "ok", t.stats["data_loss"]
    else:
        assert not stopped, t.stats["data_loss"]
    # the real block after the stop (load_settings's time.sleep) is found, at the length the program timed
    # it, and no other: every block the untraced Handle._run wrapper did not see is invented
    slow = oracle_slow(anyio_httpx, margin_s=0.03)
    assert any(abs(d - anyio_httpx.u.facts["block_s"]) < 0.05 for d in slow), (slow, anyio_httpx.u.facts)
    f = t.finding("loop-blocked")
    assert f is not None, t.kinds()
    assert f["evidence"]["blocks"] <= len(slow), (f["evidence"], slow)
    blocks = [b for b in tracekit.load(t.run_dir).loop_blocks if b.certain]
    last = max(blocks, key=lambda b: b.start_s)  # load_settings runs after every request
    assert abs(last.dur_s - t.facts["block_s"]) < 0.05 and last.coroutine.startswith("main ("), (last, t.facts)
    # after a stop no slice was kept: its culprit is unknown, never the frame open at the stop
    if said:
        assert last.chain == [], last
    else:
        assert last.chain[-1] == "time.sleep" and any(c.startswith("load_settings (") for c in last.chain), last
    # never an invented block "by _contextvars.Context.run itself"
    assert f["evidence"]["culprit"] != "_contextvars.Context.run", f["evidence"]
    assert "sequential" not in t.kinds()


def test_context_managers_and_plain_generators_are_not_generator_coroutines(
    click_pair: Pair, http_pool: Pair, xdist: Pair
) -> None:
    # class 7: click, requests/urllib3/httpx and pytest use @contextmanager and next() on plain
    # generators; none of these programs drives generators as coroutines
    for p in (click_pair, http_pool, xdist):
        assert "generator-coroutines" not in p.t.kinds(), p.t.finding("generator-coroutines")
    # and the click CLI did one thing at a time on one thread: that is its finding
    assert "sequential" in click_pair.t.kinds(), click_pair.t.kinds()
