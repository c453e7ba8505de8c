"""The daily workflow run for real, step by step, on this machine: its `run:` scripts under
bash, the real `newsletter send` against the local fakes, the real state scripts and git; the
Actions cache a folder, the repository's remote a bare git repository. Runs lose their cache
between them, as GitHub's eviction does, and must neither send twice nor forget. Also the
script that keeps the state on the `newsletter-state` branch, on its own."""

from __future__ import annotations

import base64
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from bench.fakes.arxiv import paper
from tests.conftest import REPO, SAMPLE, write_deployment
from tests.test_workflow import DAILY, action

SCRIPT = REPO / ".github" / "scripts" / "state_branch.py"
BASE_URL = "https://digest.example.org"
NEXT_DAY = "Fri, 11 Apr 2025 00:00:00 -0400"
CLI = "from newsletter.cli import app; app()"  # not the installed script: this checkout

# The conditions the workflow's steps and jobs carry, as the runner decides them. A condition
# not here fails the test that meets it, so that a new one is modelled rather than guessed.
CONDITIONS = {
    None: lambda run: not run.failed,
    "${{ !inputs.start_fresh }}": lambda run: not run.failed and not run.fresh,
    "${{ !cancelled() && steps.state.outcome == 'success' }}": (
        lambda run: run.outcomes.get("state") == "success"
    ),
    "${{ always() }}": lambda run: True,
    "${{ always() && hashFiles('state.tar.enc') != '' }}": (
        lambda run: (run.workspace / "state.tar.enc").exists()
    ),
    "${{ !cancelled() && hashFiles('site/index.html') != '' }}": (
        lambda run: (run.workspace / "site" / "index.html").exists()
    ),
    "${{ always() && needs.send.outputs.kept == 'true' }}": (
        lambda run: run.outcomes.get("save") == "success"
    ),
}


@dataclass
class Run:
    """One job of one workflow run: where it works and what its steps did so far."""

    number: int
    workspace: Path
    fresh: bool
    failed: bool = False
    outcomes: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.log)


