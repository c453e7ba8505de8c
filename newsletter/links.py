"""Signed links: a token in a URL that says whom it was made for, and that nobody without
the operator's secret can make or alter (RFC 8058 asks that a one-click unsubscribe URL hold
such a hard-to-forge part).

The secret comes from the environment only (`NEWSLETTER_SECRET`), like every other secret.
Changing it invalidates every link already sent.
"""

from __future__ import annotations

import os

from itsdangerous import BadSignature, URLSafeSerializer

from newsletter.errors import ConfigError

SECRET_VARIABLE = "NEWSLETTER_SECRET"
UNSUBSCRIBE = "unsubscribe"  # the salt: a token made for one purpose is refused for another


def secret() -> str:
    value = os.environ.get(SECRET_VARIABLE, "").strip()
    if not value:
        raise ConfigError(
            f"{SECRET_VARIABLE} is not set: links that say who you are need it "
            "(a long random string, e.g. `openssl rand -base64 32`)"
        )
    return value


def make_token(purpose: str, *values: str) -> str:
    return URLSafeSerializer(secret(), salt=purpose).dumps(list(values))


def read_token(purpose: str, token: str) -> list[str] | None:
    """The values a token was made for, or None when it was not made by us for `purpose`."""
    try:
        values = URLSafeSerializer(secret(), salt=purpose).loads(token)
    except BadSignature:
        return None
    return values if isinstance(values, list) and all(isinstance(v, str) for v in values) else None


VOTE = "vote"
UP, DOWN = "up", "down"


def vote_token(subscriber_id: str, paper_id: str, vote: str, day: str) -> str:
    """A 👍 or 👎 link's token: it acts for this subscriber, paper, vote and day only."""
    return make_token(VOTE, subscriber_id, paper_id, vote, day)


def read_vote(token: str) -> tuple[str, str, str, str] | None:
    """(subscriber, paper, vote, day) of a token we made, or None."""
    values = read_token(VOTE, token)
    if values is None or len(values) != 4 or values[2] not in (UP, DOWN):
        return None
    return values[0], values[1], values[2], values[3]


def read_unsubscribe(token: str) -> tuple[str, str] | None:
    """(subscriber, email) of an unsubscribe token we made, or None."""
    values = read_token(UNSUBSCRIBE, token)
    return (values[0], values[1]) if values is not None and len(values) == 2 else None
