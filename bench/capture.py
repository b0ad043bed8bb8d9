"""Real-program capture cost (issue 11): each workload run untraced, under plain viztracer, under
py-spy (a sampler a user would pick instead), under `tracekit profile` (default capture) and under
`tracekit profile --full`, in alternation (one round runs every variant once, in a rotated order),
medians over rounds.

Per run: total wall (spawn to exit), CPU of the whole tree (wait4 rusage of the command, which
includes every waited-for child), the tree's peak RSS (sampled here with psutil every 20 ms, so
independent of tracekit); for tracekit also its own reported peak RSS, data loss, overflow and the
run directory's size.

    .venv/bin/python bench/capture.py                    # all workloads, 3 rounds; writes bench/capture.json
    .venv/bin/python bench/capture.py --only async_count,fib --rounds 5
    .venv/bin/python bench/capture.py --quick            # tiny sizes, 1 round (the smoke test)
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench_run

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "bench" / "scripts"
PY = sys.executable
VARIANTS = (
    "untraced", "viztracer", "viztracer --min_duration 100", "py-spy",
    "tracekit", "tracekit --sampled", "tracekit --full",
)  # fmt: skip


@dataclass
class Measure:
    variant: str
    wall_s: float
    cpu_s: float
    tree_peak_rss_bytes: int
    code: int
    reported_peak_rss_bytes: int | None = None
    data_loss: list[str] | None = None
    overflow: bool | None = None
    run_dir_bytes: int | None = None
    events: int | None = None
    # tracekit's own time around the traced program (run.json's monotonic started_ns/ended_ns against this
    # script's clock): from the spawn of `tracekit` to the run's start (CLI start-up, the child's spawn),
    # the run itself (the child's start-up, the program, the tracer's save), and from the child's end to
    # tracekit's exit (the trace's and the structure's loading, analysis, report, trace.json)
    before_s: float | None = None
    child_s: float | None = None
    after_s: float | None = None


def tree_peak(pid: int, stop: threading.Event, out: list[int]) -> None:
    """Peak summed RSS of pid and its descendants, sampled every 20 ms."""
    peak = 0
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    while not stop.is_set():
        total = 0
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        for p in procs:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        peak = max(peak, total)
        stop.wait(0.02)
    out.append(peak)


def measure(
    argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 900
) -> tuple[float, float, int, int, float]:
    """(wall s, CPU s of the tree from wait4, tree peak RSS bytes, exit code, monotonic s of the spawn),
    with bench/run.py's runner."""
    peak: list[int] = []

    def watch(pid: int) -> Callable[[], None]:
        stop = threading.Event()
        sampler = threading.Thread(target=tree_peak, args=(pid, stop, peak), daemon=True)
        sampler.start()

        def end() -> None:
            stop.set()
            sampler.join()

        return end

    p = bench_run.run(argv, env=env, timeout=timeout, cwd=cwd, watch=watch)
    return p.wall_s, p.user_s + p.system_s, peak[0] if peak else 0, p.code, p.spawned_s


@dataclass
class Workload:
    name: str
    argv: list[str]  # after `python` (a script with args, or -m module args)
    setup: str = ""  # "asyncio_copy": a fresh copy of the stdlib's asyncio package for black to check;
    # "scratch": a fresh empty directory as {scratch}


def workloads(quick: bool) -> list[Workload]:
    return [
        Workload("black", ["-m", "black", "--check", "-q", "{copy}"], setup="asyncio_copy"),
        Workload("aiohttp", [str(SCRIPTS / "aiohttp_load.py"), "300" if quick else "4000", "50"]),
        Workload("async_count", [str(ROOT / "scenarios" / "async_count.py")]),
        Workload("fib", [str(SCRIPTS / "fib.py"), "18" if quick else "25", "2" if quick else "8"]),
    ]


CORPUS = ROOT / "tests" / "realworld" / "workloads"
SCRATCH = ("black_asyncio", "xdist_run")  # the corpus workloads that take a fresh directory as argv[1]


