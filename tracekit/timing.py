"""Gathering the inputs of `tracekit compare`: untraced timings measured from outside, one traced
run per script through the usual pipeline, and earlier run or comparison directories read back.

Untraced timing (`Spawner.measure`): the script runs as `python SCRIPT` in its own session with
stdin and stdout on /dev/null (stderr kept in a temp file for the error message), started by a
small helper process (see _SPAWNER for why). Wall time is `time.perf_counter()` around
posix_spawn → `os.wait4` in that helper; CPU and peak RSS come from the rusage `wait4`
returns, which covers the child and every descendant it waited for (multiprocessing joins its
workers, so they count; an orphan that nobody waited for does not). ru_maxrss is the largest
single process, not the tree's sum: the summed peak comes from the traced run's psutil samples.
No psutil here: sampling would perturb what is being timed.

`measure_round_robin` alternates the scripts (A B C A B C …) so slow drift in background load
hits every model alike; warm-up rounds are run the same way and discarded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracekit import reaper
from tracekit.compare import SCHEMA, SCHEMA_1, FindingText, Input, Span, Traced, describe, inputs_from_dict
from tracekit.errors import EXIT_TIMEOUT, Interrupted, RunDirError, TracekitError, UsageError

if TYPE_CHECKING:
    from tracekit.analysis import Analysis
    from tracekit.runinfo import RunInfo

COMPARISON_JSON = "comparison.json"
COMPARISON_HTML = "comparison.html"
PARTIAL_TIMINGS = "timings.partial.jsonl"  # the untraced timings taken so far; removed once comparison.json is written
MAX_UNITS = 200  # units per run kept in comparison.json for the timelines


@dataclass(frozen=True)
class Measurement:
    """One untraced run, measured from outside."""

    wall_s: float
    user_s: float
    system_s: float
    max_rss_bytes: int  # ru_maxrss: the largest single process of the waited-for tree
    exit_code: int
    stderr_tail: str
    timed_out: bool = False  # killed by compare --timeout


# The spawner: a minimal Python (no site, ~9 MiB) that starts each measured run and reports its
# rusage. Linux carries ru_maxrss across exec from the spawning memory image (even through
# posix_spawn's vfork), so a child spawned straight from tracekit (pandas loaded, ~80 MiB) would
# report tracekit's size as the script's peak RSS. Protocol: one JSON request per stdin line;
# replies {"pid"} once started, then {"wall_s", "user_s", "system_s", "maxrss_kib", "status"}.
_SPAWNER = r"""
import importlib.util, json, os, signal, sys, time
spec = importlib.util.spec_from_file_location("tracekit_reaper", sys.argv[1])
reaper = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reaper)
# tracekit stops the run on Ctrl-C, SIGTERM, SIGHUP; the spawner keeps reaping it, and dies with tracekit.
# The run gets them back as tracekit got them (posix_spawn keeps SIG_IGN): an ignored SIGTERM would
# make multiprocessing's terminate() hang; one the user ignored (nohup) stays ignored.
stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
restore = [sig for sig in stops if signal.getsignal(sig) != signal.SIG_IGN]
for sig in stops:
    signal.signal(sig, signal.SIG_IGN)
reaper.die_with_parent()
reaper.become_subreaper()  # a measured run's orphans re-parent here, where they are killed
current = [0, False]
def on_alarm(_sig, _frame):
    current[1] = True
    try:
        os.killpg(current[0], 9)
    except OSError:
        pass
signal.signal(signal.SIGALRM, on_alarm)
for line in sys.stdin:
    req = json.loads(line)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, req["stderr"], os.O_WRONLY | os.O_TRUNC, 0),
    ]
    os.chdir(req["cwd"])
    t0 = time.perf_counter()
    pid = os.posix_spawn(req["argv"][0], req["argv"], req["env"], file_actions=actions, setsid=True, setsigdef=restore)
    current[:] = [pid, False]
    if req.get("timeout_s"):
        signal.setitimer(signal.ITIMER_REAL, req["timeout_s"])
    print(json.dumps({"pid": pid}), flush=True)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        os.killpg(pid, 9)  # leftovers in its session must not run into the next measurement
    except OSError:
        pass
    reaper.kill_token(req["token"])  # ...nor those that left it (daemons, new sessions)
    reaper.kill_orphans(keep=())  # ...nor those that also cleared their environment
    reaper.reap_zombies()
    out = {"wall_s": wall, "user_s": ru.ru_utime, "system_s": ru.ru_stime, "maxrss_kib": ru.ru_maxrss}
    print(json.dumps({**out, "status": status, "timed_out": current[1]}), flush=True)
