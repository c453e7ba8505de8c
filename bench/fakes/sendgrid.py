"""A local SendGrid: `POST /v3/mail/send` and the suppression lists' `GET` endpoints on
127.0.0.1, for tests that use the real client.

It checks the bearer key and the body the way SendGrid does at minimum, answers 202 with an
`X-Message-Id`, and records every accepted message. Tests script the next requests' fate:
`fail_next(n, status)` answers 429/5xx without accepting; `drop_next()` accepts the message and
then closes the connection without a response (the ambiguous case); `hold(address)` accepts
the messages to that address and answers none until the fake stops, setting `holding` once it
has one, so a test can kill the sender while its request is in flight (no sleep: it waits on
`holding`);
`latency` delays every response, so a short client timeout turns an accepted message into a
read timeout.

Suppressions: `groups[group_id]` is a list of addresses (`/v3/asm/groups/{id}/suppressions`),
`lists[kind]` a list of entries (`/v3/suppression/{kind}`, paged with limit and offset as
SendGrid does). `fail_reads(n, status)` scripts the reads; `requests_count` counts mail only.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from collections import deque
from dataclasses import dataclass

from bench.fakes.base import FakeHandler, FakeServer

PATH = "/v3/mail/send"
JSON = {"Content-Type": "application/json"}
DROP = "drop"
HOLD = "hold"
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


class _Handler(FakeHandler):
    fake: FakeSendgrid

    def do_POST(self) -> None:
        fake = self.fake
        fake._count()
        raw = self.body_bytes()
        if self.path != PATH:
            return self._errors(404, [(None, "not found")])
        if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            return self._errors(401, [(None, UNAUTHORIZED)])
        action, retry_after = fake._next() or (None, None)
        if isinstance(action, int):
            extra = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
            return self._errors(action, [(None, ERROR_TEXT.get(action, "error"))], extra)
        try:
            body = json.loads(raw)
        except ValueError:
            return self._errors(400, [(None, "Bad Request")])
        problem = _problem(body)
        if problem:
            return self._errors(400, [problem])
        headers = {k.lower(): v for k, v in self.headers.items()}
        if body["personalizations"][0]["to"][0]["email"] in fake.hold_for:
            action = HOLD
        received = fake._accept(body, headers)
        fake.stopping.wait(fake.latency)
        if action == HOLD:
            with fake.lock:
                fake.held.append(received)
            fake.holding.set()
            fake.stopping.wait()
            self.close_connection = True
            return None
        if action == DROP:
            self.close_connection = True
            return None
        return self.reply(202, headers={"X-Message-Id": received.message_id})

    def do_GET(self) -> None:
        fake = self.fake
        with fake.lock:
            fake.reads.append(self.path)
            status = fake._read_script.popleft() if fake._read_script else None
        if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            return self._errors(401, [(None, UNAUTHORIZED)])
        if status is not None:
            return self._errors(status, [(None, ERROR_TEXT.get(status, "error"))])
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        query = dict(urllib.parse.parse_qsl(url.query))
        if parts[:3] == ["v3", "asm", "groups"] and parts[4:] == ["suppressions"]:
            return self.reply_json(200, fake.groups.get(int(parts[3]), []), JSON)
        if parts[:2] == ["v3", "suppression"] and len(parts) == 3:
            entries = fake.lists.get(parts[2], [])
            offset, limit = int(query.get("offset", 0)), min(int(query.get("limit", 500)), 500)
            if fake.ignore_offset:  # a misbehaving server: the first page, whatever was asked
                offset = 0
            return self.reply_json(200, entries[offset : offset + limit], JSON)
        return self._errors(404, [(None, "not found")])

    def _errors(
        self,
        status: int,
        errors: list[tuple[str | None, str]],
        headers: dict[str, str] | None = None,
    ) -> None:
        """SendGrid's error body, after the fake's latency like any answer."""
        self.fake.stopping.wait(self.fake.latency)
        payload = [{"message": m, "field": f, "help": None} for f, m in errors]
        self.reply_json(status, {"errors": payload}, (headers or {}) | JSON)


class FakeSendgrid(FakeServer):
    handler = _Handler

    def __init__(self) -> None:
        super().__init__()
        self.api_key = "SG.local-test-key"
        self.messages: list[Received] = []
        self.requests_count = 0
        self.latency = 0.0  # seconds before each response
        self.groups: dict[int, list[str]] = {}
        self.lists: dict[str, list[dict]] = {}
        self.ignore_offset = False
        self.reads: list[str] = []  # path and query of every GET
        self._read_script: deque[int] = deque()
        self._script: deque[tuple[int | str, float | None]] = deque()
        self.hold_for: set[str] = set()  # addresses whose messages are held (hold)
        self.holding = threading.Event()  # set when a message is held
        self.held: list[Received] = []  # the messages held, accepted and never answered

    def fail_next(self, n: int, status: int, retry_after: float | None = None) -> None:
        """Answer the next `n` requests with `status` (and Retry-After, if given)."""
        self._script.extend([(status, retry_after)] * n)

    def fail_reads(self, n: int, status: int) -> None:
        """Answer the next `n` suppression-list reads with `status`."""
        self._read_script.extend([status] * n)

    def drop_next(self, n: int = 1) -> None:
        """Accept the next `n` messages, then close the connection without answering."""
        self._script.extend([(DROP, None)] * n)

    def hold(self, address: str) -> None:
        """Accept the messages to `address` and answer none of them until the fake stops."""
        self.hold_for.add(address)

    def _count(self) -> None:
        with self.lock:
            self.requests_count += 1

    def _next(self) -> tuple[int | str, float | None] | None:
        with self.lock:
            return self._script.popleft() if self._script else None

    def _accept(self, body: dict, headers: dict[str, str]) -> Received:
        received = Received(body, headers, secrets.token_urlsafe(16)[:22])
        with self.lock:
            self.messages.append(received)
        return received
