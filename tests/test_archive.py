"""The web archive: pages rebuilt from SQLite, their links, escaping and idempotent rebuilds;
the emails' "View in browser" link to them; and the daily workflow that sends and publishes."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from bench.fakes.arxiv import FakeArxiv, paper
from bench.fakes.openai import FakeOpenAI
from bench.fakes.sendgrid import FakeSendgrid, Received
from newsletter import archive, render
from newsletter.cli import app
from newsletter.config import Config, load_config
from newsletter.errors import ConfigError
from newsletter.i18n import ENGLISH
from newsletter.models import Judge, Listing, Paper, Pick, SavedDigest, Score, Selection, Usage
from newsletter.pipeline import SendOptions, digest_record, run_send
from newsletter.profiles import load_profiles
from newsletter.store import Store
from tests.conftest import (
    ENVIRONMENT,
    EXAMPLE,
    REPO,
    SAMPLE,
    cli_ok,
    make_paper,
    runner,
    write_deployment,
)

# Days with a digest: a weekend and a weekday (2 April) without one, and a month boundary.
DAYS = [date(2025, 3, 28), date(2025, 3, 31), date(2025, 4, 1), date(2025, 4, 3)]
BASE_URL = "https://digest.example.org"
HOSTILE = '<script>alert(1)</script> "><img src=x onerror=alert(2)> AT&T'
HREF = re.compile(r'href="([^"]*)"')


def pub_date(day: date) -> str:
    return f"{day:%a, %d %b %Y} 00:00:00 -0400"


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def local_links(page: Path) -> list[str]:
    """The page's links to other files of the site (its own #anchors and the web left out)."""
    return [h for h in HREF.findall(page.read_text()) if not re.match(r"^(#|[a-z]+:)", h)]


def nav_links(page: Path) -> dict[str, str | None]:
    """The navigation bar's three entries: label -> href (None when greyed out)."""
    nav = re.search(r"<nav .*?</nav>", page.read_text(), re.S).group(0)
    found: dict[str, str | None] = {}
    for href, label in re.findall(r'<a [^>]*href="([^"]*)"[^>]*>([^<]*)</a>', nav):
        found[label] = href
    for label in re.findall(r'<span [^>]*aria-disabled="true"[^>]*>([^<]*)</span>', nav):
        found[label] = None
    return found


def assert_valid_page(html: str) -> None:
    assert html.lower().startswith("<!doctype html>")
    assert re.search(r'<html lang="en"', html)
    assert re.search(r'charset="?utf-8', html, re.I)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert re.search(r"<title>[^<]+</title>", html)
    assert "<script" not in html.lower()
    assert '<meta name="referrer" content="no-referrer">' in html


# -- end to end: four days sent through the local fakes, then `archive build` ------------------


@dataclass
class Sent:
    """Four announcement days sent to ada and bob, then `archive build`: the deployment's
    folder, the messages SendGrid received and each subscriber's archive token."""

    home: Path
    messages: list[Received]
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def four_days(tmp_path_factory) -> Iterator[Sent]:
    """Sent once for the module: tests read it, and copy it (`sent_copy`) to change it."""
    home = tmp_path_factory.mktemp("four-days")
    with (
        FakeArxiv() as arxiv,
        FakeOpenAI() as model,
        FakeSendgrid() as sendgrid,
        pytest.MonkeyPatch.context() as env,
    ):
        for name in ENVIRONMENT:
            env.delenv(name, raising=False)
        env.chdir(home)
        env.setattr("newsletter.backfill.API_DELAY_SECONDS", 0.0)
        for name, value in write_deployment(home, arxiv, model, sendgrid).items():
            env.setenv(name, value)
        config = home / "config.toml"
        config.write_text(config.read_text() + f'\n[archive]\nbase_url = "{BASE_URL}/"\n')
        for n, day in enumerate(DAYS):
            arxiv.serve(
                [
                    paper(f"25{day:%m}.{n}0001", title=f"Pruning Experts, day {n}"),
                    paper(f"25{day:%m}.{n}0002", title=f"Quantized KV caches, day {n}"),
                    paper(f"25{day:%m}.{n}0003", title=f"Experts {HOSTILE}"),
                    paper(f"25{day:%m}.{n}0004", title="Reinforcement learning for robots"),
                ],
                pub_date=pub_date(day),
            )
            report = run_send(load_config(config), SendOptions())
            assert report.day == day and [s.status for s in report.served] == ["sent", "sent"]
        cli_ok(home, "archive", "build")
        with Store(load_config(config).storage.path) as store:
            ids = {who: store.tokens.token(who) for who in ("ada", "bob")}
        yield Sent(home, list(sendgrid.messages), ids)


