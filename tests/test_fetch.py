"""The fetch stage against a local arXiv that speaks the real RSS and Atom formats."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from importlib import resources
from pathlib import Path

import pytest

from bench.fakes.arxiv import paper, rss_document
from newsletter import backfill, fetch, unreachable
from newsletter.config import ArxivConfig
from newsletter.errors import FetchError
from newsletter.models import Listing, Paper

DAY = date(2025, 4, 10)
CATS = ["cs.LG", "stat.ML"]
DATA = Path(__file__).parent / "data"


def day_papers() -> list[dict]:
    return [
        paper(
            "2504.07001",
            version=2,
            title="Sparse  Mixtures of\n   Experts at Scale",
            authors=["Ana García", "Bo Chen", "Martin Luther King, Jr.", 'J\\"urgen M\\"uller'],
            abstract="For k<n and m>2, the <EOS> marker\n  costs 3x & more.",
            categories=["cs.LG", "cs.AI"],
        ),
        paper("2504.07002", categories=["stat.ML", "cs.LG"], authors=["Solo Author"]),
        paper("2504.07003", categories=["cs.CV", "cs.LG"], announce_type="cross"),
        paper("2503.01234", version=3, announce_type="replace"),
        paper("2502.09999", version=2, announce_type="replace-cross", categories=["math.OC"]),
    ]


def test_rss_url_sorts_dedupes_and_handles_the_trailing_slash() -> None:
    for base in ("http://h/rss", "http://h/rss/"):
        config = ArxivConfig(rss_url=base)
        assert (
            fetch.rss_url(config, ["stat.ML", "cs.LG", "stat.ML"]) == "http://h/rss/cs.LG+stat.ML"
        )
    with pytest.raises(FetchError):
        fetch.rss_url(ArxivConfig(), [])


def test_a_normal_day(arxiv_server, arxiv_config) -> None:
    arxiv_server.serve(day_papers())
    listing = fetch.fetch_rss(arxiv_config, CATS)

    assert arxiv_server.requests == ["/rss/cs.LG+stat.ML"]
    assert listing.day == DAY
    assert (listing.listed, listing.new, listing.cross, listing.dropped) == (5, 2, 1, 2)
    assert [p.id for p in listing.papers] == ["2504.07001", "2504.07002", "2504.07003"]
    first = listing.papers[0]
    assert first.version == 2
    assert first.title == "Sparse Mixtures of Experts at Scale"
    assert first.authors == ("Ana García", "Bo Chen", "Martin Luther King, Jr.", "Jürgen Müller")
    assert first.abstract == "For k<n and m>2, the <EOS> marker costs 3x & more."
    assert first.categories == ("cs.LG", "cs.AI")
    assert first.primary_category == "cs.LG"
    assert listing.papers[1].authors == ("Solo Author",)
    assert listing.papers[2].announce_type == "cross"
    assert listing.papers[2].primary_category == "cs.CV"


@pytest.mark.parametrize(
    ("creator", "names"),
    [
        ("A. One, B. Two and C. Three", ("A. One", "B. Two", "C. Three")),
        ("A. One, B. Two, and C. Three", ("A. One", "B. Two", "C. Three")),
        ("Rand Paul and Alexander Anderson", ("Rand Paul", "Alexander Anderson")),
        (
            "A. Oh (Physics and Astronomy, UCL), B. Two",
            ("A. Oh (Physics and Astronomy, UCL)", "B. Two"),
        ),
        ("Sam Jones Jr., Kim Lee, III", ("Sam Jones Jr.", "Kim Lee, III")),
        ("Fran{\\c{c}}ois Ch\\'{e}ret and Bj{\\o}rn St{\\aa}l", ("François Chéret", "Bjørn Stål")),
        ('Kurt G{\\"o}del and Anna Stra\\ss{}er', ("Kurt Gödel", "Anna Straßer")),
        ("\\textbf{Ana} Garc\\'{\\i}a and {\\L}ukasz Kaiser", ("Ana García", "Łukasz Kaiser")),
    ],
)
def test_author_strings_split_into_names(creator: str, names: tuple[str, ...]) -> None:
    assert fetch.split_authors(creator) == names


def test_an_empty_day_is_a_normal_day(arxiv_server, arxiv_config, store) -> None:
    arxiv_server.empty_day()
    listing, stored = fetch.fetch_day(arxiv_config, store, CATS)

    assert (listing.day, listing.papers, listing.listed, stored) == (date(2025, 4, 12), [], 0, 0)
    assert store.papers.load_listing(date(2025, 4, 12)) is None
    assert "nothing announced" in fetch.summary_line(listing, stored)


def test_503_twice_then_success_is_retried(arxiv_server, arxiv_config) -> None:
    arxiv_server.serve(day_papers())
    arxiv_server.fail(503, times=2)
    listing = fetch.fetch_rss(arxiv_config, CATS)

    assert len(arxiv_server.requests) == 3
    assert len(listing.papers) == 3


def test_429_is_retried(arxiv_server, arxiv_config) -> None:
    arxiv_server.serve(day_papers())
    arxiv_server.fail(429, times=1, retry_after="0")
    assert len(fetch.fetch_rss(arxiv_config, CATS).papers) == 3
    assert len(arxiv_server.requests) == 2


def test_retry_after_in_seconds_is_waited_for_and_capped(arxiv_server, arxiv_config) -> None:
    arxiv_server.serve(day_papers())
    arxiv_server.fail(429, times=1, retry_after="7")
    arxiv_server.fail(503, times=1, retry_after="3600")
    pauses: list[float] = []
    assert len(fetch.fetch_rss(arxiv_config, CATS, sleep=pauses.append).papers) == 3
    assert pauses == [7.0, 60.0]


def test_retry_after_as_an_http_date_is_waited_for(arxiv_server, arxiv_config) -> None:
    arxiv_server.serve(day_papers())
    when = datetime.now(UTC) + timedelta(seconds=30)
    arxiv_server.fail(503, times=1, retry_after=format_datetime(when, usegmt=True))
    pauses: list[float] = []
    fetch.fetch_rss(arxiv_config, CATS, sleep=pauses.append)
    [pause] = pauses
    assert 25 < pause <= 30


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "tomorrow"])
def test_a_bad_retry_after_falls_back_to_the_backoff(arxiv_server, value) -> None:
    arxiv_server.serve(day_papers())
    arxiv_server.fail(503, times=2, retry_after=value)
    pauses: list[float] = []
    config = arxiv_server.config(retry_delay=0.25)
    assert len(fetch.fetch_rss(config, CATS, sleep=pauses.append).papers) == 3
    assert pauses == [0.25, 0.5]


def test_503_forever_gives_up_after_the_retries(arxiv_server, arxiv_config) -> None:
    arxiv_server.fail(503)
    with pytest.raises(FetchError) as caught:
        fetch.fetch_rss(arxiv_config, CATS)

    assert str(caught.value).startswith("arXiv listing unreachable: HTTP 503")
    assert f"HTTP 503, {arxiv_config.retries + 1} attempts (" in str(caught.value)
    assert str(caught.value).endswith("run with --feed " + str(unreachable.SAMPLE_LISTING))
    assert len(arxiv_server.requests) == arxiv_config.retries + 1


def test_404_is_not_retried(arxiv_server, arxiv_config) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch.fetch_rss(arxiv_config.model_copy(update={"rss_url": arxiv_server.url + "/x"}), CATS)
    assert len(arxiv_server.requests) == 1


@pytest.mark.parametrize("status", [400, 403, 410])
def test_other_4xx_are_not_retried_even_with_a_retry_after(arxiv_server, arxiv_config, status):
    arxiv_server.serve(day_papers())
    arxiv_server.fail(status, times=1, retry_after="1")
    with pytest.raises(FetchError, match=f"HTTP {status}"):
        fetch.fetch_rss(arxiv_config, CATS, sleep=pytest.fail)
    assert len(arxiv_server.requests) == 1


def test_a_truncated_body_is_an_error_not_an_empty_day(arxiv_server, arxiv_config) -> None:
    arxiv_server.serve(day_papers())
    arxiv_server.truncate()
    with pytest.raises(FetchError, match=r"^arXiv listing unreachable: not valid XML"):
        fetch.fetch_rss(arxiv_config, CATS)
    assert len(arxiv_server.requests) == 3


def test_a_truncated_body_once_is_retried(arxiv_server, arxiv_config) -> None:
    arxiv_server.serve(day_papers())
    arxiv_server.truncate(times=1)
    assert len(fetch.fetch_rss(arxiv_config, CATS).papers) == 3


def test_a_hung_server_times_out_quickly(arxiv_server) -> None:
    arxiv_server.hang(10)
    config = arxiv_server.config(timeout=0.1, retries=0)
    started = time.monotonic()
    with pytest.raises(FetchError, match="arXiv listing unreachable"):
        fetch.fetch_rss(config, CATS)
    assert time.monotonic() - started < 2


# -- over requests: what urllib did, each failure read as one line -------------------------------


def test_the_listing_is_asked_for_as_this_program(arxiv_server, arxiv_config) -> None:
    """arXiv sees who asks: our User-Agent, not the HTTP library's."""
    arxiv_server.serve(day_papers())
    fetch.fetch_rss(arxiv_config, CATS)
    assert arxiv_server.user_agents == ["newsletter/0.1.0 (daily arXiv digest)"]


