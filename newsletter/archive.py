"""The web archive: every digest sent (or previewed), as a static site. `newsletter send`
updates the pages of the digests it sends when `[archive] base_url` is set (the emails link
there); `newsletter archive build` writes everyone's.

    OUT/index.html              a short note that names nobody and links to nobody's pages
    OUT/robots.txt              asks crawlers to stay out
    OUT/TOKEN/index.html        one subscriber's months, newest first
    OUT/TOKEN/2025-04.html      a month: each digest day with its top papers
    OUT/TOKEN/2025-04-10.html   a day: the digest as emailed, under a bar of
                                Previous · Monthly Overview · Next
    OUT/TOKEN/feed.atom         the picks of the digests sent (never a preview), which
                                every page of the subscriber names as its alternate

Everything is rebuilt from SQLite alone: the `digests` table (each digest's selection, the
one sent preferred over a preview), the `papers` table (the abstracts) and `archive_tokens`
(a random folder name per subscriber, so that publishing the site shows nobody's digests to
anyone without the link). A day page is the email's own HTML, rendered again by `render`
from the same templates, without the footer (its unsubscribe link and address belong to the
inbox, not the web), without the 👍/👎 links (they act for the reader: anyone with the page's
address could vote in their name) and without the size budget (a browser does not clip).

Pages carry no timestamp and only changed files are written: rebuilding an unchanged store
renders every page again and writes nothing.

A reader's pages and feed are in their profile's language (`newsletter.i18n`), as their emails
are; the site's front page, which is nobody's, is in English.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import date
from functools import partial
from itertools import groupby
from pathlib import Path
from typing import Any

from markupsafe import Markup

from newsletter import atom, render, templating, text, views
from newsletter.config import Config
from newsletter.errors import Crash, NewsletterError, contain
from newsletter.files import write_if_changed
from newsletter.i18n import ENGLISH, N_, Language, language
from newsletter.models import Hooks, Paper, SavedDigest
from newsletter.profiles import Profile, load_profiles
from newsletter.prompt import render_full_prompt
from newsletter.store import Store
from newsletter.view_models import DayEntry, MonthEntry, TopPaper

TOP_PAPERS = 3  # papers shown for each day on a month page
# Pages of the archive are unlisted, not secret: keep them out of search engines, and keep
# their address (the token) out of the Referer header sent to arXiv when a link is followed.
HEAD_META = (
    '<meta name="robots" content="noindex, nofollow"><meta name="referrer" content="no-referrer">'
)
# A reader's pages name their feed, for feed readers and browsers that look for one.
FEED_LINK = '<link rel="alternate" type="application/atom+xml" title="{}" href="feed.atom">'
ROBOTS_TXT = "User-agent: *\nDisallow: /\n"
PROMPT_NOTE = N_(
    "The prompt shown is the profile's current one; it may have changed since this day."
)


@dataclass(frozen=True)
class Link:
    label: str
    href: str = ""  # empty: shown greyed out, at either end of the archive


@dataclass
class Built:
    """What one build did."""

    subscribers: int = 0
    files: int = 0
    written: list[Path] = field(default_factory=list)
    failed: list[Crash] = field(default_factory=list)  # a subscriber's pages, each


# -- addresses --------------------------------------------------------------------------------


def day_file(day: date) -> str:
    return f"{day.isoformat()}.html"


def month_key(day: date) -> str:
    return f"{day:%Y-%m}"


def month_file(month: str) -> str:
    return f"{month}.html"


def month_name(month: str, lang: Language = ENGLISH) -> str:
    return lang.month(date.fromisoformat(month + "-01"))


def digest_date(record: SavedDigest, lang: Language = ENGLISH) -> str:
    """The day a digest was for, or the days a weekly one holds ("week of 7–11 April 2025")."""
    return lang.period_title(*record.period) if record.period else lang.long_date(record.day)


def page_url(config: Config, store: Store, subscriber_id: str, day: date) -> str | None:
    """The address of a digest's page on the published site, when `[archive] base_url` is set."""
    base = config.archive.base_url
    if not base:
        return None
    return f"{base}/{store.tokens.token(subscriber_id)}/{day_file(day)}"


# -- the reader of a saved digest ------------------------------------------------------------


def stand_in(subscriber_id: str) -> Profile:
    """A profile for a subscriber whose file is gone: their records say the rest."""
    profile = Profile.model_construct(name="reader", email="")
    profile.id = subscriber_id
    return profile


def reader_for(record: SavedDigest, profile: Profile) -> Profile:
    """The profile as it was on the day, as far as the record kept it (name, categories,
    followed authors, model); the rest from the current profile (or its stand-in)."""
    if record.reader is None:
        return profile
    return profile.model_copy(update=record.reader.model_dump())


# -- rendering --------------------------------------------------------------------------------


