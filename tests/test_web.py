"""`newsletter serve` on a real uvicorn on 127.0.0.1: the email's vote links, the one-click
unsubscribe (RFC 8058), the feed, and the next run learning from them. The deployment's
arXiv, OpenAI and SendGrid are the local fakes."""

from __future__ import annotations

import asyncio
import email
import html
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from pathlib import Path

import feedparser
import pytest
import requests
import uvicorn

from bench.fakes.arxiv import paper
from newsletter import archive, links, web
from newsletter.cli import app
from newsletter.config import Config, load_config
from newsletter.models import Vote
from newsletter.pipeline import Hooks, SendOptions, run_send
from newsletter.store import Store
from tests.conftest import SAMPLE, runner

VOTES_PER_HOUR = 5


@dataclass
class Site:
    home: Path
    config: Config
    url: str

    def send(self, **opts) -> object:
        """A run, in a thread of its own: Playwright's sync API keeps an event loop running
        in the test's thread, and a run starts one of its own."""
        config = load_config(self.home / "config.toml")
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(run_send, config, SendOptions(**opts)).result()

    def preview(self, subscriber: str = "ada", suffix: str = ".txt") -> Path:
        """Run a dry run of the sample day; the path of one subscriber's preview file."""
        self.send(feed=SAMPLE, dry_run=True)
        return self.config.output.outbox / "2025-04-10" / f"{subscriber}{suffix}"

    def store(self) -> Store:
        """Another connection to the server's database, as `newsletter send` opens one."""
        return Store(self.config.storage.path)


class _Server(uvicorn.Server):
    """uvicorn's server, which says when it has started and stops when told, rather than at
    its next 0.1 s tick; it serves the same as in `newsletter serve`."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up, self.down = threading.Event(), threading.Event()

    async def main_loop(self) -> None:
        await self.on_tick(0)  # the Date and Server headers, as uvicorn's own loop sets them
        self.up.set()
        await asyncio.to_thread(self.down.wait)


@contextmanager
def running(config: Config, sock: socket.socket) -> Iterator[None]:
    """The real application on uvicorn, in a thread, listening on `sock`."""
    with Store(config.storage.path) as store:
        server = _Server(
            uvicorn.Config(web.create_app(config, store), log_level="warning", lifespan="off")
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        assert server.up.wait(10), "uvicorn did not start"
        try:
            yield
        finally:
            server.down.set()
            thread.join(10)


@contextmanager
def serving(home: Path, settings: str) -> Iterator[Site]:
    """The deployment of `home` served on a free port, with no other unsubscribe URL, so that
    List-Unsubscribe and the footer point at the server; `settings` (TOML) may name the
    server's address as {url}."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    path = home / "config.toml"
    text = re.sub(r"(?m)^unsubscribe_url = .*\n", "", path.read_text())
    path.write_text(text + settings.replace("{url}", url))
    config = load_config(path)
    with running(config, sock):
        yield Site(home, config, url)
    sock.close()


@pytest.fixture
def site(home) -> Iterator[Site]:
    """The deployment of `home`, with [web] base_url pointing at a running server."""
    with serving(home, f'[web]\nbase_url = "{{url}}"\nvotes_per_hour = {VOTES_PER_HOUR}\n') as s:
        yield s


def shown(answer: requests.Response) -> str:
    """A page's text as a reader sees it (entities decoded)."""
    return html.unescape(answer.text)


def vote_links(text_part: Path) -> list[tuple[str, str]]:
    """(👍 link, 👎 link) of each paper of a digest's text part."""
    text = text_part.read_text()
    ups = re.findall(r"More like this: (\S+)", text)
    downs = re.findall(r"Fewer like this: (\S+)", text)
    assert ups and len(ups) == len(downs)
    return list(zip(ups, downs, strict=True))


def first_title(site: Site) -> str:
    record = (site.config.output.outbox / "2025-04-10" / "ada.json").read_text()
    return re.search(r'"title": "([^"]+)"', record)[1]


