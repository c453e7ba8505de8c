"""Scoring through OpenAI's Batch API (`[llm] mode = "batch"`): the same requests as the
synchronous scorer, billed at the batch price, answered within minutes to hours.

Each round of requests (the title pass, the skim, the abstract pass, each round of re-asks)
goes out as one batch: a JSONL file uploaded with `purpose="batch"`, then `batches.create`. The
batch's id is stored, under a digest of its requests (the request key), before any waiting: a
run that dies while waiting is re-run, builds the same requests, and collects that batch instead
of paying for another. Each batch also carries its request key in its `metadata`, so a batch
whose id was never stored (the reply to `batches.create` lost, or the run killed while it was
in flight) is found by listing the batches before another is made; the create itself is never
retried blindly, since a retried create is a second batch, billed twice.

The run polls until the batch ends or `[llm] batch_deadline` passes (then it cancels it), maps
the output file's lines back by `custom_id`, and asks what the batch left unanswered (errored,
expired, past the deadline, or a line that is not a well-formed answer) synchronously, within
the same cost cap.

With `wait=False` (`newsletter score --submit`) a batch in flight is left running: the round
comes back as `InFlight`, and a later run collects it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Final

import openai
from openai.types import Batch

from newsletter.chat import ChatTransport, stop_on_hopeless
from newsletter.config import LLMConfig, Price
from newsletter.store import Store
from newsletter.transport import InFlight, Reply, Request, Round, Sent, read_reply, usage_of

ENDPOINT: Final = "/v1/chat/completions"  # Final: its type is the literal the API wants
AGAIN = {408, 409, 429}  # statuses a create is tried again after (with 5xx), as the client does
ENDED = {"completed", "failed", "expired", "cancelled"}
KEY = "newsletter_request_key"  # the metadata naming a batch's requests
# A batch of ours found by its key is collected unless it can answer nothing: one that failed
# validation (perhaps for a passing reason, the queue's token limit) or that a run cancelled.
SPENT = {"failed", "cancelling", "cancelled"}
# Seconds back the batches are looked through for one of ours: a re-run comes within hours,
# and an account's older batches need not be paged through before each pass.
LOOKBACK = 2 * 86_400
CREATE_ATTEMPTS = 3


@dataclass
class Collected:
    """What one batch answered: response bodies by custom_id, what to tell of it, and the
    batch to record as collected once its answers are cached (None: no batch answered)."""

    bodies: dict[str, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    batch: tuple[str, str, str] | None = None  # request key, batch id, status


class BatchTransport:
    """Each round of requests as one batch; what it leaves unanswered, asked through chat."""

    def __init__(
        self,
        llm: LLMConfig,
        store: Store,
        client: openai.AsyncOpenAI,
        *,
        wait: bool = True,
        say: Callable[[str], None] = lambda _msg: None,
    ):
        self.label = f"the model ({llm.model}) through the Batch API"
        self.llm = llm
        self.store = store
        self.client = client
        self.chat = ChatTransport(llm, client)  # for what a batch leaves unanswered
        self.wait = wait
        self.say = say
        self.deadline = time.monotonic() + llm.batch_deadline  # for the whole run
        self.watcher = Watcher(client, llm.batch_poll, self.deadline, say)
        self.pause = 0.5  # seconds before a create is tried again, doubling
        self.submitted = 0  # requests sent in batches

    @property
    def requests(self) -> int:
        return self.submitted + self.chat.requests

    async def close(self) -> None:
        await self.client.close()

    async def send(self, round: Round) -> Sent | InFlight:
        """The round as one batch, each request reserved at the batch price before the batch
        is made; what it leaves unanswered, asked synchronously."""
        if time.monotonic() >= self.deadline and self.wait:
            return await self.chat.send(round)
        price = self.llm.prices.get(round.model)
        price = price.batch_price() if price else None
        held = [round.reserve(price, request) for request in round.requests]
        lines = [
            {"custom_id": f"request-{i}", "method": "POST", "url": ENDPOINT,
             "body": self.chat.body(round.model, round.system, r.user, r.max_tokens)}
            for i, r in enumerate(round.requests) if held[i] is not None
        ]  # fmt: skip
        collected = await self._run(lines) if lines else Collected()
        if isinstance(collected, InFlight):
            replies = [Reply(None)] * len(held)
        else:
            replies = [read_body(round, request, collected.bodies.get(f"request-{i}"), price)
                       for i, request in enumerate(round.requests)]  # fmt: skip
        for expected, reply in zip(held, replies, strict=True):
            if expected is not None:
                round.budget.settle(expected, (reply.usage.cost_usd or 0.0) if reply.usage else 0.0)
        if isinstance(collected, InFlight):
            return collected
        if collected.batch:  # only now: its answers are cached, a re-run needs it no more
            self.store.batches.save(*collected.batch)
            if collected.bodies:
                collected.notes.append("scored through the Batch API: the cost shown is at "
                                       "the batch price")  # fmt: skip
        rest = [i for i, r in enumerate(replies) if r.scores is None and held[i] is not None]
        if rest:
            again = await self.chat.send(round.only(rest))
            for i, reply in zip(rest, again.replies, strict=True):
                replies[i] = reply
        return Sent(replies, collected.notes)

    async def _run(self, lines: list[dict]) -> Collected | InFlight:
        """Submit the lines as a batch (or find the one a previous run submitted for them),
        wait for it, and read its output; no bodies when no batch could be made."""
        content = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines).encode()
        request_key = hashlib.sha256(content).hexdigest()
        failed = f"a batch of {len(lines)} requests failed ({{}}): asked synchronously"
        try:
            batch_id = self.store.batches.in_flight(request_key)
            if batch_id is None:
                batch_id = await self._submit(request_key, content, len(lines))
            else:
                self.say(f"batch {batch_id}: collecting what an earlier run submitted")
            batch = await self._wait(batch_id)
            if isinstance(batch, InFlight):
                return batch
            if batch.status not in ENDED:
                await self.client.batches.cancel(batch_id)
                self.store.batches.save(request_key, batch_id, "abandoned")
                return Collected(notes=[f"batch {batch_id} passed [llm] batch_deadline: asked "
                                        "synchronously"])  # fmt: skip
            asked = {line["custom_id"] for line in lines}
            bodies, unreadable = await read_output(self.client, batch, asked)
        except openai.APIStatusError as exc:
            stop_on_hopeless(exc, self.llm.model, self.llm.base_url)
            return Collected(notes=[failed.format(self.chat.why(exc)[1])])
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            return Collected(notes=[failed.format(self.chat.why(exc)[1])])
        notes = []
        if len(bodies) < len(lines):
            errors = getattr(batch.errors, "data", None) or []
            why = f": {errors[0].message}" if errors and errors[0].message else ""
            why += f"; {_lines(unreadable)} could not be read" if unreadable else ""
            notes.append(f"batch {batch_id} ({batch.status}{why}) answered {len(bodies)} of "
                         f"{len(lines)} requests: the rest were asked synchronously")  # fmt: skip
        return Collected(bodies, notes, (request_key, batch_id, batch.status))

    async def _submit(self, request_key: str, content: bytes, count: int) -> str:
        """The batch for these requests: one an earlier run made (its id lost), or a new one."""
        known = self.store.batches.last(request_key)  # collected or abandoned: not to be found
        spent = known.batch_id if known else None
        batch = await find_batch(self.client, request_key, spent)
        if batch is not None:
            self.say(f"batch {batch.id}: collecting what an earlier run submitted")
        else:
            batch = await self._create(request_key, content, spent)
            self.submitted += count
            self.say(f"batch {batch.id}: {count} requests submitted")
        self.store.batches.save(request_key, batch.id)  # before waiting: a re-run collects it
        return batch.id

    async def _create(self, request_key: str, content: bytes, spent: str | None):
        """Make the batch, once. The client would retry a create whose reply was lost, making
        a second batch; so it does not, and after a failure that may have made the batch (no
        reply, a timeout, a 5xx) the batch is looked for before the create is tried again."""
        upload = await self.client.files.create(file=("requests.jsonl", content), purpose="batch")
        once = self.client.with_options(max_retries=0)
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                return await once.batches.create(
                    input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h",
                    metadata={KEY: request_key},
                )  # fmt: skip
            except (openai.APIConnectionError, openai.APIStatusError) as exc:
                if isinstance(exc, openai.APIStatusError):
                    stop_on_hopeless(exc, self.llm.model, self.llm.base_url)
                    if exc.status_code not in AGAIN and exc.status_code < 500:
                        raise
                made = await find_batch(self.client, request_key, spent)
                if made is not None:
                    return made
                if attempt == CREATE_ATTEMPTS:
                    raise
                await asyncio.sleep(self.pause * 2 ** (attempt - 1))

    async def _wait(self, batch_id: str):
        """The batch once it has ended, or as it stands when the deadline passes; InFlight at
        once when nobody waits."""
        batch = await self.client.batches.retrieve(batch_id)
        if batch.status in ENDED:
            return batch
        if not self.wait:
            return InFlight(batch_id)
        return await self.watcher.wait(batch)


def read_body(round: Round, request: Request, body: dict | None, price: Price | None) -> Reply:
    """The reply in one output line's response body; no body, no reply."""
    if body is None:
        return Reply(None)
    response = json.loads(json.dumps(body), object_hook=lambda d: SimpleNamespace(**d))
    return read_reply(round, request, response, usage_of(round.model, response, price))


