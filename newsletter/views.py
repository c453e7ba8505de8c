"""The digest as the templates show it: one subscriber's Selection turned into the plain
values of `view_models`.

Text is cleaned of the line breaks and control characters feeds keep and its LaTeX turned into
text (`newsletter.text`), scores are graded into badge levels, links keep only http(s), author
lists are cut and followed authors marked, and the token table is formatted. Nothing here is
escaped: the templates escape every value they write. Every fixed word is the reader's, through
their language's catalog (`newsletter.i18n`), and so are the dates and the numbers.

What the digest says about scoring is what happened: when the local keyword scorer judged the
papers (a Selection that spent nothing: no usage), it is named, no model or price is, no cost
table is shown, and no novelty, which keywords cannot judge.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from urllib.parse import quote, urlsplit

from markupsafe import Markup

from newsletter import links
from newsletter.config import Config
from newsletter.i18n import ENGLISH, Language, language
from newsletter.models import Pick, Selection, Usage, Vote
from newsletter.profiles import Profile
from newsletter.prompt import truncate
from newsletter.select import AUTHOR_MATCH, author_matcher
from newsletter.text import clean
from newsletter.view_models import (
    Author,
    Digest,
    Footer,
    Header,
    HowChosen,
    PaperView,
    PromptLine,
    Spend,
    UsageRow,
)
from newsletter.wording import (
    empty_text,
    funnel_intro,
    greeting,
    preheader_text,
    subject_line,
    unscored_text,
)

MAX_AUTHORS = 8  # longer author lists show the first SHOWN_AUTHORS and "et al."
SHOWN_AUTHORS = 6
SHORT_ABSTRACT = 280  # characters kept of a shortened abstract
MAX_HEADER_CATEGORIES = 4
HIGH, MID = 8, 6  # score at or above which a badge is strong, medium
# Characters XML forbids: no reader sees them, and mjml2html refuses the page that holds one.
_TABS_AND_BREAKS = str.maketrans("", "", "\t\r\n")
# What a link keeps as it is: printable ASCII but the backslash, which mjml2html doubles.
_URL_CHARS = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "\\")
# A prompt line that starts a line of its own when the prompt is reflowed for narrow screens.
_LINE_START = re.compile(r"^(?:[-*•] |#|\d+[.)] |[{\[])")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$")
_HEADING_LINE = re.compile(r"^[ \t]*#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


def safe_url(url: str) -> str:
    """The URL if it is http(s) with a host, else "#": no javascript:, data: or the like.

    Tabs and line breaks are dropped, as browsers drop them, and what is not printable ASCII
    is percent-encoded: mjml2html rewrites backslashes and non-printable characters inside an
    attribute, and the page would no longer be the size of its pieces."""
    url = url.strip().translate(_TABS_AND_BREAKS)
    try:
        parts = urlsplit(url)
    except ValueError:  # such as an unclosed "[" in the host
        return "#"
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return quote(url, safe=_URL_CHARS)
    return "#"


def level(score: int) -> str:
    return "hi" if score >= HIGH else "mid" if score >= MID else "lo"


def display_order(picks: list[Pick]) -> list[Pick]:
    """Author matches first; otherwise the selection's own order (best first)."""
    return [p for p in picks if p.author_match] + [p for p in picks if not p.author_match]


def author_list(
    names: tuple[str, ...], follows: Callable[[str], bool]
) -> tuple[tuple[Author, ...], bool]:
    """Up to MAX_AUTHORS names; beyond that the first few, plus any followed author."""
    authors = [Author(clean(n), follows(n)) for n in names]
    et_al = len(authors) > MAX_AUTHORS
    if et_al:
        authors = authors[:SHOWN_AUTHORS] + [a for a in authors[SHOWN_AUTHORS:] if a.me]
    if authors:
        authors[-1] = replace(authors[-1], sep=", et al." if et_al else "")
    return tuple(authors), et_al