def render_page(name: str, lang: Language = ENGLISH, **context: Any) -> str:
    return templating.render_template(templating.page_templates(lang.code), name, **context)


def nav_html(label: str, links: tuple[Link, Link, Link], lang: Language = ENGLISH) -> str:
    return render_page("archive_nav.j2", lang, label=label, links=links)


def day_links(days: list[date], i: int, lang: Language = ENGLISH) -> tuple[Link, Link, Link]:
    """Previous · Monthly Overview · Next, among the digests, daily and weekly alike."""
    _ = lang.gettext
    return (
        Link(_("← Previous"), day_file(days[i - 1]) if i > 0 else ""),
        Link(_("Monthly Overview"), month_file(month_key(days[i]))),
        Link(_("Next →"), day_file(days[i + 1]) if i + 1 < len(days) else ""),
    )


def month_links(months: list[str], i: int, lang: Language = ENGLISH) -> tuple[Link, Link, Link]:
    """Previous month · All months · Next month, among the months that have a digest."""
    _ = lang.gettext
    before, after = Link(_("← Previous month")), Link(_("Next month →"))
    if i > 0:
        before = Link(f"← {month_name(months[i - 1], lang)}", month_file(months[i - 1]))
    if i + 1 < len(months):
        after = Link(f"{month_name(months[i + 1], lang)} →", month_file(months[i + 1]))
    return before, Link(_("All months"), "index.html"), after


def day_page(
    record: SavedDigest,
    papers: dict[str, Paper],
    reader: Profile,
    config: Config,
    prompt_text: str | None,
    links: tuple[Link, Link, Link],
) -> str:
    """The digest's HTML as emailed, with the navigation bar on top: the footer is left out,
    every card is whole, and the prompt is shown only when the profile still exists."""
    selection = record.to_selection(papers)
    lang = language(reader.language)
    digest = views.build_digest(selection, reader, config, prompt_text or "", inbox=False)
    prompt = digest.prompt
    if prompt is not None and prompt.text:  # the note is about the prompt shown
        prompt = replace(prompt, intro=lang.then(prompt.intro, lang.gettext(PROMPT_NOTE)))
    nav = nav_html(lang.gettext("Digests by day"), links, lang)
    digest = replace(digest, top=nav, prompt=prompt if prompt_text else None)
    feed_title = str(Markup.escape(lang.gettext("Your picks")))
    head = "<head>" + HEAD_META + FEED_LINK.format(feed_title)
    return render.render_html(digest, None).replace("<head>", head, 1)


def top_papers(record: SavedDigest) -> tuple[TopPaper, ...]:
    """The day's first papers as the digest numbered them: author matches first, then the
    selection's order (views.display_order), so `#paper-N` on the day page is the same one."""
    items = sorted(record.papers, key=lambda item: not item.author_match)
    return tuple(
        TopPaper(
            n=n,
            title=text.clean(item.title),
            author_match=item.author_match,
            relevance=item.relevance,
            novelty=item.novelty if record.judge.by_model else None,  # keywords: unjudged
        )
        for n, item in enumerate(items[:TOP_PAPERS], 1)
    )


def picked_of(count: int, listed: int, lang: Language = ENGLISH) -> str:
    return lang.ngettext("%(count)s paper picked of %(listed)s listed",
                         "%(count)s papers picked of %(listed)s listed", count) % {
        "count": lang.number(count), "listed": lang.number(listed)}  # fmt: skip


def digests(count: int, lang: Language = ENGLISH) -> str:
    return lang.ngettext("%(count)s digest", "%(count)s digests", count) % {
        "count": lang.number(count)}  # fmt: skip


def month_page(
    month: str, records: list[SavedDigest], links: tuple[Link, Link, Link],
    lang: Language = ENGLISH,
) -> str:  # fmt: skip
    days = []
    for record in records:
        day, count, listed = record.day, len(record.papers), record.totals.listed
        days.append(
            DayEntry(
                href=day_file(day),
                date=digest_date(record, lang),
                summary=picked_of(count, listed, lang),
                top=top_papers(record),
            )
        )
    count = len(records)
    return render_page(
        "archive_month.j2",
        lang,
        title=f"{lang.gettext('arXiv digest')} · {month_name(month, lang)}",
        month=month_name(month, lang),
        summary=lang.ngettext("%(count)s digest this month", "%(count)s digests this month", count)
        % {"count": lang.number(count)},
        nav=Markup(nav_html(lang.gettext("Digests by month"), links, lang)),
        days=days,
        feed="feed.atom",
    )


