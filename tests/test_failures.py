"""What a run does when the world goes wrong: an endpoint that fails, a value that would
crash it, an operator's --force. Each through the CLI or the library, against the local fakes."""

from datetime import date

from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.store import Store
from tests.conftest import SAMPLE

runner = CliRunner()
DAY = date(2025, 4, 10)


def send(home, *args):
    return runner.invoke(app, ["--config", str(home / "config.toml"), "send", *args])


def ledger(home) -> dict[str, str]:
    with Store(load_config(home / "config.toml").storage.path) as store:
        return {
            who: row["status"]
            for who in ("ada", "bob")
            if (row := store.delivery(DAY, who)) is not None
        }


class TestABrokenModelEndpoint:
    def test_only_500s_sends_nothing_and_a_rerun_sends_the_day_once(
        self, home, openai_server, sendgrid_server
    ):
        openai_server.queue_server_error(times=1_000)
        result = send(home, "--feed", str(SAMPLE))
        assert result.exit_code == 1
        assert "scoring failed" in result.output and "2 failed" in result.output
        assert sendgrid_server.messages == [] and ledger(home) == {}
        openai_server.script.clear()  # the endpoint is back
        again = send(home, "--feed", str(SAMPLE))
        assert again.exit_code == 0, again.output
        assert len(sendgrid_server.messages) == 2
        assert send(home, "--feed", str(SAMPLE)).exit_code == 0
        assert len(sendgrid_server.messages) == 2  # the day went out once

    def test_a_dead_endpoint_is_asked_one_round_only(self, home, openai_server, sendgrid_server):
        openai_server.queue_server_error(times=1_000)
        send(home, "--feed", str(SAMPLE))
        # ada and bob share nothing but their cutoffs: two prompts, one title batch each,
        # then one abstract round each; never the halved re-asks of `retry_rounds`
        assert len(openai_server.requests) <= 4

    def test_keys_ending_in_a_newline_work(
        self, home, monkeypatch, openai_server, sendgrid_server
    ):
        """As pasted into a secret store: the newline is not part of the key."""
        monkeypatch.setenv("OPENAI_API_KEY", openai_server.api_key + "\n")
        monkeypatch.setenv("SENDGRID_API_KEY", sendgrid_server.api_key + "\n")
        result = send(home, "--feed", str(SAMPLE))
        assert result.exit_code == 0, result.output
        assert len(sendgrid_server.messages) == 2
        sent_with = {m.headers["authorization"] for m in sendgrid_server.messages}
        assert sent_with == {f"Bearer {sendgrid_server.api_key}"}
