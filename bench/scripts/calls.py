"""Call-heavy CPU work: N events' worth of tiny Python calls (3 per `mid`), timed inside the script.

Usage: python bench/scripts/calls.py [EVENTS]   (default 990,000: fits viztracer's default 1M buffer)
"""

import sys
import time


def leaf(i: int) -> int:
    return i + 1


def mid(i: int) -> int:
    return leaf(i) + leaf(i)


def main(events: int) -> int:
    total = 0
    for i in range(events // 3):
        total += mid(i)
    return total


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 990_000
    s = time.perf_counter()
    main(n)
    print(f"{__file__} executed in {time.perf_counter() - s:0.4f} seconds.")
