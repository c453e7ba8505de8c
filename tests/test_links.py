"""Where the links of an email and of the archive lead, on a real uvicorn on 127.0.0.1 with the
real SendGrid client sending to the fake: each link acts for the one reader it was mailed to,
and lands on a page that says what happened and leads on."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
import requests

from newsletter import archive, links, templating, web
from newsletter.cli import app
from newsletter.config import load_config
from newsletter.models import Vote
from tests import test_web
from tests.conftest import SAMPLE, runner
from tests.test_web import Site, serving, shown, vote_links

site = test_web.site  # a server with [web] base_url; no [archive] base_url
browser_page = test_web.browser_page
DAY = "2025-04-10"


@pytest.fixture
def published(home) -> Iterator[Site]:
    """A server that is both `[web] base_url` and `[archive] base_url`: it hosts the archive
    that `send` writes, as one `newsletter serve` does."""
    with serving(home, '[web]\nbase_url = "{url}"\n[archive]\nbase_url = "{url}"\n') as s:
        yield s


def sent_text(sendgrid_server, who: str = "ada", part: int = 0) -> str:
    """The text part (or, with `part` 1, the HTML) of the digest SendGrid received for `who`."""
    for message in sendgrid_server.messages:
        if message.body["personalizations"][0]["to"][0]["email"] == f"{who}@example.org":
            return message.body["content"][part]["value"]
    raise AssertionError(f"nothing sent to {who}")


def token_of(site: Site, who: str = "ada") -> str:
    with site.store() as store:
        return store.tokens.token(who)


def give_ada_to_someone_else(site: Site) -> None:
    """ada's profile file now names another address: the id changes hands (Readers.claim)."""
    profile = site.home / "subscribers" / "ada.toml"
    profile.write_text(profile.read_text().replace("ada@example.org", "ada.new@example.org"))
    with site.store() as store:
        assert store.readers.claim("ada", "ada.new@example.org") == "ada~1"


class TestAnEarlierReader:
    def test_their_vote_links_record_nothing_for_the_new_reader(self, site):
        old_up, _ = vote_links(site.preview())[0]
        give_ada_to_someone_else(site)
        for answer in (requests.get(old_up, timeout=5), requests.post(old_up, timeout=5)):
            assert answer.status_code == 410
            assert "This link belongs to an earlier reader" in shown(answer)
        with site.store() as store:
            assert store.votes.voted_ids("ada") == set() and store.votes.voted_ids("ada~1") == set()
        new_up, _ = vote_links(site.preview())[0]  # the new reader's own mail
        assert requests.post(new_up, timeout=5).status_code == 200
        with site.store() as store:
            assert len(store.votes.voted_ids("ada")) == 1

    def test_their_unsubscribe_link_is_refused(self, site):
        eml = site.preview(suffix=".eml").read_text()
        old = re.search(r"<(http[^>]+/unsubscribe/[^>]+)>", eml)[1]
        assert requests.get(old, timeout=5).status_code == 200  # still theirs
        give_ada_to_someone_else(site)
        for answer in (requests.get(old, timeout=5), requests.post(old, timeout=5)):
            assert answer.status_code == 410 and "earlier reader" in shown(answer)
        with site.store() as store:
            assert not store.unsubscribes.contains("ada@example.org")

    def test_a_link_made_before_links_named_their_person(self, site):
        site.preview()
        paper = re.search(r'"id": "([^"]+)"', (site.preview(suffix=".json")).read_text())[1]
        legacy = links.make_token(links.Purpose.VOTE, "ada", paper, Vote.UP, DAY)  # four values
        assert requests.post(f"{site.url}/vote/{legacy}", timeout=5).status_code == 200
        give_ada_to_someone_else(site)
        answer = requests.post(f"{site.url}/vote/{legacy}", timeout=5)
        assert answer.status_code == 410 and "earlier reader" in shown(answer)


class TestArchivePagesCannotVote:
    def test_no_page_carries_a_vote_link(self, site):
        email_html = site.preview(suffix=".html").read_text()
        assert "/vote/" in email_html  # the mail has them
        with site.store() as store:
            archive.build(site.config, store, site.config.archive.out)
        pages = list(Path(site.config.archive.out).rglob("*.html"))
        assert any(p.name == f"{DAY}.html" for p in pages)
        assert all("/vote/" not in p.read_text() for p in pages)


