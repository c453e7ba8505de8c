"""One retry policy for the HTTP calls the project makes itself: arXiv's RSS listing and its
API, SendGrid's mail send and its suppression lists. (The OpenAI client retries inside itself.)

A call that may fail for a while raises `Retryable`: a timeout, a refused or dropped connection,
HTTP 429 or 5xx (`retryable_answer` sorts HTTP answers), a body cut short. Anything else goes
straight through. `RetryPolicy.call` tries again up to `retries` more times, waiting what the
server asked for in `Retry-After` (seconds or an HTTP date, at most `RETRY_AFTER_CAP`) or else
an exponential backoff from `retry_delay`, and re-raises the last `Retryable` when it gives up.
Deciding what is safe to retry stays with the caller: a mail is retried only where SendGrid
cannot have accepted it, which only the sender can tell. Each retry is logged as a warning on
the `newsletter` logger, which the CLI shows as a `warning: ...` line (`cli.base.show_warnings`).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol, TypeVar

import tenacity

log = logging.getLogger(__name__)
T = TypeVar("T")

# A server asking for a longer pause than this is not going to be waited for in a cron job.
RETRY_AFTER_CAP = 60.0
BACKOFF_CAP = 60.0
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


class Retryable(Exception):
    """A failure a later attempt may not meet; `retry_after` is the server's requested wait."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class Headers(Protocol):
    """An HTTP answer's headers, looked up by name: requests' (arXiv) or email's `Message`
    (SendGrid's client, on urllib)."""

    def get(self, name: str, /) -> str | None: ...


class RetrySettings(Protocol):
    """What a config section says about retrying (ArxivConfig, SendgridConfig)."""

    retries: int
    retry_delay: float


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value, delta-seconds or an HTTP date, capped.

    None when there is none or it cannot be read (negative, `nan`, `inf`, garbage): the
    backoff applies then. A date already past means now.
    """
    value = (value or "").strip()
    if not value:
        return None
    if _SECONDS.fullmatch(value):
        return min(float(value), RETRY_AFTER_CAP)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, by RFC 5322
        when = when.replace(tzinfo=UTC)
    wait = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(wait, 0.0), RETRY_AFTER_CAP) if math.isfinite(wait) else None


def retryable_answer(status: int, reason: str, headers: Headers | None) -> Retryable | None:
    """The Retryable for an HTTP error answer that may change (429, 5xx), else None."""
    if status != 429 and status < 500:
        return None
    return Retryable(reason, retry_after(headers.get("Retry-After") if headers else None))


@dataclass(frozen=True)
class RetryPolicy:
    """Up to `retries` more attempts after the first, for `Retryable` failures only."""

    retries: int
    delay: float
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def of(cls, settings: RetrySettings, sleep: Callable[[float], None] = time.sleep):
        return cls(settings.retries, settings.retry_delay, sleep)

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def call(self, attempt: Callable[[], T], *, what: str) -> T:
        """`attempt()`, retried per the policy; the last `Retryable` when it gives up."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(Retryable),
            sleep=self.sleep,
            before_sleep=lambda state: self._log(what, state),
            reraise=True,
        )
        return retrying(attempt)

    def _pause(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return min(self.delay * 2 ** (attempt - 1), BACKOFF_CAP)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        return self._pause(state.attempt_number, getattr(failure, "retry_after", None))

    def _log(self, what: str, state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        n = state.attempt_number
        log.warning("%s: %s; retrying in %g s (%d/%d)", what, failure, wait, n, self.retries)
