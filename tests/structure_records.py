"""Hand-built structure records, written exactly as tracekit.recorder writes them (times in ns)."""

from __future__ import annotations

import json
from typing import Any

from tracekit.structure import Structure, load


def records(recs: list[tuple[int, list[Any]]]) -> bytes:
    """(pid, record) pairs → the bytes of a merged structure.jsonl."""
    return b"".join(json.dumps([pid, rec]).encode() + b"\n" for pid, rec in recs)


def structure(recs: list[tuple[int, list[Any]]]) -> Structure:
    """(pid, record) pairs → Structure, through the same parser as a real structure.jsonl."""
    return load(records(recs))


def us(x: float) -> int:
    """µs → the recorder's ns."""
    return int(x * 1000)