class TestHeaders:
    def test_personal_pages_and_the_feed_are_private(self, published):
        published.send(feed=SAMPLE)
        token = token_of(published)
        for path in ("/", f"/{DAY}.html", f"/{DAY[:7]}.html", "/feed.atom"):
            answer = requests.get(f"{published.url}/{token}{path}", timeout=5)
            assert answer.status_code == 200, path
            assert "private" in answer.headers["Cache-Control"], path

    def test_the_slash_redirect_ignores_the_host_header(self, published):
        published.send(feed=SAMPLE)
        token = token_of(published)
        answer = requests.get(f"{published.url}/{token}", headers={"Host": "evil.example"},
                              allow_redirects=False, timeout=5)  # fmt: skip
        assert answer.status_code in (301, 302, 307, 308)
        assert answer.headers["Location"] == f"./{token}/"
        followed = requests.get(f"{published.url}/{token}", timeout=5)
        assert followed.url == f"{published.url}/{token}/" and followed.status_code == 200


def raw_header(message: bytes, name: bytes) -> bytes:
    """A header's value as written, continuation lines included."""
    head = message.split(b"\n\n", 1)[0]
    found = re.search(rb"(?m)^" + name + rb": (.*(?:\n[ \t].*)*)", head)
    assert found, name
    return found[1]


class TestThePreviewIsWhatIsSent:
    def test_list_unsubscribe_byte_for_byte(self, home, sendgrid_server):
        path = home / "config.toml"
        text = re.sub(r"(?m)^unsubscribe_url = .*\n", "", path.read_text())
        path.write_text(text + '[web]\nbase_url = "https://digest.lab.org/newsletter/links"\n')
        config = load_config(path)
        test_web.run_send(config, test_web.SendOptions(feed=SAMPLE, dry_run=True, only="ada"))
        test_web.run_send(config, test_web.SendOptions(feed=SAMPLE, only="ada"))
        sent = sendgrid_server.messages[0].body["headers"]
        eml = (home / "outbox" / DAY / "ada.eml").read_bytes()
        for name in ("List-Unsubscribe", "List-Unsubscribe-Post"):
            assert raw_header(eml, name.encode()) == sent[name].encode(), name
        assert len(sent["List-Unsubscribe"]) > 78  # long enough that folding was at stake


class TestEveryLinkLands:
    def test_view_in_browser_lands_after_a_send(self, published, sendgrid_server):
        report = published.send(feed=SAMPLE)
        assert {str(s.status) for s in report.served} == {"sent"}
        view = re.search(r"View in browser: (\S+)", sent_text(sendgrid_server))[1]
        answer = requests.get(view, timeout=5)
        assert answer.status_code == 200 and "Digests by day" in answer.text
        assert "/vote/" not in answer.text

    def test_an_unknown_page_says_what_happened(self, published):
        published.send(feed=SAMPLE)
        token = token_of(published)
        missing = requests.get(f"{published.url}/{token}/2025-04-11.html", timeout=5)
        assert missing.status_code == 404
        assert "This page is not in the archive yet" in shown(missing)
        assert f'href="{published.url}/{token}/"' in missing.text  # back to their archive
        nowhere = requests.get(f"{published.url}/not-a-token/{DAY}.html", timeout=5)
        assert nowhere.status_code == 404 and "No page at this address" in shown(nowhere)

    def test_vote_and_unsubscribe_pages_lead_back_to_the_digest(self, published, sendgrid_server):
        published.send(feed=SAMPLE)
        text = sent_text(sendgrid_server)
        up = re.search(r"More like this: (\S+)", text)[1]
        day_page = f"{published.url}/{token_of(published)}/{DAY}.html"
        for answer in (requests.get(up, timeout=5), requests.post(up, timeout=5)):
            assert f'href="{day_page}"' in answer.text
            assert "← Your digest of Thursday, 10 April 2025" in shown(answer)
        unsubscribe = re.search(r"(http\S+/unsubscribe/\S+)", text)[1]
        for answer in (requests.get(unsubscribe, timeout=5), requests.post(unsubscribe, timeout=5)):
            assert "← Your past digests" in shown(answer)
        assert requests.get(day_page, timeout=5).status_code == 200


