"""A weekly reader: one mail on their weekday holding the week's papers, each scored on its own
day; a missed weekday sent once on the next run; switching rhythm losing and repeating nothing;
a send killed on Friday sending nobody twice. Announcement days go through the local fakes
(arXiv's RSS, the model, SendGrid), a different listing each day."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from bench.bench_weekly import run_week, week_of_days
from bench.dayfactory import API_KEY
from bench.fakes.arxiv import FakeArxiv, paper
from bench.fakes.sendgrid import FakeSendgrid, Received
from newsletter.config import load_config
from newsletter.day import Report, Served
from newsletter.models import SavedDigest, Status
from newsletter.pipeline import SendOptions, run_send
from newsletter.profiles import edit_profile
from newsletter.rhythm import due_day, next_due
from newsletter.store import Store
from tests.conftest import REPO, cli, cli_ok, write_deployment
from tests.test_archive import nav_links

MON = date(2025, 4, 7)
WEEK = [MON + timedelta(days=i) for i in range(5)]  # Monday 7 to Friday 11 April 2025
FRI = WEEK[-1]
NEXT_MON, NEXT_TUE = date(2025, 4, 14), date(2025, 4, 15)


def pub_date(day: date) -> str:
    return f"{day:%a, %d %b %Y} 00:00:00 -0400"


def pid(day: date, n: int) -> str:
    return f"25{day:%m}.{day.day:02d}{n:03d}"


def day_papers(day: date) -> list[dict]:
    """Four papers a day: one on pruning whose relevance grows through the week (5 on Monday,
    under the cutoff of 6, to 9 on Friday), one on KV caches (8), one off topic, and one off
    topic by an author the readers follow."""
    name = f"{day:%A %d}"
    return [
        paper(pid(day, 1), title=f"Pruning experts at relevance {5 + day.weekday()}, {name}"),
        paper(pid(day, 2), title=f"Quantized KV caches, {name}"),
        paper(pid(day, 3), title=f"Reinforcement learning for robots, {name}"),
        paper(pid(day, 4), title=f"Robots that walk, {name}", authors=["Yoshua Bengio"]),
    ]


def judge(paper_id: str, title: str, abstract: str) -> tuple[int, int, str]:
    if "relevance " in title:
        return int(title.split("relevance ")[1][0]), 7, "pruning"
    if "KV" in title:
        return 8, 6, "caches"
    return 2, 3, "off topic"


def qualifying(day: date) -> set[str]:
    """The day's papers a reader of the example profile gets, with no cap in the way."""
    return {pid(day, 2), pid(day, 4)} | ({pid(day, 1)} if day.weekday() >= 1 else set())


@pytest.fixture
def week(tmp_path, arxiv_server, openai_server, sendgrid_server, monkeypatch) -> Path:
    """ada, daily, and wes, weekly on Friday, reading the same things (subscribers/example)."""
    for name, value in write_deployment(
        tmp_path, arxiv_server, openai_server, sendgrid_server
    ).items():
        monkeypatch.setenv(name, value)
    openai_server.judge = judge
    subs = tmp_path / "subscribers"
    (subs / "bob.toml").unlink()
    wes = (subs / "ada.toml").read_text().replace("ada@example.org", "wes@example.org")
    wes = wes.replace("Ada Example", "Wes Example")
    (subs / "wes.toml").write_text(wes.replace('frequency = "daily"', 'frequency = "weekly"'))
    return tmp_path


def run_day(home: Path, arxiv: FakeArxiv, day: date, **opts: object) -> Report:
    """The day's listing on the fake arXiv, then `send` as the daily job runs it."""
    arxiv.serve(day_papers(day), pub_date=pub_date(day))
    return run_send(load_config(home / "config.toml"), SendOptions(**opts))  # type: ignore[arg-type]


def served(report: Report) -> dict[str, Served]:
    return {s.subscriber_id: s for s in report.served}


def to(sendgrid: FakeSendgrid, who: str) -> list[Received]:
    return [
        m
        for m in sendgrid.messages
        if m.body["personalizations"][0]["to"][0]["email"] == f"{who}@example.org"
    ]


def text_of(mail: Received) -> str:
    return next(c["value"] for c in mail.body["content"] if c["type"] == "text/plain")


def mailed_ids(mails: list[Received]) -> list[str]:
    """The arXiv ids the messages hold, message after message, in the order they show them."""
    return [line.split()[0].removeprefix("arXiv:") for m in mails
            for line in text_of(m).splitlines() if line.startswith("arXiv:")]  # fmt: skip


def stored_digest(home: Path, who: str, day: date) -> SavedDigest:
    with Store(load_config(home / "config.toml").storage.path) as store:
        found = [d for d in store.digests.load(who, sent_only=True) if d.day == day]
    assert len(found) == 1, found
    return SavedDigest.model_validate(found[0].selection)


