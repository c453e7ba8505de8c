"""Three real days of the digest this project grows from, sent again end to end.

Each reference digest (`../shared/reference/`) names a day, the papers it selected in order,
their titles, authors and abstracts, and the scores and comments the model gave them. The day is
rebuilt from those papers, among real off-topic papers from a month of arXiv metadata
(`../shared/corpus/`), served as arXiv's RSS listing; the fake model judges each reference paper
as the digest's model did and the others off-topic; a profile with the digest's lowest scores as
its cutoffs and its count as its cap is sent its digest through SendGrid once; and the archive
builds the day's page. Each must hold exactly the digest's papers, in the digest's order.

Order: the digests rank as `newsletter.select` does (followed authors first, then by relevance +
novelty, then relevance; `test_the_digests_rank_as_we_do` holds them to it). Their ties keep
the order the listing gives them, so the listing puts the reference papers in the digest's order.
"""

from __future__ import annotations

import gzip
import html
import json
import re
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

import pytest

from bench.fakes.arxiv import paper, rss_document
from newsletter.config import load_config
from newsletter.fetch import parse_rss
from newsletter.models import Paper
from newsletter.select import author_matcher
from newsletter.store import Store
from newsletter.text import author_name
from newsletter.views import clean
from tests.conftest import REPO, cli_ok
from tests.test_archive import pub_date
from tests.test_send import send

SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "arxiv-2026-06.jsonl.gz"
CORPUS_DAY = "2026-06-02"  # a big day of the corpus (714 papers): the off-topic papers' source
LISTED_WITHOUT_TOTAL = 300  # a listing's size when the digest does not give arXiv's count
CATEGORIES = ["cs.LG", "stat.ML", "cs.CL", "cs.AI", "cs.CV"]
# The authors each digest's reader followed: the digests show their papers as "Author match".
FOLLOWED = {"000": [], "001": ["Yoshua Bengio"], "003": []}
# Where each paper's block starts: a Markdown heading with its link (000, 001), or a numbered
# line (003), then its ArXiv ID line.
PAPER = re.compile(
    r"^(?:## \d+\. \[(?P<linked>.+)\]\(https://arxiv\.org/abs/\S+\) .*|\d+\. (?P<plain>.+))\n"
    r"\n(?:\*\*)?ArXiv ID:(?:\*\*)? (?P<id>\S+)$",
    re.M,
)
CARD = re.compile(  # a paper in the email's text part
    r"^#(?P<n>\d+)  (?P<title>.+)\n(?:Author match|Relevance (?P<r>\d+) · Novelty (?P<nv>\d+))\n"
    r"arXiv:(?P<id>\S+) ",
    re.M,
)
ABS_LINK = re.compile(r"https://arxiv\.org/abs/(\d{4}\.\d{4,5})")


@dataclass(frozen=True)
class Chosen:
    """One paper of a reference digest, as the digest gives it."""

    id: str
    title: str
    authors: list[str]
    abstract: str
    comment: str
    relevance: int | None  # None for an author match, which the model never scored
    novelty: int | None


@dataclass(frozen=True)
class Reference:
    name: str
    day: date
    listed: int | None  # "Total arXiv papers", when the digest gives it
    picks: list[Chosen]


def field(block: str, name: str) -> str:
    found = re.search(rf"^(?:\*\*)?{name}:(?:\*\*)?[ \t]*(.*)$", block, re.M)
    return found[1].strip() if found else ""


def score(block: str, name: str) -> int | None:
    found = re.search(rf"(?:\*\*)?{name}:(?:\*\*)? (\d+)", block)
    return int(found[1]) if found else None


def read_reference(path: Path) -> Reference:
    """A reference digest's day, count and papers, from its Markdown or plain-text rendering."""
    text = path.read_text(encoding="utf-8")
    head = re.search(r"Papers (\d{2}/\d{2}/\d{4}|\d{4}-\d{2}-\d{2})", text)[1]
    day = (datetime.strptime(head, "%m/%d/%Y").date() if "/" in head
           else date.fromisoformat(head))  # fmt: skip
    total = re.search(r"Total arXiv papers: (\d+)", text, re.I)
    text = text[: re.search(r"^#* ?Paper selection prompt$", text, re.M | re.I).start()]
    starts = list(PAPER.finditer(text))
    picks = []
    for here, after in zip(starts, [*starts[1:], None], strict=True):
        block = text[here.end() : after.start() if after else len(text)]
        picks.append(Chosen(
            id=here["id"],
            title=here["linked"] or here["plain"],
            authors=field(block, "Authors").split(", "),
            abstract=field(block, "Abstract"),
            comment=field(block, "Comment"),
            relevance=score(block, "Relevance"),
            novelty=score(block, "Novelty"),
        ))  # fmt: skip
    return Reference(path.name[:3], day, int(total[1]) if total else None, picks)