def corpus_workloads() -> list[Workload]:
    """The real-world corpus's programs (tests/realworld/workloads), as its tests run them."""
    out = []
    for p in sorted(CORPUS.glob("*.py")):
        scratch = p.stem in SCRATCH
        out.append(Workload(p.stem, [str(p), *(["{scratch}"] if scratch else [])], "scratch" if scratch else ""))
    return out


def command(variant: str, w: Workload, tmp: Path, copy: Path | None) -> list[str]:
    args = [a.replace("{copy}", str(copy)).replace("{scratch}", str(tmp / "scratch")) for a in w.argv]
    module = args[0] == "-m"
    if variant == "untraced":
        return [PY, *args]
    if variant.startswith("viztracer"):  # plain, or with the duration filter tracekit's default capture uses
        flt = ["--min_duration", "100"] if variant.endswith("100") else []
        return [PY, "-m", "viztracer", "--quiet", *flt, "-o", str(tmp / "viz.json"),
                *(["--module"] if module else ["--"]), *(args[1:] if module else args)]  # fmt: skip
    if variant == "py-spy":
        spy = shutil.which("py-spy", path=sysconfig.get_path("scripts")) or "py-spy"
        return [spy, "record", "--subprocesses", "--idle", "-r", "100", "-o", str(tmp / "spy.txt"), "-f", "raw",
                "--", PY, *args]  # fmt: skip
    flags = variant.split()[1:]  # "tracekit --full" -> ["--full"]
    return [PY, "-m", "tracekit", "profile", "-q", *flags, "-o", str(tmp / "run"), *args]


def phases(info: dict[str, Any], spawned_s: float, wall_s: float) -> tuple[float | None, ...]:
    """(before, child, after) seconds of a tracekit run: see Measure."""
    start, end = info.get("started_ns"), info.get("ended_ns")
    if not isinstance(start, int) or not isinstance(end, int):
        return None, None, None
    before = start / 1e9 - spawned_s
    child = (end - start) / 1e9
    return round(before, 3), round(child, 3), round(wall_s - before - child, 3)


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def one(variant: str, w: Workload, work: Path) -> Measure:
    tmp = Path(tempfile.mkdtemp(dir=work))
    copy = None
    env = dict(os.environ, BLACK_CACHE_DIR=str(tmp / "black-cache"))
    if w.setup == "asyncio_copy":
        copy = tmp / "asyncio_copy"
        shutil.copytree(Path(os.__file__).parent / "asyncio", copy)
    wall, cpu, peak, code, spawned = measure(command(variant, w, tmp, copy), env, ROOT)
    m = Measure(variant, wall, cpu, peak, code)
    run = tmp / "run"
    if variant.startswith("tracekit") and (run / "stats.json").is_file():
        stats = json.loads((run / "stats.json").read_text())
        info = json.loads((run / "run.json").read_text())
        m.reported_peak_rss_bytes = int(stats.get("peak_rss_bytes") or stats.get("peak_rss_tree_bytes") or 0)
        m.data_loss = list(stats["data_loss"]["warnings"])
        m.overflow = bool(stats["data_loss"]["overflow"])
        m.run_dir_bytes = dir_bytes(run)
        m.events = int((info.get("trace") or {}).get("events") or 0)
        m.before_s, m.child_s, m.after_s = phases(info, spawned, wall)
    shutil.rmtree(tmp, ignore_errors=True)
    return m