async def find_batch(client: openai.AsyncOpenAI, request_key: str, spent: str | None):
    """The newest batch tagged with these requests, unless it can answer nothing or is the
    `spent` one, already collected; the list comes newest first, read `LOOKBACK` back."""
    since = time.time() - LOOKBACK
    async for batch in client.batches.list(limit=100):
        if batch.created_at < since:
            break
        if (batch.metadata or {}).get(KEY) == request_key:
            return None if batch.status in SPENT or batch.id == spent else batch
    return None


async def read_output(client, batch, asked: set[str]) -> tuple[dict[str, dict], int]:
    """custom_id -> response body, for the lines answered with a well-formed 200, and how
    many lines could not be read. Lines in the error file, lines a failed or expired batch
    never ran, and lines that cannot be read are simply absent: asked again."""
    if not batch.output_file_id:
        return {}, 0
    content = await client.files.content(batch.output_file_id)
    bodies, unreadable = {}, 0
    for line in content.text.splitlines():
        if not line.strip():
            continue
        read = read_line(line)
        if read is None or read[0] not in asked:
            unreadable += 1
        elif read[1] is not None:
            bodies[read[0]] = read[1]
    return bodies, unreadable


def read_line(line: str) -> tuple[str, dict | None] | None:
    """An output line's custom_id and, when it was answered with a 200, the response body;
    None for a line not in the documented shape (the body read as a chat completion)."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    custom_id = row.get("custom_id") if isinstance(row, dict) else None
    response = row.get("response") if isinstance(row, dict) else None
    if not isinstance(custom_id, str) or not isinstance(response, dict | None):
        return None
    if response is None or response.get("status_code") != 200:
        return custom_id, None  # an error's line: readable, and unanswered
    body = response.get("body")
    return (custom_id, body) if is_completion(body) else None


def is_completion(body: object) -> bool:
    """Whether a 200's body holds what the scorer reads, of the types it reads: the first
    choice's message (its content text, or null for a refusal) and the token counts."""
    if not isinstance(body, dict):
        return False
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return False
    message = choices[0].get("message")
    if not isinstance(message, dict) or not isinstance(message.get("content"), str | None):
        return False
    usage = body.get("usage") or {}
    details = (usage.get("prompt_tokens_details") or {}) if isinstance(usage, dict) else None
    if not isinstance(details, dict):
        return False
    counts = (
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        details.get("cached_tokens"),
    )
    return all(n is None or type(n) is int for n in counts)  # a bool is no count


