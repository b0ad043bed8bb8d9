"""CPython's own asyncio tests (test.test_asyncio: locks, queues, timeouts, pep492) under unittest:
many short event loops, hundreds of tasks, nothing that blocks a loop for 100 ms."""

import json
import sys
import unittest

names = [f"test.test_asyncio.{m}" for m in ("test_locks", "test_queues", "test_timeouts", "test_pep492")]
suite = unittest.defaultTestLoader.loadTestsFromNames(names)
result = unittest.TextTestRunner(stream=sys.stderr, verbosity=0).run(suite)
print(json.dumps({"tests": result.testsRun, "failures": len(result.failures), "errors": len(result.errors)}))
