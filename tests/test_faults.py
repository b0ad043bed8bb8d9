"""The fault matrix: real `python -m tracekit profile` runs of small fault scripts.

For every row: tracekit ends within timeout + 10 s, no process of the run is left alive (checked
with psutil over the run's process group and every pid the sampler saw), run.json and samples.csv
are kept, trace.json is kept and valid when one was written, and what was lost is in stats.json
`data_loss`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import ROOT

BOUND_S = 10.0  # tracekit may take this long beyond the script's own time or --timeout


@dataclass
class Run:
    rc: int
    elapsed_s: float
    stdout: str
    stderr: str
    run_dir: Path

    @property
    def run(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "run.json").read_text())  # type: ignore[no-any-return]

    @property
    def stats(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "stats.json").read_text())  # type: ignore[no-any-return]


def write_script(tmp_path: Path, source: str, name: str = "fault.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def start(script: Path | str, *opts: str, out: Path, quiet: bool = True) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "tracekit", "profile", *(["-q"] if quiet else []), "-o", str(out), *opts, str(script)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def profile(script: Path | str, *opts: str, out: Path, limit_s: float = 60.0) -> Run:
    t0 = time.monotonic()
    proc = start(script, *opts, out=out)
    try:
        stdout, stderr = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        pytest.fail(f"tracekit did not end within {limit_s} s; stderr: {stderr[-2000:]}")
    return Run(proc.returncode, time.monotonic() - t0, stdout, stderr, out)


def leftovers(run: dict[str, Any]) -> list[int]:
    """Live (non-zombie) processes of the run: in its process group, or any pid the sampler saw."""
    pgid = int(run["pid"])
    seen = {int(p) for p in run.get("processes", {})}
    alive = []
    for p in psutil.process_iter(["pid", "status", "create_time"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if os.getpgid(p.pid) == pgid or (p.pid in seen and p.info["create_time"] <= time.time()):
                alive.append(p.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return alive


def assert_clean(r: Run, *, trace: str | None = "ok") -> None:
    """The common checks of every row. `trace`: the expected trace status (None: any)."""
    run = r.run
    # the program's own output (echoed unless -q) may hold its traceback; tracekit's must not
    program = {line[2] for line in run["output"]["lines"]}
    own = [line for line in r.stderr.splitlines() if line not in program]
    assert not any("Traceback" in line for line in own), r.stderr
    assert run["status"] == "finished"
    assert (r.run_dir / "samples.csv").is_file()
    assert run["samples"]["n"] >= 1
    assert not leftovers(run), f"processes of the run still alive: {leftovers(run)}"
    status = run["trace"]["status"]
    if trace is not None:
        assert status == trace, run["trace"]
    if status == "ok":
        doc = json.loads((r.run_dir / "trace.json").read_bytes())
        assert doc["traceEvents"]
    else:
        assert not (r.run_dir / "trace.json").exists()
    assert not (r.run_dir / ".trace.viztracer.json").exists()
    stats = r.stats
    assert stats["data_loss"]["trace_status"] == status
    if status != "ok":
        assert any("no usable trace" in w for w in stats["data_loss"]["warnings"])
    assert (r.run_dir / "report.html").is_file()


# ---------------------------------------------------------------------------------------------
# The script ends by itself


def test_script_raises(tmp_path: Path) -> None:
    s = write_script(tmp_path, "def f():\n    raise ValueError('boom')\nf()\n")
    r = profile(s, out=tmp_path / "run")
    assert r.rc == 1
    assert r.elapsed_s < 30 + BOUND_S
    assert_clean(r)
    assert r.run["exit_code"] == 1 and r.stats["exit_code"] == 1
    assert any("ValueError: boom" in line[2] for line in r.run["output"]["lines"])


def test_sys_exit_code_is_passed_through(tmp_path: Path) -> None:
    r = profile(write_script(tmp_path, "import sys\nsys.exit(3)\n"), out=tmp_path / "run")
    assert r.rc == 3
    assert_clean(r)
    assert r.stats["data_loss"]["warnings"] == []


def test_os_exit_keeps_samples_and_reports_the_lost_trace(tmp_path: Path) -> None:
    s = write_script(tmp_path, "import os, time\nprint('hi', flush=True)\ntime.sleep(0.3)\nos._exit(4)\n")
    r = profile(s, out=tmp_path / "run")
    assert r.rc == 4
    assert_clean(r, trace="missing")
    assert r.run["exit_code"] == 4
    assert r.stats["exit_code"] == 4
    assert r.run["output"]["lines"][0][1:] == ["stdout", "hi"]
    assert r.stats["peak_rss_bytes"] > 0  # the samples still count the process


@pytest.mark.parametrize(
    ("sig", "rc", "trace"),
    [
        # viztracer's SIGTERM handler exits 0; tracekit detects it and reports the death by SIGTERM
        (signal.SIGTERM, 128 + signal.SIGTERM, "ok"),
        (signal.SIGKILL, 128 + signal.SIGKILL, "missing"),  # nothing can save on SIGKILL
        (signal.SIGINT, 128 + signal.SIGINT, "ok"),  # KeyboardInterrupt: viztracer saves, then dies by SIGINT
    ],
    ids=["SIGTERM", "SIGKILL", "SIGINT"],
)
def test_script_killed_by_a_signal_gives_128_plus_n(tmp_path: Path, sig: int, rc: int, trace: str) -> None:
    s = write_script(tmp_path, f"import os, time\ntime.sleep(0.3)\nos.kill(os.getpid(), {int(sig)})\ntime.sleep(30)\n")
    r = profile(s, out=tmp_path / "run")
    assert r.rc == rc, r.stderr
    assert r.elapsed_s < 0.3 + BOUND_S
    assert_clean(r, trace=trace)
    assert r.run["exit_code"] == -sig
    assert r.stats["exit_code"] == -sig
    if sig == signal.SIGTERM:
        assert r.run["raw_exit_code"] == 0
        assert "SIGTERM" in r.run["exit_note"]


# ---------------------------------------------------------------------------------------------
# Hangs and Ctrl-C


SLEEPER = """
import time
def work():
    time.sleep(0.05)
