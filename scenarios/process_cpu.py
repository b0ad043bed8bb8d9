"""Processes on CPU-bound work: three processes share the machine's cores, a real parallel speed-up."""

import multiprocessing
import time

TOTAL = 15_000_000


def work(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def main() -> None:
    procs = [multiprocessing.Process(target=work, args=(TOTAL // 3,), name=f"work-{i}") for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()


if __name__ == "__main__":
    s = time.perf_counter()
    main()
    elapsed = time.perf_counter() - s
    print(f"{__file__} executed in {elapsed:0.2f} seconds.")
