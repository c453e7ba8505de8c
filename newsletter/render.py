"""Render: one subscriber's Selection becomes the Email they read (HTML and plain text).

Jinja2 writes MJML (templates/digest.mjml.j2) and mjml2html turns it into responsive HTML.
The CSS that MJML cannot inline (the raw HTML inside mj-text) is inlined by premailer into the
partials (templates/*.html.j2) once, when they are loaded, rather than into every email: on a
finished 55-paper digest premailer takes tens of times as long as mjml2html, and since the
partials' structure is static the result is the same. Dark mode and small screens are @media
rules in the head, aimed at the classes the partials keep.

Gmail clips messages over ~102 KB and hides what follows, the footer included. The paper
cards and the table of contents are rendered and measured apart from the rest (the skeleton),
so the bytes of any mix of full, shortened and title-only cards are known before the one
final mjml2html: the lowest-ranked papers lose their abstract text first, then all but their
title. Everything interpolated is escaped; links keep only http(s).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
import premailer
from lxml import etree
from markupsafe import Markup, escape
from mjml import mjml2html

from newsletter.config import TEMPLATES_DIR, Config
from newsletter.models import Email, Pick, Selection, Usage
from newsletter.profiles import Profile
from newsletter.prompt import truncate
from newsletter.select import AUTHOR_MATCH, same_author

FONT_STACK = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
MAX_AUTHORS = 8  # longer author lists show the first SHOWN_AUTHORS and "et al."
SHOWN_AUTHORS = 6
SHORT_ABSTRACT = 280  # characters kept of a shortened abstract
PREHEADER_TITLES = 3
PREHEADER_CHARS = 140
MAX_HEADER_CATEGORIES = 4
HIGH, MID = 8, 6  # score at or above which a badge is strong, medium
# Hidden filler after the preview text, so inboxes do not show the body's first words there.
PREVIEW_PAD = Markup("&#847;&zwnj;&nbsp;" * 24)

INLINE_CSS = "digest_inline_css.j2"
_ROOT_ID = "inline-root"
_JINJA_TOKEN = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
# A line break (and its indentation) touching a tag or a block tag is layout, not content.
_LAYOUT_BREAK = re.compile(r"(?:(?<=>)|(?<=%\}))\n[ \t]*|\n[ \t]*(?=<|\{%)")
_STYLE_ATTR = re.compile(r'style="[^"]*"')


@dataclass(slots=True)
class Author:
    name: str
    me: bool  # one of the subscriber's followed authors
    sep: str = ", "  # what follows the name in the list


@dataclass(slots=True)
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
    novelty: int
    r_level: str
    n_level: str
    author_match: bool
    short: bool = False


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
class Digest:
    """Everything the templates show, except the pre-rendered cards."""

    subject: str
    preheader: str
    header: dict[str, Any]
    papers: list[PaperView]
    usage: dict[str, Any]
    prompt: dict[str, str]
    footer: dict[str, str]
    top: str = ""  # HTML above the header: "View in browser", or an archive page's navigation


def safe_url(url: str) -> str:
    """The URL if it is http(s) with a host, else "#": no javascript:, data: or the like."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return url
    return "#"


def clean(text: str) -> str:
    """Feeds keep line breaks and indentation inside titles and abstracts: one line."""
    return " ".join(text.split())


def long_date(day: date) -> str:
    return f"{day:%A}, {day.day} {day:%B %Y}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def subject_line(selection: Selection, profile: Profile) -> str:
    count = len(selection.picks)
    papers = plural(count, "paper") if count else "no papers"
    return f"arXiv digest · {selection.day.isoformat()} · {papers} for {profile.first_name}"


def preheader_text(selection: Selection, papers: list[PaperView]) -> str:
    if not papers:
        return f"Nothing matched your profile today; {selection.scanned:,} papers were scanned."
    text = " · ".join(p.title for p in papers[:PREHEADER_TITLES])
    return truncate(text, PREHEADER_CHARS)