print("started", flush=True)
while True:
    work()
"""


def _wait_for_line(proc: subprocess.Popen[str], text: str, limit_s: float = 30) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if text in line:
            return
        if not line and proc.poll() is not None:
            break
    pytest.fail(f"never saw {text!r} on tracekit's stdout")


def test_ctrl_c_to_tracekit_during_the_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = start(write_script(tmp_path, SLEEPER), out=out, quiet=False)
    _wait_for_line(proc, "started")
    time.sleep(0.5)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=BOUND_S + 10)
    r = Run(proc.returncode, time.monotonic() - t0, "", stderr, out)
    assert r.rc == 130
    assert r.elapsed_s < BOUND_S
    assert_clean(r)  # the child got SIGINT, so viztracer saved what ran
    assert r.run["interrupted"] is True and r.run["interrupted_by"] == "SIGINT"
    assert r.stats["data_loss"]["interrupted"] is True
    assert r.run["trace"]["events"] > 5  # work() calls until the interrupt are in the trace


def test_ctrl_c_twice_while_viztracer_saves(tmp_path: Path) -> None:
    # a trace big enough that saving takes a while; Ctrl-C twice once the script is done
    s = write_script(
        tmp_path,
        """
        def f(i):
            return i
        for i in range(400_000):
            f(i)
        print("done", flush=True)
        """,
    )
    out = tmp_path / "run"
    proc = start(s, "--full", out=out, quiet=False)  # every call kept: saving takes a while
    _wait_for_line(proc, "done")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)  # the second one kills the child group at once
    _, stderr = proc.communicate(timeout=BOUND_S + 20)
    r = Run(proc.returncode, time.monotonic() - t0, "", stderr, out)
    assert r.rc == 130
    assert r.elapsed_s < BOUND_S + 10
    assert_clean(r, trace=None)  # whether the trace survived depends on timing; it is recorded either way
    assert r.run["interrupted"] is True
    assert r.stats["data_loss"]["interrupted"] is True


def test_sigterm_to_tracekit_stops_the_run_and_leaves_no_orphans(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = start(write_script(tmp_path, SLEEPER), out=out, quiet=False)
    _wait_for_line(proc, "started")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=BOUND_S + 10)
    r = Run(proc.returncode, 0, "", stderr, out)
    assert r.rc == 128 + signal.SIGTERM
    assert_clean(r)
    assert r.run["interrupted_by"] == "SIGTERM"


def test_infinite_loop_with_timeout(tmp_path: Path) -> None:
    s = write_script(tmp_path, "print('spinning', flush=True)\nwhile True:\n    pass\n")
    r = profile(s, "--timeout", "2", out=tmp_path / "run")
    assert r.rc == 124
    assert r.elapsed_s < 2 + BOUND_S
    assert_clean(r)
    assert r.run["timed_out"] is True and r.stats["timed_out"] is True
    assert r.stats["data_loss"]["timed_out"] is True
    assert r.stats["cpu_s"] > 1.0  # the spinning was sampled


HUNG_CHILD = """
import multiprocessing, time
def forever():
    while True:
        time.sleep(0.1)
