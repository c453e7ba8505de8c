"""Figure 1: prompt tokens per listed paper, per profile, on a 1,000-paper day.

One profile (subscribers/example.toml), the fake model at latency 0, a fresh store and a fresh
server per run (no score cache and no prompt cache carried over). Every configuration is the
shipped config.toml with some `[llm]` keys changed, and the shipped settings come first. For each:
billed prompt tokens per listed paper (uncached + cached x 0.075/0.15, gpt-4o-mini prices), split
into the title pass and the abstract pass, papers read on their abstract, completion tokens per
paper, requests, $ per day, and recall against the abstract-only run (a).

Recall is the share of (a)'s selection that a configuration still selects, counted three times:
for the digest (the profile's max_papers = 30 best), for the day's relevant papers (by their
label; all of them are above the cutoffs), and for every paper above the profile's cutoffs (the
digest before its cap, with the borderline papers the judge scores at the cutoff). The target
asks that the digest and every relevant paper be kept. Figures are means over `--days` synthetic
days; recall is the worst day. The keyword pre-filter reads the papers' real text, so its recall
is measured; the judge gives a title, or a cut abstract, the relevance of the whole paper, so
title_cutoff and abstract_chars cost no recall here by construction.

    .venv/bin/python bench/bench_tokens.py [--papers 1000] [--days 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dayfactory import (
    API_KEY,
    PRICE,
    RELEVANT,
    Day,
    billed_prompt_tokens,
    example_profile,
    llm_config,
    make_day,
    serve,
    table,
    total_usage,
    verdict,
)
from newsletter.pipeline import score_day
from newsletter.profiles import Profile
from newsletter.store import Store
from tests.fakes.openai import count_tokens

TARGET = 30.0  # billed prompt tokens per listed paper
BASELINE = "72-81"  # the system this project grows from
UNCAPPED = 500  # max_papers for the runs, so that every paper above the cutoffs is seen

# (d): larger title batches (T), larger abstract batches (B), a higher title cutoff (cut) and
# shorter abstracts (chars). A title batch asks for 20 answer tokens a paper and gpt-4o-mini
# answers at most 16,384: T = 500 is about the largest batch that model accepts.
D = {"title_batch_size": 500, "batch_size": 50}
SHIPPED, REFERENCE = "b  shipped config.toml", "a  abstracts only"
CONFIGS: list[tuple[str, dict[str, Any]]] = [
    (SHIPPED, {}),
    (REFERENCE, {"title_pass": False, "prefilter_keep": 1.0}),
    ("c  + prefilter 0.5", {"prefilter_keep": 0.5}),
    ("c  + prefilter 0.3", {"prefilter_keep": 0.3}),
    ("c  + prefilter 0.2", {"prefilter_keep": 0.2}),
    ("d  T500", {"title_batch_size": 500}),
    ("d  T500 B50", D),
    ("d  T500 B50 chars 600", D | {"abstract_chars": 600}),
    ("d  T500 B50 cut 5", D | {"title_cutoff": 5}),
    ("d  T500 B50 cut 6", D | {"title_cutoff": 6}),
    ("d  T500 B50 cut 6 chars 600", D | {"title_cutoff": 6, "abstract_chars": 600}),
    ("d  T500 B50 cut 6 chars 400", D | {"title_cutoff": 6, "abstract_chars": 400}),
    ("d  T500 B50 cut 6 chars 300", D | {"title_cutoff": 6, "abstract_chars": 300}),
    ("c+d  keep 0.8 T500 B50 cut 6 chars 300", D | {"prefilter_keep": 0.8, "title_cutoff": 6,
                                                   "abstract_chars": 300}),
    ("c+d  keep 0.7 T500 B50 cut 6 chars 300", D | {"prefilter_keep": 0.7, "title_cutoff": 6,
                                                   "abstract_chars": 300}),
    ("c+d  keep 0.6 T500 B50 cut 6 chars 300", D | {"prefilter_keep": 0.6, "title_cutoff": 6,
                                                   "abstract_chars": 300}),
    ("c+d  keep 0.5 T500 B50 cut 6 chars 300", D | {"prefilter_keep": 0.5, "title_cutoff": 6,
                                                   "abstract_chars": 300}),
    ("c+d  keep 0.7 T1000 B100 cut 6 chars 300", {"title_batch_size": 1000, "batch_size": 100,
                                                  "prefilter_keep": 0.7, "title_cutoff": 6,
                                                  "abstract_chars": 300}),
]  # fmt: skip


@dataclass
class Result:
    """One configuration on one day."""

    listed: int
    requests: int
    prompt: int
    cached: int
    completion: int
    cost: float
    billed: float
    title_prompt: int  # prompt tokens of the title pass (never cached: its prompt is short)
    read: int  # papers that reached the abstract pass
    passing: list[str]  # papers above the cutoffs, best first
    relevant: list[str]  # those of them the day labels relevant


def run(day: Day, profile: Profile, settings: dict[str, Any]) -> Result:
    server = serve(day)
    try:
        config = llm_config(server, **settings)
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
            selections, scoring = score_day(config, store, day.listing, [profile])
            spend, requests = scoring.spend, scoring.requests
    finally:
        server.stop()
    usage = total_usage(spend)
    selection = selections[0]
    return Result(
        listed=selection.listed,
        requests=requests,
        prompt=usage.prompt_tokens,
        cached=usage.cached_tokens,
        completion=usage.completion_tokens,
        cost=usage.cost_usd or 0.0,
        billed=billed_prompt_tokens(usage),
        title_prompt=sum(prompt_tokens(r.body) for r in server.requests if is_title(r.body)),
        read=selection.scanned,
        passing=(passing := [k.paper.id for k in selection.picks if not k.author_match]),
        relevant=[i for i in passing if i in day.ids(RELEVANT)],
    )


def is_title(body: dict) -> bool:
    return "NOVELTY" not in body["messages"][0]["content"]


def prompt_tokens(body: dict) -> int:
    """What the fake bills for a request's prompt (its own count: 4 characters a token)."""
    return 3 + sum(4 + count_tokens(m["content"]) for m in body["messages"])


