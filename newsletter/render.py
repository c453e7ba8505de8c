"""Render: one subscriber's Selection becomes the Email they read (HTML and plain text).

Jinja2 writes MJML (templates/digest.mjml.j2) and mjml2html turns it into responsive HTML.
The CSS that MJML cannot inline (the raw HTML inside mj-text) is inlined by premailer into the
partials (templates/*.html.j2) once, when they are loaded, rather than into every email: on a
finished 55-paper digest premailer takes tens of times as long as mjml2html, and since the
partials' structure is static the result is the same. Dark mode and small screens are @media
rules in the head, aimed at the classes the partials keep.

Gmail clips messages over ~102 KB and hides what follows, the footer included. MJML copies the
HTML inside mj-text through unchanged, so only the skeleton (all but the contents and the
cards) goes through mjml2html, and the cards, measured before they are made, are fitted into the
bytes it leaves: the lowest-ranked papers lose their abstract text first, then all but their
title. A card is its template's markup for the paper's shape, rendered once per shape, with
the paper's escaped values filled in. Everything interpolated is escaped; links keep only
http(s).
"""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import jinja2
import premailer
from lxml import etree
from markupsafe import Markup, escape
from mjml import mjml2html

from newsletter.config import Config
from newsletter.models import Email, Selection
from newsletter.profiles import Profile
from newsletter.prompt import truncate
from newsletter.templating import TEMPLATES_DIR
from newsletter.views import SHORT_ABSTRACT, Author, Digest, PaperView, build_digest, shortened

FONT_STACK = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
# Hidden filler after the preview text, so inboxes do not show the body's first words there.
PREVIEW_PAD = Markup("&#847;&zwnj;&nbsp;" * 24)

INLINE_CSS = "digest_inline_css.j2"
_ROOT_ID = "inline-root"
_JINJA_TOKEN = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
# A line break (and its indentation) touching a tag or a block tag is layout, not content.
_LAYOUT_BREAK = re.compile(r"(?:(?<=>)|(?<=%\}))\n[ \t]*|\n[ \t]*(?=<|\{%)")
_STYLE_ATTR = re.compile(r'style="[^"]*"')


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


@cache  # called for every frame and stencil: the template lookup is not free
def blocks() -> Any:
    """The macros of digest_blocks.html.j2, callable from Python (each returns Markup)."""
    return environment().get_template("digest_blocks.html.j2").module


# --- HTML within the size budget ------------------------------------------------------------


def nbytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


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


# Where the contents and the cards go in the skeleton: comments, which MJML keeps as they are.
TOC_SLOT, CARDS_SLOT = "<!--digest-contents-->", "<!--digest-cards-->"

# --- the papers' pieces, from stencils --------------------------------------------------------

HOLE = "\x00"  # around a value's number in a stencil; escape() leaves it as it is
VALUES = ("n", "id", "title", "url", "pdf_url", "category", "abstract", "comment", "relevance",
          "novelty")  # fmt: skip
FLAGS = ("cross", "author_match", "short", "r_level", "n_level", "et_al")
MAX_SHAPES = 2048  # shapes whose stencils are kept; past that, the cache starts over
ABSTRACT = VALUES.index("abstract")
# stencils by shape, then by form (None: that form of that shape is rendered through Jinja)
_stencils: dict[tuple, dict[str, Stencil | None]] = {}
_values = operator.attrgetter(*VALUES)
_flags = operator.attrgetter(*FLAGS)


@dataclass(slots=True)
class Prepared:
    """A paper as its pieces need it: the stencils of its shape (what a piece's markup may
    depend on besides the values it shows), and its values (VALUES, then each author's name
    and separator) escaped once for every piece, with their sizes in bytes. The abstract,
    most of the bytes, is measured at once but escaped only if a piece shows it."""

    escaped: list[str]  # the abstract's is "" until `values()`
    sizes: list[int]
    abstract: str
    stencils: dict[str, Stencil | None]  # the shape's, by form, as they are made

    def values(self) -> list[str]:
        if self.abstract and not self.escaped[ABSTRACT]:
            self.escaped[ABSTRACT] = str(escape(self.abstract))
        return self.escaped


_GROWS = (("&", 4), ('"', 4), ("'", 4), ("<", 3), (">", 3))  # &amp; &#34; &#39; &lt; &gt;


