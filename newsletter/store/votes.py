"""What readers said of the papers they were sent: a 👍 or 👎 each, the latest one counting,
with the title the paper had (what the prompts quote)."""

from __future__ import annotations

from datetime import date

from newsletter.store.database import Database, insert_sql, now

SAVE = insert_sql(
    "votes",
    ("subscriber_id", "paper_id", "vote", "title", "day", "source", "created_at"),
    conflict="REPLACE",
)


class Votes:
    """The latest vote of each reader on each paper."""

    def __init__(self, db: Database):
        self.db = db

    def record(
        self, subscriber_id: str, paper_id: str, vote: str, title: str, day: date, source: str
    ) -> str | None:
        """Record a vote, the latest one counting; return the vote it replaced, or None."""
        with self.db.transaction() as db:
            row = db.execute(
                "SELECT vote FROM votes WHERE subscriber_id=? AND paper_id=?",
                (subscriber_id, paper_id),
            ).fetchone()
            db.execute(SAVE, {
                "subscriber_id": subscriber_id,
                "paper_id": paper_id,
                "vote": vote,
                "title": title,
                "day": day.isoformat(),
                "source": source,
                "created_at": now(),
            })  # fmt: skip
        return row[0] if row else None

    def remove(self, subscriber_id: str, paper_id: str, vote: str) -> bool:
        """Undo `vote`; a later, different vote on the paper stays. Whether one was removed."""
        with self.db.transaction() as db:
            gone = db.execute(
                "DELETE FROM votes WHERE subscriber_id=? AND paper_id=? AND vote=?",
                (subscriber_id, paper_id, vote),
            ).rowcount
        return gone > 0

    def voted_ids(self, subscriber_id: str) -> set[str]:
        rows = self.db.read("SELECT paper_id FROM votes WHERE subscriber_id=?", (subscriber_id,))
        return {r[0] for r in rows}

    def titles(self, subscriber_id: str, vote: str, limit: int) -> list[str]:
        """The titles of the papers given `vote`, newest first."""
        rows = self.db.read(
            "SELECT title FROM votes WHERE subscriber_id=? AND vote=? "
            "ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (subscriber_id, vote, limit),
        )
        return [r[0] for r in rows]
