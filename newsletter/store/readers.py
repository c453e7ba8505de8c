"""Who is behind each subscriber id, and the unguessable folder of each one's archive pages.

A profile file given to a new address under an old id is a new reader: the old one's history
moves to a retired id (`ada~1`: profile ids cannot hold `~`), so their archive stays where
their links point and the new reader starts fresh.
"""

from __future__ import annotations

import secrets

from newsletter.store.database import Database, now

# what belongs to the reader behind an id, and moves with them when the id changes hands
READER_TABLES = ("deliveries", "sent_papers", "digests", "archive_tokens", "votes", "held")


class Readers:
    """The address behind each subscriber id, and the ids retired when it changed."""

    def __init__(self, db: Database):
        self.db = db

    def claim(self, subscriber_id: str, email: str) -> str | None:
        """Record that `email` is behind `subscriber_id`. When another address was, the id
        has changed hands: that reader's ledger, papers sent, digests and archive token move
        to a retired id. Returns the retired id, or None."""
        with self.db.transaction() as db:
            row = db.execute(
                "SELECT email FROM subscribers WHERE subscriber_id=?", (subscriber_id,)
            ).fetchone()
            if row is not None and row[0].lower() == email.lower():
                return None
            retired = None
            if row is not None:
                retired = self._free_retired_id(subscriber_id)
                for table in READER_TABLES:
                    db.execute(
                        f"UPDATE {table} SET subscriber_id=? WHERE subscriber_id=?",
                        (retired, subscriber_id),
                    )
            db.execute(
                "INSERT INTO subscribers (subscriber_id, email, since) "
                "VALUES (:subscriber_id, :email, :since) ON CONFLICT(subscriber_id) "
                "DO UPDATE SET email=excluded.email, since=excluded.since",
                {"subscriber_id": subscriber_id, "email": email, "since": now()},
            )
        return retired

    def email(self, subscriber_id: str) -> str | None:
        """The address of the person the id belongs to now, or None if none was recorded."""
        return self.known().get(subscriber_id)

    def had_earlier_reader(self, subscriber_id: str) -> bool:
        """Whether the id has changed hands: an earlier person's history sits at `id~1`."""
        return self._free_retired_id(subscriber_id) != f"{subscriber_id}~1"

    def known(self) -> dict[str, str]:
        """subscriber id -> the address last served under it."""
        return {r[0]: r[1] for r in self.db.read("SELECT subscriber_id, email FROM subscribers")}

    def _free_retired_id(self, subscriber_id: str) -> str:
        n = 1
        while any(
            self.db.read_one(f"SELECT 1 FROM {t} WHERE subscriber_id=?", (f"{subscriber_id}~{n}",))
            for t in READER_TABLES
        ):
            n += 1
        return f"{subscriber_id}~{n}"


class ArchiveTokens:
    """Each subscriber's unguessable archive folder, both ways."""

    def __init__(self, db: Database):
        self.db = db

    def token(self, subscriber_id: str) -> str:
        """The subscriber's token, made on first use and the same ever after."""
        sql = "SELECT token FROM archive_tokens WHERE subscriber_id=?"
        row = self.db.read_one(sql, (subscriber_id,))
        if row is None:  # only then take the write lock: a build may run beside a send
            with self.db.transaction() as db:
                db.execute(
                    "INSERT OR IGNORE INTO archive_tokens (subscriber_id, token) "
                    "VALUES (:subscriber_id, :token)",
                    {"subscriber_id": subscriber_id, "token": secrets.token_urlsafe(16)},
                )
                row = db.execute(sql, (subscriber_id,)).fetchone()
        return row[0]

    def subscriber(self, token: str) -> str | None:
        """Whose token this is, if anyone's."""
        row = self.db.read_one("SELECT subscriber_id FROM archive_tokens WHERE token=?", (token,))
        return row[0] if row else None
