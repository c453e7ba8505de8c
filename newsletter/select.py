"""Selection: which of the day's papers one subscriber receives, in what order.

Followed authors first ("Author match", chosen without asking the model), then the scored
papers at or above the profile's cutoffs, best first by (relevance + novelty, relevance),
capped at the profile's maximum.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache, lru_cache

from newsletter.models import Paper, Pick, Score
from newsletter.profiles import Profile
from newsletter.text import latex_to_text

AUTHOR_MATCH = "Author match"

# Letters that Unicode does not decompose into a base letter and an accent: Søren is Soren.
_UNACCENTED = str.maketrans(
    {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe",
     "Œ": "OE", "ı": "i", "ȷ": "j", "đ": "d", "Đ": "D"}
)  # fmt: skip


@cache
def name_tokens(name: str) -> tuple[str, ...]:
    """'J\\"urgen M\\"uller' -> ('jurgen', 'muller'); 'Müller, Jürgen' likewise; 'J.-P.' -> j p."""
    text = unicodedata.normalize("NFKD", latex_to_text(name).translate(_UNACCENTED))
    text = "".join(c for c in text if not unicodedata.combining(c))
    if "," in text:  # "Surname, Given"
        surname, _, given = text.partition(",")
        text = f"{given} {surname}"
    return tuple(t for t in re.split(r"[^A-Za-z0-9]+", text.lower()) if t)


def same_author(followed: str, author: str) -> bool:
    """Surnames equal; given names equal or initial-compatible, as far as both are given."""
    a, b = name_tokens(followed), name_tokens(author)
    return bool(a) and bool(b) and a[-1] == b[-1] and _given_names_agree(a, b)


def _given_names_agree(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    for x, y in zip(a[:-1], b[:-1], strict=False):
        if not (x == y or (len(x) == 1 and y.startswith(x)) or (len(y) == 1 and x.startswith(y))):
            return False
    return True


def author_matcher(followed: Iterable[str]) -> Callable[[str], bool]:
    """Whether an author is one of `followed` (as `same_author` has it), looking up the
    surname first: most authors share it with nobody followed."""
    by_surname: dict[str, list[tuple[str, ...]]] = {}
    for name in followed:
        tokens = name_tokens(name)
        if tokens:
            by_surname.setdefault(tokens[-1], []).append(tokens)

    def follows(author: str) -> bool:
        tokens = name_tokens(author)
        return bool(tokens) and any(
            _given_names_agree(f, tokens) for f in by_surname.get(tokens[-1], ())
        )

    return follows


@lru_cache(maxsize=65_536)
def surnames(authors: tuple[str, ...]) -> frozenset[str]:
    """The authors' surnames (a paper's: once per paper however many profiles ask)."""
    return frozenset(tokens[-1] for tokens in map(name_tokens, authors) if tokens)


def author_matches(profile: Profile, papers: Iterable[Paper]) -> list[Paper]:
    """Papers with at least one followed author, in listing order."""
    if not profile.authors:
        return []
    follows = author_matcher(profile.authors)
    return [p for p in papers if any(map(follows, p.authors))]


def candidates(
    profile: Profile,
    papers: Iterable[Paper],
    default_categories: Sequence[str],
    already_sent: set[str],
) -> list[Paper]:
    """The day's papers in the subscriber's categories (cross-lists count), minus those sent."""
    wanted = set(profile.categories_or(default_categories))
    return [p for p in papers if wanted & set(p.categories) and p.id not in already_sent]


def select(profile: Profile, papers: Sequence[Paper], scores: Mapping[str, Score]) -> list[Pick]:
    """Author matches first, then scored papers passing both cutoffs, best first, capped."""
    matched = author_matches(profile, papers)
    picks = [Pick(p, Score(p.id, 10, 10, AUTHOR_MATCH), author_match=True) for p in matched]
    taken = {p.id for p in matched}
    ranked = [
        Pick(p, scores[p.id])
        for p in papers
        if p.id not in taken
        and p.id in scores
        and scores[p.id].relevance >= profile.relevance_cutoff
        and scores[p.id].novelty >= profile.novelty_cutoff
    ]
    ranked.sort(
        key=lambda k: (k.score.relevance + k.score.novelty, k.score.relevance), reverse=True
    )
    return (picks + ranked)[: profile.max_papers]
