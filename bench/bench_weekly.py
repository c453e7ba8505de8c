"""What a weekly reader costs beside a daily one: the same tokens, spread over the same days.

Five announcement days, Monday 7 to Friday 11 April 2025, each a `bench.dayfactory` day of
--papers papers (a seed of its own, ids of its own), are sent with `newsletter send`
(`pipeline.run_send`) through the fake OpenAI (a `DayServer`, tokens counted in o200k_base)
and the fake SendGrid: once for a reader of subscribers/example.toml mailed daily, and once, in
a fresh store and against a fresh server, for the same profile mailed weekly on Friday. Both are
uncapped (max_papers 500), so that the weekly digest can be checked to hold exactly the papers
of the five daily ones.

For each reader and day: mails sent, papers mailed, requests, prompt tokens (cached), completion
tokens and dollars at gpt-4o-mini prices (with the prompt cache's discount, and without it),
as each run's report counts them; then the week.

    .venv/bin/python bench/bench_weekly.py [--papers 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dayfactory import (
    API_KEY,
    EXAMPLE_PROFILE,
    PRICE,
    READER_CATEGORIES,
    Day,
    DayServer,
    llm_config,
    make_day,
    table,
    verdict,
)
from bench.fakes.openai import count_tokens
from bench.fakes.sendgrid import FakeSendgrid
from bench.tokenizer import o200k
from newsletter.config import Config
from newsletter.models import Status, Usage
from newsletter.pipeline import SendOptions, run_send
from newsletter.store import Store

WEEK = [date(2025, 4, 7) + timedelta(days=i) for i in range(5)]
UNCAPPED = 500
ID_STRIDE = 20_000  # a day's ids start this far above the day before's: no id is two papers


def renumbered(day: Day, offset: int) -> Day:
    """The day with every id moved up by `offset`: make_day numbers each day from the same
    range, and five days in one store must not share an id."""

    def moved(pid: str) -> str:
        prefix, number = pid.split(".")
        return f"{prefix}.{int(number) + offset:05d}"

    papers = [replace(p, id=moved(p.id)) for p in day.papers]
    labels = {moved(pid): label for pid, label in day.labels.items()}
    return Day(replace(day.listing, papers=papers), labels, day.seed)


def week_of_days(papers: int, seed: int) -> list[Day]:
    if papers * 12 + 3000 >= ID_STRIDE:
        raise SystemExit(f"--papers {papers}: at most {(ID_STRIDE - 3000) // 12}")
    days = [make_day(papers, seed + i, day) for i, day in enumerate(WEEK)]
    return [renumbered(d, i * ID_STRIDE) for i, d in enumerate(days)]


@dataclass
class Reader:
    """One reader's week: per day the run's spend, mails and papers mailed."""

    frequency: str
    spend: list[Usage] = field(default_factory=list)
    mails: list[int] = field(default_factory=list)
    papers: list[list[str]] = field(default_factory=list)

    def total(self) -> Usage:
        total = Usage("all")
        for usage in self.spend:
            total.add(usage)
        return total


def deployment(folder: Path, server: DayServer, sendgrid: FakeSendgrid, frequency: str) -> Config:
    """The shipped config.toml against the fakes, with one subscriber: the example, uncapped."""
    subs = folder / "subscribers"
    subs.mkdir()
    text = EXAMPLE_PROFILE.read_text().replace('frequency = "daily"', f'frequency = "{frequency}"')
    (subs / "reader.toml").write_text(text.replace("max_papers = 30", f"max_papers = {UNCAPPED}"))
    config = llm_config(server)
    sendgrid_config = config.sendgrid.model_copy(update={"api_host": sendgrid.url})
    storage = config.storage.model_copy(update={"path": folder / "bench.db"})
    return config.model_copy(
        update={"subscribers_dir": subs, "sendgrid": sendgrid_config, "storage": storage}
    )


def run_week(
    days: list[Day], frequency: str, tokens: Callable[[str], int] = count_tokens
) -> Reader:
    """The five days sent to one reader, in a fresh store, against fresh fakes whose usage
    counts a text as `tokens` does."""
    judge = Day(days[0].listing, {k: v for d in days for k, v in d.labels.items()}, days[0].seed)
    server = DayServer(judge=judge.judge, api_key=API_KEY, tokens=tokens)
    server.know([p for d in days for p in d.papers])
    reader = Reader(frequency)
    with server, FakeSendgrid() as sendgrid, tempfile.TemporaryDirectory() as tmp:
        os.environ["SENDGRID_API_KEY"] = sendgrid.api_key
        config = deployment(Path(tmp), server, sendgrid, frequency)
        for day in days:
            with Store(config.storage.path) as store:
                store.papers.save_listing(day.listing, READER_CATEGORIES)
            before = len(sendgrid.messages)
            report = run_send(config, SendOptions(day=day.listing.day))
            spent = Usage("all")
            for usage in report.usage.values():
                spent.add(usage)
            reader.spend.append(spent)
            reader.mails.append(len(sendgrid.messages) - before)
            sent = [s.selection for s in report.served if s.status == Status.SENT]
            reader.papers.append([k.paper.id for sel in sent if sel for k in sel.picks])
    return reader


def rows(reader: Reader) -> list[list[object]]:
    lines = []
    for day, usage, mails, papers in zip(
        WEEK, reader.spend, reader.mails, reader.papers, strict=True
    ):
        lines.append(cells(reader.frequency, f"{day:%a %d}", mails, len(papers), usage))
    total = reader.total()
    mailed = sum(len(p) for p in reader.papers)
    lines.append(cells(reader.frequency, "week", sum(reader.mails), mailed, total))
    return lines


def cells(who: str, day: str, mails: int, papers: int, usage: Usage) -> list[object]:
    return [who, day, mails, papers, usage.requests, f"{usage.prompt_tokens:,}",
            f"{usage.cached_tokens:,}", f"{usage.completion_tokens:,}", f"${cost(usage):.4f}",
            f"${list_cost(usage):.4f}"]  # fmt: skip


def cost(usage: Usage) -> float:
    """Dollars, the cached prompt tokens at the cached price."""
    return PRICE.cost(usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens)


def list_cost(usage: Usage) -> float:
    """Dollars as if no prompt token were cached. The fake, like OpenAI, caches a prompt's
    prefix once a request that sent it has been answered, so how many tokens the requests
    sent in parallel find cached depends on their timing, and differs from run to run by a
    request's worth (1,024 tokens, $0.00008): this is the figure timing does not move."""
    return PRICE.cost(usage.prompt_tokens, 0, usage.completion_tokens)


