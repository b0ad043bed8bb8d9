"""httpx.AsyncClient (anyio underneath: every connection goes through anyio.connect_tcp) against a
local http.server, 40 requests 10 at a time on asyncio; then a blocking call hidden in a helper (after
viztracer 1.1.1 on 3.11 has stopped tracing at the first cancel scope). Prints its own counts and the
blocking call's duration."""

import asyncio
import http.server
import json
import threading
import time

import httpx


class Slow(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        time.sleep(0.02)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
threading.Thread(target=server.serve_forever, name="server", daemon=True).start()
URL = f"http://127.0.0.1:{server.server_port}/"


def load_settings() -> float:
    t = time.perf_counter()
    time.sleep(0.25)  # blocks the loop: a synchronous call in async code
    return time.perf_counter() - t


async def main() -> tuple[int, float]:
    sem = asyncio.Semaphore(10)
    async with httpx.AsyncClient() as client:

        async def one() -> int:
            async with sem:
                return len((await client.get(URL)).content)

        sizes = await asyncio.gather(*(one() for _ in range(40)))
    return len(sizes), load_settings()


n, blocked = asyncio.run(main())
server.shutdown()
print(json.dumps({"requests": n, "block_s": round(blocked, 4)}))