def recall(reference: list[str], found: list[str]) -> float:
    ref = set(reference)
    return len(ref & set(found)) / len(ref) if ref else 1.0


@dataclass
class Row:
    """One configuration over all days: means, and the worst day's recall."""

    name: str
    settings: dict[str, Any]
    runs: list[Result]
    recall_digest: float
    recall_relevant: float
    recall_cutoffs: float

    def per_paper(self, field: str) -> float:
        return mean(getattr(r, field) / r.listed for r in self.runs)

    def avg(self, field: str) -> float:
        return mean(getattr(r, field) for r in self.runs)

    @property
    def billed(self) -> float:
        return self.per_paper("billed")

    @property
    def lossless(self) -> bool:
        """Nothing lost that (a) selects: the digest, and every paper above the cutoffs."""
        return self.recall_digest == 1.0 and self.recall_cutoffs == 1.0

    @property
    def keeps_the_relevant(self) -> bool:
        """The target's recall: the digest unchanged and no relevant paper of the day lost."""
        return self.recall_digest == 1.0 and self.recall_relevant == 1.0

    def cells(self) -> list[Any]:
        abstracts = mean((r.billed - r.title_prompt) / r.listed for r in self.runs)
        return [
            self.name,
            f"{self.avg('requests'):.0f}",
            f"{self.avg('prompt'):,.0f}",
            f"{self.avg('cached'):,.0f}",
            f"{self.billed:.1f}",
            f"{self.per_paper('title_prompt'):.1f}",
            f"{abstracts:.1f}",
            f"{self.avg('read'):.0f}",
            f"{self.per_paper('completion'):.1f}",
            f"${self.avg('cost'):.4f}",
            f"{self.recall_digest:.0%}",
            f"{self.recall_relevant:.0%}",
            f"{self.recall_cutoffs:.0%}",
        ]


