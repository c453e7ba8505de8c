"""Figure 4: how long `render_email` takes, called as `newsletter send` calls it.

A 55-paper day (the size of the reference digest of 03/11) of synthetic papers with abstracts
of 150-250 words, scored by hand, rendered for the example profile with its full selection
prompt and the shipped config (100 KB budget), as `pipeline.serve` calls `render_email`.

`send` runs in a fresh process every day, and its first digest pays for loading the templates
and inlining their CSS (premailer, once per process); the digests after it do not. So each of
`--processes` fresh Python processes imports the package, times its first `render_email`, then
`--runs` more of the same; medians are shown. Target: the first digest of a process in under
a second (a daily job that waits seconds on a model), and the HTML within 100 KB.

    .venv/bin/python bench/bench_render.py [--papers 55] [--processes 5] [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
TARGET_FIRST_MS = 1000.0
TARGET_BYTES = 100_000


def ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def measure(papers: int, runs: int) -> dict:
    """In this process, which must not have loaded the package yet: the import of `render`,
    the first digest, and the median of `runs` later ones."""
    start = time.perf_counter()
    from newsletter import render

    import_ms = ms_since(start)
    from bench.dayfactory import example_profile, make_day
    from newsletter.config import load_config
    from newsletter.models import Pick, Score, Selection, Usage
    from newsletter.prompt import render_full_prompt

    config = load_config(REPO / "config.toml")
    profile = example_profile()
    day = make_day(max(papers * 4, 200), seed=1)
    picks = [
        Pick(p, Score(p.id, 10 - i % 5, 9 - i % 4, f"Matches topic {i % 6 + 1}: {p.title[:60]}."))
        for i, p in enumerate(day.papers[:papers])
    ]
    usage = {"gpt-4o-mini": Usage("gpt-4o-mini", 12, 41_200, 9_984, 5_300, 0.0083)}
    selection = Selection("example", day.listing.day, picks, 1_080, 211, usage=usage)
    prompt = render_full_prompt(profile)

    def render_email():
        start = time.perf_counter()
        email = render.render_email(selection, profile, config, prompt_text=prompt)
        return email, ms_since(start)

    email, first_ms = render_email()
    later = [render_email()[1] for _ in range(runs)]
    return {
        "import_ms": import_ms,
        "first_ms": first_ms,
        "later_ms": statistics.median(later),
        "html_bytes": len(email.html.encode()),
        "text_bytes": len(email.text.encode()),
    }


def in_fresh_process(papers: int, runs: int) -> dict:
    command = [sys.executable, __file__, "--measure", f"--papers={papers}", f"--runs={runs}"]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=55)
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20, help="digests after the first")
    parser.add_argument("--measure", action="store_true", help="measure in this process")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.papers, args.runs)))
        return

    from bench.dayfactory import table, verdict

    results = [in_fresh_process(args.papers, args.runs) for _ in range(args.processes)]
    med = {key: statistics.median(r[key] for r in results) for key in results[0]}
    firsts = sorted(r["first_ms"] for r in results)
    print(f"Figure 4 - render_email: a {args.papers}-paper digest, {args.processes} fresh "
          f"processes, {args.runs} digests after the first in each; medians\n")  # fmt: skip
    print(table(
        ["papers", "HTML bytes", "text bytes", "import render", "first digest", "later digests"],
        [[args.papers, f"{med['html_bytes']:,.0f}", f"{med['text_bytes']:,.0f}",
          f"{med['import_ms']:.0f} ms", f"{med['first_ms']:.0f} ms",
          f"{med['later_ms']:.1f} ms"]],
    ))  # fmt: skip
    print(f"\nfirst digest, each process: {', '.join(f'{t:.0f}' for t in firsts)} ms")
    ok = med["first_ms"] < TARGET_FIRST_MS and med["html_bytes"] <= TARGET_BYTES
    print(verdict(ok, (
        f"the first digest of a process in {med['first_ms']:.0f} ms (target < "
        f"{TARGET_FIRST_MS:.0f} ms), later ones in {med['later_ms']:.1f} ms; HTML "
        f"{med['html_bytes']:,.0f} B (target <= {TARGET_BYTES:,})"
    )))  # fmt: skip


if __name__ == "__main__":
    main()
