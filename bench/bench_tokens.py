"""Figure 1: what scoring a day costs per listed paper, and what it loses, when the model is
not sure from a title.

One profile (subscribers/example.toml, uncapped so that every paper above its cutoffs counts),
on `bench.hardday` days of 1,000 papers: most off-topic papers sound on-topic, and the judge
reads a title with a fixed per-paper error of +-1, +-2 or +-3 (each a row) and a cut abstract
with an error that grows as less is read. Every configuration is the shipped config.toml with
some `[llm]` keys changed; the shipped one comes first. A fresh store and server per run.

For each: billed prompt tokens per listed paper (cached tokens weighted 0.075/0.15, gpt-4o-mini
prices), completion tokens per paper, papers read on their abstract, dollars per profile-day
(sync, and the same requests at the Batch API's half price), and recall of the picks: the papers
at or above the profile's cutoffs on their true scores. The shipped configuration is also run
in batch mode through the fake's Batch API, to check that it picks the same papers at half the
dollars. Last, two floors from the judge itself: what a title cut losing no pick leaves to read,
and what a funnel with one more stage (a short read, then a full read of its band) costs at the
least.

    .venv/bin/python bench/bench_tokens.py [--papers 1000] [--days 1] [--seed 0]
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
    Day,
    DayServer,
    billed_prompt_tokens,
    example_profile,
    llm_config,
    table,
    total_usage,
    verdict,
)
from bench.hardday import ErringJudge, make_hard_day, read_error
from newsletter.models import Paper
from newsletter.pipeline import score_day
from newsletter.profiles import Profile
from newsletter.prompt import truncate
from newsletter.store import Store
from tests.fakes.openai import count_tokens

TARGET = 50.0  # billed prompt tokens per listed paper, with the defaults
ERRORS = (1, 2, 3)  # the title judge's error bound, per row
UNCAPPED = 500
SHIPPED = "shipped config.toml"
LEAN_TITLES = "title_batch_size 1000"
MIDDLE_CHARS = (300, 230, 80)  # short reads: the judge errs by +-1 from 200 characters, +-3 at 80
FULL_CHARS = 420  # the least that still reads 400 characters once cut at a word
ECONOMY = {"title_batch_size": 1000, "batch_size": 100, "title_cutoff": 6,
           "abstract_chars": 300, "prefilter_keep": 0.7}  # fmt: skip
CONFIGS: list[tuple[str, dict[str, Any]]] = [
    (SHIPPED, {}),
    ("abstracts only", {"title_pass": False}),
    ("title_cutoff 3 (the default before)", {"title_cutoff": 3}),
    ("title_cutoff 5", {"title_cutoff": 5}),
    ("abstract_chars 300", {"abstract_chars": 300}),
    ("prefilter_keep 0.7", {"prefilter_keep": 0.7}),
    (LEAN_TITLES, {"title_batch_size": 1000}),
    ("batch_size 199", {"batch_size": 199}),  # the largest whose answer fits
    ("batches 1000/199", {"title_batch_size": 1000, "batch_size": 199}),
    ("economy (config.toml before)", ECONOMY),
]


@dataclass
class Result:
    """One configuration, one title error, one day."""

    listed: int
    billed: float
    completion: int
    read: int
    cost: float
    batch_cost: float
    picks: int
    kept: int
    chosen: list[str]
    title_prompt: int  # prompt tokens of the title pass's requests (sync runs)


def run(day: Day, profile: Profile, error: int, settings: dict[str, Any]) -> Result:
    judge = ErringJudge(day, error)
    server = DayServer(judge=judge, api_key=API_KEY, batch_latency=0.05)
    server.know(day.papers)
    server.start()
    try:
        config = llm_config(server, batch_poll=0.02, **settings)
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
            selections, scoring = score_day(config, store, day.listing, [profile])
    finally:
        server.stop()
    usage, selection = total_usage(scoring.spend), selections[0]
    chosen = [k.paper.id for k in selection.picks if not k.author_match]
    picks = judge.picks((profile.relevance_cutoff, profile.novelty_cutoff))
    batch_price = PRICE.batch_price()
    return Result(
        listed=selection.listed,
        billed=billed_prompt_tokens(usage),
        completion=usage.completion_tokens,
        read=selection.scanned,
        cost=usage.cost_usd or 0.0,
        batch_cost=batch_price.cost(
            usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens
        ),
        picks=len(picks),
        kept=len(picks & set(chosen)),
        chosen=chosen,
        title_prompt=sum(prompt_tokens(r.body) for r in server.requests if is_title(r.body)),
    )


def is_title(body: Any) -> bool:
    messages = body.get("messages") if isinstance(body, dict) else None
    return bool(messages) and "NOVELTY" not in messages[0]["content"]


def prompt_tokens(body: dict) -> int:
    """What the fake bills for a request's prompt (its own count: 4 characters a token)."""
    return 3 + sum(4 + count_tokens(m["content"]) for m in body["messages"])


