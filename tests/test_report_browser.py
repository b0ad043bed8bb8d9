"""report.html in a real browser (Debian's chromium driven by Playwright, offline).

Each bundled scenario is profiled once per session; its report must load with zero network requests
and zero console errors (a CSP hash mismatch is a console error), and draw its charts. A program
whose task and thread names are markup and script payloads must not execute anything; a canary
proves the detector fires when autoescape is off.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, Route

from tests.conftest import ARTIFACTS, ROOT, SCENARIOS, run_tracekit

pytestmark = pytest.mark.browser

SCENARIO_NAMES = sorted(p.stem for p in SCENARIOS.glob("*.py"))

# Payloads as asyncio task names (no `"`: viztracer 1.1.1 writes invalid JSON for it) and thread names.
TASK_NAMES = ["<img src=x onerror=alert(1)>", "</script><script>alert(2)</script>", "{{7*7}} ${alert(6)} <!--<script>"]
THREAD_NAMES = [
    '<a href="javascript:alert(4)">proc</a>',
    "</SCRIPT ><img src=y onerror=alert(5)>",
    "<svg onload=alert(3)>",
]
HOSTILE = textwrap.dedent(
    f"""
    import asyncio, threading, time
    TASKS = {TASK_NAMES!r}
    THREADS = {THREAD_NAMES!r}

    async def work(name):
        print(name)
        time.sleep(0.002)  # a step long enough (2 ms) for the default capture to keep its calls
        await asyncio.sleep(0.2)

    async def main():
        await asyncio.gather(*(asyncio.create_task(work(n), name=n) for n in TASKS))

    def spin(name):
        print(name)
        time.sleep(0.2)

    ts = [threading.Thread(target=spin, args=(n,), name=n) for n in THREADS]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    asyncio.run(main())
    """
)
# Anything that should never exist in a report: elements a payload would create.
INJECTED = "img, iframe, object, embed, a[href^='javascript:'], [onerror], [onload], [onclick], svg svg"


@dataclass
class Load:
    page: Page
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def _profile(name: str, script: Path, out: Path) -> Path:
    proc = run_tracekit("profile", "-q", "-o", str(out), "--force", str(script), timeout=180)
    assert proc.returncode == 0, f"{name}: {proc.stderr[-2000:]}"
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every bundled scenario and the hostile program, profiled once (two at a time: 2 cores)."""
    base = tmp_path_factory.mktemp("runs")
    hostile = base / "hostile_names.py"
    hostile.write_text(HOSTILE)
    # process_cpu alone first: it is the one whose report must show two cores busy
    done = {"process_cpu": _profile("process_cpu", SCENARIOS / "process_cpu.py", base / "process_cpu")}
    jobs = {n: SCENARIOS / f"{n}.py" for n in SCENARIO_NAMES if n not in done} | {"hostile": hostile}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {n: pool.submit(_profile, n, s, base / n) for n, s in jobs.items()}
        return done | {n: f.result() for n, f in futures.items()}


def load(context: BrowserContext, path: Path) -> Load:
    """Open a file offline; abort and record any request that is not file:, data: or blob:."""
    page = context.new_page()
    result = Load(page)

    def route(r: Route) -> None:
        if r.request.url.startswith(("file:", "data:", "blob:")):
            r.continue_()
        else:
            result.requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("requestfailed", lambda req: result.requests.append("failed: " + req.url))
    page.on("console", lambda m: result.console_errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: result.console_errors.append(f"pageerror: {e}"))

    def on_dialog(d: Any) -> None:
        result.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return result


def injected(page: Page) -> list[str]:
    found: list[str] = page.eval_on_selector_all(INJECTED, "els => els.map(e => e.outerHTML.slice(0, 120))")
    scripts: list[str] = page.eval_on_selector_all(
        "script:not([type='application/json'])", "els => els.filter(e => e.text.includes('alert(')).map(e => e.text)"
    )
    return found + scripts


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_scenario_report_loads_offline_and_draws(runs: dict[str, Path], context: BrowserContext, name: str) -> None:
    report = runs[name] / "report.html"
    assert report.stat().st_size < 1_000_000
    ld = load(context, report)
    ld.page.wait_for_selector("html[data-ready='1']", timeout=10_000)
    assert ld.requests == [] and ld.console_errors == [] and ld.dialogs == []
    assert ld.page.get_attribute("html", "data-charts") == "3"
    # uPlot drew: each chart has a canvas of real size with non-blank pixels
    painted = ld.page.eval_on_selector_all(
        ".chart canvas",
        """cs => cs.map(c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                 let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; })""",
    )
    assert len(painted) == 3 and all(n > 1000 for n in painted), painted
    units = ld.page.locator("#units tbody tr").count()
    assert ld.page.locator("#gantt g.unit").count() == min(units, 120) > 0
    ARTIFACTS.mkdir(exist_ok=True)
    ld.page.screenshot(path=str(ARTIFACTS / f"report-{name}.png"), full_page=True)