class TestTheFeedIsFound:
    def test_the_email_the_pages_and_the_cli_lead_to_it(self, published, sendgrid_server):
        published.send(feed=SAMPLE)
        token = token_of(published)
        feed_url = f"{published.url}/{token}/feed.atom"
        assert f"Your picks as an Atom feed: {feed_url}\n" in sent_text(sendgrid_server)
        assert f'href="{feed_url}"' in sent_text(sendgrid_server, part=1)
        alternate = '<link rel="alternate" type="application/atom+xml" title="Your picks" href='
        for page in ("", f"{DAY}.html", f"{DAY[:7]}.html"):
            html = requests.get(f"{published.url}/{token}/{page}", timeout=5).text
            assert alternate + '"feed.atom">' in html, page
        args = ["--config", str(published.home / "config.toml"), "subscribers", "show", "ada"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert f"archive: {published.url}/{token}/\n" in result.output
        assert f"feed: {feed_url}\n" in result.output

    def test_the_feed_lists_only_what_was_sent(self, site):
        site.preview()
        token = token_of(site)
        feed = feedparser.parse(requests.get(f"{site.url}/{token}/feed.atom", timeout=5).content)
        assert not feed.bozo and feed.entries == []  # a dry run sent nothing
        site.send(feed=SAMPLE)
        feed = feedparser.parse(requests.get(f"{site.url}/{token}/feed.atom", timeout=5).content)
        record = (site.config.output.outbox / DAY / "ada.json").read_text()
        assert [e.title for e in feed.entries] == re.findall(r'"title": "([^"]+)"', record)
        with site.store() as store:
            archive.build(site.config, store, site.config.archive.out)
        written = feedparser.parse((site.config.archive.out / token / "feed.atom").read_bytes())
        assert len(written.entries) == len(feed.entries) > 0


class TestTheOperator:
    def test_serve_without_base_url_says_no_mail_will_link_to_it(self, home, monkeypatch):
        started = []
        monkeypatch.setattr(web.uvicorn, "run", lambda *a, **k: started.append(k))
        result = runner.invoke(app, ["--config", str(home / "config.toml"), "serve"])
        assert result.exit_code == 0 and started, result.output
        assert "[web] base_url is not set" in result.output
        assert "no email will carry a vote or unsubscribe link" in result.output
        logger = started[0]["log_config"]["loggers"][web.LOG.name]
        assert logger["handlers"] == ["default"] and logger["level"] == "INFO"

    def test_each_request_is_one_line_without_its_token(self, site, caplog):
        up, _ = vote_links(site.preview())[0]
        token = up.rsplit("/", 1)[1]
        archive_token = token_of(site)
        with caplog.at_level(logging.INFO, logger=web.LOG.name):
            requests.post(up, timeout=5)
            requests.get(f"{site.url}/{archive_token}/{DAY}.html", timeout=5)
        lines = [r.getMessage() for r in caplog.records if r.name == web.LOG.name]
        assert lines == ["POST /vote/… 200", f"GET /…/{DAY}.html 404"]
        assert all(token not in line and archive_token not in line for line in lines)


class TestInABrowser:
    def test_the_pages_use_the_font_stack(self, site, browser_page):
        up, _ = vote_links(site.preview())[0]
        browser_page.goto(up)
        family = browser_page.evaluate("getComputedStyle(document.body).fontFamily")
        assert family.replace('"', "'") == templating.FONT_STACK

    def test_from_the_vote_back_to_the_digest(self, published, sendgrid_server, browser_page):
        published.send(feed=SAMPLE)
        up = re.search(r"More like this: (\S+)", sent_text(sendgrid_server))[1]
        page = browser_page
        page.goto(up)
        page.get_by_role("button", name="Yes, more like this").click()
        page.wait_for_selector("text=Thank you, noted")
        page.get_by_role("link", name="← Your digest of Thursday, 10 April 2025").click()
        page.wait_for_selector("text=Monthly Overview")
        assert page.url == f"{published.url}/{token_of(published)}/{DAY}.html"
        assert page.locator('a[href*="/vote/"]').count() == 0


class TestTokensReadBack:
    """A token reads back as named fields, its vote one of the Vote values."""

    @pytest.fixture(autouse=True)
    def _secret(self, monkeypatch):
        monkeypatch.setenv(links.SECRET_VARIABLE, "a test secret")

    def test_a_vote_token(self):
        token = links.vote_token("ada", "2504.00001", Vote.DOWN, DAY, "ada@example.org")
        expected = links.VoteLink(
            "ada", "2504.00001", Vote.DOWN, DAY, links.person("ada@example.org")
        )
        assert links.read_vote(token) == expected
        assert links.read_vote(token).vote is Vote.DOWN

    def test_a_vote_the_links_do_not_offer_is_refused(self):
        token = links.make_token(links.Purpose.VOTE, "ada", "2504.00001", "sideways", DAY, "p")
        assert links.read_vote(token) is None

    def test_an_unsubscribe_token(self):
        token = links.make_token(links.Purpose.UNSUBSCRIBE, "ada", "ada@example.org")
        expected = links.UnsubscribeLink("ada", "ada@example.org")
        assert links.read_unsubscribe(token) == expected
