"""The columnar cache of a loaded trace (events.npz, beside trace.json): parsing a million-event
trace.json costs about what json.load costs; a second analysis of the same run (`tracekit report`,
`tracekit.load`) reads the columns instead. Derived and disposable: keyed by the size and mtime of
the trace.json it came from, and ignored, never trusted, when it does not match or is damaged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracekit.trace.frames import EVENT_COLUMNS, TRACK_COLUMNS, Trace

CACHE_VERSION = 3  # 2: the recorder's frames are dropped at load; 3: vizboot's too
_NUMERIC = [c for c in EVENT_COLUMNS if c != "name"]


def save_columns(trace: Trace, path: Path, source: Path) -> None:
    """Store a loaded trace as numpy columns (.npz, no pickles), keyed by the size and mtime of the
    trace.json it came from, so it is used only while that file is unchanged. Written atomically."""
    import json
    import os
    import tempfile

    import numpy as np
    import pandas as pd

    st = source.stat()
    names = trace.events["name"]
    if not isinstance(names.dtype, pd.CategoricalDtype):
        names = names.astype("category")
    meta = {
        "version": CACHE_VERSION,
        "source_size": st.st_size,
        "source_mtime_ns": st.st_mtime_ns,
        "overflow": trace.overflow,
        "tracer_version": trace.version,
        "events_per_pid": [[int(k), int(v)] for k, v in trace.events_per_pid.items()],
        "tracks": trace.tracks[TRACK_COLUMNS].astype(object).values.tolist(),
        "names": [str(n) for n in names.cat.categories],
    }
    arrays = {c: trace.events[c].to_numpy() for c in _NUMERIC}
    arrays["name_codes"] = names.cat.codes.to_numpy()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_columns(path: Path, source: Path) -> Trace | None:
    """The cached columns of `source`, or None when there is no cache or it does not match the file."""
    import json
    import zipfile

    import numpy as np
    import pandas as pd

    try:
        st = source.stat()
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if (meta.get("version"), meta.get("source_size"), meta.get("source_mtime_ns")) != (
                CACHE_VERSION, st.st_size, st.st_mtime_ns,
            ):  # fmt: skip
                return None
            data: dict[str, Any] = {c: z[c] for c in _NUMERIC}
            codes = z["name_codes"]
        n = len(codes)
        if any(len(v) != n for v in data.values()) or (n and (codes.min() < -1 or codes.max() >= len(meta["names"]))):
            return None
        data["name"] = pd.Categorical.from_codes(codes, categories=meta["names"])
        events = pd.DataFrame(data)[EVENT_COLUMNS]
        tracks = pd.DataFrame(meta["tracks"], columns=TRACK_COLUMNS)
        tracks["pid"] = tracks["pid"].astype("int64")
        tracks["tid"] = tracks["tid"].astype("int64")
        return Trace(
            events=events,
            tracks=tracks,
            overflow=bool(meta["overflow"]),
            version=str(meta["tracer_version"]),
            events_per_pid={int(k): int(v) for k, v in meta["events_per_pid"]},
        )
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return None
