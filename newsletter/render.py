"""Render: one subscriber's Selection becomes the Email they read (HTML and plain text).

Jinja2 writes MJML (templates/digest.mjml.j2), with the table of contents and the paper cards
rendered by the macros of templates/digest_blocks.html.j2, and mjml2html turns it into
responsive HTML. The CSS that MJML cannot inline (the raw HTML inside mj-text) is inlined into
the partials (templates/*.html.j2) once, when they are loaded (`templating.email_templates`).
Dark mode and small screens are
@media rules in the head, aimed at the classes the partials keep.

Gmail clips messages over ~102 KB and hides what follows, the footer included. MJML copies the
HTML inside mj-text through unchanged (but for backslashes and unprintable characters inside
attributes, which views.safe_url keeps out of links), so the cards are rendered and measured
first and fitted into the bytes the rest of the page leaves: the lowest-ranked papers lose their
abstract text first, then all but their title. Everything interpolated is escaped; links keep
only http(s).

The bytes counted are those Gmail receives. With `[sendgrid] click_tracking` on, SendGrid
rewrites every web link through its redirector and adds an open-tracking image, so each link
is counted at the length of a tracked link (`TRACKED_LINK_CHARS`) and the image is set aside.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import cache
from typing import Any

from markupsafe import Markup
from mjml import mjml2html

from newsletter import templating
from newsletter.config import Config
from newsletter.models import Email, Selection
from newsletter.profiles import Profile
from newsletter.templating import FONT_STACK
from newsletter.view_models import Digest, PaperView
from newsletter.views import build_digest, shortened

# Hidden filler after the preview text, so inboxes do not show the body's first words there.
PREVIEW_PAD = Markup("&#847;&zwnj;&nbsp;" * 24)

# Click tracking rewrites every link but in-page anchors and mailto: to a redirect about this
# long; open tracking adds an image tag about this long.
TRACKED_LINK_CHARS = 150
OPEN_PIXEL_BYTES = 500
_TRACKED_HREF = re.compile(r'href="(?!#|mailto:)([^"]*)"')


# --- templates -------------------------------------------------------------------------------


@cache
def blocks(lang: str = "en") -> Any:
    """The macros of digest_blocks.html.j2 in a reader's language, callable from Python (each
    returns Markup)."""
    return templating.email_templates(lang).get_template("digest_blocks.html.j2").module


# --- HTML within the size budget ------------------------------------------------------------


def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def tracked_bytes(text: str) -> int:
    """The bytes of `text` once click tracking has rewritten its links."""
    growth = sum(max(0, TRACKED_LINK_CHARS - len(m[1])) for m in _TRACKED_HREF.finditer(text))
    return nbytes(text) + growth


Measure = Callable[[str], int]


def render_mjml(digest: Digest, toc_html: str = "", cards_html: str = "") -> str:
    return templating.render_template(
        templating.email_templates(digest.lang),
        "digest.mjml.j2",
        subject=digest.subject,
        preheader=digest.preheader,
        preview_pad=PREVIEW_PAD,
        font_stack=FONT_STACK,
        has_papers=bool(digest.papers),
        header=digest.header,
        top_html=Markup(digest.top),
        toc_html=Markup(toc_html),
        cards_html=Markup(cards_html),
        usage=digest.usage,
        prompt=digest.prompt,
        footer=digest.footer,
    )


def to_html(mjml: str) -> str:
    html = mjml2html(mjml, fonts={})
    return html if html[:9].lower() == "<!doctype" else "<!doctype html>" + html


class Cards:
    """The table of contents and the paper cards, in the forms a budget may ask for: each
    card whole ("full"), shortened ("short"), or as a title-only row at the end ("title",
    then out of the contents). Each piece is rendered once, when first needed."""

    def __init__(self, papers: list[PaperView], measure: Measure = nbytes, lang: str = "en"):
        self.papers = papers
        self.measure = measure
        self.lang = lang
        self._html: dict[tuple[int, str], str] = {}
        self._frames: dict[tuple[int, int], tuple[str, str, str, str, str]] = {}

    def html(self, i: int, form: str) -> str:
        """Form "toc" is the paper's line in the contents; the others are its card or row."""
        key = (i, form)
        if key not in self._html:
            b, paper = blocks(self.lang), self.papers[i]
            if form == "toc":
                self._html[key] = str(b.toc_row(paper))
            elif form == "title":
                self._html[key] = str(b.more_row(paper))
            else:
                self._html[key] = str(b.card(shortened(paper) if form == "short" else paper))
        return self._html[key]

    def size(self, i: int, form: str) -> int:
        """The bytes paper i adds to the page in `form`: its card and its line in the
        contents, or its title-only row."""
        size = self.measure(self.html(i, form))
        return size if form == "title" else size + self.measure(self.html(i, "toc"))

    def frame(self, titles: int, omitted: int = 0) -> tuple[str, str, str, str, str]:
        """What goes around the pieces: the contents' opening, its line pointing to the
        title-only rows, its end; what opens those rows, and what closes them."""
        key = (titles, omitted)
        if key not in self._frames:
            b, more = blocks(self.lang), titles + omitted
            toc_more = more_open = more_close = ""
            if more:
                toc_more, more_open = b.toc_more(more), b.more_open(more)
                more_close = (b.more_omitted(omitted) if omitted else "") + b.more_close()
            opened, closed = str(b.toc_open()), str(b.toc_close())  # plain str, not Markup
            self._frames[key] = (opened, str(toc_more), closed, str(more_open), str(more_close))
        return self._frames[key]

    def frame_size(self, titles: int, omitted: int = 0) -> int:
        return sum(map(self.measure, self.frame(titles, omitted)))

    def join(self, forms: list[str], omitted: int = 0) -> tuple[str, str]:
        """The table of contents and the cards, for the given form of each card."""
        toc_open, toc_more, toc_close, more_open, more_close = self.frame(
            forms.count("title"), omitted
        )
        shown = [i for i, f in enumerate(forms) if f != "title"]
        toc = "".join(self.html(i, "toc") for i in shown)
        cards = "".join(self.html(i, forms[i]) for i in shown)
        rows = "".join(self.html(i, f) for i, f in enumerate(forms) if f == "title")
        return toc_open + toc + toc_more + toc_close, cards + more_open + rows + more_close


