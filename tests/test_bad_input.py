"""Bad input: each gives one line `Error: ...` on stderr, exit code 2, and never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, SCENARIOS, run_tracekit


def tk(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_tracekit(*args, timeout=120, cwd=cwd)


def assert_usage_error(p: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit 2, nothing but one `Error: ...` line on stderr, containing every fragment."""
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("Error: "), p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------------------------
# tracekit profile: the script


def test_missing_script(tmp_path: Path) -> None:
    assert_usage_error(tk("profile", str(tmp_path / "nope.py")), "not found")


def test_unreadable_script(tmp_path: Path) -> None:
    # a socket cannot be read even by root (chmod 000 would not stop root)
    path = tmp_path / "sock.py"
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(path))
        assert_usage_error(tk("profile", str(path)), "cannot read", "sock.py")
    finally:
        s.close()


def test_directory_as_script(tmp_path: Path) -> None:
    assert_usage_error(tk("profile", str(tmp_path)), "is a directory", "-m MODULE")


def test_binary_file_as_script(tmp_path: Path) -> None:
    path = tmp_path / "prog.py"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)))
    assert_usage_error(tk("profile", str(path)), "binary")


def test_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text("print('ok')\ndef f(:\n")
    assert_usage_error(tk("profile", str(path)), "bad.py:2", "syntax error")


