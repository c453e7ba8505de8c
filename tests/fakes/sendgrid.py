"""A local SendGrid: `POST /v3/mail/send` and the suppression lists' `GET` endpoints on
127.0.0.1, for tests that use the real client.

It checks the bearer key and the body the way SendGrid does at minimum, answers 202 with an
`X-Message-Id`, and records every accepted message. Tests script the next requests' fate:
`fail_next(n, status)` answers 429/5xx without accepting; `drop_next()` accepts the message and
then closes the connection without a response (the ambiguous case); `latency` delays every
response, so a short client timeout turns an accepted message into a read timeout.

Suppressions: `groups[group_id]` is a list of addresses (`/v3/asm/groups/{id}/suppressions`),
`lists[kind]` a list of entries (`/v3/suppression/{kind}`, paged with limit and offset as
SendGrid does). `fail_reads(n, status)` scripts the reads; `requests_count` counts mail only.
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

PATH = "/v3/mail/send"
DROP = "drop"
UNAUTHORIZED = "The provided authorization grant is invalid, expired, or revoked"
ERROR_TEXT = {
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
}


@dataclass
class Received:
    body: dict  # the parsed JSON payload
    headers: dict[str, str]  # request headers, names lower-cased
    message_id: str


# SendGrid's wording for the rejections the fake reproduces, keyed by the field it names.
MESSAGES = {
    "personalizations": "The personalizations field is required and must have at least one "
    "personalization.",
    "to": "The to array is required for all personalization objects, and must have at least "
    "one email object with a valid email address.",
    "from": "The from object must be provided for every email send. It is an object that "
    "requires the email parameter, but may also contain a name parameter.",
    "subject": "The subject is required. You can get around this requirement if you use a "
    "template with a subject defined or if every personalization has a subject defined.",
    "content": "Unless a valid template_id is provided, the content parameter is required. "
    "There must be at least one defined content block.",
    "value": "The content value must be a string at least one character in length.",
    "order": "If present, text/plain content must be first, followed by text/html, followed "
    "by any other content.",
}


def _has_email(obj: object) -> bool:
    return isinstance(obj, dict) and "@" in str(obj.get("email", ""))


def _problem(body: object) -> tuple[str | None, str] | None:
    """The first (field, message) SendGrid would reject this body with, or None."""
    if not isinstance(body, dict):
        return None, "Bad Request"
    pers = body.get("personalizations")
    if not isinstance(pers, list) or not pers or not all(isinstance(p, dict) for p in pers):
        return "personalizations", MESSAGES["personalizations"]
    for i, p in enumerate(pers):
        to = p.get("to")
        if not isinstance(to, list) or not to or not all(_has_email(t) for t in to):
            return f"personalizations.{i}.to", MESSAGES["to"]
    if not _has_email(body.get("from")):
        return "from", MESSAGES["from"]
    if not body.get("subject") and not all(p.get("subject") for p in pers):
        return "subject", MESSAGES["subject"]
    content = body.get("content")
    if not isinstance(content, list) or not content:
        return "content", MESSAGES["content"]
    for i, c in enumerate(content):
        if not isinstance(c, dict) or not isinstance(c.get("value"), str) or not c["value"]:
            return f"content.{i}.value", MESSAGES["value"]
    types = [c.get("type") for c in content]
    if "text/html" in types and "text/plain" in types[types.index("text/html") :]:
        return "content", MESSAGES["order"]
    return None


class FakeSendgrid:
    def __init__(self) -> None:
        self.api_key = "SG.local-test-key"
        self.messages: list[Received] = []
        self.requests_count = 0
        self.latency = 0.0  # seconds before each response
        self.groups: dict[int, list[str]] = {}
        self.lists: dict[str, list[dict]] = {}
        self.reads: list[str] = []  # path and query of every GET
        self._read_script: deque[int] = deque()
        self._script: deque[tuple[int | str, float | None]] = deque()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def fail_next(self, n: int, status: int, retry_after: float | None = None) -> None:
        """Answer the next `n` requests with `status` (and Retry-After, if given)."""
        self._script.extend([(status, retry_after)] * n)

    def fail_reads(self, n: int, status: int) -> None:
        """Answer the next `n` suppression-list reads with `status`."""
        self._read_script.extend([status] * n)

    def drop_next(self, n: int = 1) -> None:
        """Accept the next `n` messages, then close the connection without answering."""
        self._script.extend([(DROP, None)] * n)

    def start(self) -> None:
        # A short poll interval keeps each test's teardown (shutdown) fast.
        serve = self._server.serve_forever
        threading.Thread(target=serve, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _count(self) -> None:
        with self._lock:
            self.requests_count += 1

    def _next(self) -> tuple[int | str, float | None] | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _accept(self, body: dict, headers: dict[str, str]) -> Received:
        received = Received(body, headers, secrets.token_urlsafe(16)[:22])
        with self._lock:
            self.messages.append(received)
        return received


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeSendgrid

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (read timeout) leaves the late answer with nowhere to go.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format, *args) -> None:
        pass

    def do_POST(self) -> None:
        fake = self.server.fake
        fake._count()
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != PATH:
            return self._reply(404, errors=[(None, "not found")])
        if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            return self._reply(401, errors=[(None, UNAUTHORIZED)])
        action, retry_after = fake._next() or (None, None)
        if isinstance(action, int):
            extra = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
            return self._reply(
                action, errors=[(None, ERROR_TEXT.get(action, "error"))], headers=extra
            )
        try:
            body = json.loads(raw)
        except ValueError:
            return self._reply(400, errors=[(None, "Bad Request")])
        problem = _problem(body)
        if problem:
            return self._reply(400, errors=[problem])
        headers = {k.lower(): v for k, v in self.headers.items()}
        received = fake._accept(body, headers)
        time.sleep(fake.latency)
        if action == DROP:
            self.close_connection = True
            return None
        return self._reply(202, headers={"X-Message-Id": received.message_id})

    def do_GET(self) -> None:
        fake = self.server.fake
        with fake._lock:
            fake.reads.append(self.path)
            status = fake._read_script.popleft() if fake._read_script else None
        if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            return self._reply(401, errors=[(None, UNAUTHORIZED)])
        if status is not None:
            return self._reply(status, errors=[(None, ERROR_TEXT.get(status, "error"))])
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        query = dict(urllib.parse.parse_qsl(url.query))
        if parts[:3] == ["v3", "asm", "groups"] and parts[4:] == ["suppressions"]:
            return self._json(fake.groups.get(int(parts[3]), []))
        if parts[:2] == ["v3", "suppression"] and len(parts) == 3:
            entries = fake.lists.get(parts[2], [])
            offset, limit = int(query.get("offset", 0)), min(int(query.get("limit", 500)), 500)
            return self._json(entries[offset : offset + limit])
        return self._reply(404, errors=[(None, "not found")])

    def _json(self, value: object) -> None:
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reply(self, status: int, errors=(), headers: dict[str, str] | None = None) -> None:
        if status != 202:
            time.sleep(self.server.fake.latency)
        payload = [{"message": m, "field": f, "help": None} for f, m in errors]
        data = json.dumps({"errors": payload}).encode() if payload else b""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def sendgrid_server():
    fake = FakeSendgrid()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