def level(score: int) -> str:
    return "hi" if score >= HIGH else "mid" if score >= MID else "lo"


def display_order(picks: list[Pick]) -> list[Pick]:
    """Author matches first; otherwise the selection's own order (best first)."""
    return [p for p in picks if p.author_match] + [p for p in picks if not p.author_match]


def author_list(names: tuple[str, ...], followed: list[str]) -> tuple[tuple[Author, ...], bool]:
    """Up to MAX_AUTHORS names; beyond that the first few, plus any followed author."""
    authors = [Author(clean(n), any(same_author(f, n) for f in followed)) for n in names]
    et_al = len(authors) > MAX_AUTHORS
    if et_al:
        authors = authors[:SHOWN_AUTHORS] + [a for a in authors[SHOWN_AUTHORS:] if a.me]
    if authors:
        authors[-1].sep = ", et al." if et_al else ""
    return tuple(authors), et_al


def paper_view(n: int, pick: Pick, followed: list[str]) -> PaperView:
    paper, score = pick.paper, pick.score
    authors, et_al = author_list(paper.authors, followed)
    comment = clean(score.comment)
    if pick.author_match and comment in ("", AUTHOR_MATCH):
        mine = ", ".join(a.name for a in authors if a.me)
        comment = f"Written by {mine}, whom you follow." if mine else "By an author you follow."
    return PaperView(
        n=n,
        id=paper.id,
        title=clean(paper.title),
        url=safe_url(paper.abs_url),
        pdf_url=safe_url(paper.pdf_url),
        category=paper.primary_category,
        cross=paper.announce_type == "cross",
        authors=authors,
        et_al=et_al,
        abstract=clean(paper.abstract),
        comment=comment,
        relevance=score.relevance,
        novelty=score.novelty,
        r_level=level(score.relevance),
        n_level=level(score.novelty),
        author_match=pick.author_match,
    )


def shortened(view: PaperView) -> PaperView:
    cut = truncate(view.abstract, SHORT_ABSTRACT)
    return view if cut == view.abstract else replace(view, abstract=cut, short=True)


def format_cost(cost: float | None) -> str:
    if cost is None:
        return "price unknown"
    return f"${cost:,.2f}" if cost >= 1 else f"${cost:.4f}"


def usage_row(u: Usage) -> UsageRow:
    return UsageRow(
        model=u.model,
        requests=plural(u.requests, "request"),
        prompt=f"{u.prompt_tokens:,}",
        cached=f"{u.cached_tokens:,}",
        completion=f"{u.completion_tokens:,}",
        total=f"{u.total_tokens:,}",
        cost=format_cost(u.cost_usd),
    )


def usage_rows(selection: Selection) -> list[UsageRow]:
    """One row per model, and their sum when there are several."""
    rows = [usage_row(u) for u in selection.usage.values()]
    if len(rows) > 1:
        total = Usage("All models")
        for u in selection.usage.values():
            total.add(u)
        rows.append(usage_row(total))
    return rows


# SendGrid substitution tags, replaced per recipient when the mail has an unsubscribe group
ASM_UNSUBSCRIBE = Markup("<%asm_group_unsubscribe_raw_url%>")
ASM_PREFERENCES = Markup("<%asm_preferences_raw_url%>")


def unsubscribe_url(config: Config, profile: Profile) -> str:
    """SendGrid's group page, else the configured URL, else a mail to the sender."""
    if config.sendgrid.unsubscribe_group_id is not None:
        return ASM_UNSUBSCRIBE
    url = config.sendgrid.unsubscribe_url_for(profile.id, profile.email)
    if url:
        return safe_url(url)
    address = config.sendgrid.unsubscribe_mailto or config.sendgrid.from_email
    return f"mailto:{quote(address.removeprefix('mailto:'), safe='@.+-_')}?subject=unsubscribe"


