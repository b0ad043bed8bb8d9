"""Runner and run-directory pieces: viztracer output repair, bounded output capture, atomic
writes, concurrent runs, --no-source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tracekit import rundir
from tracekit.supervise import MAX_LINE_CHARS, READ_CHUNK, OutputLog
from tracekit.vizboot import repair_task_names, valid_utf8

# A raw dump as viztracer 1.1.1 writes it: thread names escaped, task names (at the end) not.
RAW = (
    '{"traceEvents":[{"ph":"M","pid":7,"tid":7,"name":"process_name","args":{"name":"MainProcess"}},'
    '{"ph":"M","pid":7,"tid":8,"name":"thread_name","args":{"name":"th \\"q\\""}},'
    '{"ph":"M","pid":7,"tid":7,"name":"thread_name","args":{"name":"MainThread"}},'
    '{"pid":7,"tid":100,"ts":1.000,"ph":"X","cat":"fee","dur":2.000,"name":"work (a.py:1)"},'
    '{"ph":"M","pid":7,"tid":100,"name":"thread_name","args":{"name":"fetch "users" \\ now"}},'
    '{"ph":"M","pid":7,"tid":101,"name":"thread_name","args":{"name":"Task-2"}}],'
    ' "viztracer_metadata": {"overflow":false}}'
)


def test_repair_task_names_reescapes_only_the_task_records() -> None:
    with pytest.raises(ValueError):
        json.loads(RAW)
    doc = json.loads(repair_task_names(RAW))
    names = [e["args"]["name"] for e in doc["traceEvents"] if e["ph"] == "M"]
    assert names == ["MainProcess", 'th "q"', "MainThread", 'fetch "users" \\ now', "Task-2"]
    assert doc["traceEvents"][3]["dur"] == 2.0


def test_repair_leaves_a_valid_dump_alone() -> None:
    good = RAW.replace('fetch "users" \\ now', "fetch")
    assert repair_task_names(good) == good


def test_valid_utf8_replaces_each_lone_surrogate() -> None:
    assert valid_utf8("a\udcffb\ud800") == "a\ufffdb\ufffd"
    assert valid_utf8('ok "é" 😀') == 'ok "é" 😀'


def test_output_log_counts_lines_not_chunks() -> None:
    log = OutputLog()
    log.add(1, "stdout", b"x" * READ_CHUNK, continuation=False)  # a long line, first chunk
    log.add(2, "stdout", b"x" * 10 + b"\n", continuation=True)  # its end
    log.add(3, "stderr", b"caf\xc3\xa9 \xff\n")
    assert (log.total_lines, log.total_bytes, log.cut_lines) == (2, READ_CHUNK + 11 + 8, 1)
    assert log.lines == [(1, "stdout", "x" * MAX_LINE_CHARS), (3, "stderr", "café \ufffd")]


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "stats.json"
    rundir.write_json(target, {"v": 1})

    def boom(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rundir.os, "replace", boom)
    with pytest.raises(OSError):
        rundir.write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]  # no temp file left behind


def test_write_json_never_writes_lone_surrogates(tmp_path: Path) -> None:
    rundir.write_json(tmp_path / "x.json", {"arg": "bad\udcff"})
    assert json.loads((tmp_path / "x.json").read_bytes().decode("utf-8")) == {"arg": "bad\ufffd"}


def test_new_run_dir_never_shares_a_directory(tmp_path: Path) -> None:
    made = [rundir.new_run_dir("s", tmp_path) for _ in range(5)]
    assert len(set(made)) == 5
    assert all(p.is_dir() and [f.name for f in p.iterdir()] == [rundir.MARKER] for p in made)  # fresh, marked


@pytest.mark.slow
def test_four_concurrent_profiles_with_the_default_output(tmp_path: Path) -> None:
    scripts = []
    for i in range(4):
        s = tmp_path / "same.py" if i == 0 else tmp_path / f"d{i}" / "same.py"
        s.parent.mkdir(exist_ok=True)
        s.write_text(f"import time\ntime.sleep(0.5)\nprint('run {i}')\n")
        scripts.append(s)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tracekit", "profile", "-q", str(s)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in scripts
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    dirs = sorted((tmp_path / "reports").iterdir())
    assert len(dirs) == 4  # same stem, same second: four directories
    printed = set()
    for d in dirs:
        run = json.loads((d / "run.json").read_text())
        printed.add(run["output"]["lines"][0][2])
        assert {"run.json", "trace.json", "samples.csv", "stats.json", "report.html"} <= set(os.listdir(d))
        assert not [n for n in os.listdir(d) if n.endswith(".tmp")]
    assert printed == {f"run {i}" for i in range(4)}  # each directory holds its own run


def test_no_source_strips_the_source_code(tmp_path: Path) -> None:
    marker = "SECRET_MARKER_7f3a"
    script = tmp_path / "secret.py"
    script.write_text(f"# {marker}\ndef f():\n    return 1\nf()\n")
    for flag, expect in (([], True), (["--no-source"], False)):
        out = tmp_path / f"run{len(flag)}"
        p = subprocess.run(
            [sys.executable, "-m", "tracekit", "profile", "-q", "--full", *flag, "-o", str(out), str(script)],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip
        assert p.returncode == 0, p.stderr
        raw = (out / "trace.json").read_bytes()
        assert (marker.encode() in raw) is expect
        assert ("file_info" in json.loads(raw)) is expect
        assert marker not in (out / "report.html").read_text()


def test_a_signal_while_tracekit_saves_the_trace_is_recorded(tmp_path: Path) -> None:
    import signal

    from tracekit import runner

    script = tmp_path / "s.py"
    script.write_text("def f():\n    pass\nfor _ in range(1000):\n    f()\n")
    out = rundir.prepare_output(tmp_path / "run", force=False)

    def phase(name: str) -> None:
        if name == "saving":  # Ctrl-C exactly while tracekit writes trace.json
            os.kill(os.getpid(), signal.SIGINT)

    result = runner.run(runner.RunConfig(target=str(script), args=(), out_dir=out), on_phase=phase)
    run = json.loads((out / "run.json").read_text())
    assert run["interrupted"] is True and run["interrupted_by"] == "SIGINT"
    assert result.interrupted and result.interrupt_signal == signal.SIGINT
    assert run["trace"]["status"] == "ok"  # the trace is kept either way