def subscriber_page(records: list[SavedDigest], lang: Language = ENGLISH) -> str:
    days = [r.day for r in records]
    counts = {m: len(list(g)) for m, g in groupby(days, month_key)}
    months = [
        MonthEntry(month_file(m), month_name(m, lang), digests(n, lang))
        for m, n in sorted(counts.items(), reverse=True)
    ]
    latest = DayEntry(day_file(days[-1]), digest_date(records[-1], lang)) if days else None
    in_months = lang.ngettext("%(digests)s in %(count)s month", "%(digests)s in %(count)s months",
                              len(months))  # fmt: skip
    return render_page(
        "archive_subscriber.j2",
        lang,
        title=f"{lang.gettext('arXiv digest')} · {lang.gettext('archive')}",
        summary=in_months
        % {"digests": digests(len(days), lang), "count": lang.number(len(months))},
        latest=latest,
        months=months,
        feed="feed.atom",
    )


# -- the build --------------------------------------------------------------------------------


def subscriber_pages(
    records: list[SavedDigest], profile: Profile | None, config: Config, papers: dict[str, Paper]
) -> dict[str, Callable[[], str]]:
    """One subscriber's pages by file name, from their records in day order."""
    days = [r.day for r in records]
    prompt_text = render_full_prompt(profile) if profile is not None else None
    base = profile or stand_in(records[0].subscriber_id)
    lang = language(base.language)
    pages: dict[str, Callable[[], str]] = {}
    for i, record in enumerate(records):
        reader = reader_for(record, base)
        pages[day_file(days[i])] = partial(
            day_page, record, papers, reader, config, prompt_text, day_links(days, i, lang)
        )
    by_month = {m: list(g) for m, g in groupby(records, lambda r: month_key(r.day))}
    months = list(by_month)
    for i, month in enumerate(months):
        links = month_links(months, i, lang)
        pages[month_file(month)] = partial(month_page, month, by_month[month], links, lang)
    pages["index.html"] = partial(subscriber_page, records, lang)
    return pages


def write_pages(folder: Path, pages: dict[str, Callable[[], str]], built: Built) -> None:
    for name, make in pages.items():
        built.files += 1
        path = folder / name
        try:
            content = make()
        except Exception as exc:
            exc.add_note(f"page {name}")
            raise
        if write_if_changed(path, content):
            built.written.append(path)


def build(
    config: Config, store: Store, out: Path, only: str | Collection[str] | None = None
) -> Built:
    """Write the site for every subscriber with a digest in the store, or for one (or a few)."""
    profiles = {p.id: p for p in load_profiles(config.subscribers_dir).profiles}
    wanted = [only] if isinstance(only, str) else only
    if wanted is None:
        digests = store.digests.load()
    else:
        digests = [row for who in wanted for row in store.digests.load(who)]
    if isinstance(only, str) and not digests:
        raise NewsletterError(f"no digest of '{only}' in {store.path}: nothing to build")
    records = [(who, SavedDigest.model_validate(data)) for _, who, data in digests]
    papers = store.papers.load(item.id for _, record in records for item in record.papers)
    built = Built()
    front = partial(render_page, "archive_index.j2", title="arXiv digest archive")
    write_pages(out, {"index.html": front, "robots.txt": lambda: ROBOTS_TXT}, built)
    for subscriber_id, rows in groupby(records, lambda row: row[0]):
        mine = [record for _, record in rows]
        try:
            pages = subscriber_pages(mine, profiles.get(subscriber_id), config, papers)
            token = store.tokens.token(subscriber_id)
            url = atom.feed_url(config.archive.base_url, token)
            sent = [SavedDigest.model_validate(d) for _, _, d in
                    store.digests.load(subscriber_id, sent_only=True)]  # fmt: skip
            language_code = profiles[subscriber_id].language if subscriber_id in profiles else "en"
            pages["feed.atom"] = partial(atom.feed, sent, url, language(language_code))
            write_pages(out / token, pages, built)
        except Exception as exc:  # one subscriber's pages must not stop the others'
            what = f"{subscriber_id}: the archive's pages failed"
            built.failed.append(contain(exc, what, config.storage.path.parent))
        else:
            built.subscribers += 1
    return built


def publish(config: Config, store: Store, sent: Collection[str], hooks: Hooks) -> Built | None:
    """After a send: write (or update) the pages of the subscribers just sent a digest, so
    that the email's "View in browser" lands. Only when `[archive] base_url` says where the
    site is published; a failure here is a warning, the mail has gone."""
    if not config.archive.base_url or not sent:
        return None
    out = Path(config.archive.out)
    try:
        built = build(config, store, out, list(sent))
    except (OSError, NewsletterError) as exc:
        hooks.warn(f"the archive's pages could not be written ({exc}): "
                   "run `newsletter archive build`")  # fmt: skip
        return None
    hooks.say(f"archive: {len(built.written)} of {built.files} files written in {out}")
    for failure in built.failed:
        hooks.warn(str(failure))
    return built