class TestVotes:
    def test_a_get_shows_a_button_and_records_nothing(self, site):
        up, _ = vote_links(site.preview())[0]
        assert up.startswith(f"{site.url}/vote/")
        page = requests.get(up, timeout=5)
        assert page.status_code == 200
        assert "More papers like this?" in shown(page) and 'method="post"' in shown(page)
        assert first_title(site) in shown(page)
        with site.store() as store:
            assert store.votes.titles("ada", Vote.UP, 15) == []

    def test_the_post_records_the_vote_and_undo_removes_it(self, site):
        _, down = vote_links(site.preview())[0]
        done = requests.post(down, timeout=5)
        assert done.status_code == 200
        assert "We'll show you fewer papers like this one." in shown(done)
        with site.store() as store:
            assert store.votes.titles("ada", Vote.DOWN, 15) == [first_title(site)]
        undone = requests.post(f"{down}/undo", timeout=5)
        assert undone.status_code == 200 and "Undone" in shown(undone)
        with site.store() as store:
            assert store.votes.titles("ada", Vote.DOWN, 15) == []

    def test_a_new_vote_replaces_the_other_one(self, site):
        up, down = vote_links(site.preview())[0]
        requests.post(up, timeout=5)
        again = requests.post(down, timeout=5)
        assert "This replaces your earlier “more like this”." in shown(again)
        with site.store() as store:
            assert store.votes.titles("ada", Vote.UP, 15) == []
            assert store.votes.titles("ada", Vote.DOWN, 15) == [first_title(site)]

    def test_the_next_days_prompt_carries_the_liked_title(self, site, arxiv_server, openai_server):
        up, _ = vote_links(site.preview())[0]
        assert requests.post(up, timeout=5).status_code == 200
        arxiv_server.serve([paper("2504.20001", title="Sparse experts, revisited")],
                           pub_date="Fri, 11 Apr 2025 00:00:00 -0400")  # fmt: skip
        before = len(openai_server.requests)
        site.send(dry_run=True)
        systems = [r.body["messages"][0]["content"] for r in openai_server.requests[before:]]
        liked = [s for s in systems if f"- {first_title(site)}\n" in s]
        assert liked and all("## Papers this reader liked" in s for s in liked)
        assert len(liked) < len(systems)  # bob's prompts: he liked nothing

    def test_votes_are_limited_per_subscriber(self, site):
        pairs = vote_links(site.preview())
        answers = [requests.post(pairs[0][0], timeout=5).status_code
                   for _ in range(VOTES_PER_HOUR + 1)]  # fmt: skip
        assert answers == [200] * VOTES_PER_HOUR + [429]
        bob_up, _ = vote_links(site.config.output.outbox / "2025-04-10" / "bob.txt")[0]
        assert requests.post(bob_up, timeout=5).status_code == 200  # another reader's budget

    def test_without_base_url_no_vote_link_is_made(self, home):
        run_send(load_config(home / "config.toml"), SendOptions(feed=SAMPLE, dry_run=True))
        text = (home / "outbox" / "2025-04-10" / "ada.txt").read_text()
        page = (home / "outbox" / "2025-04-10" / "ada.html").read_text()
        assert "/vote/" not in text and "/vote/" not in page and "Why it's here" in text


