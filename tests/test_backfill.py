"""The arXiv API (`newsletter.backfill`): a past day rebuilt, papers looked up by id, against a
local arXiv that answers in the real Atom format."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest

from bench.fakes.arxiv import paper
from newsletter import backfill, fetch
from newsletter.errors import FetchError

DAY = date(2025, 4, 10)
CATS = ["cs.LG", "stat.ML"]


def test_backfill_window_and_query() -> None:
    assert backfill.backfill_query(["stat.ML", "cs.LG"], DAY) == (
        "(cat:cs.LG OR cat:stat.ML) AND submittedDate:[202504081800 TO 202504091800]"
    )
    # Tuesday's listing covers Friday to Monday; January is on standard time (UTC-5).
    assert backfill.backfill_query(["cs.LG"], date(2025, 1, 14)) == (
        "(cat:cs.LG) AND submittedDate:[202501101900 TO 202501131900]"
    )


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "start", "end"),
    [
        # US daylight saving time starts on Sunday 9 March 2025 and ends on Sunday 2 November
        (date(2025, 3, 11), utc(2025, 3, 7, 19), utc(2025, 3, 10, 18)),
        (date(2025, 11, 4), utc(2025, 10, 31, 18), utc(2025, 11, 3, 19)),
        # the day after each change: both ends on the new offset
        (date(2025, 3, 12), utc(2025, 3, 10, 18), utc(2025, 3, 11, 18)),
        (date(2025, 11, 5), utc(2025, 11, 3, 19), utc(2025, 11, 4, 19)),
    ],
)
def test_the_window_follows_new_york_across_daylight_saving(day, start, end) -> None:
    assert backfill.submission_window(day) == (start, end)


def test_backfill_through_the_api_pages_and_maps(arxiv_server, arxiv_config) -> None:
    papers = [paper(f"2504.0710{i}", version=i % 3 + 1) for i in range(5)]
    papers[1] |= {
        "categories": ["math.OC", "stat.ML"],
        "abstract": "Line one\n  of the   abstract.",
        "authors": ["Yoshua Bengio", 'J\\"urgen M\\"uller'],
    }
    arxiv_server.serve(papers)
    listing = backfill.fetch_backfill(arxiv_config, CATS, DAY, page_size=2)

    queries = arxiv_server.queries("/api/query")
    assert [q["start"] for q in queries] == ["0", "2", "4"]
    assert {q["max_results"] for q in queries} == {"2"}
    assert queries[0]["search_query"] == (
        "(cat:cs.LG OR cat:stat.ML) AND submittedDate:[202504081800 TO 202504091800]"
    )
    assert (listing.day, listing.listed, listing.new, listing.cross) == (DAY, 5, 4, 1)
    assert [(p.id, p.version) for p in listing.papers][:2] == [("2504.07100", 1), ("2504.07101", 2)]
    cross = listing.papers[1]
    assert cross.announce_type == "cross"
    assert (cross.primary_category, cross.categories) == ("math.OC", ("math.OC", "stat.ML"))
    assert cross.abstract == "Line one of the abstract."
    assert cross.authors == ("Yoshua Bengio", "Jürgen Müller")


def test_backfill_stores_through_fetch_day(arxiv_server, arxiv_config, store) -> None:
    arxiv_server.serve([paper("2504.07100"), paper("2504.07101")])
    listing, stored = fetch.fetch_day(arxiv_config, store, CATS, day=DAY)
    assert stored == 2
    assert store.papers.load_listing(DAY).papers == listing.papers


def test_backfill_for_a_weekend_asks_nothing(arxiv_server, arxiv_config) -> None:
    listing = backfill.fetch_backfill(arxiv_config, CATS, date(2025, 4, 12))
    assert (listing.papers, arxiv_server.requests) == ([], [])


def test_backfill_api_errors_become_fetch_errors(arxiv_server) -> None:
    arxiv_server.fail(503)
    config = arxiv_server.config(retries=1)
    with pytest.raises(FetchError, match=r"^arXiv API unreachable: .*HTTP 503"):
        backfill.fetch_backfill(config, CATS, DAY)
    assert len(arxiv_server.requests) == 2


def test_backfill_truncated_atom_is_an_error(arxiv_server) -> None:
    arxiv_server.serve([paper("2504.07100")])
    arxiv_server.truncate()
    with pytest.raises(FetchError, match=r"^arXiv API unreachable: not a valid Atom feed"):
        backfill.fetch_backfill(arxiv_server.config(retries=1), CATS, DAY)


def test_backfill_hang_times_out(arxiv_server) -> None:
    arxiv_server.hang(10)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"^arXiv API unreachable: no answer within 0\.1 s"):
        backfill.fetch_backfill(arxiv_server.config(timeout=0.1, retries=0), CATS, DAY)
    assert time.monotonic() - started < 2


def test_backfill_stalled_in_the_middle_of_a_page_times_out(arxiv_server) -> None:
    """requests reports silence inside a body as a ConnectionError, not a Timeout: the
    client retries it, and the message still says what happened."""
    arxiv_server.serve([paper("2504.07100")])
    arxiv_server.stall(10, times=1)
    config = arxiv_server.config(timeout=0.2, retries=1)
    assert [p.id for p in backfill.fetch_backfill(config, CATS, DAY).papers] == ["2504.07100"]

    arxiv_server.stall(10)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"^arXiv API unreachable: no answer within 0\.2 s \("):
        backfill.fetch_backfill(config, CATS, DAY)
    assert time.monotonic() - started < 2


def test_backfill_refused_is_one_readable_line(arxiv_server) -> None:
    config = arxiv_server.config(retries=0)
    config = config.model_copy(update={"api_url": "http://127.0.0.1:9/api/query"})
    with pytest.raises(FetchError) as caught:
        backfill.fetch_backfill(config, CATS, DAY)
    assert str(caught.value).startswith(
        "arXiv API unreachable: [Errno 111] Connection refused (http://127.0.0.1:9/api/query);"
        " offline, run with --feed "
    )


def test_a_lookup_by_id_offline_says_so_without_the_feed_way(arxiv_server) -> None:
    config = arxiv_server.config(retries=0)
    config = config.model_copy(update={"api_url": "http://export.arxiv.org/api/query"})
    with pytest.raises(FetchError) as caught:
        backfill.fetch_by_id(config, ["2501.01234"])
    assert str(caught.value) == (
        "arXiv API unreachable: cannot resolve its host (http://export.arxiv.org/api/query)"
    )


def test_a_lookup_by_id_maps_the_papers_it_finds(arxiv_server, arxiv_config) -> None:
    arxiv_server.serve([paper("2504.07100", title="Found  it")])
    found = backfill.fetch_by_id(arxiv_config, ["2504.07100", "2504.07100"])
    assert {pid: p.title for pid, p in found.items()} == {"2504.07100": "Found it"}
    [query] = arxiv_server.queries("/api/query")
    assert query["id_list"] == "2504.07100" and query["max_results"] == "1"
