"""trio and anyio: a trio nursery of 5 tasks that sleep and pass messages over a memory channel, then
an anyio task group (on the trio backend) of 5 tasks and anyio.to_thread. Prints its own counts."""

import json
import time

import anyio
import trio


class Count(trio.abc.Instrument):
    """The oracle: trio's own count of the tasks it spawned and of those alive at once, and its longest
    task step (the time a task held trio's run loop)."""

    def __init__(self) -> None:
        self.spawned = self.alive = self.max_alive = 0
        self.max_step_s = 0.0
        self._t0 = 0.0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._t0 = time.perf_counter()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        self.max_step_s = max(self.max_step_s, time.perf_counter() - self._t0)

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned += 1
        self.alive += 1
        self.max_alive = max(self.max_alive, self.alive)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.alive -= 1


async def trio_part() -> int:
    send, recv = trio.open_memory_channel[int](0)
    got = []

    async def producer(i: int) -> None:
        await trio.sleep(0.05 * i)
        await send.send(i)

    async def consumer() -> None:
        for _ in range(5):
            got.append(await recv.receive())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        for i in range(5):
            nursery.start_soon(producer, i)
    return len(got)


async def anyio_part() -> int:
    done = []

    async def one(i: int) -> None:
        await anyio.sleep(0.1)
        await anyio.to_thread.run_sync(lambda: sum(range(1000)))
        done.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(one, i)
    return len(done)


async def main() -> dict[str, int]:
    return {"messages": await trio_part(), "anyio_tasks": await anyio_part()}


count = Count()
facts = trio.run(main, instruments=[count])
print(
    json.dumps(
        {
            **facts,
            "tasks_spawned": count.spawned,
            "max_alive_tasks": count.max_alive,
            "max_step_s": round(count.max_step_s, 4),
        }
    )
)
