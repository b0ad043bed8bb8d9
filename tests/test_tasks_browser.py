"""Tasks by what they run, and who created whom, in report.html in Chromium (offline).

Oracle: the program itself prints, with asyncio's own API (`Task.get_name()`, `asyncio.current_task()`),
which task created which; the report's tree must nest exactly those pairs. Generator units come from
generator_count (three count() generators driven by run()).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext

from tests.conftest import ARTIFACTS, SCENARIOS, run_tracekit
from tests.test_report_browser import load

pytestmark = pytest.mark.browser

NESTED = textwrap.dedent(
    """
    import asyncio

    async def parse(i):
        sum(k * k for k in range(40000))  # a few ms in one step: above the tracer's duration filter
        await asyncio.sleep(0.05)

    async def fetch_page(i):
        child = asyncio.create_task(parse(i))
        print(f"created {child.get_name()} by {asyncio.current_task().get_name()}")
        await child

    async def main():
        tasks = [asyncio.create_task(fetch_page(i)) for i in range(3)]
        for t in tasks:
            print(f"created {t.get_name()} by {asyncio.current_task().get_name()}")
        await asyncio.gather(*tasks)

    asyncio.run(main())
    """
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    base = tmp_path_factory.mktemp("tasks")
    (base / "nested.py").write_text(NESTED)
    out = {}
    for name, script in (("nested", base / "nested.py"), ("generators", SCENARIOS / "generator_count.py")):
        proc = run_tracekit("profile", "-o", str(base / name), str(script), timeout=180, cwd=base)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out[name] = (base / name, proc.stdout)
    return out


TREE_PAIRS = """() => Array.from(document.querySelectorAll('#task-tree li')).map(li => {
  const own = li.querySelector(':scope > details > summary > .tl, :scope > .tl').textContent;
  const up = li.parentElement.closest('li');
  const parent = up ? up.querySelector(':scope > details > summary > .tl, :scope > .tl').textContent : '';
  return [own, parent]; })"""


def test_tasks_by_coroutine_and_the_creation_tree(runs: dict[str, tuple[Path, str]], context: BrowserContext) -> None:
    run, stdout = runs["nested"]
    created = re.findall(r"^created (Task-\d+) by (Task-\d+)$", stdout, flags=re.M)
    assert len(created) == 6  # the program's own account: 3 fetch_page tasks by main's, 3 parse by those
    ld = load(context, run / "report.html")
    page = ld.page
    page.wait_for_selector("html[data-flame-ready='1']", timeout=10_000)
    assert ld.requests == [] and ld.console_errors == [] and ld.dialogs == []
    pairs = dict(page.evaluate(TREE_PAIRS))
    label = {child: lab for lab in pairs for child in re.findall(r"\((Task-\d+)\)$", lab)}
    for child, creator in created:
        assert pairs[label[child]] == label[creator], (child, creator, pairs)
    assert {lab.split(" (")[0] for lab in label.values()} >= {"main", "fetch_page", "parse"}
    # the same names in the Gantt, the flame graph's tracks and the units table
    gantt = page.locator("#gantt text.label").all_text_contents()
    assert sum(1 for g in gantt if g.startswith("task · fetch_page (Task-")) == 3
    tracks = set(page.evaluate("JSON.parse(document.getElementById('tk-flame').textContent).labels"))
    assert any(t.startswith("task parse (Task-") for t in tracks), tracks
    heads = page.locator("#units thead th").all_text_contents()
    runs_col = page.locator(f"#units tbody td:nth-child({heads.index('runs') + 1})").all_text_contents()
    assert sum(1 for r in runs_col if r.startswith("parse (nested.py:")) == 3
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#task-tree-section").screenshot(path=str(ARTIFACTS / "task-tree-nested.png"))


def test_generator_units_under_their_process(runs: dict[str, tuple[Path, str]], context: BrowserContext) -> None:
    run, _ = runs["generators"]
    ld = load(context, run / "report.html")
    page = ld.page
    page.wait_for_selector("html[data-flame-ready='1']", timeout=10_000)
    pairs = page.evaluate(TREE_PAIRS)
    gens = [(own, parent) for own, parent in pairs if own.startswith("count #")]
    assert len(gens) == 3 and all(parent.startswith("MainProcess") for _, parent in gens), pairs
    details = page.locator("#task-tree li.kind-generator .td").all_text_contents()
    assert all("driven by run (generator_count.py:" in d for d in details), details