def paper_view(
    n: int, pick: Pick, follows: Callable[[str], bool], *, novelty: bool = True,
    lang: Language = ENGLISH,
) -> PaperView:  # fmt: skip
    paper, score = pick.paper, pick.score
    authors, et_al = author_list(paper.authors, follows)
    if et_al:  # "et al." as the reader's language writes it
        authors = (*authors[:-1], replace(authors[-1], sep=lang.gettext(", et al.")))
    comment = clean(score.comment)
    if pick.author_match and comment in ("", AUTHOR_MATCH):
        mine = ", ".join(a.name for a in authors if a.me)
        comment = (lang.gettext("Written by %(authors)s, whom you follow.") % {"authors": mine}
                   if mine else lang.gettext("By an author you follow."))  # fmt: skip
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
        novelty=score.novelty if novelty else None,
        r_level=level(score.relevance),
        n_level=level(score.novelty) if novelty else "",
        author_match=pick.author_match,
    )


def paper_views(
    picks: list[Pick], follows: Callable[[str], bool], *, novelty: bool,
    lang: Language = ENGLISH,
) -> list[PaperView]:  # fmt: skip
    """The picks as shown, numbered; an error names the paper whose text it was showing
    (paper text is untrusted: what the converters choke on is worth reporting)."""
    views = []
    for n, pick in enumerate(picks, 1):
        try:
            views.append(paper_view(n, pick, follows, novelty=novelty, lang=lang))
        except Exception as exc:
            exc.add_note(f"paper {pick.paper.id}")
            raise
    return views


def with_votes(
    papers: list[PaperView], config: Config, subscriber_id: str, email: str, day: date
) -> list[PaperView]:
    """The papers with 👍 and 👎 links, signed for this reader (the id and the person at
    its address), paper and day; none without `[web] base_url` (a static archive cannot
    record a vote)."""
    base = config.web.base_url
    if not base:
        return papers
    voted = []
    for v in papers:
        up = links.vote_token(subscriber_id, v.id, Vote.UP, day.isoformat(), email)
        down = links.vote_token(subscriber_id, v.id, Vote.DOWN, day.isoformat(), email)
        voted.append(replace(v, vote_up=f"{base}/vote/{up}", vote_down=f"{base}/vote/{down}"))
    return voted


def shortened(view: PaperView) -> PaperView:
    cut = truncate(view.abstract, SHORT_ABSTRACT)
    return view if cut == view.abstract else replace(view, abstract=cut, short=True)


def format_cost(cost: float | None, lang: Language = ENGLISH) -> str:
    return lang.gettext("price unknown") if cost is None else lang.money(cost)


def usage_row(u: Usage, lang: Language = ENGLISH) -> UsageRow:
    requests = lang.ngettext("%(count)s request", "%(count)s requests", u.requests)
    return UsageRow(
        model=u.model,
        requests=requests % {"count": lang.number(u.requests)},
        prompt=lang.number(u.prompt_tokens),
        cached=lang.number(u.cached_tokens),
        completion=lang.number(u.completion_tokens),
        total=lang.number(u.total_tokens),
        cost=format_cost(u.cost_usd, lang),
    )


def usage_rows(selection: Selection, lang: Language = ENGLISH) -> tuple[UsageRow, ...]:
    """One row per model, and their sum when there are several."""
    rows = [usage_row(u, lang) for u in selection.usage.values()]
    if len(rows) > 1:
        total = Usage(lang.gettext("All models"))
        for u in selection.usage.values():
            total.add(u)
        rows.append(usage_row(total, lang))
    return tuple(rows)


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


def header_context(
    selection: Selection, profile: Profile, config: Config, view_url: str, feed_url: str,
    lang: Language = ENGLISH,
) -> Header:  # fmt: skip
    cats = profile.categories_or(config.arxiv.categories)
    shown = " · ".join(cats[:MAX_HEADER_CATEGORIES])
    if len(cats) > MAX_HEADER_CATEGORIES:
        shown += f" +{len(cats) - MAX_HEADER_CATEGORIES}"
    by_model = selection.judge.by_model  # the keyword scorer reads nothing, a model does
    listed, read = lang.number(selection.listed), lang.number(selection.read)
    return Header(
        categories=shown,
        date=lang.period_title(*selection.period)
        if selection.period
        else lang.long_date(selection.day),
        greeting=greeting(selection, profile, lang),
        listed=listed,
        read=read,
        read_label=lang.gettext("read in full") if by_model else lang.gettext("scored"),
        relevant=lang.number(len(selection.picks)),
        empty_text=empty_text(selection, cats, lang),
        weekly=selection.period is not None,
        view_url=view_url,
        feed_url=feed_url,
    )


