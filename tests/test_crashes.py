"""A fault of the program itself (an exception no code expected): one line saying what failed,
for whom, and where its traceback was logged; the other subscribers are still served, and
NEWSLETTER_RAISE=1 lets it through. Through the CLI, against the local fakes."""

from __future__ import annotations

import sys

import pytest

from newsletter import archive, views, votes
from newsletter.errors import LOG_NAME
from tests.conftest import SAMPLE, cli

FOLLOWED = "Mira Castellanos"  # an author of 2504.06112 in the sample listing
ERROR = (
    "error: ada: the digest failed on paper 2504.06112: IndexError: list index out of range "
    "(a bug: its traceback is in {log})"
)


def error_lines(result) -> list[str]:
    """The run's `error:` lines, once it is known that nothing escaped the CLI (under
    CliRunner an escaped exception leaves no traceback in the output to look for)."""
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    return [line for line in result.output.splitlines() if line.startswith("error:")]


@pytest.fixture
def ada_follows(home):
    """ada follows an author of 2504.06112, so her digest shows that paper as bob's does not."""
    profile = home / "subscribers" / "ada.toml"
    profile.write_text(profile.read_text().replace('"Yoshua Bengio"', f'"{FOLLOWED}"'))
    return home


def broken(real):
    """`views.author_list` with a bug in showing the authors of a paper by someone the
    reader follows: ada's digest hits it, bob's does not."""

    def author_list(names, follows):
        if FOLLOWED in names and follows(FOLLOWED):
            return [][0]
        return real(names, follows)

    return author_list


@pytest.fixture
def broken_author_list(monkeypatch):
    monkeypatch.setattr(views, "author_list", broken(views.author_list))


@pytest.mark.usefixtures("broken_author_list")
class TestACrashServingOneSubscriber:
    def test_one_line_names_it_the_paper_and_the_log_and_bob_is_sent(
        self, ada_follows, sendgrid_server, monkeypatch
    ):
        home = ada_follows
        monkeypatch.setattr(sys, "argv", ["newsletter", "send", "--feed", "listing.xml"])
        result = cli("send", "--feed", str(SAMPLE), home=home)
        assert result.exit_code == 1
        log = home / LOG_NAME
        assert error_lines(result) == [ERROR.format(log=log)]
        assert "not served: ada (failed)" in result.output and "1 sent" in result.output
        sent_to = [
            m.body["personalizations"][0]["to"][0]["email"] for m in sendgrid_server.messages
        ]
        assert sent_to == ["bob@example.org"]
        entry = log.read_text()
        assert "newsletter send --feed listing.xml\nada: the digest failed\n" in entry
        assert "Traceback (most recent call last)" in entry
        assert "in author_list" in entry and "IndexError: list index out of range" in entry
        assert "paper 2504.06112" in entry

    def test_each_crash_is_appended_with_its_time(self, ada_follows):
        for _ in range(2):
            assert cli("send", "--dry-run", "--feed", str(SAMPLE), home=ada_follows).exit_code == 1
        entries = (ada_follows / LOG_NAME).read_text().count("Traceback (most recent call last)")
        assert entries == 2
        assert (ada_follows / LOG_NAME).read_text()[:4].isdigit()  # 2025-...: a timestamp

    def test_a_log_that_cannot_be_written_still_gives_the_line(self, ada_follows):
        (ada_follows / LOG_NAME).mkdir()  # (tests run as root: no permission bit refuses)
        result = cli("send", "--dry-run", "--feed", str(SAMPLE), home=ada_follows)
        assert result.exit_code == 1
        [line] = error_lines(result)
        assert line.startswith("error: ada: the digest failed on paper 2504.06112: IndexError")
        assert "could not be logged (Is a directory); NEWSLETTER_RAISE=1 shows it" in line
        assert LOG_NAME not in line
        assert "1 previewed" in result.output  # bob

    def test_newsletter_raise_lets_it_through(self, ada_follows, monkeypatch):
        monkeypatch.setenv("NEWSLETTER_RAISE", "1")
        result = cli("send", "--dry-run", "--feed", str(SAMPLE), home=ada_follows)
        assert isinstance(result.exception, IndexError)
        assert not (ada_follows / LOG_NAME).exists()


class TestACrashBuildingTheArchive:
    def test_ada_s_pages_fail_bob_s_are_written(self, ada_follows, monkeypatch):
        home = ada_follows
        assert cli("send", "--dry-run", "--feed", str(SAMPLE), home=home).exit_code == 0
        monkeypatch.setattr(views, "author_list", broken(views.author_list))
        result = cli("archive", "build", "--out", "site", home=home)
        assert result.exit_code == 1
        log = home / LOG_NAME
        assert error_lines(result) == [
            "error: ada: the archive's pages failed on page 2025-04-10.html, paper 2504.06112: "
            f"IndexError: list index out of range (a bug: its traceback is in {log})"
        ]
        assert "for 1 subscriber," in result.output
        day_pages = sorted(p.parent.name for p in (home / "site").glob("*/2025-04-10.html"))
        assert len(day_pages) == 1  # bob's
        assert "ada: the archive's pages failed" in log.read_text()


class TestACrashOfAWholeCommand:
    @pytest.fixture
    def broken_votes(self, monkeypatch):
        def taught(*_args):
            return 1 / 0

        monkeypatch.setattr(votes, "taught", taught)

    @pytest.mark.usefixtures("broken_votes")
    def test_one_line_and_the_log(self, home):
        result = cli("prompt", "ada", "--pass", "skim", home=home)
        assert result.exit_code == 1
        log = home / LOG_NAME
        assert error_lines(result) == [
            "error: `newsletter prompt ada` failed: ZeroDivisionError: division by zero "
            f"(a bug: its traceback is in {log})"
        ]
        assert "in taught" in log.read_text()

    @pytest.mark.usefixtures("broken_votes")
    def test_newsletter_raise_lets_it_through(self, home, monkeypatch):
        monkeypatch.setenv("NEWSLETTER_RAISE", "1")
        assert isinstance(cli("prompt", "ada", home=home).exception, ZeroDivisionError)

    def test_the_archive_build_itself(self, home, monkeypatch):
        def build(*_args, **_kwargs):
            raise KeyError("digests")

        monkeypatch.setattr(archive, "build", build)
        result = cli("archive", "build", "--out", "site", home=home)
        assert result.exit_code == 1
        assert error_lines(result) == [
            "error: `newsletter archive build` failed: KeyError: 'digests' "
            f"(a bug: its traceback is in {home / LOG_NAME})"
        ]
