"""What `tracekit profile` loads before its child starts: every millisecond there is added to the
run's wall time (issue 11). The heavy libraries (rich, pandas, numpy, jinja2, viztracer) wait until
the child runs, when the prefetch loads them on an idle core."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, SCENARIOS

HEAVY = ("rich", "pandas", "numpy", "jinja2", "viztracer", "pyarrow")

# the CLI run in-process, with Popen wrapped to note which heavy modules were loaded when the child started
CODE = """
import json, subprocess, sys
seen = []
_init = subprocess.Popen.__init__
def init(self, args, *a, **k):
    if any(str(x).endswith("generator_count.py") for x in args):
        seen.append(sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY)))
    _init(self, args, *a, **k)
subprocess.Popen.__init__ = init
import atexit
atexit.register(lambda: print("SEEN", json.dumps(seen), file=sys.__stderr__, flush=True))
from tracekit import cli
sys.argv = ["tracekit", "profile", "-q", "-o", sys.argv[1], sys.argv[2]]
cli.main()
"""


def test_no_heavy_library_is_loaded_before_the_child_starts(tmp_path: Path) -> None:
    script = str(SCENARIOS / "generator_count.py")
    code = f"HEAVY = {HEAVY!r}\n" + CODE
    p = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "run"), script],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    line = [x for x in p.stderr.splitlines() if x.startswith("SEEN ")]
    assert line, p.stderr
    assert json.loads(line[0][5:]) == [[]]  # the child started once, with none of them loaded
    assert "concurrency" in p.stderr  # and the summary (rich, pandas) was still printed afterwards
    # the environment facts, found while the child started, are in the final run.json
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    import multiprocessing
    import platform
    from importlib.metadata import version

    assert (info["platform"], info["start_method"], info["viztracer_version"]) == (
        platform.platform(),
        multiprocessing.get_start_method(),
        version("viztracer"),
    )
