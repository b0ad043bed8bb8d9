"""sampler.py against real processes: tree discovery, thread rows, its own cost."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil

from tracekit import sampler
from tracekit.analysis.cpu import SAMPLE_DTYPES

# parent → child → grandchild, each sleeping; the parent prints the pids once both exist
TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import subprocess, sys, time; g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']);"
    " print(g.pid, flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
grand = child.stdout.readline().strip()
print(child.pid, grand, flush=True)
time.sleep(30)
"""

THREADS = """
import threading, time
t = threading.Thread(target=time.sleep, args=(30,), daemon=True); t.start()
print(t.native_id, flush=True)
time.sleep(30)
"""


def start(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)


def kill(proc: subprocess.Popen[str]) -> None:
    for p in psutil.Process(proc.pid).children(recursive=True):
        p.kill()
    proc.kill()
    proc.wait()


def test_tree_finds_descendants_only_and_forgets_exited_ones() -> None:
    proc = start(TREE)
    other = start("import time; time.sleep(30)")  # a sibling: not under the root
    try:
        child, grand = (int(x) for x in proc.stdout.readline().split())  # type: ignore[union-attr]
        tree = sampler.Tree(psutil.Process(proc.pid))
        pids = [p.pid for p in tree.refresh()]
        assert pids[0] == proc.pid
        assert sorted(pids[1:]) == sorted([child, grand])
        assert other.pid in tree.foreign
        # the grandchild exits (its parent is killed too, so init reaps it): it leaves the tree
        psutil.Process(grand).kill()
        psutil.Process(child).kill()
        deadline = time.monotonic() + 5
        while grand in [p.pid for p in tree.refresh()] and time.monotonic() < deadline:
            time.sleep(0.05)
        now = [p.pid for p in tree.refresh()]
        assert grand not in now
        assert now[0] == proc.pid
    finally:
        kill(proc)
        kill(other)


def test_sampler_rows_single_and_multi_threaded(tmp_path: Path) -> None:
    single = start("import time; time.sleep(30)")
    multi = start(THREADS)
    try:
        worker = int(multi.stdout.readline())  # type: ignore[union-attr]
        results = {}
        for proc in (single, multi):
            out = tmp_path / f"{proc.pid}.csv"
            smp = sampler.Sampler(proc.pid, 0.01, out)
            smp.start()
            time.sleep(0.6)
            results[proc.pid] = (smp.stop(), pd.read_csv(out, dtype=SAMPLE_DTYPES))
        res, df = results[single.pid]
        assert list(df.columns) == sampler.COLUMNS
        assert res.n_samples >= 5 and res.rows == len(df)
        assert 0 < res.busy_s < 0.6
        p, t = df[df["kind"] == "p"], df[df["kind"] == "t"]
        # one thread all along: its row is the process's, tid = pid
        assert t["tid"].unique().tolist() == [single.pid]
        assert t["user_s"].tolist() == p["user_s"].tolist()
        assert t["system_s"].tolist() == p["system_s"].tolist()
        assert set(p["num_threads"]) == {1.0}
        assert res.processes[single.pid].cmdline[-1] == "import time; time.sleep(30)"
        _res, df = results[multi.pid]
        th = df[df["kind"] == "t"]
        # two threads: both listed, each with its own row at every sample
        assert sorted(set(th["tid"])) == sorted([multi.pid, worker])
        assert len(th) == 2 * (df["kind"] == "p").sum()
    finally:
        kill(single)
        kill(multi)


def test_sampler_of_a_process_that_is_gone(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    smp = sampler.Sampler(proc.pid, 0.01, tmp_path / "s.csv")
    smp.start()
    res = smp.stop()
    assert res.n_samples == 0
