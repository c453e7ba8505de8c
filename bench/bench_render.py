"""Figure 4: rendering a 55-paper digest, against the bare mjml2html of the same MJML.

A 55-paper day (the size of the reference digest of 03/11) of synthetic papers with abstracts
of 150-250 words, scored by hand, rendered by `render.render_email` with the shipped config
(100 KB budget). The MJML that render_email finally hands to mjml2html is captured, and
mjml2html is timed alone on it: the target is render + inline <= 2x that bare time, with the
final HTML <= 100 KB. Medians over `--runs` renders, after one warm-up render (template loading
and the one-off CSS inlining happen then, once per process).

    .venv/bin/python bench/bench_render.py [--papers 55] [--runs 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mjml

from bench.dayfactory import example_profile, make_day, table
from newsletter import render
from newsletter.config import load_config
from newsletter.models import Pick, Score, Selection, Usage
from newsletter.prompt import render_full_prompt

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 2.0
TARGET_BYTES = 100_000


def selection(papers: int) -> Selection:
    day = make_day(max(papers * 4, 200), seed=1)
    picks = [
        Pick(p, Score(p.id, 10 - i % 5, 9 - i % 4, f"Matches topic {i % 6 + 1}: {p.title[:60]}."))
        for i, p in enumerate(day.papers[:papers])
    ]
    usage = {"gpt-4o-mini": Usage("gpt-4o-mini", 12, 41_200, 9_984, 5_300, 0.0083)}
    return Selection("example", day.listing.day, picks, listed=1_080, scanned=211, usage=usage)


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=55)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    config = load_config(REPO / "config.toml")
    profile = example_profile()
    sel = selection(args.papers)
    prompt = render_full_prompt(profile)

    captured: list[str] = []
    bare = mjml.mjml2html

    def spy(text: str, **kw):
        captured.append(text)
        return bare(text, **kw)

    render.mjml2html = spy
    email = render.render_email(sel, profile, config, prompt_text=prompt)  # warm-up
    calls_per_render = len(captured)
    final_mjml = captured[-1]
    render.mjml2html = bare

    render_ms = median_ms(lambda: render.render_email(sel, profile, config, prompt_text=prompt),
                          args.runs)  # fmt: skip
    html_ms = median_ms(
        lambda: render.render_html(render.build_digest(sel, profile, config, prompt), 100_000),
        args.runs,
    )
    mjml_ms = median_ms(lambda: bare(final_mjml, fonts={}), args.runs)
    size = len(email.html.encode("utf-8"))
    ratio = render_ms / mjml_ms
    print(f"Figure 4 - render: a {args.papers}-paper digest, median of {args.runs} renders\n")
    print(table(
        ["papers", "HTML bytes", "text bytes", "mjml2html calls", "render_email", "HTML only",
         "bare mjml2html", "ratio"],
        [[args.papers, f"{size:,}", f"{len(email.text.encode()):,}", calls_per_render,
          f"{render_ms:.2f} ms", f"{html_ms:.2f} ms", f"{mjml_ms:.2f} ms", f"{ratio:.2f}x"]],
    ))  # fmt: skip
    ok = ratio <= TARGET_RATIO and size <= TARGET_BYTES
    verdict = "PASS" if ok else "MISS"
    print(f"\n{verdict}: render_email {render_ms:.2f} ms = {ratio:.2f} x bare mjml2html "
          f"{mjml_ms:.2f} ms (target <= {TARGET_RATIO:g} x); HTML {size:,} B (target <= "
          f"{TARGET_BYTES:,})")  # fmt: skip


if __name__ == "__main__":
    main()
