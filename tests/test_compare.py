"""Exact tests of the comparison statistics and renderers on tiny hand-built inputs (no subprocesses)."""

from __future__ import annotations

import io
import json
import math

import pandas as pd
import pytest

from tracekit.compare import (
    SCHEMA,
    FindingText,
    Input,
    Span,
    Traced,
    compare,
    describe,
    gate,
    ideal_units,
    inputs_from_dict,
    relation,
    speedup,
    work_bound,
)
from tracekit.render.compare_html import bar_chart, comparison, nice_ticks, timelines
from tracekit.render.compare_terminal import rows, to_csv, to_markdown
from tracekit.timing import model_label, slug

# --- describe -------------------------------------------------------------------------------------


def test_describe_four_values() -> None:
    d = describe([4.0, 1.0, 3.0, 2.0])
    assert (d.mean, d.median, d.min, d.max, d.n) == (2.5, 2.5, 1.0, 4.0, 4)
    assert d.stdev == pytest.approx(math.sqrt(5 / 3), abs=1e-12)  # sample stdev (n − 1)
    assert d.values == (4.0, 1.0, 3.0, 2.0)  # kept in measurement order
    assert d.cv == pytest.approx(math.sqrt(5 / 3) / 2.5)
    assert d.spread == 4.0


def test_describe_odd_median_and_single_value() -> None:
    assert describe([3.0, 1.0, 10.0]).median == 3.0
    one = describe([2.0])
    assert (one.mean, one.stdev, one.median, one.n, one.cv, one.spread) == (2.0, 0.0, 2.0, 1, 0.0, 1.0)


def test_describe_needs_a_value() -> None:
    with pytest.raises(ValueError):
        describe([])


# --- speed-up and its uncertainty --------------------------------------------------------------------


def test_speedup_without_noise() -> None:
    assert speedup(describe([3.0, 3.0]), describe([1.0, 1.0])) == (3.0, 0.0)


def test_speedup_error_propagation() -> None:
    ref = describe([2.0, 4.0])  # mean 3, stdev √2
    run = describe([0.5, 1.5])  # mean 1, stdev √0.5
    s, sd = speedup(ref, run)
    assert s == 3.0
    # 3 · √((√2/3)² + (√0.5/1)²) = √(2 + 4.5)
    assert sd == pytest.approx(math.sqrt(6.5), abs=1e-12)


def test_speedup_of_zero_time_is_unknown() -> None:
    s, sd = speedup(describe([1.0]), describe([0.0]))
    assert math.isnan(s) and math.isnan(sd)


# --- ideal speed-up -------------------------------------------------------------------------------


def test_work_bound_uses_the_least_contended_run() -> None:
    assert work_bound(describe([1.0, 2.0]), describe([0.5, 0.5])) == ("cpu", 0.5)
    assert work_bound(describe([4.0, 2.0]), describe([1.0, 0.4])) == ("cpu", 0.25)  # threshold included
    assert work_bound(describe([2.0]), describe([0.02])) == ("waiting", 0.01)
    assert work_bound(describe([0.0]), describe([0.0])) == ("waiting", 0.0)


def test_busy_machine_warning() -> None:
    ins = [inp("a", [1.0], [0.0], None)]
    assert compare(ins, 2, load_before=1.9).warnings == ()
    (w,) = compare(ins, 2, load_before=2.5).warnings
    assert w.startswith("the machine was busy before measuring (load average 2.5 on 2 cores)")


def test_ideal_units() -> None:
    assert ideal_units(3, 2, "cpu") == 2
    assert ideal_units(3, 2, "waiting") == 3
    assert ideal_units(1, 2, "cpu") == 1
    assert ideal_units(0, 2, "waiting") == 1  # no units seen: one unit did the work


# --- the gate ----------------------------------------------------------------------------------------


def test_gate_fails_when_slower_beyond_threshold_and_noise() -> None:
    v = gate(describe([1.0, 1.1, 1.05]), describe([1.3, 1.4, 1.35]), 0.10, "base", "cand")
    assert v.failed and v.separated
    assert v.slower_by == pytest.approx(1.35 / 1.05 - 1)
    assert v.p_value == pytest.approx(1 / 20)  # 1 / C(6, 3)
    assert v.reason == (
        "cand is slower than base: median 1.350 s vs 1.050 s (+28.6%, threshold +10%), "
        "outside the noise (fastest 1.300 s > slowest 1.100 s, p = 0.05)"
    )
    assert "\n" not in v.reason


def test_gate_passes_when_within_the_noise() -> None:
    v = gate(describe([1.0, 1.1, 1.05]), describe([1.06, 1.5, 1.4]), 0.10, "base", "cand")
    assert not v.failed and not v.separated
    assert v.reason.startswith("cand is not reliably slower than base: median 1.400 s vs 1.050 s (+33.3%")


