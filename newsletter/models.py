"""Plain data passed between the pipeline's stages, and the record of a digest as saved."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, model_validator

Notify = Callable[[str], None]
# How often a reader is mailed, and on which announcement day a weekly reader is (newsletter.rhythm)
Frequency = Literal["daily", "weekly"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday"]


@dataclass
class Hooks:
    """How a run reports progress: plain callbacks, so the CLI can draw bars and tests can not."""

    say: Notify = lambda _msg: None
    warn: Notify = lambda msg: print(f"warning: {msg}", file=sys.stderr)
    scoring: Callable[[int], Callable[[int], None]] = lambda _total: lambda _n: None
    sending: Callable[[int], Callable[[int], None]] = lambda _total: lambda _n: None


@dataclass(frozen=True)
class Paper:
    """One announced paper. `id` carries no version ('2502.15657')."""

    id: str
    title: str
    authors: tuple[str, ...]
    abstract: str
    categories: tuple[str, ...]
    primary_category: str
    announce_type: str = "new"  # "new" or "cross"
    version: int = 1

    @property
    def abs_url(self) -> str:
        return f"https://arxiv.org/abs/{self.id}"

    @property
    def pdf_url(self) -> str:
        return f"https://arxiv.org/pdf/{self.id}"


@dataclass
class Listing:
    """One announcement day: its date (the listing's own) and the papers kept."""

    day: date
    papers: list[Paper]
    listed: int = 0  # items in the feed, before dropping replacements
    new: int = 0
    cross: int = 0
    dropped: int = 0


@dataclass(frozen=True)
class Score:
    """The model's (or the local scorer's) judgement of one paper for one profile."""

    paper_id: str
    relevance: int
    novelty: int
    comment: str


@dataclass
class Usage:
    """Tokens and dollars spent with one model."""

    model: str
    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0  # None when the model has no price in [llm.prices]

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        self.requests += other.requests
        self.prompt_tokens += other.prompt_tokens
        self.cached_tokens += other.cached_tokens
        self.completion_tokens += other.completion_tokens
        if self.cost_usd is None or other.cost_usd is None:
            self.cost_usd = None
        else:
            self.cost_usd += other.cost_usd


class Judge(StrEnum):
    """What judged a day's papers for a reader."""

    MODEL = "model"
    KEYWORDS = "keywords"  # the local scorer: matches words, reads nothing, spends nothing

    @property
    def by_model(self) -> bool:
        """Whether a model read the papers: then they were read in full, novelty was judged,
        tokens were counted and a prompt was used."""
        return self is Judge.MODEL


@dataclass(frozen=True)
class Pick:
    """A selected paper, with why it was selected."""

    paper: Paper
    score: Score
    author_match: bool = False


@dataclass
class Selection:
    """One subscriber's result for one day: picks in display order, and what it cost."""

    subscriber_id: str
    day: date
    picks: list[Pick]
    listed: int  # papers in the day's listing for the subscriber's categories
    read: int  # papers the model (or local scorer) read in full
    unscored: list[str] = field(default_factory=list)
    skimmed: int = 0  # papers the skim looked at before the full read
    titled: int = 0  # papers the title pass looked at before the skim
    usage: dict[str, Usage] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. "cost cap reached"
    failure: str = ""  # why scoring cannot be trusted: then nothing is sent
    judge: Judge = Judge.MODEL
    # the first and last announcement days gathered, for a digest of more than its own day
    # (a weekly one): `day` is then the day its period is due on, which keys it everywhere
    period: tuple[date, date] | None = None

    @property
    def cost_usd(self) -> float | None:
        total = 0.0
        for u in self.usage.values():
            if u.cost_usd is None:
                return None
            total += u.cost_usd
        return total

    @property
    def tokens(self) -> int:
        return sum(u.total_tokens for u in self.usage.values())


@dataclass(frozen=True)
class Email:
    """A rendered digest: what `deliver` sends and what `--dry-run` writes to the outbox."""

    subject: str
    preheader: str
    html: str
    text: str


class Status(StrEnum):
    """How a run served one subscriber: the words of the run's summary, and the state of a
    send in the store's ledger (sending, sent, failed, unknown)."""

    SENT = "sent"
    PREVIEWED = "previewed"  # --dry-run: written to the outbox
    SKIPPED = "skipped"  # sent earlier that day
    EMPTY = "empty"  # nothing passed the cutoffs, and [sendgrid] send_empty is off
    PAUSED = "paused"  # active = false
    INVALID = "invalid"  # the profile file has errors: skipped
    FAILED = "failed"
    UNKNOWN = "unknown"  # SendGrid may have the mail: check before --force
    SENDING = "sending"  # the ledger only: a send begun and not answered, read back as unknown
    WEEKLY = "weekly"  # a weekly reader's other days: scored, and kept for their weekday

    @property
    def served(self) -> bool:
        """Whether the subscriber got what they should have (nothing, in some cases)."""
        return self not in (Status.FAILED, Status.UNKNOWN, Status.INVALID)


class SuppressionReason(StrEnum):
    """Why an address is not mailed: the SendGrid list it is on (or the server's one-click
    unsubscribe), in the run's summary. Worst first: when several apply, the first is shown."""

    SPAM_REPORT = "spam report"
    BOUNCED = "bounced"
    INVALID_EMAIL = "invalid email"
    BLOCKED = "blocked"
    UNSUBSCRIBED = "unsubscribed"

    @property
    def served(self) -> bool:
        """Always: not mailing them is what they asked for, or all that can be done."""
        return True


class Vote(StrEnum):
    """A reader's 👍 or 👎 on a paper, as links carry it and the store keeps it."""

    UP = "up"
    DOWN = "down"


class VoteSource(StrEnum):
    """Where a stored vote came from."""

    LINK = "link"  # the email's 👍 or 👎, through `newsletter serve`
    HAND = "hand"  # `newsletter subscribers like` or `dislike`
    PROFILE = "profile"  # the profile file's `liked` and `disliked` lists


# -- a digest as saved: the .json preview, and the store's record that the archive reads ----


class SavedPick(BaseModel):
    id: str
    title: str
    authors: list[str]
    url: str
    author_match: bool
    relevance: int | None  # None for an author match: chosen without scores
    novelty: int | None
    comment: str
    primary_category: str = ""
    announce_type: str = "new"


class SavedUsage(BaseModel):
    model: str
    requests: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    cost_usd: float | None


class Totals(BaseModel):
    """The funnel's counts, named as in Selection."""

    listed: int
    # "scanned" in the records of releases before the funnel's counts had one name each
    read: int = Field(validation_alias=AliasChoices("read", "scanned"))
    relevant: int
    skimmed: int = 0  # records before these two fields tell no funnel
    titled: int = 0


class Reader(BaseModel):
    """The profile as it was on the day, as far as a digest's page needs it."""

    name: str
    categories: list[str]
    authors: list[str]
    model: str


class SavedDigest(BaseModel):
    """One digest's selection, as written to the outbox and the store and read back by the
    archive. Abstracts are not kept: they are in the store's papers table."""

    day: date
    subscriber_id: str
    subject: str | None = None
    totals: Totals
    papers: list[SavedPick]
    unscored: list[str] = []
    usage: list[SavedUsage] = []
    notes: list[str] = []
    reader: Reader | None = None
    judge: Judge = Judge.MODEL  # records before `by_model` were all scored by a model
    period: tuple[date, date] | None = None  # a weekly digest's days (Selection.period)

    @model_validator(mode="before")
    @classmethod
    def _judge_of_earlier_records(cls, data: object) -> object:
        """Releases before `judge` saved `by_model`, false for the local scorer."""
        if isinstance(data, dict) and "by_model" in data and "judge" not in data:
            data = dict(data)
            data["judge"] = Judge.MODEL if data.pop("by_model") else Judge.KEYWORDS
        return data

    @classmethod
    def of(cls, selection: Selection, subject: str | None, reader: Reader | None) -> SavedDigest:
        return cls(
            day=selection.day,
            subscriber_id=selection.subscriber_id,
            subject=subject,
            totals=Totals(
                listed=selection.listed,
                read=selection.read,
                relevant=len(selection.picks),
                skimmed=selection.skimmed,
                titled=selection.titled,
            ),
            papers=[_saved_pick(k) for k in selection.picks],
            unscored=selection.unscored,
            usage=[SavedUsage(**vars(u)) for u in selection.usage.values()],
            notes=selection.notes,
            reader=reader,
            judge=selection.judge,
            period=selection.period,
        )

    def to_selection(self, papers: dict[str, Paper]) -> Selection:
        """The Selection again, abstracts from `papers` (a stand-in for a paper gone)."""
        return Selection(
            subscriber_id=self.subscriber_id,
            day=self.day,
            picks=[_pick(item, papers.get(item.id)) for item in self.papers],
            listed=self.totals.listed,
            read=self.totals.read,
            skimmed=self.totals.skimmed,
            titled=self.totals.titled,
            unscored=list(self.unscored),
            usage={u.model: Usage(**u.model_dump()) for u in self.usage},
            notes=list(self.notes),
            judge=self.judge,
            period=self.period,
        )


def _saved_pick(pick: Pick) -> SavedPick:
    paper, score = pick.paper, pick.score
    return SavedPick(
        id=paper.id,
        title=paper.title,
        authors=list(paper.authors),
        url=paper.abs_url,
        author_match=pick.author_match,
        relevance=None if pick.author_match else score.relevance,
        novelty=None if pick.author_match else score.novelty,
        comment=score.comment,
        primary_category=paper.primary_category,
        announce_type=paper.announce_type,
    )


def _pick(item: SavedPick, stored: Paper | None) -> Pick:
    """One paper as the digest showed it: title and authors as sent, the rest as stored."""
    paper = stored or Paper(item.id, item.title, (), "", (), "")
    paper = replace(
        paper,
        title=item.title,
        authors=tuple(item.authors),
        primary_category=item.primary_category or paper.primary_category,
        announce_type=item.announce_type,
    )
    # an author match is chosen without scores; the selection gives it 10 and 10
    relevance = 10 if item.relevance is None else item.relevance
    novelty = 10 if item.novelty is None else item.novelty
    return Pick(paper, Score(paper.id, relevance, novelty, item.comment), item.author_match)
