"""Shared fixtures and constants: the store, the local fake servers (from `bench.fakes`, which
the benchmarks drive too) and a deployment pointed at them."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.fakes.arxiv import FakeArxiv
from bench.fakes.openai import FakeOpenAI
from bench.fakes.sendgrid import FakeSendgrid
from newsletter.cli import app
from newsletter.config import ArxivConfig, SendgridConfig
from newsletter.deliver import SendgridApi
from newsletter.models import Paper
from newsletter.profiles import parse_profile
from newsletter.store import Store

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "newsletter" / "data" / "sample-listing.xml"
EXAMPLE = parse_profile(REPO / "subscribers" / "example.toml")
# Variables a developer's shell may hold; no test reads them.
ENVIRONMENT = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SENDGRID_API_KEY", "NEWSLETTER_CONFIG",
               "NEWSLETTER_SECRET")  # fmt: skip
runner = CliRunner()


def cli(*args: object, home: Path | None = None):
    """`newsletter ARGS` under typer's CliRunner; with `home`, `--config HOME/config.toml`."""
    config = ["--config", str(home / "config.toml")] if home is not None else []
    return runner.invoke(app, [*config, *map(str, args)])


def cli_ok(home: Path, *args: object):
    """`cli` in `home`, which must exit 0."""
    result = cli(*args, home=home)
    assert result.exit_code == 0, result.output
    return result


def make_paper(pid: str, title: str = "", **fields: object) -> Paper:
    """A paper of cs.LG by two authors; `fields` override any of its values."""
    base = {"authors": ("Ada Lovelace", "Alan Turing"), "abstract": f"Abstract of {pid}.",
            "categories": ("cs.LG",), "primary_category": "cs.LG"}  # fmt: skip
    return Paper(id=pid, title=title or f"Paper {pid}", **(base | fields))  # type: ignore[arg-type]


def sendgrid_config(url: str = "http://127.0.0.1:9", **overrides: object) -> SendgridConfig:
    """A SendgridConfig for `url` with a short timeout and no pause between retries."""
    values = {
        "api_host": url,
        "from_email": "digest@example.org",
        "from_name": "arXiv digest",
        "timeout": 2.0,
        "retries": 2,
        "retry_delay": 0.0,
        "unsubscribe_url": "https://example.org/unsubscribe?who={subscriber_id}",
        "unsubscribe_mailto": "leave@example.org",
    }
    return SendgridConfig(**(values | overrides))  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test reads the developer's keys, config or working directory."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """As on a machine without a network: no name but the loopback's resolves, so a test that
    would reach a public host (arXiv, OpenAI, SendGrid) fails instead; the fakes are on
    127.0.0.1, which needs no lookup. Public hosts in the tests are data (the real formats'
    links and namespaces), never addresses asked."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def _short_client_backoff(monkeypatch):
    """The openai client waits 0.5 s, doubling, before each retry the server did not time
    (a 500, a 429 saying "retry after 0"); what is retried, and how often, stays the same."""
    monkeypatch.setattr("openai._base_client.INITIAL_RETRY_DELAY", 0.001)


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    """A fresh store in the test's folder."""
    with Store(tmp_path / "db.sqlite") as s:
        yield s


@pytest.fixture
def arxiv_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeArxiv]:
    """A running fake arXiv; the API client's politeness delay is off for it."""
    monkeypatch.setattr("newsletter.backfill.API_DELAY_SECONDS", 0.0)
    with FakeArxiv() as fake:
        yield fake


@pytest.fixture
def arxiv_config(arxiv_server: FakeArxiv) -> ArxivConfig:
    """An ArxivConfig pointed at the fake, with short timeouts and no retry delay."""
    return arxiv_server.config()


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    """A running fake; `base_url` ends in /v1 and `api_key` is "test-key"."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def sendgrid_server() -> Iterator[FakeSendgrid]:
    """A running fake SendGrid; its `api_key` is the one the client must send."""
    with FakeSendgrid() as fake:
        yield fake


@pytest.fixture
def make_sender(sendgrid_server: FakeSendgrid) -> Callable[..., SendgridApi]:
    """Mail senders at the fake SendGrid, through the real client; `sendgrid_config` values
    may be overridden."""
    return lambda **values: SendgridApi(
        sendgrid_config(sendgrid_server.url, **values), sendgrid_server.api_key
    )


@pytest.fixture
def sender(make_sender) -> SendgridApi:
    """A mail sender at the fake SendGrid, retrying twice."""
    return make_sender()


def write_deployment(
    folder: Path, arxiv: FakeArxiv, openai: FakeOpenAI, sendgrid: FakeSendgrid
) -> dict[str, str]:
    """Two subscribers (ada, and bob with a higher cutoff) and a config.toml pointing at the
    three fakes, in `folder`. Returns the environment the deployment's keys come from."""
    subs = folder / "subscribers"
    subs.mkdir()
    example = (REPO / "subscribers" / "example.toml").read_text()
    (subs / "ada.toml").write_text(example)
    bob = example.replace("ada@example.org", "bob@example.org").replace("Ada Example", "Bob")
    (subs / "bob.toml").write_text(bob.replace("relevance_cutoff = 6", "relevance_cutoff = 7"))
    (folder / "config.toml").write_text(f"""
[arxiv]
rss_url = "{arxiv.rss_url}"
api_url = "{arxiv.api_url}"
retry_delay = 0
timeout = 2
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
unsubscribe_url = "https://lab.org/unsubscribe?t={{token}}"
""")
    # the fake model finds the sample's MoE and compression papers relevant, and the one
    # whose abstract carries hostile markup, so that it reaches the email
    openai.judge = lambda pid, title, abstract: (
        (9, 7, f"on topic: {title[:30]}")
        if any(k in f"{title} {abstract}" for k in ("Expert", "Prun", "Quantiz", "KV", "Injection"))
        else (2, 3, "off topic")
    )
    return {
        "OPENAI_API_KEY": openai.api_key,
        "SENDGRID_API_KEY": sendgrid.api_key,
        "NEWSLETTER_SECRET": "a long random test secret",
    }


@pytest.fixture
def home(tmp_path, arxiv_server, openai_server, sendgrid_server, monkeypatch):
    """A deployment whose three endpoints are the local fakes, with two subscribers."""
    keys = write_deployment(tmp_path, arxiv_server, openai_server, sendgrid_server)
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    return tmp_path
