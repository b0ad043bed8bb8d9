"""Own code vs stdlib vs packages: exact classes on hand-built names, files and environments."""

from __future__ import annotations

import math
import sysconfig
from pathlib import Path

import pandas as pd
import pytest

from tracekit.analysis.functions import calls_out, functions_table, own_first, packages_table
from tracekit.analysis.origin import Origin, Origins, program_roots, site_distributions

SITE = "/proj/.venv/lib/python3.11/site-packages"
ORIGINS = Origins(
    roots=("/proj/app", "/proj"),
    stdlib_prefixes=("/usr/lib/python3.11/",),
    stdlib_modules=frozenset({"asyncio", "_asyncio", "time", "json", "_json", "_thread"}),
    site_dists=lambda site: {"aiohttp": "aiohttp", "yaml": "PyYAML"} if site == SITE else {},
    module_dists=lambda: {"_cffi_backend": "cffi", "black": "black"},
)


@pytest.mark.parametrize(
    ("function", "file", "expected"),
    [
        ("main", "/proj/app/main.py", Origin("own", "")),
        ("helper", "/proj/lib/helper.py", Origin("own", "")),  # under the current directory
        ("ClientSession.get", f"{SITE}/aiohttp/client.py", Origin("package", "aiohttp")),
        ("load", f"{SITE}/yaml/__init__.py", Origin("package", "PyYAML")),  # distribution, not module name
        ("fmt", f"{SITE}/black/__init__.py", Origin("package", "black")),  # the analysing env's metadata
        ("x", f"{SITE}/nometa.py", Origin("package", "nometa")),  # no metadata at all: the module name
        ("run", "/usr/lib/python3.11/asyncio/runners.py", Origin("stdlib", "asyncio")),
        ("dumps", "/opt/py/lib/python3.12/json/__init__.py", Origin("stdlib", "json")),  # another Python
        ("_call", "<frozen importlib._bootstrap>", Origin("stdlib", "importlib")),
        ("<lambda>", "<string>", Origin("unknown", "")),
        ("f", "/elsewhere/x.py", Origin("unknown", "")),
        ("_asyncio.Task.result", "", Origin("stdlib", "asyncio")),  # C accelerator with its module
        ("_thread.get_ident", "", Origin("stdlib", "_thread")),  # no public "thread" module
        ("time.sleep", "", Origin("stdlib", "time")),
        ("builtins.exec", "", Origin("stdlib", "builtins")),
        ("str.join", "", Origin("stdlib", "builtins")),
        ("_cffi_backend.new", "", Origin("package", "cffi")),
        ("_GatheringFuture.done", "", Origin("unknown", "")),  # a C method named without its module
    ],
)
def test_origin_of_function(function: str, file: str, expected: Origin) -> None:
    assert ORIGINS.of(function, file) == expected


def test_a_virtualenv_inside_the_project_is_not_own_code() -> None:
    o = Origins(roots=("/proj",), stdlib_prefixes=(), site_dists=lambda s: {}, module_dists=lambda: {})
    assert o.of("f", "/proj/.venv/lib/python3.11/site-packages/rich/x.py") == Origin("package", "rich")
    # nor is a pyenv under a home directory the program ran from
    assert o.of("f", "/proj/.pyenv/versions/3.11.7/lib/python3.11/enum.py") == Origin("stdlib", "enum")


def test_program_roots() -> None:
    assert program_roots("/home/u/proj", "scripts/../bin/run.py", False) == ("/home/u/proj/bin", "/home/u/proj")
    assert program_roots("/home/u/proj", "/abs/tool.py", False) == ("/abs", "/home/u/proj")
    assert program_roots("/home/u/proj", "run.py", False) == ("/home/u/proj",)
    assert program_roots("/home/u/proj", "pkg.mod", True) == ("/home/u/proj",)


def test_site_distributions_reads_this_environments_metadata() -> None:
    import markupsafe

    site = str(Path(markupsafe.__file__).parent.parent)
    dists = site_distributions(site)
    assert dists["markupsafe"] == "MarkupSafe"  # distribution name, not the import name
    assert dists["jinja2"] == "Jinja2" or dists["jinja2"] == "jinja2"
    real = Origins(roots=("/nowhere",))
    assert real.of("escape", f"{site}/markupsafe/__init__.py").origin == "package"
    assert real.of("dumps", sysconfig.get_paths()["stdlib"] + "/json/__init__.py") == Origin("stdlib", "json")


def test_installed_distributions_agree_with_importlib_metadata() -> None:
    # the oracle: the library's own packages_distributions, for every module it names
    import importlib.metadata as md

    from tracekit.analysis.origin import installed_distributions

    # (3.13's also names "__pycache__", a folder in black's RECORD, which no module is imported from)
    ref = {top: names[0] for top, names in md.packages_distributions().items() if names and top != "__pycache__"}
    got = installed_distributions()
    assert len(ref) > 20 and {top: got.get(top) for top in ref} == ref


