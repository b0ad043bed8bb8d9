"""`tracekit report RUN_DIR`: rebuilds stats.json and report.html from the raw files; a missing or
corrupt file is a one-line error naming it, exit 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import profile_once, read_json, run_tracekit


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return profile_once(tmp_path_factory, "async_count", "report")


def copy(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def test_rebuilds_stats_and_report_deterministically(run_dir: Path, tmp_path: Path) -> None:
    d = copy(run_dir, tmp_path)
    (d / "report.html").unlink()
    (d / "stats.json").unlink()
    proc = run_tracekit("report", str(d))
    assert proc.returncode == 0, proc.stderr
    first = (d / "report.html").read_text()
    assert read_json(d / "stats.json") == read_json(run_dir / "stats.json")
    assert run_tracekit("report", str(d)).returncode == 0
    assert (d / "report.html").read_text() == first  # re-rendering is deterministic
    assert 'http-equiv="Content-Security-Policy"' in first and len(first.encode()) < 1_000_000


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("run.json", None),
        ("run.json", "{truncated"),
        ("samples.csv", None),
        ("samples.csv", "not,a\nsamples,file\n"),
        ("trace.json", '{"traceEvents": [{"ph": "X"'),
    ],
)
def test_missing_or_corrupt_file_is_one_line_exit_2(
    run_dir: Path, tmp_path: Path, name: str, damage: str | None
) -> None:
    d = copy(run_dir, tmp_path)
    if damage is None:
        (d / name).unlink()
    else:
        (d / name).write_text(damage)
    proc = run_tracekit("report", str(d))
    assert proc.returncode == 2
    assert proc.stderr.startswith("Error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert str(d / name) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_not_a_directory(tmp_path: Path) -> None:
    proc = run_tracekit("report", str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert proc.stderr == (
        f"Error: {tmp_path / 'nope'} is not a run directory; pass a directory written by `tracekit profile`\n"
    )
