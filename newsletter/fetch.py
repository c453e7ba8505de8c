"""The fetch stage: one announcement day of arXiv papers, as a Listing, saved in the store.

Three sources, one result:

- the daily RSS listing (`https://rss.arxiv.org/rss/cs.LG+stat.ML`), fetched live, here;
- a saved copy of such a listing (`--feed FILE`), for offline runs and demos, here;
- the arXiv API (`--date YYYY-MM-DD`), to rebuild a past day the RSS no longer shows
  (`newsletter.backfill`).

The RSS keeps `new` and `cross` items and drops replacements (`replace`, `replace-cross`):
a digest is about papers announced for the first time. The day is the listing's own
`pubDate`, never the machine's clock. A listing without items is a normal day (weekend or
holiday); a body that is not a complete RSS document is an error, never an empty day.

Titles, authors and abstracts come out the same from the RSS and the API. The RSS description
is plain text, not HTML: arXiv writes `arXiv:ID Announce Type: new \nAbstract: ` and the
abstract as submitted, XML-escaped once, so after XML decoding a `<`, `>` or `&` in it is the
author's (`k<n`, `<EOS>`) and is kept. Only whitespace is collapsed. Titles and abstracts keep
their LaTeX as submitted: the model reads it (see `newsletter.text`), and the views convert
it for the reader. Author names are converted here, since followed authors are matched on them.

The listing comes over `requests`, the HTTP stack the arxiv package uses too, retried by
`newsletter.retry`: a timeout, a dropped connection, HTTP 429 or 5xx, and a body cut short or
not a complete document are tried again; a host that will not resolve is not (no network).
"""

from __future__ import annotations

import logging
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date
from email.utils import parsedate_to_datetime
from pathlib import Path

import requests

from newsletter import __version__, arxiv_id, unreachable
from newsletter.backfill import fetch_backfill
from newsletter.config import ArxivConfig
from newsletter.errors import FetchError
from newsletter.models import Listing, Paper
from newsletter.retry import Retryable, RetryPolicy, retryable_answer
from newsletter.store import Store
from newsletter.text import author_name, normalise_space

log = logging.getLogger(__name__)

ARXIV_NS = "{http://arxiv.org/schemas/atom}"
DC_NS = "{http://purl.org/dc/elements/1.1/}"
KEPT_TYPES = ("new", "cross")
USER_AGENT = f"newsletter/{__version__} (daily arXiv digest)"

_DESCRIPTION = re.compile(
    r"^\s*arXiv:(?P<ref>\S+)\s+Announce Type:\s*(?P<type>[\w-]+)"
    r"\s*(?:Abstract:\s*)?(?P<abstract>.*)$",
    re.DOTALL,
)
_NAME_SUFFIX = re.compile(r"^(?:Jr|Sr|II|III|IV)\.?$", re.IGNORECASE)
# where names part: a comma or "and", but not inside an affiliation "(Physics and Astronomy, UCL)"
_SEPARATOR = re.compile(r",?\s+and\s+|,|[()]")


class _BadFeed(Exception):
    """The body is not a complete arXiv RSS document."""


# -- authors -------------------------------------------------------------------------------


def split_authors(creator: str) -> tuple[str, ...]:
    """'A, B and C' / 'A, B, and C' / 'A and B' -> names; 'Jr.' stays with its name."""
    names: list[str] = []
    for part in _outside_parens(normalise_space(creator)):
        part = part.strip()
        if not part:
            continue
        if names and _NAME_SUFFIX.match(part):
            names[-1] = f"{names[-1]}, {part}"
        else:
            names.append(part)
    return tuple(author_name(n) for n in names)


def _outside_parens(text: str) -> list[str]:
    """`text` cut at each separator that no parenthesis encloses, in one pass."""
    parts, start, depth = [], 0, 0
    for found in _SEPARATOR.finditer(text):
        mark = found.group()
        if mark in "()":
            depth = depth + 1 if mark == "(" else max(depth - 1, 0)
        elif depth == 0:
            parts.append(text[start : found.start()])
            start = found.end()
    return [*parts, text[start:]]


# -- RSS -----------------------------------------------------------------------------------


def rss_url(config: ArxivConfig, categories: Iterable[str]) -> str:
    cats = sorted(set(categories))
    if not cats:
        raise FetchError("no arXiv categories to fetch")
    return config.rss_url.rstrip("/") + "/" + "+".join(cats)


def _item_paper(item: ET.Element) -> Paper | None:
    description = item.findtext("description") or ""
    match = _DESCRIPTION.match(description)
    if match and (found := arxiv_id.versioned(match["ref"])):
        (pid, version), abstract, kind = found, match["abstract"], match["type"]
    else:
        found = arxiv_id.versioned(item.findtext("guid") or item.findtext("link") or "")
        if not found:
            log.warning("skipping an RSS item without an arXiv id: %r", item.findtext("title"))
            return None
        (pid, version), abstract, kind = found, description, "new"
    kind = (item.findtext(f"{ARXIV_NS}announce_type") or kind).strip().lower()
    categories = [c.text.strip() for c in item.findall("category") if c.text and c.text.strip()]
    return Paper(
        id=pid,
        title=normalise_space(item.findtext("title") or ""),
        authors=split_authors(item.findtext(f"{DC_NS}creator") or ""),
        abstract=normalise_space(abstract),
        categories=tuple(categories),
        primary_category=categories[0] if categories else "",
        announce_type=kind,
        version=version,
    )


