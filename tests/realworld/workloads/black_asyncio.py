"""black --check over a copy of some of the stdlib's asyncio package: black formats files in a
ProcessPoolExecutor (forked workers) driven from an asyncio loop. The copy's path is argv[1]."""

import asyncio
import json
import shutil
import sys
from pathlib import Path

import black

SRC = Path(asyncio.__file__).parent
FILES = ["locks.py", "queues.py", "timeouts.py", "taskgroups.py", "runners.py", "staggered.py", "threads.py",
         "exceptions.py"]  # fmt: skip

dest = Path(sys.argv[1])
dest.mkdir(parents=True, exist_ok=True)
for name in FILES:
    shutil.copy(SRC / name, dest / name)
try:
    black.main(["--check", "-q", "--workers", "2", str(dest)])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"files": len(FILES), "black_exit": code}))
