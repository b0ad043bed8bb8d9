"""The terminal renderers (render/terminal.py, compare_terminal.py, diff_terminal.py) return text; here
that text is compared exactly, on hand-built analyses, at a fixed width and without colour (like rich's
export tests). The numbers in the expected text follow from the inputs (see each test's comments)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
from rich.console import Console

from tests.conftest import run_tracekit
from tests.test_analysis_origin import ORIGINS, SAMPLE, SITE, events
from tests.test_compare import count_set
from tests.test_diff import functions, side
from tracekit.analysis import Analysis
from tracekit.analysis.functions import functions_table
from tracekit.analysis.model import Concurrency, Context, DataLoss, Finding, Stats, UnitCounts
from tracekit.compare import compare
from tracekit.diff import diff
from tracekit.render.compare_terminal import table
from tracekit.render.diff_terminal import diff_table
from tracekit.render.terminal import printable, summary, where_time_went
from tracekit.structure import empty as empty_structure

EXPECTED = Path(__file__).parent / "data" / "render"


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


def test_printable_drops_control_characters_and_keeps_brackets() -> None:
    # the renderers print with markup off: "[bold]" is text, and escaping it would show "\[bold]"
    assert printable("evil\x1b[2J\rname[bold]x[/bold]") == "evil[2Jname[bold]x[/bold]"


# main 1.2 s calls ClientSession.get 0.6 s (→ asyncio run 0.5 s → time.sleep 0.25 s) and parse[bold] 0.3 s
# (→ time.sleep 0.15 s): self main 1.2 − 0.6 − 0.3 = 0.3, get 0.1, run 0.25, parse 0.15, sleep 0.25 + 0.15
EVENTS = events(
    [
        (1, 1, 0, 1_200_000, "main (/proj/app/main.py:1)", -1),
        (1, 1, 100_000, 600_000, f"ClientSession.get ({SITE}/aiohttp/client.py:10)", 0),
        (1, 1, 150_000, 500_000, "run (/usr/lib/python3.11/asyncio/runners.py:5)", 1),
        (1, 1, 200_000, 250_000, "time.sleep", 2),
        (1, 1, 800_000, 300_000, "parse[bold] (/proj/app/parse.py:3)", 0),
        (1, 1, 850_000, 150_000, "time.sleep", 4),
    ]
)


def hand_built(output_order: str, findings: list[Finding]) -> Analysis:
    ctx = Context(
        cores=2, python="3.11.2", platform="Linux", load_avg_before=[0.5], load_avg_after=[0.6], start_method="fork",
        tracekit_version="0.1.0", viztracer_version="1.1.1", interval_s=0.01, traced=True, min_duration_us=100.0,
    )  # fmt: skip
    loss = DataLoss(
        overflow=False, untraced_pids=[], trace_status="ok", timed_out=False, interrupted=False,
        output_truncated=False, warnings=[],
    )  # fmt: skip
    stats = Stats(
        schema="tracekit.stats/2", target="/proj/app/main.py", command=["python", "main.py"], wall_s=1.25,
        cpu_s=0.5, cpu_user_s=0.375, cpu_system_s=0.125, parallelism=0.4, peak_rss_tree_bytes=3 * 2**20 + 2**19,
        units=UnitCounts(tasks=3, threads=1, processes=1, generators=0, workers=3),
        concurrency=Concurrency(peak=3, mean=2.5), loop_blocked_max_s=0.25, output_order=output_order, exit_code=0,
        timed_out=False, data_loss=loss, findings=findings, context=ctx, started_at="2026-12-01T17:00:00",
    )  # fmt: skip
    e = pd.DataFrame()
    return Analysis(
        stats=stats, events=e, tracks=e, samples=e, units=e, structure=empty_structure(), timeline=e,
        concurrency=e, functions=functions_table(EVENTS, ORIGINS), processes=e, output=e, loop_blocks=[], running=e,
    )  # fmt: skip


SUMMARY_100 = """\
tracekit: /proj/app/main.py
┌──────────────┬────────────────────────────────────────────────────────────────────────┐
│ wall         │ 1.250 s                                                                │
│ CPU          │ 0.500 s  (user 0.375 s, system 0.125 s)                                │
│ parallelism  │ 0.40 cores busy on average (of 2)                                      │
│ concurrency  │ peak 3 in flight, mean 2.50                                            │
│ peak RSS     │ 3.5 MiB                                                                │
│ units        │ 1 process, 1 thread, 3 asyncio tasks; 3 workers                        │
│ output order │ One[2J One One                                                         │
│ loop blocked │ 0.250 s at most                                                        │
│ status       │ exit code 0                                                            │
│ capture      │ structure exact; function slices of 100 µs and more (--full keeps all) │
└──────────────┴────────────────────────────────────────────────────────────────────────┘
• the loop was blocked 0.250 s by time.sleep in count [x]
your code (by total time)
┏━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━┳━━━━━━━━━┳━━━━━━━━┓
┃ function    ┃ where      ┃ calls ┃ total s ┃ self s ┃
┡━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━╇━━━━━━━━━╇━━━━━━━━┩
│ main        │ main.py:1  │     1 │   1.200 │  0.300 │
│ parse[bold] │ parse.py:3 │     1 │   0.300 │  0.150 │
└─────────────┴────────────┴───────┴─────────┴────────┘
what your code calls (time inside the calls it made)
┏━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━━━━┳━━━━━━━┳━━━━━━━┓
┃ function          ┃ package ┃ called by   ┃ calls ┃     s ┃
┡━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━━━╇━━━━━━━╇━━━━━━━┩
│ ClientSession.get │ aiohttp │ main        │     1 │ 0.600 │
│ time.sleep        │ time    │ parse[bold] │     1 │ 0.150 │
└───────────────────┴─────────┴─────────────┴───────┴───────┘
the rest, by package (self time)
┏━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┓
┃ package ┃ from    ┃ self s ┃ functions ┃ top function      ┃
┡━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━┩
│ aiohttp │ package │  0.100 │         1 │ ClientSession.get │
│ time    │ stdlib  │  0.400 │         1 │ time.sleep        │
│ asyncio │ stdlib  │  0.250 │         1 │ run               │
└─────────┴─────────┴────────┴───────────┴───────────────────┘

Run directory: /runs/main-1
  report:  /runs/main-1/report.html
  stats:   /runs/main-1/stats.json
  trace:   tracekit open /runs/main-1
"""


def test_summary_exact_text() -> None:
    # 3.5 MiB = 3 × 2^20 + 2^19 bytes; the program's ESC is dropped, its "[bold]" shown as written;
    # packages before the stdlib, each group by self time (packages_table)
    an = hand_built("One\x1b[2J One One", [Finding("loop-blocked", "warning", "the loop was blocked 0.250 s by "
                                                   "time.sleep in count [x]")])  # fmt: skip
    assert summary(an, Path("/runs/main-1"), width=100) == SUMMARY_100


def test_summary_names_the_kinds_at_the_peak_and_the_helpers() -> None:
    an = hand_built("One", [])
    s = an.stats
    mixed = dataclasses.replace(
        s,
        concurrency=Concurrency(peak=8, mean=6.5, at_peak={"thread": 4, "task": 4}),
        units=UnitCounts(tasks=5, threads=7, processes=1, generators=0, workers=8, helpers=2),
    )
    rows = summary(dataclasses.replace(an, stats=mixed), Path("/r"), width=100).splitlines()
    assert "│ concurrency  │ peak 8 in flight (4 threads and 4 tasks), mean 6.50 " in "\n".join(rows)
    assert "│ units        │ 1 process, 7 threads, 5 asyncio tasks; 8 workers, 2 helpers " in "\n".join(rows)
    # one kind, or a mix that does not add up to the peak (generator units are not in it): the peak alone
    for at_peak in ({"task": 8}, {"thread": 3, "task": 4}):
        one = dataclasses.replace(s, concurrency=Concurrency(peak=8, mean=6.5, at_peak=at_peak))
        text = summary(dataclasses.replace(an, stats=one), Path("/r"), width=100)
        assert "│ concurrency  │ peak 8 in flight, mean 6.50 " in text


def test_summary_colour_only_when_asked() -> None:
    an = hand_built("One", [Finding("loop-blocked", "warning", "blocked")])
    plain = summary(an, Path("/r"), width=100)
    coloured = summary(an, Path("/r"), width=100, color_system="standard")
    assert "\x1b" not in plain
    assert "\x1b[33m• \x1b[0mblocked" in coloured  # the warning's bullet in yellow (SEVERITY_STYLE)
    ascii_box = summary(an, Path("/r"), width=100, encoding="ascii")
    assert ascii_box.splitlines()[1] == "+" + "-" * 87 + "+" and "┌" not in ascii_box  # an ASCII terminal


def test_compare_table_exact_text() -> None:
    # count_set's first three: async 1.0 s, sync 3.0 s (the reference: the sync model), thread 0.9/1.1 s
    # (σ 0.141; speed-up 3 ± 3·√0.02 = 0.42); traced 1.0, 3.0, 1.02 s → traced/untraced 1.00, 1.00, 1.02
    c = compare(count_set()[:3], cores=2)
    assert table(c, width=180) == (EXPECTED / "compare_table_180.txt").read_text()


def test_diff_table_exact_text() -> None:
    # walls 0.9/1.0/1.1 → 1.9/2.0/2.1 s: fully separated, but 3 vs 3 runs give p = 0.1 at best
    # (Mann-Whitney 2 / C(6, 3)), so wall is "no change beyond noise"; CPU is wall × 0.9 (the side helper)
    a = side(
        "base", [1.0, 1.1, 0.9], functions([("main", "/a/app.py", "own", 1.0, 0.2, 1), ("slow", "/a/app.py", "own",
        0.5, 0.5, 10)]), [("thread", "MainThread", 1, 1, "main", 0.0, 1.0, 0.9)],
        findings=[("sequential", "info", "one at a time")],
    )  # fmt: skip
    b = side(
        "cand", [2.0, 2.1, 1.9], functions([("main", "/a/app.py", "own", 2.0, 0.2, 1), ("slow", "/a/app.py", "own",
        1.5, 1.5, 10)]), [("thread", "MainThread", 1, 1, "main", 0.0, 2.0, 1.8)],
        findings=[("loop-blocked", "warning", "the loop was blocked [x]")],
    )  # fmt: skip
    assert diff_table(diff(a, b), width=160) == (EXPECTED / "diff_table_160.txt").read_text()


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
