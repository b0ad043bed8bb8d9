"""Reading the merged structure record (structure.jsonl: one `[pid, record]` JSON array a line, see
tracekit/recorder.py) into Python lists, fast and safe for what a traced program named. No pandas:
the runner uses it before the analysis is imported.

The whole file is parsed by orjson at once when it can be (a record from a 45k-line aiohttp run in
~0.1 s); orjson refuses lone surrogates (a program's undecodable file or thread names, which the
recorder writes as `\\udcxx` escapes), and then each line is parsed with `json` and its strings mended
to U+FFFD, so every string that comes out is valid UTF-8 text.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from typing import Any

import orjson

Record = tuple[int, list[Any]]

_SURROGATE = re.compile("[\ud800-\udfff]")


class RecordError(Exception):
    """A line that is not a `[pid, record]` array (strict parsing only)."""


def utf8(text: str) -> str:
    """Lone surrogates (a program's undecodable names) as U+FFFD: reports and trace.json are UTF-8."""
    return _SURROGATE.sub("\ufffd", text)


# The last well-formed record parsed, by digest: `profile` reads the same structure.jsonl for the
# viewer's tracks, the sampled slices and the analysis (45k aiohttp lines: ~0.1 s a parse). Callers
# only read the lists they get.
_LAST: dict[bytes, list[Record]] = {}
_LAST_LOCK = threading.Lock()


def parse(raw: bytes, strict: bool = True) -> list[Record]:
    """Every record in file order (the same lists for the same bytes: do not change them). strict: a
    malformed line raises RecordError naming it; else it is skipped (the viewer shows less, the
    analysis reports it)."""
    digest = hashlib.blake2b(raw, digest_size=16).digest()
    with _LAST_LOCK:
        cached = _LAST.get(digest)
    if cached is not None:
        return cached
    lines = [line for line in raw.splitlines() if line.strip()]
    try:
        rows = orjson.loads(b"[" + b",".join(lines) + b"]")
        out = [(int(pid), rec) for pid, rec in rows if isinstance(rec, list) and rec]
        with _LAST_LOCK:
            _LAST.clear()
            _LAST[digest] = out
        return out
    except (orjson.JSONDecodeError, ValueError, TypeError):
        pass
    out = []
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            pid, rec = json.loads(line)
            if not isinstance(rec, list) or not rec:
                raise ValueError
            out.append((int(pid), [utf8(x) if isinstance(x, str) else x for x in rec]))
        except (ValueError, TypeError):
            if strict:
                raise RecordError(f"structure.jsonl line {n} is not a structure record") from None
    return out
