"""Generator coroutines: a tiny scheduler drives three yield-based count()s that each wait 1 s
without blocking one another, so it takes ~1 s on one thread."""

import heapq
import time
from collections.abc import Generator

Coroutine = Generator[float, None, None]


def count() -> Coroutine:
    print("One")
    yield 1.0  # "wake me in 1 s": the scheduler runs the others meanwhile
    print("Two")


def run(coros: list[Coroutine]) -> None:
    """Resume the coroutine whose wake-up time comes first; sleep only when none is due."""
    queue = [(0.0, i, c) for i, c in enumerate(coros)]  # (wake time, tie-breaker, coroutine)
    while queue:
        wake, i, coro = heapq.heappop(queue)
        time.sleep(max(0.0, wake - time.monotonic()))
        try:
            delay = next(coro)
        except StopIteration:
            continue
        heapq.heappush(queue, (time.monotonic() + delay, i, coro))


def main() -> None:
    run([count(), count(), count()])


if __name__ == "__main__":
    s = time.perf_counter()
    main()
    elapsed = time.perf_counter() - s
    print(f"{__file__} executed in {elapsed:0.2f} seconds.")
