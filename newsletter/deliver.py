"""Deliver: hand each rendered digest to SendGrid exactly once (a dry run writes it to the
outbox instead, `newsletter.outbox`, behind the same `Mailer` interface).

Exactly once per (day, subscriber) rests on the delivery ledger in the store. A row is committed
as `sending` before the request leaves and updated with the outcome afterwards. A row found
still `sending` on a later run (the process died mid-request), or marked `unknown` (the
connection dropped after the request was written), means SendGrid may already have the mail.
SendGrid has no idempotency key, so sending again could deliver twice: such rows are reported,
not retried, until the operator has checked SendGrid's activity feed and passes `--force`.

For the same reason a single `send` retries only where SendGrid cannot have accepted the mail:
a 429 or 5xx answer, or a failure while the request was still being written (refused, connect
timeout). A lost connection or read timeout after that raises `UnknownOutcome`.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.error import URLError

import sendgrid
from python_http_client.exceptions import HTTPError
from sendgrid.helpers.mail import (
    Asm,
    Category,
    ClickTracking,
    CustomArg,
    From,
    GroupId,
    Header,
    Mail,
    OpenTracking,
    To,
    TrackingSettings,
)

from newsletter.config import SendgridConfig
from newsletter.errors import ConfigError, CredentialsRejected, DeliveryError, StoreError
from newsletter.models import Email, SavedDigest, Status
from newsletter.retry import Retryable, RetryPolicy, retryable_answer
from newsletter.store import Store

T = TypeVar("T")
CATEGORY = "arxiv-digest"
DETAIL_CHARS = 300
# The preview's headers as SendGrid sends them: folded only past RFC 5322's 998 characters.
# At the default policy's 78, a List-Unsubscribe URL with no space to fold at becomes RFC 2047
# encoded-words, which SendGrid never sends and one-click parsers may not decode.
MIME_POLICY = policy.default.clone(max_line_length=998)


class UnknownOutcome(DeliveryError):
    """The request was written but no answer came back: SendGrid may have accepted it."""


@dataclass(frozen=True)
class Envelope:
    """Everything about one outgoing digest besides its bodies."""

    day: date
    subscriber_id: str
    to_email: str
    to_name: str
    paper_ids: tuple[str, ...]


@dataclass
class Delivery:
    """What became of one digest handed to SendGrid (or found in the ledger), or previewed."""

    status: Status  # sent, skipped (sent before), failed, unknown or previewed
    message_id: str | None = None
    detail: str = ""
    paths: tuple[Path, ...] = ()  # a preview's files


class Mailer(Protocol):
    """Where a run's rendered digests go: SendGrid, exactly once through the ledger, or the
    dry run's outbox. A run holds one and never asks which."""

    def prior(self, day: date, subscriber_id: str) -> Delivery | None:
        """What went before for (day, subscriber), not to be scored again; None: it is to go."""

    def deliver(self, email: Email, env: Envelope, record: SavedDigest) -> Delivery:
        """Hand over one digest; `record` is the selection as the archive keeps it."""


# -- what is sent -------------------------------------------------------------------------


def unsubscribe_headers(env: Envelope, config: SendgridConfig) -> dict[str, str]:
    """List-Unsubscribe (RFC 2369), plus the one-click POST header when RFC 8058 allows it.

    With an unsubscribe group, SendGrid adds its own List-Unsubscribe (one-click included)
    and hosts the page behind it: ours would only duplicate it.
    """
    if config.unsubscribe_group_id is not None:
        return {}
    links = []
    url = config.unsubscribe_url_for(env.subscriber_id, env.to_email)
    if url:
        links.append(f"<{url}>")
    mailto = (config.unsubscribe_mailto or config.from_email).removeprefix("mailto:")
    if "?" not in mailto:
        mailto += "?subject=unsubscribe"
    links.append(f"<mailto:{mailto}>")
    headers = {"List-Unsubscribe": ", ".join(links)}
    if url and url.lower().startswith("https://"):
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers


