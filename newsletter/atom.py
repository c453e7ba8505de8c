"""A reader's picks as an Atom feed (RFC 4287): one entry per paper picked, newest day first,
with the model's comment. Served by `newsletter serve` and written by `archive build`, as
`<archive token>/feed.atom`. Its titles are in the reader's language, as their emails are."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from xml.etree import ElementTree as ET

from newsletter.i18n import ENGLISH, Language, html_lang
from newsletter.models import SavedDigest
from newsletter.text import clean  # XML forbids some characters feeds keep

NS = "http://www.w3.org/2005/Atom"
XML_NS = "http://www.w3.org/XML/1998/namespace"  # xml:lang
MAX_ENTRIES = 200


def _stamp(day: date) -> str:
    return datetime.combine(day, time(0), UTC).isoformat().replace("+00:00", "Z")


def _child(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{NS}}}{tag}", attrs)
    element.text = text
    return element


def _entry(feed: ET.Element, day: date, pick, lang: Language) -> None:
    entry = _child(feed, "entry")
    url = pick.url or f"https://arxiv.org/abs/{pick.id}"
    _child(entry, "id", f"{url}#{day.isoformat()}")
    _child(entry, "title", clean(pick.title))
    _child(entry, "updated", _stamp(day))
    _child(entry, "link", href=url, rel="alternate")
    for name in pick.authors[:20]:
        _child(_child(entry, "author"), "name", clean(name))
    summary = clean(pick.comment) or lang.gettext("By an author you follow.")
    _child(entry, "summary", summary, type="text")


def feed_url(base_url: str | None, token: str) -> str:
    """Where a reader's feed is published; without a base URL, an id that names it."""
    return f"{base_url}/{token}/feed.atom" if base_url else f"urn:newsletter:feed:{token}"


def feed(digests: list[SavedDigest], url: str, lang: Language = ENGLISH) -> str:
    """The feed of one reader's digests, published at `url` (see feed_url), in their language."""
    digests = sorted(digests, key=lambda d: d.day, reverse=True)
    root = ET.Element(f"{{{NS}}}feed")
    root.set(f"{{{XML_NS}}}lang", html_lang(lang.code))  # what the feed's titles are in
    _child(root, "id", url)
    _child(root, "title", lang.gettext("arXiv digest: your picks"))
    _child(root, "updated", _stamp(digests[0].day) if digests else _stamp(date(2000, 1, 1)))
    _child(_child(root, "author"), "name", lang.gettext("arXiv digest"))
    if url.startswith("http"):
        _child(root, "link", href=url, rel="self")
    count = 0
    for digest in digests:
        for pick in digest.papers:
            if count < MAX_ENTRIES:
                _entry(root, digest.day, pick, lang)
                count += 1
    ET.register_namespace("", NS)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