def test_a_transfer_cut_short_once_is_retried(arxiv_server, arxiv_config) -> None:
    arxiv_server.serve(day_papers())
    arxiv_server.cut(times=1)
    pauses: list[float] = []
    assert len(fetch.fetch_rss(arxiv_config, CATS, sleep=pauses.append).papers) == 3
    assert len(arxiv_server.requests) == 2 and len(pauses) == 1


def test_a_transfer_cut_short_every_time_gives_up_in_one_line(arxiv_server, arxiv_config):
    arxiv_server.serve(day_papers())
    arxiv_server.cut()
    with pytest.raises(FetchError) as caught:
        fetch.fetch_rss(arxiv_config, CATS)
    message = str(caught.value)
    assert re.match(r"^arXiv listing unreachable: IncompleteRead\(\d+ bytes read, \d+ mo", message)
    assert ", 3 attempts (" in message and "\n" not in message
    assert len(arxiv_server.requests) == 3


@pytest.mark.parametrize("stop", ["hang", "stall"])
def test_silence_before_or_inside_the_body_is_a_timeout(arxiv_server, stop: str) -> None:
    """A server that says nothing, or stops halfway through the listing, is given up on after
    the timeout, retried, and reported as no answer."""
    arxiv_server.serve(day_papers())
    getattr(arxiv_server, stop)(10, times=1)
    config = arxiv_server.config(timeout=0.2, retries=1)
    started = time.monotonic()
    assert len(fetch.fetch_rss(config, CATS).papers) == 3
    assert time.monotonic() - started < 2 and len(arxiv_server.requests) == 2

    getattr(arxiv_server, stop)(10)
    with pytest.raises(FetchError, match=r"^arXiv listing unreachable: no answer within 0\.2 s, 2"):
        fetch.fetch_rss(config, CATS)


