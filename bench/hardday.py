"""A day that does not flatter the funnel, and a judge that is not sure from a title.

`make_hard_day(n, seed)` starts from `dayfactory.make_day` and makes it look like a real cs.LG
day to the example profile: most off-topic papers sound on-topic (a keyword-bearing title
modifier and two or three sentences from `bench/data/sounding.toml`: other ML areas, LLM
applications and benchmarks using the profile's words in passing), so a keyword list does not
separate them, and a reader would score them 2-4 rather than 1-2.

True scores (fixed per paper and seed):

| kind              | relevance | novelty |
|-------------------|-----------|---------|
| relevant          | 6-9       | 5-8     |
| borderline        | 3-6       | 3-6     |
| sounding off-topic| 2-4       | 2-6     |
| other off-topic   | 1-2       | 2-5     |

The picks are the papers at or above the profile's cutoffs on their true scores.

`ErringJudge(day, title_error)` answers a title alone with the true relevance plus a fixed
per-paper error drawn from -title_error..+title_error (asking again gives the same answer: a
model's misreading of a title is not noise that averages out), and an abstract read in part
with an error that grows as less is read: none from 400 characters (or the whole abstract),
+-1 from 200, +-2 from 100, +-3 below; novelty gets an error of the same size, drawn apart.
"""

from __future__ import annotations

import random
import tomllib
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from bench.dayfactory import BORDERLINE, OFF_TOPIC, RELEVANT, Day, Label, make_day

SOUNDING = "sounding"  # an off-topic paper that sounds on-topic
SOUNDING_SHARE = 0.6  # of the off-topic papers
with (Path(__file__).resolve().parent / "data" / "sounding.toml").open("rb") as _fh:
    _BANK = tomllib.load(_fh)
MODIFIERS: tuple[str, ...] = tuple(_BANK["title_modifiers"])
SENTENCES: tuple[str, ...] = tuple(_BANK["sentences"])
TRUTH = {  # kind -> (relevance range, novelty range)
    RELEVANT: ((6, 9), (5, 8)),
    BORDERLINE: ((3, 6), (3, 6)),
    SOUNDING: ((2, 4), (2, 6)),
    OFF_TOPIC: ((1, 2), (2, 5)),
}
FULL_READ = 400  # characters from which an abstract is read as well as whole


def make_hard_day(n: int = 1000, seed: int = 0) -> Day:
    """`make_day(n, seed)` with most off-topic papers rewritten to sound on-topic."""
    day = make_day(n, seed)
    rng = random.Random(f"hard:{seed}")
    papers = []
    for paper in day.listing.papers:
        label = day.labels[paper.id]
        if label.kind == OFF_TOPIC and rng.random() < SOUNDING_SHARE:
            paper = replace(paper, title=_sounding_title(rng, paper.title),
                            abstract=_sounding_abstract(rng, paper.abstract))  # fmt: skip
            day.labels[paper.id] = Label(SOUNDING, None, label.gist)
        papers.append(paper)
    day.listing.papers[:] = papers
    return day


def _sounding_title(rng: random.Random, title: str) -> str:
    modifier = rng.choice(MODIFIERS)
    head, colon, rest = title.partition(": ")
    if colon:  # "Name: Doing X" -> "Name: Sparse Doing X" reads oddly; put it after the name
        return f"{head}: {modifier} {rest}"
    return f"{modifier} {title}"


def _sounding_abstract(rng: random.Random, abstract: str) -> str:
    sentences = abstract.split(". ")
    for extra in rng.sample(SENTENCES, rng.randint(2, 3)):
        sentences.insert(rng.randint(1, len(sentences)), extra.rstrip("."))
    return ". ".join(sentences)


def read_error(read: int, whole: bool) -> int:
    """The error bound of a relevance judged from `read` characters of an abstract."""
    if whole or read >= FULL_READ:
        return 0
    return 1 if read >= 200 else 2 if read >= 100 else 3


@dataclass
class ErringJudge:
    """A `FakeOpenAI` judge with the errors above; `truth` gives the true scores."""

    day: Day
    title_error: int

    @cached_property
    def abstracts(self) -> dict[str, str]:
        return {p.id: p.abstract for p in self.day.papers}

    def truth(self, paper_id: str) -> tuple[int, int]:
        label = self.day.labels.get(paper_id)
        kind = label.kind if label else OFF_TOPIC
        rng = random.Random(f"truth:{self.day.seed}:{paper_id}")
        (r_lo, r_hi), (n_lo, n_hi) = TRUTH[kind]
        return rng.randint(r_lo, r_hi), rng.randint(n_lo, n_hi)

    def picks(self, cutoffs: tuple[int, int]) -> set[str]:
        """The papers at or above (relevance, novelty) cutoffs on their true scores."""
        return {p.id for p in self.day.papers
                if all(s >= c for s, c in zip(self.truth(p.id), cutoffs, strict=True))}  # fmt: skip

    def __call__(self, paper_id: str, title: str, abstract: str) -> tuple[int, int, str]:
        relevance, novelty = self.truth(paper_id)
        if not abstract:
            error = self.title_error
        else:
            read = abstract.removesuffix("…").rstrip()
            whole = len(read) >= len(self.abstracts.get(paper_id, "")) - 1
            error = read_error(len(read), whole)
        r = relevance + _offset(f"r:{self.day.seed}:{paper_id}:{error}", error)
        n = novelty + _offset(f"n:{self.day.seed}:{paper_id}:{error}", error)
        return _clamp(r), _clamp(n), f"judged with an error up to {error}"


def _offset(key: str, bound: int) -> int:
    return random.Random(key).randint(-bound, bound) if bound else 0


def _clamp(score: int) -> int:
    return max(1, min(10, score))
