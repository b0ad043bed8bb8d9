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
    assert r.stats["peak_rss_tree_bytes"] > 0  # the samples still count the process


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
    # the spinning was sampled: a sanity bound, since on a loaded 2-core machine (four agents) a spinner
    # got 0.90-0.96 s of CPU in its 2 s, less than the 1.0 asserted before
    assert r.stats["cpu_s"] > 0.3


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


# ---------------------------------------------------------------------------------------------
# Nothing of the run outlives the run


DAEMON = """
import os, sys, time
pid = os.fork()
if pid == 0:
    os.setsid()                 # the classic daemon: fork, setsid, fork
    if os.fork() == 0:
        with open(sys.argv[1], "w") as fh:
            fh.write(str(os.getpid()))
        while True:
            time.sleep(0.1)
    os._exit(0)
os.waitpid(pid, 0)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
print("parent done", flush=True)
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize(
    "opts", [(), ("--sample-only",), ("--timeout", "30")], ids=["traced", "sample-only", "timeout"]
)
def test_double_fork_daemon_neither_hangs_the_run_nor_survives_it(tmp_path: Path, opts: tuple[str, ...]) -> None:
    pid_file = tmp_path / "daemon.pid"
    s = write_script(tmp_path, DAEMON)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracekit", "profile", "-q", "-o", str(tmp_path / "run"), *opts, str(s), str(pid_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        _, stderr = proc.communicate(timeout=25)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("tracekit hung on a daemon that the script left running")
    finally:
        daemon = int(pid_file.read_text()) if pid_file.exists() else None
    r = Run(proc.returncode, time.monotonic() - t0, "", stderr, tmp_path / "run")
    assert r.rc == 0, r.stderr
    assert daemon is not None
    assert not _alive(daemon), "the daemon outlived the run"
    assert daemon in r.run["killed_escaped_pids"]
    assert r.run["timed_out"] is False
    assert [t for _, _, t in r.run["output"]["lines"]] == ["parent done"]  # nothing of the tracer's own
    if "--sample-only" in opts:
        assert r.run["status"] == "finished" and not leftovers(r.run)
    else:
        assert_clean(r)


NEW_SESSION_AT_EXIT = """
import subprocess, sys
p = subprocess.Popen(["sleep", "120"], start_new_session=True)
print("escaped", p.pid, flush=True)
"""  # the script exits at once: the sampler may never see the new session


@pytest.mark.parametrize("opts", [(), ("--sample-only",)], ids=["traced", "sample-only"])
def test_new_session_started_just_before_exit_is_killed(tmp_path: Path, opts: tuple[str, ...]) -> None:
    s = write_script(tmp_path, NEW_SESSION_AT_EXIT)
    for i in range(3):
        r = profile(s, *opts, out=tmp_path / f"run{i}")
        assert r.rc == 0, r.stderr
        pid = int(next(t for _, _, t in r.run["output"]["lines"] if t.startswith("escaped")).split()[1])
        assert not _alive(pid), f"run {i}: the new-session child outlived the run"
        assert pid in r.run["killed_escaped_pids"]


TREE = """
import multiprocessing, subprocess, sys, time, os
def forever():
    while True:
        time.sleep(0.1)
if __name__ == "__main__":
    p = multiprocessing.Process(target=forever)
    p.start()
    q = subprocess.Popen(["sleep", "120"], start_new_session=True)
    with open(sys.argv[1], "w") as fh:
        fh.write(f"{os.getpid()} {p.pid} {q.pid}")
    print("ready", flush=True)
    p.join()