def test_async_count_report_shows_three_in_flight_while_idle(runs: dict[str, Path], context: BrowserContext) -> None:
    ld = load(context, runs["async_count"] / "report.html")
    ld.page.wait_for_selector("html[data-ready='1']")
    data = ld.page.evaluate("JSON.parse(document.getElementById('tk-data').textContent)")
    f = data["flight"]
    t, flight, w = f["t"], f["in_flight"], f["window_s"]
    held3 = sum(t2 - t1 for t1, t2, v in zip(t, t[1:], flight, strict=False) if v == 3)
    # idle while the three tasks sleep: every CPU window wholly inside that stretch (the windows before
    # it hold the interpreter's start-up and imports, really busy: 0.5-0.7 of a core)
    three = [x for x, v in zip(t, flight, strict=True) if v == 3]
    busy = [b for x, b in zip(t, f["cores_busy"], strict=True) if b is not None and three[0] <= x <= three[-1] - w]
    assert held3 > 0.9 and len(busy) >= 10 and max(busy) < 0.5, busy
    assert ld.page.locator("#gantt g.kind-task.role-worker").count() == 3
    assert (ld.page.text_content("#output-order") or "").startswith("One One One Two Two Two")


def test_process_cpu_report_shows_two_cores_busy(runs: dict[str, Path], context: BrowserContext) -> None:
    ld = load(context, runs["process_cpu"] / "report.html")
    ld.page.wait_for_selector("html[data-ready='1']")
    data = ld.page.evaluate("JSON.parse(document.getElementById('tk-data').textContent)")
    f = data["flight"]
    wall = data["wall_s"]
    windows = [
        (t, b) for t, b in zip(f["t"], f["cores_busy"], strict=True) if b is not None and t + f["window_s"] <= wall
    ]
    mean = sum(b for _, b in windows) / len(windows)
    parallelism = json.loads((runs["process_cpu"] / "stats.json").read_text())["parallelism"]
    # The chart tells the same story as the numbers: both say more than one core was busy, or they agree
    # closely. (The chart averages 50 ms windows inside the script's span and leaves out the last partial
    # one, so on a 1.5 s run its mean can differ from cpu_s / wall_s by a few tenths.)
    assert (mean > 1.0) == (parallelism > 1.0) or abs(mean - parallelism) < 0.25, (mean, parallelism)
    assert max(b for _, b in windows) > 1.0 and data["cores"] >= 2


def test_hostile_names_are_shown_literally_and_never_run(runs: dict[str, Path], context: BrowserContext) -> None:
    ld = load(context, runs["hostile"] / "report.html")
    ld.page.wait_for_selector("html[data-ready='1']", timeout=10_000)
    ld.page.wait_for_timeout(300)
    assert ld.dialogs == [] and ld.requests == [] and ld.console_errors == []
    assert injected(ld.page) == []
    names = ld.page.locator("#units td.name").all_text_contents()
    for n in TASK_NAMES + THREAD_NAMES:
        assert n in names, n
    output = ld.page.locator("#output td.name").all_text_contents()
    assert set(TASK_NAMES + THREAD_NAMES) <= set(output)
    gantt = ld.page.locator("#gantt title").all_text_contents()
    assert any(t.startswith("<img src=x onerror=alert(1)> — task") for t in gantt)
    cells = ld.page.locator("#units td").all_text_contents()
    assert "49" not in cells and any("{{7*7}}" in c for c in cells)  # {{7*7}} was not evaluated
    ARTIFACTS.mkdir(exist_ok=True)
    ld.page.screenshot(path=str(ARTIFACTS / "report-hostile.png"), full_page=True)


@pytest.mark.parametrize("keep_csp", [True, False], ids=["csp", "no-csp"])
def test_canary_detector_fires_without_autoescape(
    runs: dict[str, Path], context: BrowserContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep_csp: bool
) -> None:
    """The same report rendered with autoescape off must trip the detector: injected elements always,
    and with the CSP removed too, a dialog. Otherwise the hostile-names test proves nothing."""
    import tracekit
    from tracekit.render import html

    monkeypatch.setattr(html, "env", html.env.overlay(autoescape=False, cache_size=0))
    page_html = html.report(tracekit.load(str(runs["hostile"])))
    if not keep_csp:
        page_html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page_html, count=1)
    unsafe = tmp_path / "unsafe.html"
    unsafe.write_text(page_html)
    ld = load(context, unsafe)
    ld.page.wait_for_timeout(500)
    assert injected(ld.page) != []
    if not keep_csp:
        assert ld.dialogs != []
    else:
        assert ld.dialogs == []  # the CSP alone stopped the inline handlers: the second layer works


def test_report_artifacts_dir_is_ignored_by_git() -> None:
    assert shutil.which("git") is not None
    import subprocess

    proc = subprocess.run(["git", "check-ignore", "-q", "test-artifacts/x.png"], cwd=ROOT)
    assert proc.returncode == 0