class TestDueDays:
    def test_the_period_is_due_on_the_latest_weekday_and_next_on_the_first(self):
        assert [due_day(d, "friday") for d in (FRI, NEXT_MON, NEXT_TUE)] == [FRI, FRI, FRI]
        assert due_day(MON, "monday") == MON and due_day(NEXT_TUE, "monday") == NEXT_MON
        assert [next_due(d, "friday") for d in (MON, FRI, NEXT_MON)] == [
            FRI,
            FRI,
            FRI + timedelta(7),
        ]


class TestAWeek:
    def test_a_weekly_reader_gets_one_mail_on_friday_holding_the_week(
        self, week, arxiv_server, sendgrid_server
    ):
        edit_profile(week / "subscribers" / "wes.toml", max_papers=9)
        mails, statuses = [], []
        for day in WEEK:
            line = served(run_day(week, arxiv_server, day))["wes"]
            statuses.append((line.status, line.detail))
            mails.append(len(to(sendgrid_server, "wes")))
        assert mails == [0, 0, 0, 0, 1]
        assert statuses[:4] == [(Status.WEEKLY, "next on Friday")] * 4
        assert statuses[4][0] == Status.SENT
        assert len(to(sendgrid_server, "ada")) == 5
        [mail] = to(sendgrid_server, "wes")
        assert mail.body["subject"] == "arXiv digest · week of 7–11 April 2025 · 9 papers for Wes"
        record = stored_digest(week, "wes", FRI)
        assert record.period == (MON, FRI)
        # followed authors first, then the week's best by (relevance + novelty, relevance):
        # Friday's pruning (9+7), Thursday's (8+7), then the caches (8+6) before Wednesday's
        # pruning (7+6); Monday's pruning (5) is under the cutoff; the cap is 9
        expected = [pid(d, 4) for d in WEEK] + [pid(WEEK[4], 1), pid(WEEK[3], 1)]
        expected += [pid(WEEK[0], 2), pid(WEEK[1], 2)]
        assert [p.id for p in record.papers] == expected
        assert [p.author_match for p in record.papers] == [True] * 5 + [False] * 4
        assert sorted(mailed_ids([mail])) == sorted(expected)  # shown followed authors first
        # what the week's scoring cost: ada reads with the same prompt, a day at a time
        daily = [stored_digest(week, "ada", day).usage for day in WEEK]
        assert [u.model for u in record.usage] == ["m"]
        assert record.usage[0].prompt_tokens == sum(u[0].prompt_tokens for u in daily) > 0
        assert record.usage[0].requests == sum(u[0].requests for u in daily)
        assert "\nWeek of 7–11 April 2025\n" in text_of(mail)

    def test_papers_are_scored_on_their_own_day_and_friday_asks_only_about_fridays(
        self, week, arxiv_server, openai_server
    ):
        asked: dict[date, str] = {}
        for day in WEEK:
            before = len(openai_server.requests)
            run_day(week, arxiv_server, day)
            asked[day] = json.dumps([r.body for r in openai_server.requests[before:]])
        for day in WEEK:
            assert f"{day:%A %d}" in asked[day]
            others = [f"{d:%A %d}" for d in WEEK if d != day]
            assert not any(name in asked[day] for name in others), day

    @pytest.mark.parametrize("friday", ["no run", "a holiday"])
    def test_a_missed_friday_is_sent_on_monday_once(
        self, week, arxiv_server, sendgrid_server, friday
    ):
        for day in WEEK[:4]:
            run_day(week, arxiv_server, day)
        if friday == "a holiday":  # the run happens, and arXiv announces nothing
            arxiv_server.empty_day(pub_date(FRI))
            report = run_send(load_config(week / "config.toml"), SendOptions())
            assert report.day == FRI and report.served == []
        assert to(sendgrid_server, "wes") == []
        monday = served(run_day(week, arxiv_server, NEXT_MON))["wes"]
        assert monday.status == Status.SENT
        tuesday = served(run_day(week, arxiv_server, NEXT_TUE))["wes"]
        assert (tuesday.status, tuesday.detail) == (Status.WEEKLY, "next on Friday")
        [mail] = to(sendgrid_server, "wes")
        assert "week of 7–14 April 2025" in mail.body["subject"]
        record = stored_digest(week, "wes", FRI)  # keyed by the Friday it was due on
        days = [*WEEK[:4], NEXT_MON]
        assert {p.id for p in record.papers} == set().union(*map(qualifying, days))
        assert record.period == (MON, NEXT_MON)
        assert len(to(sendgrid_server, "ada")) == 6

    def test_a_friday_that_failed_is_sent_on_monday_with_fridays_papers(
        self, week, arxiv_server, sendgrid_server
    ):
        for day in WEEK[:4]:
            run_day(week, arxiv_server, day)
        sendgrid_server.fail_next(1, 400)  # not tried again: SendGrid refused it
        assert served(run_day(week, arxiv_server, FRI, only="wes"))["wes"].status == Status.FAILED
        assert served(run_day(week, arxiv_server, NEXT_MON))["wes"].status == Status.SENT
        assert served(run_day(week, arxiv_server, NEXT_TUE))["wes"].status == Status.WEEKLY
        [mail] = to(sendgrid_server, "wes")
        days = [*WEEK, NEXT_MON]
        assert set(mailed_ids([mail])) == set().union(*map(qualifying, days))
        with Store(load_config(week / "config.toml").storage.path) as store:
            assert store.ledger.held("wes") == [NEXT_TUE]

    def test_an_empty_week_is_not_sent_again_on_monday(self, week, arxiv_server, sendgrid_server):
        edit_profile(week / "subscribers" / "wes.toml", relevance_cutoff=10, authors=["Nobody"])
        for day in WEEK:
            run_day(week, arxiv_server, day)
        assert served(run_day(week, arxiv_server, NEXT_MON))["wes"].status == Status.WEEKLY
        assert to(sendgrid_server, "wes") == []


