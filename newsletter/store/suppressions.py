"""Who asked not to be mailed, or cannot be: a copy of SendGrid's suppression lists, and who
unsubscribed through the server's one-click link (which a sync never replaces)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from newsletter.store.database import Database, insert_sql, now


class Suppression(NamedTuple):
    """One address on one list: `source` is SendGrid's list, or "server" for a one-click
    unsubscribe; `created` is SendGrid's timestamp, when it gave one."""

    email: str
    source: str
    reason: str
    detail: str
    created: int | None = None


SAVE = insert_sql("suppressions", Suppression._fields, conflict="REPLACE")
SYNCED_AT = "suppressions_synced_at"


class Suppressions:
    """The last synced copy of SendGrid's suppression lists."""

    def __init__(self, db: Database):
        self.db = db

    def replace(self, rows: Iterable[tuple[str, str, str, str, int | None]]) -> None:
        """Swap in a fresh copy of SendGrid's lists: (email, source, reason, detail, created)."""
        fresh = [Suppression(*row) for row in rows]
        with self.db.transaction() as db:
            db.execute("DELETE FROM suppressions")
            db.executemany(SAVE, [s._replace(email=s.email.lower())._asdict() for s in fresh])
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (:key, :value)",
                {"key": SYNCED_AT, "value": now()},
            )

    def all(self) -> list[Suppression]:
        rows = self.db.read(
            f"SELECT {', '.join(Suppression._fields)} FROM suppressions ORDER BY email, source"
        )
        return [Suppression(*r) for r in rows]

    def synced_at(self) -> str | None:
        found = self.db.read_one("SELECT value FROM meta WHERE key=?", (SYNCED_AT,))
        return found[0] if found else None


class Unsubscribes:
    """Addresses that left through the server's one-click link, lowercased."""

    def __init__(self, db: Database):
        self.db = db

    def add(self, subscriber_id: str, email: str) -> None:
        with self.db.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO unsubscribes (email, subscriber_id, created_at) "
                "VALUES (:email, :subscriber_id, :created_at)",
                {"email": email.lower(), "subscriber_id": subscriber_id, "created_at": now()},
            )

    def remove(self, email: str) -> None:
        with self.db.transaction() as db:
            db.execute("DELETE FROM unsubscribes WHERE email=?", (email.lower(),))

    def contains(self, email: str) -> bool:
        found = self.db.read_one("SELECT 1 FROM unsubscribes WHERE email=?", (email.lower(),))
        return found is not None

    def as_suppressions(self) -> list[Suppression]:
        """What the run skips like an entry of SendGrid's lists."""
        rows = self.db.read("SELECT email, created_at FROM unsubscribes")
        return [Suppression(r[0], "server", "unsubscribed", f"one-click, {r[1]}") for r in rows]
