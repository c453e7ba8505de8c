"""What a run does when the world goes wrong: an endpoint that fails, a value that would
crash it, an operator's --force. Each through the CLI or the library, against the local fakes."""

import random
import sqlite3
import time
from datetime import date
from pathlib import Path

import pytest

from newsletter import deliver, suppressions
from newsletter.cli import app
from newsletter.config import load_config
from newsletter.errors import DeliveryError
from newsletter.pipeline import SendOptions, run_send
from newsletter.store import Store
from tests.conftest import SAMPLE, runner, sendgrid_config

DAY = date(2025, 4, 10)


def send(home, *args):
    return runner.invoke(app, ["--config", str(home / "config.toml"), "send", *args])


def ledger(home) -> dict[str, str]:
    with Store(load_config(home / "config.toml").storage.path) as store:
        return {
            who: row.status
            for who in ("ada", "bob")
            if (row := store.ledger.delivery(DAY, who)) is not None
        }


class TestABrokenModelEndpoint:
    def test_only_500s_sends_nothing_and_a_rerun_sends_the_day_once(
        self, home, openai_server, sendgrid_server
    ):
        openai_server.queue_server_error(times=1_000)
        result = send(home, "--feed", str(SAMPLE))
        assert result.exit_code == 1
        assert "scoring failed" in result.output
        assert "not served: ada (failed), bob (failed)" in result.output
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
        # ada and bob share their prompt: one title batch, all of it failed, and nothing more:
        # neither the skim, nor the full read, nor the halved re-asks of `retry_rounds`
        assert len(openai_server.requests) == 1

    def test_a_mistyped_endpoint_is_named_in_the_note(self, home, openai_server):
        config = home / "config.toml"
        config.write_text(
            config.read_text().replace(openai_server.base_url, "http://127.0.0.1:9/v1")
        )
        result = send(home, "--feed", str(SAMPLE), "--dry-run")
        assert result.exit_code == 1
        assert "failed: no connection to http://127.0.0.1:9/v1" in result.output
        assert openai_server.requests == []

    def test_keys_ending_in_a_newline_work(self, home, monkeypatch, openai_server, sendgrid_server):
        """As pasted into a secret store: the newline is not part of the key."""
        monkeypatch.setenv("OPENAI_API_KEY", openai_server.api_key + "\n")
        monkeypatch.setenv("SENDGRID_API_KEY", sendgrid_server.api_key + "\n")
        result = send(home, "--feed", str(SAMPLE))
        assert result.exit_code == 0, result.output
        assert len(sendgrid_server.messages) == 2
        sent_with = {m.headers["authorization"] for m in sendgrid_server.messages}
        assert sent_with == {f"Bearer {sendgrid_server.api_key}"}


class TestAReusedSubscriberId:
    """A profile file handed to a new person under the same id: a new reader."""

    def test_the_new_reader_gets_neither_the_old_archive_nor_its_history(
        self, home, sendgrid_server
    ):
        config = load_config(home / "config.toml")
        config.archive.base_url = "https://digest.example.org"
        run_send(config, SendOptions(feed=SAMPLE, only="ada"))
        with Store(config.storage.path) as store:
            old_token = store.tokens.token("ada")
            old_papers = store.ledger.sent_paper_ids("ada")
        assert old_papers
        profile = home / "subscribers" / "ada.toml"
        profile.write_text(profile.read_text().replace("ada@example.org", "carol@example.org"))
        # the same day again, as if the listing had come back: a new reader is sent it
        report = run_send(config, SendOptions(feed=SAMPLE, only="ada"))
        assert [s.status for s in report.served] == ["sent"]
        to_carol = sendgrid_server.messages[-1].body
        assert to_carol["personalizations"][0]["to"][0]["email"] == "carol@example.org"
        html = to_carol["content"][1]["value"]
        assert old_token not in html
        with Store(config.storage.path) as store:
            assert store.tokens.token("ada") != old_token
            assert store.tokens.token("ada~1") == old_token  # the old reader's links still work
            assert store.ledger.sent_paper_ids("ada~1") == old_papers
            assert {d[1] for d in store.digests.load()} == {"ada", "ada~1"}

    def test_the_same_address_in_other_case_is_the_same_reader(self, home, sendgrid_server):
        config = load_config(home / "config.toml")
        run_send(config, SendOptions(feed=SAMPLE, only="ada"))
        profile = home / "subscribers" / "ada.toml"
        profile.write_text(profile.read_text().replace("ada@example.org", "Ada@Example.org"))
        report = run_send(config, SendOptions(feed=SAMPLE, only="ada"))
        assert [s.status for s in report.served] == ["skipped"]


