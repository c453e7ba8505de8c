"""The delivery ledger: one row per (day, subscriber), written before and after each request,
and the papers each subscriber has been sent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from newsletter.store.database import Database, now

# Delivery states. `sending` is written before the request: finding it on a later run means
# the outcome is unknown (the process died or the connection dropped mid-request).
SENDING, SENT, FAILED, UNKNOWN = "sending", "sent", "failed", "unknown"


@dataclass(frozen=True)
class LedgerEntry:
    """What the ledger says of one (day, subscriber)."""

    day: date
    subscriber_id: str
    email: str
    status: str
    attempts: int
    message_id: str | None
    error: str | None
    updated_at: str


ENTRY_COLUMNS = ", ".join(LedgerEntry.__dataclass_fields__)


class Ledger:
    """Who was sent (or may have been sent) what, on which day."""

    def __init__(self, db: Database):
        self.db = db

    def delivery(self, day: date, subscriber_id: str) -> LedgerEntry | None:
        row = self.db.read_one(
            f"SELECT {ENTRY_COLUMNS} FROM deliveries WHERE day=? AND subscriber_id=?",
            (day.isoformat(), subscriber_id),
        )
        return LedgerEntry(date.fromisoformat(row[0]), *row[1:]) if row else None

    def begin(self, day: date, subscriber_id: str, email: str) -> None:
        """Written (and committed) before the request leaves."""
        with self.db.transaction() as db:
            db.execute(
                "INSERT INTO deliveries (day, subscriber_id, email, status, attempts, updated_at) "
                "VALUES (:day, :subscriber_id, :email, :status, 1, :updated_at) "
                "ON CONFLICT(day, subscriber_id) DO UPDATE SET "
                "status=excluded.status, email=excluded.email, attempts=attempts+1, "
                "error=NULL, updated_at=excluded.updated_at",
                {"day": day.isoformat(), "subscriber_id": subscriber_id, "email": email,
                 "status": SENDING, "updated_at": now()},
            )  # fmt: skip

    def finish(
        self,
        day: date,
        subscriber_id: str,
        status: str,
        *,
        message_id: str | None = None,
        error: str | None = None,
        paper_ids: Iterable[str] = (),
    ) -> None:
        """Record the outcome; on success, also the papers now sent (one transaction)."""
        key = {"day": day.isoformat(), "subscriber_id": subscriber_id}
        with self.db.transaction() as db:
            db.execute(
                "UPDATE deliveries SET status=:status, message_id=:message_id, error=:error, "
                "updated_at=:updated_at WHERE day=:day AND subscriber_id=:subscriber_id",
                key | {"status": status, "message_id": message_id, "error": error,
                       "updated_at": now()},
            )  # fmt: skip
            if status == SENT:
                db.executemany(
                    "INSERT OR IGNORE INTO sent_papers (subscriber_id, paper_id, day) "
                    "VALUES (:subscriber_id, :paper_id, :day)",
                    [key | {"paper_id": pid} for pid in paper_ids],
                )

    def sent_paper_ids(self, subscriber_id: str, before: date | None = None) -> set[str]:
        """Papers this subscriber was sent (on days before `before`, if given)."""
        sql, args = "SELECT paper_id FROM sent_papers WHERE subscriber_id=?", [subscriber_id]
        if before is not None:
            sql += " AND day<?"
            args.append(before.isoformat())
        return {r[0] for r in self.db.read(sql, args)}