def degrade_steps(count: int) -> Iterator[tuple[int, str]]:
    """The order in which cards give up bytes: the lower half of the list is shortened from
    the bottom up, then listed by title from the bottom up; then the same for the lower half
    of what is left, and so on, so the best papers keep their abstracts longest."""
    end = count
    while end > 0:
        mid = end // 2
        yield from ((i, "short") for i in reversed(range(mid, end)))
        yield from ((i, "title") for i in reversed(range(mid, end)))
        end = mid


def fit_cards(cards: Cards, room: int | None) -> tuple[list[str], int]:
    """The first mix of forms along `degrade_steps` that fits in `room` bytes (None: no
    limit), and how many papers were left out: past every step, the last title-only rows
    give way to a count of what was left out."""
    n = len(cards.papers)
    forms = ["full"] * n
    if room is None:
        return forms, 0
    pieces = sum(cards.size(i, "full") for i in range(n))
    for i, form in degrade_steps(n):
        if pieces + cards.frame_size(forms.count("title")) <= room:
            return forms, 0
        pieces += cards.size(i, form) - cards.size(i, forms[i])
        forms[i] = form
    # every paper is a title-only row now
    while forms and pieces + cards.frame_size(len(forms), n - len(forms)) > room:
        pieces -= cards.size(len(forms) - 1, "title")
        forms.pop()
    return forms, n - len(forms)


def render_html(digest: Digest, max_bytes: int | None, *, tracked: bool = False) -> str:
    """The digest's HTML in at most `max_bytes` (UTF-8; None: no limit) as it reaches the
    inbox, with its links rewritten when `tracked`, unless the rest of the page alone is over.

    MJML copies the HTML inside mj-text through unchanged, so the page's bytes are those of
    the page without contents or cards, plus those of the pieces put in it.
    """
    return fitted_html(digest, max_bytes, tracked=tracked)[0]


def fitted_html(
    digest: Digest, max_bytes: int | None, *, tracked: bool = False
) -> tuple[str, list[str], int]:
    """`render_html`, with the form each paper took and how many were left out."""
    if not digest.papers:
        return to_html(render_mjml(digest)), [], 0
    measure = tracked_bytes if tracked else nbytes
    room = None
    if max_bytes is not None:
        room = max_bytes - measure(to_html(render_mjml(digest))) - OPEN_PIXEL_BYTES * tracked
    cards = Cards(digest.papers, measure, digest.lang)
    forms, omitted = fit_cards(cards, room)
    return to_html(render_mjml(digest, *cards.join(forms, omitted))), forms, omitted


def render_text(digest: Digest, forms: list[str] | None = None, omitted: int = 0) -> str:
    """The text/plain part, with each paper in the form the HTML gave it (`forms`; None:
    every one whole): a shortened abstract, or none for a title-only row, so that the text
    part is no larger than the HTML it stands in for."""
    papers = digest.papers
    if forms is not None:
        papers = [
            shortened(v) if form == "short" else replace(v, abstract="") if form == "title" else v
            for v, form in zip(digest.papers, forms, strict=False)
        ]
    return templating.render_template(
        templating.email_templates(digest.lang),
        "digest.txt.j2",
        header=digest.header,
        papers=papers,
        omitted=omitted,
        usage=digest.usage,
        prompt=digest.prompt,
        footer=digest.footer,
    )


def render_email(
    selection: Selection,
    profile: Profile,
    config: Config,
    *,
    prompt_text: str,
    view_url: str | None = None,
) -> Email:
    """The digest email: subject, preheader, HTML within config.output.max_html_bytes, text.
    With `view_url`, both parts link to the digest's page in the web archive."""
    digest = build_digest(selection, profile, config, prompt_text, view_url)
    html, forms, omitted = fitted_html(
        digest, config.output.max_html_bytes, tracked=config.sendgrid.click_tracking
    )
    return Email(
        subject=digest.subject,
        preheader=digest.preheader,
        html=html,
        text=render_text(digest, forms, omitted),
    )
