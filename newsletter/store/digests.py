"""Each digest's selection as sent or previewed: what the archive and the feeds show."""

from __future__ import annotations

import json
from datetime import date
from typing import Any, NamedTuple

from newsletter.store.database import Database, insert_sql, now

SAVE = insert_sql(
    "digests", ("day", "subscriber_id", "kind", "selection", "created_at"), conflict="REPLACE"
)


class StoredDigest(NamedTuple):
    day: date
    subscriber_id: str
    selection: dict[str, Any]  # a SavedDigest's JSON


class Digests:
    """The selection of each digest sent or previewed, by day and subscriber."""

    def __init__(self, db: Database):
        self.db = db

    def save(self, day: date, subscriber_id: str, kind: str, selection: dict) -> None:
        with self.db.transaction() as db:
            db.execute(SAVE, {
                "day": day.isoformat(),
                "subscriber_id": subscriber_id,
                "kind": kind,
                "selection": json.dumps(selection),
                "created_at": now(),
            })  # fmt: skip

    def load(
        self, subscriber_id: str | None = None, *, sent_only: bool = False
    ) -> list[StoredDigest]:
        """Every digest, or one subscriber's, by subscriber and day: where a day has both,
        the one sent rather than the preview. `sent_only`: no preview at all."""
        sql = "SELECT day, subscriber_id, kind, selection FROM digests WHERE 1"
        args: list[str] = []
        if subscriber_id is not None:
            sql += " AND subscriber_id=?"
            args.append(subscriber_id)
        if sent_only:
            sql += " AND kind='sent'"
        sql += " ORDER BY subscriber_id, day, kind='sent'"
        chosen: dict[tuple[str, str], str] = {}
        for r in self.db.read(sql, args):
            chosen[(r["subscriber_id"], r["day"])] = r["selection"]  # "sent" comes last
        return [
            StoredDigest(date.fromisoformat(d), s, json.loads(sel))
            for (s, d), sel in chosen.items()
        ]