def switch_on_wednesday(week: Path, arxiv_server, before: str, after: str) -> None:
    """Run the week for wes, mailed `before` until Wednesday's run and `after` from it."""
    path = week / "subscribers" / "wes.toml"
    edit_profile(path, frequency=before)
    for day in WEEK:
        if day.weekday() == 2:
            edit_profile(path, frequency=after)
        run_day(week, arxiv_server, day)


class TestSwitching:
    def test_daily_then_weekly_from_wednesday(self, week, arxiv_server, sendgrid_server):
        switch_on_wednesday(week, arxiv_server, "daily", "weekly")
        mails = to(sendgrid_server, "wes")
        assert len(mails) == 3  # Monday, Tuesday, and Friday for Wednesday to Friday
        ids = mailed_ids(mails)
        assert len(ids) == len(set(ids)) and set(ids) == set().union(*map(qualifying, WEEK))
        assert stored_digest(week, "wes", FRI).period == (WEEK[2], FRI)

    def test_weekly_then_daily_from_wednesday(self, week, arxiv_server, sendgrid_server):
        switch_on_wednesday(week, arxiv_server, "weekly", "daily")
        mails = to(sendgrid_server, "wes")
        assert len(mails) == 3  # Wednesday's holds Monday to Wednesday; Thursday; Friday
        ids = mailed_ids(mails)
        assert len(ids) == len(set(ids)) and set(ids) == set().union(*map(qualifying, WEEK))
        assert stored_digest(week, "wes", WEEK[2]).period == (MON, WEEK[2])
        assert stored_digest(week, "wes", FRI).period is None


class TestArchive:
    def test_previous_and_next_join_daily_and_weekly_digests_and_the_feed_has_both(
        self, week, arxiv_server, sendgrid_server
    ):
        switch_on_wednesday(week, arxiv_server, "daily", "weekly")
        cli_ok(week, "archive", "build", "--out", week / "site")
        with Store(load_config(week / "config.toml").storage.path) as store:
            folder = week / "site" / store.tokens.token("wes")
        files = [f"{d}.html" for d in (WEEK[0], WEEK[1], FRI)]
        assert sorted(p.name for p in folder.glob("2025-04-*.html")) == files
        navs = [nav_links(folder / name) for name in files]
        assert [n["← Previous"] for n in navs] == [None, files[0], files[1]]
        assert [n["Next →"] for n in navs] == [files[1], files[2], None]
        assert "Week of 9–11 April 2025" in (folder / files[2]).read_text()
        month = (folder / "2025-04.html").read_text()
        assert "Monday, 7 April 2025" in month and "Week of 9–11 April 2025" in month
        assert "Week of 9–11 April 2025" in (folder / "index.html").read_text()  # the latest
        feed = (folder / "feed.atom").read_text()
        ids = mailed_ids(to(sendgrid_server, "wes"))
        assert set(ids) == set().union(*map(qualifying, WEEK))
        assert all(f"https://arxiv.org/abs/{i}#" in feed for i in ids)


