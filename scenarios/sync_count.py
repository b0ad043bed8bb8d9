"""Sequential baseline: count() runs three times in a row, each sleeping 1 s, so it takes ~3 s."""

import time


def count() -> None:
    print("One")
    time.sleep(1)
    print("Two")


def main() -> None:
    for _ in range(3):
        count()


if __name__ == "__main__":
    s = time.perf_counter()
    main()
    elapsed = time.perf_counter() - s
    print(f"{__file__} executed in {elapsed:0.2f} seconds.")