class TestRefusedKeys:
    """A key the service refuses stops the run at once, naming the variable; nobody is
    reported failed for it, and the day stays open."""

    def test_a_wrong_sendgrid_key(self, home, monkeypatch, openai_server, sendgrid_server):
        monkeypatch.setenv("SENDGRID_API_KEY", "SG.wrong")
        started = time.monotonic()
        result = send(home, "--feed", str(SAMPLE))
        assert time.monotonic() - started < 3
        assert result.exit_code == 2
        assert "SendGrid refused SENDGRID_API_KEY" in result.output
        assert "SG.wrong" not in result.output and "Traceback" not in result.output
        assert openai_server.requests == []  # stopped at the suppression sync, before scoring
        assert sendgrid_server.messages == [] and ledger(home) == {}

    def test_a_key_with_a_line_break_inside(self, home, monkeypatch, sendgrid_server):
        monkeypatch.setenv("SENDGRID_API_KEY", "SG.abc\ndef")
        result = send(home, "--feed", str(SAMPLE))
        assert result.exit_code == 2
        assert "SENDGRID_API_KEY holds characters" in result.output
        assert "SG.abc" not in result.output and sendgrid_server.messages == []


class TestEndlessSuppressionPages:
    """A suppression endpoint that answers every page in full must not keep a run reading."""

    @pytest.fixture
    def client(self, sendgrid_server):
        sendgrid_server.lists["bounces"] = [{"email": f"x{i}@example.org"} for i in range(2000)]
        return deliver.SendgridApi(
            sendgrid_config(sendgrid_server.url, retries=0), sendgrid_server.api_key
        )

    def test_the_same_page_again_stops_at_once(self, client, sendgrid_server):
        sendgrid_server.ignore_offset = True
        with pytest.raises(DeliveryError, match="the same page again"):
            suppressions.read_list(client, "suppression/bounces")
        assert len(sendgrid_server.reads) == 2

    def test_paging_is_bounded(self, client, sendgrid_server, monkeypatch):
        monkeypatch.setattr(suppressions, "MAX_PAGES", 3)  # 2,000 entries are 4 pages
        with pytest.raises(DeliveryError, match="more than 1,500 entries"):
            suppressions.read_list(client, "suppression/bounces")
        assert len(sendgrid_server.reads) == 3