class TestPreviewAndSummary:
    def test_a_dry_run_midweek_previews_the_week_so_far_and_holds_nothing(
        self, week, arxiv_server, sendgrid_server
    ):
        for day in WEEK[:2]:
            run_day(week, arxiv_server, day)
        report = run_day(week, arxiv_server, WEEK[2], dry_run=True, outbox=week / "outbox")
        line = served(report)["wes"]
        assert line.status == Status.PREVIEWED and line.selection is not None
        assert line.selection.day == FRI and line.selection.period == (MON, WEEK[2])
        eml = (week / "outbox" / FRI.isoformat() / "wes.eml").read_text()
        assert "Week of 7–9 April 2025" in eml  # the header
        ids = {k.paper.id for k in line.selection.picks}
        assert ids == set().union(*map(qualifying, WEEK[:3]))
        with Store(load_config(week / "config.toml").storage.path) as store:
            assert store.ledger.held("wes") == WEEK[:2]  # the dry run held nothing more
        assert to(sendgrid_server, "wes") == []

    def test_the_summary_says_when_a_weekly_reader_is_next_sent(self, week, arxiv_server):
        arxiv_server.serve(day_papers(MON), pub_date=pub_date(MON))
        result = cli("send", home=week)
        assert result.exit_code == 0, result.output
        assert "2025-04-07: 1 sent; weekly, next on Friday: wes" in result.output
        assert "skipped" not in result.output

    @pytest.mark.parametrize(
        ("field", "value", "allowed"),
        [
            ("weekday", "sunday", "'monday', 'tuesday', 'wednesday', 'thursday' or 'friday'"),
            ("frequency", "monthly", "'daily' or 'weekly'"),
        ],
    )
    def test_a_wrong_value_is_one_line_and_the_others_are_served(
        self, week, arxiv_server, field, value, allowed
    ):
        path = week / "subscribers" / "wes.toml"
        text = path.read_text().replace('frequency = "weekly"', f'{field} = "{value}"')
        path.write_text(text.replace('frequency = "daily"\n', ""))
        checked = cli("subscribers", "check", path, home=week)
        assert checked.exit_code == 1
        [line] = checked.output.splitlines()
        assert line.startswith("error: subscribers/wes.toml:")
        assert f": {field}: Input should be {allowed}" in line
        report = run_day(week, arxiv_server, MON)
        assert served(report)["ada"].status == Status.SENT
        assert served(report)["wes"].status == Status.INVALID
        assert served(report)["wes"].detail.startswith(f"{field}: Input should be {allowed}")


class TestKilled:
    @pytest.mark.parametrize("reruns", [[FRI, NEXT_MON], [NEXT_MON]], ids=["friday", "monday"])
    def test_a_send_killed_on_friday_then_run_again_sends_nobody_twice(
        self, week, arxiv_server, sendgrid_server, reruns
    ):
        """The weekly digest's request is in flight (SendGrid has it, unanswered) when the
        process is killed: a re-run that day, or Monday's, finds it maybe sent and sends
        nothing."""
        for day in WEEK[:4]:
            run_day(week, arxiv_server, day)
        arxiv_server.serve(day_papers(FRI), pub_date=pub_date(FRI))
        sendgrid_server.hold("wes@example.org")
        env = os.environ | {"PYTHONPATH": str(REPO)}
        code = "from newsletter.cli import app; app()"
        command = [sys.executable, "-c", code, "--config", str(week / "config.toml"), "send"]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            assert sendgrid_server.holding.wait(timeout=120), "no message reached SendGrid"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        sendgrid_server.hold_for.clear()
        lines = [served(run_day(week, arxiv_server, day)) for day in reruns]
        assert [line["wes"].status for line in lines] == [Status.UNKNOWN] * len(reruns)
        assert lines[-1]["ada"].status == Status.SENT  # Monday's own digest
        if len(reruns) == 2:  # Friday's, sent by the killed run or by this one
            assert lines[0]["ada"].status in (Status.SENT, Status.SKIPPED, Status.UNKNOWN)
        friday = Counter(
            m.body["personalizations"][0]["to"][0]["email"]
            for m in sendgrid_server.messages
            if m.body["custom_args"]["digest_date"] == FRI.isoformat()
        )
        assert friday["wes@example.org"] == 1 and friday["ada@example.org"] <= 1
        assert len(to(sendgrid_server, "wes")) == 1
        assert len(sendgrid_server.held) == 1


class TestCost:
    def test_a_weekly_reader_costs_what_a_daily_one_does(self, monkeypatch):
        """bench/bench_weekly.py's week, small: the same requests and tokens, one mail."""
        for name, value in (("OPENAI_API_KEY", API_KEY), ("SENDGRID_API_KEY", "set by the run"),
                            ("NEWSLETTER_SECRET", "a test secret")):  # fmt: skip
            monkeypatch.setenv(name, value)
        days = week_of_days(100, seed=0)
        daily, weekly = run_week(days, "daily"), run_week(days, "weekly")
        assert weekly.mails == [0, 0, 0, 0, 1] and sum(daily.mails) >= 4
        d, w = daily.total(), weekly.total()
        assert w.requests == d.requests > 0
        assert (w.prompt_tokens, w.completion_tokens) == (d.prompt_tokens, d.completion_tokens)
        assert sorted(weekly.papers[-1]) == sorted(p for day in daily.papers for p in day)
