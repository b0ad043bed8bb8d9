"""A real program whose CPU is mostly other programs': Playwright's sync API driving Debian's chromium
(node and a dozen chromium processes, none of them Python). Their CPU is the run's, but not the
program's: tracekit used to say "parallel threads: 1.23 of 2 cores busy in one process ... C code that
releases the GIL" of a Python process that used 0.18 cores.

Oracles, from the kernel through the program itself (tracekit computes neither): its own CPU
(`time.process_time()`, the Python process alone) and all its descendants' (`RUSAGE_CHILDREN`), printed
as its last line. Chromium leaves 4 processes orphaned when it exits; the program makes itself their
subreaper (prctl) and reaps them, so their CPU is in RUSAGE_CHILDREN too (without it the kernel charged
its descendants 1.16 s of the 1.84 s they used).
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, run_tracekit

pytestmark = pytest.mark.slow

PROGRAM = textwrap.dedent(
    f"""
    import ctypes, json, os, resource, time
    from playwright.sync_api import sync_playwright

    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphaned descendants come to us

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path={CHROMIUM!r}, args={CHROMIUM_ARGS!r})
        page = browser.new_page()
        page.set_content("<h1>hello</h1>")
        for _ in range(40):
            page.evaluate("[...Array(20000).keys()].reduce((a, b) => a + b)")
        assert page.inner_text("h1") == "hello"
        browser.close()
    while True:
        try:
            os.waitpid(-1, 0)  # the orphans, once they exit
        except ChildProcessError:
            break
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({{"own_cpu_s": time.process_time(), "children_cpu_s": kids.ru_utime + kids.ru_stime}}))
    """
)


@pytest.fixture(scope="module", params=["traced", "sampled"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Any]:
    base = tmp_path_factory.mktemp(f"helpers-{request.param}")
    (base / "drive_chromium.py").write_text(PROGRAM)
    options = ["--sampled"] if request.param == "sampled" else []
    proc = run_tracekit("profile", "-q", *options, "-o", str(base / "run"), str(base / "drive_chromium.py"),
                        timeout=180)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = json.loads((base / "run" / "run.json").read_text())["output"]["lines"]  # [t, stream, text]
    oracle = json.loads([text for _t, stream, text in lines if stream == "stdout"][-1])
    return oracle, json.loads((base / "run" / "stats.json").read_text())


def finding(stats: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [f for f in stats["findings"] if f["kind"] == kind]
    assert found, (kind, [f["kind"] for f in stats["findings"]])
    return found[0]


def test_the_helpers_cpu_is_theirs_not_the_programs_threads(run: tuple[dict[str, Any], Any]) -> None:
    oracle, s = run
    helpers = finding(s, "untraced-helpers")
    assert any("chromium (not a Python program)" in h for h in helpers["evidence"]["helpers"]), helpers
    # the helpers' CPU as tracekit splits it off (the tree's less the Python process's) against what the
    # kernel charged the program's descendants: the same within sampling (10 ms ticks, ~15 processes;
    # the script starts and stops them all, so none of their CPU falls outside its window)
    h = helpers["evidence"]["helpers_cpu_s"]
    assert h == pytest.approx(oracle["children_cpu_s"], rel=0.1, abs=0.15), (h, oracle)
    assert f"They used {h:.2f} s of CPU" in helpers["message"]
    # the verdicts are about the Python process: its own CPU, never "parallel threads"
    kinds = [f["kind"] for f in s["findings"]]
    assert "parallel" not in kinds and "gil-bound" not in kinds, s["findings"]
    verdict = next(f for f in s["findings"] if f["kind"] in ("concurrent-not-parallel", "mostly-waiting"))
    own = verdict["evidence"]["cpu_s"]
    # the program's own CPU less its start-up before the script's window (interpreter, imports): never more
    assert own <= oracle["own_cpu_s"] + 0.05, (own, oracle)
    assert own >= 0.5 * oracle["own_cpu_s"] - 0.1, (own, oracle)
    assert verdict["evidence"]["helpers_cpu_s"] == h
    # the run's totals still count everything the tree used
    assert s["cpu_s"] == pytest.approx(own + h, abs=0.002)
