"""The Batch API's batches, by a digest of their requests: stored before a run waits on one,
so a run that crashed meanwhile collects it instead of paying for it again."""

from __future__ import annotations

from typing import NamedTuple

from newsletter.store.database import Database, now

SUBMITTED = "submitted"


class BatchRecord(NamedTuple):
    batch_id: str
    status: str


class Batches:
    """The last batch made for each set of requests, and its status."""

    def __init__(self, db: Database):
        self.db = db

    def in_flight(self, request_key: str) -> str | None:
        """The id of the batch submitted for these requests and not yet collected."""
        found = self.last(request_key)
        return found.batch_id if found and found.status == SUBMITTED else None

    def last(self, request_key: str) -> BatchRecord | None:
        """The last batch made for these requests, whatever its status."""
        row = self.db.read_one(
            "SELECT batch_id, status FROM batches WHERE request_key=?", (request_key,)
        )
        return BatchRecord(*row) if row else None

    def save(self, request_key: str, batch_id: str, status: str = SUBMITTED) -> None:
        """Record a batch as submitted (before waiting on it), or how it ended."""
        at = now()
        with self.db.transaction() as db:
            db.execute(
                "INSERT INTO batches (request_key, batch_id, status, submitted_at, updated_at) "
                "VALUES (:request_key, :batch_id, :status, :at, :at) "
                "ON CONFLICT(request_key) DO UPDATE SET batch_id=excluded.batch_id, "
                "status=excluded.status, updated_at=excluded.updated_at",
                {"request_key": request_key, "batch_id": batch_id, "status": status, "at": at},
            )
