"""Scoring: papers judged for a profile by an LLM (any OpenAI-compatible endpoint), or by the
local keyword scorer, with every token and dollar counted.

Per profile, on the papers left after author matches and already-sent papers:
1. optional pre-filter by the local scorer (`[llm] prefilter_keep`),
2. the title pass: numbered titles in large batches; titles scored below `title_cutoff` (or the
   profile's own relevance cutoff, if lower) are dropped,
3. the skim: each paper left, numbered, with its title and the opening of its abstract
   (`skim_chars`), scored on both axes; a paper scored more than SKIM_MARGIN below either of the
   profile's cutoffs is dropped. A title or an opening says less than an abstract: these two
   passes only drop papers, and a paper their answer leaves out is kept (recall first),
4. the abstract pass: the selection prompt with batches of papers, each read in full (up to
   `abstract_chars`); its scores and comments are the ones the reader sees. Ids an answer leaves
   out are asked again in smaller batches for a bounded number of rounds, then reported as
   unscored.

Scores are cached in SQLite by (paper, prompt hash, model), so a re-run, or a second profile with
the same prompt, spends nothing on papers already scored. All requests of a run share one
concurrency limit and one cost cap.

This module decides what to ask (`funnel`); how the requests travel, one chat completion at a
time or a round as one batch, is a `Transport`'s business (`chat.py`, `batch.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from newsletter.config import Config, LLMConfig
from newsletter.keywords import LocalScorer
from newsletter.models import Paper, Score, Usage
from newsletter.profiles import Profile
from newsletter.prompt import (
    format_papers,
    format_skim,
    format_titles,
    numbers,
    prompt_hash,
    render_selection_prompt,
    render_skim_prompt,
    render_title_prompt,
)
from newsletter.store import Store
from newsletter.transport import (
    Budget,
    InFlight,
    Reply,
    Request,
    Round,
    Transport,
    failure_notes,
)

ABSTRACT_ANSWER_TOKENS = 80  # a generous bound on one JSONL line with a comment
# Bounds on a line of the short answers: `123:7` and `123:7:5` are 4 and 6 tokens with their
# newline, the same as JSON (which a model may answer instead) 9 and 13.
TITLE_ANSWER_TOKENS = 14
SKIM_ANSWER_TOKENS = 18
MAX_ANSWER_TOKENS = 16_000  # under the output limit of current models (gpt-4o-mini: 16,384)
# How far below a cutoff the skim may score a paper that still gets its full read: the opening
# of an abstract misleads a model by a point where the whole abstract does not.
SKIM_MARGIN = 1

Progress = Callable[[int], None]  # called with the number of papers just finished


@dataclass(frozen=True)
class Scored:
    """What scoring one profile produced."""

    scores: dict[str, Score] = field(default_factory=dict)
    # The funnel: the papers each pass judged, from the cache or fresh. A paper read in full
    # by an earlier run passed the screens then: it counts as screened, so a re-run tells the
    # funnel the run that paid for it told.
    titled: set[str] = field(default_factory=set)
    skimmed: set[str] = field(default_factory=set)
    read: set[str] = field(default_factory=set)
    unscored: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=lambda: Usage(model=""))
    notes: list[str] = field(default_factory=list)
    capped: bool = False  # the cost cap stopped scoring: unscored papers were not a failure
    down: bool = False  # every request of a round failed unanswered: the endpoint is down
    in_flight: str | None = None  # the batch left running, which a later run collects


@dataclass(frozen=True)
class Pass:
    """One way of asking about papers: what a request shows of each, what its answer holds."""

    name: str  # as the run's notes call it
    size: int  # papers per request
    answer_tokens: int  # a bound on one paper's line of the answer
    novelty: bool  # the answer scores novelty too (and, in the full read, comments)
    chars: int = 0  # abstract characters shown; 0: titles alone
    numbered: bool = True  # papers named by their number in the list, not their arXiv id

    def request(self, batch: list[Paper]) -> Request:
        """The request for a batch: its user message, the numbers its answer names papers by,
        and the answer's token limit."""
        limit = self.answer_tokens * len(batch) + 50
        ids = frozenset(p.id for p in batch)
        if not self.numbered:
            return Request(format_papers(batch, self.chars), limit, ids, None)
        text = format_skim(batch, self.chars) if self.chars else format_titles(batch)
        return Request(text, limit, ids, numbers(batch))


@dataclass(frozen=True)
class Asked:
    """What asking one pass gave: the scores, every reply on the way (what was spent, what
    failed), and the transport's notes."""

    scores: dict[str, Score] = field(default_factory=dict)
    replies: list[Reply] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    down: bool = False  # its last round failed unanswered, every request of it
    in_flight: str | None = None

    @property
    def failed(self) -> int:
        return sum(r.failure is not None for r in self.replies)


class Scorer(Protocol):
    """What judges a profile's papers: the model, or the local keyword scorer."""

    label: str  # how the run's summary names it
    billed: bool  # whether its requests cost tokens and dollars

    @property
    def requests(self) -> int:
        """Requests made so far in this run."""
        ...

    async def score(
        self, profile: Profile, papers: Sequence[Paper], progress: Progress | None = None
    ) -> Scored: ...

    async def close(self) -> None: ...


