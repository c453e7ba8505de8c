"""The local scorer: keyword weighting of a profile against titles and abstracts.

No network, no key, no cost. It answers in the same shape as the model (a Score per paper, with
an honest comment naming what matched), so it can stand in for the model (`[llm] provider =
"local"`, or a dry run without OPENAI_API_KEY) and pre-filter papers before the model sees them
(`[llm] prefilter_keep`).

Weights: a profile keyword in the title counts 3, in the abstract 1.5; a term drawn from a
topic's name or "relevant" text counts 1 (title) or 0.5 (abstract); an irrelevant domain or
application task subtracts 2 (title) or 1 (abstract). Novelty cannot be judged from keywords,
so every paper gets a neutral novelty.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from newsletter.i18n import language
from newsletter.models import Paper, Score
from newsletter.profiles import Profile

NEUTRAL_NOVELTY = 5
_SPLIT = re.compile(r"[,;:()/]|\band\b|\bor\b|\bsuch as\b|\bincl\.|\be\.g\.", re.IGNORECASE)
# Words that say nothing about what a paper is on: English glue and what every ML text says.
STOP_WORDS = frozenset({
    "a", "an", "analysis", "and", "approach", "are", "data", "efficient", "for", "how", "in",
    "its", "large", "learning", "method", "methods", "model", "models", "new", "of", "on", "or",
    "the", "their", "to", "what", "why", "with",
})  # fmt: skip
# ... and what a profile's prose adds ("tell us about", "genuinely new"): the local scorer
# skips these when it reads a profile and the papers.
PROFILE_STOP_WORDS = STOP_WORDS | {
    "about", "advances", "ai", "algorithmic", "analyses", "approaches", "assumption",
    "behavior", "behaviour", "built", "challenges", "directions", "driven", "emerging",
    "established", "existing", "explains", "foundational", "genuinely", "inference", "known",
    "language", "more", "one", "other", "science", "tell", "that", "theoretical", "theory",
    "trained", "training", "us", "variants", "work", "works",
}  # fmt: skip
# ... and what paper titles add ("towards", "via", "deep neural networks"): keywords drafted
# from a reader's titles (newsletter.seed) skip these.
TITLE_STOP_WORDS = STOP_WORDS | {
    "as", "at", "based", "by", "can", "deep", "do", "does", "from", "into", "is", "it",
    "network", "networks", "neural", "our", "over", "paper", "study", "toward", "towards",
    "under", "using", "via", "we", "when", "which", "without",
}  # fmt: skip


def _pattern(term: str) -> re.Pattern[str]:
    """Whole-word match; short all-caps acronyms (MoE, KV) match case-sensitively."""
    flags = 0 if (len(term) <= 4 and any(c.isupper() for c in term[1:])) else re.IGNORECASE
    body = r"[\s-]+".join(re.escape(w) for w in term.split())
    return re.compile(rf"(?<![\w-]){body}s?(?![\w-])", flags)


def topic_terms(profile: Profile) -> list[str]:
    """Short phrases from the topics' names and relevant text ('pruning', 'KV-cache ...')."""
    terms: list[str] = []
    for topic in profile.topics:
        for chunk in _SPLIT.split(f"{topic.name}, {topic.relevant}"):
            words = [w for w in re.findall(r"[\w-]+", chunk) if w.lower() not in PROFILE_STOP_WORDS]
            if 1 <= len(words) <= 3:
                terms.append(" ".join(words))
    first: dict[str, str] = {}  # the first spelling of each term, in order
    for term in terms:
        first.setdefault(term.lower(), term)
    return list(first.values())


