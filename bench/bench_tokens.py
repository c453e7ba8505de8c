"""Figure 1: what scoring a day costs per listed paper, and what it loses, when the model is
not sure from a title.

One profile (subscribers/example.toml, uncapped so that every paper above its cutoffs counts),
on `bench.hardday` days of 1,000 papers: most off-topic papers sound on-topic, and the judge
reads a title with a fixed per-paper error of +-1, +-2 or +-3 (each a row) and a cut abstract
with an error that grows as less is read (+-1 from 200 characters, none from 400). Every
configuration is the shipped config.toml with some `[llm]` keys changed; the shipped one comes
first. A fresh store and server per run. Tokens are counted in o200k_base, the encoding
gpt-4o-mini is billed in (`bench.tokenizer`).

For each: billed prompt tokens per listed paper (cached tokens weighted 0.075/0.15, gpt-4o-mini
prices), completion tokens per paper, papers read in full, dollars per profile-day (sync, and
the same requests at the Batch API's half price), and recall of the picks: the papers at or
above the profile's cutoffs on their true scores. Means over the days; recall and papers lost
on the worst day. Then where the shipped configuration's tokens go, pass by pass, and the same
configuration in batch mode through the fake's Batch API, to check that it picks the same
papers at half the dollars.

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
    Day,
    DayServer,
    billed_prompt_tokens,
    example_profile,
    llm_config,
    table,
    total_usage,
    verdict,
)
from bench.fakes.openai import SKIM_EXAMPLE, parse_papers
from bench.hardday import ErringJudge, make_hard_day
from bench.tokenizer import o200k
from newsletter.pipeline import score_day
from newsletter.profiles import Profile
from newsletter.store import Store

TARGET = 50.0  # billed prompt tokens per listed paper, with the defaults
ERRORS = (1, 2, 3)  # the title judge's error bound, per row
UNCAPPED = 500
SHIPPED = "shipped config.toml"
ECONOMY = {"title_batch_size": 1000, "batch_size": 100, "title_cutoff": 6,
           "abstract_chars": 300, "prefilter_keep": 0.7, "skim_chars": 0}  # fmt: skip
CONFIGS: list[tuple[str, dict[str, Any]]] = [
    (SHIPPED, {}),
    ("no skim", {"skim_chars": 0}),
    ("no skim, title_cutoff 4 (defaults before)", {"skim_chars": 0, "title_cutoff": 4}),
    ("abstracts only", {"title_pass": False, "skim_chars": 0}),
    ("no title pass (skim every paper)", {"title_pass": False}),
    ("title_cutoff 4", {"title_cutoff": 4}),
    ("title_cutoff 5", {"title_cutoff": 5}),
    ("skim_chars 160", {"skim_chars": 160}),
    ("skim_chars 300", {"skim_chars": 300}),
    ("skim_batch_size 300", {"skim_batch_size": 300}),
    ("title_batch_size 1000", {"title_batch_size": 1000}),
    ("abstract_chars 420", {"abstract_chars": 420}),
    ("abstract_chars 300", {"abstract_chars": 300}),
    ("prefilter_keep 0.7", {"prefilter_keep": 0.7}),
    ("economy (config.toml in 0.1.0)", ECONOMY),
]
PASSES = ("titles", "skim", "full read")


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
    passes: dict[str, tuple[int, int, int]]  # pass -> requests, papers, prompt tokens (sync)


def run(day: Day, profile: Profile, error: int, settings: dict[str, Any]) -> Result:
    judge = ErringJudge(day, error)
    server = DayServer(judge=judge, api_key=API_KEY, batch_latency=0.05, tokens=o200k())
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
        read=selection.read,
        cost=usage.cost_usd or 0.0,
        batch_cost=batch_price.cost(
            usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens
        ),
        picks=len(picks),
        kept=len(picks & set(chosen)),
        chosen=chosen,
        passes=passes([r.body for r in server.requests]),
    )


def passes(bodies: list[Any]) -> dict[str, tuple[int, int, int]]:
    """Requests, papers asked about and prompt tokens (uncached), per pass."""
    count = o200k()
    out = dict.fromkeys(PASSES, (0, 0, 0))
    for body in bodies:
        messages = body.get("messages") if isinstance(body, dict) else None
        if not messages:
            continue
        system, user = messages[0]["content"], messages[-1]["content"]
        skim = SKIM_EXAMPLE.search(system)
        kind = "full read" if "NOVELTY" in system else "skim" if skim else "titles"
        papers = len(parse_papers(user))
        tokens = 3 + sum(4 + count(m["content"]) for m in messages)
        requests, asked, billed = out[kind]
        out[kind] = (requests + 1, asked + papers, billed + tokens)
    return out


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


def floor(day: Day, profile: Profile, error: int = 3) -> str:
    """The least any funnel could bill on this day with this judge, keeping all but at most
    one pick at this title error: every title read once; the first 200 characters (where the
    judge's error falls to +-1) of every abstract that the highest title cut losing at most
    one pick keeps; and the next 200 of each pick's abstract (where its error falls to 0). No
    ids, no system prompt, no title shown twice, no margin: any real prompt costs more."""
    count, judge = o200k(), ErringJudge(day, error)
    picks = judge.picks((profile.relevance_cutoff, profile.novelty_cutoff))
    titles = {p.id: judge(p.id, p.title, "")[0] for p in day.papers}
    cut = max(c for c in range(1, 11) if sum(titles[i] < c for i in picks) <= 1)
    kept = [p for p in day.papers if titles[p.id] >= cut]
    parts = (
        count("\n".join(p.title for p in day.papers)),
        count("\n".join(p.abstract[:200] for p in kept)),
        count("\n".join(p.abstract[200:400] for p in day.papers if p.id in picks)),
    )
    n = len(day.papers)
    return (
        f"floor, day {day.seed}, +-{error}: titles {parts[0] / n:.1f} + the opening of the "
        f"{len(kept)} abstracts a title cut at {cut} keeps {parts[1] / n:.1f} + the rest of "
        f"the {len(picks)} picks' {parts[2] / n:.1f} = {sum(parts) / n:.1f} tokens per listed "
        "paper, before any prompt around them"
    )


def breakdown(row: Row) -> str:
    """Where the configuration's prompt tokens go, per pass, averaged over the days."""
    parts = []
    for kind in PASSES:
        requests, papers, tokens = (mean(r.passes[kind][i] for r in row.runs) for i in range(3))
        listed = mean(r.listed for r in row.runs)
        parts.append(f"{kind} {tokens / listed:.1f} ({papers:.0f} papers, {requests:.0f} "
                     "requests)")  # fmt: skip
    return f"{row.name}, +-{row.error}: prompt tokens per listed paper, uncached: " + " + ".join(
        parts
    )


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
    parser.add_argument("--days", type=int, default=3, help="days (seeds) to average")
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
        "\nbilled/paper: billed prompt tokens per listed paper; read: papers read in full; "
        "picks per day: " + ", ".join(str(r.picks) for r in rows[0].runs) + "\n"
    )
    shipped = {r.error: r for r in rows if r.name == SHIPPED}
    for error in ERRORS:
        print(breakdown(shipped[error]))
    for day in days:
        print(floor(day, profile))
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
