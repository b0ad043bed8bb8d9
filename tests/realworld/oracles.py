"""The corpus's oracles: facts about a real program that tracekit's analysis did not compute.

`untraced(argv)` runs the program without tracekit, under oracle_boot.py's instruments, and measures
it from outside: wall time, CPU and the largest process from `os.wait4`'s rusage, and a psutil sampler
written here (20 ms) for the tree's summed RSS, the processes alive at once and their threads as
/proc/PID/task lists them. `traced(argv)` runs `tracekit profile` on the same program and returns its
stats.json and run.json. Each corpus test compares the two.

Both record what the rest of the machine did meanwhile (`others_cores`: the machine's busy CPU from
/proc/stat less the run's own rusage, per second of wall): the corpus runs on a shared machine, and a
verdict about cores (parallel, short of cores) is judged against the load of the run it was drawn from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
WORKLOADS = HERE / "workloads"
BOOT = HERE / "oracle_boot.py"
ROOT = HERE.parent.parent


@dataclass(frozen=True)
class Untraced:
    wall_s: float
    cpu_s: float  # ru_utime + ru_stime of the program and its waited-for children
    max_rss_bytes: int  # largest single process (ru_maxrss)
    tree_rss_peak_bytes: int  # highest summed RSS of the tree at a 20 ms sample
    max_processes: int  # processes of the tree alive at once (the root included)
    max_os_threads: int  # most threads /proc/PID/task listed in one process at once
    exit_code: int
    stdout: str
    stderr: str
    boot: dict[str, Any]  # oracle_boot.py's facts (loop callbacks, tasks, threads)
    facts: dict[str, Any]  # the program's own facts: JSON on its last stdout line ({} if none)
    others_cores: float = 0.0  # cores other programs kept busy on average meanwhile (/proc/stat)
    machine_cores: float = 0.0  # cores the whole machine kept busy on average meanwhile (/proc/stat)

    @property
    def parallelism(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def thread_sleep_fractions(self) -> list[float]:
        """Per finished thread of at least 0.1 s: the share of its wall time it slept."""
        out = []
        for t in self.boot.get("threads", []):
            if t["wall_s"] >= 0.1:
                out.append(max(0.0, 1 - (t["oncpu_s"] + t["runq_s"]) / t["wall_s"]))
        return out

    def threads_together_s(self) -> float:
        """Seconds during which two or more of the program's threading.Threads were running at once, from
        each thread's own start and wall time (oracle_boot.py), the main thread not counted."""
        edges = sorted(
            [(t["start_s"], 1) for t in self.boot.get("threads", [])]
            + [(t["start_s"] + t["wall_s"], -1) for t in self.boot.get("threads", [])]
        )
        together, alive, last = 0.0, 0, 0.0
        for at, d in edges:
            if alive >= 2:
                together += at - last
            alive, last = alive + d, at
        return together

    def thread_oncpu_fractions(self) -> list[float]:
        """Per finished thread of at least 0.1 s: the share of its wall time it was on a CPU (whatever
        the machine's load: a queued thread is not on a CPU, and neither is a sleeping one)."""
        return [t["oncpu_s"] / t["wall_s"] for t in self.boot.get("threads", []) if t["wall_s"] >= 0.1]


def machine_busy_s() -> float:
    """CPU seconds all of this machine's cores have been busy since boot (/proc/stat: all but idle and
    iowait)."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def others(busy0: float, own_cpu_s: float, wall_s: float) -> float:
    """Cores the rest of the machine kept busy on average since busy0, the run's own CPU excluded."""
    return max(0.0, machine_busy_s() - busy0 - own_cpu_s) / wall_s if wall_s > 0 else 0.0


@dataclass
class _Tree:
    root: psutil.Process
    rss_peak: int = 0
    procs_peak: int = 0
    threads_peak: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            rss, alive = 0, 0
            for p in procs:
                try:
                    rss += p.memory_info().rss
                    self.threads_peak = max(self.threads_peak, len(os.listdir(f"/proc/{p.pid}/task")))
                    alive += 1
                except (psutil.Error, OSError):
                    continue
            self.rss_peak = max(self.rss_peak, rss)
            self.procs_peak = max(self.procs_peak, alive)
            time.sleep(0.02)


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(PYTHONUNBUFFERED="1", **(extra or {}))
    return env


