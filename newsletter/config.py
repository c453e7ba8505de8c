"""The operator's config.toml, loaded into typed objects that reject unknown keys.

Lookup order for the file: `--config PATH`, else `$NEWSLETTER_CONFIG`, else `./config.toml`;
none of them is an error that says where it looked (a run in the wrong folder must not
quietly make a database there). An empty file means "all defaults". Relative paths inside
the file are relative to the file's own folder. Secrets never come from the file:
`OPENAI_API_KEY`, `SENDGRID_API_KEY` and `NEWSLETTER_SECRET` are read from the environment.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import typing
from pathlib import Path
from typing import Literal, TypeGuard
from urllib.parse import quote

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from newsletter import links
from newsletter.errors import ConfigError

DEFAULT_CONFIG = "config.toml"


class _Strict(BaseModel):
    # strict: a number in quotes ("8") or a "yes" is an error, not quietly converted; a path
    # is the one type TOML has no value for, so its fields take a string
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True)


class Price(_Strict):
    """USD per one million tokens. `batch` is what the Batch API bills: a share of these
    prices (OpenAI bills half), or prices of its own."""

    prompt: float = Field(ge=0)
    cached: float | None = Field(default=None, ge=0)
    completion: float = Field(ge=0)
    batch: float | Price = Field(default=0.5)

    @field_validator("batch")
    @classmethod
    def _share(cls, value: float | Price) -> float | Price:
        if isinstance(value, float | int) and not 0 < value <= 1:
            raise ValueError("a share of the synchronous price: above 0, at most 1")
        return value

    def batch_price(self) -> Price:
        """The prices of a request made through the Batch API."""
        if isinstance(self.batch, Price):
            return self.batch
        share = self.batch
        cached = None if self.cached is None else self.cached * share
        return Price(prompt=self.prompt * share, cached=cached,
                     completion=self.completion * share, batch=1.0)  # fmt: skip

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
    # 0: no skim. After abstract_chars, and checked against it even when left at its default
    skim_chars: int = Field(default=230, ge=0, validate_default=True)
    skim_batch_size: int = Field(default=100, ge=1, le=800)
    concurrency: int = Field(default=8, ge=1, le=64)
    timeout: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    retry_rounds: int = Field(default=2, ge=0, le=5)
    max_cost_usd: float | None = Field(default=None, gt=0)
    prefilter_keep: float = Field(default=1.0, gt=0, le=1)
    min_scored: float = Field(default=0.9, ge=0, le=1)
    temperature: float = Field(default=0.0, ge=0, le=2)
    prices: dict[str, Price] = Field(default_factory=dict)
    mode: Literal["sync", "batch"] = "sync"
    batch_deadline: float = Field(default=7200.0, gt=0)  # seconds a run waits on its batches
    batch_poll: float = Field(default=30.0, gt=0)  # seconds between looks at a batch

    @field_validator("skim_chars")
    @classmethod
    def _skim_reads_less(cls, chars: int, info: ValidationInfo) -> int:
        """A skim of under 100 characters reads too little to judge, and one as long as the
        full read is a full read paid twice."""
        full = info.data.get("abstract_chars", 800)
        if chars and not 100 <= chars < full:
            raise ValueError(f"{chars}: use 0 (no skim) or 100 to {full - 1} (< abstract_chars)")
        return chars


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
    # Off: every mail asks SendGrid not to rewrite its links nor add an open-tracking image,
    # whatever the account's settings; on, the HTML budget leaves room for the longer links.
    click_tracking: bool = False

    def unsubscribe_url_for(self, subscriber_id: str, email: str) -> str | None:
        """`unsubscribe_url` with its `{token}` filled in: a one-click POST (RFC 8058) carries
        no body naming the subscriber, so the URL alone must say who leaves, in a way nobody
        else can write (`links`). `{subscriber_id}` is filled in too, for readable logs."""
        if not self.unsubscribe_url:
            return None
        url = self.unsubscribe_url.replace("{subscriber_id}", quote(subscriber_id, safe=""))
        if "{token}" in url:
            url = url.replace("{token}", links.unsubscribe_token(subscriber_id, email))
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
    path: Path = Field(default=Path("newsletter.db"), strict=False)


class OutputConfig(_Strict):
    outbox: Path = Field(default=Path("outbox"), strict=False)
    max_html_bytes: int = Field(default=100_000, ge=20_000)
    profile_help_url: str | None = None


class ArchiveConfig(_Strict):
    base_url: str | None = None  # where the site from `archive build` is published
    out: Path = Field(default=Path("site"), strict=False)

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
    subscribers_dir: Path = Field(default=Path("subscribers"), strict=False)
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
            sendgrid.unsubscribe_url = self._server_unsubscribe_url()
        return self

    def _server_unsubscribe_url(self) -> str | None:
        return f"{self.web.base_url}/unsubscribe/{{token}}" if self.web.base_url else None

    def signed_links(self) -> list[str]:
        """What the operator configured that puts links signed with NEWSLETTER_SECRET in a
        mail, in the operator's words: the setting to look at when the secret is missing."""
        found = []
        if self.web.base_url:
            served = self.sendgrid.unsubscribe_url == self._server_unsubscribe_url()
            kinds = "vote and unsubscribe links" if served else "vote links"
            found.append(f"[web] base_url is set, and its {kinds} are signed with it")
        url = self.sendgrid.unsubscribe_url
        if url and url != self._server_unsubscribe_url():
            found.append("[sendgrid] unsubscribe_url's {token} is signed with it")
        return found


