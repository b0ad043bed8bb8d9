"""Three threads hashing large buffers with hashlib, which releases the GIL for buffers over 2 KiB."""

import hashlib
import json
import threading

data = b"x" * 40_000_000


def work() -> None:
    for _ in range(4):
        hashlib.sha256(data).hexdigest()


threads = [threading.Thread(target=work, name=f"sha-{i}") for i in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"threads": len(threads)}))