class TestRefused:
    def test_a_bad_altered_or_foreign_token_gets_the_same_403(self, site, monkeypatch):
        up, _ = vote_links(site.preview())[0]
        token = up.rsplit("/", 1)[1]
        altered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
        unsubscribe = links.make_token(links.Purpose.UNSUBSCRIBE, "ada", "ada@example.org")
        with monkeypatch.context() as elsewhere:
            elsewhere.setenv(links.SECRET_VARIABLE, "another deployment's secret")
            foreign = links.vote_token("ada", "2504.00001", Vote.UP, "2025-04-10", "a@b.org")
        urls = [f"{site.url}/vote/{t}" for t in ("garbage", altered, unsubscribe, foreign)]
        urls.append(f"{site.url}/unsubscribe/{token}")  # a vote's token is no unsubscribe's
        answers = [requests.post(u, timeout=5) for u in urls] + [requests.get(urls[1], timeout=5)]
        assert {a.status_code for a in answers} == {403}
        assert len({shown(a) for a in answers}) == 1
        assert "ada" not in answers[0].text and "2504" not in answers[0].text
        with site.store() as store:
            assert store.votes.titles("ada", Vote.UP, 15) == []

    def test_every_response_asks_for_no_referrer_and_no_index(self, site):
        up, _ = vote_links(site.preview())[0]
        for answer in (requests.get(up, timeout=5), requests.get(f"{site.url}/vote/x", timeout=5)):
            assert answer.headers["Referrer-Policy"] == "no-referrer"
            assert "noindex" in answer.headers["X-Robots-Tag"]


def list_unsubscribe(eml: Path) -> tuple[str, str]:
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    return message["List-Unsubscribe"], message["List-Unsubscribe-Post"]


class TestUnsubscribe:
    def test_the_header_carries_the_server_url_and_the_mailto(self, site):
        header, post = list_unsubscribe(site.preview(suffix=".eml"))
        assert post is None  # RFC 8058 asks for https: see the next test
        assert f"<{site.url}/unsubscribe/" in header and "<mailto:digest@lab.org" in header
        page = (site.config.output.outbox / "2025-04-10" / "ada.html").read_text()
        assert f"{site.url}/unsubscribe/" in page  # the footer links there too

    def test_an_https_server_gets_the_one_click_header(self, home):
        path = home / "config.toml"
        text = re.sub(r"(?m)^unsubscribe_url = .*\n", "", path.read_text())
        path.write_text(text + '[web]\nbase_url = "https://digest.lab.org"\n')
        run_send(load_config(path), SendOptions(feed=SAMPLE, dry_run=True))
        header, post = list_unsubscribe(home / "outbox" / "2025-04-10" / "ada.eml")
        assert post == "List-Unsubscribe=One-Click"
        assert header.startswith("<https://digest.lab.org/unsubscribe/")

    def test_an_rfc_8058_post_stops_the_next_send(self, site, sendgrid_server):
        header, _ = list_unsubscribe(site.preview(suffix=".eml"))
        url = re.search(r"<(http[^>]+)>", header)[1]
        answer = requests.post(
            url,
            data="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=5,
        )
        assert answer.status_code == 200
        report = site.send(feed=SAMPLE)
        status = {s.subscriber_id: str(s.status) for s in report.served}
        assert status == {"ada": "unsubscribed", "bob": "sent"}
        to = [m.body["personalizations"][0]["to"][0]["email"] for m in sendgrid_server.messages]
        assert to == ["bob@example.org"]

    def test_the_page_asks_first_and_then_offers_to_resubscribe(self, site):
        header, _ = list_unsubscribe(site.preview(suffix=".eml"))
        url = re.search(r"<(http[^>]+)>", header)[1]
        asked = requests.get(url, timeout=5)
        assert "Unsubscribe from the arXiv digest?" in shown(asked)
        assert "a**@example.org" in shown(asked) and "ada@example.org" not in shown(asked)
        with site.store() as store:
            assert not store.unsubscribes.contains("ada@example.org")
        left = requests.post(url, timeout=5)
        assert "You are unsubscribed" in shown(left) and "Resubscribe" in shown(left)
        assert "You are unsubscribed" in shown(requests.get(url, timeout=5))
        back = requests.post(f"{url}/resubscribe", timeout=5)
        assert "Welcome back" in shown(back)
        with site.store() as store:
            assert not store.unsubscribes.contains("ada@example.org")


