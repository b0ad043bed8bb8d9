"""sampler.py against real processes: tree discovery, thread rows, its own cost."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

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
            # init reaps it, unless an earlier test made this process a subreaper (tracekit's runner
            # does): then the orphan is ours to reap
            with contextlib.suppress(ChildProcessError):
                os.waitpid(grand, os.WNOHANG)
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
        # its schedstat and context switches too: the kernel's own figures for the one thread
        assert t["oncpu_s"].tolist() == p["oncpu_s"].tolist() and t["oncpu_s"].notna().all()
        assert t["ctx_voluntary"].tolist() == p["ctx_voluntary"].tolist()
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


# a thread spinning in Python next to one sleeping in time.sleep; the spinner reports its CPU as the
# kernel counts it (schedstat) so the sampler's numbers can be checked against it
SPIN = """
import threading, time, os
def spin():
    t = time.monotonic()
    while time.monotonic() - t < 0.8:
        pass
    with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as fh:
        print(fh.read().split()[0], flush=True)
sleeper = threading.Thread(target=time.sleep, args=(30,), daemon=True); sleeper.start()
spinner = threading.Thread(target=spin); spinner.start()
print(sleeper.native_id, spinner.native_id, flush=True)
spinner.join(); time.sleep(30)
"""


def test_thread_rows_carry_the_kernels_schedstat_and_context_switches(tmp_path: Path) -> None:
    proc = start(SPIN)
    try:
        smp = sampler.Sampler(proc.pid, 0.01, tmp_path / "s.csv")
        smp.start()
        sleeper, spinner = (int(x) for x in proc.stdout.readline().split())  # type: ignore[union-attr]
        oncpu_ns = int(proc.stdout.readline())  # type: ignore[union-attr]
        time.sleep(0.1)
        smp.stop()
        df = pd.read_csv(tmp_path / "s.csv", dtype=SAMPLE_DTYPES)
        th = df[df["kind"] == "t"]
        spin, sleep = th[th["tid"] == spinner], th[th["tid"] == sleeper]
        assert spin["oncpu_s"].notna().all() and spin["runq_s"].notna().all()
        # cumulative: never decreasing, and the last sample (taken at most a few intervals before the
        # thread printed its own figure and ended) agrees with the kernel's figure the thread read
        assert spin["oncpu_s"].is_monotonic_increasing
        assert oncpu_ns / 1e9 > 0.05
        assert spin["oncpu_s"].iloc[-1] == pytest.approx(oncpu_ns / 1e9, abs=0.05)
        # the sleeper was asleep: no CPU to speak of, and it was not switched out hundreds of times
        assert sleep["oncpu_s"].iloc[-1] - sleep["oncpu_s"].iloc[0] < 0.01
        assert sleep["ctx_voluntary"].iloc[-1] <= 3
        # process rows carry the main thread's schedstat: it slept in join, then time.sleep
        main = df[df["kind"] == "p"]
        assert main["oncpu_s"].notna().all() and main["oncpu_s"].iloc[-1] < 0.5
    finally:
        kill(proc)


def test_idle_cores_spinning_takes_a_core_away() -> None:
    """What the analysis prefetch waits on: a busy-looping child leaves about one core fewer idle."""
    import subprocess
    import sys

    from tracekit.sampler import cpu_count, idle_cores

    quiet = idle_cores(0.3)
    assert 0.0 <= quiet <= cpu_count() + 0.05
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        busy = idle_cores(0.5)
    finally:
        spin.kill()
        spin.wait()
    assert busy <= quiet - 0.5, (quiet, busy)  # the spinner took (most of) a core


def test_idle_cores_leaves_out_tracekits_own_work() -> None:
    """A spinning thread of this process (tracekit's own work) takes no core away; a child's does."""
    import threading

    from tracekit.sampler import idle_cores

    quiet = idle_cores(0.3)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    t = threading.Thread(target=spin)
    t.start()
    try:
        own = idle_cores(0.5)
    finally:
        stop.set()
        t.join()
    assert own >= quiet - 0.35, (quiet, own)  # about as idle as without it (a loaded machine varies a little)
