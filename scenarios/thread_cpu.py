"""Threads on CPU-bound work: three threads are in flight but the GIL lets only one run, so no speed-up."""

import threading
import time

TOTAL = 15_000_000


def work(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def main() -> None:
    threads = [threading.Thread(target=work, args=(TOTAL // 3,), name=f"work-{i}") for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    s = time.perf_counter()
    main()
    elapsed = time.perf_counter() - s
    print(f"{__file__} executed in {elapsed:0.2f} seconds.")