class KeywordScorer:
    """The local keyword scorer behind the Scorer interface: every paper judged, nothing spent."""

    label = "the local keyword scorer"
    billed = False
    requests = 0

    async def score(
        self, profile: Profile, papers: Sequence[Paper], progress: Progress | None = None
    ) -> Scored:
        scores = LocalScorer(profile).score_all(papers)
        if progress:
            progress(len(papers))
        return Scored(scores=scores, read=set(scores), usage=Usage(model="local"))

    async def close(self) -> None:
        return None


class LLMScorer:
    """Scores profiles through the model, however its requests travel; share one instance per
    run: its requests share one cost cap."""

    billed = True

    def __init__(self, config: Config, store: Store, transport: Transport):
        self.label = transport.label
        self.llm = config.llm
        self.store = store
        self.transport = transport
        self.budget = Budget(config.llm.max_cost_usd)
        self.pending: list[str] = []  # batches left running, for a later run to collect

    @property
    def requests(self) -> int:
        return self.transport.requests

    async def close(self) -> None:
        await self.transport.close()

    async def score(
        self, profile: Profile, papers: Sequence[Paper], progress: Progress | None = None
    ) -> Scored:
        model = profile.model or self.llm.model
        asker = Asker(self.llm, self.store, self.transport, self.budget, model)
        scored = await funnel(asker, profile, papers, progress)
        if scored.in_flight:
            self.pending.append(scored.in_flight)
        return scored