class TestFeed:
    def test_the_feed_lists_the_days_picks(self, site):
        site.preview()  # the feed lists what was sent: the preview only shows what will be
        site.send(feed=SAMPLE)
        with site.store() as store:
            token = store.tokens.token("ada")
        answer = requests.get(f"{site.url}/{token}/feed.atom", timeout=5)
        assert answer.headers["Content-Type"].startswith("application/atom+xml")
        feed = feedparser.parse(answer.content)
        assert not feed.bozo, feed.get("bozo_exception")
        record = (site.config.output.outbox / "2025-04-10" / "ada.json").read_text()
        titles = re.findall(r'"title": "([^"]+)"', record)
        assert [e.title for e in feed.entries] == titles and titles
        assert all(e.summary for e in feed.entries)

    def test_archive_build_writes_the_feed_and_the_server_hosts_the_archive(self, site):
        site.send(feed=SAMPLE)
        with site.store() as store:
            archive.build(site.config, store, site.config.archive.out)
            token = store.tokens.token("ada")
        written = feedparser.parse((site.config.archive.out / token / "feed.atom").read_bytes())
        assert not written.bozo and written.entries
        served = requests.get(f"{site.url}/{token}/", timeout=5)
        assert served.status_code == 200 and "2025-04-10" in served.text
        assert served.headers["Referrer-Policy"] == "no-referrer"

    def test_an_unknown_feed_or_page_is_not_found(self, site):
        assert requests.get(f"{site.url}/nobody/feed.atom", timeout=5).status_code == 404
        assert requests.get(f"{site.url}/nobody/", timeout=5).status_code == 404


class TestCommands:
    def test_serve_refuses_to_start_without_the_secret(self, home, monkeypatch):
        monkeypatch.delenv(links.SECRET_VARIABLE)
        result = runner.invoke(app, ["--config", str(home / "config.toml"), "serve"])
        assert result.exit_code == 2 and links.SECRET_VARIABLE in result.output

    def test_like_by_hand_looks_the_title_up_once(self, home, arxiv_server):
        arxiv_server.api_papers = [paper("2503.00042", title="Routing tokens to experts"),
                                   paper("2503.00043", title="Not asked for")]  # fmt: skip
        args = ["--config", str(home / "config.toml"), "subscribers", "like", "ada", "2503.00042"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "2503.00042: Routing tokens to experts" in result.output
        with Store(home / "newsletter.db") as store:
            assert store.votes.titles("ada", Vote.UP, 15) == ["Routing tokens to experts"]

    def test_an_id_arxiv_does_not_know_is_said_and_not_recorded(self, home, arxiv_server):
        arxiv_server.api_papers = []
        args = ["--config", str(home / "config.toml"), "subscribers", "dislike", "ada", "2503.9"]
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and "2503.9: not found on arXiv" in result.output


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]  # fmt: skip
PHONE = {"width": 375, "height": 720}


