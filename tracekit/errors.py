"""The TracekitError family: every error a user can fix, with the fix in its message and an exit code.

Exit codes (documented in the README):
  0    the script succeeded;  n  the script's own exit code
  2    usage error: bad option, missing/unreadable/non-Python script, bad run directory
  74   tracekit could not write a file (disk full, quota, read-only directory): what it could write is kept
  70   internal error (a bug in tracekit): one line on stderr, the traceback in RUN_DIR/error.log
  124  the run was stopped by --timeout
  128+N  the script was killed by signal N (e.g. 137 SIGKILL, 143 SIGTERM)
  130  tracekit was interrupted (Ctrl-C); 143 / 129 when tracekit itself got SIGTERM / SIGHUP
"""

from __future__ import annotations

EXIT_USAGE = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE from sysexits.h
EXIT_OUTPUT = 74  # EX_IOERR: tracekit could not write a file (disk full, quota, read-only)
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP stopped tracekit; `signum` decides its exit code (128 + N)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class TracekitError(Exception):
    """An error the user can fix. `str(err)` is a single line that says what happened and how to fix it."""

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(TracekitError):
    """Bad command-line input: a missing script, a bad option value, an unusable output directory."""


class RunDirError(TracekitError):
    """A run directory is missing a file, holds a corrupt file, or comes from a newer schema."""


class OutputError(TracekitError):
    """tracekit could not write a file of the run (a full disk, a quota, a read-only directory)."""

    exit_code = EXIT_OUTPUT