@pytest.fixture
def sent(four_days) -> Path:
    """The four days' deployment, to read only."""
    return four_days.home


@pytest.fixture
def sent_copy(four_days, tmp_path) -> Path:
    """A copy of the four days' deployment, for a test that builds or writes into it."""
    return Path(shutil.copytree(four_days.home, tmp_path / "copy"))


def tokens(home: Path) -> dict[str, str]:
    with Store(load_config(home / "config.toml").storage.path) as store:
        return {who: store.tokens.token(who) for who in ("ada", "bob")}


class TestSite:
    def test_the_layout(self, four_days):
        site = four_days.home / "site"
        ada, bob = four_days.tokens.values()
        days = [f"{d}.html" for d in DAYS]
        for token in (ada, bob):
            files = sorted(p.name for p in (site / token).iterdir())
            months = ["2025-03.html", "2025-04.html"]
            assert files == sorted([*days, *months, "feed.atom", "index.html"])
        assert sorted(p.name for p in site.iterdir()) == sorted(
            [ada, bob, "index.html", "robots.txt"]
        )

    def test_every_link_resolves_to_a_file_and_an_anchor(self, sent):
        pages = list((sent / "site").rglob("*.html"))
        assert len(pages) == 2 * 7 + 1
        for page in pages:
            for href in local_links(page):
                target, _, anchor = href.partition("#")
                assert (page.parent / target).is_file(), f"{page.name} links to {href}"
                if anchor:
                    assert f'id="{anchor}"' in (page.parent / target).read_text()

    def test_previous_and_next_skip_days_without_a_digest(self, four_days):
        folder = four_days.home / "site" / four_days.tokens["ada"]
        files = [f"{d}.html" for d in DAYS]
        for i, name in enumerate(files):
            nav = nav_links(folder / name)
            assert nav["← Previous"] == (files[i - 1] if i else None)
            assert nav["Next →"] == (files[i + 1] if i + 1 < len(files) else None)
            assert nav["Monthly Overview"] == name[:7] + ".html"

    def test_month_pages_list_their_days_with_the_top_papers(self, four_days):
        folder = four_days.home / "site" / four_days.tokens["ada"]
        for month, days in (("2025-03", DAYS[:2]), ("2025-04", DAYS[2:])):
            html = (folder / f"{month}.html").read_text()
            listed = sorted(set(re.findall(r'href="(2025-\d\d-\d\d)\.html', html)))
            assert listed == [d.isoformat() for d in days]
            for d in days:
                assert ENGLISH.long_date(d) in html
                assert f'href="{d}.html#paper-1"' in html and f'href="{d}.html#paper-3"' in html
                assert f'href="{d}.html#paper-4"' not in html  # the top three only
        march = nav_links(folder / "2025-03.html")
        assert march == {"← Previous month": None, "All months": "index.html",
                         "April 2025 →": "2025-04.html"}  # fmt: skip

    def test_the_subscriber_index_lists_months_newest_first(self, four_days):
        html = (four_days.home / "site" / four_days.tokens["ada"] / "index.html").read_text()
        assert html.index('href="2025-04.html"') < html.index('href="2025-03.html"')
        assert 'href="2025-04-03.html"' in html  # the latest digest

    def test_pages_are_valid_html_without_script(self, sent):
        for page in (sent / "site").rglob("*.html"):
            assert_valid_page(page.read_text())

    def test_the_day_page_is_the_email_with_navigation(self, four_days):
        folder = four_days.home / "site" / four_days.tokens["ada"]
        page = (folder / "2025-04-03.html").read_text()
        mail = next(
            m.body["content"][1]["value"]
            for m in four_days.messages
            if m.body["custom_args"] == {"digest_date": "2025-04-03", "subscriber_id": "ada"}
        )
        for shared in ("Thursday, 3 April 2025", "Pruning Experts, day 3", "What this digest cost",
                       "How these papers were chosen", "Hi Ada, "):  # fmt: skip
            assert shared in page and shared in mail
        assert "Monthly Overview" in page and "Monthly Overview" not in mail
        # the footer names the address and carries the unsubscribe link: not on the web
        assert "ada@example.org" in mail and "ada@example.org" not in page
        assert "unsubscribe" in mail.lower() and "unsubscribe" not in page.lower()

    def test_hostile_text_stays_escaped(self, four_days):
        for page in (four_days.home / "site").rglob("*.html"):
            html = page.read_text()
            assert "<img src=x" not in html and "alert(1)</script>" not in html
        month = (four_days.home / "site" / four_days.tokens["ada"] / "2025-04.html").read_text()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in month

    def test_the_front_page_names_nobody(self, four_days):
        site = four_days.home / "site"
        html = (site / "index.html").read_text()
        assert_valid_page(html)
        for private in (*four_days.tokens.values(), "ada", "bob", "example.org", "Pruning"):
            assert private not in html
        assert local_links(site / "index.html") == []
        assert (site / "robots.txt").read_text() == "User-agent: *\nDisallow: /\n"

    def test_a_rebuild_changes_no_file(self, sent_copy):
        cli_ok(sent_copy, "archive", "build")
        before = snapshot(sent_copy / "site")
        result = cli_ok(sent_copy, "archive", "build")
        assert "18 files for 2 subscribers, 0 written" in result.output
        assert snapshot(sent_copy / "site") == before

    def test_tokens_are_random_stable_and_not_the_id(self, sent_copy):
        first = tokens(sent_copy)
        assert first["ada"] != first["bob"]
        for who, token in first.items():
            assert who not in token and len(token) >= 20 and re.fullmatch(r"[\w-]+", token)
        cli_ok(sent_copy, "archive", "build")
        assert tokens(sent_copy) == first
        site = sent_copy / "site"
        assert {p.name for p in site.iterdir() if p.is_dir()} == set(first.values())

    def test_only_builds_one_subscriber(self, sent_copy):
        cli_ok(sent_copy, "archive", "build", "--only", "bob", "--out", str(sent_copy / "bob-only"))
        folders = [p.name for p in (sent_copy / "bob-only").iterdir() if p.is_dir()]
        assert folders == [tokens(sent_copy)["bob"]]

    def test_only_with_no_digest_is_an_error(self, sent_copy):
        result = runner.invoke(
            app, ["--config", str(sent_copy / "config.toml"), "archive", "build", "--only", "carol"]
        )
        assert result.exit_code == 1 and "no digest of 'carol'" in result.output


