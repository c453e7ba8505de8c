"""The render stage: subject, escaping, order, cost table, footer, text part, size budget."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from bench.screenshots import SIZES, png_size, sample_email, screenshot_all
from newsletter import render, templating, views
from newsletter.config import Config
from newsletter.models import Judge, Paper, Pick, SavedDigest, Score, Selection, Usage
from newsletter.profiles import Profile, Topic
from newsletter.prompt import PAPERS_PLACEHOLDER, render_full_prompt
from newsletter.templating import TEMPLATES_DIR
from newsletter.text import clean as reader_text
from tests.conftest import make_paper

DAY = date(2025, 4, 10)
CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = "<script>alert(1)</script> </mj-text><mj-raw><b>x</b></mj-raw> AT&T"
QUOTES = """It's "quoted" & <b>bold</b>, Zoë's"""
ODD = "back\\slash, no-break\u00a0space, tab\tand\nline, NUL\x00 and ESC\x1b"


def nth_paper(i: int, *, abstract: str | None = None, authors: int = 3) -> Paper:
    return make_paper(
        f"2504.{10000 + i}",
        f"Paper number {i} on sparse experts",
        authors=tuple(f"Author{i}x{k} Surname{k}" for k in range(authors)),
        abstract=abstract if abstract is not None else f"Abstract of paper {i}. " * 20,
    )


def make_selection(count: int, *, abstract: str | None = None, **kwargs) -> Selection:
    picks = [
        Pick(nth_paper(i, abstract=abstract), Score(f"2504.{10000 + i}", 9, 7, f"Comment {i}."))
        for i in range(count)
    ]
    usage = {"gpt-4o-mini": Usage("gpt-4o-mini", 3, 27_534, 1_024, 3_597, 0.0123)}
    counts = {"listed": 374, "read": 211} | kwargs
    return Selection("ada", DAY, picks, usage=usage, **counts)


@pytest.fixture
def profile() -> Profile:
    p = Profile(
        name="Ada Lovelace",
        email="ada@example.org",
        authors=["Grace Hopper"],
        topics=[Topic(name="Sparsity", relevant="MoE and pruning")],
    )
    p.id = "ada"
    return p


@pytest.fixture
def config() -> Config:
    return Config()


def render_it(selection, profile, config, prompt=f"PROMPT-TEXT\n\n{PAPERS_PLACEHOLDER}"):
    return render.render_email(selection, profile, config, prompt_text=prompt)


def hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


class TestSubject:
    def test_plural(self, profile, config):
        email = render_it(make_selection(12), profile, config)
        assert email.subject == "arXiv digest · 2025-04-10 · 12 papers for Ada"

    def test_singular(self, profile, config):
        assert render_it(make_selection(1), profile, config).subject.endswith("1 paper for Ada")

    def test_preheader_names_the_top_titles(self, profile, config):
        email = render_it(make_selection(5), profile, config)
        assert email.preheader.startswith("Paper number 0 on sparse experts · Paper number 1")
        assert email.preheader in email.html


class TestEscaping:
    @pytest.fixture
    def email(self, profile, config):
        selection = make_selection(3)
        pick = selection.picks[1]
        paper = replace(pick.paper, title=f"T {HOSTILE}", abstract=HOSTILE, authors=("<i>E</i>",))
        selection.picks[1] = replace(pick, paper=paper, score=replace(pick.score, comment=HOSTILE))
        return render_it(selection, profile, config, prompt=f"prompt {HOSTILE}")

    def test_no_markup_gets_through(self, email):
        assert "<script>" not in email.html
        assert "<mj-" not in email.html and "</mj-text>" not in email.html
        assert "<i>E</i>" not in email.html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
        assert "AT&amp;T" in email.html

    def test_the_rest_of_the_email_survives(self, email):
        assert "Paper number 2 on sparse experts" in email.html
        assert "You receive this digest at" in email.html

    def test_text_part_is_not_html_escaped(self, email):
        assert HOSTILE in email.text

    def test_javascript_urls_never_reach_an_href(self, profile, config):
        config.output.profile_help_url = "javascript:alert(1)"
        config.sendgrid.unsubscribe_url = " JavaScript:alert(2)"
        html = render_it(make_selection(2), profile, config).html
        assert "javascript" not in html.lower()
        assert all(h == "#" or h.startswith(("https://", "#paper-")) for h in hrefs(html))


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://arxiv.org/abs/2504.1", "https://arxiv.org/abs/2504.1"),
        ("http://example.org/x?a=1&b=2", "http://example.org/x?a=1&b=2"),
        ("javascript:alert(1)", "#"),
        ("java\nscript:alert(1)", "#"),
        ("data:text/html,<b>x</b>", "#"),
        ("//evil.example/x", "#"),
        ("https:no-host", "#"),
        ("https:///x", "#"),
        ("ftp://example.org/x", "#"),
        (" HTTPS://Example.org/x ", "HTTPS://Example.org/x"),
        ("https://[unclosed/x", "#"),
        ("", "#"),
    ],
)
def test_safe_url(url, safe):
    assert views.safe_url(url) == safe


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("Sparse\n   Experts  at\tScale ", "Sparse Experts at Scale"),
        ("  One line, as stored  ", "One line, as stored"),
        ("Carriage\r\nreturn", "Carriage return"),
        ("Two  spaces,\u00a0a no-break space", "Two spaces, a no-break space"),
        ("No\x00 control\x1b characters\ufffe", "No control characters"),
    ],
)
def test_clean_puts_feed_layout_on_one_line(text, clean):
    assert reader_text(text) == clean


def test_author_matches_come_first_and_are_marked(profile, config):
    selection = make_selection(4)
    hopper = replace(selection.picks[2].paper, authors=("Alan Turing", "Grace Hopper"))
    selection.picks[2] = Pick(hopper, Score(hopper.id, 10, 10, "Author match"), author_match=True)
    email = render_it(selection, profile, config)
    cards = re.findall(r'name="paper-(\d+)"', email.html)
    first = email.html.index('name="paper-1"')
    assert cards == ["1", "2", "3", "4"]
    assert email.html.index("Paper number 2", first) < email.html.index("Paper number 0", first)
    assert "★\xa0Author match" in email.html  # the star keeps to its word
    assert re.search(r'class="me"[^>]*>Grace Hopper<', email.html)
    assert email.text.index("Paper number 2") < email.text.index("Paper number 0")


def test_long_author_lists_are_cut(profile, config):
    selection = make_selection(1)
    selection.picks[0] = replace(selection.picks[0], paper=nth_paper(0, authors=12))
    html = render_it(selection, profile, config).html
    assert "Author0x5 Surname5, et al." in html
    assert "Author0x6" not in html


def test_a_followed_author_past_the_cut_is_shown_and_marked(profile, config):
    selection = make_selection(1)
    paper = nth_paper(0, authors=12)
    paper = replace(paper, authors=(*paper.authors[:9], "G. Hopper", *paper.authors[9:]))
    selection.picks[0] = replace(selection.picks[0], paper=paper)
    email = render_it(selection, profile, config)
    marked = r'Author0x5 Surname5, <span class="me"[^>]*>G. Hopper</span>, et al.'
    assert re.search(marked, email.html)
    assert "Author0x6" not in email.html and "Author0x9" not in email.html
    assert "Author0x5 Surname5, G. Hopper, et al." in email.text


class TestCostTable:
    def test_values(self, profile, config):
        selection = make_selection(2, notes=["cost cap reached"])
        selection.usage["gpt-4o"] = Usage("gpt-4o", 1, 1_000, 0, 200, None)
        email = render_it(selection, profile, config)
        for value in ("27,534", "1,024", "3,597", "31,131", "$0.0123", "gpt-4o-mini"):
            assert value in email.html and value in email.text
        assert "price unknown" in email.html
        assert "All models" in email.html and "32,331" in email.html
        assert "cost cap reached" in email.html and "cost cap reached" in email.text

    def test_a_model_digest_says_which_model_read_the_papers(self, profile, config):
        email = render_it(make_selection(2, titled=370, skimmed=215), profile, config)
        for part in (email.html, email.text):
            assert "The model (gpt-4o-mini) judged 370 titles, skimmed the opening" in part
            assert "Novelty 7" in part and "local keyword scorer" not in part

    @pytest.mark.parametrize(
        ("titled", "skimmed", "read", "how"),
        [
            (0, 0, 10, "read each paper's title and abstract with the prompt below, and scored"),
            # no screen counted (none ran, or a digest saved before the funnel was counted):
            # papers by followed authors, the pre-filter or the screens left 4 to read
            (0, 0, 4, "read 4 of the 10 papers in full with the prompt below, and scored"),
            (9, 0, 3, "judged 9 titles and read in full, with the prompt below, the 3 papers "
             "that could reach your cutoffs, and scored"),
            (9, 6, 3, "judged 9 titles, skimmed the opening of 6 abstracts, and read in full, "
             "with the prompt below, the 3 papers that could reach your cutoffs, and scored"),
            (0, 10, 1, "skimmed the opening of 10 abstracts and read in full, with the prompt "
             "below, the 1 paper that could reach"),
            (1, 0, 1, "judged 1 title and read in full"),
            (1000, 1000, 115, "judged 1,000 titles, skimmed the opening of 1,000 abstracts, and "
             "read in full, with the prompt below, the 115 papers"),
            (9, 4, 0, "judged 9 titles and skimmed the opening of 4 abstracts: none could reach "
             "your cutoffs, so none was read in full with the prompt below. Papers by authors"),
        ],
    )  # fmt: skip
    def test_the_prompt_section_tells_the_funnel_as_it_went(self, titled, skimmed, read, how):
        selection = make_selection(1, listed=10, titled=titled, skimmed=skimmed, read=read)
        intro = views.prompt_context(selection, "prompt").intro
        assert intro.startswith(f"The model (gpt-4o-mini) {how}")

    def test_the_archive_tells_the_funnel_the_email_told(self):
        selection = make_selection(1, listed=10, titled=9, skimmed=6, read=3)
        again = SavedDigest.of(selection, None, None).to_selection({})
        intro = views.prompt_context(selection, "prompt").intro
        assert views.prompt_context(again, "prompt").intro == intro
        assert "skimmed the opening of 6 abstracts" in intro

    def test_cost_format(self):
        assert views.format_cost(None) == "price unknown"
        assert views.format_cost(0.15) == "$0.1500"
        assert views.format_cost(1234.5) == "$1,234.50"


class TestLocalScorer:
    """Scored by the local keyword scorer: nothing spent, no model asked, no novelty judged."""

    @pytest.fixture
    def email(self, profile, config):
        selection = make_selection(3)
        selection.usage, selection.judge = {}, Judge.KEYWORDS  # as the pipeline gives it
        return render_it(selection, profile, config)

    def test_it_names_what_scored_the_papers(self, email):
        for part in (email.html, email.text):
            assert "The local keyword scorer matched your profile" in part

    def test_no_model_price_or_cost_table(self, email, config):
        for part in (email.html, email.text):
            for word in (config.llm.model, "gpt", "$", "price", "cost", "Cost", "COST", "tokens"):
                assert word not in part

    def test_no_novelty_that_nothing_judged(self, email):
        for part in (email.html, email.text):
            assert "Relevance 9" in part
            assert "Novelty" not in part and "novelty 7" not in part and "N7" not in part
        assert re.search(r">R9</span>", email.html)

    def test_no_prompt_that_nothing_read(self, email):
        assert "PROMPT-TEXT" not in email.html and "PROMPT-TEXT" not in email.text

    def test_the_header_says_scored_where_nothing_read(self, email, profile, config):
        assert "scored: 211" in email.text and ">scored</div>" in email.html
        assert "read in full" not in email.text + email.html
        by_model = render_it(make_selection(3), profile, config)
        assert "read in full: 211" in by_model.text and ">read in full</div>" in by_model.html


class TestReadableText:
    def test_latex_in_titles_abstracts_and_comments_reads_as_text(self, profile, config):
        selection = make_selection(1)
        paper = replace(
            selection.picks[0].paper,
            title=r"Schr{\"o}dinger Bridges in $\mathcal{O}(n^2)$",
            abstract=r"We show \textbf{adaptability} for k<n & 95% of runs.",
        )
        comment = r"Matches \emph{sparsity}."
        selection.picks[0] = Pick(paper, Score(paper.id, 9, 7, comment))
        email = render_it(selection, profile, config)
        for part in (email.html, email.text, email.preheader):
            assert "Schrödinger Bridges in O(n^2)" in part
        assert "We show adaptability for k&lt;n &amp; 95% of runs." in email.html
        assert "We show adaptability for k<n & 95% of runs." in email.text
        assert "Matches sparsity." in email.html and "Matches sparsity." in email.text
        for part in (email.html, email.text):
            assert "\\textbf" not in part and "\\emph" not in part and "mathcal" not in part

    def test_the_prompt_is_shown_in_full_with_its_lines_reflowed(self, profile, config):
        prompt = (
            "Read each paper\nand judge it.\n\n## Scoring\nBy topic:\n- one\n  continued\n- two"
        )
        html = render_it(make_selection(1), profile, config, prompt=prompt).html
        assert "<details" not in html and "<summary" not in html and "<pre" not in html
        box = html[html.index('class="prompt-box"') : html.index("You receive this digest")]
        lines = re.findall(r'<div(?: class="prompt-h"[^>]*)?>([^<]*)</div>', box)
        assert lines == [
            "Read each paper and judge it.",
            "Scoring",
            "By topic:",
            "- one continued",
            "- two",
        ]

    def test_the_prompt_reads_as_text_not_as_the_model_s_markup(self, profile, config):
        """Headings are headings (bold on the page, a labelled line in the text part), and
        where the papers go a sentence says so: no `##`, no placeholder."""
        prompt = render_full_prompt(profile)
        email = render_it(make_selection(1), profile, config, prompt=prompt)
        box = email.html[email.html.index('class="prompt-box"') : email.html.index("You receive")]
        headings = re.findall(r'<div class="prompt-h" style="font-weight:700">([^<]*)</div>', box)
        assert headings[0] == "The reader&#39;s topics" and headings[-1] == "Papers"
        text = email.text[email.text.index("HOW THESE PAPERS") : email.text.index("You receive")]
        assert "\nThe reader's topics:\n" in text and "\nAnswer format:\n" in text
        for part in (box, text):
            assert "## " not in part and "[PAPER LIST HERE]" not in part
            assert "(then the day&#39;s papers" in part or "(then the day's papers" in part


class TestLayout:
    def test_prompt_comes_after_the_papers_and_before_the_footer(self, profile, config):
        html = render_it(make_selection(3), profile, config).html
        prompt = html.index("PROMPT-TEXT")
        assert html.index("Paper number 2 on sparse experts</a>") < prompt
        assert html.rindex("What this digest cost") < prompt
        assert prompt < html.index("You receive this digest at")
        assert 'class="prompt-box"' in html[:prompt]

    def test_footer_links(self, profile, config):
        config.output.profile_help_url = "https://example.org/help"
        config.sendgrid.unsubscribe_url = "https://example.org/unsub?u=1&x=2"
        html = render_it(make_selection(1), profile, config).html
        assert "You receive this digest at ada@example.org." in html
        assert '<a class="foot-a" href="https://example.org/help"' in html
        assert 'href="https://example.org/unsub?u=1&amp;x=2"' in html

    @pytest.mark.parametrize("base_url", [None, "https://digest.example.org"])
    def test_the_footer_says_what_the_reader_can_do(self, profile, config, base_url, monkeypatch):
        """Not the operator's file name: the reader cannot edit it. They can vote (with the
        server), ask for other topics by replying, and leave."""
        monkeypatch.setenv("NEWSLETTER_SECRET", "s")
        config.web.base_url = base_url
        email = render_it(make_selection(2), profile, config)
        footer = email.text[email.text.rindex("-----") :]
        tune = 'Open a paper\'s "More like this" or "Fewer like this" link to tune what you get.'
        votes = [tune] if base_url else []
        assert footer.splitlines()[1:] == [
            "You receive this digest at ada@example.org.",
            *votes,
            "To change your topics, reply to this email.",
            f"Unsubscribe: {views.unsubscribe_url(config, profile)}",
        ]
        assert ("Press 👍 or 👎 on a paper" in email.html) == bool(base_url)
        assert "Reply to this email to change your topics" in email.html
        for part in (email.html, email.text):
            assert "ada.toml" not in part and "profile" not in part.lower()[-2000:]

    def test_unsubscribe_falls_back_to_mail(self, profile, config):
        assert "mailto:digest@example.org?subject=unsubscribe" in hrefs(
            render_it(make_selection(1), profile, config).html
        )
        config.sendgrid.unsubscribe_mailto = "leave@example.org"
        email = render_it(make_selection(1), profile, config)
        assert "mailto:leave@example.org?subject=unsubscribe" in hrefs(email.html)
        assert "mailto:leave@example.org?subject=unsubscribe" in email.text

    def test_head(self, profile, config):
        html = render_it(make_selection(2), profile, config).html
        assert html.startswith("<!doctype html>")
        assert '<html lang="en"' in html
        assert '<meta name="color-scheme" content="light dark"' in html
        assert "<title>arXiv digest · 2025-04-10 · 2 papers for Ada</title>" in html
        assert "fonts.googleapis" not in html and "<link" not in html

    def test_media_rules_survive_and_styles_are_inlined(self, profile, config):
        html = render_it(make_selection(2), profile, config).html
        assert "@media (prefers-color-scheme: dark)" in html
        assert "@media only screen and (max-width: 480px)" in html
        assert re.search(r'class="card" style="background-color:#fff;', html)
        assert re.search(r'class="pill r-hi" style="[^"]*background-color:#4338ca', html)

    def test_table_of_contents_links_to_each_paper(self, profile, config):
        html = render_it(make_selection(3), profile, config).html
        for n in (1, 2, 3):
            assert f'href="#paper-{n}"' in html and f'name="paper-{n}"' in html

    def test_text_part_has_every_title_id_and_comment(self, profile, config):
        selection = make_selection(7)
        text = render_it(selection, profile, config).text
        for pick in selection.picks:
            assert pick.paper.title in text
            assert pick.paper.id in text
            assert pick.score.comment in text
        assert "PROMPT-TEXT" in text and "Unsubscribe" in text

    def test_empty_selection(self, profile, config):
        email = render_it(make_selection(0), profile, config)
        assert email.subject == "arXiv digest · 2025-04-10 · no papers for Ada"
        assert "Nothing matched today" in email.html and "Nothing matched today" in email.text
        assert "You receive this digest at" in email.html
        assert "PROMPT-TEXT" in email.html


class TestSizeBudget:
    LONG = ("Sparse experts route tokens to specialised layers with balanced load. " * 40)[:2500]

    def test_a_big_day_fits_in_100_kb(self, profile, config):
        selection = make_selection(60, abstract=self.LONG)
        html = render_it(selection, profile, config).html
        assert len(html.encode("utf-8")) <= 100_000
        assert "You receive this digest at" in html and "Unsubscribe" in html
        assert "PROMPT-TEXT" in html
        top = html[html.index('name="paper-1"') : html.index('name="paper-2"')]
        assert self.LONG.strip() in top and "[shortened]" not in top
        last = html[html.index('name="paper-60"') :]
        assert 'class="more-row"' in html[html.index('name="paper-60"') - 200 :]
        assert "Paper number 59 on sparse experts" in last
        assert "Sparse experts route tokens" not in last
        assert "more picks, by title" in html
        assert "@media (prefers-color-scheme: dark)" in html

    @staticmethod
    def as_tracked(html: str) -> str:
        """The HTML as SendGrid's click tracking sends it: each web link a 150-character
        redirect, and an open-tracking image before </body>."""
        redirect = "https://u1234567.ct.sendgrid.net/ls/click?upn=".ljust(150, "x")
        pixel = f'<img src="{redirect}" alt="" width="1" height="1" border="0" style="height:1px'
        pixel += ' !important;width:1px !important;border-width:0 !important;margin:0;padding:0">'
        rewritten = re.sub(r'href="(?!#|mailto:)[^"]*"', f'href="{redirect}"', html)
        return rewritten.replace("</body>", pixel + "</body>")

    @pytest.mark.parametrize("tracking", [False, True])
    def test_55_papers_stay_under_gmails_clip_as_received(self, profile, config, tracking):
        config.sendgrid.click_tracking = tracking
        prompt = (TEMPLATES_DIR / "selection_prompt.j2").read_text() * 2
        html = render_it(make_selection(55, abstract=self.LONG), profile, config, prompt).html
        received = self.as_tracked(html) if tracking else html
        assert len(received.encode("utf-8")) < 102_400
        assert len(received.encode("utf-8")) > 95_000  # the room is used
        assert "Unsubscribe" in received[-3000:]

    def test_tracked_links_cost_abstracts(self, profile, config):
        untracked = render_it(make_selection(55, abstract=self.LONG), profile, config).html
        config.sendgrid.click_tracking = True
        tracked = render_it(make_selection(55, abstract=self.LONG), profile, config).html
        assert tracked.count("[shortened]") + tracked.count('class="more-row"') > (
            untracked.count("[shortened]") + untracked.count('class="more-row"')
        )

    def test_the_budget_is_used_not_wasted(self, profile, config):
        html = render_it(make_selection(60, abstract=self.LONG), profile, config).html
        assert len(html.encode("utf-8")) > 95_000

    def test_shortening_comes_before_titles(self, profile, config):
        selection = make_selection(30, abstract=self.LONG)
        config.output.max_html_bytes = 1_000_000
        whole = len(render_it(selection, profile, config).html.encode())
        config.output.max_html_bytes = whole - 3_000
        html = render_it(selection, profile, config).html
        assert len(html.encode()) <= whole - 3_000
        assert "[shortened]" in html[html.index('name="paper-30"') :]
        assert 'class="more-row"' not in html

    def test_hundreds_of_papers_still_keep_the_footer(self, profile, config):
        config.output.max_html_bytes = 30_000
        html = render_it(make_selection(300), profile, config).html
        assert len(html.encode()) <= 30_000
        assert "You receive this digest at" in html
        assert "that did not fit in this email" in html

    def test_the_text_part_follows_the_html_and_stays_within_the_budget(self, profile, config):
        """A 1 MB abstract made a 1 MB text part while the HTML was cut to 21 KB: the text
        shows each paper in the form its card took."""
        email = render_it(make_selection(60, abstract=self.LONG), profile, config)
        shortened_cards = email.html.count("[shortened]")
        assert len(email.text.encode()) <= config.output.max_html_bytes
        for n in range(1, 61):
            assert f"#{n}  " in email.text or f"{n:3d}. " in email.text  # every paper named
        assert email.text.count(self.LONG.strip()) < 60
        assert email.text.count("[shortened]") == shortened_cards
        huge = make_selection(3, abstract="word " * 200_000)
        text = render_it(huge, profile, config).text
        assert len(text.encode()) < 100_000


class TestTemplates:
    def test_mjml_and_html_templates_autoescape(self):
        env = templating.email_templates()
        assert env.autoescape("digest.mjml.j2") and env.autoescape("digest_blocks.html.j2")
        assert not env.autoescape("digest.txt.j2")
        assert templating.email_templates() is env

    def test_inlining_keeps_jinja(self):
        source = '<p class="x">{{ v.a }}</p>\n  <a href="{{v.url}}">y</a>'
        out = templating.inline_css(source, ".x{color:red}")
        assert out == '<p class="x" style="color:red">{{ v.a }}</p><a href="{{v.url}}">y</a>'

    def test_inlining_refuses_to_mangle_jinja(self):
        with pytest.raises(ValueError, match="Jinja tags"):
            templating.inline_css('<a href="{{ v.url }}">y</a>', ".x{color:red}")


def hostile_selection(count: int) -> Selection:
    """Papers with hostile text in every value, of every kind a card branches on: author
    matches, cross-lists, low and high scores, no comment, followed authors after "et al."."""
    selection = make_selection(count)
    for k, pick in enumerate(selection.picks):
        paper = replace(
            pick.paper,
            id=f"{pick.paper.id}\\x\n ü",
            title=f"{k} {HOSTILE} {ODD}",
            abstract=f"{HOSTILE} {QUOTES} {ODD} " * 12,
            authors=(f"{HOSTILE}", *(f"A{j} {QUOTES}" for j in range(8)), "G. Hopper"),
            announce_type="cross" if k % 2 else "new",
        )
        score = Score(paper.id, 1 + k % 10, 10 - k % 10, "" if k % 3 else f"why {ODD}")
        selection.picks[k] = Pick(paper, score, author_match=k % 4 == 1)
    return selection


class TestHostileText:
    """Whatever a feed or a model writes stays text, and the budget still holds exactly."""

    @pytest.mark.parametrize("budget", [None, 60_000, 20_000])
    def test_no_markup_in_any_form_of_card(self, profile, config, budget):
        digest = views.build_digest(hostile_selection(30), profile, config, f"P {HOSTILE}")
        html = render.render_html(digest, budget)
        assert budget is None or len(html.encode()) <= budget
        assert "<script>" not in html and "<b>" not in html and "</mj-text>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "\x00" not in html and "\x1b" not in html
        if budget == 60_000:
            assert "[shortened]" in html and 'class="more-row"' in html
        if budget == 20_000:
            assert "that did not fit in this email" in html

    def test_links_are_http_and_printable_ascii(self, profile, config):
        html = render_it(hostile_selection(3), profile, config).html
        links = [h for h in hrefs(html) if not h.startswith(("#", "mailto:"))]
        assert links and all(h.startswith("https://") for h in links)
        assert all(h.isascii() and h.isprintable() and "\\" not in h for h in links)
        assert 'href="https://arxiv.org/abs/2504.10000%5Cx %C3%BC"' in html

    def test_the_budget_is_exact(self, profile, config):
        """The page is as big as its measured pieces: a budget of its size keeps every card
        whole, one byte less shortens the lowest-ranked card."""
        selection = hostile_selection(12)
        config.output.max_html_bytes = 1_000_000
        whole = render_it(selection, profile, config).html
        config.output.max_html_bytes = len(whole.encode())
        assert render_it(selection, profile, config).html == whole
        config.output.max_html_bytes -= 1
        html = render_it(selection, profile, config).html
        assert len(html.encode()) < len(whole.encode())
        last = html.index('name="paper-12"')
        assert "[shortened]" in html[last:] and "[shortened]" not in html[:last]


def test_cards_give_up_bytes_from_the_bottom_of_the_list():
    assert list(render.degrade_steps(4)) == [
        (3, "short"), (2, "short"), (3, "title"), (2, "title"),
        (1, "short"), (1, "title"),
        (0, "short"), (0, "title"),
    ]  # fmt: skip


def test_screenshots(tmp_path):
    """Phone and desktop, light and dark, in headless Chromium (CI installs it)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed")
    pngs = screenshot_all(sample_email(5).html, tmp_path, chromium=str(CHROMIUM))
    assert len(pngs) == 4
    for png in pngs:
        width, height = png_size(png)
        assert (width, height) == SIZES[png.stem.split("-")[0]]
        assert png.stat().st_size > 50_000
