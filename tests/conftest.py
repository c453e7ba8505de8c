"""Shared fixtures. The local fake servers register their fixtures as plugins."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "newsletter" / "data" / "sample-listing.xml"

pytest_plugins = ["tests.fakes.arxiv", "tests.fakes.openai", "tests.fakes.sendgrid"]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test reads the developer's keys, config or working directory."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SENDGRID_API_KEY", "NEWSLETTER_CONFIG",
                 "NEWSLETTER_SECRET"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def home(tmp_path, arxiv_server, openai_server, sendgrid_server, monkeypatch):
    """A deployment whose three endpoints are the local fakes, with two subscribers."""
    subs = tmp_path / "subscribers"
    subs.mkdir()
    example = (REPO / "subscribers" / "example.toml").read_text()
    (subs / "ada.toml").write_text(example)
    bob = example.replace("ada@example.org", "bob@example.org").replace("Ada Example", "Bob")
    (subs / "bob.toml").write_text(bob.replace("relevance_cutoff = 6", "relevance_cutoff = 7"))
    (tmp_path / "config.toml").write_text(f"""
[arxiv]
rss_url = "{arxiv_server.rss_url}"
api_url = "{arxiv_server.api_url}"
retry_delay = 0
timeout = 2
[llm]
base_url = "{openai_server.base_url}"
model = "m"
timeout = 5
max_retries = 0
[llm.prices.m]
prompt = 0.15
cached = 0.075
completion = 0.6
[sendgrid]
api_host = "{sendgrid_server.url}"
from_email = "digest@lab.org"
retry_delay = 0
unsubscribe_url = "https://lab.org/unsubscribe?t={{token}}"
""")
    monkeypatch.setenv("OPENAI_API_KEY", openai_server.api_key)
    monkeypatch.setenv("SENDGRID_API_KEY", sendgrid_server.api_key)
    monkeypatch.setenv("NEWSLETTER_SECRET", "a long random test secret")
    # the fake model finds the sample's MoE and compression papers relevant, and the one
    # whose abstract carries hostile markup, so that it reaches the email
    openai_server.judge = lambda pid, title, abstract: (
        (9, 7, f"on topic: {title[:30]}")
        if any(k in f"{title} {abstract}" for k in ("Expert", "Prun", "Quantiz", "KV", "Injection"))
        else (2, 3, "off topic")
    )
    return tmp_path
