"""Hand-built structure records, written exactly as tracekit.recorder writes them (times in ns)."""

from __future__ import annotations

import json
from typing import Any

from tracekit.structure import Structure, load


def structure(records: list[tuple[int, list[Any]]]) -> Structure:
    """(pid, record) pairs → Structure, through the same parser as a real structure.jsonl."""
    return load(b"".join(json.dumps([pid, rec]).encode() + b"\n" for pid, rec in records))


def us(x: float) -> int:
    """µs → the recorder's ns."""
    return int(x * 1000)
