"""Figure 6: wall time of a day scored through the Batch API, against the fake's batch latency.

A 400-paper day, 20 profiles with distinct prompts, `[llm] mode = "batch"` with the shipped
config.toml otherwise, the fake ending every batch `--latency` seconds after its creation and
the scorer looking every 0.1 s. Each profile's title pass is one batch, its skim another and
its full read a third (a re-ask round would be a fourth): the profiles' batches run side by
side, the passes one after the other. A wave is the batches created together; the floor is
waves x latency. The same day with `title_pass = false` (every paper skimmed) is the second
row: one wave fewer. The third, `title_pass = false, skim_chars = 0`, reads every paper in
full: the one configuration that is one wave, at what it costs.

    .venv/bin/python bench/bench_batch.py [--papers 400] [--profiles 20] [--latency 3.0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dayfactory import (
    API_KEY,
    llm_config,
    make_day,
    make_profiles,
    serve,
    table,
    total_usage,
    verdict,
)
from newsletter.pipeline import score_day
from newsletter.store import Store

TARGET = 1.2  # wall time / (fake batch latency x waves)


def waves(created: list[float], latency: float) -> int:
    """Batches created within half a latency of the wave's first belong to that wave."""
    count, start = 0, None
    for at in sorted(created):
        if start is None or at - start > latency / 2:
            count, start = count + 1, at
    return count


CONFIGS: list[tuple[str, dict[str, object]]] = [
    ("shipped config.toml", {}),
    ("title_pass = false", {"title_pass": False}),
    ("one wave (no title pass, no skim)", {"title_pass": False, "skim_chars": 0}),
]


@dataclass
class Row:
    name: str
    latency: float
    batches: int
    lines: int
    waves: int
    chats: int
    seconds: float
    unscored: int
    dollars: float  # per profile-day, at the batch price

    @property
    def floor(self) -> float:
        return self.waves * self.latency

    @property
    def ratio(self) -> float:
        return self.seconds / self.floor

    def cells(self) -> list:
        return [self.name, self.batches, self.lines, self.waves, self.chats,
                f"{self.seconds:.2f}s", f"{self.floor:.2f}s", f"{self.ratio:.3f}x",
                f"{self.seconds / self.latency:.2f}x", f"${self.dollars:.4f}",
                self.unscored]  # fmt: skip


def measure(day, profiles, latency: float, name: str, settings: dict) -> Row:
    server = serve(day)
    server.batch_latency = latency
    try:
        config = llm_config(server, mode="batch", batch_poll=0.1, **settings)
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
            started = time.monotonic()
            selections, scoring = score_day(config, store, day.listing, profiles)
            seconds = time.monotonic() - started
    finally:
        server.stop()
    batches = list(server.batches.batches.values())
    return Row(
        name, latency, len(batches), sum(b.total for b in batches),
        waves([b.created_at for b in batches], latency),
        sum(r.path == "/v1/chat/completions" for r in server.requests), seconds,
        sum(len(s.unscored) for s in selections),
        (total_usage(scoring.spend).cost_usd or 0) / len(profiles),
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=400)
    parser.add_argument("--profiles", type=int, default=20)
    parser.add_argument("--latency", type=float, default=3.0)
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = API_KEY

    day, profiles = make_day(args.papers), make_profiles(args.profiles)
    rows = [measure(day, profiles, args.latency, name, settings) for name, settings in CONFIGS]
    print(
        f"Figure 6 - batch wall time: {args.papers} papers x {args.profiles} distinct profiles, "
        f"fake batch latency {args.latency:g} s, polled every 0.1 s\n"
    )
    print(table(["config", "batches", "lines", "waves", "sync requests", "wall time",
                 "waves x latency", "ratio", "x latency", "$ per profile-day",
                 "unscored"],
                [r.cells() for r in rows]))  # fmt: skip
    shipped = rows[0]
    ok = shipped.seconds <= TARGET * shipped.floor and shipped.unscored == 0 and not shipped.chats
    print(verdict(ok, f"shipped: {shipped.seconds:.2f}s = {shipped.ratio:.3f} x the floor of "
                      f"{shipped.waves} wave(s) x {args.latency:g} s (target <= {TARGET} x a "
                      "wave each)"))  # fmt: skip
    print(verdict(shipped.seconds <= TARGET * args.latency,
                  f"shipped: the whole day within one batch latency + 20% "
                  f"({shipped.seconds:.2f}s against {TARGET * args.latency:.2f}s): the passes "
                  "are one batch each, one after the other"))  # fmt: skip
    one = rows[-1]
    print(f"one wave: {one.seconds:.2f}s = {one.seconds / args.latency:.2f} x the latency, for "
          f"{one.dollars / shipped.dollars:.2f} x the shipped funnel's dollars "
          f"(${one.dollars:.4f} against ${shipped.dollars:.4f} a profile-day)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
