"""asyncio on CPU-bound work: three tasks, but a coroutine that never awaits holds the loop, no speed-up."""

import asyncio
import time

TOTAL = 15_000_000


async def work(n: int) -> int:
    total = 0
    for i in range(n):  # never awaits: the other tasks wait for the loop
        total += i * i
    return total


async def main() -> None:
    await asyncio.gather(*(work(TOTAL // 3) for _ in range(3)))


if __name__ == "__main__":
    s = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - s
    print(f"{__file__} executed in {elapsed:0.2f} seconds.")