def escaped_size(text: str) -> int:
    """nbytes(escape(text)), without escaping."""
    size = nbytes(text)
    for char, grows in _GROWS:
        if char in text:  # a fast scan; most text holds few of these, if any
            size += grows * text.count(char)
    return size


def prepare(paper: PaperView) -> Prepared:
    values = _values(paper)
    names = [text for a in paper.authors for text in (a.name, a.sep)]
    shape = (
        *_flags(paper),
        *map(operator.not_, values),
        *(a.me for a in paper.authors),
        *map(operator.not_, names),
    )
    texts = [*map(str, values), *names]
    abstract, texts[ABSTRACT] = texts[ABSTRACT], ""
    # one escape() over all the values: a call per value would cost more than the rest
    joined = str(escape(HOLE.join(texts)))
    escaped = joined.split(HOLE)
    if len(escaped) != len(texts):  # a value holding a HOLE of its own
        escaped = [str(escape(text)) for text in texts]
    sizes = list(map(len if joined.isascii() else nbytes, escaped))
    sizes[ABSTRACT] = escaped_size(abstract)
    stencils = _stencils.get(shape)
    if stencils is None:
        if len(_stencils) >= MAX_SHAPES:
            _stencils.clear()
        stencils = _stencils[shape] = {}
    return Prepared(escaped, sizes, abstract, stencils)


@dataclass(frozen=True, slots=True)
class Stencil:
    """A piece's markup for one shape of paper, split around the places of its values."""

    literals: tuple[str, ...]  # one more than places
    places: tuple[int, ...]  # which of the prepared values goes in each place
    literal_bytes: int
    shows_abstract: bool
    pick: Callable[[list], tuple]  # the items of a list at `places`, as a tuple

    def fill(self, escaped: list[str]) -> str:
        out = [""] * (2 * len(self.places) + 1)
        out[0::2] = self.literals
        out[1::2] = self.pick(escaped)
        return "".join(out)

    def size(self, sizes: list[int]) -> int:
        """Bytes of `fill`, without filling."""
        return self.literal_bytes + sum(self.pick(sizes))


def picker(places: tuple[int, ...]) -> Callable[[list], tuple]:
    """What gives a list's items at `places`, as a tuple."""
    if len(places) > 1:
        return operator.itemgetter(*places)  # a tuple only from two places up
    return lambda items: tuple(items[k] for k in places)


def hole(k: int) -> str:
    return f"{HOLE}{k}{HOLE}"


def make_stencil(paper: PaperView, form: str) -> Stencil | None:
    """The piece rendered with a numbered hole for each non-empty value of `paper`; None when
    the template does more with a value than write it (then each paper is rendered whole)."""
    holes = {name: hole(k) for k, name in enumerate(VALUES) if getattr(paper, name)}
    first = len(VALUES)
    authors = tuple(
        Author(hole(k) if a.name else "", a.me, hole(k + 1) if a.sep else "")
        for k, a in zip(range(first, first + 2 * len(paper.authors), 2), paper.authors, strict=True)
    )
    try:
        text = str(blocks().piece(replace(paper, authors=authors, **holes), form))
    except (TypeError, ValueError, jinja2.TemplateError):
        return None
    parts = text.split(HOLE)
    numbers = parts[1::2]
    count = first + 2 * len(authors)
    if len(parts) % 2 == 0 or not all(n.isdigit() and int(n) < count for n in numbers):
        return None
    literals = tuple(parts[0::2])
    places = tuple(int(n) for n in numbers)
    literal_bytes = sum(map(nbytes, literals))
    return Stencil(literals, places, literal_bytes, ABSTRACT in places, picker(places))


def stencil_for(paper: PaperView, form: str, prepared: Prepared) -> Stencil | None:
    stencils = prepared.stencils
    if form not in stencils:
        stencils[form] = make_stencil(paper, form)
    return stencils[form]


def piece_html(paper: PaperView, form: str, prepared: Prepared) -> str:
    """The paper's line in the contents (form "toc"), its title-only row ("title") or its
    card (anything else), from the stencil of its shape (`prepared`: `prepare(paper)`)."""
    stencil = stencil_for(paper, form, prepared)
    if stencil is None:
        return str(blocks().piece(paper, form))
    return stencil.fill(prepared.values() if stencil.shows_abstract else prepared.escaped)


