"""The columnar cache of trace.json (events.npz): exact round trip, used only while trace.json is
unchanged, and a damaged cache is ignored, never trusted."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

import tracekit
from tracekit.rundir import EVENTS_CACHE
from tracekit.trace.cache import load_columns, save_columns
from tracekit.trace.frames import load_path

from .conftest import profile_once


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return profile_once(tmp_path_factory, "async_count", "cache")


def test_profile_leaves_a_cache_that_round_trips_exactly(run_dir: Path) -> None:
    cache, source = run_dir / EVENTS_CACHE, run_dir / "trace.json"
    assert cache.is_file()
    parsed = load_path(source)
    cached = load_columns(cache, source)
    assert cached is not None
    pd.testing.assert_frame_equal(cached.events, parsed.events)
    pd.testing.assert_frame_equal(cached.tracks, parsed.tracks)
    assert (cached.overflow, cached.version, cached.events_per_pid) == (
        parsed.overflow, parsed.version, parsed.events_per_pid,
    )  # fmt: skip


def test_cache_is_ignored_when_trace_json_changes(run_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "trace.json"
    source.write_bytes((run_dir / "trace.json").read_bytes())
    cache = tmp_path / EVENTS_CACHE
    save_columns(load_path(source), cache, source)
    assert load_columns(cache, source) is not None
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # same bytes, touched
    assert load_columns(cache, source) is None
    cache.write_bytes(b"PK\x03\x04 not really a zip")
    assert load_columns(cache, source) is None
    cache.unlink()
    assert load_columns(cache, source) is None


def test_analysis_is_the_same_with_and_without_the_cache(run_dir: Path) -> None:
    with_cache = tracekit.load(str(run_dir)).stats
    (run_dir / EVENTS_CACHE).unlink()
    without = tracekit.load(str(run_dir)).stats
    assert with_cache == without
    assert (run_dir / EVENTS_CACHE).is_file()  # rebuilt by the load that parsed trace.json