@dataclass
class LocalScorer:
    """Scores papers for one profile by the weighted terms it finds."""

    profile: Profile
    model: str = "local"

    @cached_property
    def weighted(self) -> list[tuple[str, re.Pattern[str], float]]:
        p = self.profile
        keywords = {k.lower() for k in p.keywords}
        rows = [(k, _pattern(k), 3.0) for k in p.keywords]
        rows += [(t, _pattern(t), 1.0) for t in topic_terms(p) if t.lower() not in keywords]
        rows += [(t, _pattern(t), -2.0) for t in [*p.irrelevant_domains, *p.application_tasks]]
        return rows

    def raw(self, paper: Paper) -> tuple[float, list[str], list[str]]:
        """(weight, matched terms, penalising terms)."""
        total, hits, minus = 0.0, list[str](), list[str]()
        for term, pattern, weight in self.weighted:
            in_title = bool(pattern.search(paper.title))
            in_abstract = not in_title and bool(pattern.search(paper.abstract))
            if not (in_title or in_abstract):
                continue
            total += weight if in_title else weight / 2
            (hits if weight > 0 else minus).append(term)
        return total, hits, minus

    def score(self, paper: Paper) -> Score:
        weight, hits, minus = self.raw(paper)
        relevance = max(1, min(10, round(2 + weight * 1.2)))
        lang = language(self.profile.language)  # it comments as a model would, in theirs
        parts = []
        if hits:
            parts.append(lang.gettext("matched: %(terms)s") % {"terms": ", ".join(hits[:6])})
        if minus:
            parts.append(lang.gettext("off-topic: %(terms)s") % {"terms": ", ".join(minus[:3])})
        comment = "; ".join(parts) or lang.gettext("no profile keyword matched")
        comment = lang.gettext("%(comment)s (keyword scorer)") % {"comment": comment}
        return Score(paper.id, relevance, NEUTRAL_NOVELTY, comment)

    def score_all(self, papers: Iterable[Paper]) -> dict[str, Score]:
        return {p.id: self.score(p) for p in papers}

    def prefilter(self, papers: list[Paper], keep: float) -> list[Paper]:
        """The best `keep` fraction, in the original order.

        Ranked by keyword weight, then by BM25 similarity to the profile's own words: most
        papers match no keyword at all, and without a second signal a theory paper that names
        none would tie with every off-topic one.
        """
        if keep >= 1 or not papers:
            return list(papers)
        count = max(1, round(len(papers) * keep))
        similarity = bm25(self.profile_words, [f"{p.title} {p.abstract}" for p in papers])
        top = max(similarity) or 1.0
        rank = {
            p.id: self.raw(p)[0] + SIMILARITY_WEIGHT * s / top
            for p, s in zip(papers, similarity, strict=True)
        }
        chosen = set(sorted(rank, key=rank.__getitem__, reverse=True)[:count])
        return [p for p in papers if p.id in chosen]

    @cached_property
    def profile_words(self) -> set[str]:
        """The words a relevant paper tends to share with the profile, less the off-topic ones."""
        p = self.profile
        wanted = " ".join([*p.keywords, *(f"{t.name} {t.relevant}" for t in p.topics)])
        unwanted = " ".join([*p.irrelevant_domains, *p.application_tasks])
        return set(words(wanted)) - set(words(unwanted))


SIMILARITY_WEIGHT = 2.0  # the most similar paper gains what a keyword in the abstract gives


def words(text: str) -> list[str]:
    found = re.findall(r"[a-z][a-z0-9-]{2,}", text.lower())
    return [w for w in found if w not in PROFILE_STOP_WORDS]


def bm25(query: set[str], documents: list[str], k1: float = 1.2, b: float = 0.75) -> list[float]:
    """Okapi BM25 of each document against the query words, with IDF from the documents."""
    bags = [Counter(words(d)) for d in documents]
    n = len(bags)
    average = sum(sum(bag.values()) for bag in bags) / max(n, 1) or 1.0
    df = Counter(w for bag in bags for w in query & bag.keys())
    idf = {w: math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5)) for w in df}
    scores = []
    for bag in bags:
        length = sum(bag.values())
        norm = k1 * (1 - b + b * length / average)
        scores.append(sum(idf[w] * bag[w] * (k1 + 1) / (bag[w] + norm) for w in query & bag.keys()))
    return scores
