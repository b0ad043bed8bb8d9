"""tracekit/diff.py on hand-built sides: exact verdicts, p-values, matched functions and units."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from tests.test_analysis_origin import events
from tracekit.analysis.calltree import build_call_tree
from tracekit.analysis.functions import FUNCTION_COLUMNS
from tracekit.compare import describe
from tracekit.diff import (
    Side,
    compare_values,
    delta_tree,
    diff,
    file_key,
    mann_whitney_p,
    speed_summary,
    wall_gate,
)
from tracekit.render.diff_terminal import metric_row

UNIT_COLS = ["kind", "name", "pid", "tid", "role", "start_s", "wall_s", "cpu_s"]


def functions(rows: list[tuple[str, str, str, float, float, int]]) -> pd.DataFrame:
    """(function, file, origin, total_s, self_s, calls) → a Functions frame."""
    df = pd.DataFrame(rows, columns=["function", "file", "origin", "total_s", "self_s", "calls"])
    df["name"] = [f"{f} ({fl}:1)" if fl else f for f, fl in zip(df["function"], df["file"], strict=True)]
    for col in FUNCTION_COLUMNS:
        if col not in df:
            df[col] = 0
    return df[FUNCTION_COLUMNS]


def side(label: str, walls: list[float], fn: pd.DataFrame, units: list[tuple], findings=(), root="/a", ev=None):  # type: ignore[no-untyped-def,type-arg]
    ev = ev if ev is not None else events([(1, 1, 0, 10, "main (/a/app.py:1)", -1)])
    tree = build_call_tree(ev, pd.DataFrame(columns=["pid", "tid", "name", "kind"]), {}, merged=True)
    return Side(
        label=label, source=f"/runs/{label}", kind="comparison" if len(walls) > 1 else "run",
        wall_s=describe(walls), cpu_s=describe([w * 0.9 for w in walls]), parallelism=describe([0.9] * len(walls)),
        concurrency_peak=1, concurrency_mean=1.0, findings=tuple(findings), functions=fn,
        units=pd.DataFrame(units, columns=UNIT_COLS), tree=tree, roots=(root,), script=f"{root}/app.py",
    )  # fmt: skip


def test_mann_whitney_exact_p() -> None:
    assert mann_whitney_p((1, 2, 3), (4, 5, 6)) == pytest.approx(0.1)  # 2 / C(6, 3)
    assert mann_whitney_p((1, 2, 3, 4, 5), (6, 7, 8, 9, 10)) == pytest.approx(2 / 252)
    assert mann_whitney_p((1, 2, 3, 4, 6), (5, 7, 8, 9, 10)) == pytest.approx(4 / 252)  # one swapped pair
    assert mann_whitney_p((6, 7, 8, 9, 10), (1, 2, 3, 4, 5)) == pytest.approx(2 / 252)  # either direction
    assert mann_whitney_p((1, 2, 3), (1, 2, 3)) == 1.0


def test_verdicts_need_repeats_and_separation() -> None:
    a, fast, mixed = (
        describe([1.0, 1.1, 1.05, 0.98, 1.02]),
        describe([0.5, 0.55, 0.6, 0.52, 0.58]),
        describe([0.9, 1.2, 1.0, 1.06, 0.95]),
    )
    m = compare_values("wall_s", a, fast)
    assert (m.verdict, round(m.p or 0, 4), round(m.delta, 3)) == ("lower", round(2 / 252, 4), -0.47)
    assert m.noise_floor == pytest.approx(2 * 1.4826 * 0.03 / 0.55)  # the fast side's MAD / median is the larger
    assert compare_values("wall_s", a, mixed).verdict == "no change beyond noise"
    assert compare_values("wall_s", describe([1.0]), describe([0.5])).verdict == "lower?"
    assert compare_values("wall_s", describe([1.0]), describe([0.5])).p is None
    three = compare_values("wall_s", describe([1.0, 1.1, 1.2]), describe([0.5, 0.6, 0.7]))
    assert three.verdict == "no change beyond noise" and three.p == pytest.approx(0.1)  # 3 vs 3 can't reach 0.05
    peak = compare_values("concurrency_peak", describe([1]), describe([3]), exact=True)
    assert peak.verdict == "higher" and metric_row(peak)[-1] == "exact (structure)"


@pytest.mark.parametrize(
    ("file", "key"),
    [
        ("/a/app.py", "<script>"),
        ("/a/lib/util.py", "lib/util.py"),
        ("/venv/lib/python3.11/site-packages/aiohttp/client.py", "aiohttp/client.py"),
        ("/usr/lib/python3.12/asyncio/runners.py", "asyncio/runners.py"),
        ("<frozen os>", "<frozen os>"),
        ("", ""),
    ],
)
def test_file_key(file: str, key: str) -> None:
    assert file_key(file, ("/a",), "/a/app.py") == key


A_FN = functions(
    [
        ("main", "/a/app.py", "own", 2.0, 0.01, 1),
        ("work", "/a/app.py", "own", 1.9, 1.9, 3),
        ("helper", "/a/h.py", "own", 0.5, 0.5, 10),
        ("tiny", "/a/h.py", "own", 0.0004, 0.0004, 1),
        ("old", "/a/h.py", "own", 0.3, 0.3, 1),
    ]
)
# B lives elsewhere (/b) and its lines moved: still the same functions
B_FN = functions(
    [
        ("main", "/b/app.py", "own", 1.0, 0.01, 1),
        ("work", "/b/app.py", "own", 1.95, 1.95, 3),  # +2.6%: within the floors
        ("helper", "/b/h.py", "own", 0.8, 0.8, 10),  # +60%
        ("tiny", "/b/h.py", "own", 0.0009, 0.0009, 1),  # doubled, but under 1 ms
        ("join", "/usr/lib/python3.11/multiprocessing/process.py", "stdlib", 0.9, 0.0, 3),
    ]
)
UNITS_A = [
    ("process", "MainProcess (pid 10)", 10, 0, "main", 0.0, 2.0, 1.8),
    ("thread", "MainThread", 10, 10, "main", 0.0, 2.0, 1.8),
]
UNITS_B = [
    ("process", "MainProcess (pid 20)", 20, 0, "main", 0.0, 1.0, 0.1),
    ("thread", "MainThread", 20, 20, "main", 0.0, 1.0, 0.1),
    ("process", "work-0 (pid 21)", 21, 0, "worker", 0.1, 0.9, 0.9),
    ("thread", "MainThread", 21, 21, "main", 0.1, 0.9, 0.9),
]
SEQ = ("sequential", "info", "sequential: one unit did all the work")
PAR = ("parallel", "info", "parallel: 2 processes kept 1.8 cores busy")


def test_diff_of_two_sides() -> None:
    a = side("sync", [2.0, 2.1, 2.05, 1.98, 2.02], A_FN, UNITS_A, [SEQ])
    b = side("procs", [1.0, 1.1, 1.05, 0.98, 1.02], B_FN, UNITS_B, [PAR], root="/b")
    d = diff(a, b)
    assert d.metric("wall_s").verdict == "lower"
    assert d.speedup == pytest.approx(2.03 / 1.03) and d.speedup_stdev > 0
    assert d.summary.startswith(
        f"procs is {2.03 / 1.03:.2f} ± {d.speedup_stdev:.2f}× faster than sync: "
        "median wall 2.020 s → 1.020 s, -49.5% (p = 0.00794"
    )
    got = [(c.function, c.file, c.verdict, c.total_a_s, c.total_b_s) for c in d.functions]
    assert got == [
        ("main", "<script>", "faster", 2.0, 1.0),
        ("join", "multiprocessing/process.py", "new", 0.0, 0.9),
        ("helper", "h.py", "slower", 0.5, 0.8),
        ("old", "h.py", "gone", 0.3, 0.0),
    ]
    assert d.functions_unchanged == 2  # work (+2.6%) and tiny (under 1 ms)
    assert d.unit_counts == {"process": (1, 2), "thread": (1, 2)}
    units = [(u.kind, u.name, u.verdict) for u in d.units]
    assert units == [
        ("process", "MainProcess", "faster"),
        ("thread", "MainProcess/MainThread", "faster"),
        ("process", "work-0", "new"),
        ("thread", "work-0/MainThread", "new"),
    ]
    assert d.findings_appeared == (PAR,) and d.findings_gone == (SEQ,) and d.findings_kept == ()
    text = json.dumps(d.to_dict(), allow_nan=False)  # diff.json is strict JSON
    doc = json.loads(text)
    assert doc["schema"] == "tracekit.diff/1" and doc["unit_counts"]["process"] == {"a": 1, "b": 2}
    assert doc["findings_appeared"] == [{"kind": "parallel", "severity": "info", "message": PAR[2]}]
    assert doc["metrics"][0]["name"] == "wall_s" and doc["metrics"][0]["b"]["n"] == 5


def test_same_program_twice_is_no_change() -> None:
    a = side("a", [1.0, 1.1, 1.05, 0.98, 1.02], A_FN, UNITS_A, [SEQ])
    b = side("b", [1.03, 0.99, 1.08, 1.01, 1.04], A_FN, UNITS_A, [SEQ])
    d = diff(a, b)
    assert d.metric("wall_s").verdict == "no change beyond noise"
    assert d.summary.startswith("no change beyond noise between a and b: median wall 1.020 s → 1.030 s, +1.0%")
    assert d.functions == () and d.units == () and d.findings_appeared == d.findings_gone == ()
    assert d.findings_kept == ("sequential",)
    assert not wall_gate(a, b, 0.10).failed


def test_one_run_a_side_says_it_has_no_noise_estimate() -> None:
    d = diff(side("a", [2.0], A_FN, UNITS_A), side("b", [1.0], A_FN, UNITS_A))
    assert d.metric("wall_s").verdict == "lower?" and math.isnan(d.speedup_stdev)
    assert (
        d.summary == "b is 2.00× faster than a (unconfirmed): median wall 2.000 s → 1.000 s, -50.0% "
        "(one run a side: no noise estimate)"
    )
    assert wall_gate(side("a", [1.0], A_FN, UNITS_A), side("b", [1.5], A_FN, UNITS_A), 0.10).failed
    # functions and units, from those same single runs, are as unconfirmed as the timings
    d = diff(side("a", [2.0], A_FN, UNITS_A), side("b", [1.0], B_FN, UNITS_B, root="/b"))
    assert [(c.function, c.verdict) for c in d.functions] == [
        ("main", "faster?"), ("join", "new"), ("helper", "slower?"), ("old", "gone"),
    ]  # fmt: skip
    assert [(u.name, u.verdict) for u in d.units][:2] == [
        ("MainProcess", "faster?"),
        ("MainProcess/MainThread", "faster?"),
    ]


def test_one_wild_run_that_hides_a_change_is_named_in_the_verdict() -> None:
    # seq vs threads measured on a machine at load 9 (real values): threads' first run took 1.58 s
    seq = describe([0.903, 0.694, 0.649, 0.692, 0.679])
    threads = describe([1.581, 0.291, 0.473, 0.27, 0.359])
    wall = compare_values("wall_s", seq, threads)
    assert wall.verdict == "no change beyond noise" and wall.p == pytest.approx(38 / 252)  # U = 5
    text = speed_summary(wall, "seq", "threads", 1.0, 0.0)
    assert text.startswith("no change beyond noise between seq and threads: median wall 0.692 s → 0.359 s, -48.1%")
    assert (
        f"without the one run farthest from its side's median p would be {2 / 126:.3g}: a single run slowed" in text
    ) and text.endswith("measure with --repeat 7 or more)")
    # two sides that overlap throughout get no such hint
    same = compare_values("wall_s", describe([1.0, 1.1, 1.05, 0.98, 1.02]), describe([1.03, 0.99, 1.08, 1.01, 1.04]))
    assert "farthest" not in speed_summary(same, "a", "b", 1.0, 0.0)


def test_a_helper_caught_in_one_run_only_is_not_a_finding_that_appeared() -> None:
    helper = ("untraced-helpers", "info", "not traced, as expected (no data lost): pid 7 a process gone 0 ms after")
    a = side("a", [1.0, 1.1, 1.05, 0.98, 1.02], A_FN, UNITS_A, [SEQ])
    b = side("b", [1.03, 0.99, 1.08, 1.01, 1.04], A_FN, UNITS_A, [SEQ, helper])
    d = diff(a, b)
    assert d.findings_appeared == () and d.findings_gone == () and d.findings_kept == ("sequential",)
    assert diff(b, a).findings_gone == ()


def test_delta_tree_matches_paths_across_moved_files() -> None:
    ev_a = events([(1, 1, 0, 1000, "main (/a/app.py:1)", -1), (1, 1, 0, 900, "work (/a/app.py:5)", 0)])
    ev_b = events([(1, 1, 0, 500, "main (/b/app.py:2)", -1), (1, 1, 0, 300, "work (/b/app.py:6)", 0),
                   (1, 1, 300, 150, "time.sleep", 0)])  # fmt: skip
    a = side("a", [1.0], A_FN, UNITS_A, ev=ev_a)
    b = side("b", [1.0], A_FN, UNITS_A, root="/b", ev=ev_b)
    delta, only_a = delta_tree(a, b.tree, b)
    names = b.tree.nodes["name"].tolist()
    assert dict(zip(names, delta, strict=True)) == {
        "all": -500.0, "main (/b/app.py:2)": -500.0, "work (/b/app.py:6)": -600.0, "time.sleep": 150.0,
    }  # fmt: skip
    assert only_a == 0


def test_tasks_match_by_coroutine_not_task_number() -> None:
    cols = [*UNIT_COLS, "coroutine"]
    ua = [("process", "MainProcess (pid 10)", 10, 0, "main", 0.0, 1.0, 0.1, ""),
          ("task", "Task-2", 10, 2, "worker", 0.1, 0.5, 0.0, "count (/a/app.py:7)"),
          ("task", "Task-3", 10, 3, "worker", 0.1, 0.5, 0.0, "count (/a/app.py:7)")]  # fmt: skip
    ub = [("process", "MainProcess (pid 20)", 20, 0, "main", 0.0, 1.0, 0.1, ""),
          ("task", "Task-5", 20, 5, "worker", 0.1, 0.5, 0.0, "count (/b/app.py:8)"),
          ("task", "Task-6", 20, 6, "worker", 0.1, 1.5, 0.0, "count (/b/app.py:8)")]  # fmt: skip
    a = side("a", [1.0], A_FN, [])
    b = side("b", [1.0], A_FN, [])
    from dataclasses import replace

    a = replace(a, units=pd.DataFrame(ua, columns=cols))
    b = replace(b, units=pd.DataFrame(ub, columns=cols))
    d = diff(a, b)
    assert [(u.name, u.verdict, u.wall_a_s, u.wall_b_s) for u in d.units] == [
        ("MainProcess/count #2", "slower?", 0.5, 1.5)  # one run a side: unconfirmed
    ]


def test_slower_summary_carries_its_uncertainty() -> None:
    a = side("fast", [1.0, 1.1, 1.05, 0.98, 1.02], A_FN, UNITS_A)
    b = side("slow", [2.0, 2.1, 2.05, 1.98, 2.02], A_FN, UNITS_A)
    d = diff(a, b)
    sd = d.speedup_stdev / d.speedup**2
    assert d.summary.startswith(f"slow is {1 / d.speedup:.2f} ± {sd:.2f}× slower than fast: median wall 1.020 s")
    assert wall_gate(a, b, 0.10).failed  # and the CI gate fails on it
