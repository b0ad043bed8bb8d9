"""comparison.html in a real browser (Debian's chromium via Playwright, offline): zero requests,
zero console errors, nothing executed from hostile labels, the charts and links in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from playwright.sync_api import Route, sync_playwright

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, run_tracekit

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def comparison_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cmpb")
    (d / "sync_a.py").write_text("import time\nfor _ in range(2):\n    time.sleep(0.1)\n")
    (d / "thread_a.py").write_text(
        "import threading, time\n"
        f"ts = [threading.Thread(target=time.sleep, args=(0.1,), name={HOSTILE!r}) for _ in range(2)]\n"
        "[t.start() for t in ts]\n[t.join() for t in ts]\n"
    )
    p = run_tracekit(
        "compare", str(d / "sync_a.py"), str(d / "thread_a.py"), "--name", "sync_a", "--name", HOSTILE,
        "--repeat", "2", "--warmup", "0", "-o", str(d / "out"),
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    return d / "out"


def test_comparison_html_offline(comparison_dir: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)")
    requests: list[str] = []
    errors: list[str] = []
    dialogs: list[str] = []

    def route(r: Route) -> None:
        if r.request.url.startswith(("file:", "data:", "blob:")):
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        ctx = browser.new_context(offline=True)
        ctx.route("**/*", route)
        page = ctx.new_page()
        seen: list[str] = []
        page.on("request", lambda r: seen.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        url = (comparison_dir / "comparison.html").resolve().as_uri()
        page.goto(url)
        page.wait_for_load_state("load")
        page.mouse.move(300, 400)
        assert requests == [] and errors == [] and dialogs == []
        assert seen == [url]  # the page itself and nothing else
        assert page.locator("img[src=x]").count() == 0
        assert page.locator("script").count() == 0
        assert page.get_by_role("cell", name=f"{HOSTILE}", exact=True).count() == 1  # shown literally
        assert page.locator("#reference").inner_text() == "sync_a"
        # Two bar charts (wall, CPU), one bar and one dot per run for each model.
        bars = page.locator("svg.bars")
        assert bars.count() == 2
        assert bars.nth(0).locator("rect.bar").count() == 2
        assert bars.nth(0).locator("circle.dot").count() == 4
        # The timelines: one header per model; sync_a's main process and thread (it has no workers),
        # then the two worker threads of the second model, as lanes.
        tl = page.locator("#timelines")
        assert tl.locator("text.hdr").count() == 2
        lanes = tl.locator("g.unit")
        assert lanes.count() == 4
        assert (lanes.nth(0).locator("text").text_content() or "").startswith("process MainProcess")
        assert (lanes.nth(3).locator("text").text_content() or "").startswith("thread <img src=x")
        hrefs: list[Any] = page.eval_on_selector_all("#comparison a", "els => els.map(e => e.href)")
        assert len(hrefs) == 2
        for h in hrefs:
            assert h.startswith("file://") and h.endswith("/report.html")
            assert Path(unquote(h.removeprefix("file://"))).is_file(), h
        browser.close()
