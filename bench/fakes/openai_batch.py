"""The Files and Batches endpoints of the fake OpenAI server (`bench.fakes.openai`).

`POST /v1/files` takes a multipart upload and `GET /v1/files/{id}/content` gives it back;
`POST /v1/batches`, `GET /v1/batches/{id}` and `POST /v1/batches/{id}/cancel` run a batch as the
real service does: validating -> in_progress -> finalizing -> completed over `batch_latency`
seconds of the fake's `clock` (a test moves a `FakeClock` rather than wait), with request
counts, and an output file and an error file in the real JSONL shapes. Each line is answered,
in a thread started with the batch, by the same code as a synchronous request, so scripted
steps (a 500, a truncated answer) apply to lines too. A batch can be scripted to fail
validation or to expire with only its first `answered` lines done, as real ones do. Like the
service, it writes output lines in an order of its own (match them by `custom_id`), keeps a
batch's `metadata` (checked as the service checks it) and lists batches newest first, `limit`
a page, after the `after` id.

It can also be scripted to do what the service does rarely: drop the connection of a create
without a reply, after making the batch or before (`lost_replies`), and write garbled lines
into the output or error file (`garbled`, each one of `GARBLES`).
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.fakes.openai import FakeOpenAI, RecordedRequest, Reply

ENDPOINTS = {"/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/responses"}
EXPIRED = "This request could not be executed before the completion window expired."
LOST = 0  # the status of a request whose reply is never sent: the connection is dropped


def _body(row: dict[str, Any]) -> dict[str, Any]:
    return (row.get("response") or {}).get("body") or {}


def _with_body(row: dict[str, Any], body: Any) -> str:
    return json.dumps(row | {"response": (row.get("response") or {}) | {"body": body}})


# How a line can be garbled: each makes a line the service's documented format does not allow
# (an object with a string `custom_id`, `response` null or an object with `status_code` and
# `body`, a chat completion's body in the shape the client's types give it).
GARBLES = {
    "not_json": lambda row: json.dumps(row)[:-2],
    "not_object": lambda row: "[1, 2]",
    "custom_id_not_string": lambda row: json.dumps(row | {"custom_id": [row["custom_id"]]}),
    "response_not_object": lambda row: json.dumps(row | {"response": [200]}),
    "body_not_object": lambda row: _with_body(row, ["not", "a", "body"]),
    "usage_not_object": lambda row: _with_body(row, _body(row) | {"usage": [12, 3]}),
    "choices_null": lambda row: _with_body(row, _body(row) | {"choices": None}),
    "choice_not_object": lambda row: _with_body(row, _body(row) | {"choices": [1]}),
    "message_not_object": lambda row: _with_body(
        row, _body(row) | {"choices": [{"index": 0, "message": "hello"}]}
    ),
    "usage_not_numbers": lambda row: _with_body(
        row, _body(row) | {"usage": {"prompt_tokens": "many", "completion_tokens": 3}}
    ),
}
METADATA_PAIRS, METADATA_KEY, METADATA_VALUE = 16, 64, 512  # the service's limits


@dataclass
class Outcome:
    """How one batch ends: completed, failed (validation) or expired after `answered` lines."""

    kind: str = "completed"
    answered: int = 0


@dataclass
class FakeBatch:
    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    created_at: float
    total: int
    outcome: Outcome
    metadata: dict[str, str] | None = None
    cancelled_at: float | None = None
    errors: list[dict[str, Any]] | None = None  # validation errors, for a failed batch
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    ran: int = 0  # lines that ran (and are billed), once the batch has ended
    ended: str | None = None  # completed, failed, expired or cancelled, once decided
    checked: bool = False  # validated
    # each line's (status, body), worked out by `worker` while the batch runs, as the service
    # does; seen only once the batch ends
    answers: list[tuple[int, dict[str, Any] | None]] = field(default_factory=list)
    worker: threading.Thread | None = None


@dataclass
class Batches:
    """The files and batches one fake server holds."""

    fake: FakeOpenAI
    files: dict[str, tuple[dict[str, Any], bytes]] = field(default_factory=dict)
    batches: dict[str, FakeBatch] = field(default_factory=dict)
    outcomes: deque[Outcome] = field(default_factory=deque)
    # creates still to answer with a dropped connection: True once the batch is made, False
    # for a connection dropped before the service acted
    lost_replies: deque[bool] = field(default_factory=deque)
    # file ("output" or "errors") -> how the next lines written to it are garbled
    garbled: dict[str, deque[str]] = field(
        default_factory=lambda: {"output": deque(), "errors": deque()}
    )
    # not the fake's own lock: answering a line takes that one
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=itertools.count)

    def route(self, method: str, request: RecordedRequest) -> Reply | None:
        """The reply for a files or batches path, or None for any other path."""
        parts = request.path.split("?")[0].strip("/").split("/")
        if parts[:2] == ["v1", "files"]:
            if method == "POST" and len(parts) == 2:
                return self.upload(request)
            if method == "GET" and len(parts) == 4 and parts[3] == "content":
                return self.content(parts[2])
            if method == "GET" and len(parts) == 3:
                return self.file(parts[2])
        if parts[:2] == ["v1", "batches"]:
            if method == "POST" and len(parts) == 2:
                return self.create(request.body if isinstance(request.body, dict) else {})
            if method == "GET" and len(parts) == 3:
                return self.retrieve(parts[2])
            if method == "GET" and len(parts) == 2:
                return self.list(request.path)
            if method == "POST" and len(parts) == 4 and parts[3] == "cancel":
                return self.cancel(parts[2])
        return None

    # -- files ------------------------------------------------------------------------------

    def upload(self, request: RecordedRequest) -> Reply:
        fields = _multipart(request.headers.get("content-type", ""), request.raw)
        if "file" not in fields:
            return _error(400, "Missing required parameter: 'file'.", "file")
        purpose = fields.get("purpose", (None, b""))[1].decode()
        if purpose not in {"batch", "assistants", "fine-tune", "vision", "user_data", "evals"}:
            return _error(400, f"'{purpose}' is not one of the supported purposes.", "purpose")
        name, data = fields["file"]
        return 200, self.add_file(name or "upload.jsonl", data, purpose), {}

    def add_file(self, name: str, data: bytes, purpose: str) -> dict[str, Any]:
        file_id = f"file-fake{next(self._ids)}"
        meta = {"id": file_id, "object": "file", "bytes": len(data),
                "created_at": int(self.fake.clock()), "filename": name, "purpose": purpose,
                "status": "processed", "expires_at": None, "status_details": None}  # fmt: skip
        self.files[file_id] = (meta, data)
        return meta

    def file(self, file_id: str) -> Reply:
        if file_id not in self.files:
            return _error(404, f"No such File object: {file_id}", "id")
        return 200, self.files[file_id][0], {}

    def content(self, file_id: str) -> Reply:
        if file_id not in self.files:
            return _error(404, f"No such File object: {file_id}", "id")
        return 200, self.files[file_id][1], {"content-type": "application/octet-stream"}

    # -- batches ----------------------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> Reply:
        for name in ("input_file_id", "endpoint", "completion_window"):
            if name not in body:
                return _error(400, f"Missing required parameter: '{name}'.", name)
        if body["endpoint"] not in ENDPOINTS:
            return _error(400, f"Invalid value for 'endpoint': {body['endpoint']}.", "endpoint")
        if body["completion_window"] != "24h":
            return _error(400, "Invalid value for 'completion_window'.", "completion_window")
        refused = _metadata_problem(body.get("metadata"))
        if refused:
            return _error(400, refused, "metadata")
        entry = self.files.get(body["input_file_id"])
        if entry is None or entry[0]["purpose"] != "batch":
            message = f"No such File object: {body['input_file_id']}"
            return _error(404 if entry is None else 400, message, "input_file_id")
        with self.lock:
            outcome = self.outcomes.popleft() if self.outcomes else Outcome()
            lost = self.lost_replies.popleft() if self.lost_replies else None
        if lost is False:
            return LOST, None, {}
        batch = FakeBatch(
            id=f"batch_fake{next(self._ids)}",
            input_file_id=body["input_file_id"],
            endpoint=body["endpoint"],
            completion_window="24h",
            created_at=self.fake.clock(),
            total=len(_lines(entry[1])),
            outcome=outcome,
            metadata=body.get("metadata"),
        )
        self.batches[batch.id] = batch
        batch.worker = threading.Thread(target=self.answer_lines, args=(batch,), daemon=True)
        batch.worker.start()
        return (LOST, None, {}) if lost else (200, self.describe(batch), {})

    def billed(self, price: Any) -> float:
        """What the batches cost at `price` (a `Price`'s batch price): each line that ran."""
        total = 0.0
        for batch in self.batches.values():
            for status, body in batch.answers[: batch.ran]:
                usage = (body or {}).get("usage") if status == 200 else None
                if usage:
                    total += price.cost(usage["prompt_tokens"], 0, usage["completion_tokens"])
        return total

    def answer_lines(self, batch: FakeBatch) -> None:
        for line in _lines(self.files[batch.input_file_id][1]):
            try:
                body = json.loads(line).get("body")
            except (ValueError, AttributeError):
                body = None
            answer = self.fake.answer_line(body) if isinstance(body, dict) else (400, None)
            batch.answers.append(answer)

    def retrieve(self, batch_id: str) -> Reply:
        batch = self.batches.get(batch_id)
        if batch is None:
            return _error(404, f"No batch found with id '{batch_id}'.", None)
        return 200, self.describe(batch), {}

    def list(self, path: str) -> Reply:
        """The newest batches first, `limit` a page (default 20), after the `after` id."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        limit = int(query.get("limit", ["20"])[0])
        if not 1 <= limit <= 100:
            return _error(400, "Invalid 'limit': must be between 1 and 100.", "limit")
        newest = sorted(self.batches.values(), key=lambda b: b.created_at, reverse=True)
        after = query.get("after", [None])[0]
        if after in self.batches:
            newest = newest[newest.index(self.batches[after]) + 1 :]
        page = [self.describe(b) for b in newest[:limit]]
        return 200, {"object": "list", "data": page,
                     "first_id": page[0]["id"] if page else None,
                     "last_id": page[-1]["id"] if page else None,
                     "has_more": len(newest) > limit}, {}  # fmt: skip

    def cancel(self, batch_id: str) -> Reply:
        batch = self.batches.get(batch_id)
        if batch is None:
            return _error(404, f"No batch found with id '{batch_id}'.", None)
        if self.status(batch) not in {"validating", "in_progress", "finalizing"}:
            message = f"Cannot cancel a batch with status '{self.status(batch)}'."
            return _error(409, message, None)
        batch.cancelled_at = self.fake.clock()
        return 200, self.describe(batch) | {"status": "cancelling"}, {}

    def status(self, batch: FakeBatch) -> str:
        """Where the batch is now; the moment it ends its files are written, once."""
        if batch.ended:
            return batch.ended
        elapsed = self.fake.clock() - batch.created_at
        latency = self.fake.batch_latency
        if batch.cancelled_at is not None:
            return self.finish(batch, "cancelled")
        if elapsed < latency * 0.1:
            return "validating"
        if self.invalid(batch):
            return self.finish(batch, "failed")
        if elapsed < latency * 0.8:
            return "in_progress"
        if elapsed < latency:
            return "finalizing"
        return self.finish(batch, "expired" if batch.outcome.kind == "expired" else "completed")

    def invalid(self, batch: FakeBatch) -> bool:
        """Check every line as the service does before running any (once); keep what is
        wrong. A batch scripted to fail fails here."""
        if batch.checked:
            return bool(batch.errors)
        batch.checked = True
        errors, seen = [], set()
        for number, line in enumerate(_lines(self.files[batch.input_file_id][1]), 1):
            problem = _line_problem(line, batch.endpoint, seen)
            if problem:
                errors.append({"code": problem[0], "message": problem[1], "param": None,
                               "line": number})  # fmt: skip
        if batch.outcome.kind == "failed" and not errors:
            errors.append({"code": "invalid_request", "message": "The batch failed validation.",
                           "param": None, "line": None})  # fmt: skip
        batch.errors = errors or None
        return bool(errors)

    def finish(self, batch: FakeBatch, status: str) -> str:
        with self.lock:
            if batch.ended:
                return batch.ended
            if status != "failed":
                self.run_lines(batch, status)
            batch.ended = status
        return status

    def run_lines(self, batch: FakeBatch, status: str) -> None:
        """Answer the lines (an expired or cancelled batch only its first `answered`) and
        write the output and error files."""
        lines = [json.loads(line) for line in _lines(self.files[batch.input_file_id][1])]
        done = len(lines) if status == "completed" else batch.outcome.answered
        batch.ran = done
        if batch.worker is not None:
            batch.worker.join()
        output, failures = [], []
        for n, line in enumerate(lines):
            if n >= done:
                code = "batch_expired" if status == "expired" else "batch_cancelled"
                message = EXPIRED if status == "expired" else "This request was cancelled."
                failures.append(_result(n, line, None, {"code": code, "message": message}))
                continue
            http, payload = batch.answers[n]
            response = {"status_code": http, "request_id": f"req_batch{n}", "body": payload}
            (output if http == 200 else failures).append(_result(n, line, response, None))
        batch.completed, batch.failed = len(output), len(failures)
        output.reverse()  # the service promises no order: lines are matched by custom_id
        if output:
            written = self.add_file("output.jsonl", self.jsonl(output, "output"), "batch_output")
            batch.output_file_id = written["id"]
        if failures:
            errors = self.add_file("errors.jsonl", self.jsonl(failures, "errors"), "batch_output")
            batch.error_file_id = errors["id"]

    def jsonl(self, rows: list[dict[str, Any]], file: str) -> bytes:
        """The rows as a JSONL file, the first ones garbled as scripted for this file."""
        lines = []
        for row in rows:
            kind = self.garbled[file].popleft() if self.garbled[file] else None
            lines.append(GARBLES[kind](row) if kind else json.dumps(row))
        return "".join(line + "\n" for line in lines).encode()

    def describe(self, batch: FakeBatch) -> dict[str, Any]:
        """The batch object as the API returns it."""
        status = self.status(batch)
        created = int(batch.created_at)
        ended_at = int(batch.created_at + self.fake.batch_latency)
        counts = {"total": batch.total, "completed": batch.completed, "failed": batch.failed}
        if status == "in_progress":  # the real service counts as it goes
            share = (self.fake.clock() - batch.created_at) / max(self.fake.batch_latency, 1e-9)
            counts["completed"] = min(batch.total, int(batch.total * share))
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
            "input_file_id": batch.input_file_id,
            "completion_window": batch.completion_window,
            "status": status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": created,
            "in_progress_at": created if status not in {"validating", "failed"} else None,
            "expires_at": created + 86_400,
            "finalizing_at": ended_at if status in {"completed", "finalizing"} else None,
            "completed_at": ended_at if status == "completed" else None,
            "failed_at": ended_at if status == "failed" else None,
            "expired_at": ended_at if status == "expired" else None,
            "cancelling_at": int(batch.cancelled_at) if batch.cancelled_at else None,
            "cancelled_at": int(batch.cancelled_at) if status == "cancelled" else None,
            "request_counts": counts,
            "metadata": batch.metadata,
        }


def _metadata_problem(metadata: Any) -> str | None:
    """What the service says of metadata it refuses: at most 16 string pairs, keys up to 64
    characters, values up to 512."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        return "Invalid type for 'metadata': expected an object."
    if len(metadata) > METADATA_PAIRS:
        return f"Invalid 'metadata': too many properties (at most {METADATA_PAIRS})."
    for key, value in metadata.items():
        if len(key) > METADATA_KEY:
            return f"Invalid 'metadata': key '{key[:20]}...' is longer than {METADATA_KEY}."
        if not isinstance(value, str):
            return f"Invalid type for 'metadata.{key}': expected a string."
        if len(value) > METADATA_VALUE:
            return f"Invalid 'metadata.{key}': string longer than {METADATA_VALUE}."
    return None


def _line_problem(line: str, endpoint: str, seen: set[str]) -> tuple[str, str] | None:
    try:
        row = json.loads(line)
    except ValueError:
        return "invalid_json_line", "This line is not parseable as valid JSON."
    custom_id = row.get("custom_id") if isinstance(row, dict) else None
    if not isinstance(custom_id, str):
        return "missing_required_parameter", "Missing required parameter: 'custom_id'."
    if custom_id in seen:
        return "duplicate_custom_id", f"The custom_id '{custom_id}' is not unique in the file."
    seen.add(custom_id)
    if row.get("method") != "POST":
        return "invalid_method", "The method must be 'POST'."
    if row.get("url") != endpoint:
        return "mismatched_endpoint", f"The url must match the batch's endpoint ({endpoint})."
    if not isinstance(row.get("body"), dict):
        return "missing_required_parameter", "Missing required parameter: 'body'."
    return None


def _result(n: int, line: dict, response: dict | None, error: dict | None) -> dict[str, Any]:
    return {"id": f"batch_req_fake{n}", "custom_id": line.get("custom_id"),
            "response": response, "error": error}  # fmt: skip


def _lines(data: bytes) -> list[str]:
    return [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes) of a multipart/form-data body."""
    if not content_type.startswith("multipart/form-data"):
        return {}
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


def _error(status: int, message: str, param: str | None) -> Reply:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    return status, {"error": error}, {}
