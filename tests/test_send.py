"""`newsletter send` end to end: the real fetch, scoring, rendering and delivery code against
local servers speaking arXiv RSS, OpenAI chat completions and SendGrid v3."""

import email
import json
import re
import shutil
from datetime import date
from email import policy

import pytest

from bench.fakes.arxiv import paper
from newsletter.cli import app
from newsletter.config import load_config
from newsletter.day import preflight
from newsletter.errors import ConfigError, RunLocked
from newsletter.fetch import read_feed
from newsletter.pipeline import SendOptions, run_send, run_submit, score_day
from newsletter.profiles import load_profiles
from newsletter.store import Store
from tests.conftest import REPO, SAMPLE, runner


def send(home, **opts):
    return run_send(load_config(home / "config.toml"), SendOptions(**opts))


class TestSend:
    def test_sends_each_subscriber_once_with_the_real_payload(self, home, sendgrid_server):
        report = send(home, feed=SAMPLE)
        assert report.ok and str(report.day) == "2025-04-10"
        assert sorted(s.status for s in report.served) == ["sent", "sent"]
        assert len(sendgrid_server.messages) == 2
        body = next(
            m.body
            for m in sendgrid_server.messages
            if m.body["personalizations"][0]["to"][0]["email"] == "ada@example.org"
        )
        assert body["from"]["email"] == "digest@lab.org"
        assert body["subject"].startswith("arXiv digest · 2025-04-10 · ")
        assert body["subject"].endswith(" for Ada")
        assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
        assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "https://lab.org/unsubscribe" in body["headers"]["List-Unsubscribe"]
        assert body["custom_args"] == {"digest_date": "2025-04-10", "subscriber_id": "ada"}
        html = body["content"][1]["value"]
        assert "Author match" in html  # J\"urgen M\"uller in the sample, followed as Jürgen Müller
        assert "<script>alert" not in html and "&lt;script&gt;" in html

    def test_a_rerun_sends_nothing_and_spends_nothing(self, home, sendgrid_server, openai_server):
        send(home, feed=SAMPLE)
        requests = len(openai_server.requests)
        report = send(home, feed=SAMPLE)
        assert [s.status for s in report.served] == ["skipped", "skipped"]
        assert len(sendgrid_server.messages) == 2
        assert len(openai_server.requests) == requests

    def test_force_resends_only_what_may_not_have_gone(self, home, sendgrid_server):
        sendgrid_server.drop_next(1)  # one of the two ends unknown
        first = {s.subscriber_id: s.status for s in send(home, feed=SAMPLE).served}
        unknown = next(who for who, status in first.items() if status == "unknown")
        report = send(home, feed=SAMPLE, force=True)
        statuses = {s.subscriber_id: s.status for s in report.served}
        assert statuses[unknown] == "sent" and report.ok
        assert sorted(statuses.values()) == ["sent", "skipped"]  # the one sent: no second copy
        assert len(sendgrid_server.messages) == 3

    def test_crash_mid_send_then_rerun_sends_no_duplicate(self, home, sendgrid_server):
        sendgrid_server.drop_next(1)  # accepted, then the connection drops: outcome unknown
        first = send(home, feed=SAMPLE)
        statuses = sorted(s.status for s in first.served)
        assert statuses == ["sent", "unknown"] and not first.ok
        second = send(home, feed=SAMPLE)
        assert sorted(s.status for s in second.served) == ["skipped", "unknown"]
        assert len(sendgrid_server.messages) == 2  # one each: nobody got two

    def test_process_dying_mid_request_is_unknown_on_rerun(self, home, sendgrid_server):
        config = load_config(home / "config.toml")
        with Store(config.storage.path) as store:  # as if the process died after ledger.begin
            store.ledger.begin(date(2025, 4, 10), "bob", "bob@example.org")
        report = send(home, feed=SAMPLE)
        by_id = {s.subscriber_id: s for s in report.served}
        assert by_id["bob"].status == "unknown" and "--force" in by_id["bob"].detail
        assert by_id["ada"].status == "sent" and len(sendgrid_server.messages) == 1

    def test_429_then_success(self, home, sendgrid_server):
        sendgrid_server.fail_next(1, 429, retry_after=0)
        report = send(home, feed=SAMPLE, only="ada")
        assert [s.status for s in report.served] == ["sent"]
        assert sendgrid_server.requests_count == 2 and len(sendgrid_server.messages) == 1

    def test_a_failed_send_is_retried_by_the_next_run(self, home, sendgrid_server):
        sendgrid_server.fail_next(4, 500)
        first = send(home, feed=SAMPLE, only="ada")
        assert [s.status for s in first.served] == ["failed"] and not first.ok
        with Store(load_config(home / "config.toml").storage.path) as store:
            assert store.digests.load("ada") == []  # the archive shows only what was received
        second = send(home, feed=SAMPLE, only="ada")
        assert [s.status for s in second.served] == ["sent"]
        with Store(load_config(home / "config.toml").storage.path) as store:
            [(day, who, record)] = store.digests.load("ada")
        assert (str(day), who) == ("2025-04-10", "ada") and record["papers"]

    def test_papers_sent_are_never_sent_again(self, home, arxiv_server, sendgrid_server):
        send(home, feed=SAMPLE, only="ada")
        first = json.dumps(sendgrid_server.messages[0].body)
        assert "2504.0" in first
        sent_ids = {
            k.paper.id
            for k in send(home, feed=SAMPLE, only="ada", force=True, dry_run=True)
            .served[0]
            .selection.picks
        }
        assert sent_ids  # same day, forced: the same digest again
        # a later day re-announces one of them (a cross-list) next to a new paper
        again = sorted(sent_ids)[0]
        arxiv_server.serve(
            [
                paper(again, title="Mixture of Experts again", categories=["cs.LG"]),
                paper("2504.99001", title="Pruning Experts Anew", categories=["cs.LG"]),
            ],
            pub_date="Fri, 11 Apr 2025 00:00:00 -0400",
        )
        report = send(home, only="ada")
        assert str(report.day) == "2025-04-11"
        picks = [k.paper.id for k in report.served[0].selection.picks]
        assert "2504.99001" in picks and again not in picks

    def test_one_bad_profile_never_stops_the_others(self, home, sendgrid_server):
        (home / "subscribers" / "bad.toml").write_text('name = "X"\nemail = "nope"\n')
        report = send(home, feed=SAMPLE)
        assert len(sendgrid_server.messages) == 2
        assert not report.ok
        assert "bad.toml: email: 'nope' is not an email address" in report.profile_errors[0]

    def test_paused_subscribers_get_nothing(self, home, sendgrid_server):
        path = home / "subscribers" / "bob.toml"
        path.write_text(path.read_text().replace("active = true", "active = false"))
        report = send(home, feed=SAMPLE)
        assert report.profile_errors == []  # paused, not broken
        assert [s.subscriber_id for s in report.served] == ["ada"]
        named = send(home, feed=SAMPLE, only="bob")
        assert [s.status for s in named.served] == ["paused"] and named.ok
        assert len(sendgrid_server.messages) == 1
        preview = send(home, feed=SAMPLE, only="bob", dry_run=True)
        assert [s.status for s in preview.served] == ["previewed"]

    def test_empty_day_sends_nothing(self, home, arxiv_server, sendgrid_server, openai_server):
        arxiv_server.empty_day()
        report = send(home)
        assert report.ok and report.served == [] and str(report.day) == "2025-04-12"
        assert sendgrid_server.requests_count == 0 and openai_server.requests == []

    def test_a_second_run_while_one_holds_the_lock(self, home):
        config = load_config(home / "config.toml")
        with Store(config.storage.path) as holder:
            holder.locks.lock_run()
            with pytest.raises(RunLocked, match="another `newsletter send` is running"):
                send(home, feed=SAMPLE)

    def test_identical_profiles_share_one_set_of_requests(self, home, openai_server):
        config = load_config(home / "config.toml")
        roster = load_profiles(config.subscribers_dir)
        ada = roster.get("ada")
        twin = ada.model_copy(update={"id": "twin", "email": "twin@example.org"})
        listing = read_feed(SAMPLE)
        with Store(home / "alone.db") as store:
            score_day(config, store, listing, [ada])
        alone = len(openai_server.requests)
        with Store(home / "pair.db") as store:
            selections, scoring = score_day(config, store, listing, [ada, twin])
        assert scoring.requests == alone and len(openai_server.requests) == 2 * alone
        assert [k.paper.id for k in selections[0].picks] == [
            k.paper.id for k in selections[1].picks
        ]


