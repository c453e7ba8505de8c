"""Signed links: a token in a URL that says whom it was made for, and that nobody without
the operator's secret can make or alter (RFC 8058 asks that a one-click unsubscribe URL hold
such a hard-to-forge part).

The secret comes from the environment only (`NEWSLETTER_SECRET`), like every other secret.
Changing it invalidates every link already sent.

A subscriber id can pass from one person to another (a profile file given a new address, see
`Readers.claim`), so a link names the person as well as the id: a vote token carries `person`,
a keyed hash of the address it was mailed to, and an unsubscribe token the address itself.
The server refuses a link of an earlier person of the id. Vote tokens made before they named
a person (four values) are still read, with `person` None: the server accepts those only
while the id has had a single person.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from enum import StrEnum
from typing import NamedTuple

from itsdangerous import BadSignature, URLSafeSerializer

from newsletter.errors import ConfigError
from newsletter.models import Vote

SECRET_VARIABLE = "NEWSLETTER_SECRET"


class Purpose(StrEnum):
    """What a token is for: its salt, so that a token made for one is refused for another."""

    VOTE = "vote"
    UNSUBSCRIBE = "unsubscribe"


def secret() -> str:
    value = os.environ.get(SECRET_VARIABLE, "").strip()
    if not value:
        raise ConfigError(
            f"{SECRET_VARIABLE} is not set: links that say who you are need it "
            "(a long random string, e.g. `openssl rand -base64 32`)"
        )
    return value


def make_token(purpose: Purpose, *values: str) -> str:
    return URLSafeSerializer(secret(), salt=purpose).dumps(list(values))


def read_token(purpose: Purpose, token: str) -> list[str] | None:
    """The values a token was made for, or None when it was not made by us for `purpose`."""
    try:
        values = URLSafeSerializer(secret(), salt=purpose).loads(token)
    except BadSignature:
        return None
    return values if isinstance(values, list) and all(isinstance(v, str) for v in values) else None


PERSON_CHARS = 16


class VoteLink(NamedTuple):
    """What a 👍 or 👎 link's token says."""

    subscriber_id: str
    paper_id: str
    vote: Vote
    day: str
    person: str | None  # None in a token made before links named their person


class UnsubscribeLink(NamedTuple):
    """What an unsubscribe link's token says."""

    subscriber_id: str
    email: str


def person(email: str) -> str:
    """Who a link was mailed to, without saying the address: a hash keyed with the secret,
    so nobody can check a guessed address against a link."""
    key = secret().encode()
    mac = hmac.new(key, b"person\0" + email.strip().lower().encode(), hashlib.sha256)
    return mac.hexdigest()[:PERSON_CHARS]


def vote_token(subscriber_id: str, paper_id: str, vote: Vote, day: str, email: str) -> str:
    """A 👍 or 👎 link's token: it acts for this subscriber, paper, vote and day only, and
    only while the id belongs to the person at `email`."""
    return make_token(Purpose.VOTE, subscriber_id, paper_id, vote, day, person(email))


def read_vote(token: str) -> VoteLink | None:
    """What a vote token we made says, or None."""
    values = read_token(Purpose.VOTE, token)
    if values is None or len(values) not in (4, 5) or values[2] not in tuple(Vote):
        return None
    person = values[4] if len(values) == 5 else None
    return VoteLink(values[0], values[1], Vote(values[2]), values[3], person)


def unsubscribe_token(subscriber_id: str, email: str) -> str:
    """An unsubscribe link's token: it acts for this subscriber, at this address only."""
    return make_token(Purpose.UNSUBSCRIBE, subscriber_id, email)


def read_unsubscribe(token: str) -> UnsubscribeLink | None:
    """What an unsubscribe token we made says, or None."""
    values = read_token(Purpose.UNSUBSCRIBE, token)
    return UnsubscribeLink(*values) if values is not None and len(values) == 2 else None