def last_json(stdout: str) -> dict[str, Any]:
    lines = [ln for ln in stdout.strip().splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def untraced(
    argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> Untraced:
    """Run `python oracle_boot.py ARGV` (a script and its args, or -m MODULE ...) without tracekit."""
    with tempfile.TemporaryDirectory() as tmp:
        boot_out = Path(tmp) / "boot.json"
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        with open(out, "w") as fo, open(err, "w") as fe:
            t0, busy0 = time.monotonic(), machine_busy_s()
            proc = subprocess.Popen([sys.executable, str(BOOT), *argv], stdout=fo, stderr=fe, cwd=cwd or ROOT,
                                    env=_env({**(env or {}), "TK_ORACLE_OUT": str(boot_out)}))  # fmt: skip
            tree = _Tree(psutil.Process(proc.pid))
            sampler = threading.Thread(target=tree.run, daemon=True)
            sampler.start()
            deadline = t0 + timeout
            while True:
                pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    proc.kill()
                    raise AssertionError(f"untraced run of {argv} exceeded {timeout} s")
                time.sleep(0.005)
            wall = time.monotonic() - t0
            other, machine = others(busy0, ru.ru_utime + ru.ru_stime, wall), (machine_busy_s() - busy0) / wall
            proc.returncode = os.waitstatus_to_exitcode(status)
            tree.stop.set()
            sampler.join()
        stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
        boot = json.loads(boot_out.read_text()) if boot_out.exists() else {}
    return Untraced(
        wall_s=wall, cpu_s=ru.ru_utime + ru.ru_stime, max_rss_bytes=ru.ru_maxrss * 1024,
        tree_rss_peak_bytes=tree.rss_peak, max_processes=tree.procs_peak, max_os_threads=tree.threads_peak,
        exit_code=proc.returncode, stdout=stdout, stderr=stderr, boot=boot, facts=last_json(stdout),
        others_cores=other, machine_cores=machine,
    )  # fmt: skip


@dataclass(frozen=True)
class Traced:
    run_dir: Path
    exit_code: int
    stdout: str
    stderr: str
    stats: dict[str, Any]
    run: dict[str, Any]
    facts: dict[str, Any]  # the program's own facts, printed under the tracer
    others_cores: float = 0.0  # cores other programs kept busy on average meanwhile (/proc/stat)
    machine_cores: float = 0.0  # cores the whole machine kept busy on average meanwhile (/proc/stat)

    def kinds(self) -> list[str]:
        return [f["kind"] for f in self.stats["findings"]]

    def finding(self, kind: str) -> dict[str, Any] | None:
        return next((f for f in self.stats["findings"] if f["kind"] == kind), None)

    def text(self) -> str:
        """Every message the run gave a user: findings and data-loss warnings."""
        return "\n".join([f["message"] for f in self.stats["findings"]] + self.stats["data_loss"]["warnings"])


def traced(
    argv: list[str],
    out: Path,
    env: dict[str, str] | None = None,
    options: list[str] | None = None,
    timeout: float = 240,
) -> Traced:
    """`tracekit profile -q -o OUT [OPTIONS] ARGV` as a user runs it."""
    # TRACEKIT_CORPUS_CAPTURE=--sampled runs the corpus under another capture (where a test does not pick its own)
    extra = os.environ.get("TRACEKIT_CORPUS_CAPTURE", "").split()
    options = list(options or []) or extra
    cmd = [sys.executable, "-m", "tracekit", "profile", "-q", "-o", str(out), *options, *argv]
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        t0, busy0 = time.monotonic(), machine_busy_s()
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, text=True, cwd=ROOT, env=_env(env))
        while True:  # rusage: tracekit, the program and every process they waited for
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > timeout:
                proc.kill()
                proc.wait()
                raise AssertionError(f"traced run of {argv} exceeded {timeout} s")
            time.sleep(0.01)
        wall = time.monotonic() - t0
        other, machine = others(busy0, ru.ru_utime + ru.ru_stime, wall), (machine_busy_s() - busy0) / wall
        fo.seek(0)
        fe.seek(0)
        stdout_text, stderr_text = fo.read(), fe.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stats = json.loads((out / "stats.json").read_text())
    run = json.loads((out / "run.json").read_text())
    stdout = "\n".join(line[2] for line in run["output"]["lines"] if line[1] == "stdout")
    return Traced(out, proc.returncode, stdout_text, stderr_text, stats, run, last_json(stdout), other, machine)


def workload(name: str) -> str:
    return str(WORKLOADS / name)