def _lines(count: int) -> str:
    return f"{count} output {'line' if count == 1 else 'lines'}"


class Watcher:
    """Every batch a run waits on, looked at together: one `batches.list` a look pages through
    the newest batches, so 40 batches in flight (20 profiles, each its own) cost one request a
    look rather than 40. A batch the list does not reach is retrieved on its own."""

    def __init__(self, client: openai.AsyncOpenAI, poll: float, deadline: float, say):
        self.client, self.poll, self.deadline, self.say = client, poll, deadline, say
        self.waiting: dict[str, asyncio.Future] = {}
        self.latest: dict[str, Batch] = {}  # each batch as last seen
        self.said: dict[str, tuple[str, str]] = {}
        self.task: asyncio.Task | None = None

    async def wait(self, batch):
        """The batch once it has ended, or as it stands when the deadline passes."""
        future = asyncio.get_running_loop().create_future()
        self.waiting[batch.id] = future
        self.latest[batch.id] = batch
        self._report(batch)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._watch())
        return await future

    async def _watch(self) -> None:
        try:
            while self.waiting:
                left = self.deadline - time.monotonic()
                await asyncio.sleep(max(0.0, min(self.poll, left)))
                if left <= 0:  # the deadline: hand each batch back as it stands
                    for batch_id in list(self.waiting):
                        self.waiting.pop(batch_id).set_result(self.latest[batch_id])
                    return
                await self._look()
        except Exception as exc:  # a failed look fails every waiter, as its own would
            for future in self.waiting.values():
                future.set_exception(exc)
            self.waiting.clear()

    async def _look(self) -> None:
        wanted = set(self.waiting)
        oldest = min(self.latest[i].created_at for i in wanted)
        found = {}
        async for batch in self.client.batches.list(limit=100):
            if batch.id in wanted:
                found[batch.id] = batch
            if len(found) == len(wanted) or batch.created_at < oldest:
                break
        for batch_id in wanted - found.keys():
            found[batch_id] = await self.client.batches.retrieve(batch_id)
        for batch_id, batch in found.items():
            self.latest[batch_id] = batch
            self._report(batch)
            if batch.status in ENDED and batch_id in self.waiting:
                self.waiting.pop(batch_id).set_result(batch)

    def _report(self, batch) -> None:
        """A progress line whenever a batch moves."""
        counts = batch.request_counts
        done = f"{counts.completed}/{counts.total}" if counts else "?"
        if self.said.get(batch.id) != (batch.status, done):
            self.said[batch.id] = (batch.status, done)
            self.say(f"batch {batch.id}: {batch.status}, {done} requests done")
