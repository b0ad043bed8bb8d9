"""asyncio with blocking calls hidden in a helper: `fetch_config` calls requests.get on a local
http.server (served by a thread) and `pause` calls time.sleep, both inside coroutines. The program
times each blocking call itself and prints them as JSON on its last line."""

import asyncio
import http.server
import json
import threading
import time

import requests


class Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(0.25)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
threading.Thread(target=server.serve_forever, name="server", daemon=True).start()
URL = f"http://127.0.0.1:{server.server_port}/"
BLOCKS: list[float] = []


def fetch_config() -> str:
    t = time.perf_counter()
    text = requests.get(URL, timeout=10).text  # blocks the loop: a sync client in async code
    BLOCKS.append(time.perf_counter() - t)
    return text


def pause() -> None:
    t = time.perf_counter()
    time.sleep(0.3)  # blocks the loop
    BLOCKS.append(time.perf_counter() - t)


async def worker(i: int) -> None:
    await asyncio.sleep(0.01 * i)
    if i % 2:
        fetch_config()
    else:
        pause()
    await asyncio.sleep(0.05)


async def main() -> None:
    await asyncio.gather(*(worker(i) for i in range(4)))


asyncio.run(main())
server.shutdown()
print(json.dumps({"blocks_s": [round(b, 4) for b in BLOCKS], "max_block_s": round(max(BLOCKS), 4)}))