def test_an_unresolvable_host_is_one_line_and_not_retried(arxiv_server) -> None:
    """A name that never resolves (RFC 6761), as no name does on a machine offline."""
    config = arxiv_server.config().model_copy(update={"rss_url": "http://rss.arxiv.invalid/rss/"})
    with pytest.raises(FetchError) as caught:
        fetch.fetch_rss(config, CATS, sleep=pytest.fail)
    assert str(caught.value) == (
        "arXiv listing unreachable: cannot resolve its host (http://rss.arxiv.invalid/rss/cs.LG+stat.ML);"
        f" offline, run with --feed {unreachable.SAMPLE_LISTING}"
    )


def test_a_refused_connection_is_retried_and_named(arxiv_config) -> None:
    config = arxiv_config.model_copy(update={"rss_url": "http://127.0.0.1:9/rss/"})
    pauses: list[float] = []
    with pytest.raises(FetchError) as caught:
        fetch.fetch_rss(config, CATS, sleep=pauses.append)
    assert str(caught.value).startswith(
        "arXiv listing unreachable: [Errno 111] Connection refused, 3 attempts"
    )
    assert len(pauses) == 2


def test_a_cross_list_under_two_requested_categories_is_one_paper(arxiv_server, arxiv_config):
    both = {"categories": ["cs.CV", "cs.LG", "stat.ML"], "announce_type": "cross"}
    arxiv_server.serve([paper("2504.07010", **both), paper("2504.07010", **both)])
    listing = fetch.fetch_rss(arxiv_config, CATS)

    assert [p.id for p in listing.papers] == ["2504.07010"]
    assert listing.papers[0].categories == ("cs.CV", "cs.LG", "stat.ML")
    assert (listing.listed, listing.new, listing.cross, listing.dropped) == (1, 0, 1, 0)