class GitHub:
    """What GitHub keeps between runs, as local stand-ins, and a runner for the workflow's
    jobs: `run:` scripts are run, the actions are played by the stand-ins."""

    def __init__(self, root: Path, deployment: Path, keys: dict[str, str]):
        self.root, self.deployment, self.keys = root, deployment, keys
        self.cache = root / "cache"  # one file per key; saved in order, restored newest first
        self.cache.mkdir()
        self.remote = root / "remotes" / "lab" / "digest"
        subprocess.run(["git", "init", "-q", "--bare", self.remote], check=True)
        self.bin = root / "bin"  # the runner's commands: this interpreter and this package
        self.bin.mkdir()
        python = f'#!/bin/sh\nexec "{sys.executable}" "$@"\n'
        newsletter = f'#!/bin/sh\nexec "{sys.executable}" -c "{CLI}" "$@"\n'
        for name, text in [("python3", python), ("newsletter", newsletter)]:
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)
        self.runs = 0
        self.skip: set[str] = set()  # steps taken as done, to save time where nothing is kept
        self.workflow = yaml.safe_load(DAILY.read_text())

    def run(self, start_fresh: bool = False) -> tuple[Run, Run | None]:
        """The `send` job, then `keep-state` if it would start; each in a fresh checkout."""
        self.runs += 1
        send = self.job("send", Run(self.runs, self.checkout("send"), start_fresh))
        keep_state = self.workflow["jobs"]["keep-state"]
        if not CONDITIONS[keep_state["if"]](send):
            return send, None
        keep = Run(self.runs, self.checkout("keep-state"), start_fresh)
        return send, self.job("keep-state", keep)

    def checkout(self, job: str) -> Path:
        workspace = self.root / f"run{self.runs}-{job}"
        shutil.copytree(self.deployment, workspace)
        (workspace / ".github").symlink_to(REPO / ".github")
        return workspace

    def job(self, name: str, run: Run) -> Run:
        for step in self.workflow["jobs"][name]["steps"]:
            if not CONDITIONS[step.get("if")](run):
                continue
            ok = self.action(step, run) if "uses" in step else self.script(step, run)
            run.failed |= not ok
            if "id" in step:
                run.outcomes[step["id"]] = "success" if ok else "failure"
        return run

    def expression(self, text: str, run: Run) -> str:
        values = {
            "github.run_id": str(run.number),
            "github.run_attempt": "1",
            "github.token": "ghs_local",
            "github.server_url": f"file://{self.root}/remotes",
            "github.repository": "lab/digest",
            "runner.temp": str(self.root),
            "inputs.start_fresh": "true" if run.fresh else "false",
            **{f"secrets.{name}": value for name, value in self.keys.items()},
        }
        return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", lambda m: values[m[1]], str(text))

    def script(self, step: dict, run: Run) -> bool:
        if step["name"].startswith("Install") or step["name"] in self.skip:
            return True  # installed already: the state tool is this interpreter (see `bin`)
        tool = self.root / "state-tool" / "bin" / "python"
        if not tool.exists():
            tool.parent.mkdir(parents=True)
            shutil.copy(self.bin / "python3", tool)
        env = {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(REPO),
            "RUNNER_TEMP": str(self.root),
            "GITHUB_WORKSPACE": str(run.workspace),
            "GITHUB_RUN_ID": str(run.number),
        }
        env |= {k: self.expression(v, run) for k, v in step.get("env", {}).items()}
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=run.workspace, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        run.log.append(f"{step.get('name')}: {done.returncode}\n{done.stdout}{done.stderr}")
        return done.returncode == 0

    def action(self, step: dict, run: Run) -> bool:
        inputs = {k: self.expression(v, run) for k, v in step.get("with", {}).items()}
        match action(step):
            case "actions/cache/restore":
                return self.restore(inputs, run.workspace)
            case "actions/cache/save":
                target = self.cache / inputs["key"]
                if target.exists():
                    return False  # a cache entry is never replaced
                shutil.copy(run.workspace / inputs["path"], target)
                return True
            case "actions/checkout" | "actions/setup-python" | "actions/upload-artifact":
                return True  # the checkout is made by `checkout`; nothing else is kept
        raise AssertionError(f"no stand-in for {step['uses']}")

    def restore(self, inputs: dict, workspace: Path) -> bool:
        exact = self.cache / inputs["key"]
        prefix = inputs.get("restore-keys")
        saved = sorted(self.cache.iterdir(), key=lambda p: p.stat().st_mtime_ns)
        found = exact if exact.exists() else None
        if found is None and prefix:
            found = next((p for p in reversed(saved) if p.name.startswith(prefix)), None)
        if found is not None:
            shutil.copy(found, workspace / inputs["path"])
        return found is not None or inputs.get("fail-on-cache-miss") != "true"

    def evict(self) -> None:
        """What GitHub does to a cache unused for 7 days."""
        for entry in self.cache.iterdir():
            entry.unlink()

    def branch(self) -> str | None:
        ref = "refs/heads/newsletter-state"
        done = subprocess.run(
            ["git", "-C", self.remote, "rev-parse", "--verify", "-q", ref],
            capture_output=True, text=True,
        )  # fmt: skip
        return done.stdout.strip() or None


@pytest.fixture
def github(tmp_path, arxiv_server, openai_server, sendgrid_server) -> GitHub:
    """A repository with two subscribers whose workflow reaches the local fakes, on the day of
    the sample listing."""
    deployment = tmp_path / "repository"
    deployment.mkdir()
    keys = write_deployment(deployment, arxiv_server, openai_server, sendgrid_server)
    keys["STATE_PASSPHRASE"] = "a long random passphrase"
    config = deployment / "config.toml"
    config.write_text(config.read_text() + f'\n[archive]\nbase_url = "{BASE_URL}/"\n')
    arxiv_server.rss_body = SAMPLE.read_bytes()
    return GitHub(tmp_path, deployment, keys)


def sent_to(sendgrid_server, who: str) -> list[str]:
    """The plain text of each message `who` was sent, in order."""
    return [
        m.body["content"][0]["value"]
        for m in sendgrid_server.messages
        if m.body["personalizations"][0]["to"][0]["email"] == f"{who}@example.org"
    ]


