"""Shared helpers: run the real CLI in a subprocess, find the scenarios."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
ARTIFACTS = ROOT / "test-artifacts"  # screenshots from the browser tests (git-ignored)

# Debian's chromium, never a downloaded browser; these flags keep it offline and quiet as root.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


def run_tracekit(*args: str, timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m tracekit ARGS` in a subprocess, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "tracekit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
    )


def scenario_runs(root: Path, *options: str) -> Callable[[str], tuple[subprocess.CompletedProcess[str], Path]]:
    """get(name): `tracekit profile OPTIONS -o ROOT/NAME scenarios/NAME.py`, run once and kept (for
    module-scoped fixtures shared by a file's tests)."""
    cache: dict[str, tuple[subprocess.CompletedProcess[str], Path]] = {}

    def get(name: str) -> tuple[subprocess.CompletedProcess[str], Path]:
        if name not in cache:
            out = root / name
            cache[name] = (run_tracekit("profile", *options, "-o", str(out), str(SCENARIOS / f"{name}.py")), out)
        return cache[name]

    return get


def profile_once(tmp_path_factory: pytest.TempPathFactory, scenario: str, label: str) -> Path:
    """Profile a bundled scenario quietly into a fresh directory (for module-scoped fixtures)."""
    out = tmp_path_factory.mktemp(label) / scenario
    proc = run_tracekit("profile", "-q", "-o", str(out), str(SCENARIOS / f"{scenario}.py"), timeout=180)
    assert proc.returncode == 0, proc.stderr
    return out


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture
def tk() -> Any:
    return run_tracekit


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium through Playwright, offline flags (one per test module)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh offline browser context, 1280x900."""
    ctx = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()
