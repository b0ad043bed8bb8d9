"""tracekit's performance benchmarks (issue 7): one command, ratios measured side by side.

    .venv/bin/python bench/run.py            # everything, ~5 min; writes bench/results.json
    .venv/bin/python bench/run.py --quick    # tiny sizes, 1 round: keeps the scripts working (~30 s)
    .venv/bin/python bench/run.py --only e2e,analysis --rounds 7

Every ratio compares A and B measured in alternation (A B, B A, A B, ...) in the same session, and
uses medians, so background load on a shared machine hits both sides alike. `--tree DIR` runs the
tracekit of another checkout (through PYTHONPATH) to get "before" figures; see bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SCRIPTS = BENCH / "scripts"
SCENARIOS = ROOT / "scenarios"
PY = sys.executable
EXECUTED = re.compile(r"executed in ([0-9.]+) seconds")


@dataclass
class Proc:
    """One finished command: wall time (perf_counter around spawn → wait4), its rusage, its output."""

    wall_s: float
    maxrss_bytes: int
    user_s: float
    system_s: float
    code: int
    stdout: str
    stderr: str
    spawned_s: float = 0.0  # perf_counter (CLOCK_MONOTONIC, as time.monotonic) just before the spawn


def run(
    argv: list[str],
    env: dict[str, str] | None = None,
    timeout: float = 900,
    cwd: Path = ROOT,
    watch: Callable[[int], Callable[[], None]] | None = None,
) -> Proc:
    """`watch(pid)`, if given, starts watching the process (bench/capture.py samples its tree) and
    returns the function that stops it once the process has been waited for."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        stop = watch(p.pid) if watch is not None else None
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.002)
        wall = time.perf_counter() - t0
        if stop is not None:
            stop()
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Proc(
            wall, ru.ru_maxrss * 1024, ru.ru_utime, ru.ru_stime, p.returncode,
            out.read().decode(errors="replace"), err.read().decode(errors="replace"), t0,
        )  # fmt: skip


def executed_in(text: str) -> float:
    m = EXECUTED.search(text)
    if m is None:
        raise RuntimeError(f"no 'executed in' line in the output: {text[-300:]!r}")
    return float(m.group(1))


def med(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def spread(xs: list[float]) -> str:
    return f"{min(xs):.3f}-{max(xs):.3f}" if xs else ""


@dataclass
class Bench:
    """Measured values for one benchmark, its headline ratio(s), the target and whether it is met."""

    name: str
    what: str
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per headline figure

    def add(self, figure: str, value: float, target: str, met: bool | None, detail: str = "") -> None:
        self.rows.append({"figure": figure, "value": round(value, 4), "target": target, "met": met, "detail": detail})


class Runner:
    def __init__(self, tree: Path, rounds: int, quick: bool, work: Path) -> None:
        self.tree = tree
        self.rounds = rounds
        self.quick = quick
        self.work = work
        self.env = dict(os.environ, PYTHONPATH=str(tree), PYTHONUNBUFFERED="1")
        self.n = 0

    def check_tree(self) -> None:
        """`python -m tracekit` in cwd=tree imports the tree's tracekit (sys.path[0] is the cwd)."""
        p = run([PY, "-c", "import tracekit; print(tracekit.__file__)"], self.env, cwd=self.tree)
        if not p.stdout.strip().startswith(str(self.tree)):
            raise RuntimeError(f"tracekit imports from {p.stdout.strip()}, not from --tree {self.tree}")

    def tracekit(self, *args: str) -> list[str]:
        return [PY, "-m", "tracekit", *args]

    def profile(self, script: Path, *args: str, extra: tuple[str, ...] = ()) -> tuple[Proc, Path]:
        self.n += 1
        out = self.work / f"run{self.n}"
        p = run(
            self.tracekit("profile", "-q", "-o", str(out), "--force", *extra, str(script), *args),
            self.env,
            cwd=self.tree,
        )
        if p.code != 0 or not (out / "run.json").is_file():
            raise RuntimeError(f"tracekit profile {script.name} failed ({p.code}): {p.stderr[-500:]}")
        return p, out

    def alternate(
        self, a: Callable[[], Any], b: Callable[[], Any], rounds: int | None = None
    ) -> tuple[list[Any], list[Any]]:
        """A B, B A, A B ...: each side gets the early and the late slot equally often."""
        ra: list[Any] = []
        rb: list[Any] = []
        for i in range(rounds or self.rounds):
            if i % 2 == 0:
                ra.append(a())
                rb.append(b())
            else:
                rb.append(b())
                ra.append(a())
        return ra, rb


def run_json(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "run.json").read_text())
    return data


