"""Papers and the days they were announced: what `fetch` read, kept so that a re-run of a
day reads the same listing."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import date

from newsletter.models import Listing, Paper
from newsletter.store.database import (
    IN_JSON,
    Database,
    insert_sql,
    json_list,
    now,
    upsert_sql,
)

PAPER_COLUMNS = ("id", "version", "title", "authors", "abstract", "categories", "primary_category")
DAY_COLUMNS = ("day", "listed", "new", "cross_listed", "dropped", "categories", "fetched_at")
DAY_PAPER_COLUMNS = ("day", "paper_id", "announce_type", "position")
SAVE_PAPER = upsert_sql("papers", ("id",), PAPER_COLUMNS)
SAVE_DAY = upsert_sql("days", ("day",), DAY_COLUMNS)
# a paper already in the day keeps its place
ADD_TO_DAY = insert_sql("day_papers", DAY_PAPER_COLUMNS, conflict="IGNORE")
COUNT = "SELECT COUNT(*) FROM day_papers WHERE day=?"


def _paper_row(p: Paper) -> dict[str, object]:
    return {
        "id": p.id,
        "version": p.version,
        "title": p.title,
        "authors": json.dumps(p.authors),
        "abstract": p.abstract,
        "categories": json.dumps(p.categories),
        "primary_category": p.primary_category,
    }


def _paper(row: sqlite3.Row, announce_type: str = "new") -> Paper:
    return Paper(
        id=row["id"],
        version=row["version"],
        title=row["title"],
        authors=tuple(json.loads(row["authors"])),
        abstract=row["abstract"],
        categories=tuple(json.loads(row["categories"])),
        primary_category=row["primary_category"],
        announce_type=announce_type,
    )


class Papers:
    """Each day's listing, and the papers by id."""

    def __init__(self, db: Database):
        self.db = db

    def save_listing(self, listing: Listing, categories: Iterable[str]) -> int:
        """Store a day's papers in one transaction; return how many were new to the day."""
        day = listing.day.isoformat()
        with self.db.transaction() as db:
            before = db.execute(COUNT, (day,)).fetchone()[0]
            db.executemany(SAVE_PAPER, map(_paper_row, listing.papers))
            db.executemany(
                ADD_TO_DAY,
                [
                    {"day": day, "paper_id": p.id, "announce_type": p.announce_type,
                     "position": before + i}
                    for i, p in enumerate(listing.papers)
                ],
            )  # fmt: skip
            known = self.fetched_categories(listing.day) or set()
            db.execute(SAVE_DAY, {
                "day": day,
                "listed": listing.listed,
                "new": listing.new,
                "cross_listed": listing.cross,
                "dropped": listing.dropped,
                "categories": json.dumps(sorted(set(categories) | known)),
                "fetched_at": now(),
            })  # fmt: skip
            after = db.execute(COUNT, (day,)).fetchone()[0]
        return after - before

    def fetched_categories(self, day: date) -> set[str] | None:
        found = self.db.read_one("SELECT categories FROM days WHERE day=?", (day.isoformat(),))
        return set(json.loads(found[0])) if found else None

    def latest_day(self) -> date | None:
        row = self.db.read_one("SELECT MAX(day) FROM days")
        return date.fromisoformat(row[0]) if row and row[0] else None

    def load_listing(self, day: date) -> Listing | None:
        meta = self.db.read_one("SELECT * FROM days WHERE day=?", (day.isoformat(),))
        if meta is None:
            return None
        rows = self.db.read(
            "SELECT p.*, d.announce_type FROM day_papers d JOIN papers p ON p.id=d.paper_id "
            "WHERE d.day=? ORDER BY d.position",
            (day.isoformat(),),
        )
        return Listing(
            day=day,
            papers=[_paper(r, r["announce_type"]) for r in rows],
            listed=meta["listed"],
            new=meta["new"],
            cross=meta["cross_listed"],
            dropped=meta["dropped"],
        )

    def load(self, ids: Iterable[str]) -> dict[str, Paper]:
        """The stored papers among `ids`, by id (announce type "new": that is per day)."""
        rows = self.db.read(f"SELECT * FROM papers WHERE id IN {IN_JSON}", (json_list(ids),))
        return {r["id"]: _paper(r) for r in rows}
