"""analysis/running.py on hand-built units, structure and samples: when each unit was running, exactly."""

from __future__ import annotations

import dataclasses

import pandas as pd

from tracekit.analysis.running import RUNNING_COLUMNS, running_frame
from tracekit.structure import GEN_TID_BASE, TASK_TID_BASE
from tracekit.structure import empty as empty_structure

START_US = 1_000_000.0  # the script's start on the trace clock


def units() -> pd.DataFrame:
    return pd.DataFrame(
        [("process", 10, 10, "main"), ("thread", 10, 11, "worker"), ("task", 10, TASK_TID_BASE + 2, "worker"),
         ("generator", 10, GEN_TID_BASE + 1, "worker"), ("thread", 10, 12, "worker"), ("thread", 10, 10, "main")],
        columns=["kind", "pid", "tid", "role"],
    )  # fmt: skip


def structure():  # type: ignore[no-untyped-def]
    steps = pd.DataFrame(
        [(10, 10, 2, 1, "", 1_000_100.0, 1_000_300.0), (10, 10, 3, 1, "", 1_100_000.0, 1_200_000.0),
         (10, 10, 2, 1, "", 1_500_000.0, 1_600_000.0)],
        columns=["pid", "os_tid", "task", "loop", "label", "start_us", "end_us"],
    )  # fmt: skip
    gens = pd.DataFrame(
        [(10, 10, 1, "g", "main", 1_200_000.0, 1_250_000.0, True)],
        columns=["pid", "os_tid", "gen", "func", "driver", "start_us", "end_us", "finished"],
    )
    return dataclasses.replace(empty_structure(), steps=steps, gens=gens)


def samples() -> pd.DataFrame:
    # the process used 0.005 s of CPU in its first 10 ms and 0.01 s in the next; thread 11 0 s, then 0.01 s;
    # the thread's third sample repeats the second's time (a rate over no time is 0, not infinite)
    rows = [("p", 10, 0, 1.00e9, 0.08, 0.02), ("p", 10, 0, 1.01e9, 0.084, 0.021), ("p", 10, 0, 1.02e9, 0.09, 0.025),
            ("t", 10, 11, 1.00e9, 0.0, 0.0), ("t", 10, 11, 1.01e9, 0.0, 0.0), ("t", 10, 11, 1.01e9, 0.0, 0.0),
            ("t", 10, 11, 1.02e9, 0.01, 0.0)]  # fmt: skip
    return pd.DataFrame(rows, columns=["kind", "pid", "tid", "t_ns", "user_s", "system_s"])


def test_running_intervals_of_every_kind_of_unit() -> None:
    r = running_frame(units(), structure(), samples(), START_US)
    assert list(r.columns) == RUNNING_COLUMNS
    got = [(u, k, round(a, 6), round(b, 6), round(v, 6)) for u, k, a, b, v in r.itertuples(index=False)]
    assert got == [
        (0, "process", 0.0, 0.01, 0.5), (0, "process", 0.01, 0.02, 1.0),  # the process's samples
        (1, "thread", 0.0, 0.01, 0.0), (1, "thread", 0.01, 0.01, 0.0), (1, "thread", 0.01, 0.02, 1.0),
        (2, "task", 0.0001, 0.0003, 1.0), (2, "task", 0.5, 0.6, 1.0),  # task 2's steps, not task 3's
        (3, "generator", 0.2, 0.25, 1.0),  # its resume
        # unit 4, thread 12, was never sampled: no rows (unknown, not idle)
        (5, "thread", 0.0, 0.01, 0.5), (5, "thread", 0.01, 0.02, 1.0),  # the main thread reads the process's
    ]  # fmt: skip


def test_no_units_no_rows() -> None:
    r = running_frame(units().iloc[0:0], structure(), samples(), START_US)
    assert r.empty and list(r.columns) == RUNNING_COLUMNS
    assert running_frame(units(), empty_structure(), samples().iloc[0:0], START_US).empty
