"""pytest with pytest-xdist (-n 2) over a small generated test suite, run in-process: xdist starts
two worker processes through execnet, whose I/O threads are _thread threads. argv[1] is a scratch
directory for the suite."""

import json
import sys
from pathlib import Path

import pytest

suite = Path(sys.argv[1])
suite.mkdir(parents=True, exist_ok=True)
(suite / "pytest.ini").write_text("[pytest]\n")
(suite / "test_generated.py").write_text(
    "import time\nimport pytest\n\n"
    "@pytest.mark.parametrize('i', range(24))\n"
    "def test_sleep(i):\n    time.sleep(0.03)\n\n"
    "@pytest.mark.parametrize('i', range(8))\n"
    "def test_cpu(i):\n    assert sum(x * x for x in range(60_000)) > 0\n"
)
code = pytest.main(["-q", "-n", "2", "-p", "no:cacheprovider", "--rootdir", str(suite), str(suite)])
print(json.dumps({"pytest_exit": int(code), "tests": 32, "xdist_workers": 2}))
