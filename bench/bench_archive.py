"""The web archive: a year of daily digests for 10 subscribers, built, rebuilt, and rebuilt
after one more day.

Digests are written into a fresh store the way `newsletter send` records them (12 papers a
day from the synthetic day generator, each subscriber a variant of the example profile), then
`archive.build` writes the site three times: from nothing, unchanged, and after one more
weekday for every subscriber. The target is a rebuild "in seconds".

    .venv/bin/python bench/bench_archive.py [--subscribers 10] [--days 261]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dayfactory import make_day, make_profiles, table
from newsletter import archive
from newsletter.config import load_config
from newsletter.models import Listing, Pick, Score, Selection, Usage
from newsletter.pipeline import digest_record
from newsletter.store import Store

PICKS = 12
TARGET_SECONDS = 10.0  # "in seconds": a rebuild after a new day


def weekdays(count: int, start: date = date(2025, 1, 1)) -> list[date]:
    days: list[date] = []
    day = start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def record_day(store: Store, config, profiles, day: date, seed: int) -> None:
    listing = make_day(PICKS * 2, seed=seed, day=day).listing
    store.papers.save_listing(Listing(day, listing.papers, listed=len(listing.papers)), ["cs.LG"])
    usage = {"gpt-4o-mini": Usage("gpt-4o-mini", 6, 40_000, 8_000, 4_000, 0.0084)}
    for n, profile in enumerate(profiles):
        chosen = listing.papers[n % PICKS : n % PICKS + PICKS]
        picks = [Pick(p, Score(p.id, 9 - i % 4, 8 - i % 3, f"Matches: {p.title[:50]}"))
                 for i, p in enumerate(chosen)]  # fmt: skip
        selection = Selection(profile.id, day, picks, listed=400, read=60, usage=usage)
        store.digests.save(
            day,
            profile.id,
            "sent",
            digest_record(selection, None, profile, config).model_dump(mode="json"),
        )


def timed_build(config, store: Store) -> tuple[float, archive.Built]:
    start = time.perf_counter()
    built = archive.build(config, store, config.archive.out)
    return time.perf_counter() - start, built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--days", type=int, default=261, help="weekdays of digests")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        (home / "subscribers").mkdir()
        (home / "config.toml").write_text("")
        config = load_config(home / "config.toml")
        profiles = [p.model_copy(update={"id": f"reader{i}", "email": f"r{i}@example.org"})
                    for i, p in enumerate(make_profiles(args.subscribers))]  # fmt: skip
        days = weekdays(args.days + 1)
        rows = []
        with Store(config.storage.path) as store:
            for seed, day in enumerate(days[:-1]):
                record_day(store, config, profiles, day, seed)
            for label in ("first build", "rebuild, unchanged"):
                seconds, built = timed_build(config, store)
                rows.append([label, f"{seconds:.2f} s", built.files, len(built.written)])
            record_day(store, config, profiles, days[-1], len(days))
            seconds, built = timed_build(config, store)
            rows.append(["rebuild after one more day", f"{seconds:.2f} s", built.files,
                         len(built.written)])  # fmt: skip
    print(f"Web archive: {args.subscribers} subscribers x {args.days} weekdays of "
          f"{PICKS}-paper digests\n")  # fmt: skip
    print(table(["build", "time", "files", "written"], rows))
    verdict = "PASS" if seconds <= TARGET_SECONDS else "MISS"
    print(f"\n{verdict}: a rebuild after a new day takes {seconds:.2f} s "
          f"(target: seconds, <= {TARGET_SECONDS:g} s)")  # fmt: skip


if __name__ == "__main__":
    main()
