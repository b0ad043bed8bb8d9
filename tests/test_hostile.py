"""Hostile names: asyncio task, thread and process names with quotes, markup, `</script>`, template
syntax and lone surrogates give a valid trace, an escaped report and a valid stats.json.

viztracer 1.1.1 alone writes a 0-byte trace (exit 0) for a task name with `"`, and crashes with
SIGSEGV on a thread name with a lone surrogate; tracekit.vizboot works around both.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT

QUOTE = 'fetch "users"'
MARKUP = '<img src=x onerror="window.__pwned=1">'
SCRIPT_TAG = "</script><script>window.__pwned=2</script>"
TEMPLATE = "{{7*7}} {% if 1 %}x{% endif %}"
BACKSLASH = "C:\\temp\\new\tline"
SURROGATE = "bad\udcffname"

HOSTILE_SCRIPT = r"""
import asyncio, multiprocessing, subprocess, sys, threading

NAMES = {names!r}

async def work():
    await asyncio.sleep(0.01)

async def main():
    tasks = [asyncio.create_task(work(), name=n) for n in NAMES]
    await asyncio.gather(*tasks)
    assert [t.get_name() for t in tasks] == NAMES

seen = []
def body():
    seen.append(threading.current_thread().name)

def child():
    asyncio.run(main())

if __name__ == "__main__":
    threads = [threading.Thread(target=body, name=n) for n in NAMES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # the program sees its own thread names, surrogates included
    print("thread names intact:", seen == NAMES, flush=True)
    asyncio.run(main())
    p = multiprocessing.get_context("fork").Process(target=child, name=NAMES[0] + NAMES[-1])
    p.start()
    p.join()
    # a subprocess child is traced by plain viztracer: its quoted task names are repaired on save
    code = "import asyncio\nasync def w(): await asyncio.sleep(0.01)\n"
    code += "async def m(): await asyncio.create_task(w(), name='sub \"quoted\" task')\nasyncio.run(m())\n"
    subprocess.run([sys.executable, "-c", code], check=True)
"""

NAMES = [QUOTE, MARKUP, SCRIPT_TAG, TEMPLATE, BACKSLASH, SURROGATE]


def clean(name: str) -> str:
    return name.replace("\udcff", "\ufffd")


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("hostile")
    script = base / "hostile.py"
    script.write_text(textwrap.dedent(HOSTILE_SCRIPT).format(names=NAMES), encoding="utf-8", errors="surrogateescape")
    out = base / "run"
    p = subprocess.run(
        [sys.executable, "-m", "tracekit", "profile", "-q", "-o", str(out), str(script)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    return out


def test_the_trace_is_valid_json_with_every_name(hostile_run: Path) -> None:
    run = json.loads((hostile_run / "run.json").read_text())
    assert run["trace"]["status"] == "ok", run["trace"]
    doc: dict[str, Any] = json.loads((hostile_run / "trace.json").read_bytes())
    names = [e["args"]["name"] for e in doc["traceEvents"] if e.get("ph") == "M" and e["name"] == "thread_name"]
    for n in NAMES:
        assert names.count(clean(n)) >= 1, (n, names)  # the thread in the parent
        # tracekit's task tracks, named "coroutine (task name)": a task in the parent and one in the fork child
        assert names.count(f"work ({clean(n)})") >= 2, (n, names)
    assert 'w (sub "quoted" task)' in names
    assert len(run["trace"]["events_per_pid"]) == 3  # parent, fork child and subprocess child all kept
    pnames = [e["args"]["name"] for e in doc["traceEvents"] if e.get("ph") == "M" and e["name"] == "process_name"]
    assert any(p.startswith(clean(QUOTE + SURROGATE)) for p in pnames), pnames


def test_the_program_saw_its_real_names(hostile_run: Path) -> None:
    run = json.loads((hostile_run / "run.json").read_text())
    assert ["stdout", "thread names intact: True"] in [line[1:] for line in run["output"]["lines"]]


def test_stats_json_is_valid_and_counts_the_units(hostile_run: Path) -> None:
    raw = (hostile_run / "stats.json").read_bytes()
    raw.decode("utf-8")  # strict UTF-8: no lone surrogates written
    stats = json.loads(raw)
    assert stats["data_loss"]["warnings"] == []
    assert stats["units"]["tasks"] >= 2 * len(NAMES)
    assert stats["units"]["threads"] >= len(NAMES)


def test_the_report_escapes_every_name(hostile_run: Path) -> None:
    html = (hostile_run / "report.html").read_text(encoding="utf-8")
    assert MARKUP not in html
    assert SCRIPT_TAG not in html


@pytest.mark.browser
def test_nothing_from_the_names_executes_in_the_browser(hostile_run: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((hostile_run / "report.html").as_uri())
            page.wait_for_load_state("load")
            assert page.evaluate("window.__pwned") is None
            assert page.locator("img[src=x]").count() == 0
            html = page.content()
            assert errors == []
        finally:
            browser.close()
    # the names are in the page as text, shown literally (not evaluated as markup or a template)
    assert "fetch &quot;users&quot;" in html or 'fetch "users"' in html
    assert "{{7*7}}" in html
    assert "&lt;img src=x" in html
