"""The delivery ledger: one row per (day, subscriber), written before and after each request,
and the papers each subscriber has been sent; and the days held for a reader's next digest.

A weekly digest's row is keyed by the day its period is due on (newsletter.rhythm), whichever
day it goes out: a re-run finds it, as it finds a daily one."""

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
            if status == SENT:  # the days it gathered are let go with it
                db.execute("DELETE FROM held WHERE subscriber_id=:subscriber_id AND day<=:day", key)
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

    def hold(self, subscriber_id: str, day: date) -> None:
        """Keep the day's papers for the subscriber's next digest."""
        with self.db.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO held (subscriber_id, day) VALUES (?, ?)",
                (subscriber_id, day.isoformat()),
            )

    def held(self, subscriber_id: str) -> list[date]:
        """The days kept for the subscriber's next digest, in order."""
        rows = self.db.read(
            "SELECT day FROM held WHERE subscriber_id=? ORDER BY day", (subscriber_id,)
        )
        return [date.fromisoformat(r[0]) for r in rows]

    def release(self, subscriber_id: str, through: date) -> None:
        """Let go of the days held up to `through`: a digest served them (with nothing in it)."""
        with self.db.transaction() as db:
            db.execute(
                "DELETE FROM held WHERE subscriber_id=? AND day<=?",
                (subscriber_id, through.isoformat()),
            )
