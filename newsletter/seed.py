"""A new profile seeded from a researcher's own papers: a BibTeX file (or a list of arXiv
ids) becomes the profile's `liked` examples and a first draft of its keywords, to edit.

Keywords are drafted plainly: the words and word pairs that recur across the titles, minus
common words. They are a starting point for the reader to edit, never the final word.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import bibtexparser

from newsletter import arxiv_id
from newsletter.config import ArxivConfig
from newsletter.errors import FetchError, ProfileError
from newsletter.keywords import TITLE_STOP_WORDS
from newsletter.models import Vote, VoteSource
from newsletter.profiles import create_profile
from newsletter.store import Store
from newsletter.text import latex_to_text
from newsletter.votes import look_up_titles

ID_FIELDS = ("eprint", "arxiv", "arxivid", "journal", "url", "doi", "note", "howpublished")
MAX_KEYWORDS = 8


@dataclass
class Seed:
    """What a profile is seeded with."""

    liked: dict[str, str] = field(default_factory=dict)  # arXiv id -> title
    titles: list[str] = field(default_factory=list)  # every title read, with an id or not

    def merged(self, other: Seed) -> Seed:
        return Seed(self.liked | other.liked, self.titles + other.titles)


def plain(text: str) -> str:
    """A BibTeX title as text: braces and LaTeX accents resolved, one line."""
    return " ".join(latex_to_text(text).split())


def read_bibtex(path: Path) -> Seed:
    """The titles of a .bib file's entries, and the arXiv ids those that have one carry."""
    try:
        library = bibtexparser.parse_string(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(str(path), [f"cannot read it ({exc})"]) from None
    seed = Seed()
    for entry in library.entries:
        values = {k.lower(): str(f.value) for k, f in entry.fields_dict.items()}
        if title := plain(values.get("title", "")):
            seed.titles.append(title)
        for name in ID_FIELDS:
            if title and (found := arxiv_id.find(values.get(name, ""))):
                seed.liked.setdefault(found, title)
                break
    if not seed.titles:
        raise ProfileError(str(path), ["no BibTeX entry with a title"])
    return seed


def _terms(title: str) -> tuple[set[str], set[str]]:
    words = re.findall(r"[a-z][a-z0-9-]+", title.lower())
    # "": a pair's break
    keep = [w if w not in TITLE_STOP_WORDS and len(w) > 2 else "" for w in words]
    pairs = {f"{a} {b}" for a, b in itertools.pairwise(keep) if a and b}
    return {w for w in keep if w}, pairs


def draft_keywords(titles: list[str], count: int = MAX_KEYWORDS) -> list[str]:
    """Word pairs, then words, that recur across the titles (in more than one when there
    are several), most frequent first."""
    singles, doubles = Counter[str](), Counter[str]()
    for title in titles:
        words, pairs = _terms(title)
        singles.update(words)
        doubles.update(pairs)
    least = 2 if len(titles) > 1 else 1
    chosen = [p for p, n in doubles.most_common() if n >= least]
    covered = {w for p in chosen for w in p.split()}
    chosen += [w for w, n in singles.most_common() if n >= least and w not in covered]
    return chosen[:count]


def from_ids(config: ArxivConfig, store: Store, ids: list[str]) -> Seed:
    """A seed from arXiv ids, their titles looked up (the store first, else the API)."""
    try:
        titles = look_up_titles(config, store, ids)
    except FetchError as exc:
        raise FetchError(
            f"{exc}; no profile written. Offline, seed it from a .bib file of the reader's "
            "papers (--from-bibtex FILE: the titles are read from the file)"
        ) from None
    return Seed(liked=titles, titles=list(titles.values()))


def seed_profile(
    store: Store, folder: Path, subscriber_id: str, email: str, name: str, seed: Seed
) -> tuple[Path, list[str]]:
    """Write a new profile file holding the seed: `liked`, and the keywords drafted from the
    titles, with none of the template's example interests (a reader of other fields would
    get them). The liked titles are kept with the votes, so no run looks them up again.
    Returns the file and the keywords drafted."""
    keywords = draft_keywords(seed.titles)
    path = create_profile(folder, subscriber_id, email, name, liked=list(seed.liked),
                          keywords=keywords)  # fmt: skip
    for pid, title in seed.liked.items():
        store.votes.record(path.stem, pid, Vote.UP, title, date.today(), VoteSource.PROFILE)
    return path, keywords
