"""Threads: three threads each run count(); their 1 s sleeps overlap (sleep releases the GIL), ~1 s."""

import threading
import time


def count() -> None:
    print("One")
    time.sleep(1)
    print("Two")


def main() -> None:
    threads = [threading.Thread(target=count, name=f"count-{i}") for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    s = time.perf_counter()
    main()
    elapsed = time.perf_counter() - s
    print(f"{__file__} executed in {elapsed:0.2f} seconds.")
