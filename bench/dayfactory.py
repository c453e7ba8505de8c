"""A synthetic, seeded arXiv day with ground truth, a judge that plays an accurate model, and
profile variants.

`make_day(n, seed)` builds a `Listing` of n papers in cs.LG / stat.ML / cs.CL / cs.AI whose
titles (8-16 words) and abstracts (150-250 words) are assembled from the phrase banks of
`bench/data/phrases.toml`. Each paper carries a hidden label against the example profile
(subscribers/example.toml):

- relevant (~5%): core work on one of the profile's topics (MoE, pruning, quantization, KV
  cache, representation learning, LLM theory, ...), not always naming a profile keyword;
- borderline (~10%): a topic's technique (a keyword in the title) applied to an application;
- off-topic (the rest): RL, medical imaging, time series, federated learning, robotics, ...

`Day.judge` scores from those labels the way an accurate model would: relevant 8-9 (novelty
6-8), borderline 4-6 (4-6), off-topic 1-2, and the same relevance on a title alone. Served by
`DayServer` (a `FakeOpenAI`), the judge also reads which topics the request's prompt names, so a
profile without a paper's topic sees that paper as off-topic.
"""

from __future__ import annotations

import random
import re
import threading
import tomllib
from dataclasses import dataclass
from datetime import date
from itertools import combinations
from pathlib import Path
from typing import Any

from bench.fakes.openai import FakeOpenAI
from newsletter.config import Config, LLMConfig, Price, load_config
from newsletter.models import Listing, Paper, Score, Usage
from newsletter.profiles import Profile

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PROFILE = ROOT / "subscribers" / "example.toml"
PHRASES = Path(__file__).resolve().parent / "data" / "phrases.toml"  # the phrase banks
DEFAULT_DAY = date(2025, 3, 4)
API_KEY = "bench-key"  # the fake's key: a benchmark sets OPENAI_API_KEY to it, never another
RELEVANT, BORDERLINE, OFF_TOPIC = "relevant", "borderline", "off-topic"
SHARES = {RELEVANT: 0.05, BORDERLINE: 0.10}
READER_CATEGORIES = ("cs.LG", "stat.ML", "cs.CL", "cs.AI")

REPR, ARCH, COMP, LLM, SCI, EMERG = (
    "Representation learning",
    "Model architecture",
    "Model compression and efficiency",
    "Large language models",
    "AI for science",
    "Emerging directions",
)
TOPICS = (REPR, ARCH, COMP, LLM, SCI, EMERG)
TOPIC_KEYWORDS = {
    REPR: ("representation learning", "sparsity"),
    ARCH: ("mixture of experts", "MoE"),
    COMP: ("pruning", "quantization", "low-rank", "KV cache", "compression", "sparsity"),
    LLM: ("foundation model",),
    SCI: ("foundation model",),
    EMERG: (),
}


@dataclass(frozen=True)
class Theme:
    """What papers on one subject say: phrase banks that fill the title and abstract templates."""

    key: str
    topic: str | None  # the profile topic it belongs to (None: off-topic)
    cats: tuple[str, ...]  # primary category first
    subjects: tuple[str, ...]  # noun phrases for titles and abstracts
    techniques: tuple[str, ...]
    area: tuple[str, ...]
    goals: tuple[str, ...]  # verb phrases
    issues: tuple[str, ...]  # clauses
    findings: tuple[str, ...]  # clauses
    benches: tuple[str, ...]
    baselines: tuple[str, ...]
    metrics: tuple[str, ...]
    gerunds: tuple[str, ...]


@dataclass(frozen=True)
class App:
    """An application a borderline paper applies a topic's technique to."""

    key: str
    cats: tuple[str, ...]
    objects: tuple[str, ...]  # the task, as a noun phrase
    settings: tuple[str, ...]  # where it runs or who uses it
    issues: tuple[str, ...]
    datasets: tuple[str, ...]
    metrics: tuple[str, ...]


def _tuples(table: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}


def _theme(table: dict[str, Any]) -> Theme:
    theme = Theme(**_tuples({"topic": None} | table))
    if theme.topic not in (*TOPICS, None):
        raise ValueError(f"{PHRASES}: theme {theme.key!r} names a topic the profile lacks")
    return theme


with PHRASES.open("rb") as _fh:
    _BANKS = tomllib.load(_fh)
