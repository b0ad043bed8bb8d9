"""The flame graph and "your code first" in report.html, in a real browser (Debian's chromium, offline).

Programs: process_cpu (the work runs in three worker processes), a program of the user's own that
renders Jinja2 templates in a process pool (third-party code by distribution name), and one whose
thread and task names are markup payloads (they become frame labels).
"""

from __future__ import annotations

import asyncio
import shutil
import textwrap
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext

from tests.conftest import ARTIFACTS, SCENARIOS, run_tracekit
from tests.test_report_browser import HOSTILE, TASK_NAMES, THREAD_NAMES, injected, load

pytestmark = pytest.mark.browser

BLACK_FILES = ["base_events.py", "tasks.py", "events.py", "futures.py", "streams.py", "locks.py"]
TEMPLATES = textwrap.dedent(
    """
    from concurrent.futures import ProcessPoolExecutor
    import jinja2

    ENV = jinja2.Environment(autoescape=True)
    PAGE = ENV.from_string("<ul>{% for r in rows %}<li>{{ r.name }}: {{ r.value | round(2) }}</li>{% endfor %}</ul>")

    def render_page(n):
        rows = [{"name": f"<row {i}>", "value": i / 7} for i in range(n)]
        return len(PAGE.render(rows=rows))

    def main():
        with ProcessPoolExecutor(2) as pool:
            print(sum(pool.map(render_page, [4000] * 6)))

    if __name__ == "__main__":
        main()
    """
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("flame")
    scripts = {"process_cpu": SCENARIOS / "process_cpu.py"}
    for name, text in {"templates": TEMPLATES, "hostile": HOSTILE}.items():
        (base / f"{name}.py").write_text(text)
        scripts[name] = base / f"{name}.py"
    out = {}
    for name, script in scripts.items():
        proc = run_tracekit("profile", "-q", "-o", str(base / f"run-{name}"), str(script), timeout=240, cwd=base)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out[name] = base / f"run-{name}"
    # black (a real package, mypyc-compiled) formatting a copy of some stdlib asyncio files in 2 workers
    src = base / "src" / "asyncio_copy"
    src.mkdir(parents=True)
    for f in BLACK_FILES:
        shutil.copy(Path(asyncio.__file__).parent / f, src / f)
    proc = run_tracekit("profile", "-q", "-o", str(base / "run-black"), "-m", "black", "--", "-q", "--workers", "2",
                        str(src), timeout=300, cwd=base)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out["black"] = base / "run-black"
    return out


def column(page, table: str, header: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The cells of one column of a report table, found by its header text."""
    heads = page.locator(f"#{table} thead th").all_text_contents()
    return page.locator(f"#{table} tbody tr td:nth-child({heads.index(header) + 1})").all_text_contents()  # type: ignore[no-any-return]


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#flame-section").screenshot(path=str(ARTIFACTS / f"flame-{name}.png"))


def test_flame_graph_shows_the_worker_processes_work_and_zooms(runs: dict[str, Path], context: BrowserContext) -> None:
    ld = load(context, runs["process_cpu"] / "report.html")
    page = ld.page
    page.wait_for_selector("html[data-flame-ready='1']", timeout=10_000)
    assert ld.requests == [] and ld.console_errors == [] and ld.dialogs == []
    labels = page.locator("#flame g.frame text").all_text_contents()
    workers = [t for t in labels if t.startswith("work-")]  # the worker processes' frames, by process name
    assert len(workers) == 3, labels
    shot(page, "process_cpu")
    # zoom into one worker process: it spans the full width, and the work function is inside it
    page.locator("#flame g.frame", has_text="work-1").first.click()
    focus = int(page.get_attribute("#flame", "data-focus") or "0")
    assert focus > 0
    width = float(page.locator("#flame g.focus rect").get_attribute("width") or "0")
    assert width > 1000
    zoomed = page.locator("#flame g.frame text").all_text_contents()
    assert any(t.startswith("work (process_cpu.py:") for t in zoomed), zoomed
    assert not any(t.startswith("work-0") or t.startswith("work-2") for t in zoomed)
    page.locator("#flame g.frame", has_text="work (process_cpu.py:").first.hover()
    info = page.text_content("#flame-info") or ""
    assert info.startswith("work (") and " — total " in info and "self" in info and "1 call" in info and "CPU" in info
    shot(page, "process_cpu-zoom")
    page.click("#flame-reset")
    assert page.get_attribute("#flame", "data-focus") == "0"
    # search highlights by name, case-insensitive: the three workers' work frames (and nothing else)
    page.fill("#flame-search", "WORK (")
    matches = page.locator("#flame g.match text").all_text_contents()
    assert len(matches) == 3 and all(m.startswith("work (") for m in matches), matches
    assert (page.text_content("#flame-matches") or "").startswith("3 frames match")


def test_your_code_first_and_packages_by_distribution(runs: dict[str, Path], context: BrowserContext) -> None:
    ld = load(context, runs["templates"] / "report.html")
    page = ld.page
    page.wait_for_selector("html[data-flame-ready='1']", timeout=10_000)
    assert ld.requests == [] and ld.console_errors == []
    own = page.locator("#own-functions td.name").all_text_contents()
    assert "render_page" in own and "main" in own
    assert set(column(page, "own-functions", "from")) == {"own"}
    packages = page.locator("#packages tbody tr td:first-child").all_text_contents()
    assert "Jinja2" in packages or "jinja2" in packages  # the distribution's own spelling
    assert "MarkupSafe" in packages and "concurrent" in packages
    # every function, own code first, behind a toggle
    assert not page.locator("#functions").is_visible()
    page.click("#all-functions summary")
    origins = column(page, "functions", "from")
    assert origins[0] == "own" and origins == sorted(origins, key=lambda o: o != "own")
    # the pool workers' template rendering is in the flame graph, under the worker processes
    page.fill("#flame-search", "render_page")
    assert page.locator("#flame g.match").count() >= 1
    page.locator("#all-functions").screenshot(path=str(ARTIFACTS / "functions-templates.png"))
    shot(page, "templates")


def test_hostile_names_in_frames_are_text(runs: dict[str, Path], context: BrowserContext) -> None:
    ld = load(context, runs["hostile"] / "report.html")
    page = ld.page
    page.wait_for_selector("html[data-flame-ready='1']", timeout=10_000)
    page.fill("#flame-search", "<")
    page.wait_for_timeout(200)
    assert ld.dialogs == [] and ld.requests == [] and ld.console_errors == [] and injected(page) == []
    titles = page.locator("#flame g.frame title").all_text_contents()
    for n in THREAD_NAMES:  # each thread slept 0.2 s: wide enough to draw
        assert any(t.startswith(f"thread {n} — ") for t in titles), n
    # the tasks ran for microseconds: too narrow to draw, but in the data, as text
    labels = page.evaluate("JSON.parse(document.getElementById('tk-flame').textContent).labels")
    assert {f"task work ({n})" for n in TASK_NAMES} <= set(labels)  # tasks by coroutine, name beside
    shot(page, "hostile")


def test_black_report_leads_with_black_and_shows_the_workers_formatting(
    runs: dict[str, Path], context: BrowserContext
) -> None:
    ld = load(context, runs["black"] / "report.html")
    page = ld.page
    page.wait_for_selector("html[data-flame-ready='1']", timeout=15_000)
    assert ld.requests == [] and ld.console_errors == [] and ld.dialogs == []
    # `-m black`: black is the program, so its (compiled) functions come first, asyncio internals do not
    own = page.locator("#own-functions td.name").all_text_contents()
    assert "black.format_file_in_place" in own[:5] and "black.main" in own[:5], own[:8]
    assert not any(n.startswith(("BaseEventLoop", "Handle.", "_contextvars")) for n in own)
    packages = page.locator("#packages tbody tr td:first-child").all_text_contents()
    assert "click" in packages and "asyncio" in packages
    # the formatting ran in the worker processes: every format_file_in_place frame sits under a
    # process frame other than the main one
    owners = page.evaluate(
        """() => { const d = JSON.parse(document.getElementById('tk-flame').textContent); const out = [];
           d.name.forEach((n, i) => { if (d.labels[n] !== 'black.format_file_in_place') return;
             let j = i; while (d.kind[j] !== 'process') j = d.parent[j];
             out.push([d.labels[d.name[j]], d.total[i]]); });
           return out; }"""
    )
    workers = [(p, t) for p, t in owners if not p.startswith("MainProcess")]
    assert len(workers) == 2 and all(t > 0 for _, t in workers), owners
    page.fill("#flame-search", "format_file_in_place")
    assert page.locator("#flame g.match").count() >= 2
    shot(page, "black")