"""


@pytest.mark.parametrize("opts", [(), ("--sample-only",)], ids=["traced", "sample-only"])
def test_sigkilled_tracekit_takes_the_whole_run_down(tmp_path: Path, opts: tuple[str, ...]) -> None:
    pids_file = tmp_path / "pids"
    s = write_script(tmp_path, TREE)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracekit", "profile", "-o", str(tmp_path / "run"), *opts, str(s), str(pids_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    _wait_for_line(proc, "ready")
    pids = [int(x) for x in pids_file.read_text().split()]
    assert all(_alive(p) for p in pids)
    proc.kill()  # SIGKILL: tracekit can do nothing any more
    proc.communicate()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)], "processes of the run outlived a SIGKILLed tracekit"


# ---------------------------------------------------------------------------------------------
# tracekit compare follows the same rules


def _compare(*args: str, limit_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracekit", "compare", "--repeat", "1", "--warmup", "0", *args],
        capture_output=True, text=True, timeout=limit_s, cwd=ROOT,
    )  # fmt: skip


def test_compare_leaves_no_daemon_behind(tmp_path: Path) -> None:
    # each measured and traced run of the script starts a daemon, recorded in the pid file
    one_file_per_run = "import os, sys\nsys.argv[1:] = [__file__ + '.' + str(os.getpid())]\n"
    s = write_script(tmp_path, one_file_per_run + DAEMON)
    p = _compare(str(s), "-o", str(tmp_path / "cmp"))
    assert p.returncode == 0, p.stderr
    daemons = [int(f.read_text()) for f in tmp_path.glob("fault.py.*")]
    assert len(daemons) == 2  # one untraced run, one traced run
    assert not [d for d in daemons if _alive(d)], "compare left daemons running"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_compare_stopped_by_a_signal_leaves_nothing_running(tmp_path: Path, sig: int) -> None:
    pid_file = tmp_path / "measured.pid"
    s = write_script(
        tmp_path, f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"
    )
    quick = write_script(tmp_path, "print('quick')\n", "quick.py")  # measured first: its timing must be kept
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracekit", "compare", "--repeat", "1", "--warmup", "0", "-o", str(tmp_path / "c"),
         str(quick), str(s)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)  # the script writes the file in two steps: created, then written
    measured = int(pid_file.read_text())
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 128 + sig, stderr
    assert stderr.strip().splitlines()[-1].startswith("Error: interrupted by"), stderr
    assert "timings.partial.jsonl" in stderr
    assert "Traceback" not in stderr
    time.sleep(0.2)
    assert not _alive(measured), "the measured script outlived compare"
    kept = [json.loads(x) for x in (tmp_path / "c" / "timings.partial.jsonl").read_text().splitlines()]
    assert [k["script"] for k in kept] == [str(quick)] and kept[0]["exit_code"] == 0 and kept[0]["wall_s"] > 0


def test_compare_timeout_stops_a_hung_script(tmp_path: Path) -> None:
    s = write_script(tmp_path, "import time\ntime.sleep(60)\n")
    t0 = time.monotonic()
    p = _compare(str(s), "--timeout", "1", "-o", str(tmp_path / "c"))
    assert p.returncode == 124, p.stderr
    assert time.monotonic() - t0 < 20
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "--timeout 1" in lines[0], p.stderr


def test_compare_timeout_stops_a_traced_run_that_hangs(tmp_path: Path) -> None:
    # quick untraced, hung when traced: the traced run is stopped by the same --timeout
    s = write_script(tmp_path, "import sys, time\nif 'viztracer' in sys.modules:\n    time.sleep(60)\n")
    t0 = time.monotonic()
    p = _compare(str(s), "--timeout", "2", "-o", str(tmp_path / "c"))
    assert p.returncode == 124, p.stderr
    assert time.monotonic() - t0 < 30
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "--timeout 2 s in its traced run" in lines[-1], p.stderr
    run = json.loads(next((tmp_path / "c" / "runs").glob("*/run.json")).read_text())
    assert run["timed_out"] is True and run["status"] == "finished" and not leftovers(run)


@pytest.mark.parametrize("phase", ["untraced", "traced"])
def test_sigkilled_compare_takes_the_measured_script_down(tmp_path: Path, phase: str) -> None:
    pids = tmp_path / "pids"
    s = write_script(
        tmp_path,
        f"""
        import os, subprocess, sys, time
        if {phase == "traced"} == ("viztracer" in sys.modules):
            q = subprocess.Popen(["sleep", "120"], start_new_session=True)
            with open({str(pids)!r}, "w") as fh:
                fh.write(f"{{os.getpid()}} {{q.pid}}")
            time.sleep(60)
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracekit", "compare", "--repeat", "1", "--warmup", "0", "-o", str(tmp_path / "c"),
         str(s)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (pids.exists() and pids.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    started = [int(x) for x in pids.read_text().split()]
    assert all(_alive(p) for p in started)
    proc.kill()  # SIGKILL: compare can do nothing any more
    proc.communicate()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in started if _alive(p)], "the measured script outlived a SIGKILLed compare"