def script_time_from_run(out: Path) -> float:
    lines = run_json(out).get("output", {}).get("lines", [])
    return executed_in("\n".join(str(line[2]) for line in lines))


def sampler_pct(out: Path) -> float:
    r = run_json(out)
    wall = float(r["ended_ns"] - r["started_ns"]) / 1e9
    return 100.0 * float(r["samples"]["sampler_cpu_s"]) / wall


# --------------------------------------------------------------------------------------------------


def bench_e2e(r: Runner) -> Bench:
    """`tracekit profile scenarios/async_count.py` (whole command) vs `python scenarios/async_count.py`,
    plus the observer effect on the script's own time and the sampler's CPU, from the same runs."""
    b = Bench("e2e", "end to end and observer effect on scenarios/async_count.py (sleep-bound)")
    script = SCENARIOS / "async_count.py"
    bare, tk = r.alternate(lambda: run([PY, str(script)], r.env), lambda: r.profile(script))
    bw = [p.wall_s for p in bare]
    tw = [p.wall_s for p, _ in tk]
    b.add("total wall, tracekit / bare", med(tw) / med(bw), "<= 1.25", med(tw) / med(bw) <= 1.25,
          f"bare {med(bw):.3f} s ({spread(bw)}), tracekit {med(tw):.3f} s ({spread(tw)})")  # fmt: skip
    bs = [executed_in(p.stdout) for p in bare]
    ts = [script_time_from_run(out) for _, out in tk]
    b.add("script time, tracekit / bare", med(ts) / med(bs), "<= 1.02", med(ts) / med(bs) <= 1.02,
          f"bare {med(bs):.2f} s, tracekit {med(ts):.2f} s (the script prints 2 decimals)")  # fmt: skip
    pct = [sampler_pct(out) for _, out in tk]
    b.add("sampler CPU, % of a core (sleep-bound)", med(pct), "<= 2", med(pct) <= 2, f"runs {spread(pct)}")
    return b


def bench_observer(r: Runner) -> Bench:
    """The script's own 'executed in' time under tracekit vs bare, on the other sleep-bound scenarios."""
    b = Bench("observer", "observer effect on sleep-bound scenarios (script's own time)")
    for name in ("sync_count.py", "thread_count.py"):
        script = SCENARIOS / name
        bare, tk = r.alternate(lambda s=script: run([PY, str(s)], r.env), lambda s=script: r.profile(s))  # type: ignore[misc]
        bs = [executed_in(p.stdout) for p in bare]
        ts = [script_time_from_run(out) for _, out in tk]
        ratio = med(ts) / med(bs)
        b.add(f"{name} script time, tracekit / bare", ratio, "<= 1.02", ratio <= 1.02,
              f"bare {med(bs):.2f} s, tracekit {med(ts):.2f} s")  # fmt: skip
    return b


def bench_sampler(r: Runner) -> Bench:
    """Call-heavy CPU code: tracekit (viztracer + sampler + output capture) vs plain viztracer, same
    buffer size, script time measured inside the script; and the sampler's own CPU."""
    b = Bench("sampler", "sampler cost on call-heavy CPU code (bench/scripts/fib.py)")
    args = ("20", "3") if r.quick else ("25", "40")
    entries = "10000"
    script = SCRIPTS / "fib.py"
    vz_out = r.work / "vz.json"

    def plain() -> Proc:
        cmd = [PY, "-m", "viztracer", "--quiet", "--log_async", "--tracer_entries", entries, "-o", str(vz_out)]
        return run([*cmd, "--", str(script), *args], r.env)

    bare, tk = r.alternate(plain, lambda: r.profile(script, *args, extra=("--tracer-entries", entries)))
    vs = [executed_in(p.stdout) for p in bare]
    ts = [script_time_from_run(out) for _, out in tk]
    ratio = med(ts) / med(vs)
    b.add("script time, tracekit / viztracer", ratio, "<= 1.05", ratio <= 1.05,
          f"viztracer {med(vs):.3f} s ({spread(vs)}), tracekit {med(ts):.3f} s ({spread(ts)})")  # fmt: skip
    pct = [sampler_pct(out) for _, out in tk]
    b.add("sampler CPU, % of a core (CPU-bound)", med(pct), "<= 2", med(pct) <= 2, f"runs {spread(pct)}")
    return b


