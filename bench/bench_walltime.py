"""Figure 2: wall time of scoring a day for many profiles, against the concurrency bound.

A 400-paper day, 20 profiles with distinct prompts, the fake model answering every request in
2.0 s and refusing (429) any request beyond `[llm] concurrency = 16` in flight. The bound is what
perfect packing would take: requests x 2.0 s / 16. Then the request count for 100, 400 and 1,000
papers and 1, 5 and 20 profiles (latency 0). Other settings are the shipped config.toml's.

    .venv/bin/python bench/bench_walltime.py [--papers 400] [--profiles 20] [--latency 2.0]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dayfactory import (
    API_KEY,
    Day,
    llm_config,
    make_day,
    make_profiles,
    serve,
    table,
    total_usage,
    verdict,
)
from newsletter.pipeline import score_day
from newsletter.profiles import Profile
from newsletter.store import Store

TARGET = 1.15  # wall time / bound
CONCURRENCY = 16
GROWTH_PAPERS = (100, 400, 1000)
GROWTH_PROFILES = (1, 5, 20)


@dataclass
class Timing:
    seconds: float
    requests: int
    in_flight: int  # the server's high-water mark of requests in flight
    rejected: int  # requests the server refused for exceeding the concurrency
    unscored: int
    first: float  # seconds from the call to the first request reaching the server


def timed_run(day: Day, profiles: list[Profile], *, latency: float, concurrency: int) -> Timing:
    server = serve(day, latency=latency, max_concurrent=concurrency)
    try:
        config = llm_config(server, concurrency=concurrency, timeout=60)
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
            started = time.monotonic()
            selections, scoring = score_day(config, store, day.listing, profiles)
            spend, requests = scoring.spend, scoring.requests
            seconds = time.monotonic() - started
    finally:
        server.stop()
    assert total_usage(spend).requests == requests
    return Timing(
        seconds=seconds,
        requests=requests,
        in_flight=server.max_in_flight,
        rejected=server.rejected,
        unscored=sum(len(s.unscored) for s in selections),
        first=min((r.at for r in server.requests), default=started) - started,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=400)
    parser.add_argument("--profiles", type=int, default=20)
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--no-growth", action="store_true", help="skip the request-count table")
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = API_KEY

    day = make_day(args.papers)
    profiles = make_profiles(args.profiles)
    print(
        f"Figure 2 - wall time: {args.papers} papers x {args.profiles} distinct profiles, fake "
        f"latency {args.latency:g} s, [llm] concurrency = {CONCURRENCY} (server refuses more)\n"
    )
    t = timed_run(day, profiles, latency=args.latency, concurrency=CONCURRENCY)
    bound = t.requests * args.latency / CONCURRENCY
    waves = math.ceil(t.requests / CONCURRENCY) * args.latency
    ratio = t.seconds / bound
    print(
        table(
            ["requests", "wall time", "bound", "ratio", "max in flight", "429s", "unscored"],
            [
                [
                    t.requests,
                    f"{t.seconds:.2f}s",
                    f"{bound:.2f}s",
                    f"{ratio:.3f}x",
                    t.in_flight,
                    t.rejected,
                    t.unscored,
                ]
            ],
        )
    )
    print(
        f"\nbound = requests x {args.latency:g} s / {CONCURRENCY}. Every request takes the same "
        f"{args.latency:g} s, so no schedule beats\nceil(requests / {CONCURRENCY}) x "
        f"{args.latency:g} s = {waves:.2f}s ({waves / bound:.3f} x bound): measured "
        f"{t.seconds / waves:.3f} x that; the first request left {t.first:.2f}s after the call."
    )

    if not args.no_growth:
        print("\nRequests per run (latency 0): papers x distinct profiles\n")
        rows = []
        for papers in GROWTH_PAPERS:
            growth_day = make_day(papers)
            row: list[object] = [papers]
            for count in GROWTH_PROFILES:
                growth = timed_run(
                    growth_day, make_profiles(count), latency=0.0, concurrency=CONCURRENCY
                )
                row.append(growth.requests)
            rows.append(row)
        print(table(["papers", *(f"{n} profile(s)" for n in GROWTH_PROFILES)], rows))

    print()
    print(
        verdict(
            ratio <= TARGET and t.rejected == 0 and t.unscored == 0,
            f"wall time {t.seconds:.2f}s = {ratio:.3f} x bound {bound:.2f}s "
            f"(target <= {TARGET} x), max in flight {t.in_flight}/{CONCURRENCY}",
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
