"""Three threads of numpy ufuncs on a large array: numpy releases the GIL inside them."""

import json
import threading

import numpy as np

a = np.random.default_rng(0).random((1000, 1000))


def work() -> None:
    for _ in range(25):
        np.sqrt(a) * np.sin(a)


threads = [threading.Thread(target=work, name=f"np-{i}") for i in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"threads": len(threads)}))
