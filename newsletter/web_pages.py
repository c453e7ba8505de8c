"""What the server's pages say, in the reader's language.

A vote or unsubscribe token names its subscriber, so their pages speak the language of that
subscriber's profile (`reader_language`); a token we did not make names nobody, and its page
is in English. `newsletter.web` decides which page answers a request; this module words it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from starlette.responses import HTMLResponse

from newsletter import templating
from newsletter.errors import NewsletterError
from newsletter.i18n import ENGLISH, Language, language
from newsletter.models import Vote
from newsletter.profiles import parse_profile

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


def reader_language(folder: Path, subscriber: str) -> Language:
    """The language of a subscriber's profile; English when the file is gone or invalid
    (a page must still answer: `subscribers check` reports the file)."""
    try:
        return language(parse_profile(folder / f"{subscriber}.toml").language)
    except (NewsletterError, OSError):
        return ENGLISH


def page(
    title: str, *lines: str, status: int = 200, lang: Language = ENGLISH, **context: object
) -> HTMLResponse:
    """One of the server's pages: a title, a few lines, at most one button, and maybe a
    `back` link ({href, label}) to the reader's archive."""
    context = {"paper": "", "button": "", "action": "", "button_class": "", "note": "",
               "back": None} | context  # fmt: skip
    html = templating.render_template(
        templating.page_templates(lang.code), "web_page.j2", title=title, lines=lines, **context
    )
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def masked(email: str) -> str:
    """ada@example.org -> a**@example.org: enough for a reader to know it is theirs."""
    name, _, domain = email.partition("@")
    return f"{name[:1]}{'*' * max(len(name) - 1, 2)}@{domain}"


def refused() -> HTMLResponse:
    """The answer to any token we did not make: the same whatever was wrong with it."""
    return page("This link does not work", "It may have been cut or changed.", status=403)


def earlier_reader() -> HTMLResponse:
    """The answer to a link mailed to an earlier person of a subscriber id: in English, as
    the id's current profile is someone else's."""
    return page(
        "This link belongs to an earlier reader",
        "It came in a digest sent to an address that no longer receives this digest, "
        "so it changes nothing now.",
        "If the digest still reaches you, use the links in your latest email.",
        status=410,
    )


def too_many(lang: Language) -> HTMLResponse:
    _ = lang.gettext
    return page(_("Too many at once"), _("Please try again in a while."), status=429, lang=lang)


def back_to_day(lang: Language, day: date) -> str:
    return lang.gettext("← Your digest of %(date)s") % {"date": lang.long_date(day)}


def back_to_archive(lang: Language) -> str:
    return lang.gettext("← Your past digests")


def vote_question(lang: Language, choice: Vote, paper: str, back: object) -> HTMLResponse:
    _ = lang.gettext
    more = choice == Vote.UP
    return page(
        _("More papers like this?") if more else _("Fewer papers like this?"),
        _("Your digest learns from what you mark."),
        paper=paper,
        button=_("Yes, more like this") if more else _("Yes, fewer like this"),
        back=back,
        lang=lang,
    )


def vote_noted(
    lang: Language, choice: Vote, before: str | None, paper: str, action: str, back: object
) -> HTMLResponse:
    _ = lang.gettext
    up = choice == Vote.UP
    lines = [_("We'll show you more papers like this one.") if up
             else _("We'll show you fewer papers like this one.")]  # fmt: skip
    if before and before != choice:
        lines.append(_("This replaces your earlier “more like this”.") if before == Vote.UP
                     else _("This replaces your earlier “fewer like this”."))  # fmt: skip
    note = (
        _("From tomorrow's digest on, it counts as a paper you liked.")
        if up
        else _("From tomorrow's digest on, it counts as a paper you did not want.")
    )
    return page(_("Thank you, noted"), *lines, paper=paper, button=_("Undo"),
                button_class="quiet", action=action, note=note, back=back, lang=lang)  # fmt: skip


def undone(lang: Language, removed: bool, paper: str, back: object) -> HTMLResponse:
    _ = lang.gettext
    if removed:
        return page(_("Undone"), _("This paper no longer counts for your digest."),
                    paper=paper, back=back, lang=lang)  # fmt: skip
    return page(_("Nothing to undo"),
                _("This vote is not recorded (already undone, or replaced by another)."),
                paper=paper, back=back, lang=lang)  # fmt: skip


def subscribed(lang: Language, email: str, back: object) -> HTMLResponse:
    _ = lang.gettext
    return page(
        _("Unsubscribe from the arXiv digest?"),
        _("The daily digest goes to %(email)s.") % {"email": masked(email)},
        button=_("Unsubscribe"),
        action="",
        back=back,
        lang=lang,
    )


def unsubscribed(lang: Language, email: str, token: str, back: object) -> HTMLResponse:
    _ = lang.gettext
    return page(
        _("You are unsubscribed"),
        _("No more digests go to %(email)s, starting with the next one.")
        % {"email": masked(email)},
        button=_("Resubscribe"),
        button_class="quiet",
        action=f"{token}/resubscribe",
        note=_("Changed your mind? The button above starts the digest again."),
        back=back,
        lang=lang,
    )


def welcome_back(lang: Language, email: str, back: object) -> HTMLResponse:
    _ = lang.gettext
    return page(_("Welcome back"), _("The digest goes to %(email)s again.") % {
        "email": masked(email)}, back=back, lang=lang)  # fmt: skip


def no_page() -> HTMLResponse:
    """An address with no archive behind it: nobody's, so in English."""
    return page(
        "No page at this address",
        "The link may have been cut short or mistyped: check that it is whole, as in your email.",
        status=404,
    )


def not_yet(lang: Language, back: object) -> HTMLResponse:
    _ = lang.gettext
    return page(
        _("This page is not in the archive yet"),
        _("A digest's page is written when the digest is sent; this one has not been, or "
          "the archive has not been built since."),
        status=404,
        back=back,
        lang=lang,
    )  # fmt: skip
