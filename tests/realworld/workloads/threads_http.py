"""A ThreadPoolExecutor fetching from a local http.server (127.0.0.1) with urllib, requests and httpx:
I/O-bound threads, each request waiting ~30 ms on the server."""

import http.server
import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import httpx
import requests


class Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(0.03)
        body = b"ok" * 100
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
threading.Thread(target=server.serve_forever, name="server", daemon=True).start()
url = f"http://127.0.0.1:{server.server_port}/"
client = httpx.Client()


def fetch(i: int) -> int:
    if i % 3 == 0:
        with urllib.request.urlopen(url) as r:
            return len(r.read())
    if i % 3 == 1:
        return len(requests.get(url, timeout=10).content)
    return len(client.get(url).content)


with ThreadPoolExecutor(max_workers=8) as pool:
    sizes = list(pool.map(fetch, range(48)))
server.shutdown()
print(json.dumps({"requests": len(sizes), "bytes": sum(sizes), "workers": 8}))
