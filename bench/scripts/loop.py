"""Loop-heavy CPU work: arithmetic in one frame, almost no calls, timed inside the script.

Usage: python bench/scripts/loop.py [ITERATIONS]   (default 5,000,000)
"""

import sys
import time

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000
    s = time.perf_counter()
    total = 0
    for i in range(n):
        total += i * i % 7
    print(f"{__file__} executed in {time.perf_counter() - s:0.4f} seconds.")
