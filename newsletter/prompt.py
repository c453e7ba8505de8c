"""A subscriber's profile rendered into the prompts the model sees.

The static part of each prompt (instructions, the reader's topics, the rubrics, the answer
format) is the system message; the papers follow as the user message. A batch therefore shares
its whole prefix with every other batch of the same profile, which the provider's prompt cache
bills at the cached rate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from newsletter import i18n, templating
from newsletter.models import Paper
from newsletter.profiles import Profile
from newsletter.text import normalise_space

# Where the day's papers follow, as their own message: said in words, for whoever reads the
# prompt without them (the digest's reader, the operator)
PAPERS_PLACEHOLDER = "(then the day's papers: the arXiv id, title, authors and abstract of each)"
MAX_PROMPT_AUTHORS = 6


def render_selection_prompt(profile: Profile) -> str:
    """The full read's prompt. A reader of another language than English gets the model's
    comments in theirs, asked in one line after the rubrics and the answer format: profiles
    that differ only in language share the prompt's cached prefix, up to that line."""
    language = i18n.language(profile.language)
    comment_language = "" if language.code == i18n.DEFAULT else language.english_name
    template = templating.text_templates().get_template("selection_prompt.j2")
    return template.render(profile=profile, comment_language=comment_language)


def render_title_prompt(profile: Profile) -> str:
    return templating.text_templates().get_template("title_prompt.j2").render(profile=profile)


def render_skim_prompt(profile: Profile) -> str:
    return templating.text_templates().get_template("skim_prompt.j2").render(profile=profile)


def render_full_prompt(profile: Profile) -> str:
    """The selection prompt as a reader sees it: the papers replaced by a sentence."""
    return render_selection_prompt(profile) + "\n" + PAPERS_PLACEHOLDER + "\n"


def prompt_hash(*parts: str) -> str:
    """Identifies a prompt for the score cache: same text, same scores."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def truncate(text: str, limit: int) -> str:
    """Cut at a word boundary, marking the cut."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + " …"


def format_papers(papers: Iterable[Paper], abstract_chars: int) -> str:
    """The abstract pass's paper block: id, title, authors, abstract (truncated)."""
    blocks = []
    for p in papers:
        authors = list(p.authors[:MAX_PROMPT_AUTHORS])
        if len(p.authors) > MAX_PROMPT_AUTHORS:
            authors.append("et al.")
        blocks.append(
            f"ARXIVID: {p.id}\nTitle: {p.title}\nAuthors: {', '.join(authors)}\n"
            f"Abstract: {truncate(p.abstract, abstract_chars)}"
        )
    return "\n\n".join(blocks) + "\n"


def format_titles(papers: Iterable[Paper]) -> str:
    """The title pass's paper block: a numbered list of titles, one a line.

    The answer names a paper by its number (`numbers`): "17" is one token where an arXiv id is
    four or five, in the prompt and again in the answer."""
    return "".join(f"{n}. {normalise_space(p.title)}\n" for n, p in enumerate(papers, 1))


def format_skim(papers: Iterable[Paper], abstract_chars: int) -> str:
    """The skim's paper block: numbered titles, each with the opening of its abstract on the
    line below, a blank line between papers."""
    return "".join(f"{n}. {normalise_space(p.title)}\n"
                   f"{truncate(normalise_space(p.abstract), abstract_chars)}\n\n"
                   for n, p in enumerate(papers, 1))  # fmt: skip


def numbers(papers: Iterable[Paper]) -> dict[str, str]:
    """The numbers `format_titles` and `format_skim` give the papers, mapped to their ids."""
    return {str(n): p.id for n, p in enumerate(papers, 1)}