def build_digest(
    selection: Selection,
    profile: Profile,
    config: Config,
    prompt_text: str,
    view_url: str | None = None,
    *,
    inbox: bool = True,
) -> Digest:
    """What the templates show. `inbox` False (a web page): no footer, whose address and
    unsubscribe link belong to the reader's inbox, and no vote links, which act for them."""
    lang = language(profile.language)
    picks = display_order(selection.picks)
    follows = author_matcher(profile.authors)
    papers = paper_views(picks, follows, novelty=selection.judge.by_model, lang=lang)
    if inbox:  # a vote link acts for its reader: it belongs in their mail, never on a page
        subscriber_id = profile.id or selection.subscriber_id
        papers = with_votes(papers, config, subscriber_id, profile.email, selection.day)
    view = safe_url(view_url) if view_url else "#"
    view = "" if view == "#" else view  # no link rather than a dead one
    # the archive writes a reader's feed beside their day pages
    feed = f"{view.rsplit('/', 1)[0]}/feed.atom" if view else ""
    return Digest(
        subject=subject_line(selection, profile, lang),
        preheader=preheader_text(selection, papers, lang),
        header=header_context(selection, profile, config, view, feed, lang),
        papers=papers,
        usage=Spend(
            rows=usage_rows(selection, lang),
            notes=tuple(selection.notes),
            unscored=unscored_text(len(selection.unscored), lang),
        ),
        prompt=prompt_context(selection, prompt_text, lang),
        footer=footer_context(selection, profile, config) if inbox else None,
        lang=lang.code,
    )


def prompt_context(selection: Selection, text: str, lang: Language = ENGLISH) -> HowChosen:
    """How the papers were chosen, and the prompt the model read (in English: the model's
    words, not the reader's). The local scorer used no prompt: none is shown."""
    if not selection.judge.by_model:
        return HowChosen(funnel_intro(selection, lang))
    return HowChosen(funnel_intro(selection, lang), plain_headings(text), reflowed(text))


def reflowed(text: str) -> tuple[tuple[PromptLine, ...], ...]:
    """The prompt as paragraphs of lines, for a page that wraps lines itself: the prompt's
    hard line breaks are joined, except around a heading and before a list item or a JSON
    example. A Markdown heading (`## Answer format`) is a line marked `heading`, without
    its marks: the reader sees a heading, not the syntax the model reads."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines: list[PromptLine] = []
        for line in block.splitlines():
            line = line.strip()
            heading = _HEADING.match(line)
            if heading:
                lines.append(PromptLine(heading[1], heading=True))
            elif lines and line and not _LINE_START.match(line) and not lines[-1].heading:
                lines[-1] = PromptLine(f"{lines[-1].text} {line}", heading=False)
            elif line:
                lines.append(PromptLine(line, heading=False))
        if lines:
            paragraphs.append(tuple(lines))
    return tuple(paragraphs)


def plain_headings(text: str) -> str:
    """The prompt for a plain-text page: each Markdown heading a labelled line
    (`## Answer format` -> `Answer format:`)."""
    return _HEADING_LINE.sub(lambda m: m[1].rstrip(":") + ":", text)


def footer_context(selection: Selection, profile: Profile, config: Config) -> Footer:
    """What the reader can do, in the reader's words: vote, ask for other topics (a reply
    reaches the operator, or `profile_help_url` says how), leave. The profile's file is the
    operator's business: only the dry run's preview names it."""
    help_url = config.output.profile_help_url
    return Footer(
        email=profile.email,
        votes=bool(config.web.base_url and selection.picks),
        help_url=safe_url(help_url) if help_url else "",
        unsubscribe_url=unsubscribe_url(config, profile),
        preferences_url=(
            ASM_PREFERENCES if config.sendgrid.unsubscribe_group_id is not None else ""
        ),
    )
