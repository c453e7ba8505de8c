"""What the local fake servers share: an HTTP server on 127.0.0.1 in a thread, and replies.

A fake subclasses `FakeServer` and names its request handler, a `FakeHandler` subclass that
reaches the fake as `self.fake`. `start()` binds a free port and sets `url`; `stop()` returns at
once and wakes anything waiting on `stopping`, so a request sleeping on a scripted delay never
holds it up.

    with FakeThing() as fake:
        client = Client(host=fake.url)
"""

from __future__ import annotations

import json
import selectors
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


class FakeHandler(BaseHTTPRequestHandler):
    """A request handler writing whole replies, quiet in the test output."""

    fake: Any  # the FakeServer subclass instance, set by `FakeServer.start`
    length_header: ClassVar[str] = "Content-Length"

    def body_bytes(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """Status, the headers in the order given, the length, the body; a client that gave
        up first (its timeout) is not an error."""
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header(self.length_header, str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def reply_json(self, status: int, value: object, headers: dict[str, str] | None = None) -> None:
        self.reply(status, json.dumps(value).encode(), headers)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a request sleeping on a delay must not hold up `stop()`
    request_queue_size = 512  # a burst of parallel requests must not be refused

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (read timeout) leaves the late answer with nowhere to go.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeServer:
    """Start and stop a fake's HTTP server; `lock` guards what its handler threads share."""

    handler: ClassVar[type[FakeHandler]]

    def __init__(self) -> None:
        self.url = ""
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None

    def start(self) -> Self:
        bound = type("Handler", (self.handler,), {"fake": self})
        self._httpd = _Server(("127.0.0.1", 0), bound)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.stopping.clear()
        self._wake = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, args=(self._httpd,), daemon=True)
        self._thread.start()
        return self

    def _serve(self, httpd: _Server) -> None:
        """Accept until `stop()`, which wakes the wait through the socket pair: stopping costs
        no poll interval (`serve_forever` would wait out one per server per test)."""
        assert self._wake is not None
        with selectors.DefaultSelector() as selector:
            selector.register(httpd, selectors.EVENT_READ)
            selector.register(self._wake[0], selectors.EVENT_READ)
            while not self.stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is httpd and not self.stopping.is_set():
                        httpd.handle_request()

    def stop(self) -> None:
        self.stopping.set()
        if self._wake is not None:
            self._wake[1].send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._httpd is not None:
            self._httpd.server_close()
            self._httpd = None
        if self._wake is not None:
            for end in self._wake:
                end.close()
            self._wake = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FakeClock:
    """Time for a fake that moves only when told: by `advance`, and by `tick` seconds each
    time it is read, so that a batch that is polled goes through its statuses while nobody
    waits. Starts at the real time, which a client compares a batch's age with."""

    def __init__(self, tick: float = 0.0) -> None:
        self.now, self.tick = time.time(), tick
        self._lock = threading.Lock()  # read from the fake's handler threads

    def __call__(self) -> float:
        with self._lock:
            self.now += self.tick
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
