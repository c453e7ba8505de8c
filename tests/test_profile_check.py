"""A profile proposed by pull request: previewed from its own file (`send --dry-run --profile`)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.pipeline import Hooks, SendOptions, run_send
from tests.conftest import SAMPLE

runner = CliRunner()


def propose(home, name: str, **changes: str):
    """ada's profile with some lines changed, in a folder of its own, as a pull request
    would have it: `name.toml`."""
    text = (home / "subscribers" / "ada.toml").read_text()
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new)
    path = home / "proposed" / f"{name}.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def preview(home, *args: str):
    return runner.invoke(app, ["--config", str(home / "config.toml"), "send", *args])


def previewed(home) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (home / "outbox").glob("*/*.json")}


class TestProfileOption:
    def test_previews_that_file_alone_as_it_is_proposed(self, home, sendgrid_server):
        path = propose(home, "ada", **{"relevance_cutoff = 6": "relevance_cutoff = 10"})
        result = preview(home, "--dry-run", "--profile", str(path), "--feed", str(SAMPLE))
        assert result.exit_code == 0, result.output
        digests = previewed(home)
        assert list(digests) == ["ada"]  # not bob, whose file is in subscribers/
        picks = digests["ada"]["papers"]
        # the fake model gives 9 at best: the proposed cutoff leaves the followed authors
        assert picks and all(p["author_match"] for p in picks)
        assert sendgrid_server.messages == []

    def test_with_only_naming_the_file(self, home):
        path = propose(home, "carol", **{"ada@example.org": "carol@example.org"})
        args = ["--dry-run", "--profile", str(path), "--feed", str(SAMPLE)]
        assert preview(home, *args, "--only", "carol").exit_code == 0
        assert list(previewed(home)) == ["carol"]
        result = preview(home, *args, "--only", "ada")
        assert result.exit_code == 1
        assert "error: no subscriber 'ada'" in result.output

    def test_never_sends(self, home, sendgrid_server):
        path = propose(home, "ada")
        result = preview(home, "--profile", str(path), "--feed", str(SAMPLE))
        assert result.exit_code == 2
        assert "--profile previews a profile file and never sends: add --dry-run" in result.output
        assert sendgrid_server.messages == [] and previewed(home) == {}

    def test_a_bad_file_is_its_error(self, home):
        path = propose(home, "ada", **{'"stat.ML"': '"stat.XX"'})
        result = preview(home, "--dry-run", "--profile", str(path), "--feed", str(SAMPLE))
        assert result.exit_code == 1
        assert "categories[1]: 'stat.XX' is not an arXiv category" in result.output
        assert previewed(home) == {}

    def test_reads_the_latest_stored_day(self, home, arxiv_server):
        fetched = runner.invoke(app, ["--config", str(home / "config.toml"), "fetch",
                                      "--feed", str(SAMPLE)])  # fmt: skip
        assert fetched.exit_code == 0, fetched.output
        path = propose(home, "ada")
        result = preview(home, "--dry-run", "--profile", str(path))
        assert result.exit_code == 0, result.output
        assert previewed(home)["ada"]["day"] == "2025-04-10"
        assert arxiv_server.requests == []  # the stored day, not the network's

    def test_claims_no_address(self, home):
        """A proposed address is nobody's yet: the subscriber's history stays theirs."""
        config = load_config(home / "config.toml")
        run_send(config, SendOptions(dry_run=True, only="ada", feed=SAMPLE))
        path = propose(home, "ada", **{"ada@example.org": "someone@else.org"})
        run_send(config, SendOptions(dry_run=True, feed=SAMPLE, profile=path))
        warnings: list[str] = []
        run_send(config, SendOptions(dry_run=True, only="ada", feed=SAMPLE),
                 Hooks(warn=warnings.append))  # fmt: skip
        assert not [w for w in warnings if "new address" in w]