def test_no_run_directory_is_left_by_a_refused_script(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text("def f(:\n")
    assert_usage_error(tk("profile", "-o", str(tmp_path / "run"), str(path)))
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------------------------
# tracekit profile: options and output directory


@pytest.mark.parametrize(
    ("opts", "fragment"),
    [
        (["--interval", "-1"], "--interval must be a number of seconds"),
        (["--interval", "0"], "--interval must be a number of seconds"),
        (["--interval", "inf"], "--interval must be a number of seconds"),
        (["--interval", "nan"], "--interval must be a number of seconds"),
        (["--timeout", "0"], "--timeout must be a positive number"),
        (["--timeout", "-5"], "--timeout must be a positive number"),
        (["--timeout", "nan"], "--timeout must be a positive number"),
        (["--timeout", "inf"], "--timeout must be a positive number"),
        (["--tracer-entries", "10"], "--tracer-entries must be 1,000 to"),
        (["--tracer-entries", "99999999999"], "--tracer-entries must be 1,000 to"),
    ],
)
def test_bad_option_values(opts: list[str], fragment: str) -> None:
    assert_usage_error(tk("profile", *opts, str(SCENARIOS / "sync_count.py")), fragment)


def test_option_of_the_wrong_type_is_a_usage_error() -> None:
    p = tk("profile", "--interval", "fast", str(SCENARIOS / "sync_count.py"))
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert "Invalid value for '--interval'" in p.stderr


def test_output_dir_under_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_usage_error(tk("profile", "-o", str(blocker / "run"), str(SCENARIOS / "sync_count.py")), "cannot write")


def test_output_is_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_usage_error(tk("profile", "-o", str(blocker), str(SCENARIOS / "sync_count.py")), "not a directory")


def test_default_output_root_unusable(tmp_path: Path) -> None:
    (tmp_path / "reports").write_text("a file where the reports directory should be")
    p = tk("profile", str(SCENARIOS / "sync_count.py"), cwd=tmp_path)
    assert_usage_error(p, "cannot create a run directory", "-o DIR")


@pytest.fixture(scope="module")
def a_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run directory (a fast script), copied by the tests that damage it."""
    out = tmp_path_factory.mktemp("good") / "run"
    script = out.parent / "quick.py"
    script.write_text("import time\ndef f():\n    time.sleep(0.05)\nf()\nprint('done')\n")
    p = tk("profile", "-q", "-o", str(out), str(script))
    assert p.returncode == 0, p.stderr
    return out


@pytest.fixture
def run_copy(a_run: Path, tmp_path: Path) -> Iterator[Path]:
    dst = tmp_path / "copy"
    shutil.copytree(a_run, dst)
    yield dst


def test_output_dir_that_holds_a_run_is_refused_without_force(run_copy: Path) -> None:
    before = (run_copy / "run.json").read_bytes()
    assert_usage_error(tk("profile", "-q", "-o", str(run_copy), str(SCENARIOS / "sync_count.py")), "--force")
    assert (run_copy / "run.json").read_bytes() == before  # untouched


def test_force_replaces_the_run(run_copy: Path, tmp_path: Path) -> None:
    script = tmp_path / "other.py"
    script.write_text("print('other')\n")
    p = tk("profile", "-q", "--force", "-o", str(run_copy), str(script))
    assert p.returncode == 0, p.stderr
    run = json.loads((run_copy / "run.json").read_text())
    assert run["target"] == str(script)
    assert [line[2] for line in run["output"]["lines"]] == ["other"]


# --------------------------------------------------------------------------------------------
# tracekit report / open / compare on things that are not (good) run directories


def test_report_on_a_missing_path(tmp_path: Path) -> None:
    assert_usage_error(tk("report", str(tmp_path / "nothing")), "not a run directory")


def test_report_on_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    assert_usage_error(tk("report", str(tmp_path)), "run.json is missing")


def test_open_on_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    p = tk("open", "--help")
    assert p.returncode == 0
    assert_usage_error(tk("open", str(tmp_path)))


def test_compare_on_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    assert_usage_error(tk("compare", str(tmp_path)))


def test_report_rebuilds_a_good_run(run_copy: Path) -> None:
    (run_copy / "stats.json").unlink()
    (run_copy / "report.html").unlink()
    p = tk("report", str(run_copy))
    assert p.returncode == 0, p.stderr
    assert (run_copy / "stats.json").is_file() and (run_copy / "report.html").is_file()


@pytest.mark.parametrize(
    ("damage", "fragments"),
    [
        (lambda d: (d / "trace.json").write_bytes((d / "trace.json").read_bytes()[:500]), ["trace.json is corrupt"]),
        (lambda d: (d / "trace.json").write_bytes(b""), ["trace.json is corrupt", "empty"]),
        (lambda d: (d / "trace.json").write_text('{"no": "events"}'), ["trace.json is corrupt", "traceEvents"]),
        (lambda d: (d / "samples.csv").unlink(), ["samples.csv is missing"]),
        (lambda d: (d / "samples.csv").write_text("t_ns,kind,pid\n1,p,2\n"), ["samples.csv lacks columns"]),
        (lambda d: (d / "samples.csv").write_text('garbage\x00\x01\n\n"unclosed'), ["samples.csv"]),
        (lambda d: (d / "run.json").write_text('{"schema": "tracekit.run/1"'), ["run.json is corrupt"]),
        (lambda d: (d / "run.json").write_text("[1, 2]"), ["not a tracekit run.json"]),
        (lambda d: _edit_run(d, lambda r: r.pop("exit_code")), ["field 'exit_code' is missing"]),
        (lambda d: _edit_run(d, lambda r: r.update(schema="tracekit.run/99")), ["tracekit.run/99", "upgrade tracekit"]),
    ],
    ids=[
        "truncated-trace",
        "empty-trace",
        "trace-without-events",
        "samples-missing",
        "samples-missing-columns",
        "samples-garbage",
        "run-json-truncated",
        "run-json-not-an-object",
        "run-json-missing-field",
        "newer-schema",
    ],
)
def test_report_on_a_damaged_run(run_copy: Path, damage, fragments: list[str]) -> None:  # type: ignore[no-untyped-def]
    damage(run_copy)
    assert_usage_error(tk("report", str(run_copy)), *fragments)


def _edit_run(d: Path, change) -> None:  # type: ignore[no-untyped-def]
    run = json.loads((d / "run.json").read_text())
    change(run)
    (d / "run.json").write_text(json.dumps(run))


def test_internal_error_is_one_line_with_the_traceback_kept(run_copy: Path) -> None:
    # a bug in the analysis (here: one planted in a real `tracekit report` process) is a tracekit bug
    # to report, not something to hide
    code = (
        "import sys, tracekit.analysis as a, tracekit.cli as c\n"
        "def boom(_inputs): raise RuntimeError('planted bug')\n"
        "a.analyse = boom\nsys.argv = ['tracekit', 'report', sys.argv[1]]\nc.main()\n"
    )
    p = subprocess.run([sys.executable, "-c", code, str(run_copy)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 70, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: internal error: RuntimeError: planted bug"), p.stderr
    assert "please report it" in lines[0] and str(run_copy / "error.log") in lines[0]
    assert (run_copy / "error.log").read_text().startswith("Traceback (most recent call last):")


@pytest.mark.parametrize(
    ("module", "attribute", "argv"),
    [
        ("tracekit.viewer", "resolve_trace", ["open", "--no-browser", "{run}"]),
        ("tracekit.timing", "resolve_targets", ["compare", "{script}"]),
        ("tracekit.timing", "collect", ["compare", "-o", "{tmp}/cmp", "{script}"]),
        ("tracekit.diff_inputs", "load_side", ["diff", "{run}", "{run}"]),
        ("tracekit.diff_inputs", "analyse_run", ["export", "{run}"]),
        ("tracekit.runner", "run", ["profile", "-o", "{tmp}/run", "{script}"]),
    ],
)
def test_every_command_reports_a_bug_in_one_line(
    run_copy: Path, tmp_path: Path, module: str, attribute: str, argv: list[str]
) -> None:
    # the one error context: a bug planted in a stage of each command is exit 70 and one line, never a traceback
    script = tmp_path / "ok.py"
    script.write_text("print('ok')\n")
    args = [a.format(run=run_copy, script=script, tmp=tmp_path) for a in argv]
    code = (
        f"import sys, importlib, tracekit.cli as c\nm = importlib.import_module({module!r})\n"
        f"def boom(*_a, **_k): raise RuntimeError('planted bug')\nm.{attribute} = boom\n"
        "sys.argv = ['tracekit', *sys.argv[1:]]\nc.main()\n"
    )
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert p.returncode == 70, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: internal error: RuntimeError: planted bug; please report"), (
        p.stderr
    )
    log = Path(lines[0].split("the traceback is in ")[1].rstrip(")"))
    assert log.read_text().startswith("Traceback (most recent call last):") and "planted bug" in log.read_text()
    if args[0] == "compare" and "-o" in args:
        assert log == tmp_path / "cmp" / "error.log"  # kept beside what the comparison wrote


WRONG_TYPES = [
    ("processes", [1, 2, 3]), ("processes", {"1": {"ppid": "x"}}), ("processes", {"1": {"cmdline": "python"}}),
    ("output", []), ("output", {"lines": [[1, "stdout"]]}), ("output", {"lines": [["t", "stdout", "x"]]}),
    ("output", {"total_lines": "many"}), ("trace", "ok"), ("trace", {"status": 3}),
    ("trace", {"status": "ok", "events_per_pid": {"1": "x"}}), ("samples", {"n": "x"}), ("exit_code", "0"),
    ("exit_code", 2**70), ("exit_code", True), ("started_ns", 1.5e300), ("started_ns", None), ("ended_ns", "end"),
    ("timed_out", "no"), ("interrupted", 0), ("cores", "two"), ("cores", None), ("target", 5), ("command", "python"),
    ("cwd", ["a"]), ("interval_s", "fast"), ("load_avg_before", "high"), ("wall_clock_offset_ns", [1]),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value"), WRONG_TYPES, ids=[f"{f}={v!r}"[:40] for f, v in WRONG_TYPES])
def test_report_on_a_run_json_with_a_mistyped_field(run_copy: Path, field: str, value: object) -> None:
    _edit_run(run_copy, lambda r: r.update({field: value}))
    assert_usage_error(tk("report", str(run_copy)), "wrong type", field)


def test_report_on_a_deeply_nested_run_json(run_copy: Path) -> None:
    (run_copy / "run.json").write_text("[" * 100_000 + "]" * 100_000)
    assert_usage_error(tk("report", str(run_copy)), "run.json is corrupt")


@pytest.mark.parametrize("value", ["99999999999999999999999", "inf", "-inf", "1e999"])
def test_report_on_samples_with_absurd_numbers(run_copy: Path, value: str) -> None:
    lines = (run_copy / "samples.csv").read_text().splitlines()
    head = lines[0].split(",")
    row = lines[1].split(",")
    row[head.index("t_ns" if value.isdigit() else "rss_bytes")] = value
    (run_copy / "samples.csv").write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    assert_usage_error(tk("report", str(run_copy)), "samples.csv")


def _npy_header(shape: tuple[int, ...]) -> bytes:
    header = repr({"descr": "<f8", "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def _tamper_cache(cache: Path, kind: str) -> None:
    """Rewrite the run's real events.npz (its meta still matches trace.json) with one column replaced."""
    import zipfile

    with zipfile.ZipFile(cache) as z:
        members = {m.filename: z.read(m) for m in z.infolist()}
    with zipfile.ZipFile(cache, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            if name != "start_us.npy":
                z.writestr(name, data)
            elif kind == "huge-header":  # asks numpy for 745 GiB in a file of a few bytes
                z.writestr(name, _npy_header((100_000_000_000,)))
            else:  # a zip bomb: ~1 MB that unpacks to 1.2 GB of zeros
                with z.open(name, "w", force_zip64=True) as fh:
                    fh.write(_npy_header((150_000_000,)))
                    zeros = bytes(2**24)
                    for _ in range(150_000_000 * 8 // len(zeros)):
                        fh.write(zeros)
                    fh.write(bytes(150_000_000 * 8 % len(zeros)))


@pytest.mark.parametrize("kind", ["huge-header", "zip-bomb"])
def test_a_crafted_events_cache_is_dropped_not_trusted(run_copy: Path, kind: str) -> None:
    assert (run_copy / "events.npz").is_file()
    _tamper_cache(run_copy / "events.npz", kind)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracekit", "report", str(run_copy)], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)  # this process's own peak memory
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert os.waitstatus_to_exitcode(status) == 0, stderr  # the cache was dropped and trace.json parsed again
    assert usage.ru_maxrss * 1024 < 500 * 2**20, f"report peaked at {usage.ru_maxrss // 1024} MiB"
    assert (run_copy / "stats.json").is_file()


def test_open_on_a_deeply_nested_trace(tmp_path: Path) -> None:
    trace = tmp_path / "trace.json"
    trace.write_text('{"traceEvents": [], "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert_usage_error(tk("open", "--no-browser", str(trace)), "nested too deeply")


def test_compare_on_a_tampered_run_directory(run_copy: Path, tmp_path: Path) -> None:
    _edit_run(run_copy, lambda r: r.update(processes=[1, 2, 3]))
    assert_usage_error(tk("compare", str(run_copy), str(run_copy), cwd=tmp_path), "wrong type", "processes")
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())  # no empty comparison


TAMPERED = [
    ({"runs": "x"}, "'runs' is not a list"),
    ({"runs": [1]}, "runs[0] has a field of the wrong type"),
    ({"runs": [{"name": 1}]}, "runs[0] lacks the field 'model'"),
    ({"reference": [], "runs": [{}]}, "runs[0] lacks the field 'name'"),
    ("deep", "unreadable"),
]


@pytest.mark.parametrize(("doc", "fragment"), TAMPERED, ids=["runs-str", "run-int", "no-model", "no-name", "deep"])
def test_compare_on_a_tampered_comparison(tmp_path: Path, doc: object, fragment: str) -> None:
    cmp = tmp_path / "cmp"
    cmp.mkdir()
    if doc == "deep":
        (cmp / "comparison.json").write_text("[" * 100_000 + "]" * 100_000)
    else:
        (cmp / "comparison.json").write_text(json.dumps({"schema": "tracekit.comparison/1", **doc}))  # type: ignore[dict-item]
    assert_usage_error(tk("compare", str(cmp), str(cmp), cwd=tmp_path), "comparison.json", fragment)
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())  # no empty comparison


def test_module_that_does_not_exist(tmp_path: Path) -> None:
    # -m is resolved by Python in the child: the run happens and records the failure honestly
    p = subprocess.run(
        [sys.executable, "-m", "tracekit", "profile", "-q", "-o", str(tmp_path / "run"), "-m", "no_such_module_xyz"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert p.returncode == 1, p.stderr  # the script's own exit code: python -m's for a missing module
    assert "│ status      │ exit code 1 " in p.stderr and "Traceback" not in p.stderr
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["exit_code"] == 1
    assert run["output"]["lines"][-1][1:] == ["stderr", "ImportError: No module named no_such_module_xyz"]
    # a run of well under a sampling interval: no CPU figure is claimed (it said "100% of a core busy")
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    (seq,) = [f["message"] for f in stats["findings"] if f["kind"] == "sequential"]
    assert "its CPU unknown: the sampler saw too little of its" in seq and "% of a core" not in seq


# --------------------------------------------------------------------------------------------
# tracekit writes only into directories it made: never over a user's files, never through a symlink


def _user_folder(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    folder = tmp_path / "mine"
    folder.mkdir()
    files = {"report.html": b"<p>my report</p>", "trace.json": b"{}", "samples.csv": b"a,b\n", "stats.json": b"[]"}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder, files


def _unchanged(folder: Path, files: dict[str, bytes]) -> None:
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files


def test_profile_refuses_a_users_folder(tmp_path: Path) -> None:
    folder, files = _user_folder(tmp_path)
    for opts in ([], ["--force"]):
        p = tk("profile", "-q", *opts, "-o", str(folder), str(SCENARIOS / "sync_count.py"))
        assert_usage_error(p, "not made by tracekit", "new or empty -o DIR")
        _unchanged(folder, files)


def test_profile_with_an_empty_output_refuses_the_current_directory(tmp_path: Path) -> None:
    folder, files = _user_folder(tmp_path)
    assert_usage_error(tk("profile", "-q", "-o", "", str(SCENARIOS / "sync_count.py"), cwd=folder), "not made by")
    _unchanged(folder, files)


def test_force_never_deletes_a_folder_with_someone_elses_run_json(tmp_path: Path) -> None:
    folder, files = _user_folder(tmp_path)
    (folder / "run.json").write_bytes(b'{"name": "my app run"}')
    files["run.json"] = b'{"name": "my app run"}'
    p = tk("profile", "-q", "--force", "-o", str(folder), str(SCENARIOS / "sync_count.py"))
    assert_usage_error(p, "not made by tracekit")
    _unchanged(folder, files)


def test_an_empty_existing_folder_is_used(tmp_path: Path) -> None:
    script = tmp_path / "quick.py"
    script.write_text("print('hi')\n")
    (tmp_path / "empty").mkdir()
    p = tk("profile", "-q", "-o", str(tmp_path / "empty"), str(script))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "empty" / "run.json").is_file() and (tmp_path / "empty" / ".tracekit").is_file()


def test_symlinks_planted_in_a_run_directory_are_not_followed(run_copy: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    for name in ("samples.csv", ".tracekit-write-test", ".trace.viztracer.json", "report.html"):
        (run_copy / name).unlink(missing_ok=True)
        (run_copy / name).symlink_to(victim)
    script = tmp_path / "quick.py"
    script.write_text("print('hi')\n")
    p = tk("profile", "-q", "--force", "-o", str(run_copy), str(script))
    assert p.returncode == 0, p.stderr
    assert victim.read_bytes() == b"precious"
    assert not (run_copy / "samples.csv").is_symlink() and (run_copy / "samples.csv").stat().st_size > 0


def test_a_killed_runs_leftovers_are_not_reused(run_copy: Path, tmp_path: Path) -> None:
    (run_copy / ".child-signal").write_text("SIGTERM\n")  # as a run SIGTERMed and then SIGKILLed leaves it
    old_trace = (run_copy / "trace.json").read_bytes()
    (run_copy / ".trace.viztracer.json").write_bytes(old_trace)
    script = tmp_path / "quick.py"
    script.write_text("import os\nprint('hi')\nos._exit(0)\n")  # leaves no trace of its own
    p = tk("profile", "-q", "--force", "-o", str(run_copy), str(script))
    assert p.returncode == 0, p.stderr
    run = json.loads((run_copy / "run.json").read_text())
    assert run["exit_code"] == 0 and run["exit_note"] is None
    assert run["trace"]["status"] == "missing"  # not the old trace passed off as this run's
    assert not (run_copy / "trace.json").exists()


def test_compare_refuses_a_users_folder(tmp_path: Path) -> None:
    folder, files = _user_folder(tmp_path)
    p = tk("compare", "--repeat", "1", "--warmup", "0", "-o", str(folder), str(SCENARIOS / "sync_count.py"))
    assert_usage_error(p, "not made by tracekit")
    _unchanged(folder, files)


def test_module_name_cannot_escape_the_reports_folder(tmp_path: Path) -> None:
    p = tk("profile", "-q", "-m", "x./abs", cwd=tmp_path)
    assert p.returncode == 1, p.stderr  # no such module: python -m's exit code, passed through
    made = [d for d in (tmp_path / "reports").iterdir()]
    assert len(made) == 1 and made[0].name.startswith("abs-")
    last = json.loads((made[0] / "run.json").read_text())["output"]["lines"][-1][2]
    assert last == (
        "ImportError: Error while finding module specification for 'x./abs' (ModuleNotFoundError: No module named 'x')"
    )


def _limit_file_size(limit: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # writes beyond it fail (EFBIG), as on a full disk


def test_report_into_a_directory_it_cannot_write_is_one_error_line(run_copy: Path) -> None:
    (run_copy / "stats.json").unlink()
    (run_copy / "report.html").unlink()
    (run_copy / "events.npz").unlink(missing_ok=True)
    p = subprocess.run(
        [sys.executable, "-m", "tracekit", "report", str(run_copy)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, preexec_fn=lambda: _limit_file_size(1_000),
    )  # fmt: skip
    assert p.returncode == 74, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot write stats.json and report.html"), p.stderr


def test_a_script_path_that_is_not_utf8_is_refused_not_crashed(tmp_path: Path) -> None:
    folder = os.path.join(os.fsencode(tmp_path), b"bad\xff")
    os.mkdir(folder)
    script = os.path.join(folder, b"s.py")
    with open(script, "w") as fh:
        fh.write("print('hi')\n")
    p = subprocess.run(
        [sys.executable, "-m", "tracekit", "profile", "-q", "-o", str(tmp_path / "run"), os.fsdecode(script)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert_usage_error(p, "not valid UTF-8", "--sample-only")  # viztracer 1.1.1 segfaults (exit 139) on it
    p = subprocess.run(
        [sys.executable, "-m", "tracekit", "profile", "-q", "--sample-only", "-o", str(tmp_path / "r2"),
         os.fsdecode(script)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr


ESCAPES = "\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x1b[2J"  # window title, clipboard (OSC 52), clear screen


def test_escapes_in_a_tampered_run_json_never_reach_the_terminal(run_copy: Path) -> None:
    def plant(r: dict) -> None:  # type: ignore[type-arg]
        r["target"] += ESCAPES
        r["cwd"] += ESCAPES
        r["command"] = [c + ESCAPES for c in r["command"]]
        for info in r["processes"].values():
            info["cmdline"] = [c + ESCAPES for c in info.get("cmdline") or []]

    _edit_run(run_copy, plant)
    for args in (
        ["report", str(run_copy)],
        ["compare", str(run_copy), str(run_copy), "-o", str(run_copy.parent / "c")],
    ):
        p = tk(*args)
        assert p.returncode == 0, p.stderr
        shown = p.stdout + p.stderr
        assert "quick.py]0;pwned" in shown or args[0] == "compare", shown  # report names the script...
        assert "\x1b" not in shown and "\x07" not in shown, repr(shown)  # ...without the escapes


def test_report_on_a_read_only_run_directory(a_run: Path) -> None:
    # a real read-only directory: as root (who may write anywhere) the report runs as nobody
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="tk-ro-"))
    try:
        run = root / "run"
        shutil.copytree(a_run, run)
        for name in ("stats.json", "report.html", "events.npz"):
            (run / name).unlink(missing_ok=True)
        before = {p.name: p.read_bytes() for p in run.iterdir()}
        root.chmod(0o755)
        run.chmod(0o555)
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
        p = subprocess.run(
            [*nobody, sys.executable, "-m", "tracekit", "report", str(run)], capture_output=True, text=True,
            timeout=60, cwd=ROOT,
        )  # fmt: skip
        assert p.returncode == 74, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: cannot write stats.json and report.html"), p.stderr
        assert "make the directory writable" in lines[0]
        assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # nothing changed
    finally:
        run.chmod(0o755)
        shutil.rmtree(root)


def test_escapes_in_a_tampered_comparison_json_never_reach_the_terminal(tmp_path: Path) -> None:
    script = tmp_path / "quick.py"
    script.write_text("print('hi')\n")
    p = tk("compare", "--repeat", "1", "--warmup", "0", "-o", str(tmp_path / "c"), str(script))
    assert p.returncode == 0, p.stderr
    doc = json.loads((tmp_path / "c" / "comparison.json").read_text())
    for r in doc["runs"]:
        r["name"] += ESCAPES
        r["model"] += ESCAPES
        r["target"] += ESCAPES
        for f in r["findings"]:
            f["message"] += ESCAPES
    (tmp_path / "c" / "comparison.json").write_text(json.dumps(doc))
    p = tk("compare", str(tmp_path / "c"), "-o", str(tmp_path / "c2"))
    assert p.returncode == 0, p.stderr
    shown = p.stdout + p.stderr
    assert "]0;pwned" in shown  # the stored names are shown...
    assert "\x1b" not in shown and "\x07" not in shown, repr(shown)  # ...without their escapes


def test_compare_never_writes_through_a_symlink_planted_in_its_directory(tmp_path: Path) -> None:
    script = tmp_path / "quick.py"
    script.write_text("print('hi')\n")
    cmp = tmp_path / "c"
    assert tk("compare", "--repeat", "1", "--warmup", "0", "-o", str(cmp), str(script)).returncode == 0
    victim = tmp_path / "victim"
    victim.mkdir()
    shutil.rmtree(cmp / "runs")
    (cmp / "runs").symlink_to(victim)  # runs/ -> a folder of the user's
    p = tk("compare", "--repeat", "1", "--warmup", "0", "--force", "-o", str(cmp), str(script))
    assert p.returncode == 0, p.stderr
    assert list(victim.iterdir()) == []  # nothing was written into it
    assert not (cmp / "runs").is_symlink() and (cmp / "runs" / "quick" / "run.json").is_file()
