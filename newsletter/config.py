"""The operator's config.toml, loaded into typed objects that reject unknown keys.

Lookup order for the file: `--config PATH`, else `$NEWSLETTER_CONFIG`, else `./config.toml`
(a missing ./config.toml means "all defaults"). Relative paths inside the file are relative
to the file's own folder. Secrets never come from the file: `OPENAI_API_KEY` and
`SENDGRID_API_KEY` are read from the environment only.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from newsletter import links
from newsletter.errors import ConfigError

DEFAULT_CONFIG = "config.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Price(_Strict):
    """USD per one million tokens."""

    prompt: float = Field(ge=0)
    cached: float | None = Field(default=None, ge=0)
    completion: float = Field(ge=0)

    def cost(self, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> float:
        cached_price = self.prompt if self.cached is None else self.cached
        uncached = max(prompt_tokens - cached_tokens, 0)
        return (
            uncached * self.prompt
            + cached_tokens * cached_price
            + completion_tokens * self.completion
        ) / 1_000_000


class ArxivConfig(_Strict):
    categories: list[str] = Field(default_factory=lambda: ["cs.LG"])
    rss_url: str = "https://rss.arxiv.org/rss/"
    api_url: str = "https://export.arxiv.org/api/query"
    timeout: float = Field(default=30.0, gt=0)
    retries: int = Field(default=3, ge=0, le=10)
    retry_delay: float = Field(default=3.0, ge=0)


class LLMConfig(_Strict):
    provider: Literal["openai", "local"] = "openai"
    model: str = "gpt-4o-mini"
    base_url: str | None = None
    batch_size: int = Field(default=25, ge=1, le=200)
    title_batch_size: int = Field(default=300, ge=1, le=1000)
    title_pass: bool = True
    title_cutoff: int = Field(default=3, ge=1, le=10)
    abstract_chars: int = Field(default=800, ge=100)
    concurrency: int = Field(default=8, ge=1, le=64)
    timeout: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    retry_rounds: int = Field(default=2, ge=0, le=5)
    max_cost_usd: float | None = Field(default=None, gt=0)
    prefilter_keep: float = Field(default=1.0, gt=0, le=1)
    min_scored: float = Field(default=0.9, ge=0, le=1)
    temperature: float = Field(default=0.0, ge=0, le=2)
    prices: dict[str, Price] = Field(default_factory=dict)


class SendgridConfig(_Strict):
    api_host: str = "https://api.sendgrid.com"
    from_email: str = "digest@example.org"
    from_name: str = "arXiv digest"
    timeout: float = Field(default=30.0, gt=0)
    retries: int = Field(default=3, ge=0, le=10)
    retry_delay: float = Field(default=2.0, ge=0)
    unsubscribe_group_id: int | None = Field(default=None, ge=1)
    unsubscribe_url: str | None = None
    unsubscribe_mailto: str | None = None
    send_empty: bool = False

    def unsubscribe_url_for(self, subscriber_id: str, email: str) -> str | None:
        """`unsubscribe_url` with its `{token}` filled in: a one-click POST (RFC 8058) carries
        no body naming the subscriber, so the URL alone must say who leaves, in a way nobody
        else can write (`links`). `{subscriber_id}` is filled in too, for readable logs."""
        if not self.unsubscribe_url:
            return None
        url = self.unsubscribe_url.replace("{subscriber_id}", quote(subscriber_id, safe=""))
        if "{token}" in url:
            url = url.replace("{token}", links.make_token(links.UNSUBSCRIBE, subscriber_id, email))
        return url

    def unsubscribe_url_problem(self) -> str | None:
        """Why `unsubscribe_url` cannot be used, or None."""
        url = self.unsubscribe_url
        if url is None or "{token}" in url:
            return None
        if "{email}" in url:
            return (
                "sendgrid.unsubscribe_url: {email} lets anyone unsubscribe anyone: "
                "use {token}, a signed part only this server can make"
            )
        return (
            "sendgrid.unsubscribe_url: must carry {token} (a signed part saying who leaves); "
            "without it every reader would get the same URL"
        )


class StorageConfig(_Strict):
    path: Path = Path("newsletter.db")


class OutputConfig(_Strict):
    outbox: Path = Path("outbox")
    max_html_bytes: int = Field(default=100_000, ge=20_000)
    profile_help_url: str | None = None


class ArchiveConfig(_Strict):
    base_url: str | None = None  # where the site from `archive build` is published
    out: Path = Path("site")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        """An http(s) address without query or fragment: emails link below it."""
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("must be an http(s) URL such as https://digest.example.org")
        return value.rstrip("/")


class WebConfig(_Strict):
    """`newsletter serve`: where it is reached, and what readers may do there."""

    base_url: str | None = None  # without it, no vote or unsubscribe link points at it
    votes_per_hour: int = Field(default=60, ge=1)  # per subscriber
    examples: int = Field(default=15, ge=0, le=100)  # liked and disliked titles in a prompt

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return ArchiveConfig._http_url(value)  # the same rule: links are made below it


class Config(_Strict):
    subscribers_dir: Path = Path("subscribers")
    arxiv: ArxivConfig = Field(default_factory=ArxivConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    sendgrid: SendgridConfig = Field(default_factory=SendgridConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    archive: ArchiveConfig = Field(default_factory=ArchiveConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _server_unsubscribes(self) -> Config:
        """With the server reachable and no other way out, its signed one-click URL is the
        unsubscribe link of every mail (List-Unsubscribe and the footer)."""
        sendgrid = self.sendgrid
        if self.web.base_url and not sendgrid.unsubscribe_url and not sendgrid.unsubscribe_group_id:
            sendgrid.unsubscribe_url = f"{self.web.base_url}/unsubscribe/{{token}}"
        return self


def format_loc(loc: tuple) -> str:
    """('categories', 1) -> 'categories[1]'; ('llm', 'prices', 'x') -> 'llm.prices.x'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def describe_error(err: dict) -> str:
    """One pydantic error as `field: message`, in words a user reads."""
    loc = format_loc(err["loc"])
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown key"
    if err["type"] == "missing":
        return f"{loc}: required but missing"
    return f"{loc}: {err['msg']}"