def build_payload(email: Email, env: Envelope, config: SendgridConfig) -> dict:
    """The SendGrid v3 `mail/send` JSON body for one digest."""
    mail = Mail(
        from_email=From(config.from_email, config.from_name or None),
        to_emails=To(env.to_email, env.to_name or None),
        subject=email.subject,
        plain_text_content=email.text,
        html_content=email.html,
    )
    # The helper emits headers, categories and custom args in reverse order of adding.
    for key, value in reversed(unsubscribe_headers(env, config).items()):
        mail.add_header(Header(key, value))
    for name in reversed(categories(env)):
        mail.add_category(Category(name))
    for key, value in reversed(custom_args(env).items()):
        mail.add_custom_arg(CustomArg(key, value))
    if config.unsubscribe_group_id is not None:
        mail.asm = Asm(GroupId(config.unsubscribe_group_id))
    mail.tracking_settings = tracking_settings(config.click_tracking)
    return mail.get()


def tracking_settings(enabled: bool) -> TrackingSettings:
    """Click and open tracking as the operator chose, overriding the account's settings:
    rewritten links lengthen the email past Gmail's clipping size (render.py budgets for
    them only when they are on)."""
    return TrackingSettings(
        click_tracking=ClickTracking(enable=enabled, enable_text=enabled),
        open_tracking=OpenTracking(enable=enabled),
    )


def categories(env: Envelope) -> list[str]:
    return [CATEGORY, f"digest-{env.day.isoformat()}"]


def custom_args(env: Envelope) -> dict[str, str]:
    return {"digest_date": env.day.isoformat(), "subscriber_id": env.subscriber_id}


def build_mime(email: Email, env: Envelope, config: SendgridConfig) -> bytes:
    """The same digest as a complete RFC 5322 message, for the `.eml` preview: its headers
    are those of `build_payload`, byte for byte."""
    msg = EmailMessage(policy=MIME_POLICY)
    msg["From"] = Address(config.from_name, addr_spec=config.from_email)
    msg["To"] = Address(env.to_name, addr_spec=env.to_email)
    msg["Subject"] = email.subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=config.from_email.rpartition("@")[2] or None)
    for key, value in unsubscribe_headers(env, config).items():
        msg[key] = value
    msg.set_content(email.text)
    msg.add_alternative(email.html, subtype="html")
    return msg.as_bytes()


# -- talking to SendGrid ------------------------------------------------------------------


def connect(config: SendgridConfig, api_key: str | None) -> sendgrid.SendGridAPIClient:
    """The official client for SendGrid's v3 API, with the configured host and timeout."""
    if not api_key:  # the run cannot start: exit 2, as for every missing key
        raise ConfigError("SENDGRID_API_KEY is not set: SendGrid's API needs it")
    client = sendgrid.SendGridAPIClient(api_key=api_key, host=config.api_host)
    # The client has no timeout of its own: a hung server would block the run forever.
    client.client.timeout = config.timeout
    return client


def retrying(policy: RetryPolicy, call: Callable[[], T]) -> T:
    """`call` under the project's retry policy; what still fails after it is a DeliveryError."""
    try:
        return policy.call(call, what="SendGrid")
    except Retryable as exc:
        raise DeliveryError(f"{exc} (gave up after {policy.attempts} attempts)") from None