class TestViewInBrowser:
    def test_each_email_links_to_exactly_its_page(self, four_days):
        site, ids = four_days.home / "site", four_days.tokens
        assert len(four_days.messages) == 8
        for message in four_days.messages:
            args = message.body["custom_args"]
            url = f"{BASE_URL}/{ids[args['subscriber_id']]}/{args['digest_date']}.html"
            text, html = (c["value"] for c in message.body["content"])
            assert text.startswith(f"View in browser: {url}\n")
            assert f'<a class="foot-a" href="{url}"' in html and ">View in browser</a>" in html
            page = site / url.removeprefix(BASE_URL + "/")
            assert page.is_file() and args["digest_date"] in page.read_text()

    def test_no_base_url_no_link(self, home, sendgrid_server):
        run_send(load_config(home / "config.toml"), SendOptions(only="ada", feed=SAMPLE))
        text, html = (c["value"] for c in sendgrid_server.messages[0].body["content"])
        assert "View in browser" not in text and "View in browser" not in html

    def test_the_link_is_escaped(self, tmp_path):
        profile = EXAMPLE
        selection = Selection("example", DAYS[0], [], listed=1, read=1)
        url = 'https://x.org/a?b=1&c="2"'
        email = render.render_email(selection, profile, Config(), prompt_text="P", view_url=url)
        assert 'href="https://x.org/a?b=1&amp;c=&#34;2&#34;"' in email.html
        hostile = render.render_email(
            selection, profile, Config(), prompt_text="P", view_url="javascript:alert(1)"
        )
        assert "javascript:" not in hostile.html and "View in browser" not in hostile.html

    @pytest.mark.parametrize(
        "value",
        ["digest.example.org", "ftp://digest.example.org", "https://x.org/?a=1", "javascript:x"],
    )
    def test_base_url_must_be_http(self, tmp_path, value):
        (tmp_path / "config.toml").write_text(f'[archive]\nbase_url = "{value}"\n')
        with pytest.raises(ConfigError, match=r"archive\.base_url: .*http\(s\) URL"):
            load_config(tmp_path / "config.toml")

    def test_out_is_relative_to_the_config_file(self, tmp_path):
        (tmp_path / "config.toml").write_text('[archive]\nout = "public"\n')
        assert load_config(tmp_path / "config.toml").archive.out == tmp_path / "public"


# -- straight from the store: what a record needs, and what a rebuild does ---------------------


