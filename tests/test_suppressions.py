"""Unsubscribes, bounces and spam reports, read from a local server speaking SendGrid's v3
suppression endpoints through the real sendgrid client, and honoured before scoring."""

from pathlib import Path

import pytest

from newsletter import deliver, suppressions
from newsletter.cli import app
from newsletter.config import SendgridConfig, load_config
from newsletter.errors import DeliveryError
from newsletter.models import SuppressionReason
from newsletter.pipeline import SendOptions, run_send
from tests.conftest import SAMPLE, runner, sendgrid_config


@pytest.fixture
def client(sendgrid_server):
    return deliver.SendgridApi(
        sendgrid_config(sendgrid_server.url, retries=1), sendgrid_server.api_key
    )


def with_group(home: Path, group: int = 7) -> None:
    path = home / "config.toml"
    path.write_text(
        path.read_text().replace("[sendgrid]\n", f"[sendgrid]\nunsubscribe_group_id = {group}\n")
    )


def send(home: Path, **opts):
    return run_send(load_config(home / "config.toml"), SendOptions(feed=SAMPLE, **opts))


class TestSync:
    def test_reads_every_list_and_follows_paging(self, sendgrid_server, client, store):
        sendgrid_server.groups[7] = ["Left@Example.org"]
        sendgrid_server.lists["bounces"] = [
            {"email": f"b{i}@example.org", "reason": "550 no such user", "created": 1}
            for i in range(1203)
        ]
        sendgrid_server.lists["spam_reports"] = [{"email": "s@example.org", "ip": "10.0.0.1"}]
        result = suppressions.sync(store, client, SendgridConfig(unsubscribe_group_id=7))
        reasons = suppressions.stored_reasons(store)
        assert result.total == 1205 and len(result.added) == 1205
        assert reasons["left@example.org"] == "unsubscribed"
        assert reasons["b1202@example.org"] == "bounced"
        assert reasons["s@example.org"] == "spam report"
        bounce_reads = [r for r in sendgrid_server.reads if "/bounces" in r]
        assert len(bounce_reads) == 3 and "offset=1000" in bounce_reads[-1]
        assert any(r.startswith("/v3/asm/groups/7/suppressions") for r in sendgrid_server.reads)

    def test_a_read_answered_5xx_is_retried(self, sendgrid_server, client, store):
        sendgrid_server.lists["bounces"] = [{"email": "b@example.org", "reason": "550"}]
        sendgrid_server.fail_reads(1, 503)
        result = suppressions.sync(store, client, SendgridConfig())
        assert result.added == ["b@example.org (bounced)"]
        assert sendgrid_server.reads[0] == sendgrid_server.reads[1]  # the same read, twice

    def test_a_read_answered_4xx_is_not_retried(self, sendgrid_server, client, store):
        sendgrid_server.fail_reads(1, 400)
        with pytest.raises(DeliveryError, match="400"):
            suppressions.sync(store, client, SendgridConfig())
        assert len(sendgrid_server.reads) == 1

    def test_reads_give_up_after_the_retries(self, sendgrid_server, client, store):
        sendgrid_server.fail_reads(5, 500)
        with pytest.raises(DeliveryError) as caught:
            suppressions.sync(store, client, SendgridConfig())
        assert "SendGrid 500" in str(caught.value) and "2 attempts" in str(caught.value)
        assert len(sendgrid_server.reads) == 2  # retries=1

    def test_the_worst_reason_wins(self, sendgrid_server, client, store):
        sendgrid_server.lists["unsubscribes"] = [{"email": "x@example.org"}]
        sendgrid_server.lists["spam_reports"] = [{"email": "x@example.org"}]
        suppressions.sync(store, client, SendgridConfig())
        assert suppressions.stored_reasons(store) == {"x@example.org": "spam report"}
        assert suppressions.stored_reasons(store)["x@example.org"] is SuppressionReason.SPAM_REPORT

    def test_a_removal_is_reported(self, sendgrid_server, client, store):
        sendgrid_server.lists["blocks"] = [{"email": "x@example.org", "reason": "blocked"}]
        suppressions.sync(store, client, SendgridConfig())
        sendgrid_server.lists["blocks"] = []
        result = suppressions.sync(store, client, SendgridConfig())
        assert result.removed == ["x@example.org (blocked)"] and result.total == 0


