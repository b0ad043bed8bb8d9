"""The run directory contract: file names, atomic writes, default naming, and reading a run back.

A run directory holds raw facts first (run.json, trace.json, samples.csv) and derived files later
(stats.json, report.html). `read_run` loads the raw facts so that `tracekit report` can rebuild the
derived files without rerunning anything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracekit.errors import RunDirError, UsageError

if TYPE_CHECKING:
    from tracekit.analysis import Inputs
    from tracekit.structure import Structure

RUN_SCHEMA = "tracekit.run/1"
RUN_JSON = "run.json"
TRACE_JSON = "trace.json"
STRUCTURE_JSONL = "structure.jsonl"  # raw: the structure recorder's records of every process (tracekit/recorder.py)
SAMPLES_CSV = "samples.csv"
STATS_JSON = "stats.json"
REPORT_HTML = "report.html"
EVENTS_CACHE = "events.npz"  # derived: trace.json's calls as columns, used while trace.json is unchanged
DEFAULT_ROOT = Path("reports")
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write via a temp file + rename, so a crash never leaves a half-written file that looks complete."""
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a report is as readable as any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_SURROGATE = re.compile("[\ud800-\udfff]")


def write_json(path: Path, obj: Any) -> None:
    """Indented UTF-8 JSON, written atomically. Lone surrogates (undecodable bytes in a traced
    program's names, paths or arguments) become U+FFFD: they cannot be written as UTF-8."""
    text = json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write(path, _SURROGATE.sub("\ufffd", text))


MARKER = ".tracekit"  # in every directory tracekit made: the only directories it writes into, or clears
MARKER_TEXT = "made by tracekit: its files here may be replaced by tracekit (--force)\n"
STALE = (".child-signal", ".trace.viztracer.json", "trace.invalid.json", "error.log")  # a killed run's leftovers
RUN_FILES = (RUN_JSON, TRACE_JSON, STRUCTURE_JSONL, SAMPLES_CSV, STATS_JSON, REPORT_HTML, EVENTS_CACHE, *STALE)


def _safe_stem(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "run"


def new_run_dir(stem: str, root: Path = DEFAULT_ROOT) -> Path:
    """`root/<stem>-<YYYYmmdd-HHMMSS>`, made atomically; a suffix keeps two runs in one second apart.
    The stem is reduced to a file name (`-m "x./abs"` must not write to /abs-...)."""
    base = f"{_safe_stem(stem)}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        for i in range(1000):
            path = root / (base if i == 0 else f"{base}-{i}")
            try:
                path.mkdir()  # atomic: concurrent runs never share a directory
            except FileExistsError:
                continue
            _mark(path)
            return path
    except OSError as exc:
        raise UsageError(f"cannot create a run directory under {root} ({exc.strerror}); pass -o DIR") from None
    raise UsageError(f"could not create a new run directory under {root}; clean it up or pass -o DIR")


def _mark(path: Path) -> None:
    marker = path / MARKER
    if marker.is_symlink():
        marker.unlink()
    if not marker.is_file():
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666 & ~_UMASK)
        with os.fdopen(fd, "w") as fh:
            fh.write(MARKER_TEXT)


def made_by_tracekit(path: Path, holds: str, schema: str) -> bool:
    """The directory carries tracekit's marker, or (made before the marker existed) its `holds` file
    is a real tracekit file of that schema; a run.json of someone else's does not count."""
    marker = path / MARKER
    if marker.is_file() and not marker.is_symlink():
        return True
    file = path / holds
    if file.is_symlink() or not file.is_file():
        return False
    try:
        doc = json.loads(file.read_bytes()[: 64 * 2**20])
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and str(doc.get("schema", "")).startswith(schema)