if __name__ == "__main__":
    p = multiprocessing.Process(target=forever)
    p.start()
    p.join()
"""


def test_child_that_never_ends_with_timeout(tmp_path: Path) -> None:
    r = profile(write_script(tmp_path, HUNG_CHILD), "--timeout", "3", out=tmp_path / "run")
    assert r.rc == 124
    assert r.elapsed_s < 15, f"took {r.elapsed_s:.1f} s"
    assert_clean(r)
    assert r.run["timed_out"] is True
    assert len(r.run["processes"]) >= 2  # the parent and the hung child were both sampled


@pytest.mark.slow
def test_script_ignoring_sigint_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    # changes directory and ignores SIGINT and SIGTERM: only SIGKILL ends it
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    s = write_script(
        tmp_path,
        f"""
        import os, signal, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.chdir({str(sub)!r})
        while True:
            time.sleep(0.1)
        """,
    )
    r = profile(s, "--timeout", "2", out=tmp_path / "run")
    assert r.rc == 124
    assert r.elapsed_s < 2 + 6 + BOUND_S  # timeout + GRACE_S (6 s) + tracekit's own work
    assert_clean(r, trace="missing")
    assert r.run["timed_out"] is True
    assert r.run["killed_after_grace"] is True
    assert "was killed" in r.run["trace"]["detail"]


def test_script_that_changes_directory_still_leaves_its_trace(tmp_path: Path) -> None:
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    s = write_script(tmp_path, f"import os, signal\nos.chdir({str(sub)!r})\nsignal.signal(signal.SIGUSR1, print)\n")
    # a relative -o, so the trace path would break if it were not absolute for the child
    proc = subprocess.run(
        [sys.executable, "-m", "tracekit", "profile", "-q", "-o", "rel-run", str(s)],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    r = Run(proc.returncode, 0, proc.stdout, proc.stderr, tmp_path / "rel-run")
    assert_clean(r)
    assert not list(sub.iterdir())  # nothing written where the script went


def test_never_waited_killed_child_does_not_hang_the_tracer(tmp_path: Path) -> None:
    # viztracer 1.1.1 waits forever for a zombie child; tracekit.vizboot counts a zombie as done
    s = write_script(
        tmp_path,
        """
        import subprocess, sys, time
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        time.sleep(1.0)
        p.kill()  # never waited: it stays a zombie until its parent exits
        print("killed", flush=True)
        """,
    )
    r = profile(s, "--timeout", "30", out=tmp_path / "run")
    assert r.rc == 0, r.stderr
    assert r.elapsed_s < 20, f"took {r.elapsed_s:.1f} s"
    assert_clean(r)
    assert r.run["timed_out"] is False
    assert len(r.run["processes"]) >= 2
    # the killed child never wrote its trace: recorded as a process that left none
    assert r.stats["data_loss"]["untraced_pids"]


def test_child_that_left_the_process_group_is_killed_too(tmp_path: Path) -> None:
    # start_new_session=True puts the child in its own session, out of reach of the group kill
    s = write_script(
        tmp_path,
        """
        import subprocess, sys, time
        # not Python, so the tracer does not wait for it; it keeps our stdout open like a daemon would
        p = subprocess.Popen(["sleep", "60"], start_new_session=True)
        print("escaped", p.pid, flush=True)
        time.sleep(0.5)  # long enough for the sampler to see it
        """,
    )
    r = profile(s, out=tmp_path / "run")
    assert r.rc == 0, r.stderr
    pid = int(next(t for _, _, t in r.run["output"]["lines"] if t.startswith("escaped")).split()[1])
    assert pid in r.run["killed_escaped_pids"]
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert_clean(r)


@pytest.mark.slow
def test_fifty_short_lived_children(tmp_path: Path) -> None:
    s = write_script(
        tmp_path,
        """
        import multiprocessing, time
        def child(i):
            time.sleep(0.1)
        if __name__ == "__main__":
            ctx = multiprocessing.get_context("fork")
            for wave in range(5):
                ps = [ctx.Process(target=child, args=(i,)) for i in range(10)]
                for p in ps:
                    p.start()
                for p in ps:
                    p.join()
        """,
    )
    r = profile(s, out=tmp_path / "run")
    assert r.rc == 0, r.stderr
    assert_clean(r)
    assert len(r.run["trace"]["events_per_pid"]) == 51  # every child left its trace
    assert r.stats["units"]["processes"] >= 50
    assert len(r.run["processes"]) >= 45  # the sampler saw (almost) all of them live


# ---------------------------------------------------------------------------------------------
# Output


@pytest.mark.slow
def test_hundred_megabytes_of_output(tmp_path: Path) -> None:
    s = write_script(
        tmp_path,
        """
        import sys
        line = b"x" * 99 + b"\\n"
        block = line * 10_000
        out = sys.stdout.buffer
        for _ in range(100):          # 100 x 1 MB in 100-byte lines
            out.write(block)
        out.write(b"y" * 10_000_000)  # and one 10 MB line
        out.write(b"\\n")
        out.flush()
        """,
    )
    out = tmp_path / "run"
    t0 = time.monotonic()
    proc = start(s, out=out)
    peak = 0
    p = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            peak = max(peak, p.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.05)
    stdout, stderr = proc.communicate()
    r = Run(proc.returncode, time.monotonic() - t0, stdout, stderr, out)
    assert r.rc == 0, r.stderr
    assert r.elapsed_s < 60, f"took {r.elapsed_s:.1f} s"
    assert peak < 400 * 2**20, f"tracekit peaked at {peak / 2**20:.0f} MiB"
    assert_clean(r)
    output = r.run["output"]
    assert output["total_bytes"] == 100 * 1_000_000 + 10_000_001
    assert output["total_lines"] == 1_000_001
    assert len(output["lines"]) == 20_000
    assert output["truncated"] is True
    assert r.stats["data_loss"]["output_truncated"] is True
    assert (r.run_dir / "run.json").stat().st_size < 10 * 2**20


def test_a_line_longer_than_the_read_chunk_is_one_line(tmp_path: Path) -> None:
    s = write_script(tmp_path, "import sys\nsys.stdout.write('z' * 1_000_000 + '\\nend\\n')\n")
    r = profile(s, out=tmp_path / "run")
    assert r.rc == 0
    output = r.run["output"]
    assert output["total_lines"] == 2
    assert output["cut_lines"] == 1
    assert [line[2] for line in output["lines"]] == ["z" * 2000, "end"]


def test_invalid_utf8_on_stdout(tmp_path: Path) -> None:
    s = write_script(tmp_path, "import sys\nsys.stdout.buffer.write(b'bad \\xff\\xfe bytes\\n')\nprint('ok')\n")
    r = profile(s, out=tmp_path / "run")
    assert r.rc == 0
    assert_clean(r)
    assert [line[2] for line in r.run["output"]["lines"]] == ["bad \ufffd\ufffd bytes", "ok"]


def test_script_that_closes_its_stdout(tmp_path: Path) -> None:
    s = write_script(
        tmp_path,
        """
        import os, sys
        print("before", flush=True)
        os.close(1)
        print("to stderr", file=sys.stderr, flush=True)
        os._exit(0)
        """,
    )
    r = profile(s, out=tmp_path / "run")
    assert r.rc == 0
    assert_clean(r, trace="missing")  # os._exit: no trace, and the rest is kept
    # stdout and stderr are two pipes read by two threads: their relative order is not guaranteed
    lines = sorted(line[1:] for line in r.run["output"]["lines"])
    assert lines == [["stderr", "to stderr"], ["stdout", "before"]]


def test_buffer_overflow_is_reported_with_the_fix(tmp_path: Path) -> None:
    s = write_script(tmp_path, "def f(i):\n    return i\nfor i in range(50_000):\n    f(i)\n")
    r = profile(s, "--full", "--tracer-entries", "10000", out=tmp_path / "run")
    assert r.rc == 0
    assert_clean(r)
    loss = r.stats["data_loss"]
    assert loss["overflow"] is True
    assert any("--tracer-entries" in w and "overflowed" in w for w in loss["warnings"])
    assert r.run["trace"]["overflow"] is True
    assert r.run["trace"]["events"] <= 10_000
