"""tracekit's exit without the interpreter's teardown (cli._leave): the code, atexit handlers and a
live non-daemon thread's work are kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CODE = """
import atexit, sys, threading, time
from pathlib import Path
from tracekit import cli
out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))
if sys.argv[2] == "thread":
    threading.Thread(target=lambda: (time.sleep(0.3), (out / "thread").write_text("done"))).start()
sys.stdout.write("buffered, not yet flushed")
cli._leave(3)
"""


def run(tmp_path: Path, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CODE, str(tmp_path), mode], capture_output=True, text=True, timeout=60)


def test_the_fast_exit_keeps_the_code_the_output_and_atexit(tmp_path: Path) -> None:
    p = run(tmp_path, "plain")
    assert (p.returncode, p.stdout) == (3, "buffered, not yet flushed")
    assert (tmp_path / "atexit").read_text() == "ran"


def test_a_live_non_daemon_thread_gets_the_normal_exit(tmp_path: Path) -> None:
    p = run(tmp_path, "thread")
    assert p.returncode == 3 and (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "atexit").read_text() == "ran"