def claim_dir(path: Path, force: bool, holds: str, schema: str, files: tuple[str, ...], what: str) -> Path:
    """Make `path` the output directory: a new or empty directory, or one tracekit made. Refuses to
    mix two results unless --force, which removes only tracekit's own file names there (a symlink
    by such a name is removed, never followed). Never writes into a user's folder."""
    if path.is_symlink() and not path.exists():
        raise UsageError(f"output {path} is a dangling symlink; choose another -o DIR")
    if path.exists() and not path.is_dir():
        raise UsageError(f"output {path} exists and is not a directory; choose another -o DIR")
    try:
        if path.is_dir():
            ours = made_by_tracekit(path, holds, schema)
            if not ours and any(path.iterdir()):
                raise UsageError(
                    f"{path} is not empty and was not made by tracekit; choose a new or empty -o DIR "
                    "(tracekit never writes over files it did not make)"
                )
            if ours and (path / holds).exists() and not force:
                raise UsageError(f"{path} already holds a {what}; pass --force to replace it or choose another -o DIR")
            for name in files:
                item = path / name
                if item.is_symlink() or item.is_file():
                    item.unlink()
        path.mkdir(parents=True, exist_ok=True)
        _mark(path)
        probe = path / ".tracekit-write-test"
        probe.unlink(missing_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write to output directory {path} ({exc.strerror}); choose another -o DIR") from None
    return path


def drop_if_unused(path: Path) -> None:
    """Remove a directory this command made when nothing but the marker was written to it (a
    comparison refused for a damaged input must not leave an empty reports/compare-<time>)."""
    with contextlib.suppress(OSError):
        if set(os.listdir(path)) <= {MARKER}:
            (path / MARKER).unlink(missing_ok=True)
            path.rmdir()


def prepare_output(path: Path, force: bool) -> Path:
    """Use `path` as the run directory (see claim_dir)."""
    return claim_dir(path, force, RUN_JSON, "tracekit.run/", RUN_FILES, "run")


class Map:
    """A JSON object with free keys whose values all match `value`."""

    def __init__(self, value: object) -> None:
        self.value = value


class Row:
    """A JSON array of a fixed length, one spec per position."""

    def __init__(self, *items: object) -> None:
        self.items = items


_INT64 = 2**63
_PROCESS = {"ppid": (int, None), "cmdline": [str], "first_seen_ns": int, "last_seen_ns": int}
# The type of every run.json field tracekit reads; a field may be absent (older runs), never mistyped.
# int: a JSON integer within int64 (never a bool); float: a finite number; a tuple: any of these.
RUN_FIELDS: dict[str, object] = {
    "schema": str, "target": str, "module": bool, "args": [str], "command": [str], "cwd": str, "traced": bool,
    "interval_s": float, "timeout_s": (float, None), "tracer_entries": int, "python": str, "platform": str,
    "cores": int, "load_avg_before": [float], "load_avg_after": [float], "start_method": str,
    "tracekit_version": str, "viztracer_version": (str, None), "wall_clock_offset_ns": int, "started_ns": int,
    "ended_ns": (int, None), "exit_code": (int, None), "raw_exit_code": (int, None), "timed_out": bool,
    "interrupted": bool, "interrupted_by": (str, None), "status": str, "pid": int, "exit_note": (str, None),
    "killed_after_grace": bool, "killed_escaped_pids": [int], "write_errors": [str],
    "samples": {"n": int, "rows": int, "sampler_cpu_s": float},
    "processes": Map(_PROCESS),
    "output": {
        "lines": [Row(int, str, str)], "total_lines": int, "total_bytes": int, "cut_lines": int, "truncated": bool,
    },
    "trace": {
        "status": str, "detail": str, "enriched": bool, "events": int, "events_per_pid": Map(int),
        "overflow": bool, "kept_as": str,
    },
}  # fmt: skip


def wrong_field(value: object, spec: object, where: str = "") -> str | None:
    """The path of the first part of `value` that does not match `spec`, or None when all do."""
    if isinstance(spec, tuple):
        return None if any(wrong_field(value, s, where) is None for s in spec) else where or "the file"
    if spec is None:
        ok = value is None
    elif spec is bool or spec is str:
        ok = isinstance(value, bool if spec is bool else str)
    elif spec is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64
    elif spec is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 1e300
    elif isinstance(spec, list):
        if not isinstance(value, list):
            return where
        return next((w for i, v in enumerate(value) if (w := wrong_field(v, spec[0], f"{where}[{i}]"))), None)
    elif isinstance(spec, Row):
        if not isinstance(value, list) or len(value) != len(spec.items):
            return where
        return next((w for i, (v, s) in enumerate(zip(value, spec.items, strict=True))
                     if (w := wrong_field(v, s, f"{where}[{i}]"))), None)  # fmt: skip
    elif isinstance(spec, Map | dict):
        if not isinstance(value, dict):
            return where or "the file"
        items = value.items() if isinstance(spec, Map) else ((k, value[k]) for k in spec if k in value)
        for k, v in items:
            w = wrong_field(v, spec.value if isinstance(spec, Map) else spec[k], f"{where}.{k}" if where else str(k))
            if w:
                return w
        return None
    else:
        raise TypeError(f"bad spec {spec!r}")
    return None if ok else where


@dataclass(frozen=True)
class RawRun:
    """The raw facts of one run, as read back from its directory (no analysis yet)."""

    path: Path
    run: dict[str, Any]
    trace_path: Path | None  # None when the run left no valid trace (recorded in run["data_loss"])
    samples_path: Path


def read_run(path: Path) -> RawRun:
    """Read a run directory's raw files, or raise RunDirError naming the missing or corrupt file."""
    if not path.is_dir():
        raise RunDirError(f"{path} is not a run directory; pass a directory written by `tracekit profile`")
    run_path = path / RUN_JSON
    if not run_path.is_file():
        raise RunDirError(f"{run_path} is missing; {path} is not a tracekit run directory")
    try:
        run = json.loads(run_path.read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise RunDirError(f"{run_path} is corrupt ({exc}); rerun `tracekit profile` to recreate it") from None
    if not isinstance(run, dict) or not str(run.get("schema", "")).startswith("tracekit.run/"):
        raise RunDirError(f"{run_path} is not a tracekit run.json; rerun `tracekit profile`")
    if run["schema"] != RUN_SCHEMA:
        raise RunDirError(f"{run_path} has schema {run['schema']!r}, newer than this tracekit; upgrade tracekit")
    for key in ("command", "exit_code", "timed_out", "started_ns", "ended_ns"):
        if key not in run:
            raise RunDirError(f"{run_path} lacks the field {key!r}; rerun `tracekit profile` to recreate it")
    if run.get("status", "finished") != "finished" or run.get("ended_ns") is None:
        raise RunDirError(
            f"{path} holds an incomplete run (status {str(run.get('status'))[:40]!r}: tracekit was killed or the disk "
            "filled up before it finished); profile the script again"
        )
    wrong = wrong_field(run, RUN_FIELDS)
    if wrong:
        raise RunDirError(
            f"{run_path} has a field of the wrong type ({wrong}); rerun `tracekit profile` to recreate it"
        )
    samples = path / SAMPLES_CSV
    if not samples.is_file():
        raise RunDirError(f"{samples} is missing; rerun `tracekit profile` to recreate the run")
    trace = path / TRACE_JSON
    return RawRun(path=path, run=run, trace_path=trace if trace.is_file() else None, samples_path=samples)


def cache_is_sane(cache: Path, source: Path) -> bool:
    """events.npz is a plain file no bigger, unpacked, than a few times its trace.json, and every array
    in it is no larger than its own bytes (a crafted header can ask numpy for 745 GiB; a zip bomb can
    unpack 14 MB into gigabytes)."""
    import zipfile

    from numpy.lib import format as npy

    try:
        if cache.is_symlink() or not cache.is_file():
            return False
        bound = 4 * source.stat().st_size + 2**20
        with zipfile.ZipFile(cache) as z:
            members = z.infolist()
            if sum(m.file_size for m in members) > bound:
                return False
            for m in members:
                with z.open(m) as fh:
                    version = npy.read_magic(fh)
                    read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
                    shape, _, dtype = read_header(fh)
                if dtype.hasobject or math.prod(shape) * dtype.itemsize > m.file_size:
                    return False
    except (OSError, ValueError, TypeError, zipfile.BadZipFile, EOFError):
        return False
    return True


def load_inputs(raw: RawRun) -> Inputs:
    """Read the raw files into memory for analysis (the analysis itself does no I/O)."""
    import pandas as pd

    from tracekit.analysis import Inputs
    from tracekit.analysis.cpu import SAMPLE_DTYPES
    from tracekit.trace.cache import load_columns, save_columns
    from tracekit.trace.format import TraceError
    from tracekit.trace.frames import load_path

    trace = None
    if raw.trace_path is not None:
        cache = raw.path / EVENTS_CACHE
        if cache.exists() and not cache_is_sane(cache, raw.trace_path):
            with contextlib.suppress(OSError):  # derived and disposable: never trusted over trace.json
                cache.unlink()
        try:
            trace = load_columns(cache, raw.trace_path)
            if trace is None:
                trace = load_path(raw.trace_path)
                with contextlib.suppress(OSError):  # only a cache: a read-only run directory is fine
                    save_columns(trace, raw.path / EVENTS_CACHE, raw.trace_path)
        except (TraceError, OSError) as exc:
            raise RunDirError(f"{raw.trace_path} is corrupt ({exc}); rerun `tracekit profile`") from None
    try:
        samples = pd.read_csv(raw.samples_path, dtype=SAMPLE_DTYPES)
    except (ValueError, KeyError, OverflowError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise RunDirError(f"{raw.samples_path} is corrupt ({exc}); rerun `tracekit profile`") from None
    structure = _load_structure(raw.path / STRUCTURE_JSONL)
    missing = set(SAMPLE_DTYPES) - set(samples.columns)
    if missing:
        raise RunDirError(f"{raw.samples_path} lacks columns {sorted(missing)}; rerun `tracekit profile`")
    numbers = samples.select_dtypes("number")
    if len(numbers) and not (numbers.abs() < 1e300).where(numbers.notna(), True).all().all():
        raise RunDirError(f"{raw.samples_path} holds infinite or huge numbers; rerun `tracekit profile`")
    return Inputs(run=raw.run, trace=trace, samples=samples, structure=structure)


def _load_structure(path: Path) -> Structure:
    """The run's structure record; an empty one for runs that have none (older runs)."""
    from tracekit.structure import StructureError, empty, load_path

    if not path.is_file():
        return empty()
    try:
        return load_path(path)
    except (StructureError, OSError) as exc:
        raise RunDirError(f"{path} is corrupt ({exc}); rerun `tracekit profile`") from None