class TestDryRun:
    def test_writes_previews_and_nothing_to_the_ledger(self, home, sendgrid_server):
        report = send(home, feed=SAMPLE, dry_run=True)
        assert report.ok and sendgrid_server.requests_count == 0
        day = home / "outbox" / "2025-04-10"
        assert sorted(p.name for p in day.iterdir()) == [
            f"{who}.{ext}" for who in ("ada", "bob") for ext in ("eml", "html", "json", "txt")
        ]
        record = json.loads((day / "ada.json").read_text())
        assert record["totals"]["listed"] == 38 and record["papers"][0]["author_match"]
        message = email.message_from_bytes((day / "ada.eml").read_bytes(), policy=policy.default)
        assert message["To"].addresses[0].addr_spec == "ada@example.org"
        config = load_config(home / "config.toml")
        with Store(config.storage.path) as store:
            assert store.ledger.delivery(report.day, "ada") is None

    def test_previews_are_byte_for_byte_what_a_send_delivers(self, home, sendgrid_server):
        send(home, feed=SAMPLE, dry_run=True, only="ada")
        send(home, feed=SAMPLE, only="ada")
        body = sendgrid_server.messages[0].body
        day = home / "outbox" / "2025-04-10"
        assert body["content"][0]["value"] == (day / "ada.txt").read_text(encoding="utf-8")
        assert body["content"][1]["value"] == (day / "ada.html").read_text(encoding="utf-8")

    def test_without_a_key_the_local_scorer_stands_in(self, home, monkeypatch, openai_server):
        monkeypatch.delenv("OPENAI_API_KEY")
        cfg = (home / "config.toml").read_text().replace("base_url", "# base_url")
        (home / "config.toml").write_text(cfg)
        report = send(home, feed=SAMPLE, dry_run=True)
        assert not report.billed and report.ok and openai_server.requests == []
        record = json.loads((home / "outbox" / "2025-04-10" / "ada.json").read_text())
        assert any("keyword scorer" in p["comment"] for p in record["papers"])

    def test_real_send_without_sendgrid_key_fails_before_scoring(
        self, home, monkeypatch, openai_server
    ):
        monkeypatch.delenv("SENDGRID_API_KEY")
        with pytest.raises(ConfigError, match="SENDGRID_API_KEY is not set"):
            send(home, feed=SAMPLE)
        assert openai_server.requests == []

    def test_only_the_preview_names_the_profile_file(self, home):
        """The file is the operator's: the .json of a dry run names it, the email never."""
        send(home, feed=SAMPLE, dry_run=True, only="ada")
        day = home / "outbox" / "2025-04-10"
        assert json.loads((day / "ada.json").read_text())["profile_file"] == "subscribers/ada.toml"
        for suffix in (".html", ".txt", ".eml"):
            assert "ada.toml" not in (day / f"ada{suffix}").read_text(encoding="utf-8")

    @pytest.mark.parametrize(
        ("settings", "named", "not_named"),
        [
            ('[web]\nbase_url = "https://d.org"',
             "[web] base_url is set, and its vote and unsubscribe links", "unsubscribe_url"),
            ('[sendgrid]\nunsubscribe_group_id = 7\n[web]\nbase_url = "https://d.org"',
             "[web] base_url is set, and its vote links", "unsubscribe"),
            ('[sendgrid]\nunsubscribe_url = "https://x.org/u/{token}"',
             "[sendgrid] unsubscribe_url's {token}", "[web]"),
        ],
    )  # fmt: skip
    def test_a_missing_secret_names_the_setting_that_signs_links(
        self, tmp_path, settings, named, not_named
    ):
        (tmp_path / "config.toml").write_text(settings)
        with pytest.raises(ConfigError) as caught:
            preflight(load_config(tmp_path / "config.toml"), dry_run=True)
        message = str(caught.value)
        assert message.startswith("NEWSLETTER_SECRET is not set: ") and named in message
        assert not_named not in message


