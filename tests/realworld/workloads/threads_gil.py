"""Three threads of pure-Python arithmetic: the GIL lets one run at a time (the corpus's positive control)."""

import json
import threading


def work(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


threads = [threading.Thread(target=work, args=(2_500_000,), name=f"py-{i}") for i in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"threads": len(threads)}))