def piece_size(paper: PaperView, form: str, prepared: Prepared) -> int:
    """The bytes of `piece_html`, counted without rendering where a stencil can say."""
    stencil = stencil_for(paper, form, prepared)
    if stencil is None:
        return nbytes(piece_html(paper, form, prepared))
    return stencil.size(prepared.sizes)


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
    card whole ("full"), shortened ("short"), or as a title-only row at the end ("title",
    then out of the contents). Each piece is measured, and rendered, once, when first needed."""

    FORMS = ("full", "short", "title", "toc")

    def __init__(self, papers: list[PaperView]):
        self.papers = papers
        self.prepared = [prepare(paper) for paper in papers]  # every form needs them all
        self._html: dict[tuple[int, str], str] = {}
        self._sizes = {form: [-1] * len(papers) for form in self.FORMS}  # -1: not measured
        self._frames: dict[tuple[int, int], tuple[str, str, str]] = {}

    def html(self, i: int, form: str) -> str:
        """Form "toc" is the paper's line in the contents; the others are its card."""
        key = (i, form)
        if key not in self._html:
            paper = self.papers[i]
            if form == "short":
                short = shortened(paper)
                self._html[key] = piece_html(short, form, prepare(short))
            else:
                self._html[key] = piece_html(paper, form, self.prepared[i])
        return self._html[key]

    def size(self, i: int, form: str) -> int:
        """Bytes of `html(i, form)`, measured without rendering it where a stencil can say."""
        sizes = self._sizes[form]
        if sizes[i] < 0:
            if form == "short":
                sizes[i] = self.short_size(i)
            else:
                sizes[i] = piece_size(self.papers[i], form, self.prepared[i])
        return sizes[i]

    def short_size(self, i: int) -> int:
        """A shortened card differs from the whole one only in its abstract and the mark."""
        abstract = self.papers[i].abstract
        cut = truncate(abstract, SHORT_ABSTRACT)
        if cut == abstract:
            return self.size(i, "full")
        text_bytes = escaped_size(cut) - self.prepared[i].sizes[ABSTRACT]
        return self.size(i, "full") + text_bytes + cut_mark_bytes()

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


def fit_cards(cards: Cards, room: int | None) -> tuple[str, str]:
    """The first mix of forms along `degrade_steps` that fits in `room` bytes (None: no
    limit); past every step, the last title-only rows give way to a count of what was left
    out."""
    n = len(cards.papers)
    forms = ["full"] * n
    if room is None:
        return cards.join(forms)
    size = cards.size_of(forms)
    if size <= room:
        return cards.join(forms)
    # The title rows' frame only grows with the digits of its count: bound it by the largest.
    frame = 0
    for i, form in degrade_steps(n):
        if size + frame <= room:
            return cards.join(forms)
        size += cards.size(i, form) - cards.size(i, forms[i])
        if form == "title":
            size -= cards.size(i, "toc")
            frame = frame or cards.frame_size(n)
        forms[i] = form
    while forms and cards.size_of(forms, n - len(forms)) > room:
        forms.pop()
    return cards.join(forms, n - len(forms))


def render_html(digest: Digest, max_bytes: int | None) -> str:
    """The digest's HTML in at most `max_bytes` (UTF-8; None: no limit), unless the rest of
    the page alone is over.

    MJML copies the HTML inside mj-text through unchanged, so only the skeleton (everything
    but the contents and the cards) goes through mjml2html, with a comment in the place of
    each; the cards, measured before they are rendered, are fitted into the bytes the skeleton
    leaves and put in those places. The page is the one mjml2html would make of the whole.
    """
    if not digest.papers:
        return to_html(render_mjml(digest))
    skeleton = to_html(render_mjml(digest, TOC_SLOT, CARDS_SLOT))
    head, toc_slot, rest = skeleton.partition(TOC_SLOT)
    middle, cards_slot, tail = rest.partition(CARDS_SLOT)
    if not (toc_slot and cards_slot) or TOC_SLOT in rest or CARDS_SLOT in tail:
        raise RuntimeError("mjml2html did not keep the digest's placeholders: see render.py")
    room = None
    if max_bytes is not None:
        room = max_bytes - nbytes(head) - nbytes(middle) - nbytes(tail)
    toc, cards = fit_cards(Cards(digest.papers), room)
    return "".join((head, toc, middle, cards, tail))


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