def funnel_floor(day: Day, profile: Profile, error: int, title_tokens: float) -> str:
    """Why a title pass cannot carry the target alone: the papers any title cut must keep to
    lose no pick at this error, and what is left per paper kept to read its abstract."""
    judge = ErringJudge(day, error)
    titles = {p.id: judge(p.id, p.title, "")[0] for p in day.papers}
    cut = profile.relevance_cutoff - error  # a true cutoff paper read `error` too low
    kept = sum(score >= cut for score in titles.values())
    left = (TARGET - title_tokens) * len(day.papers) / kept
    return (
        f"+-{error}: a title cut losing no pick keeps titles >= {cut}: {kept} of "
        f"{len(day.papers)} papers; after the title pass ({title_tokens:.1f} per listed "
        f"paper) a {TARGET:.0f}-token budget leaves {left:.0f} tokens per paper kept"
    )


def middle_floor(day: Day, profile: Profile, error: int, title_tokens: float, chars: int) -> str:
    """Why one more stage cannot carry the target either: the title cut above, then a read of
    every paper it keeps cut to `chars`, then a full read of only the band that read leaves
    open (judged within its error of a cutoff). Counted as cheaply as it could be sent: each
    paper's id and abstract alone (no title, no authors), no system prompt, and the short
    read's clear picks kept at its scores. A lower bound: any real prompt costs more."""
    judge = ErringJudge(day, error)
    cutoffs = (profile.relevance_cutoff, profile.novelty_cutoff)
    kept = [p for p in day.papers if judge(p.id, p.title, "")[0] >= cutoffs[0] - error]
    short = {p.id: judge(p.id, p.title, truncate(p.abstract, chars))[:2] for p in kept}
    bound = {p.id: cut_error(p, chars) for p in kept}  # what the judge may err by on it
    margin = {i: min(s[0] - cutoffs[0], s[1] - cutoffs[1]) for i, s in short.items()}
    maybe = {i for i, m in margin.items() if m >= -bound[i]}
    sure = {i for i in maybe if margin[i] >= bound[i]}
    band = [p for p in kept if p.id in maybe - sure]
    picks = judge.picks(cutoffs)
    found, wrong = len(maybe & picks), len(sure - picks)  # the band's full read is exact
    errors = sorted(set(bound.values()) | {cut_error(p, FULL_CHARS) for p in band})
    middle = id_and_abstract(kept, chars) / len(day.papers)
    full = id_and_abstract(band, FULL_CHARS) / len(day.papers)
    return (
        f"+-{error}: titles ({title_tokens:.1f}) + a {chars}-character read of the "
        f"{len(kept)} kept ({middle:.1f}) + a {FULL_CHARS}-character read of the {len(band)} "
        f"in its band ({full:.1f}) = {title_tokens + middle + full:.1f} per listed paper before "
        f"any system prompt; {found} of {len(picks)} picks found, {wrong} wrongly; read errors "
        f"{errors}"
    )


def cut_error(paper: Paper, chars: int) -> int:
    """The judge's error bound on this paper's abstract cut to `chars`."""
    read = truncate(paper.abstract, chars).removesuffix("…").rstrip()
    return read_error(len(read), len(read) >= len(paper.abstract) - 1)


def id_and_abstract(papers: list[Paper], chars: int) -> int:
    """What the fake bills for the cheapest paper block a judge could still answer."""
    return count_tokens("".join(f"ARXIVID: {p.id}\nAbstract: {truncate(p.abstract, chars)}\n\n"
                                for p in papers))  # fmt: skip