def save(
    store: Store, config: Config, who: str, day: date, papers: list[Paper], kind="sent",
    judge: Judge = Judge.MODEL,
):  # fmt: skip
    """A digest as `pipeline.serve` saves it, without scoring or sending."""
    store.papers.save_listing(Listing(day, papers, listed=len(papers)), ["cs.LG"])
    picks = [Pick(p, Score(p.id, 8, 6, f"Why {p.title}")) for p in papers]
    usage = {"m": Usage("m", 2, 1_000, 0, 100, 0.001)} if judge.by_model else {}
    selection = Selection(who, day, picks, listed=40, read=30, usage=usage, judge=judge)
    profiles = {p.id: p for p in load_profiles(config.subscribers_dir).profiles}
    store.digests.save(
        day,
        who,
        kind,
        digest_record(selection, None, profiles.get(who), config).model_dump(mode="json"),
    )


@pytest.fixture
def deployment(tmp_path) -> Config:
    (tmp_path / "subscribers").mkdir()
    example = (REPO / "subscribers" / "example.toml").read_text()
    (tmp_path / "subscribers" / "ada.toml").write_text(example)
    (tmp_path / "config.toml").write_text("")
    return load_config(tmp_path / "config.toml")


def build(config: Config, **kwargs) -> archive.Built:
    with Store(config.storage.path) as store:
        return archive.build(config, store, config.archive.out, **kwargs)


def day_page(config: Config, who: str, day: date) -> str:
    with Store(config.storage.path) as store:
        return (config.archive.out / store.tokens.token(who) / f"{day}.html").read_text()


