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
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import openai

from newsletter.answers import clean_comment, parse_answer
from newsletter.config import Config, Price, openai_key
from newsletter.errors import ConfigError, CredentialsRejected, NewsletterError, QuotaExhausted
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

CHARS_PER_TOKEN = 4  # for estimates only; billing uses the response's `usage`
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


@dataclass
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
    failed: int = 0  # requests that failed
    unanswered: int = 0  # of those, the ones no request could help: a 5xx, timeout, no connection
    failures: dict[str, tuple[str, int]] = field(default_factory=dict)  # kind: (first words, n)

    @property
    def scanned(self) -> int:
        return len(self.read)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def fail(self, kind: str, words: str) -> None:
        """A failed request. Failures of a kind ("HTTP 400") make one note, in the first
        one's words: an API's message may differ from request to request."""
        self.failed += 1
        first, count = self.failures.get(kind, (words, 0))
        self.failures[kind] = (first, count + 1)

    def note_failures(self) -> None:
        for words, count in self.failures.values():
            self.note(f"{count} {'request' if count == 1 else 'requests'} failed: {words}")


@dataclass(frozen=True)
class Pass:
    """One way of asking about papers: what a request shows of each, what its answer holds."""

    name: str  # as the run's notes call it
    size: int  # papers per request
    answer_tokens: int  # a bound on one paper's line of the answer
    novelty: bool  # the answer scores novelty too (and, in the full read, comments)
    chars: int = 0  # abstract characters shown; 0: titles alone
    numbered: bool = True  # papers named by their number in the list, not their arXiv id

    def request(self, batch: list[Paper]) -> tuple[str, dict[str, str] | None, int]:
        """The user message for a batch, the numbers its answer names papers by, and the
        answer's token limit."""
        limit = self.answer_tokens * len(batch) + 50
        if not self.numbered:
            return format_papers(batch, self.chars), None, limit
        text = format_skim(batch, self.chars) if self.chars else format_titles(batch)
        return text, numbers(batch), limit


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


class Scorer(Protocol):
    """What judges a profile's papers: the model, or the local keyword scorer."""

    label: str  # how the run's summary names it
    billed: bool  # whether its requests cost tokens and dollars
    requests: int  # requests made so far in this run

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


def make_client(config: Config) -> openai.AsyncOpenAI:
    """The openai client, with our timeout and retry policy (it retries 429/5xx itself)."""
    key = openai_key()
    if key is None and config.llm.base_url is None:
        raise NewsletterError(
            'OPENAI_API_KEY is not set: export it, or set [llm] provider = "local" in config.toml'
        )
    return openai.AsyncOpenAI(
        api_key=key or "unused",  # self-hosted endpoints often need no key
        base_url=config.llm.base_url,
        timeout=config.llm.timeout,
        max_retries=config.llm.max_retries,
    )


