"""Three threads hashing large buffers with hashlib, which releases the GIL for buffers over 2 KiB.

Sixteen 40 MB hashes a thread: ~0.35 s each where the CPU hashes SHA-256 in hardware (22 ms a hash here), so
every thread outlasts the 0.1 s the oracle needs for a sleep fraction (four hashes made 0.09 s threads there)."""

import hashlib
import json
import threading

data = b"x" * 40_000_000


def work() -> None:
    for _ in range(16):
        hashlib.sha256(data).hexdigest()


threads = [threading.Thread(target=work, name=f"sha-{i}") for i in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"threads": len(threads)}))