"""


class Spawner:
    """A long-lived minimal process that runs and measures each untraced run (see _SPAWNER)."""

    def __init__(self, timeout_s: float | None = None) -> None:
        self.timeout_s = timeout_s
        self.token = reaper.run_token()
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-c", _SPAWNER, reaper.__file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip

    def __enter__(self) -> Spawner:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise TracekitError("the timing helper process died; rerun tracekit compare")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def measure(self, argv: Sequence[str], cwd: Path | None = None) -> Measurement:
        """Run argv (argv[0] an absolute path) to completion; stdin/stdout on /dev/null."""
        assert self.proc.stdin is not None
        with tempfile.NamedTemporaryFile(prefix="tracekit-stderr-") as errf:
            env = dict(os.environ, **{reaper.TOKEN_ENV: self.token})  # every process of the run carries it
            req = {
                "argv": list(argv), "cwd": str(cwd or Path.cwd()), "env": env, "stderr": errf.name,
                "token": self.token, "timeout_s": self.timeout_s,
            }  # fmt: skip
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            pid = int(self._reply()["pid"])
            try:
                rep = self._reply()
            except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP: the measured run goes first
                _killpg(pid)
                reaper.kill_token(self.token)
                raise
            errf.seek(max(0, errf.seek(0, os.SEEK_END) - 2000))
            lines = [x for x in errf.read().decode("utf-8", errors="replace").splitlines() if x.strip()]
        return Measurement(
            wall_s=float(rep["wall_s"]), user_s=float(rep["user_s"]), system_s=float(rep["system_s"]),
            max_rss_bytes=int(rep["maxrss_kib"]) * 1024, exit_code=os.waitstatus_to_exitcode(int(rep["status"])),
            stderr_tail=lines[-1][:300] if lines else "", timed_out=bool(rep.get("timed_out")),
        )  # fmt: skip


def _killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


@dataclass(frozen=True)
class Target:
    """A command-line target: a script to measure now, a run directory, or a comparison directory."""

    arg: str
    path: Path
    kind: str  # "script" | "run" | "comparison"
    name: str | None  # from --name, else None
    stem: str


def model_label(name: str) -> str:
    """The short model label: "async_count" → "async" (the part before the first underscore)."""
    return name.split("_", 1)[0] or name


def slug(name: str) -> str:
    """A file-name-safe form of a run name, for its run directory inside the comparison."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"


def resolve_targets(args: Sequence[str], names: Sequence[str]) -> list[Target]:
    """Classify each argument, or raise UsageError with a fix."""
    from tracekit.runner import validate_script

    if not args:
        raise UsageError("no targets; pass scripts or run directories, e.g. tracekit compare scenarios/*_count.py")
    if names and len(names) != len(args):
        raise UsageError(f"{len(names)} --name labels for {len(args)} targets; pass one --name per target, or none")
    out = []
    for i, arg in enumerate(args):
        path = Path(arg)
        name = names[i] if names else None
        if path.is_dir():
            if (path / COMPARISON_JSON).is_file():
                kind = "comparison"
            elif (path / "run.json").is_file():
                kind = "run"
            else:
                raise UsageError(
                    f"{arg} is a directory but neither a run directory (run.json) nor a comparison (comparison.json); "
                    "pass a script, a directory written by `tracekit profile`, or one written by `tracekit compare`"
                )
            stem = path.resolve().name
        elif path.exists() and path.suffix != ".py":
            raise UsageError(
                f"{arg} is neither a Python script (.py) nor a run directory; pass a .py file or a run dir"
            )
        else:
            validate_script(path)
            kind, stem = "script", path.stem
        out.append(Target(arg=arg, path=path, kind=kind, name=name, stem=stem))
    return out


def prepare_compare_dir(output: Path | None, force: bool, targets: Sequence[Target]) -> Path:
    """-o DIR exactly, or a new `reports/compare-<YYYYmmdd-HHMMSS>` (never shared by two comparisons).
    Like a run directory, -o must be new, empty, or made by tracekit (rundir.claim_dir)."""
    from tracekit.rundir import claim_dir, new_run_dir

    if output is None:
        return new_run_dir("compare")
    for t in targets:
        if t.kind != "script" and output.resolve() in (t.path.resolve(), *t.path.resolve().parents):
            raise UsageError(f"-o {output} would overwrite the target {t.arg}; choose another -o DIR")
    return claim_dir(
        output, force, COMPARISON_JSON, "tracekit.comparison/", (COMPARISON_JSON, COMPARISON_HTML), "comparison"
    )


Progress = Callable[[str], None]