def read_toml(path: Path, error: type[Exception] = ConfigError) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML ({exc})") from None


def resolve_config_path(path: str | Path | None) -> tuple[Path, bool]:
    """Return (path, explicit): explicit paths must exist, ./config.toml may not."""
    if path:
        return Path(path), True
    env = os.environ.get("NEWSLETTER_CONFIG")
    if env:
        return Path(env), True
    return Path(DEFAULT_CONFIG), False


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate config.toml; raise ConfigError naming the file and key."""
    file, explicit = resolve_config_path(path)
    data = {} if not explicit and not file.exists() else read_toml(file)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{file}: {describe_error(first)}") from None
    base = file.resolve().parent if file.exists() else Path.cwd()
    config.source = file if file.exists() else None
    config.subscribers_dir = _under(base, config.subscribers_dir)
    config.storage.path = _under(base, config.storage.path)
    config.output.outbox = _under(base, config.output.outbox)
    config.archive.out = _under(base, config.archive.out)
    return config


def _under(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else base / path


def openai_key() -> str | None:
    return _secret("OPENAI_API_KEY")


def sendgrid_key() -> str | None:
    return _secret("SENDGRID_API_KEY")


def _secret(name: str) -> str | None:
    """A key from the environment, without the newline a pasted value often ends with. A key
    that no HTTP header can carry is refused here, naming the variable and never the value."""
    value = os.environ.get(name, "").strip()
    if value and not (value.isascii() and value.isprintable()):
        raise ConfigError(f"{name} holds characters a key cannot have (a pasted line break?)")
    return value or None
