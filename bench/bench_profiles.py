"""Figure 3: subscribers who share a profile cost what the profile costs alone.

100 subscribers reading 10 distinct profiles (10 each: own name and address, same topics and
keywords, so the same prompts) against the 10 profiles alone, on one day, each run with a fresh
store and a fresh fake model (latency 0). Prompt, cached and completion tokens, requests and $
must match within 5%, and every subscriber must get the picks of its profile.

    .venv/bin/python bench/bench_profiles.py [--papers 1000] [--profiles 10] [--subscribers 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dayfactory import (
    API_KEY,
    Day,
    llm_config,
    make_day,
    make_profiles,
    serve,
    subscriber,
    table,
    total_usage,
    verdict,
)
from newsletter.models import Selection, Usage
from newsletter.pipeline import score_day
from newsletter.profiles import Profile
from newsletter.store import Store

TOLERANCE = 0.05


def run(day: Day, profiles: list[Profile]) -> tuple[list[Selection], Usage, int]:
    server = serve(day)
    try:
        config = llm_config(server)
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
            selections, scoring = score_day(config, store, day.listing, profiles)
            spend, requests = scoring.spend, scoring.requests
    finally:
        server.stop()
    return selections, total_usage(spend), requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--profiles", type=int, default=10)
    parser.add_argument("--subscribers", type=int, default=100)
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = API_KEY

    day = make_day(args.papers)
    profiles = make_profiles(args.profiles)
    reads = {i: profiles[i % len(profiles)] for i in range(args.subscribers)}
    subscribers = [subscriber(profile, i) for i, profile in reads.items()]
    reads_id = {s.id: reads[i].id for i, s in enumerate(subscribers)}
    print(
        f"Figure 3 - shared profiles: {args.subscribers} subscribers over {args.profiles} "
        f"distinct profiles vs the {args.profiles} profiles alone, {args.papers} papers, "
        "the shipped config.toml, fake latency 0\n"
    )
    alone_sel, alone, alone_requests = run(day, profiles)
    shared_sel, shared, shared_requests = run(day, subscribers)

    figures = [
        ("prompt tokens", alone.prompt_tokens, shared.prompt_tokens),
        ("cached tokens", alone.cached_tokens, shared.cached_tokens),
        ("completion tokens", alone.completion_tokens, shared.completion_tokens),
        ("requests", alone_requests, shared_requests),
        ("cost $", alone.cost_usd or 0.0, shared.cost_usd or 0.0),
    ]
    rows = []
    worst = 0.0
    for name, a, b in figures:
        ratio = b / a if a else (1.0 if b == a else float("inf"))
        if name != "cached tokens":  # the prompt cache's hits depend on timing, not on sharing
            worst = max(worst, abs(ratio - 1))
        shown = (f"{a:.5f}", f"{b:.5f}") if isinstance(a, float) else (f"{a:,}", f"{b:,}")
        rows.append([name, *shown, f"{ratio:.3f}"])
    headers = ["", f"{args.profiles} profiles alone", f"{args.subscribers} subscribers", "ratio"]
    print(table(headers, rows))

    picks = {s.subscriber_id: [k.paper.id for k in s.picks] for s in alone_sel}
    mismatched = [
        s.subscriber_id
        for s in shared_sel
        if [k.paper.id for k in s.picks] != picks[reads_id[s.subscriber_id]]
    ]
    print(
        f"\nsubscribers whose picks differ from their profile's: {len(mismatched)} of "
        f"{len(subscribers)}; picks per profile: " + ", ".join(str(len(p)) for p in picks.values())
    )
    print(
        verdict(
            worst <= TOLERANCE and not mismatched,
            f"{args.subscribers} subscribers cost within {worst:.1%} of their {args.profiles} "
            f"profiles alone (tolerance {TOLERANCE:.0%}), same picks for all",
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