def test_site_distributions_of_a_hand_built_site(tmp_path: Path) -> None:
    info = tmp_path / "fancy_pkg-1.0.dist-info"
    info.mkdir()
    # no top_level.txt: the names come from RECORD; the Name header, not a "Name:" line of the description
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: Fancy-Pkg\nVersion: 1.0\n\nName: not-this\n")
    (info / "RECORD").write_text(
        "fancy/__init__.py,sha256=x,10\nfancy/core.py,,\n_fancy_c.cpython-311-x86_64-linux-gnu.so,,\n"
        "solo.py,,\n../../bin/fancy,,\nfancy_pkg-1.0.dist-info/RECORD,,\n__pycache__/solo.cpython-311.pyc,,\n"
    )
    assert site_distributions(str(tmp_path)) == {"fancy": "Fancy-Pkg", "_fancy_c": "Fancy-Pkg", "solo": "Fancy-Pkg"}
    other = tmp_path / "other"
    (other / "plain-2.0.dist-info").mkdir(parents=True)
    (other / "plain-2.0.dist-info" / "METADATA").write_text("Name: plain\n")
    (other / "plain-2.0.dist-info" / "top_level.txt").write_text("plain\nplain_extra\n")
    assert site_distributions(str(other)) == {"plain": "plain", "plain_extra": "plain"}


def events(rows: list[tuple[int, int, float, float, str, int]]) -> pd.DataFrame:
    """(pid, tid, start_us, dur_us, name, parent) → an Events frame with self_us and depth."""
    df = pd.DataFrame(rows, columns=["pid", "tid", "start_us", "dur_us", "name", "parent"])
    df["end_us"] = df["start_us"] + df["dur_us"]
    child = df[df["parent"] >= 0].groupby("parent")["dur_us"].sum()
    df["self_us"] = df["dur_us"] - df.index.map(child).fillna(0.0)
    depth = []
    for p in df["parent"]:
        depth.append(0 if p < 0 else depth[p] + 1)
    df["depth"] = depth
    return df


SAMPLE = events(
    [
        (1, 1, 0, 1000, "main (/proj/app/main.py:1)", -1),
        (1, 1, 10, 600, f"ClientSession.get ({SITE}/aiohttp/client.py:10)", 0),
        (1, 1, 20, 500, "run (/usr/lib/python3.11/asyncio/runners.py:5)", 1),
        (1, 1, 30, 100, "time.sleep", 2),
        (1, 1, 700, 200, "parse (/proj/app/parse.py:3)", 0),
        (1, 1, 710, 150, "time.sleep", 4),
    ]
)


def test_functions_frame_has_origin_and_package() -> None:
    f = functions_table(SAMPLE, ORIGINS).set_index("function")
    assert f["origin"].to_dict() == {
        "main": "own", "run": "stdlib", "ClientSession.get": "package", "parse": "own", "time.sleep": "stdlib",
    }  # fmt: skip
    assert f.loc["ClientSession.get", "package"] == "aiohttp" and f.loc["run", "package"] == "asyncio"
    # own code first (by total time), then what it calls directly (by the time in those calls), then the rest
    assert own_first(functions_table(SAMPLE, ORIGINS))["function"].tolist() == [
        "main", "parse", "ClientSession.get", "time.sleep", "run",
    ]  # fmt: skip


def test_cpu_share_is_the_cpu_part_of_a_functions_time() -> None:
    ev = events(
        [
            (1, 1, 0, 1_000_000, "main (/proj/app/main.py:1)", -1),
            (1, 1, 0, 400_000, "time.sleep", 0),
            (1, 1, 500_000, 400_000, "time.sleep", 0),
            (1, 1, 950_000, 0, "tick (/proj/app/t.py:1)", 0),
        ]
    )
    ev["cpu_s"] = [0.6, 0.004, float("nan"), 0.0]  # the sampler saw the thread during the first sleep only
    f = functions_table(ev, ORIGINS).set_index("function")
    assert f.loc["main", "cpu_share"] == pytest.approx(0.6)  # 0.6 s of CPU in 1.0 s
    assert f.loc["time.sleep", "cpu_share"] == pytest.approx(0.005)  # 0.004 s in 0.8 s (the unsampled call adds 0)
    assert math.isnan(f.loc["tick", "cpu_share"])  # no time to share: unknown, not 0 or 1
    ev["cpu_s"] = float("nan")
    assert functions_table(ev, ORIGINS)["cpu_share"].isna().all()  # never sampled: unknown


