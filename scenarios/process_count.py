"""Processes: three multiprocessing workers each run count(); their sleeps overlap, ~1 s plus start-up."""

import multiprocessing
import time


def count() -> None:
    print("One", flush=True)
    time.sleep(1)
    print("Two", flush=True)


def main() -> None:
    procs = [multiprocessing.Process(target=count, name=f"count-{i}") for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()


if __name__ == "__main__":
    s = time.perf_counter()
    main()
    elapsed = time.perf_counter() - s
    print(f"{__file__} executed in {elapsed:0.2f} seconds.")
