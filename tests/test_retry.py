"""The retry policy shared by the arXiv listing and SendGrid: what it waits, how often it tries.

The HTTP side (real clients against the local fakes) is in test_fetch, test_deliver and
test_suppressions; here the policy is called with plain functions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import format_datetime

import pytest

from newsletter.retry import (
    BACKOFF_CAP,
    RETRY_AFTER_CAP,
    Retryable,
    RetryPolicy,
    retry_after,
    retryable_answer,
)

NOW = datetime(2025, 4, 10, 12, 0, tzinfo=UTC)


def http_date(delta: timedelta) -> str:
    return format_datetime(NOW + delta, usegmt=True)


class TestRetryAfter:
    @pytest.mark.parametrize(
        ("value", "wait"),
        [("0", 0.0), ("7", 7.0), (" 12 ", 12.0), ("1.5", 1.5), ("3600", RETRY_AFTER_CAP)],
    )
    def test_delta_seconds_capped(self, value, wait):
        assert retry_after(value, now=NOW) == wait

    def test_an_http_date_is_the_time_until_it(self):
        assert retry_after(http_date(timedelta(seconds=30)), now=NOW) == 30.0
        assert retry_after("Thu, 10 Apr 2025 12:00:45 -0000", now=NOW) == 45.0

    def test_an_http_date_far_ahead_is_capped_and_one_past_means_now(self):
        assert retry_after(http_date(timedelta(hours=2)), now=NOW) == RETRY_AFTER_CAP
        assert retry_after(http_date(timedelta(seconds=-90)), now=NOW) == 0.0

    @pytest.mark.parametrize(
        "value",
        [None, "", "-5", "nan", "NaN", "inf", "-inf", "1e3", "0x10", "soon", "Thu, 99 Foo 2025"],
    )
    def test_bad_values_are_ignored(self, value):
        assert retry_after(value, now=NOW) is None


class TestRetryableAnswer:
    def test_429_and_5xx_are_retryable_with_the_servers_wait(self):
        headers = Message()
        headers["Retry-After"] = "9"
        for status in (429, 500, 502, 503):
            found = retryable_answer(status, f"HTTP {status}", headers)
            assert isinstance(found, Retryable)
            assert (str(found), found.retry_after) == (f"HTTP {status}", 9.0)
        assert retryable_answer(503, "HTTP 503", None).retry_after is None

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
    def test_other_4xx_are_final(self, status):
        assert retryable_answer(status, "no", Message()) is None


class Flaky:
    """Fails with the given exceptions in turn, then returns "ok"."""

    def __init__(self, *failures: Exception):
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


class TestRetryPolicy:
    def test_backs_off_exponentially_then_succeeds(self):
        pauses: list[float] = []
        call = Flaky(Retryable("a"), Retryable("b"), Retryable("c"))
        assert RetryPolicy(3, 0.5, pauses.append).call(call, what="t") == "ok"
        assert (call.calls, pauses) == (4, [0.5, 1.0, 2.0])

    def test_the_backoff_is_capped(self):
        pauses: list[float] = []
        RetryPolicy(3, 40.0, pauses.append).call(Flaky(*[Retryable("x")] * 3), what="t")
        assert pauses == [40.0, BACKOFF_CAP, BACKOFF_CAP]

    def test_the_servers_wait_replaces_the_backoff(self):
        pauses: list[float] = []
        call = Flaky(Retryable("a", retry_after=7.0), Retryable("b"), Retryable("c", 0.0))
        RetryPolicy(3, 1.0, pauses.append).call(call, what="t")
        assert pauses == [7.0, 2.0, 0.0]

    def test_gives_up_after_the_retries_with_the_last_failure(self):
        pauses: list[float] = []
        call = Flaky(*(Retryable(f"failure {i}") for i in range(10)))
        policy = RetryPolicy(2, 0.0, pauses.append)
        with pytest.raises(Retryable, match=r"^failure 2$"):
            policy.call(call, what="t")
        assert (call.calls, policy.attempts, pauses) == (3, 3, [0.0, 0.0])

    def test_no_retries_means_one_attempt(self):
        call = Flaky(Retryable("x"), Retryable("y"))
        with pytest.raises(Retryable, match=r"^x$"):
            RetryPolicy(0, 1.0, pytest.fail).call(call, what="t")
        assert call.calls == 1

    def test_other_errors_are_never_retried(self):
        call = Flaky(ValueError("final"))
        with pytest.raises(ValueError, match="final"):
            RetryPolicy(3, 1.0, pytest.fail).call(call, what="t")
        assert call.calls == 1

    def test_of_reads_a_config_section(self):
        class Section:
            retries, retry_delay = 4, 0.25

        policy = RetryPolicy.of(Section())
        assert (policy.retries, policy.delay, policy.attempts) == (4, 0.25, 5)


def test_each_retry_reaches_the_operator_as_a_warning_line(capsys):
    from newsletter.cli.base import show_warnings

    show_warnings()
    tries = iter([Retryable("HTTP 503"), Retryable("HTTP 502"), "listing"])

    def attempt() -> str:
        result = next(tries)
        if isinstance(result, Exception):
            raise result
        return result

    policy = RetryPolicy(2, 0.5, sleep=lambda _s: None)
    assert policy.call(attempt, what="arXiv listing") == "listing"
    assert capsys.readouterr().err.splitlines() == [
        "warning: arXiv listing: HTTP 503; retrying in 0.5 s (1/2)",
        "warning: arXiv listing: HTTP 502; retrying in 1 s (2/2)",
    ]