def header_context(selection: Selection, profile: Profile, config: Config) -> dict[str, Any]:
    cats = profile.categories_or(config.arxiv.categories)
    shown = " · ".join(cats[:MAX_HEADER_CATEGORIES])
    if len(cats) > MAX_HEADER_CATEGORIES:
        shown += f" +{len(cats) - MAX_HEADER_CATEGORIES}"
    count = len(selection.picks)
    matched = sum(p.author_match for p in selection.picks)
    if not count:
        greeting = f"Hi {profile.first_name}, a quiet day today."
    else:
        picked = "was" if count == 1 else "were"
        greeting = f"Hi {profile.first_name}, {plural(count, 'paper')} {picked} picked for you"
        greeting += f", {matched} by authors you follow." if matched else "."
    return {
        "categories": shown,
        "date": long_date(selection.day),
        "greeting": greeting,
        "listed": f"{selection.listed:,}",
        "scanned": f"{selection.scanned:,}",
        "relevant": f"{count:,}",
        "empty_text": (
            f"None of today's {selection.listed:,} papers in {', '.join(cats)} came close enough "
            f"to your profile ({selection.scanned:,} were read in full). Until tomorrow!"
        ),
    }


def build_digest(
    selection: Selection,
    profile: Profile,
    config: Config,
    prompt_text: str,
    view_url: str | None = None,
) -> Digest:
    picks = display_order(selection.picks)
    papers = [paper_view(i, p, profile.authors) for i, p in enumerate(picks, 1)]
    models = list(selection.usage) or [profile.model or config.llm.model]
    unscored = len(selection.unscored)
    profile_id = profile.id or selection.subscriber_id
    help_url = config.output.profile_help_url
    view = safe_url(view_url) if view_url else "#"
    view = "" if view == "#" else view  # no link rather than a dead one
    return Digest(
        subject=subject_line(selection, profile),
        preheader=preheader_text(selection, papers),
        header=header_context(selection, profile, config) | {"view_url": view},
        papers=papers,
        usage={
            "rows": usage_rows(selection),
            "notes": list(selection.notes),
            "unscored": (
                f"{plural(unscored, 'paper')} could not be scored today and are not included."
                if unscored
                else ""
            ),
        },
        prompt={
            "intro": (
                f"The {'model' if len(models) == 1 else 'models'} ({', '.join(models)}) read "
                "each paper's title and abstract with the prompt below and scored relevance and "
                "novelty from 1 to 10. Papers by authors you follow are always included."
            ),
            "text": prompt_text,
        },
        footer={
            "email": profile.email,
            "profile_path": f"{config.subscribers_dir.name or 'subscribers'}/{profile_id}.toml",
            "help_url": safe_url(help_url) if help_url else "",
            "unsubscribe_url": unsubscribe_url(config, profile),
            "preferences_url": (
                ASM_PREFERENCES if config.sendgrid.unsubscribe_group_id is not None else ""
            ),
        },
        top=str(blocks().view_link(view)) if view else "",
    )


# --- templates -------------------------------------------------------------------------------


def inline_css(source: str, css: str) -> str:
    """Write `css` into the style attributes of an HTML template's source, keeping its Jinja."""
    doc = etree.fromstring(
        f'<html><head></head><body><div id="{_ROOT_ID}">{source}</div></body></html>',
        etree.HTMLParser(),
    )
    premailer.Premailer(
        css_text=[css],
        allow_network=False,
        keep_style_tags=True,
        strip_important=False,
        align_floating_images=False,
        disable_basic_attributes=["bgcolor", "valign", "height", "width"],
        cssutils_logging_level=logging.CRITICAL,
    ).transform(doc)
    root = doc.find(f".//div[@id='{_ROOT_ID}']")
    html = (root.text or "") + "".join(
        etree.tostring(child, encoding="unicode", method="html") for child in root
    )
    html = _STYLE_ATTR.sub(lambda m: m.group(0).replace("; ", ";"), _LAYOUT_BREAK.sub("", html))
    if _JINJA_TOKEN.findall(html) != _JINJA_TOKEN.findall(source):
        raise ValueError("inlining CSS changed the template's Jinja tags: see the file's rules")
    return html