def test_gate_passes_below_threshold_even_if_separated() -> None:
    v = gate(describe([1.0, 1.1, 1.05]), describe([1.3, 1.4, 1.35]), 0.30, "base", "cand")
    assert not v.failed and v.separated
    assert v.reason == "cand is within the threshold of base: median 1.350 s vs 1.050 s (+28.6%, threshold +30%)"


def test_gate_unchanged_and_faster_pass() -> None:
    same = describe([1.0, 1.1, 1.05])
    assert not gate(same, same, 0.10, "a", "b").failed
    assert not gate(same, describe([0.5, 0.6]), 0.0, "a", "b").failed


def test_gate_with_one_run_each_uses_the_threshold_alone() -> None:
    v = gate(describe([1.0]), describe([1.2]), 0.10, "base", "cand")
    assert v.failed and v.p_value is None
    assert v.reason.endswith("(fastest 1.200 s > slowest 1.000 s, n = 1: no noise estimate)")
    assert not gate(describe([1.0]), describe([1.05]), 0.10, "base", "cand").failed


def test_gate_p_value_five_against_five() -> None:
    v = gate(describe([1.0] * 5), describe([2.0] * 5), 0.1, "a", "b")
    assert v.p_value == pytest.approx(1 / 252)


# --- compare -----------------------------------------------------------------------------------------


def traced(peak: int, wall: float, rss: int = 100, findings: tuple[str, ...] = ("msg",)) -> Traced:
    return Traced(
        run_dir=f"runs/r{peak}",
        wall_s=wall,
        cpu_s=0.01,
        parallelism=0.01,
        concurrency_peak=peak,
        concurrency_mean=float(peak),
        peak_rss_tree_bytes=rss,
        findings=tuple(FindingText("k", "info", f) for f in findings),
        units=tuple(Span("thread", f"t{i}", "worker", 0.0, wall) for i in range(peak if peak > 1 else 0)),
    )


def inp(name: str, walls: list[float], cpus: list[float], tr: Traced | None, timing: str = "untraced") -> Input:
    return Input(
        name=name, model=model_label(name), target=f"{name}.py", kind="script", timing=timing,
        wall_s=describe(walls), cpu_s=describe(cpus), user_s=describe(cpus), system_s=describe([0.0] * len(cpus)),
        peak_rss_process_bytes=10, traced=tr,
    )  # fmt: skip


def count_set() -> list[Input]:
    return [
        inp("async_count", [1.0, 1.0], [0.02, 0.02], traced(3, 1.0)),
        inp("sync_count", [3.0, 3.0], [0.03, 0.03], traced(1, 3.0, findings=("sequential",))),
        inp("thread_count", [0.9, 1.1], [0.02, 0.02], traced(3, 1.02)),
        inp("process_count", [1.2, 1.2], [0.06, 0.06], traced(3, 2.4, rss=300)),
        inp("generator_count", [1.0, 1.0], [0.02, 0.02], traced(1, 1.0)),
    ]


def test_compare_count_set_against_sync() -> None:
    c = compare(count_set(), cores=2)
    assert c.reference == "sync_count"  # the sync model, although it is not first
    assert c.work == {"bound": "waiting", "cpu_fraction": 0.01}
    a, s, t, p, g = c.runs
    assert (s.speedup, s.speedup_stdev, s.ideal_speedup, s.efficiency) == (1.0, 0.0, 1.0, 1.0)
    assert (a.speedup, a.speedup_stdev, a.ideal_speedup, a.efficiency) == (3.0, 0.0, 3.0, 1.0)
    assert t.speedup == 3.0
    assert t.speedup_stdev == pytest.approx(3 * (math.sqrt(0.02) / 1.0), abs=1e-12)  # thread stdev √0.02
    assert p.speedup == pytest.approx(2.5) and p.efficiency == pytest.approx(2.5 / 3)
    assert p.tracing_overhead == 2.0  # traced 2.4 s / untraced median 1.2 s
    assert (p.peak_rss_process_bytes, p.peak_rss_tree_bytes) == (10, 300) and p.concurrency == {"peak": 3, "mean": 3.0}
    assert g.ideal_speedup == 1.0 and g.efficiency == 3.0
    assert s.key_finding == "sequential"
    assert c.warnings == (
        "thread_count: wall times vary widely (stdev 14% of the mean, max/min 1.22): the machine was noisy; "
        "close other programs or raise --repeat",
        "process_count: tracing made it 2.0x slower than untraced; the traced timeline stretches call-heavy "
        "work, so read durations from the untraced statistics",
        "generator_count: 3.00x faster but the analysis saw only 1 unit(s) in flight (efficiency 300%): "
        "some of its concurrency is invisible to the tracer",
    )
    assert relation(a, c.reference) == "3.00 ± 0.00 times faster than sync_count"
    assert relation(s, c.reference) == "reference"