class TestCommand:
    def test_send_dry_run_prints_paths_and_a_summary(self, home):
        result = runner.invoke(
            app, ["--config", str(home / "config.toml"), "send", "--dry-run", "--feed", str(SAMPLE)]
        )
        assert result.exit_code == 0, result.output
        assert "ada.html" in result.output and "previewed" in result.output
        assert "2025-04-10: 2 previewed" in result.output

    def test_send_exit_code_is_1_when_a_delivery_fails(self, home, sendgrid_server):
        sendgrid_server.fail_next(2, 400)
        result = runner.invoke(
            app, ["--config", str(home / "config.toml"), "send", "--feed", str(SAMPLE)]
        )
        assert result.exit_code == 1
        assert "failed" in result.output

    def test_score_prints_the_selection_and_the_cost_table(self, home):
        result = runner.invoke(
            app,
            [
                "--config",
                str(home / "config.toml"),
                "score",
                "--only",
                "ada",
                "--feed",
                str(SAMPLE),
            ],
        )
        assert result.exit_code == 0, result.output
        assert "Author match" in result.output and "completion" in result.output
        words = r"of (\d+) listed, (\d+) judged by title, (\d+) skimmed, (\d+) read in full"
        funnel = re.search(words, result.output)
        assert funnel, result.output
        listed, titled, skimmed, read = map(int, funnel.groups())
        assert listed >= titled >= skimmed >= read > 0

    def test_a_second_score_spends_nothing_and_says_so(self, home, openai_server):
        args = ["--config", str(home / "config.toml"), "score", "--feed", str(SAMPLE)]
        runner.invoke(app, args)
        asked = len(openai_server.requests)
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and len(openai_server.requests) == asked
        assert "this run made no request: every score came from the cache" in result.output

    def test_the_cost_cap_is_said_and_what_is_ready_is_sent(self, home, sendgrid_server):
        cfg = home / "config.toml"
        cfg.write_text(
            cfg.read_text().replace("max_retries = 0", "max_retries = 0\nmax_cost_usd = 0.0002")
        )
        result = runner.invoke(app, ["--config", str(cfg), "send", "--feed", str(SAMPLE)])
        assert "note: cost cap ([llm] max_cost_usd) reached" in result.output
        assert len(sendgrid_server.messages) == 2  # author matches and scored papers still go

    def test_fetch_stores_the_day(self, home):
        result = runner.invoke(
            app, ["--config", str(home / "config.toml"), "fetch", "--feed", str(SAMPLE)]
        )
        assert result.exit_code == 0
        assert "2025-04-10: 44 listed" in result.output

    def test_unreachable_arxiv_is_one_line(self, home, arxiv_server):
        arxiv_server.fail(503)
        result = runner.invoke(app, ["--config", str(home / "config.toml"), "send", "--dry-run"])
        assert result.exit_code == 1
        assert result.output.strip().splitlines()[-1].startswith("error: arXiv listing unreachable")
        assert "Traceback" not in result.output


