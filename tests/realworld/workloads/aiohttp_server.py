"""An aiohttp web server and an aiohttp client on one event loop (127.0.0.1): 100 requests, 30 at a
time, each handler awaiting 20 ms. Prints the program's own counts as JSON on its last line."""

import asyncio
import json

from aiohttp import ClientSession, web


async def handle(request: web.Request) -> web.Response:
    await asyncio.sleep(0.02)
    return web.Response(text="ok" * 50)


async def main() -> dict[str, int]:
    app = web.Application()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    sem = asyncio.Semaphore(30)
    peak = 0

    async def one(session: ClientSession) -> int:
        nonlocal peak
        async with sem:
            peak = max(peak, len(asyncio.all_tasks()))
            async with session.get(f"http://127.0.0.1:{port}/") as r:
                return len(await r.text())

    async with ClientSession() as session:
        sizes = await asyncio.gather(*(one(session) for _ in range(100)))
    await runner.cleanup()
    return {"requests": len(sizes), "bytes": sum(sizes), "max_tasks_seen": peak}


print(json.dumps(asyncio.run(main())))
