"""A profile proposed by pull request: previewed from its own file (`send --dry-run --profile`),
summed up in the pull request's comment, by a workflow that runs the pull request's code with
no more than it needs."""

from __future__ import annotations

import importlib.util
import json

import pytest
import yaml

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.pipeline import Hooks, SendOptions, run_send
from tests.conftest import REPO, SAMPLE, runner

WORKFLOW = REPO / ".github" / "workflows" / "profile-check.yml"
COMMENT_SCRIPT = REPO / ".github" / "scripts" / "profile_comment.py"


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


@pytest.fixture(scope="module")
def comment_script():
    spec = importlib.util.spec_from_file_location("profile_comment", COMMENT_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestComment:
    def run(self, script, home, monkeypatch, capsys, *paths: str) -> str:
        monkeypatch.chdir(home)
        (home / "changed.txt").write_text("".join(f"{p}\n" for p in paths))
        monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
        monkeypatch.setenv("GITHUB_REPOSITORY", "lab/newsletter")
        monkeypatch.setenv("GITHUB_RUN_ID", "42")
        assert script.main(["changed.txt", "outbox"]) == 0
        return capsys.readouterr().out

    def test_what_a_profile_would_have_received(
        self, comment_script, home, monkeypatch, capsys, openai_server
    ):
        openai_server.judge = lambda pid, title, abstract: (8, 6, f"on <b>topic</b> | @{pid}")
        assert preview(home, "--dry-run", "--only", "ada", "--feed", str(SAMPLE)).exit_code == 0
        text = self.run(comment_script, home, monkeypatch, capsys, "subscribers/ada.toml")
        assert text.startswith(comment_script.MARKER + "\n")
        digest = previewed(home)["ada"]
        scored = next(p for p in digest["papers"] if not p["author_match"])
        row = next(line for line in text.splitlines() if scored["url"] in line)
        assert "| 8 | 6 |" in row and scored["title"].split()[0] in row
        # a comment is Markdown: no markup, no cell break, no mention from a model's words
        assert "on &lt;b&gt;topic&lt;/b&gt; \\| &#64;" in row
        assert "[this run](https://github.com/lab/newsletter/actions/runs/42)" in text

    def test_the_problems_with_their_lines(self, comment_script, home, monkeypatch, capsys):
        bad = home / "subscribers" / "bob.toml"
        bad.write_text(bad.read_text().replace("active = true", "active = true\ncolour = 1"))
        text = self.run(comment_script, home, monkeypatch, capsys, "subscribers/bob.toml")
        assert "- line 12: colour: unknown key" in text

    def test_a_profile_in_a_subfolder_is_a_problem(self, comment_script, home, monkeypatch, capsys):
        path = home / "subscribers" / "team" / "zed.toml"
        path.parent.mkdir()
        path.write_text((home / "subscribers" / "bob.toml").read_text().replace("bob@", "zed@"))
        text = self.run(comment_script, home, monkeypatch, capsys, "subscribers/team/zed.toml")
        assert "- the file: (folder): only files directly in subscribers/ are served" in text

    def test_a_profile_without_topics_gets_a_note(self, comment_script, home, monkeypatch, capsys):
        (home / "subscribers" / "kay.toml").write_text(
            'name = "Kay"\nemail = "kay@lab.org"\nkeywords = ["pruning"]\n'
        )
        text = self.run(comment_script, home, monkeypatch, capsys, "subscribers/kay.toml")
        assert "Note: topics: none, so the model judges the papers by the keywords alone" in text

    def test_a_valid_profile_that_selected_nothing(self, comment_script, home, monkeypatch, capsys):
        text = self.run(comment_script, home, monkeypatch, capsys, "subscribers/bob.toml")
        assert "Valid. No digest" in text


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(workflow) -> list[dict]:
    [job] = workflow["jobs"].values()
    return job["steps"]


class TestWorkflow:
    def test_runs_on_pull_requests_that_change_a_profile_and_never_as_the_base(self, workflow):
        triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
        assert list(triggers) == ["pull_request"]
        assert triggers["pull_request"]["paths"] == ["subscribers/**"]
        assert "pull_request_target" not in WORKFLOW.read_text().replace(
            "never `pull_request_target`", ""
        )

    def test_may_read_the_code_and_write_the_comment_only(self, workflow):
        assert workflow["permissions"] == {}
        [job] = workflow["jobs"].values()
        assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
        checkout = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/"))
        assert checkout["with"]["persist-credentials"] is False

    def test_uses_the_daily_workflow_s_pins(self, workflow):
        daily = yaml.safe_load((REPO / ".github" / "workflows" / "daily.yml").read_text())
        pins = {s["uses"].split("@")[0]: s["uses"] for j in daily["jobs"].values()
                for s in j["steps"] if "uses" in s}  # fmt: skip
        used = [s["uses"] for s in steps(workflow) if "uses" in s]
        assert used and all(pins[u.split("@")[0]] == u for u in used)

    def test_checks_renders_previews_and_comments_in_that_order(self, workflow):
        def at(*words: str) -> int:
            [index] = [i for i, s in enumerate(steps(workflow))
                       if all(w in s.get("run", "") for w in words)]  # fmt: skip
            return index

        order = [
            at("newsletter subscribers check --format github"),
            at("newsletter prompt", "newsletter send --dry-run --profile"),
            at("profile_comment.py"),
            at("gh api", "PATCH", "POST"),
        ]
        assert order == sorted(order)
        assert all("!cancelled()" in steps(workflow)[i]["if"] for i in order[1:])

    def test_one_comment_found_again_by_its_marker(self, workflow, comment_script):
        comment = next(s for s in steps(workflow) if "gh api" in s.get("run", ""))
        assert f'marker="{comment_script.MARKER}"' in comment["run"]
        # a fork's token cannot comment: the step is not tried there
        assert "head.repo.full_name == github.repository" in comment["if"]

    def test_the_previews_are_kept_a_few_days(self, workflow):
        upload = next(s for s in steps(workflow) if "upload-artifact" in s.get("uses", ""))
        assert upload["with"]["path"] == "preview/" and upload["with"]["retention-days"] <= 7

    def test_the_state_is_restored_never_saved(self, workflow):
        uses = [s.get("uses", "") for s in steps(workflow)]
        assert any("actions/cache/restore@" in u for u in uses)
        assert not any("actions/cache/save@" in u or "actions/cache@" in u for u in uses)

    def test_each_secret_only_where_it_is_used(self, workflow):
        for step in steps(workflow):
            named = [v for v in step.get("env", {}).values() if "secrets." in v]
            if "STATE_PASSPHRASE" in step.get("env", {}):
                assert "state.py" in step["run"]
            if "OPENAI_API_KEY" in step.get("env", {}):
                assert "newsletter send --dry-run" in step["run"]
            assert len(named) <= 1
        assert "secrets." not in json.dumps({k: v for k, v in workflow.items() if k != "jobs"})
