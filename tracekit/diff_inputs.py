"""Read a run directory or a comparison directory into a diff Side (the I/O half of `tracekit diff`).

A run directory (tracekit profile) gives its one traced run: wall, CPU and parallelism with n = 1.
A comparison directory (tracekit compare) of one target gives that target's repeated untraced timings
(wall, CPU, and CPU / wall per repeat as the parallelism) and the analysis of its traced run (its
`runs/<name>/` directory) for functions, units, findings and the call tree. A comparison of several
targets is ambiguous: name one with DIR#NAME.
"""

from __future__ import annotations

from pathlib import Path

from tracekit.analysis import Analysis
from tracekit.analysis.origin import program_roots
from tracekit.compare import Input, describe
from tracekit.diff import Side
from tracekit.errors import RunDirError, UsageError
from tracekit.runinfo import RunInfo

COMPARISON_JSON = "comparison.json"


def analyse_run(path: Path) -> Analysis:
    from tracekit.analysis import analyse
    from tracekit.rundir import load_inputs, read_run

    return analyse(load_inputs(read_run(path)))


def _script(info: RunInfo) -> str:
    target, cwd = info.target, info.cwd
    if not target or info.module:
        return ""
    return str(Path(cwd, target).resolve()) if not target.startswith("/") else str(Path(target).resolve())


def _side(label: str, source: str, kind: str, an: Analysis, info: RunInfo, timing: Input | None) -> Side:
    s = an.stats
    if timing is not None:
        wall, cpu = timing.wall_s, timing.cpu_s
        par = describe([c / w if w > 0 else 0.0 for w, c in zip(wall.values, cpu.values, strict=True)])
    else:
        wall, cpu, par = describe([s.wall_s]), describe([s.cpu_s]), describe([s.parallelism])
    from tracekit.render.html import call_tree

    return Side(
        label=label, source=source, kind=kind, wall_s=wall, cpu_s=cpu, parallelism=par,
        concurrency_peak=s.concurrency.peak, concurrency_mean=s.concurrency.mean,
        findings=tuple((f.kind, f.severity, f.message) for f in s.findings),
        functions=an.functions, units=an.units,
        tree=call_tree(an, merged=True),
        roots=program_roots(info.cwd, info.target, info.module),
        script=_script(info),
    )  # fmt: skip


def _comparison_input(path: Path, name: str | None) -> Input:
    from tracekit.timing import read_comparison

    inputs = read_comparison(path, path)  # compare's own checks; run_dir stays relative to path
    names = [i.name for i in inputs]
    if name is None and len(inputs) == 1:
        return inputs[0]
    if name is None:
        raise UsageError(
            f"{path} compares {len(inputs)} targets; pick one as {path}#NAME, NAME one of: {', '.join(names)}"
        )
    for i in inputs:
        if i.name == name:
            return i
    raise UsageError(f"{path} has no target named {name!r}; use one of: {', '.join(names)}")


def load_side(arg: str, label: str | None = None) -> Side:
    """A run directory, a comparison directory, or DIR#NAME (one target of a comparison)."""
    from tracekit.rundir import read_run

    text, _, name = arg.partition("#")
    path = Path(text)
    if (path / COMPARISON_JSON).is_file():
        inp = _comparison_input(path, name or None)
        if inp.traced is None or not inp.traced.run_dir:
            raise RunDirError(f"{path}: target {inp.name!r} has no traced run to diff; rerun `tracekit compare`")
        run_dir = path / inp.traced.run_dir
        an = analyse_run(run_dir)
        return _side(label or inp.name, arg, "comparison", an, read_run(run_dir).info, inp)
    if name:
        raise UsageError(f"{path} is not a comparison directory, so {arg!r} cannot name a target; drop #{name}")
    if not path.is_dir():
        raise UsageError(
            f"{path} is not a directory; pass a run directory (tracekit profile) or a comparison directory"
        )
    raw = read_run(path)
    an = analyse_run(path)
    default = Path(raw.info.target).stem or path.name
    return _side(label or default, arg, "run", an, raw.info, None)
