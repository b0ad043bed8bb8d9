"""Timings × N → Comparison: the statistics of `tracekit compare` (pure: no I/O, no clocks).

What it owns:
  describe(values)        → Distribution: mean, sample stdev (n−1; 0 when n = 1), median, min, max, n, values
  speedup(ref, run)       → (ratio of means, its stdev by first-order error propagation, as hyperfine does):
                            s = μ_ref / μ_run,  σ_s = s · √((σ_ref/μ_ref)² + (σ_run/μ_run)²)
  work_bound(ref)         → "cpu" when the reference kept ≥ 0.25 of a core busy per unit of wall time
                            in its least contended untraced run (CPU fraction f = max of cpu_i / wall_i),
                            else "waiting". Waiting work measures f ≈ 0.01–0.05 (interpreter start-up),
                            CPU-bound work ≈ 1 on an idle machine, and still ≈ cores / load when others
                            compete for the cores, hence the low threshold
  ideal_units(u, cores)   → how much faster u units in flight can be than one: min(u, cores) for CPU-bound
                            work (the cores are the limit), u for waiting-bound work (waits overlap freely);
                            a model's ideal speed-up is ideal_units(model) / ideal_units(reference)
  gate(base, cand, t)     → GateResult: slower beyond the threshold AND outside the noise (see `gate`)
  compare(inputs, ...)    → Comparison, whose `to_dict()` is comparison.json (schema tracekit.comparison/2)

Inputs come from `tracekit.timing` (untraced repeats measured from outside, plus one traced run
analysed by the usual pipeline); everything here is exact arithmetic on those numbers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = "tracekit.comparison/2"  # /2: peak_rss_bytes and sum_rss_bytes became peak_rss_process_bytes and
# peak_rss_tree_bytes (a run directory's peak_rss_bytes was its tree sum); /1 is still read (inputs_from_dict)
SCHEMA_1 = "tracekit.comparison/1"
NOISY_CV = 0.10  # stdev / mean above this: the machine was noisy
NOISY_RANGE = 1.25  # max / min above this: the machine was noisy
LARGE_OVERHEAD = 1.5  # traced wall / untraced median above this: read the traced timeline with care
CPU_BOUND_FRACTION = 0.25  # reference CPU / wall at or above this: the work is CPU-bound


@dataclass(frozen=True)
class Distribution:
    """Summary of repeated measurements of one quantity (seconds or bytes), with the raw values."""

    mean: float
    stdev: float  # sample standard deviation (n − 1); 0.0 when n == 1
    median: float
    min: float
    max: float
    n: int
    values: tuple[float, ...]

    @property
    def cv(self) -> float:
        """Coefficient of variation, stdev / mean (0 when the mean is 0)."""
        return self.stdev / self.mean if self.mean else 0.0

    @property
    def spread(self) -> float:
        """max / min (1 when min is 0 or n == 1)."""
        return self.max / self.min if self.min > 0 else 1.0


def describe(values: Sequence[float]) -> Distribution:
    """Mean, sample stdev, median, min, max of at least one value."""
    if not values:
        raise ValueError("describe() needs at least one value")
    vals = tuple(float(v) for v in values)
    return Distribution(
        mean=statistics.fmean(vals),
        stdev=statistics.stdev(vals) if len(vals) > 1 else 0.0,
        median=statistics.median(vals),
        min=min(vals),
        max=max(vals),
        n=len(vals),
        values=vals,
    )


def speedup(ref: Distribution, run: Distribution) -> tuple[float, float]:
    """How many times faster `run` is than `ref` (ratio of means) and the stdev of that ratio."""
    if run.mean <= 0 or ref.mean <= 0:
        return math.nan, math.nan
    ratio = ref.mean / run.mean
    return ratio, ratio * math.hypot(ref.stdev / ref.mean, run.stdev / run.mean)


def work_bound(ref_wall: Distribution, ref_cpu: Distribution) -> tuple[str, float]:
    """("cpu" | "waiting", CPU fraction) of the work, judged on the reference's least contended run
    (its values are paired: the i-th CPU time belongs to the i-th wall time)."""
    fraction = max((c / w for w, c in zip(ref_wall.values, ref_cpu.values, strict=True) if w > 0), default=0.0)
    return ("cpu" if fraction >= CPU_BOUND_FRACTION else "waiting"), fraction


def ideal_units(units: int, cores: int, bound: str) -> int:
    """How many times faster `units` in flight can finish the work than one unit can."""
    units = max(1, units)
    return min(units, max(1, cores)) if bound == "cpu" else units


@dataclass(frozen=True)
class GateResult:
    """A regression-gate verdict for one candidate against the baseline; `reason` is one line."""

    baseline: str
    candidate: str
    failed: bool
    slower_by: float  # candidate median / baseline median − 1 (0.10 = 10% slower)
    threshold: float
    separated: bool  # every candidate time is above every baseline time
    p_value: float | None  # one-sided chance of that separation if nothing changed (None: n = 1 on a side)
    reason: str


def gate(base: Distribution, cand: Distribution, threshold: float, base_name: str, cand_name: str) -> GateResult:
    """Fail when the candidate's median wall is slower than the baseline's by more than `threshold`
    AND outside the noise: the candidate's fastest run is slower than the baseline's slowest
    (min(cand) > max(base)). With n_b and n_c runs, that separation happens by chance, if nothing
    changed, with probability 1 / C(n_b + n_c, n_b): the most extreme outcome of a one-sided
    Mann–Whitney test (3 vs 3 runs: 0.05; 5 vs 5: 0.004). With one run on a side there is no noise
    estimate, and the threshold alone decides."""
    slower_by = cand.median / base.median - 1 if base.median > 0 else math.inf
    separated = cand.min > base.max
    p = 1 / math.comb(base.n + cand.n, base.n) if base.n > 1 and cand.n > 1 else None
    beyond = slower_by > threshold
    failed = beyond and separated
    pct = f"{slower_by:+.1%}"
    medians = f"median {cand.median:.3f} s vs {base.median:.3f} s ({pct}, threshold +{threshold:.0%})"
    noise = f"p = {p:.3g}" if p is not None else "n = 1: no noise estimate"
    if failed:
        reason = (
            f"{cand_name} is slower than {base_name}: {medians}, outside the noise "
            f"(fastest {cand.min:.3f} s > slowest {base.max:.3f} s, {noise})"
        )
    elif beyond:
        reason = (
            f"{cand_name} is not reliably slower than {base_name}: {medians}, but within the noise "
            f"(fastest {cand.min:.3f} s <= slowest {base.max:.3f} s); rerun with more --repeat to decide"
        )
    else:
        reason = f"{cand_name} is within the threshold of {base_name}: {medians}"
    return GateResult(base_name, cand_name, failed, slower_by, threshold, separated, p, reason)


@dataclass(frozen=True)
class Span:
    """One unit (task, thread, process) of a traced run, for the aligned timelines."""

    kind: str
    name: str
    role: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class FindingText:
    kind: str
    severity: str
    message: str


@dataclass(frozen=True)
class Traced:
    """What the one traced run of a model showed (its analysis), or what a run directory holds."""

    run_dir: str  # relative to the comparison directory when it can be
    wall_s: float
    cpu_s: float
    parallelism: float
    concurrency_peak: int
    concurrency_mean: float
    peak_rss_tree_bytes: int  # highest summed RSS of the process tree at a sample (psutil, under the tracer)
    findings: tuple[FindingText, ...]
    units: tuple[Span, ...]
    warnings: tuple[str, ...] = ()  # the run's data-loss warnings


@dataclass(frozen=True)
class Input:
    """One model to compare. `timing` is "untraced" (repeats measured from outside) or "traced"
    (a run directory's single traced wall time: n = 1, tracer overhead included)."""

    name: str
    model: str
    target: str
    kind: str  # "script" | "run" | "comparison"
    timing: str
    wall_s: Distribution
    cpu_s: Distribution
    user_s: Distribution
    system_s: Distribution
    # largest single process of the tree (ru_maxrss), max over the untraced repeats; None: not measured
    # (a run directory: only its traced tree, Traced.peak_rss_tree_bytes, is known)
    peak_rss_process_bytes: int | None
    traced: Traced | None


@dataclass(frozen=True)
class ModelResult:
    """One model's row of a comparison: its untraced timings and its traced run's analysis (not to be
    confused with runner.RunOutcome, the outcome of one supervised run)."""

    name: str
    model: str
    target: str
    kind: str
    timing: str
    wall_s: Distribution
    cpu_s: Distribution
    user_s: Distribution
    system_s: Distribution
    speedup: float
    speedup_stdev: float
    ideal_speedup: float
    efficiency: float
    traced_wall_s: float | None
    tracing_overhead: float | None
    peak_rss_process_bytes: int | None  # Input.peak_rss_process_bytes
    peak_rss_tree_bytes: int | None  # Traced.peak_rss_tree_bytes (None: no traced run)
    concurrency: dict[str, float] | None
    parallelism: float | None
    findings: tuple[FindingText, ...]
    run_dir: str | None
    units: tuple[Span, ...]
    warnings: tuple[str, ...]

    @property
    def key_finding(self) -> str:
        return self.findings[0].message if self.findings else ""


@dataclass(frozen=True)
class Comparison:
    schema: str
    reference: str
    cores: int
    work: dict[str, Any]  # {"bound": "cpu" | "waiting", "cpu_fraction": f}
    repeat: int
    warmup: int
    runs: tuple[ModelResult, ...]
    warnings: tuple[str, ...]
    context: dict[str, Any] = field(default_factory=dict)

    def run(self, name: str) -> ModelResult:
        return next(r for r in self.runs if r.name == name)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for r in d["runs"]:
            for key in ("wall_s", "cpu_s", "user_s", "system_s"):
                r[key]["values"] = list(r[key]["values"])
            for key in ("speedup", "speedup_stdev", "efficiency"):
                if isinstance(r[key], float) and not math.isfinite(r[key]):
                    r[key] = None
        return d


def reference_position(planned: Sequence[tuple[str, str]], reference: str | None) -> int:
    """Which of the (name, model label) pairs is the reference: `reference` as a name, else as the model
    label of exactly one; without it the first "sync" model, else the first. ValueError if it matches
    none (the CLI checks this on the planned names before measuring)."""
    if reference is not None:
        exact = [k for k, (name, _) in enumerate(planned) if name == reference]
        if exact:
            return exact[0]
        by_model = [k for k, (_, model) in enumerate(planned) if model == reference]
        if len(by_model) == 1:
            return by_model[0]
        raise ValueError(reference)
    return next((k for k, (_, model) in enumerate(planned) if model == "sync"), 0)


def _pick_reference(inputs: Sequence[Input], reference: str | None) -> Input:
    return inputs[reference_position([(i.name, i.model) for i in inputs], reference)]


def compare(
    inputs: Sequence[Input],
    cores: int,
    reference: str | None = None,
    repeat: int = 0,
    warmup: int = 0,
    context: dict[str, Any] | None = None,
    load_before: float | None = None,
) -> Comparison:
    """Derive speed-ups, ideals, efficiencies, overheads and warnings. `reference` is a name or a
    model label (default: the first "sync" model, else the first input); ValueError if unknown.
    `load_before`: the 1-minute load average before measuring; at or above `cores` it is a warning."""
    if not inputs:
        raise ValueError("compare() needs at least one input")
    ref = _pick_reference(inputs, reference)
    bound, fraction = work_bound(ref.wall_s, ref.cpu_s)
    ref_ideal = ideal_units(_units(ref), cores, bound)
    warnings: list[str] = []
    if load_before is not None and load_before >= cores:
        warnings.append(
            f"the machine was busy before measuring (load average {load_before:.1f} on {cores} cores): "
            "wall times are inflated and noisy, and CPU-bound work may look like waiting; rerun on a quiet machine"
        )
    runs = []
    for inp in inputs:
        run = _model_result(inp, ref, ideal_units(_units(inp), cores, bound) / ref_ideal)
        warnings.extend(run.warnings)
        runs.append(run)
    return Comparison(
        schema=SCHEMA,
        reference=ref.name,
        cores=cores,
        work={"bound": bound, "cpu_fraction": fraction},
        repeat=repeat,
        warmup=warmup,
        runs=tuple(runs),
        warnings=tuple(warnings),
        context=context or {},
    )


def _units(inp: Input) -> int:
    """Units in flight at the peak of the input's traced run (1 without one)."""
    return inp.traced.concurrency_peak if inp.traced else 1


def _model_result(inp: Input, ref: Input, ideal: float) -> ModelResult:
    """One input against the reference; `ideal` is its ideal speed-up over the reference."""
    s, s_sd = speedup(ref.wall_s, inp.wall_s)
    tr = inp.traced
    eff = s / ideal if ideal > 0 else math.nan
    overhead = tr.wall_s / inp.wall_s.median if tr and inp.timing == "untraced" and inp.wall_s.median else None
    w = _run_warnings(inp, inp is ref, s, eff, overhead)
    return ModelResult(
        name=inp.name, model=inp.model, target=inp.target, kind=inp.kind, timing=inp.timing,
        wall_s=inp.wall_s, cpu_s=inp.cpu_s, user_s=inp.user_s, system_s=inp.system_s,
        speedup=s, speedup_stdev=s_sd, ideal_speedup=ideal, efficiency=eff,
        traced_wall_s=tr.wall_s if tr else None, tracing_overhead=overhead,
        peak_rss_process_bytes=inp.peak_rss_process_bytes, peak_rss_tree_bytes=tr.peak_rss_tree_bytes if tr else None,
        concurrency={"peak": tr.concurrency_peak, "mean": tr.concurrency_mean} if tr else None,
        parallelism=tr.parallelism if tr else None, findings=tr.findings if tr else (),
        run_dir=tr.run_dir if tr else None, units=tr.units if tr else (), warnings=tuple(w),
    )  # fmt: skip


def _run_warnings(inp: Input, is_ref: bool, s: float, eff: float, overhead: float | None) -> list[str]:
    """What makes one input's numbers less than they seem: noise, a single traced timing, a large
    tracing overhead, concurrency the tracer did not see, and its traced run's own warnings."""
    w: list[str] = []
    if inp.wall_s.n > 1 and (inp.wall_s.cv > NOISY_CV or inp.wall_s.spread > NOISY_RANGE):
        w.append(
            f"{inp.name}: wall times vary widely (stdev {inp.wall_s.cv:.0%} of the mean, max/min "
            f"{inp.wall_s.spread:.2f}): the machine was noisy; close other programs or raise --repeat"
        )
    if inp.timing == "traced":
        w.append(
            f"{inp.name}: a run directory gives one traced wall time (n = 1, tracer overhead included); "
            f"compare the script, or a comparison directory, for untraced statistics"
        )
    if overhead is not None and overhead > LARGE_OVERHEAD:
        w.append(
            f"{inp.name}: tracing made it {overhead:.1f}x slower than untraced; the traced timeline "
            f"stretches call-heavy work, so read durations from the untraced statistics"
        )
    if math.isfinite(eff) and eff > 1.1 and not is_ref:
        w.append(
            f"{inp.name}: {s:.2f}x faster but the analysis saw only {_units(inp)} unit(s) in flight "
            f"(efficiency {eff:.0%}): some of its concurrency is invisible to the tracer"
        )
    if inp.traced:
        w.extend(f"{inp.name}: {x}" for x in inp.traced.warnings)
    return w


def relation(r: ModelResult, reference: str) -> str:
    """hyperfine's sentence: "2.98 ± 0.03 times faster than sync_count" (or slower)."""
    if r.name == reference:
        return "reference"
    if not math.isfinite(r.speedup) or r.speedup <= 0:
        return f"no speed-up known against {reference}"
    if r.speedup >= 1:
        return f"{r.speedup:.2f} ± {r.speedup_stdev:.2f} times faster than {reference}"
    slow = 1 / r.speedup
    return f"{slow:.2f} ± {slow * r.speedup_stdev / r.speedup:.2f} times slower than {reference}"


# Reading a previous comparison.json back (a comparison directory as a target, e.g. a CI baseline).


def _dist(d: Any) -> Distribution:
    vals = d["values"]
    if not isinstance(vals, list) or not vals:
        raise ValueError("a statistics object lacks its values")
    return describe([float(v) for v in vals])


def inputs_from_dict(d: dict[str, Any], run_dir_prefix: str = "") -> list[Input]:
    """The runs of a comparison.json as Inputs again (ValueError naming the run and field if malformed).
    `run_dir_prefix` is prepended to each stored run_dir (they are relative to their comparison)."""
    if d.get("schema") not in (SCHEMA, SCHEMA_1):
        raise ValueError(f"schema {d.get('schema')!r} is not {SCHEMA}")
    legacy = d["schema"] == SCHEMA_1
    runs = d.get("runs")
    if not isinstance(runs, list):
        raise ValueError("its 'runs' is not a list")
    out = []
    for i, r in enumerate(runs):
        try:
            out.append(_input_from_dict(r, run_dir_prefix, legacy))
        except KeyError as exc:
            raise ValueError(f"runs[{i}] lacks the field {exc}") from None
        except (ValueError, TypeError, AttributeError, IndexError, OverflowError) as exc:
            raise ValueError(f"runs[{i}] has a field of the wrong type ({type(exc).__name__}: {exc})") from None
    return out


def _input_from_dict(r: dict[str, Any], run_dir_prefix: str, legacy: bool = False) -> Input:
    traced = None
    if r.get("concurrency") is not None:
        traced = Traced(
            run_dir=(run_dir_prefix + r["run_dir"]) if r.get("run_dir") else "",
            wall_s=float(r["traced_wall_s"] or 0.0),
            cpu_s=0.0,
            parallelism=float(r["parallelism"] or 0.0),
            concurrency_peak=int(r["concurrency"]["peak"]),
            concurrency_mean=float(r["concurrency"]["mean"]),
            peak_rss_tree_bytes=_rss_fields(r, legacy)[0] or 0,
            findings=tuple(FindingText(f["kind"], f["severity"], f["message"]) for f in r["findings"]),
            units=tuple(
                Span(u["kind"], u["name"], u["role"], float(u["start_s"]), float(u["end_s"])) for u in r["units"]
            ),
        )
    return Input(
        name=str(r["name"]), model=str(r["model"]), target=str(r["target"]), kind="comparison",
        timing=str(r["timing"]), wall_s=_dist(r["wall_s"]), cpu_s=_dist(r["cpu_s"]),
        user_s=_dist(r["user_s"]), system_s=_dist(r["system_s"]),
        peak_rss_process_bytes=_rss_fields(r, legacy)[1], traced=traced,
    )  # fmt: skip


def _rss_fields(r: dict[str, Any], legacy: bool) -> tuple[int | None, int | None]:
    """(peak_rss_tree_bytes, peak_rss_process_bytes) of a stored run. In tracekit.comparison/1,
    `sum_rss_bytes` was the tree and `peak_rss_bytes` the largest process for a script, but the tree
    for a run directory, and unknown for a comparison of a comparison: there it is not guessed."""
    if not legacy:
        tree, process = r["peak_rss_tree_bytes"], r["peak_rss_process_bytes"]
    else:
        tree, process = r["sum_rss_bytes"], r["peak_rss_bytes"] if r["kind"] == "script" else None
    return (None if tree is None else int(tree)), (None if process is None else int(process))
