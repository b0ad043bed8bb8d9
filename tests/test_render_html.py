"""Pure layout helpers of the HTML report, on tiny hand-built inputs with exact expected values."""

from __future__ import annotations

import base64
import hashlib
import math

import numpy as np
import pandas as pd
import pytest

from tracekit.render import html


def nan_list(a: np.ndarray) -> list[float | None]:
    return [None if math.isnan(x) else round(float(x), 9) for x in a]


def test_downsample_mean_max_and_empty_bucket() -> None:
    t = np.array([0.0, 0.5, 1.0, 1.5, 2.5])
    v = np.array([1.0, 3.0, 5.0, 7.0, 9.0])
    edges = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    assert nan_list(html.downsample(t, v, edges, "mean")) == [2.0, 6.0, 9.0, None]
    assert nan_list(html.downsample(t, v, edges, "max")) == [3.0, 7.0, 9.0, None]


def test_downsample_ignores_nan_and_outside_values() -> None:
    t = np.array([-1.0, 0.2, 0.4, 5.0])
    v = np.array([100.0, np.nan, 4.0, 100.0])
    assert nan_list(html.downsample(t, v, np.array([0.0, 1.0]), "mean")) == [4.0]


def test_step_at_and_step_max_keep_short_peaks() -> None:
    ts, vs = np.array([0.0, 1.0, 2.0]), np.array([1, 3, 2])
    assert html.step_at(ts, vs, np.array([0.0, 0.5, 1.0, 1.5, 2.5])).tolist() == [1, 1, 3, 3, 2]
    # 3 is held only from 1.2 to 1.3: the bucket [1, 2) still shows it
    assert html.step_max(np.array([0.0, 1.2, 1.3]), np.array([1, 3, 1]), np.array([0.0, 1.0, 2.0])).tolist() == [1, 3]


def test_rate_windows_average_per_interval_rates() -> None:
    t_end = np.round(np.arange(1, 11) * 0.01, 6)  # ten 10 ms intervals ending at 0.01 … 0.10
    rate = np.array([0, 2, 0, 2, 0, 2, 0, 2, 0, 2], dtype=float)
    starts, mean = html.rate_windows(t_end, rate, 0.01, 0.05, 0.1)
    assert starts.tolist() == [0.0, 0.05]
    assert [round(x, 9) for x in mean] == [0.8, 1.2]


def test_rate_windows_weigh_each_interval_by_its_length() -> None:
    # A loaded sampler: 10 ms intervals at 1 core, then one of 1 ms that caught a 10 ms counter tick
    # (10 cores over that interval), then 9 ms at 0. The window [0, 0.05) used 0.04 + 0.01 = 0.05 s
    # of CPU in 0.05 s: 1 core, not the 3 cores an unweighted mean of the five rates would say.
    t_end = np.array([0.01, 0.02, 0.03, 0.04, 0.041, 0.05])
    rate = np.array([1.0, 1.0, 1.0, 1.0, 10.0, 0.0])
    starts, mean = html.rate_windows(t_end, rate, 0.01, 0.05, 0.05)
    assert starts.tolist() == [0.0]
    assert [round(x, 9) for x in mean] == [round((0.04 + 0.01) / 0.05, 9)]
    # a window no interval is centred in (after the last sample) is NaN, not 0
    _, tail = html.rate_windows(np.array([0.01, 0.02]), np.array([1.0, 3.0]), 0.01, 0.05, 0.15)
    assert nan_list(tail) == [2.0, None, None]


@pytest.mark.parametrize(
    ("lo", "hi", "ticks"),
    [
        (0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0.0, 0.821, [0.0, 0.2, 0.4, 0.6, 0.8]),
        (0.0, 3.0, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]),
        (0.0, 60.0, [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]),
        (1.0, 1.0, [1.0]),
    ],
)
def test_nice_ticks(lo: float, hi: float, ticks: list[float]) -> None:
    assert html.nice_ticks(lo, hi) == ticks


def test_scale_maps_seconds_to_plot_pixels() -> None:
    s = html.Scale(0.0, 2.0, x0=100, width=200)
    assert (s.px(0.0), s.px(0.5), s.px(2.0)) == (100.0, 150.0, 300.0)
    assert s.ticks() == [(100.0, "0"), (150.0, "0.5"), (200.0, "1"), (250.0, "1.5"), (300.0, "2")]
    assert (s.px(-0.257), s.px(2.5)) == (100.0, 300.0)  # held at the plot's edges, never over the labels


def test_segments_quantise_merge_and_drop_idle() -> None:
    scale = html.Scale(0.0, 2.0, x0=0, width=200)
    segs = html.segments(
        np.array([0.0, 0.5, 1.0, 1.5]), np.array([0.5, 1.0, 1.5, 2.0]), np.array([1.0, 0.97, 0.04, 0.5]), scale
    )
    assert segs == [html.Segment(x=0.0, w=100.0, opacity=1.0), html.Segment(x=150.0, w=50.0, opacity=0.5)]


def test_segments_make_a_short_step_visible() -> None:
    scale = html.Scale(0.0, 1.0, x0=0, width=1000)
    assert html.segments(np.array([0.5]), np.array([0.50001]), np.array([1.0]), scale) == [
        html.Segment(x=500.0, w=1.0, opacity=1.0)
    ]


