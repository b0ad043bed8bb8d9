"""The phases of a `tracekit profile` run, by name: the runner emits them (`runner.run(on_phase=...)`),
the CLI shows them on its status line. One table, so a phase renamed on one side cannot silently
fall back to a generic message on the other.

  running      the child has started (the CLI starts its prefetch of the analysis then)
  timeout      --timeout expired: the process tree is being stopped
  interrupted  Ctrl-C, SIGTERM or SIGHUP reached tracekit: the process tree is being stopped
  saving       the tracer is saving the trace (in the child, after the script ended)
  analysing    the CLI's own: the run directory's raw files are being analysed
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    RUNNING = "running"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    SAVING = "saving"
    ANALYSING = "analysing"


_WORDS = {
    Phase.RUNNING: "running {target}",
    Phase.TIMEOUT: "timed out: stopping",
    Phase.INTERRUPTED: "interrupted: stopping",
    Phase.SAVING: "saving the trace",
    Phase.ANALYSING: "analysing {target}",
}


def describe(phase: Phase, target: str) -> str:
    """The status line for `phase` of a run of `target`."""
    return _WORDS[phase].format(target=target)