def test_listed_new_under_one_category_and_cross_under_another_counts_as_new() -> None:
    data = rss_document(
        [
            paper("2504.07011", categories=["stat.ML"], announce_type="cross"),
            paper("2504.07011", categories=["cs.LG", "stat.ML"]),
        ]
    )
    listing = fetch.parse_rss(data)
    assert [(p.announce_type, p.categories) for p in listing.papers] == [
        ("new", ("stat.ML", "cs.LG"))
    ]


def test_only_replacements_keeps_nothing_and_counts_them(arxiv_server, arxiv_config, store):
    arxiv_server.serve([paper("2503.00001", version=2, announce_type="replace")])
    listing, stored = fetch.fetch_day(arxiv_config, store, CATS)
    assert (listing.papers, listing.listed, listing.dropped, stored) == ([], 1, 1, 0)


def test_fetching_the_same_day_twice_changes_nothing(arxiv_server, arxiv_config, store) -> None:
    arxiv_server.serve(day_papers())
    progress: list[str] = []
    listing, stored = fetch.fetch_day(arxiv_config, store, CATS, on_progress=progress.append)
    again, stored_again = fetch.fetch_day(arxiv_config, store, CATS)

    assert (stored, stored_again) == (3, 0)
    assert progress and "/rss/cs.LG+stat.ML" in progress[0]
    assert store.papers.load_listing(DAY).papers == listing.papers == again.papers
    assert store.papers.fetched_categories(DAY) == set(CATS)
    assert fetch.summary_line(listing, stored) == (
        "2025-04-10: 5 listed · 2 new · 1 cross · 2 replacements dropped · 3 stored"
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "not valid XML"),
        (b"<html><body>Service Unavailable</body></html>", "not an RSS listing"),
        (
            b"<rss version='2.0'><channel><title>x</title></channel></rss>",
            "the channel has no <pubDate>",
        ),
    ],
)
def test_garbage_is_a_fetch_error(body: bytes, problem: str) -> None:
    with pytest.raises(FetchError, match="^" + re.escape(f"feed.xml: {problem}")):
        fetch.parse_rss(body, source="feed.xml")


def test_read_feed_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=r"missing\.xml: file not found"):
        fetch.read_feed(tmp_path / "missing.xml")
    bad = tmp_path / "bad.xml"
    bad.write_bytes(rss_document([paper("2504.07001")])[:300])
    with pytest.raises(FetchError, match="^" + re.escape(f"{bad}: not valid XML")):
        fetch.read_feed(bad)


def test_fetch_day_from_a_saved_feed(tmp_path: Path, store) -> None:
    saved = tmp_path / "listing.xml"
    saved.write_bytes(rss_document(day_papers()))
    config = ArxivConfig(rss_url="http://127.0.0.1:9/unused/")
    listing, stored = fetch.fetch_day(config, store, CATS, feed=saved)
    assert (listing.day, stored) == (DAY, 3)


# -- the shipped sample ------------------------------------------------------------------------


def sample() -> bytes:
    return resources.files("newsletter").joinpath("data/sample-listing.xml").read_bytes()


def test_the_shipped_sample_parses() -> None:
    data = sample()
    listing: Listing = fetch.parse_rss(data, source="sample-listing.xml")

    assert data.count(b"<item>") == 45
    assert listing.day == DAY
    # One paper is listed under two categories: 45 items, 44 papers.
    assert listing.listed == 44 == listing.new + listing.cross + listing.dropped
    assert listing.dropped == 6
    assert len(listing.papers) == len({p.id for p in listing.papers}) == 38
    assert all(p.announce_type in ("new", "cross") for p in listing.papers)
    assert all(80 <= len(p.abstract.split()) <= 200 for p in listing.papers)
    assert all("v" not in p.id and p.primary_category == p.categories[0] for p in listing.papers)