def references() -> list[Path]:
    return sorted((SHARED / "reference").glob("0*.txt"))


@cache
def corpus_day() -> list[dict]:
    """The corpus's papers of CORPUS_DAY, in id order."""
    with gzip.open(CORPUS, "rt", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    return sorted((r for r in rows if r["listed"] == CORPUS_DAY), key=lambda r: r["id"])


def off_topic(count: int, followed: list[str]) -> list[dict]:
    """`count` real papers of one corpus day, in id order: in the reader's categories (the
    digests count those alone), none by a followed author."""
    follows = author_matcher(followed)
    kept = [r for r in corpus_day() if set(r["categories"]) & set(CATEGORIES)
            and not any(map(follows, r["authors"]))][:count]  # fmt: skip
    assert len(kept) == count, f"the corpus day has {len(kept)} papers, not {count}"
    return [
        paper(r["id"], title=r["title"], authors=r["authors"], abstract=r["abstract"],
              categories=r["categories"],
              announce_type="new" if r["categories"][0] in CATEGORIES else "cross")
        for r in kept
    ]  # fmt: skip


def listing(ref: Reference) -> list[dict]:
    """The day: the off-topic papers, with the digest's papers spread among them in the
    digest's order."""
    total = ref.listed or LISTED_WITHOUT_TOTAL
    others = off_topic(total - len(ref.picks), FOLLOWED[ref.name])
    step = len(others) // len(ref.picks)
    day: list[dict] = []
    for n, pick in enumerate(ref.picks):
        day += others[n * step : (n + 1) * step]
        day.append(paper(pick.id, title=pick.title, authors=pick.authors,
                         abstract=pick.abstract, categories=["cs.LG"]))  # fmt: skip
    return day + others[len(ref.picks) * step :]


def judge(ref: Reference):
    """The digest's scores and comment for its papers; for the others, low scores that the
    title pass or the skim drop (spread by id, so the funnel has work at both)."""
    given = {p.id: p for p in ref.picks if p.relevance is not None}

    def scores(pid: str, title: str, abstract: str) -> tuple[int, int, str]:
        if pid in given:
            pick = given[pid]
            return pick.relevance, pick.novelty, pick.comment
        spread = zlib.crc32(pid.encode())
        return 1 + spread % 4, 1 + spread // 4 % 5, "Off topic."

    return scores


def write_profile(home: Path, ref: Reference) -> None:
    """ada, whose cutoffs are the digest's lowest scores and whose cap is its count; alone."""
    scored = [p for p in ref.picks if p.relevance is not None]
    settings = {
        "categories": json.dumps(CATEGORIES),
        "authors": json.dumps(FOLLOWED[ref.name], ensure_ascii=False),
        "relevance_cutoff": str(min(p.relevance for p in scored)),
        "novelty_cutoff": str(min(p.novelty for p in scored)),
        "max_papers": str(len(ref.picks)),
    }
    profile = home / "subscribers" / "ada.toml"
    text = profile.read_text()
    for key, value in settings.items():
        text, found = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
        assert found, key
    profile.write_text(text)
    (home / "subscribers" / "bob.toml").unlink()


def expected_cards(ref: Reference) -> list[tuple[str, str, str | None, str | None]]:
    """(id, title as read, relevance, novelty) of each paper, as the text part shows them."""
    return [
        (p.id, clean(p.title), None if p.relevance is None else str(p.relevance),
         None if p.novelty is None else str(p.novelty))
        for p in ref.picks
    ]  # fmt: skip


def shown(ref: Reference, *, comments: bool) -> list[str]:
    """What a reader sees of each paper, in order: its title, and the model's comment (an
    author match has ours instead)."""
    seen = []
    for p in ref.picks:
        seen += [clean(p.title)] + [clean(p.comment)] * (comments and p.relevance is not None)
    return seen


def assert_in_order(page: str, titles: list[str]) -> None:
    """Each title on the page (its text, entities decoded), each after the one before."""
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    at = 0
    for title in titles:
        found = text.find(title, at)
        assert found >= 0, f"{title!r} missing or out of order"
        at = found + len(title)


def ids_on(page: str) -> list[str]:
    return list(dict.fromkeys(ABS_LINK.findall(page)))


def test_the_reference_digests_and_the_corpus_are_beside_the_repository():
    """CI keeps ../shared beside its clone: without it the tests below would not run at all,
    so its absence fails rather than skips."""
    assert [p.name[:3] for p in references()] == ["000", "001", "003"], SHARED
    assert CORPUS.is_file(), CORPUS


def test_the_digests_rank_as_we_do():
    """Followed authors first, then (relevance + novelty, relevance) never rising: the order
    `newsletter.select` gives, ties apart."""
    for path in references():
        picks = read_reference(path).picks
        matched = [p.relevance is None for p in picks]
        assert matched == sorted(matched, reverse=True), path.name
        keys = [(p.relevance + p.novelty, p.relevance) for p in picks if p.relevance is not None]
        assert keys == sorted(keys, reverse=True), path.name


@pytest.mark.parametrize("path", references(), ids=lambda p: p.name[:3])
def test_a_reference_day_sends_its_digest(path, home, arxiv_server, openai_server,
                                          sendgrid_server):  # fmt: skip
    ref = read_reference(path)
    assert ref.picks and all(p.title and p.abstract and p.authors for p in ref.picks)
    day = listing(ref)
    arxiv_server.serve(day, pub_date=pub_date(ref.day))
    openai_server.know(parse_rss(rss_document(day)).papers)
    openai_server.judge = judge(ref)
    write_profile(home, ref)

    report = send(home)
    assert report.day == ref.day and report.ok, [(s.status, s.detail) for s in report.served]
    assert [(s.subscriber_id, s.status) for s in report.served] == [("ada", "sent")]
    # the funnel ran on the whole listing, and only the digest's papers were read in full
    [selection] = report.selections
    scored = [p for p in ref.picks if p.relevance is not None]
    assert selection.listed == len(day) == selection.titled + len(ref.picks) - len(scored)
    assert selection.titled > selection.skimmed > selection.read == len(scored)

    [mail] = sendgrid_server.messages
    text, page = (c["value"] for c in mail.body["content"])
    assert f"arXiv papers: {len(day)} · " in text
    cards = [(m["id"], m["title"], m["r"], m["nv"]) for m in CARD.finditer(text)]
    assert cards == expected_cards(ref)
    for pick in scored:
        assert f"Why it's here: {clean(pick.comment)}" in text
    # a big day's last cards become title-only rows within Gmail's clipping size: the titles
    # stay, in order; the archive below shows every card whole
    assert ids_on(page) == [p.id for p in ref.picks]
    assert_in_order(page, shown(ref, comments=False))

    again = send(home)
    assert [s.status for s in again.served] == ["skipped"] and len(sendgrid_server.messages) == 1

    cli_ok(home, "archive", "build")
    with Store(load_config(home / "config.toml").storage.path) as store:
        token = store.tokens.token("ada")
    archived = (home / "site" / token / f"{ref.day.isoformat()}.html").read_text()
    assert ids_on(archived) == [p.id for p in ref.picks]
    assert_in_order(archived, shown(ref, comments=True))


def test_the_listing_carries_the_digests_papers_as_written():
    """The listing's papers are the digest's, word for word once whitespace is collapsed, and
    its size the digest's count of arXiv papers."""
    for path in references():
        ref = read_reference(path)
        listed = parse_rss(rss_document(listing(ref))).papers
        assert len(listed) == (ref.listed or LISTED_WITHOUT_TOTAL)
        papers: dict[str, Paper] = {p.id: p for p in listed}
        for pick in ref.picks:
            got = papers[pick.id]
            assert got.title == " ".join(pick.title.split())
            assert got.abstract == " ".join(pick.abstract.split())
            assert got.authors == tuple(map(author_name, pick.authors))
