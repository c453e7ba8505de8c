"""What a reader teaches their digest: 👍 and 👎 on papers, from the email's links (through
`newsletter serve`) or by hand (`newsletter subscribers like`), and the examples a run puts
into the prompts from them.

A vote is stored with the paper's title, newest counting, so the prompt can say "papers this
reader liked" without the abstract; a paper not in the store is looked up once on the arXiv API.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import date
from typing import NamedTuple

from newsletter import backfill
from newsletter.config import ArxivConfig, Config
from newsletter.errors import FetchError
from newsletter.models import Vote, VoteSource
from newsletter.profiles import Profile
from newsletter.store import Store

WORDS: dict[Vote, str] = {Vote.UP: "liked", Vote.DOWN: "did not want"}
Notify = Callable[[str], None]


def taught(config: Config, store: Store, profile: Profile) -> Profile:
    """The profile with its reader's latest likes and dislikes, for the prompts, as the store
    has them: it only reads (`refresh_examples` records what the profile files add)."""
    limit = config.web.examples
    liked = store.votes.titles(profile.id, Vote.UP, limit)
    disliked = store.votes.titles(profile.id, Vote.DOWN, limit)
    if not liked and not disliked:
        return profile
    return profile.model_copy(update={"liked_titles": liked, "disliked_titles": disliked})


def refresh_examples(
    config: Config, store: Store, profiles: Iterable[Profile], warn: Notify
) -> int:
    """Record the ids the profile files list as `liked`/`disliked`, once, the first time they
    are seen (their titles looked up on arXiv when the store lacks them); return how many."""
    recorded = 0
    for profile in profiles:
        try:
            recorded += record_profile_examples(config.arxiv, store, profile)
        except FetchError as exc:  # the examples wait for the next run; the digest does not
            warn(f"{profile.id}: the profile's liked/disliked titles could not be looked up "
                 f"({exc})")  # fmt: skip
    return recorded


def record_profile_examples(config: ArxivConfig, store: Store, profile: Profile) -> int:
    """Store the profile's `liked`/`disliked` ids not voted on yet (a vote from the email
    counts over the file's list); return how many were stored."""
    known = store.votes.voted_ids(profile.id)
    recorded = 0
    for vote, ids in ((Vote.UP, profile.liked), (Vote.DOWN, profile.disliked)):
        new = [i for i in ids if i not in known]
        if new:
            titles = look_up_titles(config, store, new)
            for pid, title in titles.items():
                store.votes.record(profile.id, pid, vote, title, date.today(), VoteSource.PROFILE)
            recorded += len(titles)
    return recorded


def look_up_titles(config: ArxivConfig, store: Store, ids: Iterable[str]) -> dict[str, str]:
    """arXiv id -> title: from the store, else from the arXiv API (ids it does not know are
    left out)."""
    wanted = [i.strip().removeprefix("arXiv:") for i in ids]
    titles = {pid: p.title for pid, p in store.papers.load(wanted).items()}
    missing = [i for i in wanted if i not in titles]
    found = backfill.fetch_by_id(config, missing)
    return titles | {pid: paper.title for pid, paper in found.items()}


class Taught(NamedTuple):
    titles: dict[str, str]  # id -> title, of each paper the vote was recorded on
    unknown: list[str]  # ids neither the store nor arXiv knows


def teach(
    config: ArxivConfig, store: Store, subscriber_id: str, ids: list[str], vote: Vote
) -> Taught:
    """Record `vote` on each paper by hand."""
    try:
        titles = look_up_titles(config, store, ids)
    except FetchError as exc:
        key = "liked" if vote == Vote.UP else "disliked"
        raise FetchError(
            f"{exc}; nothing recorded. Offline, only papers already in the store (from a day "
            f"fetched before) can be {key}; or add the ids to `{key}` in the profile file, "
            "looked up by the next run"
        ) from None
    for pid, title in titles.items():
        store.votes.record(subscriber_id, pid, vote, title, date.today(), VoteSource.HAND)
    return Taught(titles, [i for i in ids if i.strip().removeprefix("arXiv:") not in titles])


class RateLimit:
    """At most `count` actions per subscriber in any `seconds`: a leaked link, or a script,
    cannot flood a reader's examples."""

    def __init__(self, count: int, seconds: float = 3600.0):
        self.count, self.seconds = count, seconds
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - self.seconds:
                seen.popleft()
            if len(seen) >= self.count:
                return False
            seen.append(now)
            return True
