"""multiprocessing.Pool with the spawn start method over CPU-bound chunks (2 workers)."""

import json
import multiprocessing as mp


def work(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        out = pool.map(work, [4_000_000] * 4)
    print(json.dumps({"results": len(out), "workers": 2, "start_method": "spawn"}))
