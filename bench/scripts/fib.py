"""Call-heavy CPU work with deep recursion: fib(N) R times, timed inside the script.

Usage: python bench/scripts/fib.py [N] [R]   (default fib(22) x 20: ~1.2 M calls)
"""

import sys
import time


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 22
    r = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    s = time.perf_counter()
    for _ in range(r):
        fib(n)
    print(f"{__file__} executed in {time.perf_counter() - s:0.4f} seconds.")