class TestRun:
    def test_a_suppressed_subscriber_costs_no_request_and_gets_no_mail(
        self, home, sendgrid_server, openai_server
    ):
        sendgrid_server.lists["unsubscribes"] = [{"email": "bob@example.org", "created": 1}]
        report = send(home)
        statuses = {s.subscriber_id: s.status for s in report.served}
        assert statuses == {"ada": "sent", "bob": "unsubscribed"} and report.ok
        assert [m.body["personalizations"][0]["to"][0]["email"] for m in sendgrid_server.messages
                ] == ["ada@example.org"]  # fmt: skip
        # bob's identical profile would have shared ada's requests: check with ada paused
        path = home / "subscribers" / "ada.toml"
        path.write_text(path.read_text().replace("active = true", "active = false"))
        asked = len(openai_server.requests)
        report = send(home, force=True)
        assert report.profile_errors == []  # ada is paused, not broken
        assert [s.status for s in report.served] == ["unsubscribed"]
        assert len(openai_server.requests) == asked

    def test_the_payload_carries_the_group_and_no_duplicate_header(self, home, sendgrid_server):
        with_group(home)
        send(home, only="ada")
        body = sendgrid_server.messages[0].body
        assert body["asm"] == {"group_id": 7}
        assert "List-Unsubscribe" not in body.get("headers", {})
        html = body["content"][1]["value"]
        assert "<%asm_group_unsubscribe_raw_url%>" in html
        assert "<%asm_preferences_raw_url%>" in html

    def test_without_a_group_the_footer_falls_back_to_mailto(self, home, sendgrid_server):
        cfg = home / "config.toml"
        cfg.write_text(cfg.read_text().replace('unsubscribe_url = "https://lab.org/unsubscribe?t={token}"',
                                               ""))  # fmt: skip
        send(home, only="ada")
        body = sendgrid_server.messages[0].body
        assert body["headers"]["List-Unsubscribe"] == "<mailto:digest@lab.org?subject=unsubscribe>"
        assert "mailto:digest@lab.org?subject=unsubscribe" in body["content"][1]["value"]

    def test_unreachable_api_falls_back_to_the_stored_list(self, home, sendgrid_server):
        sendgrid_server.lists["bounces"] = [{"email": "bob@example.org", "reason": "550"}]
        send(home, dry_run=True)  # syncs the lists, previews only
        sendgrid_server.lists["bounces"] = []
        sendgrid_server.fail_reads(20, 503)
        report = send(home)
        statuses = {s.subscriber_id: s.status for s in report.served}
        assert statuses == {"ada": "sent", "bob": "bounced"}
        assert len(sendgrid_server.messages) == 1

    def test_a_resubscribed_reader_is_served_again(self, home, sendgrid_server):
        sendgrid_server.groups[7] = ["bob@example.org"]
        with_group(home)
        assert {s.status for s in send(home, only="bob").served} == {"unsubscribed"}
        sendgrid_server.groups[7] = []
        assert {s.status for s in send(home, only="bob").served} == {"sent"}


class TestCommands:
    def test_sync_list_and_subscribers_list(self, home, sendgrid_server):
        sendgrid_server.lists["spam_reports"] = [{"email": "bob@example.org"}]
        config = ["--config", str(home / "config.toml")]
        result = runner.invoke(app, [*config, "suppressions", "sync"])
        assert result.exit_code == 0, result.output
        assert "+ bob@example.org (spam report)" in result.output
        result = runner.invoke(app, [*config, "suppressions", "list"])
        assert "bob@example.org" in result.output and "spam_reports" in result.output
        result = runner.invoke(app, [*config, "subscribers", "list"])
        assert "spam report" in result.output

    def test_sync_without_a_key_is_a_run_that_could_not_start(self, home, monkeypatch):
        monkeypatch.delenv("SENDGRID_API_KEY")
        result = runner.invoke(app, ["--config", str(home / "config.toml"), "suppressions", "sync"])
        assert result.exit_code == 2  # the README's exit status for a missing key
        assert result.output == "error: SENDGRID_API_KEY is not set: SendGrid's API needs it\n"

    def test_pause_and_resume_keep_the_file_valid(self, home):
        config = ["--config", str(home / "config.toml")]
        path = home / "subscribers" / "ada.toml"
        result = runner.invoke(app, [*config, "subscribers", "pause", "ada"])
        assert result.exit_code == 0 and "paused" in result.output
        assert "active = false" in path.read_text()
        assert "# Set to false to pause" in path.read_text()  # comments kept
        report = send(home, dry_run=True)
        assert [s.subscriber_id for s in report.served] == ["bob"]
        runner.invoke(app, [*config, "subscribers", "resume", "ada"])
        assert "active = true" in path.read_text()
