"""CPU-bound baseline: three equal pure-Python work slices run one after another on one core (~1 s)."""

import time

TOTAL = 15_000_000  # loop iterations in all, split three ways in every *_cpu scenario


def work(n: int) -> int:
    total = 0
    for i in range(n):  # no calls inside the loop: tracing it stays cheap
        total += i * i
    return total


def main() -> None:
    for _ in range(3):
        work(TOTAL // 3)


if __name__ == "__main__":
    s = time.perf_counter()
    main()
    elapsed = time.perf_counter() - s
    print(f"{__file__} executed in {elapsed:0.2f} seconds.")
