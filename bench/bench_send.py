"""Figure 5: digests rendered and handed to SendGrid per second.

1,000 subscribers reading 20 distinct profiles (`dayfactory.make_profiles`) on a 400-paper
synthetic day. Each profile's selection is made by the real select stage from the scores the
judge gives for the profile's topics (no scoring requests: Figure 2 times those). Then
`newsletter.pipeline.serve`, as `newsletter send` calls it, renders each subscriber's email with
the shipped config.toml and delivers it through `newsletter.deliver` to the local SendGrid fake,
keeping the ledger and the archive's record in a fresh SQLite store, from a pool of
`newsletter.pipeline.SEND_WORKERS` threads. The fake runs in this process, so client and server
share the two cores (and the GIL).

    .venv/bin/python bench/bench_send.py [--mails 1000] [--profiles 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dayfactory import (
    MODEL,
    ROOT,
    Day,
    judged,
    make_day,
    make_profiles,
    subscriber,
    table,
    verdict,
)
from bench.fakes.sendgrid import FakeSendgrid
from newsletter.config import Config, load_config
from newsletter.deliver import SendgridApi, SendgridMailer
from newsletter.models import Selection, Usage
from newsletter.pipeline import SEND_WORKERS, Served, serve
from newsletter.plans import make_selection, plan
from newsletter.profiles import Profile
from newsletter.score import Scored
from newsletter.store import Store

TARGET = 50.0  # mails per second
CORES = 2
# About what scoring a 400-paper day costs a profile at the shipped settings (Figure 1's
# defaults, scaled): the digest's cost table shows it, as in a real run.
SPEND = Usage(MODEL, 4, 26_600, 0, 4_080, 0.0064)


def selections(
    config: Config, store: Store, day: Day, profiles: list[Profile]
) -> dict[str, Selection]:
    """Each profile's selection, by the real plan and select stages, from the judge's scores."""
    chosen = {}
    for profile in profiles:
        todo = plan(config, store, day.listing, profile)
        scores = judged(day, profile, todo.to_score)
        outcome = Scored(scores=scores, read=set(scores), usage=dataclasses.replace(SPEND))
        chosen[profile.id] = make_selection(day.listing, todo, outcome, config.llm.min_scored)
    return chosen


def make_jobs(
    chosen: dict[str, Selection], profiles: list[Profile], mails: int
) -> list[tuple[Profile, Selection]]:
    """`mails` subscribers, each reading one of the profiles: its selection, their address."""
    jobs = []
    for i in range(mails):
        profile = profiles[i % len(profiles)]
        reader = subscriber(profile, i)
        jobs.append((reader, dataclasses.replace(chosen[profile.id], subscriber_id=reader.id)))
    return jobs


def send_all(
    config: Config, store: Store, jobs: list[tuple[Profile, Selection]], sender: SendgridApi
) -> tuple[list[Served], float]:
    """Render and deliver every job as `newsletter send` does; (outcomes, seconds)."""

    mailer = SendgridMailer(store, sender, config.sendgrid)

    def send(job: tuple[Profile, Selection]) -> Served:
        profile, selection = job
        return serve(config, store, profile, selection, mailer)

    started = time.perf_counter()
    with ThreadPoolExecutor(SEND_WORKERS) as pool:
        served = list(pool.map(send, jobs))
    return served, time.perf_counter() - started


def pin_cores(count: int) -> str:
    """Run on at most `count` CPUs, as the production host has."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) > count:
        os.sched_setaffinity(0, available[:count])
    return f"{min(count, len(available))} of {os.cpu_count()} CPUs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--profiles", type=int, default=20)
    args = parser.parse_args()

    cpus = pin_cores(CORES)
    day, profiles = make_day(400), make_profiles(args.profiles)
    config = load_config(ROOT / "config.toml")
    with tempfile.TemporaryDirectory() as tmp, FakeSendgrid() as fake:
        config.sendgrid.api_host = fake.url
        sender = SendgridApi(config.sendgrid, fake.api_key)
        with Store(Path(tmp) / "bench.db") as store:
            chosen = selections(config, store, day, profiles)
            jobs = make_jobs(chosen, profiles, args.mails)
            served, seconds = send_all(config, store, jobs, sender)
        received = list(fake.messages)

    sent = sum(s.status == "sent" for s in served)
    rate = len(jobs) / seconds
    html = [len(m.body["content"][1]["value"].encode()) for m in received]
    picks = [len(s.picks) for s in chosen.values()]
    print(
        f"Figure 5 - digests rendered and delivered: {len(jobs)} subscribers over "
        f"{len(profiles)} profiles ({min(picks)}-{max(picks)} papers each), shipped config.toml, "
        f"to the local SendGrid fake, {SEND_WORKERS} worker threads, {cpus}\n"
    )
    mean_kb, per_worker = sum(html) / max(len(html), 1) / 1000, seconds / len(jobs) * SEND_WORKERS
    row = [len(jobs), sent, len(received), f"{mean_kb:.1f} KB", f"{seconds:.2f}s", f"{rate:.1f}",
           f"{per_worker * 1000:.1f}"]  # fmt: skip
    headers = ["mails", "sent", "received", "mean HTML", "wall time", "mails/s",
               "ms per mail per worker"]  # fmt: skip
    print(table(headers, [row]) + "\n")
    ok = rate >= TARGET and sent == len(jobs) == len(received)
    summary = f"{rate:.1f} mails/s rendered and sent (target >= {TARGET:.0f}), {sent}/{len(jobs)}"
    print(verdict(ok, summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
