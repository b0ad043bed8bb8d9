"""The terminal summary's "where the time went" tables, rendered to plain text and compared exactly."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from tests.conftest import run_tracekit
from tests.test_analysis_origin import ORIGINS, SAMPLE
from tracekit.analysis.functions import functions_table
from tracekit.render.terminal import printable, where_time_went


def text(renderables: list) -> str:  # type: ignore[type-arg]
    con = Console(width=100, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    for r in renderables:
        con.print(r)
    return con.export_text()


def test_own_code_first_then_packages_by_self_time() -> None:
    out = text(where_time_went(functions_table(SAMPLE, ORIGINS)))
    lines = [ln for ln in out.splitlines() if ln.startswith("│")]
    assert lines == [
        "│ main     │ main.py:1  │     1 │   0.001 │  0.000 │",
        "│ parse    │ parse.py:3 │     1 │   0.000 │  0.000 │",
        "│ ClientSession.get │ aiohttp │ main      │     1 │ 0.001 │",
        "│ time.sleep        │ time    │ parse     │     1 │ 0.000 │",
        "│ aiohttp │ package │  0.000 │         1 │ ClientSession.get │",
        "│ asyncio │ stdlib  │  0.000 │         1 │ run               │",
        "│ time    │ stdlib  │  0.000 │         1 │ time.sleep        │",
    ]
    assert out.index("your code") < out.index("what your code calls") < out.index("the rest, by package")


def test_printable_drops_control_characters_and_markup() -> None:
    assert printable("evil\x1b[2J\rname[bold]x[/bold]") == "evil[2Jname\\[bold]x\\[/bold]"


def test_the_summary_never_passes_the_programs_control_characters_on(tmp_path: Path) -> None:
    # a program whose output and thread names carry terminal escapes (set the title, clear the screen)
    script = tmp_path / "esc.py"
    script.write_text(
        "import threading, time\n"
        "print('\\x1b]0;owned\\x07hello \\x1b[2J world')\n"
        "t = threading.Thread(target=time.sleep, args=(0.3,), name='w\\x1b[31mred')\n"
        "t.start(); t.join()\n"
    )
    proc = run_tracekit("profile", "-q", "-o", str(tmp_path / "run"), str(script), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert "\x1b" not in out and "\x07" not in out, out
    assert "output order │ ]0;ownedhello" in out  # the text itself survives, without its control bytes