def test_output_lanes_stack_lines_printed_together() -> None:
    out = pd.DataFrame(
        {"t_s": [0.0, 0.0, 0.0, 1.0, 1.0, 1.0], "stream": ["stdout"] * 6, "text": ["One"] * 3 + ["Two"] * 3}
    )
    marks, dropped = html.output_lanes(out, html.Scale(0.0, 1.0, x0=0, width=1000))
    assert dropped == 0
    assert [(m.x, m.lane, m.text, m.anchor) for m in marks] == [
        (0.0, 0, "One", "start"),
        (0.0, 1, "One", "start"),
        (0.0, 2, "One", "start"),
        (1000.0, 0, "Two", "end"),  # at the right edge the label sits left of its dot
        (1000.0, 1, "Two", "end"),
        (1000.0, 2, "Two", "end"),
    ]


def test_output_lanes_count_what_does_not_fit() -> None:
    out = pd.DataFrame({"t_s": [0.0] * 5, "stream": ["stdout"] * 5, "text": ["x" * 50] * 5})
    marks, dropped = html.output_lanes(out, html.Scale(0.0, 1.0, x0=0, width=1000), max_lanes=3)
    assert (len(marks), dropped) == (3, 2)
    assert marks[0].text == "x" * 29 + "…"


def test_table_formats_numbers_and_blanks_nan() -> None:
    df = pd.DataFrame({"kind": ["task"], "name": ["<b>"], "pid": [7], "cpu_s": [np.nan], "wall_s": [1.23456]})
    cols, rows = html.table(df, html.UNIT_TABLE)
    assert [c.key for c in cols] == ["kind", "name", "pid", "wall_s", "cpu_s"]
    assert rows == [["task", "<b>", "7", "1.235", ""]]  # escaping is the template's job


def test_csp_hashes_are_those_of_the_exact_bodies() -> None:
    digest = base64.b64encode(hashlib.sha256(b"a").digest()).decode()
    assert html.content_security_policy(("a",), ("b",)).startswith(f"default-src 'none'; script-src 'sha256-{digest}'")
    a = html.assets()
    assert len(a.scripts) == 3 and "uPlot" in a.scripts[0] and "flame graph" in a.scripts[2]
    for body in (*a.scripts, a.style):
        assert html.sha256_source(body) in a.csp
    assert "unsafe-inline" not in a.csp and "unsafe-eval" not in a.csp


def test_units_view_blanks_the_track_id_of_tasks_and_generators() -> None:
    u = pd.DataFrame({"kind": ["thread", "task", "generator"], "tid": [6442, 1000000001, 2000000001]})
    _, rows = html.table(html.units_view(u), [html.Column("kind", "kind"), html.Column("tid", "tid", numeric=True)])
    assert rows == [["thread", "6442"], ["task", ""], ["generator", ""]]


def test_function_tables_show_each_functions_cpu_share() -> None:
    from tests.test_analysis_origin import ORIGINS, events
    from tracekit.analysis.functions import functions_table

    ev = events([(1, 1, 0, 1_000_000, "main (/proj/app/main.py:1)", -1), (1, 1, 0, 400_000, "time.sleep", 0)])
    ev["cpu_s"] = [0.6, 0.004]
    cols, rows = html.functions_context(functions_table(ev, ORIGINS))["own"]
    assert [c.header for c in cols] == [
        "function", "where", "calls", "total s", "self s", "mean s", "CPU s", "wait s", "CPU/total", "from", "package",
    ]  # fmt: skip
    assert rows == [["main", "main.py:1", "1", "1.0000", "0.6000", "1.000000", "0.6000", "0.4000", "0.60", "own", ""]]


def test_chart_data_is_what_report_js_reads() -> None:
    # the typed ChartData is the page's JSON: every name report.js reads is one of its fields, and back
    import dataclasses
    import re

    js = html._asset("templates/report.js")
    charts = js[js.index("function drawCharts()") : js.index("// Sortable tables")]  # where `f` and `p` are the data
    read = {
        "data": set(re.findall(r"\bdata\.(\w+)", js)),
        "flight": set(re.findall(r"\bf\.(\w+)", charts)),
        "procs": set(re.findall(r"\bp\.(\w+)", charts)),
    }
    fields = {
        "data": {f.name for f in dataclasses.fields(html.ChartData)},
        "flight": {f.name for f in dataclasses.fields(html.FlightSeries)},
        "procs": {f.name for f in dataclasses.fields(html.ProcessSeries)},
    }
    assert read["data"] == fields["data"] - {"wall_s"}  # wall_s is for a reader of the JSON, not drawn
    assert read["flight"] == fields["flight"] - {"window_s", "downsampled"}  # those two are in the template's text
    assert read["procs"] == fields["procs"] - {"window_s"}
    cd = html.ChartData(
        cores=2, wall_s=1.0, end_s=1.1,
        flight=html.FlightSeries(t=[0.0, 1.0], in_flight=[1.0, None], cores_busy=[None, 0.5], window_s=0.05,
                                 downsampled=False),
        procs=html.ProcessSeries(t=[0.0], names=["MainProcess"], cpu_pct=[[12.5]], rss_mib=[[20.0]], window_s=0.05),
    )  # fmt: skip
    assert cd.to_dict()["flight"] == {
        "t": [0.0, 1.0], "in_flight": [1.0, None], "cores_busy": [None, 0.5], "window_s": 0.05, "downsampled": False,
    }  # fmt: skip
    assert cd.to_dict()["procs"]["cpu_pct"] == [[12.5]] and cd.to_dict()["cores"] == 2