HEADERS = [
    "config", "requests", "prompt", "cached", "billed/paper", "titles", "abstracts", "read",
    "compl/paper", "$/day", "recall@digest", "@relevant", "@cutoffs",
]  # fmt: skip


def make_row(
    name: str, settings: dict[str, Any], runs: list[Result], reference: list[Result], cap: int
) -> Row:
    """A configuration's runs, with recall against the reference's runs of the same days."""
    pairs = list(zip(reference, runs, strict=True))
    return Row(
        name,
        settings,
        runs,
        min(recall(a.passing[:cap], b.passing[:cap]) for a, b in pairs),
        min(recall(a.relevant, b.passing) for a, b in pairs),
        min(recall(a.passing, b.passing) for a, b in pairs),
    )


def describe(row: Row) -> str:
    settings = ", ".join(f"{k} = {v}" for k, v in row.settings.items()) or "as shipped"
    return (
        f"{row.name.strip()}: {row.billed:.1f} billed/paper, recall {row.recall_digest:.0%} "
        f"digest / {row.recall_relevant:.0%} relevant / {row.recall_cutoffs:.0%} cutoffs\n"
        f"    [llm] {settings}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=3, help="synthetic days (seeds) to average")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first day")
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = API_KEY

    reader = example_profile()
    cap = reader.max_papers
    profile = reader.model_copy(update={"max_papers": UNCAPPED})
    profile.id = reader.id
    days = [make_day(args.papers, args.seed + i) for i in range(args.days)]
    print(
        f"Figure 1 - prompt tokens per listed paper: {args.days} day(s) of {args.papers} papers "
        f"(5% relevant, 10% borderline), profile '{reader.id}' (max_papers {cap}),\n"
        f"gpt-4o-mini prices {PRICE.prompt}/{PRICE.cached}/{PRICE.completion} $ per 1M tokens "
        "(prompt/cached/completion), fake latency 0. Means over the days; recall: worst day.\n"
    )

    grid = {name: [run(day, profile, settings) for day in days] for name, settings in CONFIGS}
    reference = grid[REFERENCE]
    rows = [make_row(name, settings, grid[name], reference, cap) for name, settings in CONFIGS]
    by_name = {r.name: r for r in rows}
    shipped = by_name[SHIPPED]
    print(
        f"shipped config.toml: {shipped.billed:.1f} billed prompt tokens per listed paper, "
        f"{shipped.avg('requests'):.0f} requests, ${shipped.avg('cost'):.4f} a day, recall "
        f"{shipped.recall_digest:.0%} digest / {shipped.recall_relevant:.0%} relevant / "
        f"{shipped.recall_cutoffs:.0%} cutoffs\n"
    )
    print(table(HEADERS, [r.cells() for r in rows]))
    print(
        "\ntitles / abstracts: billed prompt tokens per listed paper in each pass; read: papers "
        "scored on their abstract;\nabove the cutoffs in (a): "
        + ", ".join(str(len(r.passing)) for r in reference)
        + f" papers. Reference baseline: {BASELINE} prompt tokens per listed paper.\n"
    )
    lossless = min((r for r in rows if r.lossless), key=lambda r: r.billed)
    print("cheapest losing nothing above the cutoffs:", describe(lossless))
    best = min((r for r in rows if r.keeps_the_relevant), key=lambda r: r.billed)
    print("cheapest keeping the digest and every relevant paper:", describe(best))
    print(
        verdict(
            best.billed <= TARGET,
            f"{best.billed:.1f} billed prompt tokens per listed paper with the digest and every "
            f"relevant paper kept (target <= {TARGET:.0f}; shipped config.toml "
            f"{shipped.billed:.1f}, abstracts only {by_name[REFERENCE].billed:.1f})",
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
