"""mypy type-checks a small module in-process (mypy.api.run): single-threaded, call-heavy work, with
the short-lived ThreadPoolExecutors mypy's build starts for a few milliseconds each."""

import json
import sys
import tempfile
from pathlib import Path

from mypy import api

SOURCE = """\
import argparse, json, asyncio

def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=3)
    return p.parse_args(argv)

async def main(n: int) -> list[int]:
    return list(await asyncio.gather(*(asyncio.sleep(0, i) for i in range(n))))

x: int = json.loads("1")
y: str = 1
"""

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "checked.py"
        src.write_text(SOURCE)
        out, err, rc = api.run(["--no-incremental", "--cache-dir", str(Path(tmp) / "cache"), str(src)])
    errors = [line for line in out.splitlines() if ": error:" in line]
    print(json.dumps({"mypy_exit": rc, "errors": len(errors), "python": sys.version_info[:2]}))