def archive_folder(text: str) -> str:
    [folder] = set(re.findall(re.escape(BASE_URL) + r"/([^/\s]+)/", text))
    return folder


class TestRunsThatLoseTheirCache:
    def test_nothing_is_sent_twice_nor_forgotten_and_a_lost_state_stops_the_run(
        self, github, arxiv_server, sendgrid_server
    ):
        """Four runs, the cache evicted before each but the first: the same day again, the
        next day, and, the branch deleted too, one that must refuse."""
        github.skip = {"Build the web archive"}  # the archive's tests build it; here, seconds
        first, kept = github.run()
        assert not first.failed and not kept.failed, first.text + kept.text
        assert len(sendgrid_server.messages) == 2 and github.branch() is not None
        [day_one] = sent_to(sendgrid_server, "ada")
        github.evict()

        again, _ = github.run()  # the same day, the cache gone
        assert not again.failed, again.text
        assert "took the newsletter-state branch's" in again.text
        assert len(sendgrid_server.messages) == 2  # nobody served today got a second one

        github.evict()
        already = sorted(set(re.findall(r"arXiv:(\d{4}\.\d{5})", day_one)))[0]
        arxiv_server.rss_body = None
        arxiv_server.serve(
            [
                paper(already, title="Mixture of Experts again", categories=["cs.LG"]),
                paper("2504.99001", title="Pruning Experts Anew", categories=["cs.LG"]),
            ],
            pub_date=NEXT_DAY,
        )
        next_day, _ = github.run()
        assert not next_day.failed, next_day.text
        [_, day_two] = sent_to(sendgrid_server, "ada")
        assert "arXiv:2504.99001" in day_two and f"arXiv:{already}" not in day_two
        assert archive_folder(day_two) == archive_folder(day_one)  # the same address

        github.evict()
        subprocess.run(["git", "-C", github.remote, "branch", "-qD", "newsletter-state"])
        sent = len(sendgrid_server.messages)
        lost, kept = github.run()
        assert lost.failed and kept is None
        assert "an earlier run kept one" in lost.text and "start_fresh" in lost.text
        assert "Send today's digests" not in lost.text  # the step never started
        assert len(sendgrid_server.messages) == sent
        assert github.branch() is None  # and nothing empty was kept in its place


# -- the script on its own ---------------------------------------------------------------------


@pytest.fixture
def remote(tmp_path) -> str:
    """An empty repository to keep the state in, by the address the workflow gives."""
    path = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", path], check=True)
    return f"file://{path}"


def state_branch(*args: str, remote: str, fresh: str = "", token: str = ""):
    env = {**os.environ, "STATE_REMOTE": remote, "START_FRESH": fresh, "GH_TOKEN": token}
    return subprocess.run(
        [sys.executable, SCRIPT, *args], env=env, capture_output=True, text=True, timeout=30
    )


