"""A local fake of the OpenAI chat-completions API, for tests and benchmarks.

`FakeOpenAI` serves `POST /v1/chat/completions` on 127.0.0.1 and answers like a scoring model:
it reads the paper ids (and titles, abstracts) from the user message and returns JSONL scores
from a pluggable `judge`; the title pass's numbered titles are judged under the ids `know` gave.
Usage is counted roughly (4 characters a token) and prompt caching follows OpenAI's rules
closely enough to test cost accounting. Failures are scripted per test with the `queue_*`
methods, each consumed by the next request in order; every error body has the real API's
`message`, `type`, `param` and `code`. It is no kinder than the service: a wrong or missing
key gets a 401, a model outside `models` a 404, a parameter in `unsupported` a 400. The Files
and Batches endpoints are in `bench.fakes.openai_batch`; a batch takes `batch_latency` seconds
of `clock`.

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
from typing import Any

from bench.fakes.base import FakeHandler, FakeServer
from bench.fakes.openai_batch import LOST, Batches, Outcome

Judge = Callable[[str, str, str], tuple[int, int, str]]
Reply = tuple[int, dict[str, Any] | bytes | None, dict[str, str]]

CACHE_MIN_TOKENS = 1024  # OpenAI caches prefixes of 1024+ tokens ...
CACHE_INCREMENT = 128  # ... and reports hits in 128-token steps
ARXIVID_LINE = re.compile(r"^ARXIVID:[ \t]*(\S+)[ \t]*$", re.M)
REFUSAL = "I'm sorry, I can't help with that."
KEYS_URL = "https://platform.openai.com/account/api-keys"
QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
SKIM_EXAMPLE = re.compile(r"^\d+:\d+:\d+$", re.M)  # the skim's answer format, by example
TITLE_LINE = re.compile(r"^[ \t]*(\d+)\.[ \t]+(.*?)[ \t]*$", re.M)


def count_tokens(text: str) -> int:
    """Roughly what a BPE tokenizer gives for English (a little more: real arXiv text is about
    5 characters a token in o200k_base). The benchmarks count with the real tokenizer."""
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
    param: str | None = None  # a bad request's `param` and `code`
    code: str | None = None


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  # names lowercased
    body: Any  # the parsed JSON, or None if it was not JSON
    at: float  # time.monotonic() on arrival
    status: int = 0  # filled in once answered
    raw: bytes = b""  # the body as sent (a multipart upload is not JSON)


class _Handler(FakeHandler):
    fake: FakeOpenAI
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    length_header = "content-length"

    def do_GET(self) -> None:
        self.do_POST(method="GET")

    def do_POST(self, method: str = "POST") -> None:
        raw = self.body_bytes()
        if self.fake.stopping.is_set():
            self.close_connection = True  # a kept-alive connection outliving `stop()`
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = RecordedRequest(self.path, headers, body, time.monotonic(), raw=raw)
        self.fake.requests.append(request)
        request.status, payload, extra = self.fake.handle(request, method)
        if request.status == LOST:  # the work is done, the reply never arrives
            self.close_connection = True
            return
        names = {"content-type": "application/json"}
        names["x-request-id"] = f"req_fake{len(self.fake.requests)}"
        if isinstance(payload, bytes):
            self.reply(request.status, payload, names | extra)
        else:
            self.reply_json(request.status, payload, names | extra)


@dataclass
class FakeOpenAI(FakeServer):
    """The fake server. `start()`/`stop()` or `with`; `base_url` is set once started."""

    handler = _Handler
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
    models: set[str] | None = None  # the models that exist (None: any name)
    # when set, accepted requests wait for it before answering: a test can hold requests in
    # flight, and see what arrives meanwhile, without relying on timing
    hold: threading.Event | None = None
    batch_latency: float = 1.0  # seconds from a batch's creation to its end
    clock: Callable[[], float] = time.time  # what batches are timed by (tests: a `FakeClock`)
    tokens: Callable[[str], int] = count_tokens  # what usage counts a text as
    requests: list[RecordedRequest] = field(default_factory=list, init=False)
    script: deque[Step] = field(default_factory=deque, init=False)
    in_flight: int = field(default=0, init=False)
    max_in_flight: int = field(default=0, init=False)  # high-water mark of accepted requests
    rejected: int = field(default=0, init=False)  # requests turned away by `max_concurrent`
    _cache: set[str] = field(default_factory=set, init=False, repr=False)
    _ids: Iterator[int] = field(default_factory=itertools.count, init=False, repr=False)

    def __post_init__(self) -> None:
        FakeServer.__init__(self)
        self.batches = Batches(self)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1" if self.url else ""

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()  # let held requests finish rather than wait on a closed server
        super().stop()

    def _queue(self, step: Step, times: int) -> None:
        self.script.extend(step for _ in range(times))  # steps are never mutated: share one

    def queue_rate_limit(self, times: int = 1) -> None:
        self._queue(Step("rate_limit"), times)

    def queue_insufficient_quota(self, times: int = 1) -> None:
        self._queue(Step("quota"), times)

    def queue_server_error(self, times: int = 1) -> None:
        self._queue(Step("server_error"), times)

    def queue_bad_request(
        self,
        message: str = "Invalid request",
        times: int = 1,
        *,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        """A 400 with this message, `param` and `code` (for a refused parameter, prefer
        `unsupported`: it answers as the real API does)."""
        self._queue(Step("bad_request", content=message, param=param, code=code), times)

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

    def queue_batch(self, kind: str = "completed", answered: int = 0, times: int = 1) -> None:
        """How the next batches end: "completed", "failed" (validation) or "expired" (after
        their first `answered` lines)."""
        self.batches.outcomes.extend(Outcome(kind, answered) for _ in range(times))

    def queue_lost_batch_reply(self, times: int = 1, *, created: bool = True) -> None:
        """The next `batches.create` makes the batch, then drops the connection unanswered,
        as when a connection breaks after the service acted (with `created=False`, before:
        no batch is made). A client's retry is another create."""
        self.batches.lost_replies.extend(created for _ in range(times))

    def queue_garbled_line(self, kind: str, times: int = 1, *, file: str = "output") -> None:
        """The next lines written to a batch's output (or error) file are garbled: one of
        `GARBLES` (a line that is not JSON, not an object, a response or body of the wrong
        shape, and so on)."""
        self.batches.garbled[file].extend(kind for _ in range(times))

    def know(self, papers: Iterable[Any]) -> None:
        """Let the title pass's judge see these papers' ids (objects with `id` and `title`)."""
        self.catalogue.update((p.title, p.id) for p in papers)

    def default_judge(self, paper_id: str, title: str, abstract: str) -> tuple[int, int, str]:
        return self.relevance.get(paper_id, 2), 5, "fake"

    def handle(self, request: RecordedRequest, method: str = "POST") -> Reply:
        refused = _unauthorized(request.headers.get("authorization"), self.api_key)
        if refused:
            return refused
        routed = self.batches.route(method, request)
        if routed is not None:
            return routed
        if method != "POST" or request.path.split("?")[0].rstrip("/") != "/v1/chat/completions":
            return _error(404, f"Invalid URL ({method} {request.path})", "invalid_request_error")
        body = request.body if isinstance(request.body, dict) else {}
        refused = self._refusal(body)
        if refused:
            return refused
        with self.lock:
            if self.max_concurrent is not None and self.in_flight >= self.max_concurrent:
                self.rejected += 1
                return _rate_limited(body, self.rate_limit_retry_after, self.max_concurrent)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            step = self.script.popleft() if self.script else None
        try:
            # Looked up on arrival, stored on answer: like OpenAI, requests sent in parallel
            # before the first one finished all miss the cache.
            prefixes = _prefix_keys(body, self.tokens)
            hit = next((n for n, key in reversed(prefixes) if key in self._cache), 0)
            self.stopping.wait(self.latency + (step.delay if step else 0.0))
            if self.hold is not None:
                self.hold.wait()
            reply = self._answer(body, step, hit)
            if reply[0] == 200:
                self._cache.update(key for _, key in prefixes)
            return reply
        finally:
            with self.lock:
                self.in_flight -= 1

    def answer_line(self, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        """A batch line's status and body, answered as a synchronous request would be."""
        status, payload, _ = self._refusal(body) or self._answer(body, self._next_step(), 0)
        return status, payload if isinstance(payload, dict) else None

    def _next_step(self) -> Step | None:
        with self.lock:
            return self.script.popleft() if self.script else None

    def _refusal(self, body: dict[str, Any]) -> Reply | None:
        """The 404 for a model that does not exist, or the 400 for a parameter it refuses."""
        model = body.get("model")
        if self.models is not None and isinstance(model, str) and model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return _error(404, message, "invalid_request_error", None, "model_not_found")
        for name in sorted(self.unsupported & body.keys()):
            if name == "temperature" and body[name] == 1:
                continue  # the one value such a model accepts
            return _unsupported(name, body[name])
        return None

    def _answer(self, body: dict[str, Any], step: Step | None, cached: int) -> Reply:
        kind = step.kind if step else "answer"
        if kind == "rate_limit":
            return _rate_limited(body, 0)
        if kind == "quota":
            return _error(429, QUOTA, "insufficient_quota", None, "insufficient_quota")
        if kind == "server_error":
            message = "The server had an error while processing your request. Sorry about that!"
            return _error(500, message, "server_error")
        if step and kind == "bad_request":
            return _error(400, step.content, "invalid_request_error", step.param, step.code)
        messages, model = body.get("messages"), body.get("model")
        for name, value in (("model", model), ("messages", messages)):
            if not value:
                message = f"Missing required parameter: '{name}'."
                return _error(
                    400, message, "invalid_request_error", name, "missing_required_parameter"
                )
        if not isinstance(messages, list) or not isinstance(model, str):
            return _error(400, "Invalid request body.", "invalid_request_error")
        if body.get("stream"):
            return _error(400, "This fake does not stream", "invalid_request_error", "stream")

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
        if isinstance(limit, int) and content and self.tokens(content) > limit:
            content, finish = content[: limit * 4], "length"  # the model stops at max_tokens

        prompt = 3 + sum(4 + self.tokens(_text(m.get("content"))) for m in messages)
        completion = self.tokens(content or refusal or "")
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
        if "NOVELTY" not in system:  # the title pass and the skim: numbered, short answers
            skim = SKIM_EXAMPLE.search(system) is not None  # asks for novelty, shows abstracts
            for key, title, abstract in parse_papers(user):
                numbered = key.isdigit()  # else a paper block with its id, answered by id
                paper_id = self.catalogue.get(title, "" if numbered else key)
                relevance, novelty, _ = judge(paper_id, title, abstract if skim else "")
                scores = [relevance, novelty] if skim else [relevance]
                if numbered:
                    lines.append(":".join(map(str, [key, *scores])))
                else:
                    row = {"id": key, "r": relevance} | ({"n": novelty} if skim else {})
                    lines.append(json.dumps(row, separators=(",", ":")))
            return "\n".join(lines)
        for paper_id, title, abstract in parse_papers(user):
            relevance, novelty, comment = judge(paper_id, title, abstract)
            row = {"ARXIVID": paper_id, "COMMENT": comment, "RELEVANCE": relevance}
            lines.append(json.dumps(row | {"NOVELTY": novelty}))
        return "\n".join(lines)


def parse_papers(user: str) -> list[tuple[str, str, str]]:
    """(id, title, abstract) from any paper-list shape: the title pass and the skim have
    numbers for ids (`17. Title`), the skim the opening of the abstract on the lines below."""
    starts = list(ARXIVID_LINE.finditer(user))
    if not starts:
        numbered = list(TITLE_LINE.finditer(user))
        ends = [m.start() for m in numbered[1:]] + [len(user)] * bool(numbered)
        return [(m[1], m[2], user[m.end() : end].strip())
                for m, end in zip(numbered, ends, strict=True)]  # fmt: skip
    papers = []
    for here, after in zip(starts, [*starts[1:], None], strict=True):
        block = user[here.end() : after.start() if after else len(user)]
        title = re.search(r"^Title:[ \t]*(.*)$", block, re.M)
        abstract = re.search(r"^Abstract:[ \t]*(.*)", block, re.M | re.S)
        papers.append(
            (here[1], title[1].strip() if title else "", abstract[1].strip() if abstract else "")
        )
    return papers


def _prefix_keys(body: dict[str, Any], count: Callable[[str], int]) -> list[tuple[int, str]]:
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
        tokens += 4 + count(text)
        if tokens >= CACHE_MIN_TOKENS:
            keys.append((tokens // CACHE_INCREMENT * CACHE_INCREMENT, digest.hexdigest()))
    return keys


def _error(
    status: int, message: str, type_: str, param: str | None = None, code: str | None = None
) -> Reply:
    return status, {"error": {"message": message, "type": type_, "param": param, "code": code}}, {}


def _unauthorized(authorization: str | None, key: str) -> Reply | None:
    """The real API's 401 for a missing or wrong key (the wrong one shown masked)."""
    if authorization == f"Bearer {key}":
        return None
    sent = (authorization or "").removeprefix("Bearer ").strip()
    if not sent:
        message = (
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). "
            f"You can obtain an API key from {KEYS_URL}."
        )
        return _error(401, message, "invalid_request_error")
    masked = sent[:3] + "*" * max(len(sent) - 7, 0) + sent[-4:] if len(sent) > 8 else sent
    message = f"Incorrect API key provided: {masked}. You can find your API key at {KEYS_URL}."
    return _error(401, message, "invalid_request_error", None, "invalid_api_key")


def _unsupported(name: str, value: Any) -> Reply:
    """What OpenAI's reasoning models answer to max_tokens, or to a temperature other than 1."""
    if name == "temperature":
        message = (
            f"Unsupported value: 'temperature' does not support {value} with this model. "
            "Only the default (1) value is supported."
        )
        return _error(400, message, "invalid_request_error", name, "unsupported_value")
    message = f"Unsupported parameter: '{name}' is not supported with this model."
    if name == "max_tokens":
        message += " Use 'max_completion_tokens' instead."
    return _error(400, message, "invalid_request_error", name, "unsupported_parameter")


def _rate_limited(body: dict[str, Any], retry_after: float, limit: int = 500) -> Reply:
    message = (
        f"Rate limit reached for {body.get('model')} in organization org-fake on requests per "
        f"min (RPM): Limit {limit}, Used {limit}, Requested 1. Please try again in "
        f"{retry_after:g}s. Visit https://platform.openai.com/account/rate-limits to learn more."
    )
    status, payload, _ = _error(429, message, "requests", None, "rate_limit_exceeded")
    return status, payload, {"retry-after": f"{retry_after:g}"}
