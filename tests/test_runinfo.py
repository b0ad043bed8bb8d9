"""run.json as typed facts (tracekit/runinfo.py): the exact round trip, and a tampered run.json
(a field renamed, mistyped, of another schema) refused with one line naming the field, exit 2."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import SCENARIOS, run_tracekit
from tests.runinfo_records import output, proc, run_info
from tracekit.runinfo import OutputLine, RunInfo, RunInfoError


def assert_run_error(p: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit 2 (a bad run directory), one `Error: ...` line on stderr holding every fragment."""
    assert p.returncode == 2, (p.returncode, p.stdout[-2000:], p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def a_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run of a two-process script (its numbers depend on the root pid and the cores)."""
    out = tmp_path_factory.mktemp("runinfo") / "run"
    p = run_tracekit("profile", "-q", "-o", str(out), str(SCENARIOS / "process_count.py"), timeout=180)
    assert p.returncode == 0, p.stderr
    return out


@pytest.fixture
def run_copy(a_run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(a_run, dst)
    return dst


def _edit(d: Path, change) -> None:  # type: ignore[no-untyped-def]
    run = json.loads((d / "run.json").read_text())
    change(run)
    (d / "run.json").write_text(json.dumps(run))


def _rename(run: dict[str, object], *keys: str) -> None:
    for k in keys:
        run[f"{k}_renamed"] = run.pop(k)


def test_renamed_fields_are_an_error_naming_the_field_not_wrong_numbers(run_copy: Path) -> None:
    # the measured bug of issue 14: with `cores`, `interval_s` and `pid` renamed, `tracekit report` used
    # defaults (1 core, pid 0) and exited 0 with a wrong wall time, CPU and findings
    _edit(run_copy, lambda r: _rename(r, "cores", "interval_s", "pid"))
    before = {name: (run_copy / name).read_bytes() for name in ("stats.json", "report.html")}
    line = assert_run_error(run_tracekit("report", str(run_copy)), "field 'interval_s' is missing", "tracekit profile")
    assert line == (
        f"Error: {run_copy / 'run.json'}: field 'interval_s' is missing; rerun `tracekit profile` to recreate it"
    )
    # the derived files of the run are left as they were, not rebuilt from defaults
    assert {name: (run_copy / name).read_bytes() for name in before} == before


@pytest.mark.parametrize("key", ["cores", "interval_s", "pid"])
def test_each_renamed_field_is_named(run_copy: Path, key: str) -> None:
    _edit(run_copy, lambda r: _rename(r, key))
    assert_run_error(run_tracekit("report", str(run_copy)), f"field '{key}' is missing")


def test_an_older_schema_is_one_line_saying_rerun(run_copy: Path) -> None:
    # run directories of tracekit.run/1 (before run.json was typed) are not read: no migration guesses
    # the fields they lacked
    _edit(run_copy, lambda r: r.update(schema="tracekit.run/1"))
    assert_run_error(run_tracekit("report", str(run_copy)), "'tracekit.run/1', older than", "rerun `tracekit profile`")


def test_a_real_run_json_round_trips_exactly(a_run: Path) -> None:
    doc = json.loads((a_run / "run.json").read_text())
    info = RunInfo.from_json(doc)
    assert info.to_json() == doc
    assert RunInfo.from_json(json.loads(json.dumps(info.to_json()))) == info
    # the facts are typed all the way down: the oracle is the file itself
    assert info.pid == doc["pid"] and info.cores == doc["cores"] and info.interval_s == doc["interval_s"]
    assert set(info.processes) == {int(k) for k in doc["processes"]} and info.pid in info.processes
    assert all(isinstance(line, OutputLine) for line in info.output.lines)
    assert [line.text for line in info.output.lines] == [line[2] for line in doc["output"]["lines"]]


HAND_BUILT = run_info(
    processes={10: proc(("python", "a.py"), ppid=1, first=5, last=9), 11: proc((), ppid=None)},
    output=output((7, "stdout", "One"), (8, "stderr", "Two é"), total_lines=3),
    timeout_s=2.5,
    interrupted_by="SIGTERM",
    killed_escaped_pids=(12, 13),
    write_errors=("x: full",),
)


def test_a_hand_built_run_info_round_trips_exactly() -> None:
    doc = HAND_BUILT.to_json()
    assert RunInfo.from_json(json.loads(json.dumps(doc))) == HAND_BUILT
    assert list(doc)[:3] == ["schema", "target", "module"] and doc["schema"] == "tracekit.run/2"
    assert doc["processes"] == {
        "10": {"ppid": 1, "cmdline": ["python", "a.py"], "first_seen_ns": 5, "last_seen_ns": 9},
        "11": {"ppid": None, "cmdline": [], "first_seen_ns": 0, "last_seen_ns": 2_000_000_000},
    }
    assert doc["output"] == {
        "lines": [[7, "stdout", "One"], [8, "stderr", "Two é"]], "total_lines": 3, "total_bytes": 0,
        "cut_lines": 0, "truncated": True,
    }  # fmt: skip
    assert doc["trace"] == {
        "status": "ok", "detail": None, "enriched": True, "events": 5, "events_per_pid": {"10": 5},
        "overflow": False, "viztracer_version": "1.1.1", "kept_as": None, "capture": "traced",
        "stack_samples": None, "stack_interval_us": None,
    }  # fmt: skip
    assert doc["killed_escaped_pids"] == [12, 13] and doc["load_avg_before"] == [0.5, 0.25, 0.125]


def _broken(change) -> str:  # type: ignore[no-untyped-def]
    doc = json.loads(json.dumps(HAND_BUILT.to_json()))
    change(doc)
    with pytest.raises(RunInfoError) as exc:
        RunInfo.from_json(doc)
    return str(exc.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("cores"), "field 'cores' is missing"),
        (lambda d: d["trace"].pop("kept_as"), "field 'trace.kept_as' is missing"),
        (lambda d: d.update(cores="two"), "field 'cores' has the wrong type (expected an integer, got 'two')"),
        (lambda d: d.update(cores=True), "field 'cores' has the wrong type (expected an integer, got True)"),
        (lambda d: d.update(interval_s=None), "field 'interval_s' has the wrong type (expected a number, got None)"),
        (lambda d: d.update(status="done"), "field 'status' has the wrong type (expected 'running' or 'finished'"),
        (lambda d: d["output"]["lines"][1].pop(), "field 'output.lines[1]' has the wrong type (expected an array of 3"),
        (lambda d: d["output"]["lines"][0].__setitem__(1, "stdin"), "field 'output.lines[0][1]' has the wrong type"),
        (lambda d: d["processes"].update({"x": d["processes"]["10"]}), "field 'processes.x' is not a process id"),
        (lambda d: d["processes"]["10"].update(cmdline="python"), "field 'processes.10.cmdline' has the wrong type"),
        (lambda d: d.update(started_ns=2**63), "field 'started_ns' has the wrong type (expected an integer"),
        (lambda d: d.update(extra=1), "field 'extra' is not a field of tracekit.run/2"),
        (lambda d: d.update(schema="tracekit.run/1"), "field 'schema' is 'tracekit.run/1', not 'tracekit.run/2'"),
        (lambda d: d.pop("schema"), "not a tracekit run.json"),
        # a renamed field is reported as the missing one, a mistyped one before any missing one
        (lambda d: d.update(cores_x=d.pop("cores")), "field 'cores' is missing"),
        (lambda d: (d.pop("pid"), d.update(cores="2")), "field 'cores' has the wrong type"),
    ],
)
def test_a_wrong_field_is_named(change, message: str) -> None:  # type: ignore[no-untyped-def]
    assert message in _broken(change)