def _analysis_ratio(r: Runner, b: Bench, label: str, out: Path, wall_target: float) -> None:
    trace = out / "trace.json"
    size = trace.stat().st_size
    load = [PY, "-c", f"import json; json.load(open({str(trace)!r}))"]
    js, rep = r.alternate(lambda: run(load, r.env), lambda: run(r.tracekit("report", str(out)), r.env, cwd=r.tree))
    for p in rep:
        if p.code != 0:
            raise RuntimeError(f"tracekit report failed: {p.stderr[-500:]}")
    jw = [p.wall_s for p in js]
    tw = [p.wall_s for p in rep]
    ratio = med(tw) / med(jw)
    b.add(f"{label}: report wall / json.load wall", ratio, f"<= {wall_target}", ratio <= wall_target,
          f"json.load {med(jw):.2f} s ({spread(jw)}), tracekit report {med(tw):.2f} s ({spread(tw)}), "
          f"trace {size / 1e6:.1f} MB")  # fmt: skip
    rss = med([float(p.maxrss_bytes) for p in rep])
    b.add(
        f"{label}: report peak RSS / trace size",
        rss / size,
        "<= 3",
        rss / size <= 3,
        f"report {rss / 2**20:.0f} MiB, json.load {med([float(p.maxrss_bytes) for p in js]) / 2**20:.0f} MiB",
    )
    html = (out / "report.html").stat().st_size
    b.add(f"{label}: report.html MB", html / 1e6, "<= 5", html <= 5e6, f"{html:,} bytes")


def bench_analysis(r: Runner) -> Bench:
    """`tracekit report RUN` on a ~1M-event trace vs `python -c "json.load(...)"` of the same file."""
    b = Bench("analysis", "analysis of a big trace (bench/scripts/calls.py under tracekit profile)")
    events = "30000" if r.quick else "990000"
    p, out = r.profile(SCRIPTS / "calls.py", events)
    info = run_json(out)["trace"]
    b.add("events in the trace", float(info.get("events", 0)), "~1M", None,
          f"overflow {info.get('overflow')}, profile wall {p.wall_s:.1f} s")  # fmt: skip
    _analysis_ratio(r, b, "1M events" if not r.quick else "30k events", out, 1.5)
    return b


def bench_report_size(r: Runner) -> Bench:
    """report.html of every bundled scenario."""
    b = Bench("report_size", "report.html size of the bundled scenarios")
    names = ["async_count.py"] if r.quick else sorted(p.name for p in SCENARIOS.glob("*.py"))
    sizes = {}
    for name in names:
        _p, out = r.profile(SCENARIOS / name)
        sizes[name] = (out / "report.html").stat().st_size
    big = max(sizes, key=lambda k: sizes[k])
    b.add("largest scenario report.html MB", sizes[big] / 1e6, "<= 1", sizes[big] <= 1e6,
          ", ".join(f"{k} {v / 1e3:.0f} kB" for k, v in sizes.items()))  # fmt: skip
    return b


def bench_scale(r: Runner) -> Bench:
    """10,000 asyncio tasks: the run completes, the report renders, analysis vs json.load."""
    b = Bench("scale", "scale: bench/scripts/async_many.py N tasks")
    n = "200" if r.quick else "10000"
    p, out = r.profile(SCRIPTS / "async_many.py", n)
    info = run_json(out)["trace"]
    b.add(f"{n} tasks: profile wall s", p.wall_s, "completes", p.code == 0,
          f"{info.get('events')} events, overflow {info.get('overflow')}")  # fmt: skip
    _analysis_ratio(r, b, f"{n} tasks", out, 2.0)
    return b


