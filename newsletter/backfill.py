"""The arXiv API, through the `arxiv` package: a past day rebuilt, and papers looked up by id.

The RSS (`newsletter.fetch`) shows only the latest announcement. `fetch_backfill` rebuilds the
listing of an earlier day (`--date YYYY-MM-DD`) from the submissions that day announced (see
`submission_window`), and `fetch_by_id` finds the papers a reader voted on by id. Papers come
out as the RSS gives them: titles and abstracts as submitted, whitespace collapsed, author
names converted (`newsletter.text.author_name`); the fetch tests hold both to one real day.

arXiv's API terms ask for one request every three seconds, which the client keeps to.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import arxiv
import requests

from newsletter import arxiv_id, unreachable
from newsletter.config import ArxivConfig
from newsletter.errors import FetchError
from newsletter.models import Listing, Paper
from newsletter.text import author_name, normalise_space

# arXiv's API terms ask for one request every three seconds; tests lower these.
API_PAGE_SIZE = 500
API_DELAY_SECONDS = 3.0
# arXiv's day ends at 14:00 in New York; tzdata supplies the rules where the host has none.
EASTERN = ZoneInfo("America/New_York")


def _previous_weekday(day: date) -> date:
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def submission_window(day: date) -> tuple[datetime, datetime]:
    """The submissions (UTC) that the listing dated `day` announces.

    arXiv closes a day's submissions at 14:00 US Eastern and announces them that evening;
    the RSS dated the next morning carries them. So the listing dated `day` holds what was
    submitted from 14:00 on the weekday before the previous weekday to 14:00 on the previous
    weekday: 24 hours, or from Friday to Monday for Tuesday's listing. Holidays are ignored.
    """
    bounds = []
    for local in (_previous_weekday(_previous_weekday(day)), _previous_weekday(day)):
        at_two = datetime(local.year, local.month, local.day, 14, tzinfo=EASTERN)
        bounds.append(at_two.astimezone(UTC))
    return bounds[0], bounds[1]


def backfill_query(categories: Iterable[str], day: date) -> str:
    start, end = submission_window(day)
    cats = " OR ".join(f"cat:{c}" for c in sorted(set(categories)))
    stamp = "%Y%m%d%H%M"
    return f"({cats}) AND submittedDate:[{start:{stamp}} TO {end:{stamp}}]"


# -- the client ------------------------------------------------------------------------------


class _Session(requests.Session):
    """A session with a timeout, and with bodies that are not XML treated as failures.

    The arxiv package sets no timeout and silently yields nothing for a body that does not
    parse; raising ConnectionError, the one failure of requests it retries, makes it retry
    both cases like a dropped connection.
    """

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = super().request(method, url, **kwargs)
        except requests.Timeout:
            raise requests.ConnectionError(f"no answer within {self.timeout:g} s") from None
        if response.status_code == 200:
            try:
                ET.fromstring(response.content)
            except ET.ParseError as exc:
                raise requests.ConnectionError(f"not a valid Atom feed ({exc})") from None
        return response


def api_client(
    config: ArxivConfig, *, page_size: int | None = None, delay: float | None = None
) -> arxiv.Client:
    client = arxiv.Client(
        page_size=page_size or API_PAGE_SIZE,
        delay_seconds=API_DELAY_SECONDS if delay is None else delay,
        num_retries=config.retries,
    )
    client.query_url_format = config.api_url + "?{}"
    # The one place that reaches inside the arxiv package. Its 4.0.2 Client takes neither a
    # session nor a timeout (only page_size, delay_seconds, num_retries) and sends every page
    # through `self._session.get(url, headers=...)` with no timeout: a hung server would hang
    # the daily run. Setting the private session is the only way to give it one; the tests
    # pin the timeout and the retried bodies, so a release that renames it fails them.
    client._session = _Session(config.timeout)
    return client


def _result_paper(result: arxiv.Result, categories: set[str]) -> Paper:
    pid, version = arxiv_id.versioned(result.entry_id) or (result.get_short_id(), 1)
    cats = list(dict.fromkeys([result.primary_category, *result.categories]))
    return Paper(
        id=pid,
        title=normalise_space(result.title),
        authors=tuple(author_name(a.name) for a in result.authors),
        abstract=normalise_space(result.summary),
        categories=tuple(cats),
        primary_category=result.primary_category,
        announce_type="new" if result.primary_category in categories else "cross",
        version=version,
    )


# -- the searches ----------------------------------------------------------------------------


def fetch_backfill(
    config: ArxivConfig,
    categories: Iterable[str],
    day: date,
    *,
    page_size: int | None = None,
    delay: float | None = None,
) -> Listing:
    """Rebuild the listing dated `day` from the arXiv API (see `submission_window`)."""
    wanted = set(categories)
    if day.weekday() >= 5:
        return Listing(day=day, papers=[])  # arXiv announces nothing for Saturday or Sunday
    search = arxiv.Search(
        query=backfill_query(wanted, day),
        max_results=None,
        sort_by=arxiv.SortCriterion.SubmittedDate,
        sort_order=arxiv.SortOrder.Ascending,
    )
    client = api_client(config, page_size=page_size, delay=delay)
    papers = query_api(config, client, search, wanted)
    new = sum(p.announce_type == "new" for p in papers)
    return Listing(day=day, papers=papers, listed=len(papers), new=new, cross=len(papers) - new)


def fetch_by_id(config: ArxivConfig, ids: Iterable[str]) -> dict[str, Paper]:
    """Papers the arXiv API knows by these ids (versions dropped), by id; the others are
    left out. For the titles a reader liked, named by id."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    client = api_client(config, page_size=len(wanted), delay=0)
    search = arxiv.Search(id_list=wanted, max_results=len(wanted))
    # a saved listing cannot stand in for a lookup by id: the caller says what can
    papers = query_api(config, client, search, set(), feed=False)
    return {p.id: p for p in papers if p.id in wanted}


def query_api(
    config: ArxivConfig,
    client: arxiv.Client,
    search: arxiv.Search,
    categories: set[str],
    *,
    feed: bool = True,
) -> list[Paper]:
    """The search's papers, one per id; an API out of reach is one line (with the way to run
    offline, `feed`)."""
    try:
        results = list(client.results(search))
    except (arxiv.ArxivError, requests.RequestException) as exc:
        why = unreachable.reason(exc, config.timeout)
        raise FetchError(unreachable.message(config.api_url, why, "arXiv API", feed=feed)) from None
    return list({p.id: p for p in (_result_paper(r, categories) for r in results)}.values())
