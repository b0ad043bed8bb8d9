"""Threads that wait: three blocked on a threading.Lock the main thread holds, three consuming a Queue
fed slowly (`iter(q.get, None)`). Together they use almost no CPU."""

import json
import queue
import threading
import time

lock = threading.Lock()
lock.acquire()
q: queue.Queue[int | None] = queue.Queue()


def locked() -> None:
    with lock:
        pass


def consume() -> None:
    for _ in iter(q.get, None):
        time.sleep(0.002)


waiters = [threading.Thread(target=locked, name=f"lock-{i}") for i in range(3)]
consumers = [threading.Thread(target=consume, name=f"queue-{i}") for i in range(3)]
for t in waiters + consumers:
    t.start()
for i in range(60):
    q.put(i)
    time.sleep(0.02)
lock.release()
for _ in consumers:
    q.put(None)
for t in waiters + consumers:
    t.join()
print(json.dumps({"threads": len(waiters) + len(consumers)}))
