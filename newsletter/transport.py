"""What passes between the funnel and the way its requests travel: a round of requests in, a
reply for each out (or a batch still in flight), behind one narrow interface (`Transport`).

The funnel (`score.py`) decides what to ask; a transport (`chat.py` one request at a time,
`batch.py` a round as one batch) decides how. Both reserve each request against the run's cost
cap before it goes, settle it once answered, and read an answer in the same way (`read_reply`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from newsletter.answers import parse_answer
from newsletter.config import Price
from newsletter.models import Score, Usage

CHARS_PER_TOKEN = 4  # for estimates only; billing uses the response's `usage`


@dataclass
class Budget:
    """The run's cost cap, shared by every request: reserve before, settle after."""

    limit: float | None
    spent: float = 0.0
    reserved: float = 0.0
    hit: bool = False

    def reserve(self, estimate: float) -> bool:
        if self.limit is not None and self.spent + self.reserved + estimate > self.limit:
            self.hit = True
            return False
        self.reserved += estimate
        return True

    def settle(self, estimate: float, actual: float) -> None:
        self.reserved -= estimate
        self.spent += actual


@dataclass(frozen=True)
class Request:
    """One request of a round: the user message, the token limit of its answer, the papers
    it asks about and the numbers its answer names them by (None: by arXiv id)."""

    user: str
    max_tokens: int
    ids: frozenset[str]
    aliases: dict[str, str] | None


@dataclass(frozen=True)
class Reply:
    """What became of one request: the scores its answer gives (perhaps none), or None when
    it failed or was not sent (the cost cap)."""

    scores: dict[str, Score] | None
    usage: Usage | None = None
    failure: tuple[str, str] | None = None  # its kind ("HTTP 400") and words for the notes
    unanswered: bool = False  # no request could help: a 5xx, a timeout, no connection


@dataclass(frozen=True)
class Sent:
    """A round's replies, one a request in order, and what the way they went has to tell."""

    replies: list[Reply]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class InFlight:
    """The round went out as a batch that is still running, and nobody waits for it."""

    batch_id: str


@dataclass(frozen=True)
class Round:
    """A round of one pass's requests, as the funnel hands it to a transport: the cost cap
    each request is reserved against, and `keep`, which caches an answer as it arrives (a
    crash loses no answer paid for)."""

    model: str
    system: str
    novelty: bool  # the answers score novelty too
    requests: list[Request]
    budget: Budget
    keep: Callable[[dict[str, Score]], None]

    def reserve(self, price: Price | None, request: Request) -> float | None:
        """The estimate reserved for a request, or None when the cost cap refuses it."""
        expected = estimate(price, self.system + request.user, request.max_tokens // 2)
        return expected if self.budget.reserve(expected) else None

    def only(self, indices: list[int]) -> Round:
        """The same round with only some of its requests."""
        return Round(self.model, self.system, self.novelty,
                     [self.requests[i] for i in indices], self.budget, self.keep)  # fmt: skip


class Transport(Protocol):
    """How a round's requests travel to the model."""

    label: str  # how the run's summary names the scorer using it

    @property
    def requests(self) -> int:
        """Requests made so far in this run."""
        ...

    async def send(self, round: Round) -> Sent | InFlight: ...

    async def close(self) -> None: ...


def failure_notes(replies: list[Reply]) -> list[str]:
    """Failures of a kind ("HTTP 400") make one note, in the first one's words: an API's
    message may differ from request to request."""
    failures: dict[str, tuple[str, int]] = {}
    for reply in replies:
        if reply.failure:
            kind, words = reply.failure
            first, count = failures.get(kind, (words, 0))
            failures[kind] = (first, count + 1)
    return [f"{count} {'request' if count == 1 else 'requests'} failed: {words}"
            for words, count in failures.values()]  # fmt: skip


def read_reply(round: Round, request: Request, response, usage: Usage) -> Reply:
    """A response's scores, with what it cost; the answer is cached as it is read."""
    scores = read_choice(response, request.ids, round.novelty, request.aliases)
    if scores:
        round.keep(scores)
    return Reply(scores, usage)


def read_choice(
    response, batch_ids: frozenset[str], with_novelty: bool, aliases: dict[str, str] | None
) -> dict[str, Score]:
    """The scores in a response; a refusal or a malformed body gives none."""
    choices = getattr(response, "choices", None)  # the client does not validate the body
    if not isinstance(choices, list) or not choices:
        return {}
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if not isinstance(content, str) or getattr(message, "refusal", None):
        return {}
    # finish_reason "length": what was written before the cut still counts; the rest is re-asked
    return parse_answer(content, batch_ids, with_novelty=with_novelty, aliases=aliases)


def usage_of(model: str, response, price: Price | None) -> Usage:
    """Tokens from the response's own `usage`; `prompt_tokens_details` may be missing."""
    usage = getattr(response, "usage", None)
    prompt = getattr(usage, "prompt_tokens", 0) or 0
    completion = getattr(usage, "completion_tokens", 0) or 0
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", 0) or 0
    cost = price.cost(prompt, cached, completion) if price else None
    return Usage(model, 1, prompt, cached, completion, cost)


def estimate(price: Price | None, prompt: str, completion_tokens: int) -> float:
    if price is None:
        return 0.0
    return price.cost(len(prompt) // CHARS_PER_TOKEN, 0, completion_tokens)