def test_compare_cpu_bound_ideal_is_capped_by_cores() -> None:
    ins = [
        inp("sync_cpu", [1.0, 1.0], [0.98, 0.98], traced(1, 1.0)),
        inp("thread_cpu", [1.0, 1.0], [0.99, 0.99], traced(3, 1.0)),
        inp("process_cpu", [0.5, 0.5], [1.0, 1.0], traced(3, 0.6)),
    ]
    c = compare(ins, cores=2)
    assert c.work["bound"] == "cpu"
    _, t, p = c.runs
    assert (t.speedup, t.ideal_speedup, t.efficiency) == (1.0, 2.0, 0.5)
    assert (p.speedup, p.ideal_speedup, p.efficiency) == (2.0, 2.0, 1.0)
    # Relative to a parallel reference, the ideal is the ratio of the ideals: sync could be at best half as fast.
    c2 = compare(ins, cores=2, reference="process_cpu")
    assert c2.run("sync_cpu").ideal_speedup == 0.5 and c2.run("sync_cpu").speedup == 0.5
    assert relation(c2.run("sync_cpu"), "process_cpu") == "2.00 ± 0.00 times slower than process_cpu"


def test_compare_reference_by_name_model_or_first() -> None:
    ins = count_set()
    assert compare(ins, 2, reference="thread").reference == "thread_count"  # model label
    assert compare(ins, 2, reference="async_count").reference == "async_count"
    assert compare(ins[2:], 2).reference == "thread_count"  # no sync: the first
    with pytest.raises(ValueError):
        compare(ins, 2, reference="nope")


def test_relation_slower_with_error() -> None:
    c = compare([inp("a", [1.0, 1.0], [0.0, 0.0], None), inp("b", [1.5, 2.5], [0.0, 0.0], None)], 2)
    b = c.run("b")
    assert b.speedup == 0.5
    # 1/0.5 = 2; relative error unchanged: σ_s/s = √0.5/2
    assert relation(b, "a") == f"2.00 ± {2 * math.sqrt(0.5) / 2:.2f} times slower than a"


def test_run_directory_timing_is_flagged() -> None:
    c = compare([inp("base", [0.3], [0.01], traced(1, 0.3), timing="traced"), inp("cand", [0.6], [0.01], None)], 2)
    assert c.run("base").tracing_overhead is None
    assert c.warnings[0].startswith("base: a run directory gives one traced wall time (n = 1")


def test_comparison_json_fields_and_round_trip() -> None:
    c = compare(count_set(), cores=2, repeat=2, warmup=0)
    d = c.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert d["schema"] == SCHEMA == "tracekit.comparison/2"
    assert d["reference"] == "sync_count"
    r = d["runs"][0]
    for key in (
        "name", "target", "wall_s", "cpu_s", "speedup", "speedup_stdev", "ideal_speedup", "efficiency",
        "traced_wall_s", "tracing_overhead", "peak_rss_process_bytes", "peak_rss_tree_bytes", "concurrency",
        "parallelism", "findings", "run_dir",
    ):  # fmt: skip
        assert key in r, key
    one = {"mean": 1.0, "stdev": 0.0, "median": 1.0, "min": 1.0, "max": 1.0, "n": 2, "values": [1.0, 1.0]}
    assert r["wall_s"] == one
    back = inputs_from_dict(json.loads(text))
    assert [i.name for i in back] == [x.name for x in count_set()]
    assert back[2].wall_s == describe([0.9, 1.1])
    assert back[3].traced is not None and back[3].traced.concurrency_peak == 3
    assert back[3].peak_rss_process_bytes == 10 and back[3].traced.peak_rss_tree_bytes == 300
    assert compare(back, cores=2).run("process_count").speedup == pytest.approx(2.5)


def test_unknown_speedup_is_null_in_json() -> None:
    c = compare([inp("a", [1.0], [0.0], None), inp("b", [0.0], [0.0], None)], 2)
    assert c.to_dict()["runs"][1]["speedup"] is None


# --- renderers ---------------------------------------------------------------------------------------


def test_csv_and_markdown() -> None:
    c = compare(count_set()[:2], cores=2)
    df = pd.read_csv(io.StringIO(to_csv(c)))
    assert list(df["name"]) == ["async_count", "sync_count"]
    assert list(df["speedup"]) == [3.0, 1.0]
    assert list(df.columns) == list(rows(c)[0])
    md = to_markdown(c).splitlines()
    assert md[0].startswith("| model | wall s (mean ± σ) |")
    assert md[2].startswith("| async_count | 1.000 ± 0.000 | 1.000 [1.000…1.000] | 2 | 0.020 | 3.00 ± 0.00 | 3 |")
    assert md[3].startswith("| sync_count (ref) |")
    bad = inp("x|y", [1.0], [0.0], None)
    assert "| x\\|y (ref) |" in to_markdown(compare([bad], 2))


