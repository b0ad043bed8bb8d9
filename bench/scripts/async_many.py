"""N asyncio tasks that each print, sleep 1 s and print: the scale benchmark, timed inside the script.

Usage: python bench/scripts/async_many.py [N]   (default 10,000)
"""

import asyncio
import sys
import time


async def worker(i: int) -> None:
    print(f"start {i}")
    await asyncio.sleep(1)
    print(f"end {i}")


async def main(n: int) -> None:
    await asyncio.gather(*(worker(i) for i in range(n)))


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    s = time.perf_counter()
    asyncio.run(main(n))
    print(f"{__file__} executed in {time.perf_counter() - s:0.4f} seconds.")
