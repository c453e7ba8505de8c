"""Figure 4: rendering a 55-paper digest, against the bare mjml2html of the same MJML.

A 55-paper day (the size of the reference digest of 03/11) of synthetic papers with abstracts
of 150-250 words, scored by hand, rendered by `render.render_email` with the shipped config
(100 KB budget). render_email hands mjml2html only the page's skeleton and puts the cards in
it afterwards; "the same MJML" is the whole digest's MJML, skeleton and cards, whose mjml2html
is checked to give the very page render_email gave. Target: the render + inline time of the
HTML (the digest's view, its cards, MJML, mjml2html and the budget: `build_digest` and
`render_html`) <= 2x the bare mjml2html of that MJML, with the HTML <= 100 KB. The whole of
`render_email`, which adds the text/plain part (no MJML, nothing to inline), is shown too.

The two are timed in turn, `--runs` times, after one warm-up render (template loading and
the one-off CSS inlining happen then, once per process); medians are shown. "Cold stencils"
times render_email with the cache of card stencils emptied before each render, as for the
first digest of a run.

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


def timed_ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=55)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    config = load_config(REPO / "config.toml")
    profile = example_profile()
    sel = selection(args.papers)
    prompt = render_full_prompt(profile)

    def render_email():
        return render.render_email(sel, profile, config, prompt_text=prompt)

    calls: list[str] = []
    fitted: list[tuple[str, str]] = []
    bare, fit = mjml.mjml2html, render.fit_cards
    render.mjml2html = lambda text, **kw: calls.append(text) or bare(text, **kw)
    render.fit_cards = lambda *a: fitted.append(fit(*a)) or fitted[-1]
    email = render_email()  # warm-up
    render.mjml2html, render.fit_cards = bare, fit
    digest = render.build_digest(sel, profile, config, prompt)
    whole = render.render_mjml(digest, *fitted[-1])  # the same MJML, cards and all
    if render.to_html(whole) != email.html:
        raise SystemExit("the whole MJML does not give render_email's page: the bench is wrong")

    def render_html():
        return render.render_html(render.build_digest(sel, profile, config, prompt), budget)

    budget = config.output.max_html_bytes
    if render_html() != email.html:
        raise SystemExit("render_html does not give render_email's page: the bench is wrong")
    times: dict[str, list[float]] = {"html": [], "bare": [], "email": [], "cold": []}
    for _ in range(args.runs):  # interleaved, so that a slow spell of the machine hits all
        times["html"].append(timed_ms(render_html))
        times["bare"].append(timed_ms(lambda: bare(whole, fonts={})))
        times["email"].append(timed_ms(render_email))
        render._stencils.clear()
        times["cold"].append(timed_ms(render_html))
    html_ms, bare_ms, email_ms, cold_ms = (statistics.median(times[k]) for k in times)
    size = len(email.html.encode("utf-8"))
    ratio, cold_ratio = html_ms / bare_ms, cold_ms / bare_ms
    print(f"Figure 4 - render: a {args.papers}-paper digest, median of {args.runs} renders\n")
    print(table(
        ["papers", "HTML bytes", "text bytes", "MJML whole / skeleton", "HTML", "cold stencils",
         "+ text part", "bare mjml2html", "ratio", "cold", "with text"],
        [[args.papers, f"{size:,}", f"{len(email.text.encode()):,}",
          f"{len(whole.encode()):,} / {len(calls[-1].encode()):,} B", f"{html_ms:.2f} ms",
          f"{cold_ms:.2f} ms", f"{email_ms:.2f} ms", f"{bare_ms:.2f} ms", f"{ratio:.2f}x",
          f"{cold_ratio:.2f}x", f"{email_ms / bare_ms:.2f}x"]],
    ))  # fmt: skip
    print(
        "\nHTML: build_digest + render_html; cold stencils: the same with the stencil cache "
        "emptied first (the first digest of a run);\n+ text part: render_email, which also "
        "writes the text/plain part."
    )
    ok = ratio <= TARGET_RATIO and size <= TARGET_BYTES
    verdict = "PASS" if ok else "MISS"
    print(f"{verdict}: the HTML's render + inline {html_ms:.2f} ms = {ratio:.2f} x bare mjml2html "
          f"{bare_ms:.2f} ms of the whole MJML (target <= {TARGET_RATIO:g} x; {cold_ratio:.2f} x "
          f"with cold stencils, {email_ms / bare_ms:.2f} x with the text part); HTML {size:,} B "
          f"(target <= {TARGET_BYTES:,})")  # fmt: skip


if __name__ == "__main__":
    main()
