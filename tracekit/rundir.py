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
from tracekit.runinfo import RUN_SCHEMA, SCHEMA_PREFIX, RunInfo, RunInfoError

if TYPE_CHECKING:
    from tracekit.analysis import Inputs
    from tracekit.structure import Structure

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
    return claim_dir(path, force, RUN_JSON, SCHEMA_PREFIX, RUN_FILES, "run")


@dataclass(frozen=True)
class RawRun:
    """The raw facts of one run, as read back from its directory (no analysis yet)."""

    path: Path
    info: RunInfo
    trace_path: Path | None  # None when the run left no valid trace (info.trace says why)
    samples_path: Path


def read_run(path: Path) -> RawRun:
    """Read a run directory's raw files, or raise RunDirError naming the missing or corrupt file, or
    the first missing or mistyped field of run.json (runs of an older schema are not read: rerun)."""
    if not path.is_dir():
        raise RunDirError(f"{path} is not a run directory; pass a directory written by `tracekit profile`")
    run_path = path / RUN_JSON
    if not run_path.is_file():
        raise RunDirError(f"{run_path} is missing; {path} is not a tracekit run directory")
    try:
        doc = json.loads(run_path.read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise RunDirError(f"{run_path} is corrupt ({exc}); rerun `tracekit profile` to recreate it") from None
    info = _run_info(run_path, doc)
    samples = path / SAMPLES_CSV
    if not samples.is_file():
        raise RunDirError(f"{samples} is missing; rerun `tracekit profile` to recreate the run")
    trace = path / TRACE_JSON
    return RawRun(path=path, info=info, trace_path=trace if trace.is_file() else None, samples_path=samples)


def _run_info(run_path: Path, doc: object) -> RunInfo:
    """run.json's RunInfo, or one line saying what is wrong with it and how to fix that."""
    if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith(SCHEMA_PREFIX):
        raise RunDirError(f"{run_path} is not a tracekit run.json; rerun `tracekit profile`")
    schema = str(doc["schema"])[:40]
    if schema != RUN_SCHEMA:
        version, ours = schema.removeprefix(SCHEMA_PREFIX), int(RUN_SCHEMA.removeprefix(SCHEMA_PREFIX))
        newer = version.isdigit() and int(version) > ours
        fix = "upgrade tracekit" if newer else "rerun `tracekit profile` with this tracekit to recreate it"
        which = "newer" if newer else "older"
        raise RunDirError(f"{run_path} has schema {schema!r}, {which} than this tracekit's {RUN_SCHEMA!r}; {fix}")
    if doc.get("status") != "finished" or doc.get("ended_ns") is None:
        raise RunDirError(
            f"{run_path.parent} holds an incomplete run (status {str(doc.get('status'))[:40]!r}: tracekit was killed "
            "or the disk filled up before it finished); profile the script again"
        )
    try:
        return RunInfo.from_json(doc)
    except RunInfoError as exc:
        raise RunDirError(f"{run_path}: {exc}; rerun `tracekit profile` to recreate it") from None


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
    return Inputs(info=raw.info, trace=trace, samples=samples, structure=structure)


def _load_structure(path: Path) -> Structure:
    """The run's structure record; an empty one for runs that have none (older runs)."""
    from tracekit.structure import StructureError, empty, load_path

    if not path.is_file():
        return empty()
    try:
        return load_path(path)
    except (StructureError, OSError) as exc:
        raise RunDirError(f"{path} is corrupt ({exc}); rerun `tracekit profile`") from None