def med(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def summarise(name: str, ms: list[Measure]) -> dict[str, Any]:
    by: dict[str, list[Measure]] = {}
    for m in ms:
        by.setdefault(m.variant, []).append(m)
    base = med([m.wall_s for m in by.get("untraced", [])])
    rows: dict[str, dict[str, Any]] = {}
    for v, group in by.items():
        wall = med([m.wall_s for m in group])
        rows[v] = {
            "wall_s": round(wall, 3),
            "wall_ratio": round(wall / base, 3) if base else None,
            "cpu_s": round(med([m.cpu_s for m in group]), 3),
            "tree_peak_rss_mib": round(med([m.tree_peak_rss_bytes for m in group]) / 2**20, 1),
            "codes": sorted({m.code for m in group}),
        }
        if v.startswith("tracekit"):
            g = group[-1]
            rows[v].update(
                reported_peak_rss_mib=round((g.reported_peak_rss_bytes or 0) / 2**20, 1),
                overflow=g.overflow, data_loss=g.data_loss, run_dir_mib=round((g.run_dir_bytes or 0) / 2**20, 2),
                events=g.events,
                before_s=med([m.before_s for m in group if m.before_s is not None]),
                child_s=med([m.child_s for m in group if m.child_s is not None]),
                after_s=med([m.after_s for m in group if m.after_s is not None]),
            )  # fmt: skip
    return {"workload": name, "rounds": len(by.get("untraced", [])), "variants": rows, "raw": [asdict(m) for m in ms]}


def table(results: list[dict[str, Any]]) -> str:
    head = "| workload | variant | wall s | ×untraced | CPU s | tree peak RSS MiB |"
    lines = [
        head + " tracekit: before / run / after s, reported RSS MiB, run dir MiB, events, data loss |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for v, row in r["variants"].items():
            extra = ""
            if v.startswith("tracekit"):
                loss = "; ".join(w[:60] for w in row["data_loss"] or []) or "none"
                extra = (
                    f"{row['before_s']:.2f} / {row['child_s']:.2f} / {row['after_s']:.2f}, "
                    f"{row['reported_peak_rss_mib']}, {row['run_dir_mib']}, {row['events']}, {loss}"
                )
            lines.append(f"| {r['workload']} | {v} | {row['wall_s']} | {row['wall_ratio']} | {row['cpu_s']} | "
                         f"{row['tree_peak_rss_mib']} | {extra} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--corpus", action="store_true", help="the real-world corpus's workloads instead")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "capture.json")
    a = ap.parse_args(argv)
    rounds = 1 if a.quick else a.rounds
    variants = [v for v in a.variants.split(",") if v]
    pool = corpus_workloads() if a.corpus else workloads(a.quick)
    chosen = [w for w in pool if not a.only or w.name in a.only.split(",")]
    # tracekit's bytecode, as an installed package has it (pip compiles on install): with
    # PYTHONDONTWRITEBYTECODE set (as on these machines) an editable checkout would recompile its modules
    # from source in every run, ~30 ms before the child and more after it, which no user pays
    compileall.compile_dir(str(ROOT / "tracekit"), quiet=1)
    results = []
    with tempfile.TemporaryDirectory(prefix="tk-capture-") as work:
        for w in chosen:
            ms: list[Measure] = []
            for k in range(rounds):
                order = variants[k % len(variants) :] + variants[: k % len(variants)]
                for v in order:
                    m = one(v, w, Path(work))
                    print(f"{w.name:12s} {v:16s} {m.wall_s:7.3f} s  cpu {m.cpu_s:6.2f} s  rss "
                          f"{m.tree_peak_rss_bytes / 2**20:7.1f} MiB  rc {m.code}", flush=True)  # fmt: skip
                    ms.append(m)
            results.append(summarise(w.name, ms))
    doc = {
        "machine": {
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "load_avg_end": os.getloadavg(),
            "pythondontwritebytecode": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
            "date": time.strftime("%Y-%m-%d %H:%M"),
        },
        "results": results,
    }
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(table(results))
    print(medians(results))
    return 0


def medians(results: list[dict[str, Any]]) -> str:
    """Per variant: the median and the largest wall ratio over the workloads."""
    by: dict[str, list[float]] = {}
    for r in results:
        for v, row in r["variants"].items():
            if isinstance(row.get("wall_ratio"), (int, float)):
                by.setdefault(v, []).append(float(row["wall_ratio"]))
    return "\n".join(f"{v}: median x{med(xs):.2f}, max x{max(xs):.2f} over {len(xs)} workloads" for v, xs in by.items())


if __name__ == "__main__":
    sys.exit(main())