def measure_round_robin(
    scripts: Sequence[Path],
    repeat: int,
    warmup: int,
    progress: Progress = lambda _m: None,
    timeout_s: float | None = None,
    journal: Path | None = None,
) -> list[list[Measurement]]:
    """`warmup` discarded rounds, then `repeat` kept rounds; each round runs every script once, in order.
    Each kept measurement is also appended to `journal` (JSON lines) as soon as it is taken, so an
    interrupted comparison keeps the timings it finished."""
    kept: list[list[Measurement]] = [[] for _ in scripts]
    rounds = warmup + repeat
    with Spawner(timeout_s) as spawner:
        for rnd in range(rounds):
            for i, script in enumerate(scripts):
                what = f"warm-up {rnd + 1}/{warmup}" if rnd < warmup else f"untraced run {rnd - warmup + 1}/{repeat}"
                progress(f"{what}: {script}")
                m = spawner.measure([sys.executable, str(script)])
                if m.timed_out:
                    raise TracekitError(
                        f"{script} did not finish within --timeout {timeout_s:g} s in an untraced run; "
                        "raise --timeout or fix the hang",
                        exit_code=EXIT_TIMEOUT,
                    )
                if m.exit_code != 0:
                    tail = f" (last stderr line: {m.stderr_tail})" if m.stderr_tail else ""
                    raise TracekitError(
                        f"{script} exited with code {m.exit_code} in an untraced run{tail}; "
                        "compare needs scripts that succeed: fix it and rerun"
                    )
                if rnd >= warmup:
                    kept[i].append(m)
                    if journal is not None:
                        with journal.open("a") as fh:
                            fh.write(json.dumps({"script": str(script), "round": rnd - warmup + 1, **asdict(m)}) + "\n")
    return kept


def traced_from_analysis(an: Analysis, run_dir: str) -> Traced:
    s = an.stats
    units = an.units
    spans = tuple(
        Span(str(u["kind"]), str(u["name"]), str(u["role"]), float(u["start_s"]), float(u["end_s"]))
        for u in units.head(MAX_UNITS).to_dict("records")
    )
    return Traced(
        run_dir=run_dir,
        wall_s=s.wall_s,
        cpu_s=s.cpu_s,
        parallelism=s.parallelism,
        concurrency_peak=s.concurrency.peak,
        concurrency_mean=s.concurrency.mean,
        peak_rss_tree_bytes=s.peak_rss_tree_bytes,
        findings=tuple(FindingText(f.kind, f.severity, f.message) for f in s.findings),
        units=spans,
        warnings=tuple(s.data_loss.warnings),
    )


def _rel(path: Path, base: Path) -> str:
    return os.path.relpath(path.resolve(), base.resolve())