def git_out(remote: str, *args: str) -> str:
    path = remote.removeprefix("file://")
    return subprocess.run(
        ["git", "-C", path, *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def keep(remote: str, content: bytes, folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "state.tar.enc").write_bytes(content)
    done = state_branch("keep", str(folder / "state.tar.enc"), remote=remote)
    assert done.returncode == 0, done.stderr


class TestStateBranchScript:
    def test_the_first_run_ever_starts_empty(self, remote, tmp_path):
        done = state_branch("fetch", "state.tar.enc", remote=remote)
        assert done.returncode == 0 and "the first run" in done.stdout
        assert list(tmp_path.iterdir()) == [tmp_path / "remote.git"]

    def test_a_state_from_the_cache_is_left_alone_and_the_remote_not_asked(self, tmp_path):
        Path("state.tar.enc").write_bytes(b"from the cache")
        done = state_branch("fetch", "state.tar.enc", remote=f"file://{tmp_path}/nowhere")
        assert done.returncode == 0 and "The cache had the state" in done.stdout
        assert Path("state.tar.enc").read_bytes() == b"from the cache"

    def test_without_a_cache_the_branch_gives_the_last_state_kept(self, remote, tmp_path):
        keep(remote, b"monday", tmp_path / "monday")
        keep(remote, b"tuesday\x00\xff", tmp_path / "tuesday")
        done = state_branch("fetch", "state.tar.enc", remote=remote)
        assert done.returncode == 0, done.stderr
        assert Path("state.tar.enc").read_bytes() == b"tuesday\x00\xff"

    def test_the_branch_is_one_commit_and_the_tag_stays_where_it_was_first_put(
        self, remote, tmp_path
    ):
        keep(remote, b"monday", tmp_path / "monday")
        tag = git_out(remote, "rev-parse", "newsletter-state-kept")
        keep(remote, b"tuesday", tmp_path / "tuesday")
        assert git_out(remote, "rev-list", "--count", "newsletter-state") == "1"
        assert git_out(remote, "ls-tree", "--name-only", "newsletter-state") == "state.tar.enc"
        assert git_out(remote, "rev-parse", "newsletter-state-kept") == tag
        assert git_out(remote, "ls-tree", "newsletter-state-kept") == ""  # keeps no state alive

    def test_the_tag_without_the_branch_stops_the_run(self, remote, tmp_path):
        keep(remote, b"monday", tmp_path / "monday")
        git_out(remote, "branch", "-D", "newsletter-state")
        done = state_branch("fetch", "state.tar.enc", remote=remote)
        assert done.returncode == 1 and not Path("state.tar.enc").exists()
        assert done.stderr.startswith("::error::No state in the cache and none on the")

    def test_a_branch_without_the_file_stops_the_run(self, remote, tmp_path):
        keep(remote, b"monday", tmp_path / "monday")
        empty = git_out(remote, "rev-parse", "newsletter-state-kept")  # an empty tree
        git_out(remote, "update-ref", "refs/heads/newsletter-state", empty)
        done = state_branch("fetch", "state.tar.enc", remote=remote)
        assert done.returncode == 1 and "holds no state.tar.enc" in done.stderr
        assert not Path("state.tar.enc").exists()

    def test_start_fresh_takes_nothing_even_after_a_state_was_kept(self, remote, tmp_path):
        keep(remote, b"monday", tmp_path / "monday")
        Path("state.tar.enc").write_bytes(b"from the cache")
        done = state_branch("fetch", "state.tar.enc", remote=remote, fresh="true")
        assert done.returncode == 0 and "Starting fresh, as asked" in done.stdout
        assert not Path("state.tar.enc").exists()

    def test_an_unreachable_remote_stops_the_run(self, tmp_path):
        done = state_branch("fetch", "state.tar.enc", remote=f"file://{tmp_path}/nowhere")
        assert done.returncode == 1 and "git ls-remote failed" in done.stderr

    def test_the_token_goes_to_git_in_its_environment_not_its_arguments(self, monkeypatch):
        spec = importlib.util.spec_from_file_location("state_branch", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        monkeypatch.setenv("GH_TOKEN", "ghs_s3cret")
        env = module.git_env()
        assert env["GIT_CONFIG_KEY_0"] == "http.extraheader"
        header = env["GIT_CONFIG_VALUE_0"].removeprefix("AUTHORIZATION: basic ")
        assert base64.b64decode(header) == b"x-access-token:ghs_s3cret"

    def test_nothing_to_keep_and_no_remote_are_said(self, remote):
        done = state_branch("keep", "state.tar.enc", remote=remote)
        assert done.returncode == 1 and "nothing to keep" in done.stderr
        done = state_branch("fetch", "state.tar.enc", remote="")
        assert done.returncode == 1 and "STATE_REMOTE" in done.stderr
        assert state_branch("push", "x", remote=remote).returncode == 2

    def test_keep_names_the_whole_commit_to_make_the_branch_again_from(self, remote, tmp_path):
        (tmp_path / "state.tar.enc").write_bytes(b"monday")
        done = state_branch("keep", str(tmp_path / "state.tar.enc"), remote=remote)
        assert done.stdout.split()[-1] == git_out(remote, "rev-parse", "newsletter-state") + "."