def format_loc(loc: tuple) -> str:
    """('categories', 1) -> 'categories[1]'; ('llm', 'prices', 'x') -> 'llm.prices.x'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def describe_error(err: ErrorDetails, model: type[BaseModel] | None = None) -> str:
    """One pydantic error as `field: message`, in words a user reads; an unknown key of
    `model` names the key it was probably meant to be."""
    loc = format_loc(err["loc"])
    if err["type"] == "extra_forbidden":
        meant = _meant(str(err["loc"][-1]), _keys_beside(model, err["loc"]) if model else [])
        return f"{loc}: unknown key" + (f" (did you mean '{meant}'?)" if meant else "")
    if err["type"] == "missing":
        return f"{loc}: required but missing"
    return f"{loc}: {err['msg'].removeprefix('Value error, ')}{_unquote_hint(err)}"


def _unquote_hint(err: ErrorDetails) -> str:
    """For a number or a boolean written in quotes ("15"): the value as TOML wants it."""
    given, wanted = err.get("input"), _UNQUOTED.get(err["type"])
    if wanted is None or not isinstance(given, str):
        return ""
    try:
        value = tomllib.loads(f"v = {given.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return ""
    fits = isinstance(value, wanted) and (bool in wanted or not isinstance(value, bool))
    return f" (write {given.strip()} without quotes)" if fits else ""


_UNQUOTED = {"int_type": (int,), "float_type": (int, float), "bool_type": (bool,)}


def _meant(key: str, known: list[str]) -> str | None:
    """The known key a typo was meant to be: two letters swapped first ('modle' -> 'model',
    not 'mode'), else the closest."""
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.75)
    return next((k for k in close if sorted(k) == sorted(key)), close[0] if close else None)


def _keys_beside(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys a file may write where `loc` ends: ('llm', 'x') -> LLMConfig's fields, and
    ('llm', 'prices', 'gpt-4o', 'x') -> Price's. Fields the loader fills in are not keys."""
    inner: object = model
    for part in loc[:-1]:
        if _is_model(inner) and isinstance(part, str):
            field = inner.model_fields.get(part)
            inner = field.annotation if field else None
        elif typing.get_origin(inner) is dict:
            inner = typing.get_args(inner)[1]  # `part` is a key of the table
        elif not isinstance(part, int):  # an int indexes a list, already unwrapped
            return []
        while typing.get_origin(inner) not in (None, dict):  # list[Topic], Topic | None
            inner = next((a for a in typing.get_args(inner) if a is not type(None)), None)
    if not _is_model(inner):
        return []
    return [name for name, f in inner.model_fields.items() if not f.exclude]


def _is_model(value: object) -> TypeGuard[type[BaseModel]]:
    return isinstance(value, type) and issubclass(value, BaseModel)


def read_toml(path: Path, error: type[Exception] = ConfigError) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML ({exc})") from None


def display_path(path: Path) -> str:
    """The path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def resolve_config_path(path: str | Path | None) -> Path:
    """`--config`, else $NEWSLETTER_CONFIG, else ./config.toml if there is one."""
    if path:
        return Path(path)
    env = os.environ.get("NEWSLETTER_CONFIG")
    if env:
        return Path(env)
    if not Path(DEFAULT_CONFIG).exists():
        raise ConfigError(
            f"no config.toml: --config was not given, $NEWSLETTER_CONFIG is not set, and "
            f"there is no {DEFAULT_CONFIG} in {Path.cwd()}: run from the folder that holds "
            "it, or pass --config PATH"
        )
    return Path(DEFAULT_CONFIG)


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate config.toml; raise ConfigError naming the file and every bad key."""
    file = resolve_config_path(path)
    data = read_toml(file)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = (f"{file}: {describe_error(e, Config)}" for e in exc.errors())
        raise ConfigError("\n".join(problems)) from None
    base = file.resolve().parent
    config.source = file
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
