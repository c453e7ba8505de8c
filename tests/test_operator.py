"""What an operator sees: each mistake a new operator makes gets one line that names the
problem, fast, and the run's summary and exit status tell the truth. Through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import SAMPLE, cli


class TestNoConfig:
    @pytest.mark.parametrize(
        "command", [["send", "--dry-run"], ["subscribers", "list"], ["subscribers", "validate"]]
    )
    def test_says_where_it_looked_and_creates_nothing(self, tmp_path, command):
        result = cli(*command)
        assert result.exit_code == 2
        assert "no config.toml" in result.output and str(tmp_path) in result.output
        assert list(tmp_path.iterdir()) == []  # no newsletter.db, no outbox

    def test_from_another_folder_with_config_it_works(self, home, tmp_path_factory, monkeypatch):
        monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
        result = cli("send", "--dry-run", "--feed", str(SAMPLE), home=home)
        assert result.exit_code == 0, result.output


class TestConfigProblems:
    def test_every_problem_of_the_file_at_once(self, home):
        config = home / "config.toml"
        text = config.read_text().replace("timeout = 5\n", "timeout = 5\nmodle = 1\n", 1)
        config.write_text(text + '[sendgird]\nfrom_email = "x"\n[output]\nmax_html_bytes = 1\n')
        result = cli("send", "--dry-run", home=home)
        assert result.exit_code == 2
        lines = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(lines) == 3
        assert any("sendgird: unknown key" in line for line in lines)
        assert any("llm.modle: unknown key" in line for line in lines)
        assert any("output.max_html_bytes" in line for line in lines)

    def test_date_and_feed_together_are_refused(self, home):
        result = cli("send", "--dry-run", "--feed", str(SAMPLE), "--date", "2025-04-10", home=home)
        assert result.exit_code == 2 and "--date and --feed" in result.output

    def test_h_is_help(self):
        result = cli("send", "-h")
        assert result.exit_code == 0 and "Exit status: 0" in result.output

    def test_fetch_from_a_file_says_it_reads_the_file(self, home):
        result = cli("fetch", "--feed", str(SAMPLE), home=home)
        assert result.exit_code == 0, result.output
        assert "fetching" not in result.output and f"reading {SAMPLE}" in result.output


class TestProfiles:
    def test_a_second_file_with_a_known_address_does_not_push_out_the_first(
        self, home, sendgrid_server
    ):
        assert cli("send", "--feed", str(SAMPLE), "--only", "bob", home=home).exit_code == 0
        # a newcomer whose file sorts before bob's, with bob's address
        bob = (home / "subscribers" / "bob.toml").read_text()
        (home / "subscribers" / "abe.toml").write_text(bob)
        result = cli("send", "--feed", str(SAMPLE), home=home)
        assert result.exit_code == 1
        assert (
            "error: subscribers/abe.toml: email: 'bob@example.org' is also used by "
            "subscribers/bob.toml" in result.output.replace(str(home) + "/", "")
        )
        assert "not served: abe (invalid)" in result.output
        to = [m.body["personalizations"][0]["to"][0]["email"] for m in sendgrid_server.messages]
        assert to.count("bob@example.org") == 1 and "ada@example.org" in to

    def test_a_skipped_bad_profile_is_in_the_summary(self, home):
        (home / "subscribers" / "zed.toml").write_text('name = "Zed"\nemail = "nope"\n')
        result = cli("send", "--dry-run", "--feed", str(SAMPLE), home=home)
        assert result.exit_code == 1
        assert "2025-04-10: 2 previewed; not served: zed (invalid)" in result.output

    def test_nobody_to_serve_stops_before_any_work(self, home, openai_server):
        for path in (home / "subscribers").glob("*.toml"):
            path.write_text(path.read_text().replace("active = true", "active = false"))
        result = cli("send", "--feed", str(SAMPLE), home=home)
        assert result.exit_code == 2 and "nobody to serve" in result.output
        assert openai_server.requests == []


class TestKeys:
    def test_a_refused_model_key_stops_at_once(self, home, monkeypatch, sendgrid_server):
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
        started = time.monotonic()
        result = cli("send", "--feed", str(SAMPLE), home=home)
        assert time.monotonic() - started < 3
        assert result.exit_code == 2 and "check OPENAI_API_KEY" in result.output
        assert "sk-wrong" not in result.output and sendgrid_server.messages == []

    def test_a_missing_model_key_is_said_before_any_network(self, home, monkeypatch):
        monkeypatch.delenv("OPENAI_API_KEY")
        config = home / "config.toml"
        text = config.read_text()
        text = text.replace('base_url = "', '# base_url = "')  # the real API, which needs a key
        text = text.replace("retry_delay = 0\n", "retry_delay = 5\n")  # an unreachable SendGrid
        config.write_text(text.replace("api_host = ", 'api_host = "http://127.0.0.1:9"\n# '))
        started = time.monotonic()
        result = cli("send", "--feed", str(SAMPLE), home=home)
        assert time.monotonic() - started < 3
        assert result.exit_code == 2 and "OPENAI_API_KEY is not set" in result.output


class TestOffline:
    """No name resolves in any test (conftest's `_loopback_only`): as on a machine offline."""

    @pytest.mark.parametrize("date", [None, "2025-04-10"])
    def test_one_line_with_the_offline_way_within_seconds(self, tmp_path, date):
        (tmp_path / "config.toml").write_text('[llm]\nprovider = "local"\n')
        (tmp_path / "subscribers").mkdir()
        (tmp_path / "subscribers" / "ada.toml").write_text(
            'name = "Ada"\nemail = "ada@example.org"\nkeywords = ["pruning"]\n'
        )
        started = time.monotonic()
        result = cli("send", "--dry-run", *(["--date", date] if date else []))
        assert time.monotonic() - started < 10
        assert result.exit_code == 1 and "Traceback" not in result.output
        [line] = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert "cannot resolve its host" in line
        assert line.endswith("run with --feed " + str(SAMPLE))

    @pytest.mark.parametrize(
        "command",
        [
            ["subscribers", "like", "ada", "2501.01234"],
            ["subscribers", "dislike", "ada", "2501.01234"],
        ],
    )
    def test_a_vote_by_hand_says_what_it_can_do_offline(self, tmp_path, command):
        (tmp_path / "config.toml").write_text("")
        (tmp_path / "subscribers").mkdir()
        (tmp_path / "subscribers" / "ada.toml").write_text(
            'name = "Ada"\nemail = "ada@example.org"\nkeywords = ["pruning"]\n'
        )
        result = cli(*command)
        [line] = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert result.exit_code == 1 and "cannot resolve its host" in line
        assert "--feed" not in line  # `like` has no such option, nor would a listing help
        key = command[1] + "d"
        assert line.endswith(f"only papers already in the store (from a day fetched before) "
                             f"can be {key}; or add the ids to `{key}` in the profile file, "
                             "looked up by the next run")  # fmt: skip

    def test_a_new_profile_from_ids_says_what_it_can_do_offline(self, tmp_path):
        (tmp_path / "config.toml").write_text("")
        result = cli("subscribers", "new", "zed", "--email", "zed@lab.org", "--liked", "2501.01234")
        [line] = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert result.exit_code == 1 and "--feed" not in line
        assert "no profile written" in line and "--from-bibtex FILE" in line
        assert not (tmp_path / "subscribers" / "zed.toml").exists()


def waits_for_a_lock(pid: int) -> bool:
    """Whether the process is blocked on a file lock: Linux lists each waiter in /proc/locks
    as `N: -> POSIX ADVISORY WRITE PID ...`."""
    lines = Path("/proc/locks").read_text().splitlines()
    return any("->" in line and f" {pid} " in line for line in lines)


def test_two_dry_runs_at_once_pay_for_the_scores_once(home, openai_server):
    """A dry run may run beside a send or another dry run: the second waits for the first's
    scores instead of buying them again. The first run's requests are held at the fake until
    the second is seen waiting on the day's scoring lock."""
    openai_server.hold = threading.Event()
    env = {**os.environ, "NEWSLETTER_SECRET": "s", "OPENAI_API_KEY": openai_server.api_key}
    newsletter = Path(sys.executable).with_name("newsletter")
    command = [newsletter, "--config", home / "config.toml", "send", "--dry-run", "--feed", SAMPLE]

    def start() -> subprocess.Popen:
        return subprocess.Popen(command, env=env, cwd=home, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip

    first = start()
    deadline = time.monotonic() + 30
    while openai_server.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert openai_server.in_flight == 1
    second = start()
    deadline = time.monotonic() + 120  # a start-up, on a loaded machine
    while not waits_for_a_lock(second.pid) and second.poll() is None:
        assert time.monotonic() < deadline, "the second run never waited for the first's scores"
        time.sleep(0.05)
    assert second.poll() is None, second.communicate()[0]  # it ended without waiting
    assert len(openai_server.requests) == 1 and openai_server.in_flight == 1  # still held
    openai_server.hold.set()
    outputs = [first.communicate(timeout=60)[0], second.communicate(timeout=60)[0]]
    assert first.returncode == 0 and second.returncode == 0, outputs
    assert "this run made no request" in outputs[1], outputs[1]
    users = [r.body["messages"][-1]["content"] for r in openai_server.requests]
    asked = [line for text in users for line in text.splitlines() if line.startswith("ARXIVID:")]
    assert asked and len(asked) == len(set(asked))  # no paper was scored twice
