"""How tests/data/newsletter-0.1.0.sqlite was made: by release 0.1.0 (commit ede8705), whose
schema had no version, running real `newsletter` commands against the local fakes.

    mkdir /tmp/v0 && git archive ede8705 | tar -x -C /tmp/v0
    cp tests/data/make_v0_db.py /tmp/v0/ && cd /tmp/v0
    python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]'
    .venv/bin/python make_v0_db.py /tmp/newsletter-0.1.0.sqlite

What the database holds, for 2025-04-10 (the sample listing, 38 papers):
- ada: a `sent` delivery with her sent papers, a sent digest and a preview;
- bob: an `unknown` delivery (SendGrid accepted, then the connection dropped) and a preview;
- scores and spend for the day, a synced suppression list (two addresses) and its time in meta;
- an archive token for each of them (the emails link to their pages).

Kept for the upgrade tests in tests/test_store.py; not run by the suite.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path.cwd()  # the checkout of the release
sys.path.insert(0, str(REPO))

from tests.fakes.openai import FakeOpenAI  # noqa: E402
from tests.fakes.sendgrid import FakeSendgrid  # noqa: E402

SAMPLE = REPO / "newsletter" / "data" / "sample-listing.xml"
TOPICAL = ("Expert", "Prun", "Quantiz", "KV", "Injection")


def write_home(home: Path, openai: FakeOpenAI, sendgrid: FakeSendgrid) -> None:
    """The same two subscribers and settings as the suite's `home` fixture."""
    subs = home / "subscribers"
    subs.mkdir()
    example = (REPO / "subscribers" / "example.toml").read_text()
    (subs / "ada.toml").write_text(example)
    bob = example.replace("ada@example.org", "bob@example.org").replace("Ada Example", "Bob")
    (subs / "bob.toml").write_text(bob.replace("relevance_cutoff = 6", "relevance_cutoff = 7"))
    (home / "config.toml").write_text(f"""
[storage]
path = "newsletter.db"
[llm]
base_url = "{openai.base_url}"
model = "m"
timeout = 5
max_retries = 0
[llm.prices.m]
prompt = 0.15
cached = 0.075
completion = 0.6
[sendgrid]
api_host = "{sendgrid.url}"
from_email = "digest@lab.org"
retry_delay = 0
unsubscribe_url = "https://lab.org/unsubscribe"
[archive]
base_url = "https://digest.lab.org"
""")


def newsletter(home: Path, env: dict[str, str], *args: str) -> None:
    command = [str(Path(sys.executable).parent / "newsletter"), "--config", "config.toml", *args]
    done = subprocess.run(command, cwd=home, env=env, capture_output=True, text=True)
    print("$ newsletter", *args, f"-> exit {done.returncode}\n{done.stdout}{done.stderr}")


def make(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI() as openai:
        sendgrid = FakeSendgrid()
        sendgrid.start()
        home = Path(tmp)
        write_home(home, openai, sendgrid)
        openai.judge = lambda pid, title, abstract: (
            (9, 7, f"on topic: {title[:30]}")
            if any(k in f"{title} {abstract}" for k in TOPICAL)
            else (2, 3, "off topic")
        )
        sendgrid.lists["unsubscribes"] = [{"email": "Left@Example.org", "created": 1712700000}]
        sendgrid.lists["bounces"] = [{"email": "gone@example.org", "reason": "550 no such user"}]
        env = os.environ | {"OPENAI_API_KEY": openai.api_key, "SENDGRID_API_KEY": sendgrid.api_key}
        feed = ("--feed", str(SAMPLE))
        newsletter(home, env, "send", "--only", "ada", *feed)
        sendgrid.drop_next(1)
        newsletter(home, env, "send", "--only", "bob", *feed)
        newsletter(home, env, "send", "--dry-run", *feed)
        sendgrid.stop()
        db = sqlite3.connect(home / "newsletter.db")
        db.execute("VACUUM INTO ?", (str(target),))  # one file, no WAL beside it
        db.close()
    db = sqlite3.connect(target)  # small pages: eleven near-empty tables take less room
    db.executescript("PRAGMA page_size=1024; VACUUM")
    db.close()


if __name__ == "__main__":
    make(Path(sys.argv[1]))