HEADERS = ["reader", "day", "mails", "papers", "requests", "prompt", "cached", "completion",
           "cost", "uncached"]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=300, help="papers a day")
    parser.add_argument("--seed", type=int, default=0, help="seed of Monday's listing")
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = API_KEY
    os.environ["NEWSLETTER_SECRET"] = "a benchmark's secret, signing nothing anyone follows"
    days = week_of_days(args.papers, args.seed)
    daily, weekly = run_week(days, "daily", o200k()), run_week(days, "weekly", o200k())
    print(
        f"A daily and a weekly reader of subscribers/example.toml (uncapped), five days of "
        f"{args.papers} papers, gpt-4o-mini at {PRICE.prompt}/{PRICE.cached}/{PRICE.completion} "
        "$ per 1M tokens; each run's spend as its report counts it.\n"
    )
    print(table(HEADERS, rows(daily) + rows(weekly)))
    d, w = daily.total(), weekly.total()
    print()
    print(verdict(w.requests <= d.requests and w.total_tokens <= d.total_tokens
                  and list_cost(w) <= list_cost(d),
                  f"weekly {w.requests} requests, {w.total_tokens:,} tokens, ${list_cost(w):.4f} "
                  f"uncached (${cost(w):.4f} with the cache) <= daily {d.requests} requests, "
                  f"{d.total_tokens:,} tokens, ${list_cost(d):.4f} (${cost(d):.4f})"))  # fmt: skip
    print(verdict(weekly.mails == [0, 0, 0, 0, 1] and daily.mails == [1] * 5,
                  "one mail on Friday for the weekly reader, five for the daily one"))  # fmt: skip
    same = sorted(p for day in daily.papers for p in day) == sorted(weekly.papers[-1])
    print(verdict(same, "Friday's weekly digest holds exactly the papers of the five daily ones"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
