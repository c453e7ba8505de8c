"""Plain data passed between the pipeline's stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


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
    scanned: int  # papers the model (or local scorer) actually judged on their abstract
    unscored: list[str] = field(default_factory=list)
    usage: dict[str, Usage] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. "cost cap reached"

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
