"""Exports of the call tree, exact on hand-built inputs; speedscope output validated against speedscope's
own file-format schema (tests/data/speedscope-file-format-schema.json, from the speedscope 1.25.0 npm
package, MIT: tests/data/speedscope-LICENSE)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pandas as pd

from tests.test_analysis_origin import events
from tests.test_calltree import EV, NAMES, TRACKS
from tracekit.analysis.calltree import build_call_tree
from tracekit.export import collapsed, speedscope

SCHEMA = json.loads((Path(__file__).parent / "data" / "speedscope-file-format-schema.json").read_text())


def test_collapsed_stacks_exact() -> None:
    assert collapsed(build_call_tree(EV, TRACKS, NAMES)) == (
        "MainProcess;thread MainThread;main (/p/app.py:1) 450\n"
        "MainProcess;thread pool-1;work (/p/app.py:5) 500\n"
        "work-0;thread MainThread;work (/p/app.py:5) 800\n"
        "MainProcess;thread MainThread;main (/p/app.py:1);work (/p/app.py:5) 400\n"
        "MainProcess;thread MainThread;main (/p/app.py:1);builtins.print 50\n"
        "MainProcess;thread MainThread;main (/p/app.py:1);work (/p/app.py:5);work (/p/app.py:5) 100\n"
    )
    # the weights add up to the root's total: every µs is in exactly one line
    assert (
        sum(int(line.rsplit(" ", 1)[1]) for line in collapsed(build_call_tree(EV, TRACKS, NAMES)).splitlines()) == 2300
    )


def test_collapsed_names_cannot_break_the_format() -> None:
    ev = events([(1, 1, 0, 10, "evil;name\nnext (/p/a.py:1)", -1)])
    tracks = pd.DataFrame([(1, 1, "t;1\r", "thread")], columns=["pid", "tid", "name", "kind"])
    assert collapsed(build_call_tree(ev, tracks, {1: "p"})) == "p;thread t 1 ;evil name next (/p/a.py:1) 10\n"


def test_speedscope_exact_and_valid() -> None:
    doc = speedscope(build_call_tree(EV, TRACKS, NAMES), "app.py", "tracekit test")
    jsonschema.validate(doc, SCHEMA)
    assert doc["shared"]["frames"] == [
        {"name": "all"}, {"name": "MainProcess"}, {"name": "work-0"}, {"name": "thread MainThread"},
        {"name": "thread pool-1"}, {"name": "main", "file": "/p/app.py", "line": 1},
        {"name": "work", "file": "/p/app.py", "line": 5}, {"name": "builtins.print"},
    ]  # fmt: skip
    profiles = [(p["name"], p["samples"], p["weights"], p["endValue"]) for p in doc["profiles"]]
    assert profiles == [
        ("MainProcess / thread MainThread", [[5], [5, 6], [5, 7], [5, 6, 6]], [450.0, 400.0, 50.0, 100.0], 1000.0),
        ("MainProcess / thread pool-1", [[6]], [500.0], 500.0),
        ("work-0 / thread MainThread", [[6]], [800.0], 800.0),
    ]
    assert {p["unit"] for p in doc["profiles"]} == {"microseconds"} and doc["activeProfileIndex"] == 0


def test_speedscope_of_a_merged_tree_is_one_profile() -> None:
    doc = speedscope(build_call_tree(EV, TRACKS, NAMES, merged=True), "app.py", "tracekit test")
    jsonschema.validate(doc, SCHEMA)
    assert [(p["name"], sum(p["weights"])) for p in doc["profiles"]] == [("app.py", 2300.0)]


def test_schema_rejects_what_speedscope_would_not_open() -> None:
    # the validator bites: a profile without weights, or a frame without a name, is refused
    doc = speedscope(build_call_tree(EV, TRACKS, NAMES), "app.py", "tracekit test")
    del doc["profiles"][0]["weights"]
    try:
        jsonschema.validate(doc, SCHEMA)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("a profile without weights passed the schema")


def test_export_cli_on_a_real_run(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import profile_once, run_tracekit

    # async_blocking: each count() step lasts 1 s, so the default capture (slices >= 100 µs) keeps it
    run = profile_once(tmp_path_factory, "async_blocking", "export")
    proc = run_tracekit("export", str(run))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((run / "profile.speedscope.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    tasks = [p["name"] for p in doc["profiles"] if " / task " in p["name"]]
    assert len(tasks) >= 3  # the three count() tasks, each its own profile
    proc = run_tracekit("export", str(run), "--format", "collapsed", "-o", "-")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert all(line.rsplit(" ", 1)[1].isdigit() and line.count(";") >= 2 for line in lines)
    assert sum(1 for line in lines if ";count (" in line and "async_blocking.py" in line) >= 3
    bad = run_tracekit("export", str(run), "--format", "svg")
    assert bad.returncode == 2 and bad.stderr.startswith("Error: --format must be speedscope or collapsed")


def test_export_never_overwrites_a_users_file(tmp_path_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import profile_once, run_tracekit

    run = profile_once(tmp_path_factory, "sync_count", "export-safe")
    mine = tmp_path / "notes.txt"
    mine.write_text("my notes")
    proc = run_tracekit("export", str(run), "-o", str(mine))
    assert proc.returncode == 2 and "exists; pass --force" in proc.stderr and mine.read_text() == "my notes"
    proc = run_tracekit("export", str(run), "-o", str(mine), "--force", "--format", "collapsed")
    assert proc.returncode == 0 and ";" in mine.read_text()
