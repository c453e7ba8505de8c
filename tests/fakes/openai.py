"""A local fake of the OpenAI chat-completions API, for tests and benchmarks.

`FakeOpenAI` serves `POST /v1/chat/completions` on 127.0.0.1 and answers like a scoring model:
it reads the paper ids (and titles, abstracts) from the user message and returns JSONL scores
from a pluggable `judge`; the title pass's numbered titles are judged under the ids `know` gave.
Usage is counted roughly (4 characters a token) and prompt caching follows OpenAI's rules
closely enough to test cost accounting. Failures are scripted per test with the `queue_*`
methods, each consumed by the next request in order.

    with FakeOpenAI(latency=2.0, max_concurrent=8) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

Judge = Callable[[str, str, str], tuple[int, int, str]]
Reply = tuple[int, dict[str, Any] | None, dict[str, str]]

CACHE_MIN_TOKENS = 1024  # OpenAI caches prefixes of 1024+ tokens ...
CACHE_INCREMENT = 128  # ... and reports hits in 128-token steps
ARXIVID_LINE = re.compile(r"^ARXIVID:[ \t]*(\S+)[ \t]*$", re.M)
REFUSAL = "I'm sorry, I can't help with that."
TITLE_LINE = re.compile(r"^[ \t]*(\d+)\.[ \t]+(.*?)[ \t]*$", re.M)


def count_tokens(text: str) -> int:
    """Roughly what a BPE tokenizer gives for English; tiktoken would need a download."""
    return -(-len(text) // 4)


def _text(content: Any) -> str:
    """A message's text, whether a plain string or a list of content parts."""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


@dataclass
class Step:
    """One scripted behaviour, used by exactly one request."""

    # rate_limit, quota, server_error, bad_request, content, truncated, refusal, malformed,
    # or delay (a normal answer, late)
    kind: str
    content: str = ""
    delay: float = 0.0
    keep: int | None = None


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  # names lowercased
    body: Any  # the parsed JSON, or None if it was not JSON
    at: float  # time.monotonic() on arrival
    status: int = 0  # filled in once answered


