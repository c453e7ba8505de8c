"""Keep the daily workflow's sealed state on a branch of its own, and take it back from there.

    python state_branch.py fetch state.tar.enc   # in `send`, after the cache was tried
    python state_branch.py keep state.tar.enc    # in `keep-state`, which alone may push

The Actions cache evicts a state unused for 7 days, and the oldest first past the repository's
size limit. So each run also keeps its state, as sealed by state.py, on the orphan branch
`newsletter-state`: one commit holding `state.tar.enc`, replaced each run. The first time, it
also pushes the tag `newsletter-state-kept`, which is never moved: it says that an earlier run
kept a state, even after the branch was deleted.

`fetch` leaves a file the cache restored alone. Without one it takes the branch's; with no
branch it starts empty, unless the tag says a state was kept before: then it stops, since a
run without its ledger would send every reader the day again and give them new archive
addresses. START_FRESH=true (the workflow's `start_fresh` input) skips the cache and the branch
on purpose. The remote is $STATE_REMOTE; $GH_TOKEN, when set, goes to git as the checkout
action sends it, in an HTTP header, through the environment of the git commands only.

Needs only Python and git.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BRANCH = "refs/heads/newsletter-state"
MARKER = "refs/tags/newsletter-state-kept"
NAME = "state.tar.enc"  # the file's name on the branch, whatever the local path
BOT = ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")


class Refused(Exception):
    """The state cannot be taken or kept as asked; the message says why."""


def git_env() -> dict[str, str]:
    """No user's or machine's git configuration, a fixed author, and the token if there is
    one."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    env |= {"GIT_AUTHOR_NAME": BOT[0], "GIT_AUTHOR_EMAIL": BOT[1]}
    env |= {"GIT_COMMITTER_NAME": BOT[0], "GIT_COMMITTER_EMAIL": BOT[1]}
    env["GIT_TERMINAL_PROMPT"] = "0"
    if token := os.environ.get("GH_TOKEN"):
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env |= {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraheader"}
        env["GIT_CONFIG_VALUE_0"] = f"AUTHORIZATION: basic {basic}"
    return env


def git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], input=stdin, capture_output=True, env=git_env()
    )
    if done.returncode != 0:
        error = done.stderr.decode(errors="replace").strip().splitlines()
        raise Refused(f"git {args[0]} failed: {error[-1] if error else done.returncode}")
    return done.stdout


def remote_refs(repo: Path, remote: str) -> dict[str, str]:
    """The branch's and the tag's commits on the remote, of those that exist."""
    listing = git(repo, "ls-remote", remote, BRANCH, MARKER).decode()
    return {ref: sha for sha, ref in (line.split("\t") for line in listing.splitlines())}


def fetch(target: Path, remote: str, fresh: bool) -> str:
    if fresh:
        target.unlink(missing_ok=True)
        return "Starting fresh, as asked: an empty database, and new archive addresses."
    if target.exists():
        return "The cache had the state: the newsletter-state branch is not needed."
    with tempfile.TemporaryDirectory() as scratch:
        repo = Path(scratch)
        git(repo, "init", "--quiet")
        refs = remote_refs(repo, remote)
        if BRANCH in refs:
            git(repo, "fetch", "--quiet", "--depth=1", "--no-tags", remote, BRANCH)
            try:
                blob = git(repo, "cat-file", "blob", f"FETCH_HEAD:{NAME}")
            except Refused:
                raise Refused(f"the newsletter-state branch holds no {NAME}") from None
            partial = target.with_name(target.name + ".partial")
            partial.write_bytes(blob)
            partial.replace(target)
            commit = refs[BRANCH][:7]
            return f"No state in the cache: took the newsletter-state branch's ({commit})."
    if MARKER in refs:
        raise Refused(
            "No state in the cache and none on the newsletter-state branch, but an earlier run "
            "kept one (tag newsletter-state-kept): without its ledger this run would send every "
            "reader today's digest again and give them new archive addresses, so it sends "
            "nothing. Put the branch back, or run the workflow by hand with start_fresh "
            "to begin again on purpose (see the README)."
        )
    return "No state in the cache or on the newsletter-state branch: the first run, from empty."


def keep(source: Path, remote: str) -> str:
    if not source.exists():
        raise Refused(f"{source} is missing: nothing to keep")
    with tempfile.TemporaryDirectory() as scratch:
        repo = Path(scratch)
        git(repo, "init", "--quiet")
        blob = git(repo, "hash-object", "-w", "--", str(source.resolve())).decode().strip()
        tree = git(repo, "mktree", stdin=f"100644 blob {blob}\t{NAME}\n".encode()).decode()
        run = os.environ.get("GITHUB_RUN_ID", "a local run")
        message = f"The daily digest's sealed state, as kept by run {run}"
        commit = git(repo, "commit-tree", tree.strip(), "-m", message).decode().strip()
        refs = remote_refs(repo, remote)
        # one commit, replaced each run; the lease refuses to replace one this run did not see
        pushes = [f"--force-with-lease={BRANCH}:{refs.get(BRANCH, '')}", f"{commit}:{BRANCH}"]
        if MARKER not in refs:
            empty = git(repo, "mktree", stdin=b"").decode().strip()
            note = "A daily digest run kept its state on newsletter-state from this day on."
            marker = git(repo, "commit-tree", empty, "-m", note).decode().strip()
            pushes.append(f"{marker}:{MARKER}")  # an empty commit: it keeps no state alive
        git(repo, "push", "--quiet", "--atomic", remote, *pushes)
    # the whole id: with it, a deleted branch can be made again while GitHub still has the commit
    return f"Kept {source} on the newsletter-state branch as commit {commit}."


def main(argv: list[str]) -> int:
    remote = os.environ.get("STATE_REMOTE", "")
    try:
        match argv:
            case ["fetch" | "keep", _] if not remote:
                raise Refused("set STATE_REMOTE to the address of the repository")
            case ["fetch", path]:
                fresh = os.environ.get("START_FRESH", "").lower() == "true"
                print(fetch(Path(path), remote, fresh))
            case ["keep", path]:
                print(keep(Path(path), remote))
            case _:
                print(__doc__.split("\n\n")[1], file=sys.stderr)
                return 2
    except Refused as refused:
        print(f"::error::{refused}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
