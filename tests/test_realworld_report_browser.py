"""report.html of two real programs nobody here wrote, in Chromium (offline), with screenshots.

Programs: the corpus's black workload (black --check over a copy of some stdlib asyncio files, formatted
in two forked workers: black is a library the script calls) and its aiohttp workload (a server and a
client on one loop, 100 requests). One `tracekit profile` run each, shared by the module.

Oracles the report must agree with, none computed by tracekit: each program's own last line of output
(black's files and verdict, aiohttp's request count), the script's source (which functions it defines,
parsed with `ast`), and the process list the runner recorded from the OS (run.json).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.conftest import ROOT
from tests.test_report_browser import load

pytestmark = pytest.mark.browser

WORKLOADS = ROOT / "tests" / "realworld" / "workloads"
# event-loop and thread machinery a user did not write: never among the first rows of "your code"
INTERNALS = ("BaseEventLoop.", "Handle._run", "_contextvars", "Thread.", "_bootstrap", "select.", "EpollSelector.")


@dataclass(frozen=True)
class Run:
    dir: Path
    facts: dict[str, Any]  # the program's own last line of output
    shots: Path  # screenshots go here (look at them after a failure)


def _profile(base: Path, name: str, *args: str) -> Run:
    env = os.environ | {"BLACK_CACHE_DIR": str(base / "black-cache")}  # never the user's cache
    out = base / name
    proc = subprocess.run(
        [sys.executable, "-m", "tracekit", "profile", "-q", "-o", str(out), str(WORKLOADS / f"{name}.py"), *args],
        capture_output=True, text=True, timeout=300, cwd=base, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    facts = json.loads([text for _, stream, text in run["output"]["lines"] if stream == "stdout"][-1])
    shots = base / "shots"
    shots.mkdir(exist_ok=True)
    return Run(out, facts, shots)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("realworld-report")
    return {
        "black": _profile(base, "black_asyncio", str(base / "asyncio_copy")),
        "aiohttp": _profile(base, "aiohttp_server"),
    }


def shot(page: Page, selector: str, path: Path) -> None:
    """A section as laid out on the page (a clip of the full page: an element screenshot scrolls, and
    the tables' sticky headers would then sit over their rows)."""
    page.evaluate("window.scrollTo(0, 0)")  # sticky table headers then sit on their tables
    box = page.eval_on_selector(
        selector,
        """e => { const r = e.getBoundingClientRect();
           return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height}; }""",
    )
    page.screenshot(path=str(path), full_page=True, clip=box)


def cells(page: Page, table: str, header: str) -> list[str]:
    heads = page.locator(f"#{table} thead th").all_text_contents()
    return page.locator(f"#{table} tbody tr td:nth-child({heads.index(header) + 1})").all_text_contents()


def first_rows(page: Page) -> list[tuple[str, str]]:
    """(function, from) of the first rows a user reads: "your code", then "what your code calls"."""
    own = list(zip(cells(page, "own-functions", "function"), cells(page, "own-functions", "from"), strict=True))
    out = list(zip(cells(page, "calls-out", "function"), cells(page, "calls-out", "from"), strict=True))
    return own + out


def defined(script: Path) -> set[str]:
    """Qualified names of the functions the script defines (main.<locals>.one), from its source."""
    names = {"<module>"}

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(prefix + child.name)
                walk(child, f"{prefix}{child.name}.<locals>.")
            else:
                walk(child, prefix)

    walk(ast.parse(script.read_text()), "")
    return names


FRAMES_OF = """(fn) => { const d = JSON.parse(document.getElementById('tk-flame').textContent); const out = [];
  d.name.forEach((n, i) => { if (d.labels[n] !== fn) return;
    let j = i; while (d.kind[j] !== 'process') j = d.parent[j];
    out.push({process: d.labels[d.name[j]], total: d.total[i], calls: d.calls[i], of: d.total[j]}); });
  return out; }"""


def test_black_report_leads_with_the_script_and_what_it_calls(runs: dict[str, Run], context: BrowserContext) -> None:
    r = runs["black"]
    assert r.facts == {"files": 8, "black_exit": 1}  # black's own verdict: 8 files, some would be reformatted
    ld = load(context, r.dir / "report.html")
    page = ld.page
    page.wait_for_selector("html[data-flame-ready='1']", timeout=15_000)
    assert ld.requests == [] and ld.console_errors == [] and ld.dialogs == []
    rows = first_rows(page)
    # the script's own code first, then its direct calls: black's CLI (`black.main(...)` is a click
    # command, so the call it makes is click's Command.__call__), its imports, shutil.copy
    assert rows[0] == ("<module>", "own")
    assert set(cells(page, "own-functions", "function")) <= defined(WORKLOADS / "black_asyncio.py")
    assert rows[1][0] == "Command.__call__" and cells(page, "calls-out", "package")[0] == "click"
    assert set(cells(page, "calls-out", "called by")) == {"<module>"}
    assert "copy" in cells(page, "calls-out", "function")
    assert not any(f.startswith(INTERNALS) for f, _ in rows[:8]), rows[:8]
    # every function, behind the toggle: the same order
    page.click("#all-functions summary")
    assert cells(page, "functions", "function")[: len(rows)] == [f for f, _ in rows]
    shot(page, "#functions-section", r.shots / "black-functions.png")


def test_black_flame_graph_shows_the_workers_formatting(runs: dict[str, Run], context: BrowserContext) -> None:
    r = runs["black"]
    run = json.loads((r.dir / "run.json").read_text())
    ld = load(context, r.dir / "report.html")
    page = ld.page
    page.wait_for_selector("html[data-flame-ready='1']", timeout=15_000)
    frames = page.evaluate(FRAMES_OF, "black.format_file_in_place")
    workers = [f for f in frames if not f["process"].startswith("MainProcess")]
    # the two workers the OS saw (run.json's process list, from psutil) did all of the formatting:
    # one call per file black checked, and most of each worker's traced time
    worker_pids = {int(p) for p in run["processes"] if int(p) != run["pid"]}
    assert {int(f["process"].split("pid ")[1].rstrip(")")) for f in workers} <= worker_pids
    assert len(workers) == 2 and sum(f["calls"] for f in workers) == r.facts["files"], frames
    assert all(f["total"] > 0.5 * f["of"] for f in workers), workers
    shot(page, "#flame-section", r.shots / "black-flame.png")
    # zoom into one worker; hovering black's compiled function says why nothing is drawn under it
    page.locator("#flame g.frame", has_text="ForkProcess-1").first.click()
    page.locator("#flame g.frame", has_text="black.format_file_in_place").first.hover()
    info = page.text_content("#flame-info") or ""
    assert info.startswith("black.format_file_in_place — total ") and " calls" in info, info
    assert "compiled: its calls inside compiled code are not traced" in info, info
    shot(page, "#flame-section", r.shots / "black-flame-worker.png")
    # the one asyncio task black runs, by its coroutine
    tree = page.locator("#task-tree .tl").all_text_contents()
    assert "schedule_formatting (Task-1)" in tree, tree
    # the Gantt: each unit's running parts (a task's steps, sampled CPU) inside its own bar, and no bar
    # over the labels (the main process starts 0.2-0.3 s before the script, at a negative time)
    rows = page.eval_on_selector_all(
        "#gantt g.unit",
        """gs => gs.map(g => { const s = g.querySelector('rect.span');
             return {label: g.querySelector('text.label').textContent, x: +s.getAttribute('x'),
                     w: +s.getAttribute('width'),
                     runs: Array.from(g.querySelectorAll('rect.run')).map(r => [+r.getAttribute('x'),
                                                                              +r.getAttribute('width')])}; })""",
    )
    assert min(row["x"] for row in rows) >= 230 - 0.1  # the plot area starts after the 230 px label column
    for row in rows:
        for x, w in row["runs"]:
            assert row["x"] - 1.5 <= x and x + w <= row["x"] + row["w"] + 1.5, (row, x, w)
    task = next(row for row in rows if row["label"].startswith("task · schedule_formatting"))
    assert task["runs"] and task["runs"][0][0] <= task["x"] + 2  # its first step is at its creation
    shot(page, "#gantt-section", r.shots / "black-gantt.png")


def test_aiohttp_report_code_first_and_tasks_by_coroutine(runs: dict[str, Run], context: BrowserContext) -> None:
    r = runs["aiohttp"]
    assert r.facts["requests"] == 100
    ld = load(context, r.dir / "report.html")
    page = ld.page
    page.wait_for_selector("html[data-flame-ready='1']", timeout=15_000)
    assert ld.requests == [] and ld.console_errors == [] and ld.dialogs == []
    rows = first_rows(page)
    own = cells(page, "own-functions", "function")
    assert rows[0] == ("<module>", "own") and {"main", "main.<locals>.one"} <= set(own)
    assert set(own) <= defined(WORKLOADS / "aiohttp_server.py")
    assert not any(f.startswith(INTERNALS) for f, _ in rows[:10]), rows[:10]
    # what it calls: asyncio.run from the module, aiohttp's client from the request coroutine
    calls = dict(zip(cells(page, "calls-out", "function"), cells(page, "calls-out", "called by"), strict=True))
    assert calls.get("run") == "<module>", calls
    packages = cells(page, "calls-out", "package")
    assert "aiohttp" in packages
    shot(page, "#functions-section", r.shots / "aiohttp-functions.png")
    # tasks by what they run: one `one` task per request the program made, and the server's handlers
    tree = page.locator("#task-tree .tl").all_text_contents()
    by_coro = [t.split(" (Task-")[0] for t in tree if " (Task-" in t]
    assert by_coro.count("main.<locals>.one") == r.facts["requests"], sorted(set(by_coro))
    assert by_coro.count("main") == 1 and "RequestHandler._handle_request" in by_coro
    # the hundred request tasks are one folded line under main's task, listed when clicked
    group = page.locator("#task-tree li.kind-group", has_text="main.<locals>.one × 100 tasks")
    assert group.count() == 1 and not group.locator("li").first.is_visible()
    shot(page, "#task-tree-section", r.shots / "aiohttp-tasks-folded.png")
    group.locator("summary").first.click()
    assert group.locator("li").first.is_visible()
    tracks = page.evaluate("JSON.parse(document.getElementById('tk-flame').textContent).labels")
    assert any(t.startswith("task main.<locals>.one (Task-") for t in tracks)
    shot(page, "#task-tree-section", r.shots / "aiohttp-tasks.png")
    shot(page, "#flame-section", r.shots / "aiohttp-flame.png")
