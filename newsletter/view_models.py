"""What the templates show: frozen values, read by Jinja as attributes.

`views` builds a digest's values from a Selection, and `archive` a month's and a reader's
index; nothing here is escaped, as the templates escape every value they write.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- a digest ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Author:
    name: str
    me: bool  # one of the subscriber's followed authors
    sep: str = ", "  # what follows the name in the list


@dataclass(frozen=True, slots=True)
class PaperView:
    """One pick as the templates show it: text cleaned, scores graded, links made safe."""

    n: int
    id: str
    title: str
    url: str
    pdf_url: str
    category: str
    cross: bool
    authors: tuple[Author, ...]
    et_al: bool
    abstract: str
    comment: str
    relevance: int
    novelty: int | None  # None: nothing judged it (the local scorer)
    r_level: str
    n_level: str
    author_match: bool
    short: bool = False
    vote_up: str = ""  # the signed 👍 and 👎 links, when the server is reachable
    vote_down: str = ""


@dataclass(frozen=True)
class Header:
    """The top of the digest: the day, the greeting and the funnel's counts, formatted."""

    categories: str
    date: str
    greeting: str
    listed: str
    read: str
    read_label: str  # "read in full", or "scored" by the local scorer, which reads nothing
    relevant: str
    empty_text: str  # what a day (or a week) without picks says
    weekly: bool = False  # a digest of several days (newsletter.rhythm)
    view_url: str = ""  # the archive's page of the digest, when there is one
    feed_url: str = ""


@dataclass(frozen=True)
class UsageRow:
    model: str
    requests: str
    prompt: str
    cached: str
    completion: str
    total: str
    cost: str


@dataclass(frozen=True)
class Spend:
    """What scoring cost, and what it could not do."""

    rows: tuple[UsageRow, ...]
    notes: tuple[str, ...]
    unscored: str  # a sentence when papers could not be scored, else ""


@dataclass(frozen=True)
class PromptLine:
    text: str
    heading: bool  # a Markdown heading, shown as a heading without its marks


@dataclass(frozen=True)
class HowChosen:
    """How the papers were chosen: the funnel told, and the prompt as a reader sees it."""

    intro: str
    text: str = ""  # the prompt for the plain-text part ("" for the local scorer)
    lines: tuple[tuple[PromptLine, ...], ...] = ()  # the prompt reflowed, by paragraph


@dataclass(frozen=True)
class Footer:
    """What the reader can do from their inbox: vote, ask for other topics, leave."""

    email: str
    votes: bool
    help_url: str
    unsubscribe_url: str
    preferences_url: str


@dataclass(frozen=True)
class Digest:
    """Everything the templates show, except the pre-rendered cards."""

    subject: str
    preheader: str
    header: Header
    papers: list[PaperView]
    usage: Spend
    prompt: HowChosen | None  # None: no prompt section (an archive page of a gone profile)
    footer: Footer | None  # None: a web page, which is nobody's inbox
    top: str = ""  # HTML above the header (an archive page's navigation); else "View in browser"
    lang: str = "en"  # the reader's language (newsletter.i18n): the templates' words


# -- the archive's month and index pages ------------------------------------------------------


@dataclass(frozen=True)
class TopPaper:
    """One of a day's first papers, on its month's page."""

    n: int  # its number in the digest: the day page's `#paper-N`
    title: str
    author_match: bool
    relevance: int | None  # None for an author match: chosen without scores
    novelty: int | None  # None also when the local scorer judged it


@dataclass(frozen=True)
class DayEntry:
    """A day with a digest, as a month's page (or the latest, on the reader's index) lists it."""

    href: str
    date: str
    summary: str = ""
    top: tuple[TopPaper, ...] = ()


@dataclass(frozen=True)
class MonthEntry:
    href: str
    name: str
    summary: str
