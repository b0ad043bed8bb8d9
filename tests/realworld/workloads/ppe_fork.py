"""concurrent.futures.ProcessPoolExecutor with the fork start method over CPU-bound chunks (2 workers)."""

import json
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor


def work(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


if __name__ == "__main__":
    with ProcessPoolExecutor(2, mp_context=mp.get_context("fork")) as pool:
        out = list(pool.map(work, [4_000_000] * 4))
    print(json.dumps({"results": len(out), "workers": 2, "start_method": "fork"}))