def _merge(papers: Iterable[Paper]) -> list[Paper]:
    """One paper per id: a paper listed under two categories is one paper in both."""
    merged: dict[str, Paper] = {}
    for paper in papers:
        seen = merged.setdefault(paper.id, paper)
        if seen is not paper:
            extra = tuple(c for c in paper.categories if c not in seen.categories)
            kind = paper.announce_type
            if kind != "new" and seen.announce_type in KEPT_TYPES:
                kind = seen.announce_type
            merged[paper.id] = replace(seen, categories=seen.categories + extra, announce_type=kind)
    return list(merged.values())


def _listing_day(channel: ET.Element) -> date:
    for tag in ("pubDate", "lastBuildDate"):
        stamp = (channel.findtext(tag) or "").strip()
        if stamp:
            try:
                return parsedate_to_datetime(stamp).date()
            except (TypeError, ValueError):
                raise _BadFeed(f"unreadable <{tag}> {stamp!r}") from None
    raise _BadFeed("the channel has no <pubDate>")


def _parse(data: bytes) -> Listing:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise _BadFeed(f"not valid XML ({exc})") from None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise _BadFeed(f"not an RSS listing (root element <{root.tag}>)")
    day = _listing_day(channel)
    listed = _merge(p for item in channel.findall("item") if (p := _item_paper(item)))
    papers = [p for p in listed if p.announce_type in KEPT_TYPES]
    new = sum(p.announce_type == "new" for p in papers)
    return Listing(
        day=day,
        papers=papers,
        listed=len(listed),
        new=new,
        cross=len(papers) - new,
        dropped=len(listed) - len(papers),
    )


def parse_rss(data: bytes, *, source: str = "arXiv listing") -> Listing:
    """Parse an arXiv RSS listing; raise FetchError naming `source` if it is not one."""
    try:
        return _parse(data)
    except _BadFeed as exc:
        raise FetchError(f"{source}: {exc}") from None


def read_feed(path: Path) -> Listing:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise FetchError(f"{path}: file not found") from None
    except OSError as exc:
        raise FetchError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return parse_rss(data, source=str(path))


def _get(url: str, timeout: float) -> bytes:
    try:
        response = requests.get(url, headers={"User-Agent": USER_AGENT}, timeout=timeout)
    except requests.RequestException as exc:
        if unreachable.unresolved(exc):  # no network, or a wrong host: a retry cannot help
            raise FetchError(unreachable.message(url, unreachable.UNRESOLVED)) from None
        raise Retryable(unreachable.reason(exc, timeout)) from None
    status = response.status_code
    if not 200 <= status < 300:
        if retryable := retryable_answer(status, f"HTTP {status}", response.headers):
            raise retryable
        raise FetchError(f"arXiv listing unreachable: HTTP {status} from {url}")
    return response.content


def _get_listing(url: str, timeout: float) -> Listing:
    try:
        return _parse(_get(url, timeout))
    except _BadFeed as exc:
        raise Retryable(str(exc)) from None  # a body cut short is usually whole next time


def fetch_rss(
    config: ArxivConfig,
    categories: Iterable[str],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Listing:
    """Fetch and parse the live listing, retrying what a later try can fix."""
    url = rss_url(config, categories)
    policy = RetryPolicy.of(config, sleep)
    try:
        return policy.call(lambda: _get_listing(url, config.timeout), what="arXiv listing")
    except Retryable as exc:
        tries = policy.attempts
        why = f"{exc}, {tries} attempt{'s' * (tries > 1)}"
        raise FetchError(unreachable.message(url, why)) from None


# -- the stage -----------------------------------------------------------------------------


def fetch_day(
    config: ArxivConfig,
    store: Store,
    categories: list[str],
    *,
    feed: Path | None = None,
    day: date | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> tuple[Listing, int]:
    """Fetch one day from the chosen source and store it; return it and how many were new."""
    report = on_progress or (lambda _message: None)
    if feed is not None:
        report(f"reading {feed}")
        listing = read_feed(feed)
    elif day is not None:
        report(f"asking the arXiv API for {day} ({', '.join(sorted(set(categories)))})")
        listing = fetch_backfill(config, categories, day)
    else:
        report(f"fetching {rss_url(config, categories)}")
        listing = fetch_rss(config, categories)
    if not listing.papers:
        return listing, 0
    return listing, store.papers.save_listing(listing, categories)


def summary_line(listing: Listing, stored: int) -> str:
    if listing.listed == 0:
        return f"{listing.day}: nothing announced (weekend or holiday) · 0 stored"
    dropped = "replacement" if listing.dropped == 1 else "replacements"
    return (
        f"{listing.day}: {listing.listed} listed · {listing.new} new · {listing.cross} cross"
        f" · {listing.dropped} {dropped} dropped · {stored} stored"
    )
