"""End to end: `tracekit profile` on the bundled scenarios, through real subprocesses.

Expected results are the table of the concurrency-analysis issue; wall-time bounds are generous
sanity bounds (the machine is shared), not speed targets.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import SCENARIOS, run_tracekit, scenario_runs

RUN_FILES = ["run.json", "trace.json", "samples.csv", "stats.json", "report.html"]


@pytest.fixture(scope="module")
def profiled(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return scenario_runs(tmp_path_factory.mktemp("runs"))


def stats(out: Path) -> Any:
    return json.loads((out / "stats.json").read_text())


@pytest.mark.parametrize(
    ("name", "lo", "hi"),
    [("sync_count", 2.9, 3.8), ("async_count", 0.9, 1.6), ("thread_count", 0.9, 1.6),
     ("process_count", 0.9, 1.8), ("generator_count", 0.9, 1.6)],
)  # fmt: skip
def test_count_scenarios_write_a_complete_run_directory(profiled: Any, name: str, lo: float, hi: float) -> None:
    proc, out = profiled(name)
    assert proc.returncode == 0, proc.stderr
    for f in RUN_FILES:
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    s = stats(out)
    assert s["schema"] == "tracekit.stats/2"
    assert lo <= s["wall_s"] <= hi
    assert s["exit_code"] == 0 and s["timed_out"] is False
    assert s["data_loss"]["warnings"] == []
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["samples"]["n"] > 10
    assert json.loads((out / "trace.json").read_text())["traceEvents"]
    # the program's output is shown live and recorded with times
    assert proc.stdout.splitlines()[:6] == s["output_order"].split()[:6]
    assert "wall" in proc.stderr and str(out) in proc.stderr
    units = {
        "sync_count": "│ units        │ 1 process, 1 thread, 0 asyncio tasks; 0 workers ",
        "async_count": "│ units        │ 1 process, 1 thread, 6 asyncio tasks; 3 workers ",
        "thread_count": "│ units        │ 1 process, 4 threads, 0 asyncio tasks; 3 workers ",
        "process_count": "│ units        │ 4 processes, 4 threads, 0 asyncio tasks; 3 workers ",
        "generator_count": "│ units        │ 1 process, 1 thread, 0 asyncio tasks, 3 generator units; 3 ",
    }  # every case names its units row (a missing name is a KeyError, not a pass)
    assert units[name] in proc.stderr, proc.stderr


# (scenario, concurrency.peak, parallelism bound, key finding kind)
TABLE = [
    ("sync_count", 1, ("<", 0.1), "sequential"),
    ("async_count", 3, ("<", 0.3), "concurrent-not-parallel"),
    ("thread_count", 3, ("<", 0.3), "concurrent-not-parallel"),
    ("process_count", 3, ("<", 0.5), "concurrent-not-parallel"),
    ("generator_count", 3, ("<", 0.3), "concurrent-not-parallel"),
    ("async_blocking", 3, ("<", 0.3), "loop-blocked"),
    ("thread_cpu", 3, ("<=", 1.1), "gil-bound"),
    ("process_cpu", 3, (">", 1.3), "parallel"),
]


def assert_table_row(s: Any, peak: int, par: tuple[str, float], finding: str) -> None:
    """stats.json s holds one row of TABLE."""
    assert s["concurrency"]["peak"] == peak
    op, bound = par
    value = s["parallelism"]
    assert value < bound if op == "<" else value <= bound if op == "<=" else value > bound
    assert s["findings"][0]["kind"] == finding, s["findings"]


@pytest.mark.parametrize(("name", "peak", "par", "finding"), TABLE)
def test_concurrency_table(profiled: Any, name: str, peak: int, par: tuple[str, float], finding: str) -> None:
    proc, out = profiled(name)
    assert proc.returncode == 0, proc.stderr
    assert_table_row(stats(out), peak, par, finding)


def test_generator_coroutines_are_three_units_in_flight(profiled: Any) -> None:
    s = stats(profiled("generator_count")[1])
    assert s["units"]["generators"] == 3
    assert 2.8 <= s["concurrency"]["mean"] <= 3.0  # all three in flight from ~0 s to ~1 s of a ~1 s run
    g = [f for f in s["findings"] if f["kind"] == "generator-coroutines"]
    assert g and g[0]["evidence"]["instances"] == {"count (generator_count.py:11)": 3}


def test_output_order_proves_overlap(profiled: Any) -> None:
    assert stats(profiled("async_count")[1])["output_order"].startswith("One One One Two Two Two")
    assert stats(profiled("sync_count")[1])["output_order"].startswith("One Two One Two One Two")


def test_blocked_loop_names_time_sleep_in_count(profiled: Any) -> None:
    s = stats(profiled("async_blocking")[1])
    assert 0.9 <= s["loop_blocked_max_s"] <= 1.3
    ev = s["findings"][0]["evidence"]
    assert ev["culprit"] == "time.sleep"
    assert ev["chain"][0].startswith("count (") and "async_blocking.py:" in ev["chain"][0]


def test_python_api_load(profiled: Any) -> None:
    import tracekit

    an = tracekit.load(str(profiled("async_count")[1]))
    assert an.stats.concurrency.peak == 3
    tasks = an.units[an.units["kind"] == "task"]
    assert sorted(tasks.loc[tasks["role"] == "worker", "name"]) == ["Task-2", "Task-3", "Task-4"]
    assert set(an.timeline.columns) >= {"t_s", "cores_busy", "rss_bytes", "in_flight"}
    assert tasks.loc[tasks["role"] == "worker", "slices"].tolist() == [2, 2, 2]  # steps: 2 resumes each
    assert tasks.loc[tasks["role"] == "worker", "coroutine"].tolist() == ["count (async_count.py:7)"] * 3
    steps = an.structure.steps
    assert len(steps[steps["task"] > 0]) >= 6 + 2  # 3 x 2 count steps and main's steps, exact
    assert len(an.samples) > 0 and len(an.events) > 10


def test_exit_code_passes_through_with_complete_run_dir(tmp_path: Path) -> None:
    script = tmp_path / "exit3.py"
    script.write_text("import sys\nprint('bye')\nsys.exit(3)\n")
    out = tmp_path / "run"
    proc = run_tracekit("profile", "-o", str(out), str(script))
    assert proc.returncode == 3, proc.stderr
    for f in RUN_FILES:
        assert (out / f).is_file(), f
    assert stats(out)["exit_code"] == 3


def test_module_mode_and_script_arguments(tmp_path: Path) -> None:
    (tmp_path / "mymod.py").write_text("import sys\nprint('args', *sys.argv[1:])\n")
    out = tmp_path / "run"
    proc = run_tracekit("profile", "-o", str(out), "-m", "mymod", "a", "--flag", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "args a --flag" in proc.stdout
    assert stats(out)["units"]["processes"] == 1


def test_default_run_directory_is_unique(tmp_path: Path) -> None:
    script = tmp_path / "quick.py"
    script.write_text("print('hi')\n")
    for _ in range(2):
        assert run_tracekit("profile", str(script), cwd=tmp_path).returncode == 0
    runs = sorted((tmp_path / "reports").iterdir())
    assert len(runs) == 2 and all(r.name.startswith("quick-") for r in runs)


def test_report_rebuilds_stats_from_raw_files(profiled: Any) -> None:
    _, out = profiled("thread_count")
    before = stats(out)
    (out / "stats.json").unlink()
    (out / "report.html").unlink()
    proc = run_tracekit("report", str(out))
    assert proc.returncode == 0, proc.stderr
    assert stats(out) == before


def test_scenarios_command_lists_every_scenario() -> None:
    proc = run_tracekit("scenarios")
    assert proc.returncode == 0
    names = {line.split()[0] for line in proc.stdout.splitlines()}
    assert names == {p.name for p in SCENARIOS.glob("*.py")}
    assert all(len(line.split()) > 3 for line in proc.stdout.splitlines())


@pytest.mark.parametrize(
    ("content", "expect"),
    [(None, "not found"), ("dir", "is a directory"), (b"\x7fELF\x00\x01", "binary"), ("def f(:\n", "syntax error")],
)
def test_bad_scripts_are_one_line_errors(tmp_path: Path, content: Any, expect: str) -> None:
    target = tmp_path / "bad.py"
    if content == "dir":
        target.mkdir()
    elif isinstance(content, bytes):
        target.write_bytes(content)
    elif content is not None:
        target.write_text(content)
    proc = run_tracekit("profile", "-o", str(tmp_path / "out"), str(target))
    assert proc.returncode == 2
    assert proc.stderr.startswith("Error: ") and expect in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_scenarios_run_without_tracekit() -> None:
    import subprocess

    proc = subprocess.run([sys.executable, str(SCENARIOS / "generator_count.py")], capture_output=True, text=True)
    assert proc.stdout.split()[:6] == ["One", "One", "One", "Two", "Two", "Two"]
    assert "executed in" in proc.stdout


def test_blocking_helper_and_callback_are_named(tmp_path: Path) -> None:
    script = tmp_path / "helper.py"
    script.write_text(
        "import asyncio, time\n"
        "def slow_callback():\n    time.sleep(0.3)\n"
        "def blocking_helper():\n    time.sleep(0.2)\n"
        "async def fetch():\n    blocking_helper()\n    await asyncio.sleep(0.05)\n"
        "async def main():\n    asyncio.get_running_loop().call_soon(slow_callback)\n"
        "    await asyncio.gather(fetch(), fetch())\n"
        "asyncio.run(main())\n"
    )
    out = tmp_path / "run"
    assert run_tracekit("profile", "-o", str(out), str(script)).returncode == 0
    an = __import__("tracekit").load(str(out))
    chains = {b.task: [c.split(" (")[0] for c in b.chain] for b in an.loop_blocks}
    assert chains["callback"][-2:] == ["slow_callback", "time.sleep"]
    task_chains = [c for t, c in chains.items() if t != "callback"]
    assert ["fetch", "blocking_helper", "time.sleep"] in task_chains
    s = stats(out)
    assert s["findings"][0]["kind"] == "loop-blocked"
    assert 0.25 <= s["loop_blocked_max_s"] <= 0.5


def test_tasks_awaiting_threads_are_named_at_the_peak(tmp_path: Path) -> None:
    # three asyncio.to_thread calls that must all be in flight at once (a barrier of three): each is a
    # task awaiting a thread, so 6 units were in flight, and the summary and report say of which kinds
    script = tmp_path / "to_thread_barrier.py"
    script.write_text(
        "import asyncio, threading, time\n"
        "barrier = threading.Barrier(3)\n"
        "def wait():\n"
        "    barrier.wait(10)\n"
        "    time.sleep(0.3)\n"
        "async def main():\n"
        "    await asyncio.gather(*(asyncio.to_thread(wait) for _ in range(3)))\n"
        "asyncio.run(main())\n"
    )
    out = tmp_path / "run"
    proc = run_tracekit("profile", "-o", str(out), str(script))
    assert proc.returncode == 0, proc.stderr
    s = stats(out)
    assert s["concurrency"]["peak"] == 6 and s["concurrency"]["at_peak"] == {"thread": 3, "task": 3}
    assert "│ peak 6 in flight (3 threads and 3 tasks), mean " in proc.stderr
    page = (out / "report.html").read_text()
    assert "workers in flight; at the peak 3 threads and 3 tasks</div>" in page
