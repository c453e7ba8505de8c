"""The digest's sentences, in the reader's language: the subject, the inbox preview, the
greeting, what a quiet day says, and how the papers were chosen.

Each sentence is one message of the catalogs (`newsletter.i18n`), whole where English grammar
would otherwise be pieced together, so that a translation can order its words freely; counts
take the plural forms of the reader's language (`ngettext`), and numbers its separators.
"""

from __future__ import annotations

from newsletter.i18n import ENGLISH, N_, Language
from newsletter.models import Selection
from newsletter.profiles import Profile
from newsletter.prompt import truncate
from newsletter.view_models import PaperView

PREHEADER_TITLES = 3
PREHEADER_CHARS = 140


def subject_line(selection: Selection, profile: Profile, lang: Language = ENGLISH) -> str:
    count, name = len(selection.picks), profile.first_name
    day = lang.period(*selection.period) if selection.period else selection.day.isoformat()
    if not count:
        return lang.gettext("arXiv digest · %(day)s · no papers for %(name)s") % {
            "day": day, "name": name}  # fmt: skip
    return lang.ngettext("arXiv digest · %(day)s · %(count)s paper for %(name)s",
                         "arXiv digest · %(day)s · %(count)s papers for %(name)s", count) % {
        "day": day, "count": lang.number(count), "name": name}  # fmt: skip


def preheader_text(selection: Selection, papers: list[PaperView], lang: Language = ENGLISH) -> str:
    if not papers:
        listed = selection.listed
        if selection.period:
            message = lang.ngettext(
                "Nothing matched your profile this week; %(count)s paper was judged.",
                "Nothing matched your profile this week; %(count)s papers were judged.",
                listed,
            )
        else:
            message = lang.ngettext(
                "Nothing matched your profile today; %(count)s paper was judged.",
                "Nothing matched your profile today; %(count)s papers were judged.",
                listed,
            )
        return message % {"count": lang.number(listed)}
    text = " · ".join(p.title for p in papers[:PREHEADER_TITLES])
    return truncate(text, PREHEADER_CHARS)


def greeting(selection: Selection, profile: Profile, lang: Language = ENGLISH) -> str:
    count = len(selection.picks)
    matched = sum(p.author_match for p in selection.picks)
    values = {"name": profile.first_name, "count": lang.number(count), "matched": matched}
    if not count and selection.period:
        return lang.gettext("Hi %(name)s, a quiet week.") % values
    if not count:
        return lang.gettext("Hi %(name)s, a quiet day today.") % values
    if matched:
        return lang.ngettext(
            "Hi %(name)s, %(count)s paper was picked for you, %(matched)s by authors you follow.",
            "Hi %(name)s, %(count)s papers were picked for you, %(matched)s by authors you "
            "follow.", count) % values  # fmt: skip
    message = lang.ngettext(
        "Hi %(name)s, %(count)s paper was picked for you.",
        "Hi %(name)s, %(count)s papers were picked for you.",
        count,
    )
    return message % values


# What a day (or a week) without picks says, by (weekly, read by a model): the keyword scorer
# scores every paper, a model reads them.
EMPTY = {
    (False, True): N_("None of today's %(listed)s papers in %(categories)s came close enough to "
                      "your profile (%(read)s were read in full). Until tomorrow!"),
    (False, False): N_("None of today's %(listed)s papers in %(categories)s came close enough "
                       "to your profile (%(read)s scored). Until tomorrow!"),
    (True, True): N_("None of this week's %(listed)s papers in %(categories)s came close enough "
                     "to your profile (%(read)s were read in full). Until next week!"),
    (True, False): N_("None of this week's %(listed)s papers in %(categories)s came close "
                      "enough to your profile (%(read)s scored). Until next week!"),
}  # fmt: skip


def empty_text(selection: Selection, categories: list[str], lang: Language = ENGLISH) -> str:
    message = EMPTY[selection.period is not None, selection.judge.by_model]
    return lang.gettext(message) % {
        "listed": lang.number(selection.listed), "categories": ", ".join(categories),
        "read": lang.number(selection.read)}  # fmt: skip


def unscored_text(count: int, lang: Language = ENGLISH) -> str:
    if not count:
        return ""
    return lang.ngettext(
        "%(count)s paper could not be scored today and is not included.",
        "%(count)s papers could not be scored today and are not included.", count,
    ) % {"count": lang.number(count)}  # fmt: skip


def funnel_intro(selection: Selection, lang: Language = ENGLISH) -> str:
    """How the papers were chosen, through the funnel as far as it went."""
    followed = lang.gettext("Papers by authors you follow are always included.")
    if not selection.judge.by_model:
        keywords = lang.gettext(
            "The local keyword scorer matched your profile's keywords and topics against each "
            "paper's title and abstract and scored relevance from 1 to 10; no model read them "
            "and novelty was not judged."
        )
        return lang.then(keywords, followed)
    models = list(selection.usage)
    who = lang.ngettext("The model (%(models)s)", "The models (%(models)s)", len(models))
    told = lang.gettext("%(who)s %(how)s.") % {
        "who": who % {"models": ", ".join(models)}, "how": _how(selection, lang)}  # fmt: skip
    return lang.then(told, followed)


def _how(selection: Selection, lang: Language) -> str:
    """What the model did, from the title pass to the full read."""
    listed, titled, skimmed, read = (selection.listed, selection.titled, selection.skimmed,
                                     selection.read)  # fmt: skip
    n = lang.number
    steps = [lang.ngettext("judged %(count)s title", "judged %(count)s titles", titled)
             % {"count": n(titled)}] if titled else []  # fmt: skip
    steps += [lang.ngettext("skimmed the opening of %(count)s abstract",
                            "skimmed the opening of %(count)s abstracts", skimmed)
              % {"count": n(skimmed)}] if skimmed else []  # fmt: skip
    if not steps:  # no screen ran, or a digest saved before the funnel was counted
        if read >= listed:
            return lang.gettext("read each paper's title and abstract with the prompt below, "
                                "and scored relevance and novelty from 1 to 10")  # fmt: skip
        return lang.gettext("read %(read)s of the %(listed)s papers in full with the prompt "
                            "below, and scored relevance and novelty from 1 to 10") % {
            "read": n(read), "listed": n(listed)}  # fmt: skip
    if not read:
        both = lang.gettext("%(first)s and %(second)s")
        done = both % {"first": steps[0], "second": steps[1]} if len(steps) > 1 else steps[0]
        return lang.gettext("%(steps)s: none could reach your cutoffs, so none was read in "
                            "full with the prompt below") % {"steps": done}  # fmt: skip
    done = lang.gettext("%(first)s, %(second)s,") % {"first": steps[0], "second": steps[1]} if (
        len(steps) > 1) else steps[0]  # fmt: skip
    return lang.ngettext(
        "%(steps)s and read in full, with the prompt below, the %(count)s paper that could "
        "reach your cutoffs, and scored relevance and novelty from 1 to 10",
        "%(steps)s and read in full, with the prompt below, the %(count)s papers that could "
        "reach your cutoffs, and scored relevance and novelty from 1 to 10", read,
    ) % {"steps": done, "count": n(read)}  # fmt: skip
