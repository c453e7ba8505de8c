"""Figure 6: wall time of a day scored through the Batch API, against the fake's batch latency.

A 400-paper day, 20 profiles with distinct prompts, `[llm] mode = "batch"` with the shipped
config.toml otherwise, the fake ending every batch `--latency` seconds after its creation and
the scorer looking every 0.1 s. Each profile's title pass is one batch and its abstract pass
another (a re-ask round would be a third): the profiles' batches run side by side, the passes
one after the other. A wave is the batches created together; the floor is waves x latency.

    .venv/bin/python bench/bench_batch.py [--papers 400] [--profiles 20] [--latency 3.0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dayfactory import API_KEY, llm_config, make_day, make_profiles, serve, table, verdict
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=400)
    parser.add_argument("--profiles", type=int, default=20)
    parser.add_argument("--latency", type=float, default=3.0)
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = API_KEY

    day, profiles = make_day(args.papers), make_profiles(args.profiles)
    server = serve(day)
    server.batch_latency = args.latency
    try:
        config = llm_config(server, mode="batch", batch_poll=0.1)
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
            started = time.monotonic()
            selections, _ = score_day(config, store, day.listing, profiles)
            seconds = time.monotonic() - started
    finally:
        server.stop()
    batches = list(server.batches.batches.values())
    count = waves([b.created_at for b in batches], args.latency)
    chats = sum(r.path == "/v1/chat/completions" for r in server.requests)
    unscored = sum(len(s.unscored) for s in selections)
    floor = count * args.latency
    print(
        f"Figure 6 - batch wall time: {args.papers} papers x {args.profiles} distinct profiles, "
        f"fake batch latency {args.latency:g} s, polled every 0.1 s\n"
    )
    print(table(
        ["batches", "lines", "waves", "sync requests", "wall time", "waves x latency", "ratio",
         "unscored"],
        [[len(batches), sum(b.total for b in batches), count, chats, f"{seconds:.2f}s",
          f"{floor:.2f}s", f"{seconds / floor:.3f}x", unscored]],
    ))  # fmt: skip
    print(
        f"\nwall time / one batch latency: {seconds / args.latency:.2f} x (the title pass and "
        "the abstract pass are one batch each, one after the other)\n"
    )
    ok = seconds <= TARGET * floor and unscored == 0 and chats == 0
    print(verdict(ok, f"{seconds:.2f}s = {seconds / floor:.3f} x the floor of {count} wave(s) "
                      f"x {args.latency:g} s (target <= {TARGET} x a wave each); "
                      f"{seconds / args.latency:.2f} x one batch latency"))  # fmt: skip
    print(verdict(seconds <= TARGET * args.latency,
                  f"the whole day within one batch latency + 20% "
                  f"({seconds:.2f}s against {TARGET * args.latency:.2f}s)"))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