@dataclass
class FakeOpenAI:
    """The fake server. `start()`/`stop()` or `with`; `base_url` is set once started."""

    latency: float = 0.0  # seconds added to every accepted request
    max_concurrent: int | None = None  # requests beyond it get a 429
    rate_limit_retry_after: float = 1.0  # the retry-after sent with those 429s
    judge: Judge | None = None  # None: `default_judge`
    api_key: str = "test-key"
    relevance: dict[str, int] = field(default_factory=dict)
    # title -> arXiv id of the papers the fake model "knows": the title pass numbers its titles
    # instead of naming their ids, and a judge keyed by id needs them (`know`)
    catalogue: dict[str, str] = field(default_factory=dict)
    # request parameters this "model" refuses with a 400, as reasoning models refuse
    # max_tokens and a temperature: every request naming one is refused, whenever it comes
    unsupported: set[str] = field(default_factory=set)
    requests: list[RecordedRequest] = field(default_factory=list, init=False)
    script: deque[Step] = field(default_factory=deque, init=False)
    in_flight: int = field(default=0, init=False)
    max_in_flight: int = field(default=0, init=False)  # high-water mark of accepted requests
    rejected: int = field(default=0, init=False)  # requests turned away by `max_concurrent`
    base_url: str = field(default="", init=False)
    _cache: set[str] = field(default_factory=set, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _ids: Iterator[int] = field(default_factory=itertools.count, init=False, repr=False)
    _httpd: ThreadingHTTPServer | None = field(default=None, init=False, repr=False)

    def start(self) -> FakeOpenAI:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = httpd = _Server(("127.0.0.1", 0), handler)
        self._stopping.clear()
        self.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes requests sleeping on latency or a delay
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _queue(self, step: Step, times: int) -> None:
        self.script.extend(step for _ in range(times))  # steps are never mutated: share one

    def queue_rate_limit(self, times: int = 1) -> None:
        self._queue(Step("rate_limit"), times)

    def queue_insufficient_quota(self, times: int = 1) -> None:
        self._queue(Step("quota"), times)

    def queue_server_error(self, times: int = 1) -> None:
        self._queue(Step("server_error"), times)

    def queue_bad_request(self, message: str = "Invalid request", times: int = 1) -> None:
        self._queue(Step("bad_request", content=message), times)

    def queue_content(self, content: str, times: int = 1) -> None:
        """Return `content` verbatim as the model's answer (malformed JSONL and the like)."""
        self._queue(Step("content", content=content), times)

    def queue_truncated(self, keep: int | None = None, times: int = 1) -> None:
        """finish_reason "length": the oracle's answer cut to `keep` chars (default: half)."""
        self._queue(Step("truncated", keep=keep), times)

    def queue_refusal(self, message: str = REFUSAL, times: int = 1) -> None:
        """`message.refusal` set and `content` null, as for a safety refusal."""
        self._queue(Step("refusal", content=message), times)

    def queue_malformed(self, times: int = 1) -> None:
        """A 200 whose body has `choices: null`, which the client does not validate."""
        self._queue(Step("malformed"), times)

    def queue_delay(self, seconds: float, times: int = 1) -> None:
        """A normal answer, `seconds` late (on top of `latency`): for client timeouts."""
        self._queue(Step("delay", delay=seconds), times)

    def know(self, papers: Iterable[Any]) -> None:
        """Let the title pass's judge see these papers' ids (objects with `id` and `title`)."""
        self.catalogue.update((p.title, p.id) for p in papers)

    def default_judge(self, paper_id: str, title: str, abstract: str) -> tuple[int, int, str]:
        return self.relevance.get(paper_id, 2), 5, "fake"

    def handle(self, request: RecordedRequest) -> Reply:
        if request.path.split("?")[0].rstrip("/") != "/v1/chat/completions":
            return _error(404, f"Unknown path {request.path}", "invalid_request_error", None)
        body = request.body if isinstance(request.body, dict) else {}
        refused = sorted(self.unsupported & body.keys())
        if refused:
            message = f"Unsupported parameter: '{refused[0]}' is not supported with this model."
            if refused[0] == "max_tokens":
                message += " Use 'max_completion_tokens' instead."
            return _error(
                400, message, "invalid_request_error", "unsupported_parameter", param=refused[0]
            )
        with self._lock:
            if self.max_concurrent is not None and self.in_flight >= self.max_concurrent:
                self.rejected += 1
                return _rate_limited(self.rate_limit_retry_after)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            step = self.script.popleft() if self.script else None
        try:
            # Looked up on arrival, stored on answer: like OpenAI, requests sent in parallel
            # before the first one finished all miss the cache.
            prefixes = _prefix_keys(body)
            hit = next((n for n, key in reversed(prefixes) if key in self._cache), 0)
            self._stopping.wait(self.latency + (step.delay if step else 0.0))
            reply = self._answer(body, step, hit)
            if reply[0] == 200:
                self._cache.update(key for _, key in prefixes)
            return reply
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, body: dict[str, Any], step: Step | None, cached: int) -> Reply:
        kind = step.kind if step else "answer"
        if kind == "rate_limit":
            return _rate_limited(0)
        if kind == "quota":
            message = "You exceeded your current quota, please check your plan and billing."
            return _error(429, message, "insufficient_quota", "insufficient_quota")
        if kind == "server_error":
            return _error(500, "The server had an error processing your request.", "server_error")
        if kind == "bad_request":
            return _error(400, step.content if step else "", "invalid_request_error")
        messages, model = body.get("messages"), body.get("model")
        if not isinstance(messages, list) or not messages or not isinstance(model, str):
            return _error(400, "'model' and 'messages' are required", "invalid_request_error")
        if body.get("stream"):
            return _error(400, "This fake does not stream", "invalid_request_error")

        answer = self.oracle(messages)
        content: str | None = answer
        finish, refusal = "stop", None
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if step and kind == "content":
            content = step.content
        elif step and kind == "truncated":
            content = answer[: len(answer) // 2 if step.keep is None else step.keep]
            finish = "length"
        elif step and kind == "refusal":
            content, refusal = None, step.content
        if isinstance(limit, int) and content and count_tokens(content) > limit:
            content, finish = content[: limit * 4], "length"  # the model stops at max_tokens

        prompt = 3 + sum(4 + count_tokens(_text(m.get("content"))) for m in messages)
        completion = count_tokens(content or refusal or "")
        message = {"role": "assistant", "content": content, "refusal": refusal}
        payload: dict[str, Any] = {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": min(cached, prompt)},
            },
        }
        if kind == "malformed":
            payload["choices"] = None
        return 200, payload, {}

    def oracle(self, messages: list[dict[str, Any]]) -> str:
        """The JSONL a well-behaved model would give for the papers in the user message."""
        system = "".join(_text(m.get("content")) for m in messages if m.get("role") == "system")
        user = next(
            (_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
        )
        judge = self.judge or self.default_judge
        lines = []
        if "NOVELTY" not in system:  # the title pass: numbered titles, answered in short form
            for key, title, _ in parse_papers(user):
                numbered = key.isdigit()  # else a paper block with its id, answered by id
                paper_id = self.catalogue.get(title, "" if numbered else key)
                relevance, _, _ = judge(paper_id, title, "")
                row = {"id": int(key) if numbered else key, "r": relevance}
                lines.append(json.dumps(row, separators=(",", ":")))
            return "\n".join(lines)
        for paper_id, title, abstract in parse_papers(user):
            relevance, novelty, comment = judge(paper_id, title, abstract)
            row = {"ARXIVID": paper_id, "COMMENT": comment, "RELEVANCE": relevance}
            lines.append(json.dumps(row | {"NOVELTY": novelty}))
        return "\n".join(lines)


def parse_papers(user: str) -> list[tuple[str, str, str]]:
    """(id, title, abstract) from either paper-list shape; the title pass has numbers for ids
    and no abstracts."""
    starts = list(ARXIVID_LINE.finditer(user))
    if not starts:
        return [(m[1], m[2], "") for m in TITLE_LINE.finditer(user)]
    papers = []
    for here, after in zip(starts, [*starts[1:], None], strict=True):
        block = user[here.end() : after.start() if after else len(user)]
        title = re.search(r"^Title:[ \t]*(.*)$", block, re.M)
        abstract = re.search(r"^Abstract:[ \t]*(.*)", block, re.M | re.S)
        papers.append(
            (here[1], title[1].strip() if title else "", abstract[1].strip() if abstract else "")
        )
    return papers


def _prefix_keys(body: dict[str, Any]) -> list[tuple[int, str]]:
    """(tokens, key) for each cacheable whole-message prefix of the prompt, shortest first.

    Caching by whole messages rather than characters keeps hits deterministic: a batch hits
    on its system message, an identical request on everything.
    """
    messages, model = body.get("messages"), str(body.get("model"))
    if not isinstance(messages, list):
        return []
    keys, tokens, digest = [], 3, hashlib.sha256(model.encode())
    for m in messages:
        text = _text(m.get("content")) if isinstance(m, dict) else ""
        digest.update(json.dumps([m.get("role") if isinstance(m, dict) else None, text]).encode())
        tokens += 4 + count_tokens(text)
        if tokens >= CACHE_MIN_TOKENS:
            keys.append((tokens // CACHE_INCREMENT * CACHE_INCREMENT, digest.hexdigest()))
    return keys


def _error(
    status: int, message: str, type_: str, code: str | None = None, param: str | None = None
) -> Reply:
    return status, {"error": {"message": message, "type": type_, "param": param, "code": code}}, {}


def _rate_limited(retry_after: float) -> Reply:
    status, body, _ = _error(429, "Rate limit reached", "requests", "rate_limit_exceeded")
    return status, body, {"retry-after": f"{retry_after:g}"}


class _Server(ThreadingHTTPServer):
    request_queue_size = 512  # a burst of parallel batches must not be refused
    daemon_threads = True
    block_on_close = False  # a request sleeping on a delay must not hold up `stop()`


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.fake._stopping.is_set():
            self.close_connection = True  # a kept-alive connection outliving `stop()`
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = RecordedRequest(self.path, headers, body, time.monotonic())
        self.fake.requests.append(request)
        request.status, payload, extra = self.fake.handle(request)
        data = json.dumps(payload).encode()
        try:
            self.send_response(request.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("x-request-id", f"req_fake{len(self.fake.requests)}")
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to tell it

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    """A running fake; `base_url` ends in /v1 and `api_key` is "test-key"."""
    with FakeOpenAI() as server:
        yield server