def test_the_shipped_sample_runs_offline(tmp_path):
    """The README's offline command, on a copy of the repository's own config and profiles."""
    shutil.copy(REPO / "config.toml", tmp_path)
    shutil.copytree(REPO / "subscribers", tmp_path / "subscribers")
    result = runner.invoke(app, ["send", "--dry-run", "--feed", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "outbox" / "2025-04-10" / "example.html").stat().st_size > 10_000


class TestSubmitAsksWhatSendAsks:
    def test_a_readers_examples_reach_the_submitted_batches(
        self, home, openai_server, sendgrid_server
    ):
        """`score --submit` asks with the reader's votes in the prompt, as `send` does: the
        send then collects every answer and starts no batch of its own."""
        config_file = home / "config.toml"
        batch = '[llm]\nmode = "batch"\nbatch_poll = 0.05\n'
        config_file.write_text(config_file.read_text().replace("[llm]\n", batch))
        config = load_config(config_file)
        with Store(config.storage.path) as store:
            store.votes.record("ada", "2503.00042", "up", "Routing tokens to experts",
                              date(2025, 4, 9), "hand")  # fmt: skip
        openai_server.batch_latency = 0
        in_flight = [len(run_submit(config, SendOptions(feed=SAMPLE))) for _ in range(4)]
        assert in_flight[-1] == 0
        created = len(openai_server.batches.batches)
        report = run_send(config, SendOptions(feed=SAMPLE))
        assert report.ok and len(openai_server.batches.batches) == created
        uploads = [content for _, content in openai_server.batches.files.values()]
        assert any(b"Routing tokens to experts" in content for content in uploads)
