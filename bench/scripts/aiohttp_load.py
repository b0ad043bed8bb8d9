"""An aiohttp server and an aiohttp client in one process on 127.0.0.1: N requests, C at a time.
Prints the client's own timing and counts as JSON on its last line (the oracle survives tracing)."""

import asyncio
import json
import sys
import time

from aiohttp import ClientSession, TCPConnector, web


async def hello(request: web.Request) -> web.Response:
    await asyncio.sleep(0.001)  # a little I/O wait per request
    return web.json_response({"path": request.path})


async def main(n: int, c: int) -> dict[str, float]:
    app = web.Application()
    app.router.add_get("/{x}", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    sem = asyncio.Semaphore(c)
    t0 = time.perf_counter()
    async with ClientSession(connector=TCPConnector(limit=c)) as s:

        async def one(i: int) -> int:
            async with sem, s.get(f"http://127.0.0.1:{port}/{i}") as r:
                await r.read()
                return r.status

        codes = await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - t0
    await runner.cleanup()
    return {"requests": n, "ok": sum(1 for x in codes if x == 200), "client_s": round(elapsed, 4)}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
    c = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    s = time.perf_counter()
    result = asyncio.run(main(n, c))
    print(f"{__file__} executed in {time.perf_counter() - s:0.4f} seconds.")
    print(json.dumps(result))