class InliningLoader(jinja2.FileSystemLoader):
    """Loads templates; HTML partials (*.html.j2) come with the inline CSS already applied."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Any]:
        source, filename, uptodate = super().get_source(environment, template)
        if template.endswith(".html.j2"):
            css = super().get_source(environment, INLINE_CSS)[0]
            source = inline_css(source, css)
        return source, filename, uptodate


@cache
def environment() -> jinja2.Environment:
    """MJML and HTML templates are autoescaped; the text part and the CSS are not."""
    return jinja2.Environment(
        loader=InliningLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("mjml.j2", "html.j2"), default_for_string=True, default=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


@cache  # called for every card: the template lookup alone is a tenth of an archive's build
def blocks() -> Any:
    """The macros of digest_blocks.html.j2, callable from Python (each returns Markup)."""
    return environment().get_template("digest_blocks.html.j2").module


# --- HTML within the size budget ------------------------------------------------------------


def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def render_mjml(digest: Digest, toc_html: str = "", cards_html: str = "") -> str:
    return (
        environment()
        .get_template("digest.mjml.j2")
        .render(
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
    )


@cache
def empty_card_bytes() -> int:
    """The markup of the smallest card there can be."""
    empty = PaperView(0, "", "", "", "", "", False, (), False, "", "", 0, 0, "hi", "hi", False)
    return min(nbytes(blocks().card(replace(empty, author_match=m))) for m in (False, True))


@cache
def contents_frame_bytes() -> int:
    return nbytes(blocks().toc_open()) + nbytes(blocks().toc_close())


@cache
def cut_mark_bytes() -> int:
    return nbytes(blocks().cut_mark())


def to_html(mjml: str) -> str:
    html = mjml2html(mjml, fonts={})
    has_doctype = html.lstrip()[:9].lower() == "<!doctype"  # not .lower() on the whole page
    return html if has_doctype else "<!doctype html>" + html


class Cards:
    """The table of contents and the paper cards, in the forms a budget may ask for: each
    card whole, shortened, or as a title-only row at the end (then out of the contents).
    Every piece is rendered and measured once, when first needed."""

    def __init__(self, papers: list[PaperView]):
        self.papers = papers
        self._html: dict[tuple[int, str], str] = {}
        self._size: dict[tuple[int, str], int] = {}
        self._frames: dict[tuple[int, int], tuple[str, str, str]] = {}

    def html(self, i: int, form: str) -> str:
        """Form "toc" is the paper's line in the contents; the others are its card."""
        key = (i, form)
        if key not in self._html:
            b, paper = blocks(), self.papers[i]
            if form == "toc":
                self._html[key] = str(b.toc_row(paper))
            elif form == "title":
                self._html[key] = str(b.more_row(paper))
            else:
                self._html[key] = str(b.card(shortened(paper) if form == "short" else paper))
        return self._html[key]

    def size(self, i: int, form: str) -> int:
        key = (i, form)
        if key not in self._size:
            if form == "short" and key not in self._html:
                self._size[key] = self.short_size(i)
            else:
                self._size[key] = nbytes(self.html(i, form))
        return self._size[key]

    def short_size(self, i: int) -> int:
        """A shortened card differs from the whole one only in its abstract and the mark."""
        paper = self.papers[i]
        short = shortened(paper)
        if short is paper:
            return self.size(i, "full")
        text_bytes = nbytes(escape(short.abstract)) - nbytes(escape(paper.abstract))
        return self.size(i, "full") + text_bytes + cut_mark_bytes()

    def min_bytes(self) -> int:
        """A floor under the whole cards' size: their text, and an empty card's markup each."""
        text = sum(nbytes(p.title) + nbytes(p.abstract) + nbytes(p.comment) for p in self.papers)
        return text + len(self.papers) * empty_card_bytes()

    def frame(self, titles: int, omitted: int = 0) -> tuple[str, str, str]:
        """The contents' line pointing to the title-only rows, and what opens and closes
        those rows."""
        key = (titles, omitted)
        if key not in self._frames:
            b = blocks()
            if not titles and not omitted:
                self._frames[key] = "", "", ""
            else:
                tail = str(b.more_omitted(omitted)) if omitted else ""
                self._frames[key] = (
                    str(b.toc_more(titles + omitted)),
                    str(b.more_open(titles + omitted)),
                    tail + str(b.more_close()),
                )
        return self._frames[key]

    def frame_size(self, titles: int, omitted: int = 0) -> int:
        return sum(nbytes(part) for part in self.frame(titles, omitted))

    def size_of(self, forms: list[str], omitted: int = 0) -> int:
        """Bytes of `join(forms, omitted)`, from the measured pieces."""
        pieces = sum(
            self.size(i, f) + (self.size(i, "toc") if f != "title" else 0)
            for i, f in enumerate(forms)
        )
        return contents_frame_bytes() + self.frame_size(forms.count("title"), omitted) + pieces

    def join(self, forms: list[str], omitted: int = 0) -> tuple[str, str]:
        """The table of contents and the cards, for the given form of each card."""
        b = blocks()
        more_toc, more_open, more_close = self.frame(forms.count("title"), omitted)
        toc = [self.html(i, "toc") for i, f in enumerate(forms) if f != "title"]
        cards = [self.html(i, f) for i, f in enumerate(forms) if f != "title"]
        rows = [self.html(i, f) for i, f in enumerate(forms) if f == "title"]
        toc_html = str(b.toc_open()) + "".join(toc) + more_toc + str(b.toc_close())
        return toc_html, "".join(cards) + more_open + "".join(rows) + more_close


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


