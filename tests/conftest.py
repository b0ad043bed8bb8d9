"""Shared helpers: run the real CLI in a subprocess, find the scenarios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def run_tracekit(*args: str, timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m tracekit ARGS` in a subprocess, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "tracekit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
    )


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture
def tk() -> Any:
    return run_tracekit
