"""tracekit: see how concurrent Python really ran.

`tracekit.load(run_dir)` gives notebook users the same frames and stats the CLI writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from tracekit.analysis import Analysis


def load(run_dir: str) -> Analysis:
    """Load a run directory and analyse it: `.units`, `.timeline`, `.functions`, `.samples`, `.events`, `.stats`."""
    from pathlib import Path

    from tracekit.analysis import analyse
    from tracekit.rundir import load_inputs, read_run

    return analyse(load_inputs(read_run(Path(run_dir))))


__all__ = ["__version__", "load"]