class SendgridSender:
    """SendGrid's mail/send through the official client and the project's retry policy
    (`newsletter.retry`): it raises `Retryable` only where SendGrid cannot have accepted the
    mail."""

    def __init__(
        self,
        config: SendgridConfig,
        api_key: str | None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.config = config
        self.client = connect(config, api_key)
        self.policy = RetryPolicy.of(config, sleep)

    def send(self, payload: dict) -> str | None:
        """POST the payload; return SendGrid's X-Message-Id."""
        return retrying(self.policy, lambda: self._post(payload))

    def _post(self, payload: dict) -> str | None:
        try:
            response = self.client.send(payload)
        except HTTPError as exc:
            raise answer_error(exc) from None
        except URLError as exc:
            # urllib wraps only errors raised while the request was being written.
            raise Retryable(f"cannot reach {self.config.api_host}: {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise UnknownOutcome(
                f"no response from SendGrid after the request was sent "
                f"({type(exc).__name__}: {exc}); it may have been accepted"
            ) from None
        return response.headers.get("X-Message-Id")


def answer_error(exc: HTTPError) -> Exception:
    """SendGrid's error answer as an exception: 429 and 5xx may be tried again, others not;
    a refused key stops the run, since every other request would be refused too."""
    detail = http_detail(exc)
    if exc.status_code in (401, 403):
        return CredentialsRejected(
            f"SendGrid refused SENDGRID_API_KEY ({detail}): check the key and its permissions "
            "(mail send, suppressions read)"
        )
    return retryable_answer(exc.status_code, detail, exc.headers) or DeliveryError(detail)


def http_detail(exc: HTTPError) -> str:
    """`SendGrid 400: message (field); ...` from SendGrid's JSON error body."""
    try:
        errors = json.loads(exc.body)["errors"]
        text = "; ".join(
            f"{e['message']} ({e['field']})" if e.get("field") else e["message"] for e in errors
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        text = str(getattr(exc, "reason", "") or "")
    return f"SendGrid {exc.status_code}: {text}" if text else f"SendGrid {exc.status_code}"


# -- exactly once, through the ledger -----------------------------------------------------


UNKNOWN_HINT = (
    "previous attempt's outcome unknown; check SendGrid activity, then rerun with --force"
)


def prior_delivery(store: Store, day: date, subscriber_id: str) -> Delivery | None:
    """What the ledger already says of (day, subscriber): sent, maybe sent, or None (send it)."""
    row = store.ledger.delivery(day, subscriber_id)
    if row is None:
        return None
    if row.status == Status.SENT:
        return Delivery(Status.SKIPPED, row.message_id, f"already sent {row.updated_at}")
    if row.status in (Status.SENDING, Status.UNKNOWN):
        return Delivery(Status.UNKNOWN, row.message_id, UNKNOWN_HINT)
    return None


def deliver(
    store: Store,
    sender: SendgridSender,
    email: Email,
    env: Envelope,
    config: SendgridConfig,
    *,
    force: bool = False,
) -> Delivery:
    """Send one digest unless the ledger says it went, or may have gone (unless `force`)."""
    prior = prior_delivery(store, env.day, env.subscriber_id)
    if prior is not None and (prior.status == Status.SKIPPED or not force):
        return prior
    payload = build_payload(email, env, config)
    store.ledger.begin(env.day, env.subscriber_id, env.to_email)
    try:
        message_id = sender.send(payload)
    except UnknownOutcome as exc:
        store.ledger.finish(env.day, env.subscriber_id, Status.UNKNOWN, error=str(exc))
        return Delivery(Status.UNKNOWN, detail=one_line(f"{exc}; check SendGrid activity"))
    except DeliveryError as exc:
        store.ledger.finish(env.day, env.subscriber_id, Status.FAILED, error=str(exc))
        return Delivery(Status.FAILED, detail=one_line(str(exc)))
    except CredentialsRejected as exc:  # not sent, and not the reader's failure: the run stops
        store.ledger.finish(env.day, env.subscriber_id, Status.FAILED, error=str(exc))
        raise
    try:
        store.ledger.finish(
            env.day, env.subscriber_id, Status.SENT, message_id=message_id, paper_ids=env.paper_ids
        )
    except StoreError as exc:  # the row stays `sending`: the next run asks before sending
        return Delivery(Status.UNKNOWN, message_id, one_line(f"SendGrid accepted it, but {exc}"))
    return Delivery(Status.SENT, message_id, f"to {env.to_email}")


@dataclass
class SendgridMailer:
    """The real send: each digest to SendGrid unless the ledger says it went, or may have
    (`force` sends the latter again, never the former)."""

    store: Store
    client: SendgridSender
    config: SendgridConfig
    force: bool = False

    def prior(self, day: date, subscriber_id: str) -> Delivery | None:
        prior = prior_delivery(self.store, day, subscriber_id)
        if prior is None or (self.force and prior.status == Status.UNKNOWN):
            return None
        return prior

    def deliver(self, email: Email, env: Envelope, record: SavedDigest) -> Delivery:
        result = deliver(self.store, self.client, email, env, self.config, force=self.force)
        if result.status == Status.SENT:  # the archive shows what readers received, nothing else
            digest = record.model_dump(mode="json")
            self.store.digests.save(env.day, env.subscriber_id, "sent", digest)
        return result


def one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


# -- files that are never seen half-written ----------------------------------------------