class LLMScorer:
    """Scores profiles through one AsyncOpenAI client; share one instance per run."""

    billed = True

    def __init__(self, config: Config, store: Store, client: openai.AsyncOpenAI):
        self.label = f"the model ({config.llm.model})"
        self.llm = config.llm
        self.prices = config.llm.prices
        self.store = store
        self.client = client
        self.budget = Budget(config.llm.max_cost_usd)
        self.slots = asyncio.Semaphore(config.llm.concurrency)
        self.requests = 0
        # Reasoning models refuse `max_tokens` (they want `max_completion_tokens`) and any
        # temperature but the default; older servers know only `max_tokens`. Start with what
        # most endpoints accept and adapt once when the 400 names the parameter.
        self.limit_param = "max_tokens"
        self.send_temperature = True
        llm = config.llm
        self.titles = Pass("the title pass", llm.title_batch_size, TITLE_ANSWER_TOKENS, False)
        self.skim = Pass("the skim", llm.skim_batch_size, SKIM_ANSWER_TOKENS, True, llm.skim_chars)
        self.read = Pass("the full read", llm.batch_size, ABSTRACT_ANSWER_TOKENS, True,
                         llm.abstract_chars, numbered=False)  # fmt: skip

    async def close(self) -> None:
        await self.client.close()

    async def score(
        self, profile: Profile, papers: Sequence[Paper], progress: Progress | None = None
    ) -> Scored:
        model = profile.model or self.llm.model
        out = Scored(usage=Usage(model=model))
        if model not in self.prices:
            out.usage.cost_usd = None
            out.notes.append(f"no price for model '{model}' in [llm.prices]: cost unknown")
        system = render_selection_prompt(profile)
        key = prompt_hash(system, str(self.llm.abstract_chars))
        kept = list(papers)  # the pre-filter sees every paper, so a re-run keeps the same
        if self.llm.prefilter_keep < 1:
            kept = LocalScorer(profile).prefilter(kept, self.llm.prefilter_keep)
        cached = self.store.scores.cached([p.id for p in kept], key, model)
        todo = [p for p in kept if p.id not in cached]
        todo = await self._screen(profile, todo, model, out, read_before=set(cached))
        if progress:
            progress(len(papers) - len(todo))
        fresh: dict[str, Score]
        fresh, missing = {}, todo  # a pass that got no answer at all: asking more only waits
        if not out.down:
            fresh, missing = await self._ask_all(system, key, todo, model, out, self.read,
                                                 progress)  # fmt: skip
        out.scores = {**cached, **fresh}
        out.read = set(out.scores)
        out.unscored = [p.id for p in missing]
        if self.budget.hit:
            out.capped = True
            out.note("cost cap ([llm] max_cost_usd) reached: some papers were not scored")
        out.note_failures()
        return out

    async def _screen(
        self,
        profile: Profile,
        papers: list[Paper],
        model: str,
        out: Scored,
        read_before: set[str],
    ) -> list[Paper]:
        """The papers the title pass and the skim leave for the full read, the papers they
        judged counted in `out` (with those `read_before`, by an earlier run)."""
        # a title pass stricter than the profile itself would drop papers it asks for
        title_cutoff = min(self.llm.title_cutoff, profile.relevance_cutoff)
        cutoffs = (profile.relevance_cutoff - SKIM_MARGIN, profile.novelty_cutoff - SKIM_MARGIN)

        def plausible(title: Score) -> bool:
            return title.relevance >= title_cutoff

        def near(skim: Score) -> bool:
            return skim.relevance >= cutoffs[0] and skim.novelty >= cutoffs[1]

        if self.llm.title_pass:
            system = render_title_prompt(profile)
            papers, titled = await self._drop(system, papers, model, out, self.titles, plausible)
            out.titled = titled | read_before
        if self.llm.skim_chars and not out.down:
            system = render_skim_prompt(profile)
            papers, skimmed = await self._drop(system, papers, model, out, self.skim, near)
            out.skimmed = skimmed | read_before
        return papers

    async def _drop(
        self,
        system: str,
        papers: list[Paper],
        model: str,
        out: Scored,
        ask: Pass,
        keep: Callable[[Score], bool],
    ) -> tuple[list[Paper], set[str]]:
        """Drop the papers a cheap pass judges out of reach; keep what its answer does not
        judge. Its scores are cached too, so a re-run drops the same papers for free.
        Returns the papers left and the ids the pass judged."""
        if not papers:
            return [], set()
        key = prompt_hash(system, str(ask.chars))
        cached = self.store.scores.cached([p.id for p in papers], key, model)
        todo = [p for p in papers if p.id not in cached]
        failed = out.failed
        fresh, _ = await self._ask_all(system, key, todo, model, out, ask, rounds=0)
        if todo and not fresh and out.failed == failed and not self.budget.hit:
            out.note(f"{ask.name}'s answers could not be read: its {len(todo)} papers were "
                     "all kept for the next pass, at a higher cost")  # fmt: skip
        judged = {**cached, **fresh}
        return [p for p in papers if p.id not in judged or keep(judged[p.id])], set(judged)

    async def _ask_all(
        self,
        system: str,
        key: str,
        papers: list[Paper],
        model: str,
        out: Scored,
        ask: Pass,
        progress: Progress | None = None,
        rounds: int | None = None,
    ) -> tuple[dict[str, Score], list[Paper]]:
        """Ask in batches, then `rounds` times again for what is left: a failed batch whole,
        and what answers left out in halved batches. A round in which every request failed
        ends the asking; if they all failed unanswered (5xx, timeouts, no connection), the
        endpoint is down (`Scored.down`), and asking again, in any pass, would only wait.
        Each answer is cached under `key` as it arrives: a crash loses no answer paid for."""
        size = min(ask.size, (MAX_ANSWER_TOKENS - 50) // ask.answer_tokens)  # the answer fits
        rounds = self.llm.retry_rounds if rounds is None else rounds
        scores: dict[str, Score] = {}
        batches = [papers[i : i + size] for i in range(0, len(papers), size)]

        for _ in range(rounds + 1):
            if not batches or self.budget.hit:
                break
            unanswered = out.unanswered
            answers = await self._ask_round(system, key, batches, model, out, ask)
            for answer in filter(None, answers):
                scores.update(answer)
                if progress:
                    progress(len(answer))
            if all(answer is None for answer in answers):
                # a 4xx says this request is wrong (too long for the model, say), not that the
                # endpoint is down: the next pass's requests may well be answered
                out.down = out.unanswered - unanswered == len(batches)
                break
            size = max(1, math.ceil(size / 2))
            left = [p for b, a in zip(batches, answers, strict=True) if a is not None for p in b
                    if p.id not in scores]  # fmt: skip
            batches = [b for b, a in zip(batches, answers, strict=True) if a is None]
            batches += [left[i : i + size] for i in range(0, len(left), size)]
        return scores, [p for p in papers if p.id not in scores]

    async def _ask_round(
        self,
        system: str,
        key: str,
        batches: list[list[Paper]],
        model: str,
        out: Scored,
        ask: Pass,
    ) -> list[dict[str, Score] | None]:
        """One round of requests, in parallel: each one's scores, or None where it failed.
        Each answer is cached under `key` as it arrives: a crash loses no answer paid for."""

        async def one(batch: list[Paper]) -> dict[str, Score] | None:
            answer = await self._ask(system, batch, model, out, ask)
            self.keep(answer, key, model)
            return answer

        return list(await asyncio.gather(*(one(b) for b in batches)))

    def why(self, exc: openai.APIError) -> tuple[str, str]:
        """What went wrong with a request: its kind, and words an operator can act on."""
        return failure(exc, self.client.base_url, self.llm.timeout)

    def keep(self, answer: dict[str, Score] | None, key: str, model: str) -> None:
        if answer:
            self.store.scores.save(answer.values(), key, model)

    def body(self, model: str, system: str, user: str, max_tokens: int) -> dict:
        """The chat-completions request, with the parameters this endpoint accepts."""
        options: dict[str, float | int] = {self.limit_param: max_tokens}
        if self.send_temperature:
            options["temperature"] = self.llm.temperature
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return {"model": model, "messages": messages, **options}

    async def _ask(
        self, system: str, batch: list[Paper], model: str, out: Scored, ask: Pass
    ) -> dict[str, Score] | None:
        """One request: the scores its answer gives (perhaps none), or None when the request
        failed or the cost cap stopped it. A rejected key, an unknown model and an exhausted
        quota stop the run: no other request could do better."""
        user, aliases, max_tokens = ask.request(batch)
        price = self.prices.get(model)
        expected = estimate(price, system + user, max_tokens // 2)
        async with self.slots:
            if not self.budget.reserve(expected):
                return None
            actual = 0.0
            try:
                response = await self._request(model, system, user, max_tokens)
                usage = usage_of(model, response, price)
                actual = usage.cost_usd or 0.0
                out.usage.add(usage)
            except openai.APIStatusError as exc:
                stop_on_hopeless(exc, model, self.llm.base_url)
                out.fail(*self.why(exc))
                out.unanswered += exc.status_code >= 500
                return None
            except (openai.APIConnectionError, openai.APITimeoutError) as exc:
                out.fail(*self.why(exc))
                out.unanswered += 1
                return None
            finally:
                self.budget.settle(expected, actual)
        return read_choice(response, {p.id for p in batch}, ask.novelty, aliases)

    async def _request(
        self, model: str, system: str, user: str, max_tokens: int, adaptations: int = 2
    ):
        self.requests += 1
        try:
            return await self.client.chat.completions.create(
                **self.body(model, system, user, max_tokens)
            )
        except openai.BadRequestError as exc:
            if not adaptations or not self._adapt(exc.param):
                raise
        return await self._request(model, system, user, max_tokens, adaptations - 1)

    def _adapt(self, param: str | None) -> bool:
        """Rename or drop the parameter a 400 names in its `param` field (another batch may
        have done so already); False when the 400 is about something else."""
        if param == "max_tokens":
            self.limit_param = "max_completion_tokens"
            return True
        if param == "temperature":
            self.send_temperature = False
            return True
        return False


def read_choice(
    response, batch_ids: set[str], with_novelty: bool, aliases: dict[str, str] | None
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


def stop_on_hopeless(exc: openai.APIStatusError, model: str, base_url: str | None) -> None:
    """Raise for the answers no retry can change; return for the others."""
    where = base_url or "the OpenAI API"
    if exc.status_code in (401, 403):
        raise CredentialsRejected(
            f"{where} refused the key (HTTP {exc.status_code}): check OPENAI_API_KEY "
            "(scores so far are kept; nothing was sent)"
        )
    if exc.status_code == 404:
        raise ConfigError(
            f"{where} has no model '{model}' (HTTP 404): check [llm] model and base_url "
            "in config.toml (nothing was sent)"
        )
    if exc.status_code == 429 and _quota_exhausted(exc):
        raise QuotaExhausted(
            f"the LLM provider reports insufficient quota for model '{model}': "
            "add credit or change [llm] model, then re-run (scores so far are kept)"
        )


def failure(exc: openai.APIError, base_url, timeout: float) -> tuple[str, str]:
    """A failed request's kind and words: ('HTTP 400', "HTTP 400 (the API's message)"),
    ('timeout', 'no answer from URL within 30 s'), ('connection', 'no connection to URL').
    The notes reach the digests: the URL keeps neither credentials nor query."""
    if isinstance(exc, openai.APIStatusError):
        message = _error(exc).get("message")
        said = clean_comment(message)[:160] if isinstance(message, str) else ""
        return f"HTTP {exc.status_code}", f"HTTP {exc.status_code}" + (f" ({said})" if said else "")
    host = f"[{base_url.host}]" if ":" in base_url.host else base_url.host
    url = f"{base_url.scheme}://{host}{f':{base_url.port}' if base_url.port else ''}"
    url += base_url.path.rstrip("/")
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", f"no answer from {url} within {timeout:g} s"
    return "connection", f"no connection to {url}"


def _error(exc: openai.APIStatusError) -> dict:
    """The error object of an API error's body (`{"error": {...}}`, or the body itself)."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body)
    return error if isinstance(error, dict) else {}


def _quota_exhausted(exc: openai.APIStatusError) -> bool:
    fields = {getattr(exc, "code", None), getattr(exc, "type", None)}
    error = _error(exc)
    return "insufficient_quota" in fields | {error.get("code"), error.get("type")}


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