@pytest.fixture
def browser_page():
    """A Chromium tab 375 px wide: Debian's chromium, driven by Playwright (no download)."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page(viewport=PHONE)
        finally:
            browser.close()


def fits_the_phone(page) -> bool:
    """No sideways scrolling at 375 px."""
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


class TestInABrowser:
    def test_vote_from_the_email_then_unsubscribe(
        self, site, browser_page, arxiv_server, openai_server, sendgrid_server, tmp_path
    ):
        page, shots = browser_page, tmp_path / "screenshots"
        email_html = site.preview(suffix=".html")
        page.goto(email_html.as_uri())
        page.locator('a[title="More like this"]').first.click()
        page.wait_for_selector("text=More papers like this?")
        assert fits_the_phone(page)
        page.screenshot(path=shots / "vote-ask.png", full_page=True)
        page.get_by_role("button", name="Yes, more like this").click()
        page.wait_for_selector("text=Thank you, noted")
        assert "We'll show you more papers like this one." in page.inner_text("main")
        assert fits_the_phone(page)
        page.screenshot(path=shots / "vote-done.png", full_page=True)

        arxiv_server.serve([paper("2504.20001", title="Sparse experts, revisited")],
                           pub_date="Fri, 11 Apr 2025 00:00:00 -0400")  # fmt: skip
        before = len(openai_server.requests)
        site.send(dry_run=True)
        systems = [r.body["messages"][0]["content"] for r in openai_server.requests[before:]]
        assert any(f"- {first_title(site)}\n" in s for s in systems)

        page.goto(email_html.as_uri())
        page.locator('a[href*="/unsubscribe/"]').first.click()
        page.wait_for_selector("text=Unsubscribe from the arXiv digest?")
        assert "ada@example.org" not in page.content()
        page.screenshot(path=shots / "unsubscribe-ask.png", full_page=True)
        page.get_by_role("button", name="Unsubscribe").click()
        page.wait_for_selector("text=You are unsubscribed")
        assert page.get_by_role("button", name="Resubscribe").is_visible()
        assert fits_the_phone(page)
        page.screenshot(path=shots / "unsubscribe-done.png", full_page=True)
        report = site.send(feed=SAMPLE)
        assert {s.subscriber_id: str(s.status) for s in report.served} == {
            "ada": "unsubscribed",
            "bob": "sent",
        }
        assert len(sendgrid_server.messages) == 1

    def test_a_forged_link_is_refused(self, site, browser_page):
        up, _ = vote_links(site.preview())[0]
        answer = browser_page.goto(up[:-2] + ("xx" if not up.endswith("xx") else "yy"))
        assert answer.status == 403
        assert "This link does not work" in browser_page.inner_text("main")


class TestProfileExamples:
    def test_liked_ids_in_the_file_are_looked_up_once_and_reach_the_prompt(
        self, home, arxiv_server, openai_server
    ):
        profile = home / "subscribers" / "ada.toml"
        profile.write_text('liked = ["2503.00042"]\n' + profile.read_text())
        arxiv_server.api_papers = [paper("2503.00042", title="Routing tokens to experts")]
        config = load_config(home / "config.toml")
        for _ in range(2):
            run_send(config, SendOptions(feed=SAMPLE, dry_run=True))
        assert len(arxiv_server.queries("/api/query")) == 1
        systems = [r.body["messages"][0]["content"] for r in openai_server.requests]
        assert any("- Routing tokens to experts\n" in s for s in systems)

    def test_a_run_records_and_says_them_and_prompt_only_reads(self, home, arxiv_server):
        profile = home / "subscribers" / "ada.toml"
        profile.write_text('liked = ["2503.00042"]\n' + profile.read_text())
        arxiv_server.api_papers = [paper("2503.00042", title="Routing tokens to experts")]
        prompt = ["--config", str(home / "config.toml"), "prompt", "ada"]
        before = runner.invoke(app, prompt)
        assert before.exit_code == 0, before.output
        assert "Routing tokens" not in before.output
        assert arxiv_server.queries("/api/query") == []  # the prompt looks nothing up
        said: list[str] = []
        config = load_config(home / "config.toml")
        report = run_send(config, SendOptions(feed=SAMPLE, dry_run=True), Hooks(say=said.append))
        assert report.examples == 1
        assert "examples: 1 paper from the profiles' liked/disliked lists recorded" in said
        assert "- Routing tokens to experts\n" in runner.invoke(app, prompt).output

    def test_an_unreachable_arxiv_leaves_the_examples_for_later(self, home, arxiv_server, capsys):
        profile = home / "subscribers" / "ada.toml"
        profile.write_text('disliked = ["2503.00042"]\n' + profile.read_text())
        arxiv_server.fail(500)
        report = run_send(load_config(home / "config.toml"), SendOptions(feed=SAMPLE, dry_run=True))
        assert report.ok
        warned = capsys.readouterr().err
        assert "ada: the profile's liked/disliked titles could not be looked up" in warned