def test_the_sample_keeps_hostile_and_special_text_as_plain_text() -> None:
    papers = fetch.parse_rss(sample()).papers
    abstracts = " ".join(p.abstract for p in papers)
    assert "<script>alert(1)</script>" in abstracts
    assert "</mj-text>" in abstracts
    assert "$O(n^2)$" in abstracts and " & " in abstracts and "&amp;" not in abstracts
    authors = [a for p in papers for a in p.authors]
    assert "Yoshua Bengio" in authors and "Jürgen Müller" in authors
    assert max(len(p.authors) for p in papers) == 25


def test_a_huge_author_list_splits_in_linear_time() -> None:
    """A collaboration paper lists thousands; 20,000 took 31 s when each comma looked ahead."""
    creator = ", ".join(f"Author{i} Surname{i}" for i in range(20_000)) + " and Last One"
    started = time.perf_counter()
    names = fetch.split_authors(creator)
    assert len(names) == 20_001 and names[-1] == "Last One"
    assert time.perf_counter() - started < 2.0


# -- real formats: the same day as the RSS and as the API serve it --------------------------

# tests/data holds the day in arXiv's own formats: RSS 2.0 as its feed generator writes it (new,
# cross, replace, replace-cross) and Atom as the API answers, with TeX in titles, authors and
# abstracts, `<`, `>` and `&` in abstracts, and abstracts that span lines.
REAL_DAY = [
    Paper(
        id="2504.07001",
        title=(
            r"Schr{\"o}dinger Bridges with \textbf{Adaptive} Step Sizes in"
            r" $\mathcal{O}(n^2)$ Time"
        ),
        authors=("Ana García", "Bo Chen", "Martin Luther King, Jr.", "Jürgen Müller"),
        abstract=(
            r"We study Schr\"odinger bridges for sampling when the step count satisfies k<n and"
            r" m>2, and show that \textbf{adaptability} of the step size costs"
            r" $\mathcal{O}(n^2)$ work. Sequence models emit the <EOS> marker at the end; we"
            r" keep it & its score. Results hold for 95% of runs \emph{without} tuning,"
            r" e.g.~on A&B tests."
        ),
        categories=("cs.LG", "cs.AI"),
        primary_category="cs.LG",
    ),
    Paper(
        id="2504.07002",
        title="Calibrated Conformal Sets for Streaming Data",
        authors=("Françoise Dupont",),
        abstract=(
            r"Conformal prediction gives sets with coverage 1-\alpha. We extend it to streams"
            " whose distribution drifts, with sets that stay calibrated when p < 0.05."
        ),
        categories=("stat.ML", "cs.LG"),
        primary_category="stat.ML",
    ),
    Paper(
        id="2504.07003",
        title="Vision Transformers Read <b>Bold</b> Text",
        authors=("Ada Lovelace", "Alan Turing"),
        abstract="HTML-looking text such as <br> and <i>x</i> is the authors' own.",
        categories=("cs.CV", "cs.LG"),
        primary_category="cs.CV",
        announce_type="cross",
    ),
]


def test_real_rss_keeps_every_field_as_submitted(arxiv_server, arxiv_config) -> None:
    arxiv_server.rss_body = (DATA / "arxiv-rss-2025-04-10.xml").read_bytes()
    listing = fetch.fetch_rss(arxiv_config, CATS)

    assert listing.day == DAY
    assert (listing.listed, listing.new, listing.cross, listing.dropped) == (5, 2, 1, 2)
    assert listing.papers == REAL_DAY


def test_real_api_answer_gives_the_same_papers_as_the_rss(arxiv_server, arxiv_config) -> None:
    arxiv_server.rss_body = (DATA / "arxiv-rss-2025-04-10.xml").read_bytes()
    arxiv_server.api_body = (DATA / "arxiv-api-2025-04-10.xml").read_bytes()
    from_rss = fetch.fetch_rss(arxiv_config, CATS).papers
    from_api = backfill.fetch_backfill(arxiv_config, CATS, DAY).papers

    assert from_api == REAL_DAY == from_rss