def damage(db: Path, name: str) -> None:
    """Overwrite with random bytes the page that holds the root of the table or index `name`:
    a page inside the file, its header and schema intact."""
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    [(root,)] = conn.execute("SELECT rootpage FROM sqlite_master WHERE name=?", (name,))
    conn.close()
    with db.open("r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(random.Random(root).randbytes(page_size))


def one_error(result) -> str:
    """The single `error:` line of a run that stopped on it, nothing having escaped the CLI
    (under CliRunner an escaped exception leaves no traceback in the output to look for)."""
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    [line] = [line for line in result.output.splitlines() if line.startswith("error:")]
    return line


class TestABrokenDatabase:
    @pytest.fixture
    def stored(self, home):
        """A store written by a dry run of the sample day (ledger aside, every table used)."""
        assert send(home, "--dry-run", "--feed", str(SAMPLE)).exit_code == 0
        return home / "newsletter.db"

    @pytest.mark.parametrize(
        ("table", "command"),
        [
            ("days", ["send", "--dry-run", "--feed", str(SAMPLE)]),
            ("days", ["send", "--dry-run", "--date", "2025-04-10"]),
            ("digests", ["send", "--dry-run", "--feed", str(SAMPLE)]),  # met while serving
            ("day_papers", ["fetch", "--feed", str(SAMPLE)]),
            ("scores", ["score", "--feed", str(SAMPLE)]),
            ("digests", ["archive", "build", "--out", "site"]),
            ("sqlite_autoindex_suppressions_1", ["subscribers", "list"]),
        ],
    )
    def test_a_damaged_page_is_one_line_naming_the_file_and_the_way_out(
        self, stored, table, command
    ):
        damage(stored, table)
        result = runner.invoke(app, ["--config", str(stored.parent / "config.toml"), *command])
        line = one_error(result)
        assert line.startswith(
            f"error: {stored}: the database is damaged (database disk image is malformed): "
            "restore your last good copy of it, or move it aside (with its -wal and -shm files)"
        )
        assert "forgets who was sent what" in line

    def test_a_file_of_random_bytes_is_one_line(self, home):
        (home / "newsletter.db").write_bytes(random.Random(1).randbytes(64 * 1024))
        line = one_error(send(home, "--dry-run", "--feed", str(SAMPLE)))
        assert line.startswith(
            f"error: {home}/newsletter.db: not an SQLite database (file is not a database): "
            "check that [storage] path names the newsletter's database; if it does, restore"
        )

    def test_a_file_that_is_not_a_database_is_one_line(self, home):
        (home / "newsletter.db").write_bytes(b"this is not sqlite, just text" * 100)
        line = one_error(
            runner.invoke(app, ["--config", str(home / "config.toml"), "prompt", "ada"])
        )
        assert "newsletter.db: not an SQLite database" in line

    def test_a_folder_it_cannot_make_is_one_line(self, home, tmp_path):
        """(Tests run as root here, for whom no permission bit refuses a write.)"""
        (tmp_path / "state").write_text("a file where the folder should be")
        config = home / "config.toml"
        config.write_text(
            f'[storage]\npath = "{tmp_path}/state/newsletter.db"\n' + config.read_text()
        )
        result = send(home, "--dry-run", "--feed", str(SAMPLE))
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert f"{tmp_path}/state/newsletter.db: cannot open the database" in result.output


class TestAModelEndpointThatSaysNo:
    """401 and 404 from the model's endpoint: the run stops at once naming what to fix, sends
    nothing, and after the fix a re-run sends the day once."""

    def test_401_then_the_fixed_key(self, home, monkeypatch, openai_server, sendgrid_server):
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
        result = send(home, "--feed", str(SAMPLE))
        assert result.exit_code == 2 and "check OPENAI_API_KEY" in result.output
        assert sendgrid_server.messages == [] and ledger(home) == {}
        monkeypatch.setenv("OPENAI_API_KEY", openai_server.api_key)
        assert send(home, "--feed", str(SAMPLE)).exit_code == 0
        assert send(home, "--feed", str(SAMPLE)).exit_code == 0
        assert len(sendgrid_server.messages) == 2

    def test_404_names_the_model(self, home, openai_server, sendgrid_server):
        openai_server.models = {"gpt-4o-mini"}  # the config asks for "m"
        result = send(home, "--feed", str(SAMPLE))
        assert result.exit_code == 2 and "has no model 'm' (HTTP 404)" in result.output
        assert "[llm] model" in result.output and "Traceback" not in result.output
        assert sendgrid_server.messages == [] and ledger(home) == {}
        openai_server.models = None
        assert send(home, "--feed", str(SAMPLE)).exit_code == 0
        assert len(sendgrid_server.messages) == 2
