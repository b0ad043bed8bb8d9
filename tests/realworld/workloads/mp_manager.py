"""A multiprocessing.Manager dict shared with a fork Pool of 2 workers, `with Pool()` ending by terminate():
the Manager's server process and its per-connection threads serve the proxies; the pool's workers do the
work. (Under viztracer alone, 1 run in 4 of this program hung: see tracekit/vizboot.py, item 5.)"""

import json
import multiprocessing as mp


def work(args: tuple[dict[int, int], int]) -> int:
    shared, i = args
    total = 0
    for k in range(200_000):
        total += k * k
    shared[i] = total
    return i


if __name__ == "__main__":
    ctx = mp.get_context("fork")
    with ctx.Manager() as manager:
        shared = manager.dict()
        with ctx.Pool(2) as pool:
            done = sorted(pool.imap_unordered(work, [(shared, i) for i in range(24)]))
        print(json.dumps({"results": len(done), "shared": len(shared), "workers": 2}))