RELEVANT_THEMES = tuple(_theme(t) for t in _BANKS["relevant"])
OFF_THEMES = tuple(_theme(t) for t in _BANKS["off_topic"])
# Each borderline paper: a technique that names a profile keyword, applied to an application.
BORDERLINE_TECHNIQUES = tuple(
    (t["topic"], t["technique"], t["adjective"]) for t in _BANKS["borderline_techniques"]
)
APPS = tuple(App(**_tuples(a)) for a in _BANKS["applications"])
_TEMPLATES = _tuples(_BANKS["templates"])
TITLE_TEMPLATES = _TEMPLATES["titles"]
TITLE_SUFFIXES = _TEMPLATES["relevant_title_suffixes"]
OFF_SUFFIXES = _TEMPLATES["off_topic_title_suffixes"]
BORDER_TITLES = _TEMPLATES["borderline_titles"]
CONTEXT, PROBLEM, METHOD = _TEMPLATES["context"], _TEMPLATES["problem"], _TEMPLATES["method"]
DETAIL, ANALYSIS, RESULTS = _TEMPLATES["detail"], _TEMPLATES["analysis"], _TEMPLATES["results"]
EXTRA, CLOSING = _TEMPLATES["extra"], _TEMPLATES["closing"]
BORDER_CONTEXT = _TEMPLATES["borderline_context"]
BORDER_METHOD = _TEMPLATES["borderline_method"]
BORDER_DETAIL = _TEMPLATES["borderline_detail"]
BORDER_RESULTS = _TEMPLATES["borderline_results"]
BORDER_CLOSING = _TEMPLATES["borderline_closing"]
_WORDS = _tuples(_BANKS["words"])
ADJECTIVES, NAME_HEADS, NAME_TAILS = (
    _WORDS["adjectives"],
    _WORDS["name_heads"],
    _WORDS["name_tails"],
)
FIRST_NAMES, LAST_NAMES = _WORDS["first_names"], _WORDS["last_names"]
SMALL_WORDS = frozenset(_WORDS["small_words"])


@dataclass(frozen=True)
class Label:
    """The hidden truth about one paper, relative to the example profile."""

    kind: str  # relevant, borderline, off-topic
    topic: str | None  # the profile topic a relevant or borderline paper touches
    gist: str  # what the paper is about, for the judge's comment


# -- text --------------------------------------------------------------------------------------