def fit_cards(cards: Cards, room: int) -> tuple[str, str]:
    """The first mix of forms along `degrade_steps` that fits in `room` bytes; past every
    step, the last title-only rows give way to a count of what was left out."""
    n = len(cards.papers)
    forms = ["full"] * n
    size = cards.size_of(forms)
    # The title rows' frame only grows with the digits of its count: bound it by the largest.
    frame = 0
    for i, form in degrade_steps(n):
        if size + frame <= room:
            return cards.join(forms)
        size += cards.size(i, form) - cards.size(i, forms[i])
        if form == "title":
            size -= cards.size(i, "toc")
            frame = cards.frame_size(n)
        forms[i] = form
    while forms and cards.size_of(forms, n - len(forms)) > room:
        forms.pop()
    return cards.join(forms, n - len(forms))


def render_html(digest: Digest, max_bytes: int) -> str:
    """The digest's HTML in at most `max_bytes` (UTF-8), unless the skeleton alone is over.

    MJML copies the HTML inside mj-text through unchanged, so a document's size is its
    skeleton's (everything but the contents and the cards) plus theirs: the skeleton is
    measured once, the cards as they are rendered, and one mjml2html renders the mix that
    fits. A day that fits whole takes a single mjml2html.
    """
    if not digest.papers:
        return to_html(render_mjml(digest))
    cards = Cards(digest.papers)
    whole = ["full"] * len(digest.papers)
    if cards.min_bytes() < max_bytes:
        html = to_html(render_mjml(digest, *cards.join(whole)))
        if nbytes(html) <= max_bytes:
            return html
        skeleton = nbytes(html) - cards.size_of(whole)
    else:
        skeleton = nbytes(to_html(render_mjml(digest)))
    room = max_bytes - skeleton
    for _ in range(3):  # the sizes add up exactly; this only guards against MJML changing
        html = to_html(render_mjml(digest, *fit_cards(cards, room)))
        over = nbytes(html) - max_bytes
        if over <= 0:
            break
        room -= over
    return html


def render_text(digest: Digest) -> str:
    return (
        environment()
        .get_template("digest.txt.j2")
        .render(
            header=digest.header,
            papers=digest.papers,
            usage=digest.usage,
            prompt=digest.prompt,
            footer=digest.footer,
        )
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
    return Email(
        subject=digest.subject,
        preheader=digest.preheader,
        html=render_html(digest, config.output.max_html_bytes),
        text=render_text(digest),
    )
