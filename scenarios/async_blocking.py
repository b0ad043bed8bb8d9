"""The classic mistake: time.sleep() inside a coroutine blocks the event loop, so gather takes ~3 s."""

import asyncio
import time


async def count() -> None:
    print("One")
    time.sleep(1)  # blocks the whole event loop: nothing else can run
    print("Two")


async def main() -> None:
    await asyncio.gather(count(), count(), count())


if __name__ == "__main__":
    s = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - s
    print(f"{__file__} executed in {elapsed:0.2f} seconds.")