class TestFromTheStore:
    def test_a_locally_scored_day_shows_no_novelty_and_no_prompt_note(self, deployment):
        with Store(deployment.storage.path) as store:
            save(store, deployment, "ada", DAYS[0], [make_paper("1")], judge=Judge.KEYWORDS)
            token = store.tokens.token("ada")
        build(deployment)
        folder = deployment.archive.out / token
        month = (folder / "2025-03.html").read_text()
        assert "R8" in month and "N6" not in month
        day = (folder / f"{DAYS[0].isoformat()}.html").read_text()
        assert "local keyword scorer" in day and "Novelty 6" not in day
        assert "The prompt shown is the profile's current one" not in day

    def test_a_digest_saved_before_the_counts_were_renamed_reads_the_same(self, deployment):
        """Releases before this one saved the papers read in full as `totals.scanned`."""
        with Store(deployment.storage.path) as store:
            save(store, deployment, "ada", DAYS[0], [make_paper("1")])
            [(_, _, record)] = store.digests.load()
            record["totals"]["scanned"] = record["totals"].pop("read")
            store.digests.save(DAYS[0], "ada", "sent", record)
            assert SavedDigest.model_validate(record).to_selection({}).read == 30
        build(deployment)
        stat = re.compile(r'class="stat-n"[^>]*>30</div><div class="stat-l"[^>]*>read in full<')
        assert stat.search(day_page(deployment, "ada", DAYS[0]))

    @pytest.mark.parametrize("judge", list(Judge))
    def test_a_digest_saved_with_by_model_reads_as_its_judge(self, deployment, judge):
        """Releases before `judge` saved `by_model`, false for the local scorer."""
        with Store(deployment.storage.path) as store:
            save(store, deployment, "ada", DAYS[0], [make_paper("1")], judge=judge)
            [(_, _, record)] = store.digests.load()
            record["by_model"] = record.pop("judge") == "model"
            store.digests.save(DAYS[0], "ada", "sent", record)
            assert SavedDigest.model_validate(record).judge is judge
        build(deployment)
        day = day_page(deployment, "ada", DAYS[0])
        assert ("Novelty 6" in day) is judge.by_model
        assert ("local keyword scorer" in day) is not judge.by_model

    def test_sent_wins_over_a_preview_and_a_preview_alone_is_kept(self, deployment):
        with Store(deployment.storage.path) as store:
            save(store, deployment, "ada", DAYS[0], [make_paper("1", "Previewed title")], "preview")
            save(store, deployment, "ada", DAYS[0], [make_paper("2", "Sent title")], "sent")
            save(store, deployment, "ada", DAYS[1], [make_paper("3", "Only previewed")], "preview")
        build(deployment)
        first = day_page(deployment, "ada", DAYS[0])
        assert "Sent title" in first and "Previewed title" not in first
        assert "Only previewed" in day_page(deployment, "ada", DAYS[1])

    def test_a_dry_run_saves_a_preview(self, home):
        config = load_config(home / "config.toml")
        run_send(config, SendOptions(dry_run=True, only="ada", feed=SAMPLE))
        with Store(config.storage.path) as store:
            [(day, who, record)] = store.digests.load()
            kinds = [r[0] for r in store.db.execute("SELECT kind FROM digests")]
        assert (str(day), who, kinds) == ("2025-04-10", "ada", ["preview"])
        assert record["totals"]["listed"] == 38 and record["papers"][0]["author_match"]
        assert record["reader"]["name"] == "Ada Example"

    def test_building_claims_no_address(self, home):
        """Whose an id is changes with a send, never with a build of past pages."""
        config = load_config(home / "config.toml")
        run_send(config, SendOptions(dry_run=True, only="ada", feed=SAMPLE))
        path = home / "subscribers" / "ada.toml"
        path.write_text(path.read_text().replace("ada@example.org", "ada.new@example.org"))
        with Store(config.storage.path) as store:
            archive.build(config, store, home / "site")
            assert store.readers.email("ada") == "ada@example.org"
            assert not store.readers.had_earlier_reader("ada")
            assert [who for _, who, _ in store.digests.load()] == ["ada"]

    def test_hostile_text_in_every_field_stays_escaped(self, deployment):
        evil = make_paper("9", f"Title {HOSTILE}", abstract=f"Abstract {HOSTILE}",
                          authors=(f"Eve {HOSTILE}",))  # fmt: skip
        with Store(deployment.storage.path) as store:
            save(store, deployment, "ada", DAYS[0], [evil])
        build(deployment)
        for page in deployment.archive.out.rglob("*.html"):
            html = page.read_text()
            assert "<script" not in html and "<img" not in html
        assert "Title &lt;script&gt;" in day_page(deployment, "ada", DAYS[0])

    def test_a_gone_profile_keeps_its_pages_without_the_prompt(self, deployment):
        with Store(deployment.storage.path) as store:
            save(store, deployment, "ada", DAYS[0], [make_paper("1")])
        (deployment.subscribers_dir / "ada.toml").unlink()
        build(deployment)
        html = day_page(deployment, "ada", DAYS[0])
        assert "Hi Ada, 1 paper was picked for you." in html and "Paper 1" in html
        assert "How these papers were chosen" not in html

    def test_the_abstract_comes_from_the_papers_table(self, deployment):
        with Store(deployment.storage.path) as store:
            save(store, deployment, "ada", DAYS[0], [make_paper("1", abstract="Stored words.")])
        build(deployment)
        assert "Stored words." in day_page(deployment, "ada", DAYS[0])

    def test_a_new_day_rewrites_only_what_it_changes(self, deployment):
        with Store(deployment.storage.path) as store:
            for n, day in enumerate(DAYS[:3]):
                save(store, deployment, "ada", day, [make_paper(str(n))])
        build(deployment)
        assert build(deployment).written == []
        with Store(deployment.storage.path) as store:
            save(store, deployment, "ada", DAYS[3], [make_paper("3")])
            token = store.tokens.token("ada")
        written = {p.name for p in build(deployment).written}
        # the new day, the last day's Next link, April's overview, the index and the feed
        assert written == {"2025-04-03.html", "2025-04-01.html", "2025-04.html", "index.html",
                           "feed.atom"}  # fmt: skip
        assert (deployment.archive.out / token / "2025-04-01.html").read_text().count(
            'href="2025-04-03.html"'
        ) == 1

    def test_a_moved_deployment_writes_nothing_again(self, deployment, tmp_path):
        with Store(deployment.storage.path) as store:
            save(store, deployment, "ada", DAYS[0], [make_paper("1")])
        build(deployment)
        moved = tmp_path.parent / f"{tmp_path.name}-moved"
        shutil.copytree(tmp_path, moved)
        config = load_config(moved / "config.toml")
        assert config.storage.path != deployment.storage.path
        assert build(config).written == []

    def test_a_quarter_of_days_rebuilds_writing_nothing(self, deployment):
        day, days = date(2025, 1, 1), []
        while day < date(2025, 4, 1):
            if day.weekday() < 5:
                days.append(day)
            day += timedelta(days=1)
        with Store(deployment.storage.path) as store:
            for n, day in enumerate(days):
                save(store, deployment, "ada", day, [make_paper(f"{n}.{k}") for k in range(12)])
        first = build(deployment)
        assert first.files == len(days) + 3 + 1 + 1 + 2 and len(first.written) == first.files
        again = build(deployment)
        assert again.files == first.files and again.written == []