@dataclass
class Row:
    name: str
    error: int
    runs: list[Result]

    def per_paper(self, field: str) -> float:
        return mean(getattr(r, field) / r.listed for r in self.runs)

    def avg(self, field: str) -> float:
        return mean(getattr(r, field) for r in self.runs)

    @property
    def lost(self) -> int:
        """Picks lost on the worst day."""
        return max(r.picks - r.kept for r in self.runs)

    def cells(self) -> list[Any]:
        recall = min(r.kept / r.picks for r in self.runs)
        return [self.name, f"+-{self.error}", f"{self.per_paper('billed'):.1f}",
                f"{self.per_paper('completion'):.1f}", f"{self.avg('read'):.0f}",
                f"${self.avg('cost'):.4f}", f"${self.avg('batch_cost'):.4f}",
                f"{recall:.0%}", f"{self.lost}"]  # fmt: skip


HEADERS = ["config", "title error", "billed/paper", "compl/paper", "read", "$ sync", "$ batch",
           "recall", "lost"]  # fmt: skip


def batch_check(days: list[Day], profile: Profile, error: int) -> tuple[bool, str]:
    """The shipped configuration in batch mode: the same picks, at what share of the dollars.
    Against the sync run as billed (its later requests hit the prompt cache, which the fake's
    batches do not), and against the batch run's own tokens at the sync price."""
    sync = [run(day, profile, error, {}) for day in days]
    batch = [run(day, profile, error, {"mode": "batch"}) for day in days]
    same = all(a.chosen == b.chosen for a, b in zip(sync, batch, strict=True))
    paid, billed = mean(b.cost for b in batch), mean(a.cost for a in sync)
    at_sync_price = mean(2 * b.batch_cost for b in batch)  # batch_cost: half of sync's price
    share = paid / at_sync_price
    return same and share <= 0.5 + 1e-9, (
        f"batch mode, shipped config, title error +-{error}: picks "
        f"{'identical' if same else 'DIFFERENT'}; ${paid:.4f} a day, {share:.3f} x the same "
        f"requests at the sync price (${at_sync_price:.4f}), {paid / billed:.3f} x the sync run "
        f"as billed (${billed:.4f}, with prompt-cache hits)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=1, help="days (seeds) to average")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first day")
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = API_KEY

    reader = example_profile()
    profile = reader.model_copy(update={"max_papers": UNCAPPED})
    profile.id = reader.id
    days = [make_hard_day(args.papers, args.seed + i) for i in range(args.days)]
    print(
        f"Figure 1 - {args.days} hard day(s) of {args.papers} papers, profile '{reader.id}' "
        f"(cutoffs {reader.relevance_cutoff}/{reader.novelty_cutoff}, uncapped), gpt-4o-mini "
        f"prices {PRICE.prompt}/{PRICE.cached}/{PRICE.completion} $ per 1M tokens, batch at "
        "half. Means over the days; recall and lost: the worst day.\n"
    )
    rows = [Row(name, error, [run(day, profile, error, settings) for day in days])
            for name, settings in CONFIGS for error in ERRORS]  # fmt: skip
    print(table(HEADERS, [r.cells() for r in rows]))
    print(
        "\nbilled/paper: billed prompt tokens per listed paper; read: papers scored on their "
        "abstract; picks per day: " + ", ".join(str(r.picks) for r in rows[0].runs) + "\n"
    )
    shipped = {r.error: r for r in rows if r.name == SHIPPED}
    for error in ERRORS:
        title_tokens = shipped[error].runs[0].title_prompt / args.papers
        print(funnel_floor(days[0], profile, error, title_tokens))
    lean = next(r for r in rows if r.name == LEAN_TITLES and r.error == 2)
    for chars in MIDDLE_CHARS:  # at +-2, with the title pass in one request
        print(middle_floor(days[0], profile, 2, lean.runs[0].title_prompt / args.papers, chars))
    ok_batch, line = batch_check(days, profile, 2)
    print(line)
    billed = shipped[2].per_paper("billed")
    ok = billed <= TARGET and shipped[2].lost == 0 and shipped[3].lost <= 1
    print(
        verdict(
            ok,
            f"shipped config.toml: {billed:.1f} billed prompt tokens per listed paper (target "
            f"<= {TARGET:.0f}), {shipped[2].lost} picks lost at +-2 (target 0), "
            f"{shipped[3].lost} at +-3 (target <= 1)",
        )
    )
    print(verdict(ok_batch, "batch mode: the same picks at half the dollars of the same requests"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
