"""Started by Python in every process of a traced run (tracekit puts this folder first on
PYTHONPATH): installs tracekit's structure recorder, then hands over to the sitecustomize that
this one shadows, if any. Never raises into the program."""

import os
import sys


def _start() -> None:
    if os.environ.get("TRACEKIT_STRUCTURE_DIR"):
        try:
            from tracekit import recorder

            recorder.install()
        except ImportError:  # another Python than tracekit's, started by the program: reported as unrecorded
            pass
        except Exception as exc:  # the program runs regardless; tracekit reports the missing record
            sys.stderr.write(f"tracekit: structure recorder not started: {exc!r}\n")


def _chain() -> None:
    """Import the next sitecustomize on sys.path, the one this module shadows."""
    here = os.path.dirname(os.path.abspath(__file__))
    me = sys.modules.pop("sitecustomize", None)
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    try:
        import sitecustomize  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        pass
    finally:
        sys.path[:] = saved
        if me is not None and "sitecustomize" not in sys.modules:
            sys.modules["sitecustomize"] = me


_start()
_chain()
