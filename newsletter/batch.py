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

With `wait=False` (`newsletter score --submit`) a batch in flight is left running: the scorer
returns at once, and a later run collects it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Final

import openai
from openai.types import Batch

from newsletter.config import Config, Price
from newsletter.models import Paper, Score, Usage
from newsletter.profiles import Profile
from newsletter.score import (
    Budget,
    LLMScorer,
    Pass,
    Progress,
    Scored,
    estimate,
    read_choice,
    stop_on_hopeless,
    usage_of,
)
from newsletter.store import Store

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


class BatchPending(Exception):
    """A batch is still running and the scorer was told not to wait for it."""

    def __init__(self, batch_id: str):
        super().__init__(batch_id)
        self.batch_id = batch_id
        self.usage: Usage | None = None  # what the profile's scoring spent before it


@dataclass
class Collected:
    """What one batch answered: response bodies by custom_id, and how it ended."""

    request_key: str
    batch_id: str
    status: str
    bodies: dict[str, dict]
    total: int


@dataclass
class Round:
    """One round's requests at the batch price: each reserved against the cost cap before
    the batch is made, settled once it has answered (or not)."""

    price: Price | None
    parts: list[tuple[str, dict[str, str] | None, int]]  # user message, aliases, token limit
    expected: list[float] = field(default_factory=list)
    reserved: list[bool] = field(default_factory=list)

    def reserve(self, budget: Budget, system: str) -> None:
        self.expected = [estimate(self.price, system + user, limit // 2)
                         for user, _, limit in self.parts]  # fmt: skip
        self.reserved = [budget.reserve(e) for e in self.expected]

    def settle(self, budget: Budget, costs: list[float]) -> None:
        for expected, reserved, cost in zip(self.expected, self.reserved, costs, strict=True):
            if reserved:
                budget.settle(expected, cost)


class BatchScorer(LLMScorer):
    """The LLM scorer with each round of requests sent as one batch."""

    def __init__(
        self,
        config: Config,
        store: Store,
        client: openai.AsyncOpenAI,
        *,
        wait: bool = True,
        say: Callable[[str], None] = lambda _msg: None,
    ):
        super().__init__(config, store, client)
        self.label = f"the model ({config.llm.model}) through the Batch API"
        self.wait = wait
        self.say = say
        self.poll = config.llm.batch_poll
        self.deadline = time.monotonic() + config.llm.batch_deadline  # for the whole run
        self.pending: list[str] = []  # batches left running (wait=False)
        self.watcher = Watcher(client, self.poll, self.deadline, say)
        self.pause = 0.5  # seconds before a create is tried again, doubling

    async def score(
        self, profile: Profile, papers: Sequence[Paper], progress: Progress | None = None
    ) -> Scored:
        try:
            return await super().score(profile, papers, progress)
        except BatchPending as pending:
            self.pending.append(pending.batch_id)
            model = profile.model or self.llm.model
            usage = pending.usage or Usage(model=model)  # an earlier pass collected is paid for
            out = Scored(usage=usage, unscored=[p.id for p in papers])
            out.note(f"batch {pending.batch_id} is in flight: a later run collects it")
            return out

    async def _ask_round(
        self,
        system: str,
        key: str,
        batches: list[list[Paper]],
        model: str,
        out: Scored,
        ask: Pass,
    ) -> list[dict[str, Score] | None]:
        """The round as one batch; what it leaves unanswered, asked synchronously."""
        if time.monotonic() >= self.deadline and self.wait:
            return await super()._ask_round(system, key, batches, model, out, ask)
        price = self.prices.get(model)
        plan = Round(price.batch_price() if price else None,
                     [ask.request(b) for b in batches])  # fmt: skip
        plan.reserve(self.budget, system)
        lines = [
            {"custom_id": f"request-{i}", "method": "POST", "url": ENDPOINT,
             "body": self.body(model, system, user, limit)}
            for i, (user, _, limit) in enumerate(plan.parts) if plan.reserved[i]
        ]  # fmt: skip
        try:
            collected = await self._run(lines, out) if lines else None
        except BatchPending as pending:
            plan.settle(self.budget, [0.0] * len(batches))
            pending.usage = out.usage
            raise
        bodies = collected.bodies if collected else {}
        read = [self._read(bodies.get(f"request-{i}"), batch, model, plan.price, out,
                           ask.novelty, plan.parts[i][1])
                for i, batch in enumerate(batches)]  # fmt: skip
        plan.settle(self.budget, [cost for _, cost in read])
        answers = [answer for answer, _ in read]
        for answer in answers:
            self.keep(answer, key, model)
        if collected:  # only now: its answers are cached, a re-run needs it no more
            self.store.batches.save(collected.request_key, collected.batch_id, collected.status)
            if bodies:
                out.note("scored through the Batch API: the cost shown is at the batch price")
        return await self._ask_rest(system, key, batches, answers, plan.reserved, model, out,
                                    ask)  # fmt: skip

    async def _ask_rest(self, system, key, batches, answers, reserved, model, out, ask: Pass):
        """Ask synchronously what the batch did not answer (the cost cap allowing)."""
        rest = [i for i, a in enumerate(answers) if a is None and reserved[i]]
        if rest:
            again = await super()._ask_round(
                system, key, [batches[i] for i in rest], model, out, ask
            )
            for i, answer in zip(rest, again, strict=True):
                answers[i] = answer
        return answers

    def _read(self, body, batch, model, price, out: Scored, with_novelty, aliases):
        """The scores in one output line's response body (None for no body), and its cost."""
        if body is None:
            return None, 0.0
        response = json.loads(json.dumps(body), object_hook=lambda d: SimpleNamespace(**d))
        usage = usage_of(model, response, price)
        out.usage.add(usage)
        answer = read_choice(response, {p.id for p in batch}, with_novelty, aliases)
        return answer, usage.cost_usd or 0.0

    async def _run(self, lines: list[dict], out: Scored) -> Collected | None:
        """Submit the lines as a batch (or find the one a previous run submitted for them),
        wait for it, and read its output; None when no batch could be made."""
        content = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines).encode()
        request_key = hashlib.sha256(content).hexdigest()
        try:
            batch_id = self.store.batches.in_flight(request_key)
            if batch_id is None:
                batch_id = await self._submit(request_key, content, len(lines))
            else:
                self.say(f"batch {batch_id}: collecting what an earlier run submitted")
            batch = await self._wait(batch_id)
            if batch.status not in ENDED:
                await self.client.batches.cancel(batch_id)
                self.store.batches.save(request_key, batch_id, "abandoned")
                out.note(f"batch {batch_id} passed [llm] batch_deadline: asked synchronously")
                return None
            bodies, unreadable = await self._output(batch, {line["custom_id"] for line in lines})
        except openai.APIStatusError as exc:
            stop_on_hopeless(exc, self.llm.model, self.llm.base_url)
            out.note(f"a batch of {len(lines)} requests failed ({self.why(exc)[1]}): asked "
                     "synchronously")  # fmt: skip
            return None
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            out.note(f"a batch of {len(lines)} requests failed ({self.why(exc)[1]}): asked "
                     "synchronously")  # fmt: skip
            return None
        if len(bodies) < len(lines):
            errors = getattr(batch.errors, "data", None) or []
            why = f": {errors[0].message}" if errors and errors[0].message else ""
            why += f"; {_lines(unreadable)} could not be read" if unreadable else ""
            out.note(f"batch {batch_id} ({batch.status}{why}) answered {len(bodies)} of "
                     f"{len(lines)} requests: the rest were asked synchronously")  # fmt: skip
        return Collected(request_key, batch_id, batch.status, bodies, len(lines))

    async def _submit(self, request_key: str, content: bytes, count: int) -> str:
        """The batch for these requests: one an earlier run made (its id lost), or a new one."""
        known = self.store.batches.last(request_key)  # collected or abandoned: not to be found
        spent = known.batch_id if known else None
        batch = await self._find(request_key, spent)
        if batch is not None:
            self.say(f"batch {batch.id}: collecting what an earlier run submitted")
        else:
            batch = await self._create(request_key, content, spent)
            self.requests += count
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
                made = await self._find(request_key, spent)
                if made is not None:
                    return made
                if attempt == CREATE_ATTEMPTS:
                    raise
                await asyncio.sleep(self.pause * 2 ** (attempt - 1))

    async def _find(self, request_key: str, spent: str | None):
        """The newest batch tagged with these requests, unless it can answer nothing or is the
        `spent` one, already collected; the list comes newest first, read `LOOKBACK` back."""
        since = time.time() - LOOKBACK
        async for batch in self.client.batches.list(limit=100):
            if batch.created_at < since:
                break
            if (batch.metadata or {}).get(KEY) == request_key:
                return None if batch.status in SPENT or batch.id == spent else batch
        return None

    async def _wait(self, batch_id: str):
        """The batch once it has ended, or as it stands when the deadline passes; raises
        BatchPending at once when the scorer does not wait."""
        batch = await self.client.batches.retrieve(batch_id)
        if batch.status in ENDED:
            return batch
        if not self.wait:
            raise BatchPending(batch_id)
        return await self.watcher.wait(batch)

    async def _output(self, batch, asked: set[str]) -> tuple[dict[str, dict], int]:
        """custom_id -> response body, for the lines answered with a well-formed 200, and how
        many lines could not be read. Lines in the error file, lines a failed or expired batch
        never ran, and lines that cannot be read are simply absent: asked again."""
        if not batch.output_file_id:
            return {}, 0
        content = await self.client.files.content(batch.output_file_id)
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
