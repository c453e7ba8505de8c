"""Scoring through OpenAI's Batch API (`[llm] mode = "batch"`): the same requests as the
synchronous scorer, billed at the batch price, answered within minutes to hours.

Each round of requests (the title pass, the skim, the abstract pass, each round of re-asks)
goes out as one batch: a JSONL file uploaded with `purpose="batch"`, then `batches.create`. The
batch's id is stored, under a digest of its requests, before any waiting: a run that dies while
waiting is re-run, builds the same requests, and collects that batch instead of paying for
another. The run polls until the batch ends or `[llm] batch_deadline` passes (then it cancels
it), maps the output file's lines back by `custom_id`, and asks what the batch left unanswered
(errored, expired, past the deadline) synchronously, within the same cost cap.

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

import openai

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

ENDPOINT = "/v1/chat/completions"
ENDED = {"completed", "failed", "expired", "cancelled"}


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
            self.store.save_batch(collected.request_key, collected.batch_id, collected.status)
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
            batch_id = self.store.batch_in_flight(request_key)
            if batch_id is None:
                batch_id = await self._submit(request_key, content, len(lines))
            else:
                self.say(f"batch {batch_id}: collecting what an earlier run submitted")
            batch = await self._wait(batch_id)
            if batch.status not in ENDED:
                await self.client.batches.cancel(batch_id)
                self.store.save_batch(request_key, batch_id, "abandoned")
                out.note(f"batch {batch_id} passed [llm] batch_deadline: asked synchronously")
                return None
            bodies = await self._output(batch)
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
            out.note(f"batch {batch_id} ({batch.status}{why}) answered {len(bodies)} of "
                     f"{len(lines)} requests: the rest were asked synchronously")  # fmt: skip
        return Collected(request_key, batch_id, batch.status, bodies, len(lines))

    async def _submit(self, request_key: str, content: bytes, count: int) -> str:
        upload = await self.client.files.create(file=("requests.jsonl", content), purpose="batch")
        batch = await self.client.batches.create(
            input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h"
        )
        self.requests += count
        self.store.save_batch(request_key, batch.id)  # before waiting: a re-run collects it
        self.say(f"batch {batch.id}: {count} requests submitted")
        return batch.id

    async def _wait(self, batch_id: str):
        """The batch once it has ended, or as it stands when the deadline passes; raises
        BatchPending at once when the scorer does not wait."""
        batch = await self.client.batches.retrieve(batch_id)
        if batch.status in ENDED:
            return batch
        if not self.wait:
            raise BatchPending(batch_id)
        return await self.watcher.wait(batch)

    async def _output(self, batch) -> dict[str, dict]:
        """custom_id -> response body, for the lines answered with a 200. Lines in the error
        file, and lines a failed or expired batch never ran, are simply absent."""
        if not batch.output_file_id:
            return {}
        content = await self.client.files.content(batch.output_file_id)
        bodies = {}
        for line in content.text.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            response = row.get("response") or {}
            if response.get("status_code") == 200 and isinstance(response.get("body"), dict):
                bodies[row.get("custom_id")] = response["body"]
        return bodies


class Watcher:
    """Every batch a run waits on, looked at together: one `batches.list` a look pages through
    the newest batches, so 40 batches in flight (20 profiles, each its own) cost one request a
    look rather than 40. A batch the list does not reach is retrieved on its own."""

    def __init__(self, client: openai.AsyncOpenAI, poll: float, deadline: float, say):
        self.client, self.poll, self.deadline, self.say = client, poll, deadline, say
        self.waiting: dict[str, asyncio.Future] = {}
        self.latest: dict[str, object] = {}  # each batch as last seen
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