def test_nice_ticks() -> None:
    assert nice_ticks(3.2) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert nice_ticks(1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0.0) == [0.0, 1.0]


def test_bar_chart_geometry() -> None:
    c = compare([inp("sync_a", [2.0, 4.0], [0.0, 0.0], None), inp("b", [1.0, 1.0], [0.0, 0.0], None)], 2)
    ch = bar_chart(c, "wall_s")
    # top = max(4, 3 + √2) = 4.414 → ticks 0..5 by 1; 570 px for 5 s
    assert [lbl for _, lbl in ch.ticks] == ["0", "1", "2", "3", "4", "5"]
    a, b = ch.bars
    assert a.reference and not b.reference
    assert a.width == pytest.approx(3 * 114) and a.hi == pytest.approx((3 + math.sqrt(2)) * 114)
    assert a.dots == pytest.approx([228, 456])
    assert b.lo == b.hi == b.width == pytest.approx(114)


def test_timelines_share_one_axis() -> None:
    c = compare(count_set()[:2], cores=2)  # async traced 1.0 s with 3 workers, sync 3.0 s with none
    tl = timelines(c)
    assert [lbl for _, lbl in tl.ticks] == ["0", "0.5", "1", "1.5", "2", "2.5", "3"]
    heads = [r.label for r in tl.rows if r.header]
    assert heads == ["async_count (1.000 s traced)", "sync_count (3.000 s traced)"]
    bars = [r for r in tl.rows if r.width]
    assert len(bars) == 3 and bars[0].width == pytest.approx(570 / 3)  # 1 s of 3 s


def test_html_escapes_names_and_quotes_links() -> None:
    hostile = "<img src=x onerror=alert(1)>"
    t = traced(3, 1.0)
    t = Traced(**{**t.__dict__, "run_dir": "javascript:alert(1)", "units": (Span("task", hostile, "worker", 0, 1),)})
    c = compare([inp("sync_x", [1.0], [0.0], None), inp(hostile, [0.5], [0.0], t)], 2)
    html = comparison(c)
    assert hostile not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="javascript%3Aalert%281%29/report.html"' in html
    assert "<script" not in html
    assert "default-src 'none'" in html


def test_labels() -> None:
    assert model_label("async_count") == "async"
    assert model_label("bench") == "bench"
    assert slug("a b/<c>") == "a_b_c"
    assert slug("..") == "run"


def test_a_comparison_1_file_is_read_with_its_two_rss_told_apart() -> None:
    # tracekit.comparison/1 had one `peak_rss_bytes`: the largest single process for a script, but the
    # tree's sum for a run directory (and either for a comparison of comparisons); `sum_rss_bytes` the tree
    new = compare(count_set(), cores=2).to_dict()
    kinds = ["script", "run", "comparison", "script", "script"]
    old_runs = [
        {**{k: v for k, v in r.items() if k not in ("peak_rss_process_bytes", "peak_rss_tree_bytes")},
         "kind": kind, "peak_rss_bytes": 10 if kind == "script" else 300, "sum_rss_bytes": 300}
        for r, kind in zip(new["runs"], kinds, strict=True)
    ]  # fmt: skip
    back = inputs_from_dict({**new, "schema": "tracekit.comparison/1", "runs": old_runs})
    assert [i.peak_rss_process_bytes for i in back] == [10, None, None, 10, 10]
    assert [i.traced.peak_rss_tree_bytes if i.traced else None for i in back] == [300] * 5
    with pytest.raises(ValueError, match=r"is not tracekit\.comparison/2"):
        inputs_from_dict({**new, "schema": "tracekit.comparison/3"})


def test_reference_position_one_rule_for_the_cli_check_and_the_comparison() -> None:
    from tracekit.compare import reference_position

    planned = [("slow", "threads"), ("fast", "sync"), ("fast-2", "sync"), ("proc", "processes")]
    assert reference_position(planned, None) == 1  # the first sync model
    assert reference_position([("a", "threads"), ("b", "asyncio")], None) == 0
    assert reference_position(planned, "fast-2") == 2  # a name first
    assert reference_position(planned, "processes") == 3  # the model label of exactly one
    for bad in ("sync", "nope"):  # two sync targets: ambiguous; no such name or label
        with pytest.raises(ValueError):
            reference_position(planned, bad)