def test_what_your_code_calls_directly() -> None:
    f = functions_table(SAMPLE, ORIGINS).set_index("function")
    # main → ClientSession.get (600 µs); parse → time.sleep (150 µs; the other sleep is called by asyncio's run)
    assert f["from_own_calls"].to_dict() == {
        "main": 0, "ClientSession.get": 1, "run": 0, "parse": 0, "time.sleep": 1,
    }  # fmt: skip
    assert round(f.loc["ClientSession.get", "from_own_s"] * 1e6, 3) == 600.0
    assert round(f.loc["time.sleep", "from_own_s"] * 1e6, 3) == 150.0
    assert f.loc["time.sleep", "total_s"] * 1e6 == pytest.approx(250.0)  # all its calls, from anywhere
    callers = f["own_caller"].to_dict()
    assert (callers["ClientSession.get"], callers["time.sleep"], callers["run"], callers["main"]) == (
        "main",
        "parse",
        "",
        "",
    )
    assert calls_out(functions_table(SAMPLE, ORIGINS))["function"].tolist() == ["ClientSession.get", "time.sleep"]


def test_a_direct_call_nested_in_itself_through_a_callback_counts_once() -> None:
    # main → lib.walk (800 µs) → visit (own callback) → lib.walk (300 µs, a direct call again, nested);
    # main → json.dumps twice (100 µs + 50 µs); one more json.dumps from inside lib.walk is not direct
    ev = events(
        [
            (1, 1, 0, 2000, "main (/proj/app/main.py:1)", -1),
            (1, 1, 10, 800, f"walk ({SITE}/lib/walk.py:1)", 0),
            (1, 1, 20, 400, "visit (/proj/app/main.py:9)", 1),
            (1, 1, 30, 300, f"walk ({SITE}/lib/walk.py:1)", 2),
            (1, 1, 500, 200, "json.dumps", 1),
            (1, 1, 900, 100, "json.dumps", 0),
            (1, 1, 1100, 50, "json.dumps", 0),
        ]
    )
    f = functions_table(ev, ORIGINS).set_index("function")
    assert f.loc["walk", "from_own_calls"] == 2 and round(f.loc["walk", "from_own_s"] * 1e6, 3) == 800.0
    assert f.loc["walk", "own_caller"] == "main"  # main's call holds 800 µs, visit's 300
    assert f.loc["json.dumps", "from_own_calls"] == 2 and round(f.loc["json.dumps", "from_own_s"] * 1e6, 3) == 150.0
    assert f.loc["json.dumps", "calls"] == 3
    assert f.loc["main", "from_own_calls"] == 0 and f.loc["visit", "own_caller"] == ""


def test_without_roots_nothing_is_own() -> None:
    f = functions_table(SAMPLE, Origins(roots=(), stdlib_prefixes=("/usr/lib/python3.11/",)))
    assert set(f.loc[f["function"].isin(["main", "parse"]), "origin"]) == {"unknown"}


def test_packages_table_sums_self_time_per_package() -> None:
    p = packages_table(functions_table(SAMPLE, ORIGINS))
    rows = [
        (r.origin, r.package, r.functions, r.calls, round(r.self_s * 1e6, 3), r.top_function) for r in p.itertuples()
    ]
    # own: main 1000-600-200 = 200 µs, parse 200-150 = 50; aiohttp 600-500 = 100; asyncio 500-100 = 400;
    # time.sleep 100 + 150 = 250 (stdlib rows by self time)
    assert rows == [
        ("own", "", 2, 2, 250.0, "main"),
        ("package", "aiohttp", 1, 1, 100.0, "ClientSession.get"),
        ("stdlib", "asyncio", 1, 1, 400.0, "run"),
        ("stdlib", "time", 1, 2, 250.0, "time.sleep"),
    ]


def test_a_module_run_owns_its_package_and_a_stdlib_copy_stays_stdlib() -> None:
    o = Origins(
        roots=("/data",), stdlib_prefixes=("/usr/lib/python3.11/",), stdlib_modules=frozenset({"asyncio", "types"}),
        site_dists=lambda s: {"black": "black"}, module_dists=lambda: {"black": "black"}, own_modules=("black",),
        stdlib_has=lambda rel: rel in {"asyncio/tasks.py", "types.py"},
    )  # fmt: skip
    assert o.of("format_file", f"{SITE}/black/__init__.py") == Origin("own", "")
    assert o.of("black.format_file_in_place", "") == Origin("own", "")  # mypyc-compiled: a C function
    # `python -m black` from /data imported /data/asyncio (the copy it formats) instead of the stdlib's
    assert o.of("Task.__step", "/data/asyncio/tasks.py") == Origin("stdlib", "asyncio")
    assert o.of("helper", "/data/asyncio/mine.py") == Origin("own", "")  # not a stdlib file: the user's
    assert o.of("f", "/data/types.py") == Origin("stdlib", "types")


def test_program_origins() -> None:
    from tracekit.analysis.origin import program_origins

    o = program_origins("/data", "black", True)
    assert o.roots == ("/data",) and o.own_modules == ("black",)
    assert program_origins("/data", "run.py", False).own_modules == ()
