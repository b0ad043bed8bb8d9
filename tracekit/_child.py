"""Child bootstrap: `python -m tracekit._child [viztracer args] -- script args`.

Runs in the child before the program: makes stdout/stderr line-buffered, so each line reaches the
parent live and whole (PYTHONUNBUFFERED alone writes `print`'s text and its newline separately, and
lines from several processes then interleave mid-line), then hands over to viztracer's CLI, or with
`--no-trace` runs the program directly (sample-only mode).
"""

from __future__ import annotations

import runpy
import sys


def main() -> None:
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True, write_through=False)
    args = sys.argv[1:]
    if args[:1] == ["--no-trace"]:
        args = args[1:]
        if args[:1] == ["-m"]:
            sys.argv = [args[1], *args[2:]]
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        else:
            import os

            sys.argv = args
            sys.path.insert(0, os.path.dirname(args[0]) or ".")
            # an absolute path, as python and viztracer give the script's code: frames then name their file
            # whatever directory the program changes to
            runpy.run_path(os.path.abspath(args[0]), run_name="__main__")
        return
    from viztracer.main import main as viztracer_main

    from tracekit import vizboot

    vizboot.install()  # viztracer 1.1.1 bug workarounds (see tracekit.vizboot)
    sys.argv = ["viztracer", *args]
    viztracer_main()


if __name__ == "__main__":
    main()