class _Names:
    """Unique run names, and run-directory names that stay apart even when two labels slug alike."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.folders: set[str] = set()

    def unique(self, name: str) -> str:
        return self._claim(name, name, self.names)

    def folder(self, name: str) -> str:  # "a b" and "a_b" both slug to "a_b": never one run directory
        return self._claim(slug(name), slug(name), self.folders)

    @staticmethod
    def _claim(base: str, name: str, used: set[str]) -> str:
        k = 2
        while name in used:
            name, k = f"{base}-{k}", k + 1
        used.add(name)
        return name


def collect(
    targets: Sequence[Target],
    out_dir: Path,
    repeat: int,
    warmup: int,
    analyse_and_write: Callable[[Path], Analysis],
    progress: Progress = lambda _m: None,
    timeout_s: float | None = None,
) -> list[Input]:
    """Measure the scripts (round-robin), trace each once into out_dir/runs/<name>/, and read the
    run and comparison directories: the Inputs of a comparison, in target order. `timeout_s`
    bounds every run, measured or traced (TracekitError with exit code 124)."""
    from tracekit.analysis import analyse
    from tracekit.rundir import load_inputs, read_run

    scripts = [t for t in targets if t.kind == "script"]
    journal = out_dir / PARTIAL_TIMINGS
    journal.unlink(missing_ok=True)
    measured = iter(measure_round_robin([t.path for t in scripts], repeat, warmup, progress, timeout_s, journal))
    names = _Names()
    inputs: list[Input] = []
    for t in targets:
        if t.kind == "script":
            name = names.unique(t.name or t.stem)
            run_dir = _traced_run(t, out_dir / "runs" / names.folder(name), timeout_s, progress)
            progress(f"analysing: {t.arg}")
            an = analyse_and_write(run_dir)
            ms = next(measured)
            inputs.append(
                Input(
                    name=name, model=model_label(name), target=t.arg, kind="script", timing="untraced",
                    wall_s=describe([m.wall_s for m in ms]), cpu_s=describe([m.user_s + m.system_s for m in ms]),
                    user_s=describe([m.user_s for m in ms]), system_s=describe([m.system_s for m in ms]),
                    peak_rss_process_bytes=max(m.max_rss_bytes for m in ms),
                    traced=traced_from_analysis(an, _rel(run_dir, out_dir)),
                )
            )  # fmt: skip
        elif t.kind == "run":
            name = names.unique(t.name or t.stem)
            progress(f"reading run: {t.arg}")
            raw = read_run(t.path)
            _check_complete(t.arg, raw.info)
            an = analyse(load_inputs(raw))
            s = an.stats
            inputs.append(
                Input(
                    name=name, model=model_label(name), target=t.arg, kind="run", timing="traced",
                    wall_s=describe([s.wall_s]), cpu_s=describe([s.cpu_s]), user_s=describe([s.cpu_user_s]),
                    system_s=describe([s.cpu_system_s]), peak_rss_process_bytes=None,
                    traced=traced_from_analysis(an, _rel(t.path, out_dir)),
                )
            )  # fmt: skip
        else:
            progress(f"reading comparison: {t.arg}")
            previous = read_comparison(t.path, out_dir)
            for inp in previous:
                label = inp.name if not t.name else t.name if len(previous) == 1 else f"{t.name}:{inp.name}"
                inputs.append(_rename(inp, names.unique(label)))
    return inputs


def _traced_run(t: Target, run_dir: Path, timeout_s: float | None, progress: Progress) -> Path:
    """The one traced run of a script, into run_dir; raise unless it ran to a successful end."""
    from tracekit import runner
    from tracekit.rundir import prepare_output

    for planted in (run_dir.parent, run_dir):  # a symlink in a comparison directory is removed, never followed
        if planted.is_symlink():
            planted.unlink()
    prepare_output(run_dir, force=True)
    progress(f"traced run: {t.arg}")
    result = runner.run(runner.RunConfig(target=str(t.path), args=(), out_dir=run_dir, timeout_s=timeout_s))
    if result.interrupted:  # Ctrl-C, SIGTERM or SIGHUP reached the runner first: stop the comparison too
        raise Interrupted(result.interrupt_signal or signal.SIGINT)
    if result.timed_out:
        raise TracekitError(
            f"{t.arg} did not finish within --timeout {timeout_s:g} s in its traced run; see {run_dir}",
            exit_code=EXIT_TIMEOUT,
        )
    if result.exit_code != 0:
        raise TracekitError(
            f"{t.arg} exited with code {result.exit_code} in its traced run; see {run_dir}/run.json and fix it"
        )
    return run_dir


def _check_complete(arg: str, info: RunInfo) -> None:
    """A run directory compared (or gated on) must hold a whole, successful run: the wall time of a
    crashed or cut-short run says nothing about the model's speed."""
    problem = (
        f"its script exited with code {info.exit_code}" if info.exit_code != 0
        else "it was stopped by --timeout" if info.timed_out
        else "it was interrupted" if info.interrupted
        else None
    )  # fmt: skip
    if problem:
        raise UsageError(
            f"{arg} is not a complete, successful run ({problem}); profile the script again and compare that"
        )


def _rename(inp: Input, name: str) -> Input:
    from dataclasses import replace

    return replace(inp, name=name, model=model_label(name) if name != inp.name else inp.model)


def read_comparison(path: Path, out_dir: Path) -> list[Input]:
    """A previous comparison's runs, with their stored untraced timings, as Inputs."""
    file = path / COMPARISON_JSON
    try:
        data: Any = json.loads(file.read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise RunDirError(f"{file} is unreadable ({exc}); rerun `tracekit compare` to recreate it") from None
    if not isinstance(data, dict) or data.get("schema") not in (SCHEMA, SCHEMA_1):
        raise RunDirError(f"{file} is not a {SCHEMA} file; pass a directory written by `tracekit compare`")
    try:
        inputs = inputs_from_dict(data)
    except (KeyError, ValueError, TypeError, AttributeError, IndexError, OverflowError, RecursionError) as exc:
        raise RunDirError(f"{file} is malformed ({str(exc)[:200]}); rerun `tracekit compare` to recreate it") from None
    from dataclasses import replace

    fixed = []
    for inp in inputs:
        if inp.traced is not None and inp.traced.run_dir:
            inp = replace(inp, traced=replace(inp.traced, run_dir=_rel(path / inp.traced.run_dir, out_dir)))
        fixed.append(replace(inp, target=f"{path}/{COMPARISON_JSON}#{inp.name}"))
    return fixed


def planned_names(targets: Sequence[Target]) -> list[tuple[str, str]]:
    """(name, model label) of every run the comparison of `targets` will hold, in its order, named as
    `collect` names them, but before anything is measured: the CLI checks --reference against them.
    A comparison directory's runs are read from its comparison.json (cheap, no analysis)."""
    names = _Names()
    out: list[tuple[str, str]] = []
    for t in targets:
        if t.kind != "comparison":
            name = names.unique(t.name or t.stem)
            out.append((name, model_label(name)))
            continue
        previous = read_comparison(t.path, t.path)
        for inp in previous:
            label = inp.name if not t.name else t.name if len(previous) == 1 else f"{t.name}:{inp.name}"
            name = names.unique(label)
            out.append((name, _rename(inp, name).model))
    return out