def titlecase(text: str) -> str:
    words = text.split(" ")
    out = []
    for i, word in enumerate(words):
        start = i == 0 or words[i - 1].endswith(":")
        keep = any(c.isupper() or c.isdigit() for c in word)
        if keep or (word in SMALL_WORDS and not start):
            out.append(word)
        else:
            out.append("-".join(p[:1].upper() + p[1:] for p in word.split("-")))
    return " ".join(out)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _method_name(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return "".join(rng.choice("ABCDEFGHKLMPRSTV") for _ in range(rng.randint(3, 5)))
    return rng.choice(NAME_HEADS) + rng.choice(NAME_TAILS)


def _words(text: str) -> int:
    return len(text.split())


def _fit_title(rng: random.Random, make, suffixes: tuple[str, ...]) -> str:
    """A title of 8 to 16 words: resampled, or padded with a suffix, until it fits."""
    for _ in range(50):
        title = titlecase(make())
        if _words(title) < 8:
            title = f"{title} {rng.choice(suffixes)}"
        if 8 <= _words(title) <= 16:
            return title
    raise RuntimeError("no title of 8-16 words from these banks")


def _abstract(rng: random.Random, head: list[str], middle: list[str], tail: str) -> str:
    """Sentences up to a target of 150-250 words: the head, then middle ones, then the tail."""
    target = rng.randint(150, 250)
    sentences = list(head)
    pool = list(middle)
    rng.shuffle(pool)
    while pool and _words(" ".join([*sentences, tail])) < target:
        sentence = pool.pop()
        if sentence not in sentences:
            sentences.append(sentence)
    text = " ".join([*sentences, tail])
    while _words(text) > 250 and len(sentences) > len(head):
        sentences.pop()
        text = " ".join([*sentences, tail])
    if _words(text) < 150:
        raise RuntimeError("phrase banks too short for a 150-word abstract")
    return text


def _a(phrase: str) -> str:
    return f"{'an' if phrase[:1].lower() in 'aeiou' else 'a'} {phrase}"


def _theme_slots(rng: random.Random, t: Theme) -> dict[str, Any]:
    subject = rng.choice(t.subjects)
    issue, issue2 = rng.sample(t.issues, 2)
    gerunds = [g for g in t.gerunds if g[:5].lower() != subject[:5].lower()]
    return {
        "subject": subject,
        "Subject": _cap(subject),
        "technique": rng.choice(t.techniques),
        "area": rng.choice(t.area),
        "goal": rng.choice(t.goals),
        "issue": issue,
        "issue2": issue2,
        "finding": rng.choice(t.findings),
        "bench": rng.choice(t.benches),
        "baseline": rng.choice(t.baselines),
        "metric": rng.choice(t.metrics),
        "gerund": rng.choice(gerunds or t.gerunds),
        "method": _method_name(rng),
        "a_adj": _a(rng.choice(ADJECTIVES)),
        "pct": rng.choice((3, 5, 8, 12, 17, 23, 31, 40)),
        "small": rng.choice(("125M", "350M", "1B")),
        "large": rng.choice(("7B", "13B", "70B")),
        "user": rng.choice(LAST_NAMES).lower().replace("'", "") + "-lab",
        "repo": subject.split()[0].lower().strip(",:") + "-" + str(rng.randint(1, 99)),
    }


def _themed_paper(rng: random.Random, t: Theme, suffixes: tuple[str, ...]) -> tuple[str, str]:
    s = _theme_slots(rng, t)

    def make_title() -> str:
        slots = dict(s, finding=_cap(rng.choice(t.findings).split(" that ")[0]))
        return rng.choice(TITLE_TEMPLATES).format(**slots)

    title = _fit_title(rng, make_title, suffixes)
    head = [rng.choice(CONTEXT), rng.choice(PROBLEM), rng.choice(METHOD), rng.choice(RESULTS)]
    findings = rng.sample(t.findings, len(t.findings))
    middle = [
        x.format(**dict(s, finding=findings[i % len(findings)]))
        for i, x in enumerate((*ANALYSIS, *EXTRA[:1]))
    ]
    middle += [x.format(**s) for x in (*DETAIL, *EXTRA[1:])]
    middle += [x.format(**dict(s, bench=b)) for x, b in zip(RESULTS[1:], t.benches, strict=False)]
    abstract = _abstract(
        rng, [x.format(**s) for x in head], middle, rng.choice(CLOSING).format(**s)
    )
    return title, abstract


def _borderline_paper(rng: random.Random) -> tuple[str, str, str, str, tuple[str, ...]]:
    topic, technique, adj = rng.choice(BORDERLINE_TECHNIQUES)
    a = rng.choice(APPS)
    obj = rng.choice(a.objects)
    s = {
        "obj": obj,
        "Obj": _cap(obj),
        "setting": rng.choice(a.settings),
        "issue": rng.choice(a.issues),
        "dataset": rng.choice(a.datasets),
        "metric": (metric := rng.choice(a.metrics)),
        "a_metric": _a(metric),
        "technique": technique,
        "adj": adj,
        "a_adj": _a(adj),
        "method": _method_name(rng),
        "pct": rng.choice((2, 4, 6, 9, 14)),
        "speed": rng.choice((2, 3, 4, 6)),
    }
    title = _fit_title(
        rng, lambda: rng.choice(BORDER_TITLES).format(**s), ("in Practice", "at the Edge")
    )
    head = [rng.choice(BORDER_CONTEXT), rng.choice(BORDER_METHOD), rng.choice(BORDER_RESULTS)]
    generic = [x.format(**s) for x in BORDER_DETAIL]
    generic += [rng.choice(BORDER_RESULTS[:2]).format(**dict(s, dataset=d)) for d in a.datasets]
    generic += [
        f"We use the standard recipe for {technique} without modification.",
        f"We compare {technique} with a full-size model trained on the same data.",
    ]
    abstract = _abstract(
        rng, [x.format(**s) for x in head], generic, rng.choice(BORDER_CLOSING).format(**s)
    )
    gist = f"applies {technique} to {obj}"
    return title, abstract, topic, gist, a.cats


def _authors(rng: random.Random) -> tuple[str, ...]:
    count = rng.choice((1, 2, 3, 3, 4, 4, 5, 6, 7, 9, 12))
    return tuple(f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" for _ in range(count))


def _categories(rng: random.Random, preferred: tuple[str, ...]) -> tuple[str, tuple[str, ...], str]:
    """(primary, categories, announce type): a paper outside the four is a cross-list."""
    primary = preferred[0] if rng.random() < 0.7 else rng.choice(preferred)
    cats = [primary]
    for cat in (*preferred, *READER_CATEGORIES):
        if cat not in cats and rng.random() < 0.25:
            cats.append(cat)
    if not set(cats) & set(READER_CATEGORIES):
        cats.append(rng.choice(("cs.LG", "cs.LG", "stat.ML", "cs.AI")))
    kind = "new" if primary in READER_CATEGORIES else "cross"
    return primary, tuple(cats), kind


# -- the day -----------------------------------------------------------------------------------


@dataclass
class Day:
    """A listing with its ground truth, and the judge that scores from it."""

    listing: Listing
    labels: dict[str, Label]
    seed: int

    @property
    def papers(self) -> list[Paper]:
        return self.listing.papers

    def ids(self, kind: str) -> set[str]:
        return {i for i, label in self.labels.items() if label.kind == kind}

    def judge(self, paper_id: str, title: str, abstract: str) -> tuple[int, int, str]:
        """(relevance, novelty, comment) as an accurate model would give them, for the topics
        of the request being answered (all of the example's topics outside a `DayServer`)."""
        label = self.labels.get(paper_id) or Label(OFF_TOPIC, None, "an unknown paper")
        rng = random.Random(f"{self.seed}:{paper_id}")
        high, mid, low = rng.randint(8, 9), rng.randint(4, 6), rng.randint(1, 2)
        novel, middling, routine = rng.randint(6, 8), rng.randint(4, 6), rng.randint(2, 5)
        topics = getattr(_reader, "topics", None) or set(TOPICS)
        topic = label.topic if label.topic in topics else None
        if label.kind == RELEVANT and topic is not None:
            return high, novel, f"Core {topic.lower()} work on {label.gist}."
        if label.kind == BORDERLINE and topic is not None:
            return mid, middling, f"Touches {topic.lower()} but {label.gist}."
        return low, routine, f"About {label.gist}, outside the reader's topics."


def make_day(n: int = 1000, seed: int = 0, day: date = DEFAULT_DAY) -> Day:
    """n papers: 5% relevant, 10% borderline, the rest off-topic, shuffled; same seed, same day."""
    rng = random.Random(seed)
    kinds = [RELEVANT] * round(n * SHARES[RELEVANT]) + [BORDERLINE] * round(n * SHARES[BORDERLINE])
    kinds += [OFF_TOPIC] * (n - len(kinds))
    rng.shuffle(kinds)
    papers: list[Paper] = []
    labels: dict[str, Label] = {}
    number = rng.randint(1000, 3000)
    prefix = f"{day.year % 100:02d}{day.month:02d}"
    titles: set[str] = set()
    for kind in kinds:
        number += rng.randint(1, 12)
        pid = f"{prefix}.{number:05d}"
        title = ""
        topic: str | None  # the theme's, None off-topic
        while not title or title in titles:  # arXiv titles of one day are distinct
            if kind == BORDERLINE:
                title, abstract, topic, gist, preferred = _borderline_paper(rng)
            else:
                bank = RELEVANT_THEMES if kind == RELEVANT else OFF_THEMES
                t = rng.choice(bank)
                suffixes = TITLE_SUFFIXES if kind == RELEVANT else OFF_SUFFIXES
                title, abstract = _themed_paper(rng, t, suffixes)
                topic, gist, preferred = t.topic, t.subjects[0], t.cats
        titles.add(title)
        primary, cats, announce = _categories(rng, preferred)
        papers.append(
            Paper(
                pid, title, _authors(rng), abstract, cats, primary, announce, rng.choice((1, 1, 2))
            )
        )
        labels[pid] = Label(kind, topic, gist)
    papers.sort(key=lambda p: (p.announce_type != "new", p.id))
    listing = Listing(day=day, papers=papers, listed=n)
    listing.new = sum(p.announce_type == "new" for p in papers)
    listing.cross = n - listing.new
    return Day(listing, labels, seed)


# -- the server --------------------------------------------------------------------------------

_reader = threading.local()
_TOPIC_LINE = re.compile(r"^\d+\. (.+?)\s*$", re.M)


class DayServer(FakeOpenAI):
    """The fake OpenAI server answering with `day.judge` for the topics each prompt names."""

    def oracle(self, messages: list[dict[str, Any]]) -> str:
        system = "".join(
            m["content"]
            for m in messages
            if m.get("role") == "system" and isinstance(m.get("content"), str)
        )
        _reader.topics = set(_TOPIC_LINE.findall(system)) & set(TOPICS)
        try:
            return super().oracle(messages)
        finally:
            _reader.topics = None


def judged(day: Day, profile: Profile, papers: list[Paper]) -> dict[str, Score]:
    """The scores a `DayServer` would answer for these papers under this profile's prompt,
    without a request: for benchmarks of what comes after scoring."""
    _reader.topics = {t.name for t in profile.topics} & set(TOPICS)
    try:
        return {p.id: Score(p.id, *day.judge(p.id, p.title, p.abstract)) for p in papers}
    finally:
        _reader.topics = None


def serve(day: Day, *, latency: float = 0.0, max_concurrent: int | None = None) -> DayServer:
    """A started `DayServer` for the day, expecting `API_KEY`; `stop()` it when done."""
    server = DayServer(
        latency=latency, max_concurrent=max_concurrent, judge=day.judge, api_key=API_KEY
    )
    server.know(day.papers)
    return server.start()


# -- profiles ----------------------------------------------------------------------------------


def example_profile() -> Profile:
    with EXAMPLE_PROFILE.open("rb") as fh:
        profile = Profile.model_validate(tomllib.load(fh))
    profile.id = "example"
    return profile


def make_profiles(k: int, seed: int = 0) -> list[Profile]:
    """k profiles with distinct prompts: the example first, then variants that keep a subset of
    its topics (at least two) and only the keywords of the topics kept."""
    base = example_profile()
    by_name = {t.name: t for t in base.topics}
    subsets = [c for size in range(len(TOPICS) - 1, 1, -1) for c in combinations(TOPICS, size)]
    random.Random(seed).shuffle(subsets)
    if k > len(subsets) + 1:
        raise ValueError(f"at most {len(subsets) + 1} distinct profiles")
    profiles = [base]
    for i, kept in enumerate(subsets[: k - 1], start=1):
        keywords = {w for name in kept for w in TOPIC_KEYWORDS[name]}
        variant = base.model_copy(
            update={
                "name": f"Reader {i}",
                "email": f"reader{i}@example.org",
                "topics": [by_name[name] for name in kept],
                "keywords": [w for w in base.keywords if w in keywords],
            }
        )
        variant.id = f"reader{i:02d}"
        profiles.append(variant)
    return profiles


def subscriber(profile: Profile, number: int) -> Profile:
    """Another subscriber reading exactly what `profile` reads (same prompts, own address)."""
    twin = profile.model_copy(
        update={"name": f"Subscriber {number}", "email": f"subscriber{number}@example.org"}
    )
    twin.id = f"{profile.id}-sub{number:03d}"
    return twin


# -- running and reporting -------------------------------------------------------------------

MODEL = "gpt-4o-mini"
PRICE = Price(prompt=0.15, cached=0.075, completion=0.60)  # USD per 1M tokens


def shipped_config() -> Config:
    """config.toml as the repository ships it."""
    return load_config(ROOT / "config.toml")


def llm_config(server: FakeOpenAI, **settings: Any) -> Config:
    """The shipped config.toml scoring gpt-4o-mini through `server`, at `PRICE`; `settings`
    change its [llm] keys."""
    config = shipped_config()
    llm = config.llm.model_dump() | {"base_url": server.base_url, "model": MODEL}
    llm |= {"prices": {MODEL: PRICE.model_dump()}} | settings
    return config.model_copy(update={"llm": LLMConfig.model_validate(llm)})


def billed_prompt_tokens(usage: Usage, price: Price = PRICE) -> float:
    """Prompt tokens weighted by price: a cached token counts as cached/prompt of one."""
    ratio = (price.cached if price.cached is not None else price.prompt) / price.prompt
    return usage.prompt_tokens - usage.cached_tokens + usage.cached_tokens * ratio


def total_usage(spend: dict[str, Usage]) -> Usage:
    total = Usage(model="all")
    for usage in spend.values():
        total.add(usage)
    return total


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """Rows as an aligned plain-text table: text to the left, numbers to the right."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_numeric(row[i]) for row in cells[1:]) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(row, widths, numeric, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _numeric(value: Any) -> bool:
    return bool(re.fullmatch(r"[-+$]?[\d.,]+[%x]?s?|-", value.strip()))


def verdict(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'MISS'}: {text}"