def bench_timing(r: Runner) -> Bench:
    """compare's untraced timing harness (tracekit.timing) vs hyperfine on the same command."""
    b = Bench("timing", "compare's untraced timing harness vs hyperfine (mean wall)")
    hf = shutil.which("hyperfine")
    code = (
        "import json, sys; from pathlib import Path; from tracekit import timing\n"
        "res = timing.measure_round_robin([Path(sys.argv[1])], repeat=int(sys.argv[2]), warmup=1)\n"
        "print(json.dumps([m.wall_s for m in res[0]]))"
    )
    try:
        import importlib.util

        has_timing = importlib.util.find_spec("tracekit.timing") is not None
    except ImportError:
        has_timing = False
    if hf is None or not has_timing:
        b.add("mean wall, harness / hyperfine", float("nan"), "within 2 %", None,
              "skipped: " + ("hyperfine is not installed (apt install hyperfine)" if hf is None
                             else "tracekit.timing does not exist yet"))  # fmt: skip
        return b
    runs = 2 if r.quick else 5
    json_out = r.work / "hf.json"
    for name in ("async_count.py", "sync_cpu.py"):
        script = SCENARIOS / name

        def harness(s: Path = script) -> list[float]:
            p = run([PY, "-c", code, str(s), str(runs)], r.env, cwd=r.tree)
            if p.code != 0:
                raise RuntimeError(f"timing harness failed: {p.stderr[-500:]}")
            times: list[float] = json.loads(p.stdout.strip().splitlines()[-1])
            return times

        def hyperfine(s: Path = script) -> list[float]:
            cmd = [hf, "-N", "--warmup", "1", "--runs", str(runs), "--export-json", str(json_out)]
            p = run([*cmd, f"{PY} {s}"], r.env)
            if p.code != 0:
                raise RuntimeError(f"hyperfine failed: {p.stderr[-500:]}")
            times: list[float] = json.loads(json_out.read_text())["results"][0]["times"]
            return times

        blocks = 1 if r.quick else 3
        ha, hb = r.alternate(harness, hyperfine, rounds=blocks)
        a = [x for blk in ha for x in blk]
        h = [x for blk in hb for x in blk]
        ratio = statistics.mean(a) / statistics.mean(h)
        b.add(
            f"{name} mean wall, harness / hyperfine",
            ratio,
            "0.98-1.02",
            abs(ratio - 1) <= 0.02,
            f"harness {statistics.mean(a):.4f} s, hyperfine {statistics.mean(h):.4f} s, {len(a)} runs each",
        )
    return b


BENCHES: dict[str, Callable[[Runner], Bench]] = {
    "e2e": bench_e2e,
    "observer": bench_observer,
    "sampler": bench_sampler,
    "analysis": bench_analysis,
    "report_size": bench_report_size,
    "scale": bench_scale,
    "timing": bench_timing,
}
QUICK = ["e2e", "sampler", "analysis", "scale"]


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform()}


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| benchmark | figure | value | target | met | detail |", "|---|---|---|---|---|---|"]
    for res in results:
        for row in res["rows"]:
            met = {True: "yes", False: "**no**", None: "-"}[row["met"]]
            lines.append(
                f"| {res['name']} | {row['figure']} | {row['value']:.3f} | {row['target']} | {met} | {row['detail']} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one round (smoke test)")
    ap.add_argument("--rounds", type=int, default=None, help="A/B pairs per ratio (default 5, quick 1)")
    ap.add_argument("--only", default="", help=f"comma-separated subset of {','.join(BENCHES)}")
    ap.add_argument("--tree", type=Path, default=ROOT, help="tracekit checkout to benchmark (default: this one)")
    ap.add_argument("--out", type=Path, default=None, help="results file (default bench/results.json; quick: none)")
    ns = ap.parse_args(argv)
    names = [n for n in ns.only.split(",") if n] or (QUICK if ns.quick else list(BENCHES))
    unknown = set(names) - set(BENCHES)
    if unknown:
        ap.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {','.join(BENCHES)}")
    rounds = ns.rounds or (1 if ns.quick else 5)
    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="tracekit-bench-") as tmp:
        r = Runner(ns.tree.resolve(), rounds, ns.quick, Path(tmp))
        r.check_tree()
        for name in names:
            t0 = time.perf_counter()
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            res = BENCHES[name](r)
            results.append(
                {"name": res.name, "what": res.what, "rows": res.rows, "seconds": round(time.perf_counter() - t0, 1)}
            )
    doc = {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "tree": str(ns.tree.resolve()),
        "rounds": rounds,
        "quick": ns.quick,
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "results": results,
    }
    out = ns.out if ns.out is not None else (None if ns.quick else BENCH / "results.json")
    if out is not None:
        out.write_text(json.dumps(doc, indent=2, allow_nan=True) + "\n")
    m = doc["machine"]
    load = f"load {load_before[0]:.1f} -> {doc['load_avg_after'][0]:.1f}"
    print(f"{doc['date']}  {m['nproc']} cores, {m['cpu']}, Python {m['python']}, {load}")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