HELPER = """
import subprocess
subprocess.run(["/sbin/ldconfig", "-p"], stdout=subprocess.DEVNULL)  # what trio's import does
subprocess.run(["sleep", "0.2"])  # lives long enough to be seen by every run's sampler
"""


def test_a_non_python_helper_is_named_not_a_process_that_left_no_trace(tmp_path: Path) -> None:
    s = write_script(tmp_path, HELPER)
    for i in range(3):
        r = profile(s, out=tmp_path / f"run{i}")
        assert r.rc == 0, r.stderr
        loss = r.stats["data_loss"]
        assert not [w for w in loss["warnings"] if "left no trace" in w], loss
        assert any(h.endswith("sleep (not a Python program)") for h in loss["helpers"]), loss


def test_nohup_keeps_sighup_ignored_for_tracekit_and_the_program(tmp_path: Path) -> None:
    s = write_script(
        tmp_path,
        """
        import signal, time
        print("started", signal.getsignal(signal.SIGHUP) == signal.SIG_IGN, flush=True)
        time.sleep(1.5)
        print("finished", flush=True)
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracekit", "profile", "-o", str(tmp_path / "run"), str(s)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),  # what nohup does
    )  # fmt: skip
    _wait_for_line(proc, "started True")
    proc.send_signal(signal.SIGHUP)
    _, stderr = proc.communicate(timeout=30)
    r = Run(proc.returncode, 0, "", stderr, tmp_path / "run")
    assert r.rc == 0, r.stderr
    assert r.run["interrupted"] is False
    assert [t for _, _, t in r.run["output"]["lines"]] == ["started True", "finished"]
    assert_clean(r)


SIGNALS_SEEN = """
import os, signal, sys
seen = [signal.getsignal(s) == signal.SIG_IGN for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]
with open(f"{sys.argv[1]}.{os.getpid()}", "w") as fh:
    fh.write(" ".join(map(str, seen)))
"""


@pytest.mark.parametrize("nohup", [False, True], ids=["plain", "nohup"])
def test_compare_runs_see_the_signals_tracekit_got(tmp_path: Path, nohup: bool) -> None:
    # the spawner ignores SIGINT/SIGTERM/SIGHUP itself; posix_spawn would pass SIG_IGN on to the
    # untraced run, where multiprocessing's terminate() then hangs: they are reset, unless ignored by the user
    s = write_script(tmp_path, SIGNALS_SEEN.replace("sys.argv[1]", repr(str(tmp_path / "seen"))))
    p = subprocess.run(
        [sys.executable, "-m", "tracekit", "compare", "--repeat", "1", "--warmup", "0", "-o", str(tmp_path / "c"),
         str(s)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        preexec_fn=(lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)) if nohup else None,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    seen = sorted(f.read_text() for f in tmp_path.glob("seen.*"))
    expected = f"False False {nohup}"  # SIGINT, SIGTERM, SIGHUP ignored?
    assert seen == [expected, expected], seen  # the untraced and the traced run


# ---------------------------------------------------------------------------------------------
# The CI gate fails a broken candidate


def test_gate_fails_a_candidate_run_that_crashed(tmp_path: Path) -> None:
    base = write_script(tmp_path, "import time\ntime.sleep(0.2)\n", "base.py")
    crashed = write_script(tmp_path, "import time\ntime.sleep(0.1)\nraise SystemExit(1)\n", "crash.py")
    r = profile(crashed, out=tmp_path / "crashed")
    assert r.rc == 1
    p = _compare(str(base), str(tmp_path / "crashed"), "--fail-if-slower", "10%", "-o", str(tmp_path / "c"))
    assert p.returncode == 2, p.stderr
    assert "exited with code 1" in p.stderr and "ok:" not in p.stderr
    assert not (tmp_path / "c" / "comparison.json").exists()


def test_gate_and_report_refuse_a_run_that_never_finished(tmp_path: Path) -> None:
    base = write_script(tmp_path, "import time\ntime.sleep(0.2)\n", "base.py")
    out = tmp_path / "killed"
    proc = start(write_script(tmp_path, SLEEPER), out=out, quiet=False)
    _wait_for_line(proc, "started")
    proc.kill()  # tracekit SIGKILLed: run.json stays "running"
    proc.communicate()
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    p = _compare(str(base), str(out), "--fail-if-slower", "10%", "-o", str(tmp_path / "c"))
    assert p.returncode == 2, p.stderr
    assert "incomplete run" in p.stderr
    rep = subprocess.run([sys.executable, "-m", "tracekit", "report", str(out)], capture_output=True, text=True)
    assert rep.returncode == 2 and rep.stderr.startswith("Error: ") and "incomplete run" in rep.stderr, rep.stderr


# ---------------------------------------------------------------------------------------------
# The program runs as it would alone: stdin, byte-exact output, exit codes


IO_SCRIPT = """
import sys
name = input("name? ")
out = sys.stdout.buffer
out.write(b"hello " + name.encode() + b"\\r\\nbad \\xff\\xfe bytes\\n" + b"L" * 200_000 + b"\\nno newline at the end")
"""


def test_piped_stdin_reaches_the_program_and_stdout_is_byte_exact(tmp_path: Path) -> None:
    s = write_script(tmp_path, IO_SCRIPT)
    alone = subprocess.run([sys.executable, str(s)], input=b"bob\n", capture_output=True, timeout=30)
    assert alone.returncode == 0
    p = subprocess.run(
        [sys.executable, "-m", "tracekit", "profile", "-o", str(tmp_path / "run"), str(s)],
        input=b"bob\n", capture_output=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert p.stdout == alone.stdout  # prompt, CRLF, bad bytes, the long line, no newline added
    lines = [t for _, _, t in Run(0, 0, "", "", tmp_path / "run").run["output"]["lines"]]
    assert lines[0] == "name? hello bob"


def _pty_run(cmd: list[str], answers: list[tuple[bytes, bytes]], limit_s: float = 60) -> tuple[int, bytes]:
    """Run cmd with stdin, stdout and stderr on a new terminal; type each answer once its prompt is on
    the screen (typing ahead would be flushed by getpass, as on a real terminal); return (rc, screen)."""
    import pty
    import select

    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT)
    os.close(slave)
    screen = bytearray()
    pending = list(answers)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if pending and pending[0][0] in screen:
            os.write(master, pending.pop(0)[1])
        if not select.select([master], [], [], 0.1)[0]:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    os.close(master)
    return proc.returncode, bytes(screen)


def test_a_terminal_stays_a_terminal(tmp_path: Path) -> None:
    s = write_script(
        tmp_path,
        """
        import getpass, sys
        print("tty", sys.stdin.isatty(), sys.stdout.isatty(), flush=True)
        print("got", input("name? "), flush=True)
        print("password of length", len(getpass.getpass("password: ")), flush=True)
        """,
    )
    cmd = [sys.executable, "-m", "tracekit", "profile", "-o", str(tmp_path / "run"), str(s)]
    rc, screen = _pty_run(cmd, [(b"name? ", b"ann\n"), (b"password: ", b"secret\n")])
    assert rc == 0, screen
    assert b"tty True False" in screen  # stdin is the terminal; stdout is tracekit's pipe (echoed to it)
    assert b"got ann" in screen
    assert b"password of length 6" in screen and b"GetPassWarning" not in screen


@pytest.mark.slow
def test_echo_to_a_terminal_does_not_throttle_the_program(tmp_path: Path) -> None:
    # 200k short lines take ~0.6 s alone; rich's per-line rendering made it 27-32 s under tracekit
    s = write_script(
        tmp_path,
        """
        import sys, time
        t0 = time.perf_counter()
        for i in range(200_000):
            print("line", i)
        print(f"ELAPSED {time.perf_counter() - t0:.3f}", file=sys.stderr, flush=True)
        """,
    )
    rc, screen = _pty_run([sys.executable, "-m", "tracekit", "profile", "--sample-only", "-o",
                           str(tmp_path / "run"), str(s)], [], limit_s=120)  # fmt: skip
    assert rc == 0
    elapsed = float(screen.split(b"ELAPSED ")[1].split()[0])
    assert elapsed < 10, f"200k prints took {elapsed:.1f} s under tracekit"


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_exit_code_is_kept_when_tracekits_own_output_is_gone(tmp_path: Path, stream: str) -> None:
    s = write_script(tmp_path, "print('x\\n' * 10_000)\nraise SystemExit(3)\n")
    r, w = os.pipe()
    os.close(r)  # like `| head` that has exited, or a closed terminal
    pipes = (
        {"stdout": w, "stderr": subprocess.DEVNULL}
        if stream == "stdout"
        else {"stdout": subprocess.DEVNULL, "stderr": w}
    )
    p = subprocess.run(
        [sys.executable, "-m", "tracekit", "profile", "-o", str(tmp_path / "run"), str(s)], timeout=60, cwd=ROOT,
        **pipes,  # type: ignore[arg-type]
    )  # fmt: skip
    os.close(w)
    assert p.returncode == 3
    assert Run(3, 0, "", "", tmp_path / "run").run["exit_code"] == 3


def test_escape_sequences_from_the_run_never_reach_tracekits_terminal(tmp_path: Path) -> None:
    s = write_script(tmp_path, "print('ok')\n", name="evil\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07.py")
    p = subprocess.run(
        [sys.executable, "-m", "tracekit", "profile", "-q", "-o", str(tmp_path / "run"), str(s)],
        capture_output=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert b"evil" in p.stderr  # the summary names the script...
    assert b"\x1b]" not in p.stderr and b"\x07" not in p.stderr  # ...without its OSC sequences
    rep = subprocess.run([sys.executable, "-m", "tracekit", "report", str(tmp_path / "run")], capture_output=True)
    assert rep.returncode == 0 and b"evil" in rep.stderr and b"\x1b]" not in rep.stderr


# ---------------------------------------------------------------------------------------------
# A full disk (here: a file-size limit, EFBIG, which fails writes as ENOSPC does)


def _limit_file_size(limit: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_full_disk_keeps_the_exit_code_and_says_so(tmp_path: Path) -> None:
    # 3,000 output lines make run.json larger than the limit; the compact run.json still fits
    s = write_script(tmp_path, "for i in range(3000):\n    print('line', i)\nraise SystemExit(5)\n")
    out = tmp_path / "run"
    p = subprocess.run(
        [sys.executable, "-m", "tracekit", "profile", "-q", "-o", str(out), str(s)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, preexec_fn=lambda: _limit_file_size(60_000),
    )  # fmt: skip
    assert p.returncode == 74, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: could not write"), p.stderr
    assert "exited with code 5" in lines[0]
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["exit_code"] == 5
    assert any("run.json" in e for e in run["write_errors"])
    assert run["output"]["total_lines"] >= 3000 and run["output"]["lines"] == []  # counted, lines dropped to fit
    rep = subprocess.run([sys.executable, "-m", "tracekit", "report", str(out)], capture_output=True, text=True)
    assert rep.returncode == 0, rep.stderr  # the finished run's facts, not "exit code None"
    assert "exit code 5" in rep.stderr and "None" not in rep.stderr, rep.stderr


# ---------------------------------------------------------------------------------------------
# Smaller promises


def test_compare_labels_that_slug_alike_get_their_own_run_directories(tmp_path: Path) -> None:
    a = write_script(tmp_path, "print('a')\n", "a.py")
    b = write_script(tmp_path, "print('b')\n", "b.py")
    evil = "x\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07"
    p = _compare(str(a), str(b), "--name", "a b", "--name", "a_b", "-o", str(tmp_path / "c"))
    assert p.returncode == 0, p.stderr
    runs = json.loads((tmp_path / "c" / "comparison.json").read_text())["runs"]
    dirs = [r["run_dir"] for r in runs]
    assert len(set(dirs)) == 2, dirs
    for r in runs:  # each run directory holds its own script's run
        run = json.loads((tmp_path / "c" / r["run_dir"] / "run.json").read_text())
        assert run["target"] == str(a if r["name"] == "a b" else b)
    # names from the command line or a comparison.json reach the terminal without their escapes
    p = _compare(str(tmp_path / "c"), str(a), "--name", evil, "--name", "fresh", "-o", str(tmp_path / "c2"))
    assert p.returncode == 0, p.stderr
    assert "x]0;pwned" in p.stdout or "x]0;pwned" in p.stderr
    assert "\x1b]" not in p.stdout + p.stderr and "\x07" not in p.stdout + p.stderr


def test_summary_states_the_exit_code_tracekit_returns_and_a_quoted_open_hint(tmp_path: Path) -> None:
    s = write_script(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
    r = profile(s, out=tmp_path / "my run")
    assert r.rc == 143
    assert "killed by signal 15 (exit 143)" in r.stderr and "exit code -15" not in r.stderr
    assert f"tracekit open '{tmp_path / 'my run'}'" in r.stderr


def planted_profile(out: Path, script: Path, plant: str) -> subprocess.CompletedProcess[str]:
    """`tracekit profile -q -o OUT SCRIPT` in a Python where `plant` ran first (with os, signal, sys,
    time and tracekit.cli as c imported): the place a signal lands, made certain."""
    code = (
        "import os, signal, sys, time, tracekit.cli as c\n" + plant
        + "sys.argv = ['tracekit', 'profile', '-q', '-o', sys.argv[1], sys.argv[2]]\nc.main()\n"
    )  # fmt: skip
    argv = [sys.executable, "-c", code, str(out), str(script)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_ctrl_c_while_analysing_says_what_is_kept(tmp_path: Path) -> None:
    # a real `tracekit profile` whose analysis gets Ctrl-C (planted: the analysis signals itself)
    s = write_script(tmp_path, "print('hi')\n")
    plant = (
        "import tracekit.analysis as a\n"
        "def slow(_inputs):\n    os.kill(os.getpid(), signal.SIGINT)\n    time.sleep(5)\na.analyse = slow\n"
    )
    p = planted_profile(tmp_path / "run", s, plant)
    assert p.returncode == 130, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: interrupted while analysing"), p.stderr
    assert "tracekit report" in lines[0]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "finished" and run["exit_code"] == 0  # the raw run is whole


def test_a_signal_as_the_run_starts_stops_the_run_not_the_analysis(tmp_path: Path) -> None:
    # SIGTERM while the CLI shows "running" (planted: the phase callback signals itself; under load a
    # real signal lands there): the run is stopped and finished like any other, never left "running"
    s = write_script(tmp_path, "import time\nprint('hi', flush=True)\ntime.sleep(30)\n")
    plant = "def slow():\n    os.kill(os.getpid(), signal.SIGTERM)\n    time.sleep(1)\nc._prefetch_analysis = slow\n"
    p = planted_profile(tmp_path / "run", s, plant)
    assert p.returncode == 143, p.stderr
    assert "interrupted while analysing" not in p.stderr and "Traceback" not in p.stderr, p.stderr
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "finished" and run["interrupted"] is True and run["interrupted_by"] == "SIGTERM"
    assert (tmp_path / "run" / "stats.json").is_file()


ENV_CLEARED = """
import os, sys, time
# a double-forked daemon that clears its environment (no trace of tracekit's cookie is left on it);
# it is re-parented at once, out of the sampler's sight, and the script lives on a while after
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open(sys.argv[1], "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        os.execve("/bin/sleep", ["sleep", "120"], {})
    os._exit(0)
os.wait()
time.sleep(0.3)
"""


@pytest.mark.parametrize("how", ["traced", "sample-only", "compare"])
def test_a_child_that_cleared_its_environment_is_killed_too(tmp_path: Path, how: str) -> None:
    pids = tmp_path / "pids"
    s = write_script(tmp_path, ENV_CLEARED.replace("sys.argv[1]", repr(str(pids))))
    if how == "compare":
        p = _compare(str(s), "-o", str(tmp_path / "c"))
        assert p.returncode == 0, p.stderr
    else:
        r = profile(s, *(["--sample-only"] if how == "sample-only" else []), out=tmp_path / "run")
        assert r.rc == 0, r.stderr
    started = [int(x) for x in pids.read_text().split()]
    assert len(started) == (2 if how == "compare" else 1)  # compare: one untraced, one traced run
    time.sleep(0.2)
    assert not [p for p in started if _alive(p)], "a child without the cookie outlived the run"


# ---------------------------------------------------------------------------------------------
# The program terminates its own children


TERMINATED_WORKER = """
import multiprocessing as mp, os, time

class Holder:
    def __init__(self, w):
        self.w = w

    def __del__(self):
        os.write(self.w, b"ready\\n")
        time.sleep(30)  # SIGTERM lands here

def child(w, where):
    if where == "finalizer":  # as a Manager proxy's finalizer talks to the manager while a Pool terminates
        h = Holder(w)
        del h
    else:  # code that swallows every exception
        try:
            os.write(w, b"ready\\n")
            time.sleep(30)  # SIGTERM lands here
        except BaseException:
            pass
    time.sleep(30)  # where the worker waited for ever when the exit was swallowed

if __name__ == "__main__":
    mp.set_start_method("fork")
    r, w = os.pipe()
    p = mp.Process(target=child, args=(w, "WHERE"))
    p.start()
    os.read(r, 100)
    time.sleep(0.2)  # into the sleep
    t0 = time.monotonic()
    p.terminate()
    p.join(15)
    print(f"alive={p.is_alive()} within={time.monotonic() - t0 < 10} exitcode={p.exitcode}", flush=True)
    if p.is_alive():
        p.kill()
        p.join()
"""


@pytest.mark.parametrize("where", ["finalizer", "except"])
def test_a_terminated_worker_ends_even_where_its_exit_is_swallowed(tmp_path: Path, where: str) -> None:
    # viztracer's SIGTERM handler exits by sys.exit(0); Python swallows that in a finalizer (printing
    # "Exception ignored in ...") and so does `except BaseException`: the worker then lived on and
    # `with Pool()` (terminate, join) waited for ever: 1 run in 4 of a Manager + Pool program hung
    s = write_script(tmp_path, TERMINATED_WORKER.replace("WHERE", where))
    # oracle: untraced, SIGTERM kills the worker at once
    untraced = subprocess.run([sys.executable, str(s)], capture_output=True, text=True, timeout=60)
    assert untraced.stdout.strip() == "alive=False within=True exitcode=-15", untraced
    r = profile(s, out=tmp_path / "run")
    assert r.rc == 0, r.stderr
    assert_clean(r)
    out = [line[2] for line in r.run["output"]["lines"]]
    assert "alive=False within=True exitcode=-15" in out, out  # as untraced: not viztracer's exit code 0
    if where == "finalizer":  # the swallowed exit is not printed either: the untraced worker prints nothing
        # (but a header CPython 3.11 writes itself before the hook, when the exit lands in a module's m_clear)
        assert not any(w in line for line in out for w in ("Holder.__del__", "SystemExit", "Traceback")), out
    # the worker saved its trace on the way out, and tracekit's re-sender thread is not a program thread
    assert len(r.run["processes"]) >= 2
    assert not r.stats["data_loss"]["warnings"], r.stats["data_loss"]