@dataclass(frozen=True)
class Asker:
    """Asks one model about papers, a pass at a time: the cache, the cost cap, the rounds."""

    llm: LLMConfig
    store: Store
    transport: Transport
    budget: Budget
    model: str

    def cached(self, papers: list[Paper], key: str) -> dict[str, Score]:
        return self.store.scores.cached([p.id for p in papers], key, self.model)

    def keep(self, key: str) -> Callable[[dict[str, Score]], None]:
        return lambda scores: self.store.scores.save(scores.values(), key, self.model)

    async def ask(
        self,
        kind: Pass,
        system: str,
        key: str,
        papers: list[Paper],
        rounds: int,
        progress: Progress | None = None,
    ) -> Asked:
        """Ask in batches, then `rounds` times again for what is left: a failed batch whole,
        and what answers left out in halved batches. A round in which every request failed
        ends the asking; if they all failed unanswered (5xx, timeouts, no connection), the
        endpoint is down, and asking again, in any pass, would only wait. Each answer is
        cached under `key` as it arrives: a crash loses no answer paid for."""
        size = min(kind.size, (MAX_ANSWER_TOKENS - 50) // kind.answer_tokens)  # the answer fits
        scores: dict[str, Score] = {}
        replies: list[Reply] = []
        notes: list[str] = []
        batches = [papers[i : i + size] for i in range(0, len(papers), size)]
        for _ in range(rounds + 1):
            if not batches or self.budget.hit:
                break
            requests = [kind.request(b) for b in batches]
            round = Round(self.model, system, kind.novelty, requests, self.budget, self.keep(key))
            sent = await self.transport.send(round)
            if isinstance(sent, InFlight):
                return Asked(scores, replies, notes, in_flight=sent.batch_id)
            replies += sent.replies
            notes += sent.notes
            answers = [reply.scores for reply in sent.replies]
            for answer in filter(None, answers):
                scores.update(answer)
                if progress:
                    progress(len(answer))
            if all(answer is None for answer in answers):
                # a 4xx says this request is wrong (too long for the model, say), not that the
                # endpoint is down: the next pass's requests may well be answered
                down = sum(r.unanswered for r in sent.replies) == len(batches)
                return Asked(scores, replies, notes, down=down)
            size = max(1, math.ceil(size / 2))
            left = [p for b, a in zip(batches, answers, strict=True) if a is not None for p in b
                    if p.id not in scores]  # fmt: skip
            batches = [b for b, a in zip(batches, answers, strict=True) if a is None]
            batches += [left[i : i + size] for i in range(0, len(left), size)]
        return Asked(scores, replies, notes)


def passes(llm: LLMConfig) -> tuple[Pass, Pass, Pass]:
    """The title pass, the skim and the full read, as configured."""
    return (
        Pass("the title pass", llm.title_batch_size, TITLE_ANSWER_TOKENS, False),
        Pass("the skim", llm.skim_batch_size, SKIM_ANSWER_TOKENS, True, llm.skim_chars),
        Pass("the full read", llm.batch_size, ABSTRACT_ANSWER_TOKENS, True, llm.abstract_chars,
             numbered=False),
    )  # fmt: skip


async def funnel(
    asker: Asker, profile: Profile, papers: Sequence[Paper], progress: Progress | None = None
) -> Scored:
    """A profile's papers through the funnel: the pre-filter, the cache, the title pass, the
    skim and the full read, each pass on what the one before left; the scored record is put
    together from what the passes gave."""
    llm = asker.llm
    system = render_selection_prompt(profile)
    key = prompt_hash(system, str(llm.abstract_chars))
    kept = list(papers)  # the pre-filter sees every paper, so a re-run keeps the same
    if llm.prefilter_keep < 1:
        kept = LocalScorer(profile).prefilter(kept, llm.prefilter_keep)
    cached = asker.cached(kept, key)
    todo = [p for p in kept if p.id not in cached]
    screened = await screen(asker, profile, todo, read_before=set(cached))
    read = Asked()
    if not any(a.in_flight for a in screened.asked):
        if progress:
            progress(len(papers) - len(screened.papers))
        if not any(a.down for a in screened.asked):  # no answer at all: asking more only waits
            *_, full_read = passes(llm)
            read = await asker.ask(full_read, system, key, screened.papers, llm.retry_rounds,
                                   progress)  # fmt: skip
    return record(asker, papers, cached, screened, read)


@dataclass(frozen=True)
class Screened:
    """What the screens left for the full read, the papers they judged, what they gave."""

    papers: list[Paper]
    titled: set[str]
    skimmed: set[str]
    asked: list[Asked]


async def screen(
    asker: Asker, profile: Profile, papers: list[Paper], read_before: set[str]
) -> Screened:
    """The papers the title pass and the skim leave for the full read, and the papers they
    judged (with those `read_before`, by an earlier run)."""
    llm = asker.llm
    titles, skim, _ = passes(llm)
    # a title pass stricter than the profile itself would drop papers it asks for
    title_cutoff = min(llm.title_cutoff, profile.relevance_cutoff)
    cutoffs = (profile.relevance_cutoff - SKIM_MARGIN, profile.novelty_cutoff - SKIM_MARGIN)

    def plausible(title: Score) -> bool:
        return title.relevance >= title_cutoff

    def near(skim: Score) -> bool:
        return skim.relevance >= cutoffs[0] and skim.novelty >= cutoffs[1]

    titled: set[str] = set()
    skimmed: set[str] = set()
    asked: list[Asked] = []
    if llm.title_pass:
        system = render_title_prompt(profile)
        papers, judged, done = await drop(asker, system, papers, titles, plausible)
        titled = judged | read_before
        asked.append(done)
    if llm.skim_chars and not any(a.down or a.in_flight for a in asked):
        system = render_skim_prompt(profile)
        papers, judged, done = await drop(asker, system, papers, skim, near)
        skimmed = judged | read_before
        asked.append(done)
    return Screened(papers, titled, skimmed, asked)


async def drop(
    asker: Asker, system: str, papers: list[Paper], kind: Pass, keep: Callable[[Score], bool]
) -> tuple[list[Paper], set[str], Asked]:
    """Drop the papers a cheap pass judges out of reach; keep what its answer does not
    judge. Its scores are cached too, so a re-run drops the same papers for free.
    Returns the papers left, the ids the pass judged and what asking gave."""
    if not papers:
        return [], set(), Asked()
    key = prompt_hash(system, str(kind.chars))
    cached = asker.cached(papers, key)
    todo = [p for p in papers if p.id not in cached]
    asked = await asker.ask(kind, system, key, todo, rounds=0)
    if todo and not asked.scores and not asked.failed and not asker.budget.hit:
        unread = (f"{kind.name}'s answers could not be read: its {len(todo)} papers were all "
                  "kept for the next pass, at a higher cost")  # fmt: skip
        asked = replace(asked, notes=[*asked.notes, unread])
    judged = {**cached, **asked.scores}
    return [p for p in papers if p.id not in judged or keep(judged[p.id])], set(judged), asked


def record(
    asker: Asker,
    papers: Sequence[Paper],
    cached: dict[str, Score],
    screened: Screened,
    read: Asked,
) -> Scored:
    """The scored record, put together from what each pass gave."""
    asked = [*screened.asked, read]
    usage, notes = Usage(model=asker.model), []
    if asker.model not in asker.llm.prices:
        usage.cost_usd = None
        notes.append(f"no price for model '{asker.model}' in [llm.prices]: cost unknown")
    replies = [reply for a in asked for reply in a.replies]
    for reply in replies:
        if reply.usage:
            usage.add(reply.usage)
    in_flight = next((a.in_flight for a in asked if a.in_flight), None)
    if in_flight:
        note = f"batch {in_flight} is in flight: a later run collects it"
        return Scored(usage=usage, unscored=[p.id for p in papers], notes=[note],
                      in_flight=in_flight)  # fmt: skip
    notes += [note for a in asked for note in a.notes]
    scores = {**cached, **read.scores}
    if asker.budget.hit:
        notes.append("cost cap ([llm] max_cost_usd) reached: some papers were not scored")
    notes += failure_notes(replies)
    return Scored(
        scores=scores,
        titled=screened.titled,
        skimmed=screened.skimmed,
        read=set(scores),
        unscored=[p.id for p in screened.papers if p.id not in scores],
        usage=usage,
        notes=list(dict.fromkeys(notes)),
        capped=asker.budget.hit,
        down=any(a.down for a in asked),
    )
