"""SQLite: what must outlive a run.

- papers and the days they were announced (fetch),
- scores, keyed by (paper, prompt hash, model), so a re-run spends nothing twice (score),
- the delivery ledger, one row per (day, subscriber), written before and after each request,
  and the papers each subscriber has been sent (deliver),
- each digest's selection as sent or previewed, and each subscriber's archive token (archive).

Every write that belongs together is one transaction: a crash leaves either all of it or none.

A database lives for months, so its schema has versions (`newsletter.migrations`): opening a
Store applies the migrations the file lacks, in order, and refuses a file written by a newer
release (SchemaTooNew) rather than write into a schema it does not know.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

from sqlite_utils import Database

from newsletter.errors import RunLocked, SchemaTooNew, StoreError
from newsletter.migrations import MIGRATIONS
from newsletter.models import Listing, Paper, Score, Usage

# Delivery states. `sending` is written before the request: finding it on a later run means
# the outcome is unknown (the process died or the connection dropped mid-request).
SENDING, SENT, FAILED, UNKNOWN = "sending", "sent", "failed", "unknown"


# What a fresh database forgets, said wherever moving the file aside is the way out.
STARTING_AFRESH = (
    "move it aside (with its -wal and -shm files) to start a fresh one, which forgets who was "
    "sent what (a send would repeat the days already sent), the cached scores, the votes and "
    "the archive's links"
)


def _explain(exc: sqlite3.Error) -> str:
    """The one line for an SQLite error: what is wrong with the file, and what to do."""
    text = str(exc)
    if "not a database" in text:
        return (
            f"not an SQLite database ({text}): check that [storage] path names the "
            "newsletter's database; if it does, restore your last good copy of it, or "
            + STARTING_AFRESH
        )
    if "malformed" in text or "corrupt" in text:
        return (
            f"the database is damaged ({text}): restore your last good copy of it, or "
            + STARTING_AFRESH
        )
    if "readonly" in text:
        return f"cannot write ({text}): check the file's and its folder's permissions"
    return text


def store_error(path: Path, exc: sqlite3.Error) -> StoreError:
    return StoreError(f"{path}: {_explain(exc)}")


def sqlite_error(exc: BaseException | None) -> sqlite3.Error | None:
    """`exc`, or the first of a group's (scoring runs in an asyncio TaskGroup), if SQLite's."""
    if isinstance(exc, BaseExceptionGroup):
        return next(filter(None, map(sqlite_error, exc.exceptions)), None)
    return exc if isinstance(exc, sqlite3.Error) else None


def _lock_offset(day: date, key: str) -> int:
    return int(hashlib.sha256(f"{day}:{key}".encode()).hexdigest()[:7], 16)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# One parameter holding a JSON list stands for any number of values: no chunks of `?,?,...`
# under SQLite's limit on parameters.
IN_JSON = "(SELECT value FROM json_each(?))"


def _json_list(values: Iterable[str]) -> str:
    return json.dumps(list(values))


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


class Store:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the database ({exc})") from None
        self.db.row_factory = sqlite3.Row
        # the same connection through sqlite-utils, for migrations and upserts: inside
        # transaction() only
        self._tables = Database(self.db, execute_plugins=False)
        self._lock_file: TextIO | None = None
        self._scoring_file: TextIO | None = None
        # deliveries run in worker threads: one writer at a time on the shared connection
        self._mutex = threading.RLock()
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._upgrade()
        except sqlite3.Error as exc:
            self.db.close()
            raise store_error(self.path, exc) from None
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        self.unlock()
        if self._scoring_file is not None:
            self._scoring_file.close()  # releases what this process held
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        """Close; and any SQLite error the block let through becomes the one line that names
        the file, in this one place (reads anywhere may meet a damaged page)."""
        self.close()
        if (found := sqlite_error(exc)) is not None:
            raise store_error(self.path, found) from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write: all of it or none, and a failing disk said as one line naming the file."""
        with self._mutex:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    yield self.db
                except BaseException:
                    if self.db.in_transaction:  # some errors have rolled it back already
                        self.db.execute("ROLLBACK")
                    raise
                self.db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise store_error(self.path, exc) from None

    # -- the schema's version -------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        """How many of MIGRATIONS this file has applied."""
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _upgrade(self) -> None:
        """Apply the missing migrations in order, each with its new version in one transaction."""
        while self._known_version() < len(MIGRATIONS):
            with self.transaction() as db:
                version = self._known_version()  # again, under the write lock: another
                if version < len(MIGRATIONS):  # process opening the file may have been first
                    MIGRATIONS[version](self._tables)
                    db.execute(f"PRAGMA user_version={version + 1}")

    def _known_version(self) -> int:
        """The file's schema version, unless a newer release wrote it."""
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise SchemaTooNew(
                f"{self.path} has schema version {version}, written by a newer release of "
                f"newsletter; this one knows versions up to {len(MIGRATIONS)}: upgrade it"
            )
        return version

    # -- the run lock ---------------------------------------------------------------------

    def lock(self) -> None:
        """Take the exclusive run lock, or raise RunLocked at once."""
        handle = open(f"{self.path}.lock", "w")  # noqa: SIM115 (held for the run)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RunLocked(
                f"another `newsletter send` is running on {self.path} (lock {self.path}.lock)"
            ) from None
        self._lock_file = handle

    def unlock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def hold_scoring(self, day: date, key: str) -> None:
        """Wait until no other run scores `day` for the prompt `key`, then hold that until
        `release_scoring`: the second of two runs (a dry run beside a send, two dry runs) then
        finds the first one's scores in the cache instead of paying for them again. One byte
        of one file per (day, prompt), so a process keeps one handle for all of them."""
        with self._mutex:
            if self._scoring_file is None:
                self._scoring_file = open(f"{self.path}.scoring.lock", "a")  # noqa: SIM115
        fcntl.lockf(self._scoring_file, fcntl.LOCK_EX, 1, _lock_offset(day, key))

    def release_scoring(self, day: date, key: str) -> None:
        if self._scoring_file is not None:
            fcntl.lockf(self._scoring_file, fcntl.LOCK_UN, 1, _lock_offset(day, key))

    # -- papers and days ------------------------------------------------------------------

    def save_listing(self, listing: Listing, categories: Iterable[str]) -> int:
        """Store a day's papers in one transaction; return how many were new to the day."""
        day, count = listing.day.isoformat(), "SELECT COUNT(*) FROM day_papers WHERE day=?"
        with self.transaction() as db:
            before = db.execute(count, (day,)).fetchone()[0]
            self._tables.table("papers").upsert_all(map(_paper_row, listing.papers), pk="id")
            db.executemany(
                "INSERT OR IGNORE INTO day_papers VALUES (?,?,?,?)",
                [(day, p.id, p.announce_type, before + i) for i, p in enumerate(listing.papers)],
            )
            known = self.fetched_categories(listing.day) or set()
            self._tables.table("days").upsert(
                {
                    "day": day,
                    "listed": listing.listed,
                    "new": listing.new,
                    "cross_listed": listing.cross,
                    "dropped": listing.dropped,
                    "categories": json.dumps(sorted(set(categories) | known)),
                    "fetched_at": _now(),
                },
                pk="day",
            )
            after = db.execute(count, (day,)).fetchone()[0]
        return after - before

    def fetched_categories(self, day: date) -> set[str] | None:
        row = self.db.execute("SELECT categories FROM days WHERE day=?", (day.isoformat(),))
        found = row.fetchone()
        return set(json.loads(found[0])) if found else None

    def latest_day(self) -> date | None:
        row = self.db.execute("SELECT MAX(day) FROM days").fetchone()
        return date.fromisoformat(row[0]) if row and row[0] else None

    def load_listing(self, day: date) -> Listing | None:
        meta = self.db.execute("SELECT * FROM days WHERE day=?", (day.isoformat(),)).fetchone()
        if meta is None:
            return None
        rows = self.db.execute(
            "SELECT p.*, d.announce_type FROM day_papers d JOIN papers p ON p.id=d.paper_id "
            "WHERE d.day=? ORDER BY d.position",
            (day.isoformat(),),
        ).fetchall()
        papers = [_paper(r, r["announce_type"]) for r in rows]
        return Listing(
            day=day,
            papers=papers,
            listed=meta["listed"],
            new=meta["new"],
            cross=meta["cross_listed"],
            dropped=meta["dropped"],
        )

    def load_papers(self, ids: Iterable[str]) -> dict[str, Paper]:
        """The stored papers among `ids`, by id (announce type "new": that is per day)."""
        rows = self.db.execute(f"SELECT * FROM papers WHERE id IN {IN_JSON}", (_json_list(ids),))
        return {r["id"]: _paper(r) for r in rows}

    # -- scores ---------------------------------------------------------------------------

    def cached_scores(
        self, paper_ids: Iterable[str], prompt_hash: str, model: str
    ) -> dict[str, Score]:
        rows = self.db.execute(
            "SELECT paper_id, relevance, novelty, comment FROM scores "
            f"WHERE prompt_hash=? AND model=? AND paper_id IN {IN_JSON}",
            (prompt_hash, model, _json_list(paper_ids)),
        )
        return {r[0]: Score(*r) for r in rows}

    def save_scores(self, scores: Iterable[Score], prompt_hash: str, model: str) -> None:
        now = _now()
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?)",
                [
                    (s.paper_id, prompt_hash, model, s.relevance, s.novelty, s.comment, now)
                    for s in scores
                ],
            )

    def add_spend(self, day: date, scoring_key: str, usage: Usage) -> Usage:
        """Add a run's spend on one day's scoring for one prompt; return the day's total.

        A digest shows what its selection cost, whether the scores were bought by this run or
        an earlier one (a dry run, a crashed run): so the total is kept, not just the last run.
        """
        with self.transaction() as db:
            db.execute(
                "INSERT INTO spend VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(day, scoring_key, model) "
                "DO UPDATE SET requests=requests+excluded.requests, "
                "prompt_tokens=prompt_tokens+excluded.prompt_tokens, "
                "cached_tokens=cached_tokens+excluded.cached_tokens, "
                "completion_tokens=completion_tokens+excluded.completion_tokens, "
                "cost_usd=cost_usd+excluded.cost_usd",
                (day.isoformat(), scoring_key, usage.model, usage.requests, usage.prompt_tokens,
                 usage.cached_tokens, usage.completion_tokens, usage.cost_usd),
            )  # fmt: skip
            row = db.execute(
                "SELECT * FROM spend WHERE day=? AND scoring_key=? AND model=?",
                (day.isoformat(), scoring_key, usage.model),
            ).fetchone()
        return Usage(usage.model, row["requests"], row["prompt_tokens"], row["cached_tokens"],
                     row["completion_tokens"], row["cost_usd"])  # fmt: skip

    # -- the delivery ledger --------------------------------------------------------------

    def delivery(self, day: date, subscriber_id: str) -> sqlite3.Row | None:
        with self._mutex:
            return self.db.execute(
                "SELECT * FROM deliveries WHERE day=? AND subscriber_id=?",
                (day.isoformat(), subscriber_id),
            ).fetchone()

    def begin_delivery(self, day: date, subscriber_id: str, email: str) -> None:
        """Written (and committed) before the request leaves."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO deliveries (day, subscriber_id, email, status, attempts, updated_at) "
                "VALUES (?,?,?,?,1,?) ON CONFLICT(day, subscriber_id) DO UPDATE SET "
                "status=excluded.status, email=excluded.email, attempts=attempts+1, "
                "error=NULL, updated_at=excluded.updated_at",
                (day.isoformat(), subscriber_id, email, SENDING, _now()),
            )

    def finish_delivery(
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
        d = day.isoformat()
        with self.transaction() as db:
            db.execute(
                "UPDATE deliveries SET status=?, message_id=?, error=?, updated_at=? "
                "WHERE day=? AND subscriber_id=?",
                (status, message_id, error, _now(), d, subscriber_id),
            )
            if status == SENT:
                db.executemany(
                    "INSERT OR IGNORE INTO sent_papers VALUES (?,?,?)",
                    [(subscriber_id, pid, d) for pid in paper_ids],
                )

    def sent_paper_ids(self, subscriber_id: str, before: date | None = None) -> set[str]:
        """Papers this subscriber was sent (on days before `before`, if given)."""
        sql, args = "SELECT paper_id FROM sent_papers WHERE subscriber_id=?", [subscriber_id]
        if before is not None:
            sql += " AND day<?"
            args.append(before.isoformat())
        return {r[0] for r in self.db.execute(sql, args)}

    # -- suppressions (who asked not to be mailed, or cannot be) ---------------------------

    def replace_suppressions(self, rows: Iterable[tuple[str, str, str, str, int | None]]) -> None:
        """Swap in a fresh copy of SendGrid's lists: (email, source, reason, detail, created)."""
        with self.transaction() as db:
            db.execute("DELETE FROM suppressions")
            db.executemany(
                "INSERT OR REPLACE INTO suppressions VALUES (?,?,?,?,?)",
                [(e.lower(), *rest) for e, *rest in rows],
            )
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('suppressions_synced_at', ?)", (_now(),)
            )

    def suppressions(self) -> list[sqlite3.Row]:
        with self._mutex:
            return self.db.execute("SELECT * FROM suppressions ORDER BY email, source").fetchall()

    def suppressions_synced_at(self) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key='suppressions_synced_at'")
        found = row.fetchone()
        return found[0] if found else None

    # -- digests (what each email contained) ----------------------------------------------

    def save_digest(self, day: date, subscriber_id: str, kind: str, selection: dict) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO digests VALUES (?,?,?,?,?)",
                (day.isoformat(), subscriber_id, kind, json.dumps(selection), _now()),
            )

    def load_digests(
        self, subscriber_id: str | None = None, *, sent_only: bool = False
    ) -> list[tuple[date, str, dict]]:
        """(day, subscriber, selection) of every digest, or one subscriber's, by subscriber
        and day: where a day has both, the one sent rather than the preview. `sent_only`:
        no preview at all."""
        sql = "SELECT day, subscriber_id, kind, selection FROM digests WHERE 1"
        args: list[str] = []
        if subscriber_id is not None:
            sql += " AND subscriber_id=?"
            args.append(subscriber_id)
        if sent_only:
            sql += " AND kind='sent'"
        sql += " ORDER BY subscriber_id, day, kind='sent'"
        chosen: dict[tuple[str, str], str] = {}
        with self._mutex:
            for r in self.db.execute(sql, args):
                chosen[(r["subscriber_id"], r["day"])] = r["selection"]  # "sent" comes last
        return [(date.fromisoformat(d), s, json.loads(sel)) for (s, d), sel in chosen.items()]

    # -- who is behind a subscriber id ------------------------------------------------------

    # what belongs to the reader behind an id, and moves with them when the id changes hands
    READER_TABLES = ("deliveries", "sent_papers", "digests", "archive_tokens", "votes")

    def claim(self, subscriber_id: str, email: str) -> str | None:
        """Record that `email` is behind `subscriber_id`. When another address was, the id
        has changed hands: that reader's ledger, papers sent, digests and archive token move
        to a retired id (`ada~1`: profile ids cannot hold `~`), so the new reader starts
        fresh and the old one's archive stays where their links point. Returns the retired
        id, or None."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT email FROM subscribers WHERE subscriber_id=?", (subscriber_id,)
            ).fetchone()
            if row is not None and row[0].lower() == email.lower():
                return None
            retired = None
            if row is not None:
                retired = self._free_retired_id(subscriber_id)
                for table in self.READER_TABLES:
                    db.execute(
                        f"UPDATE {table} SET subscriber_id=? WHERE subscriber_id=?",
                        (retired, subscriber_id),
                    )
            db.execute(
                "INSERT INTO subscribers VALUES (?,?,?) ON CONFLICT(subscriber_id) DO UPDATE "
                "SET email=excluded.email, since=excluded.since",
                (subscriber_id, email, _now()),
            )
        return retired

    def reader_email(self, subscriber_id: str) -> str | None:
        """The address of the person the id belongs to now, or None if none was recorded."""
        return self.known_subscribers().get(subscriber_id)

    def had_earlier_reader(self, subscriber_id: str) -> bool:
        """Whether the id has changed hands: an earlier person's history sits at `id~1`."""
        with self._mutex:
            return self._free_retired_id(subscriber_id) != f"{subscriber_id}~1"

    def known_subscribers(self) -> dict[str, str]:
        """subscriber id -> the address last served under it."""
        with self._mutex:
            return dict(self.db.execute("SELECT subscriber_id, email FROM subscribers"))

    def _free_retired_id(self, subscriber_id: str) -> str:
        n = 1
        while any(
            self.db.execute(
                f"SELECT 1 FROM {t} WHERE subscriber_id=?", (f"{subscriber_id}~{n}",)
            ).fetchone()
            for t in self.READER_TABLES
        ):
            n += 1
        return f"{subscriber_id}~{n}"

    # -- archive tokens (the unguessable folder of each subscriber's pages) -----------------

    def archive_token(self, subscriber_id: str) -> str:
        """The subscriber's token, made on first use and the same ever after."""
        sql = "SELECT token FROM archive_tokens WHERE subscriber_id=?"
        with self._mutex:
            row = self.db.execute(sql, (subscriber_id,)).fetchone()
        if row is None:  # only then take the write lock: a build may run beside a send
            with self.transaction() as db:
                db.execute(
                    "INSERT OR IGNORE INTO archive_tokens VALUES (?,?)",
                    (subscriber_id, secrets.token_urlsafe(16)),
                )
                row = db.execute(sql, (subscriber_id,)).fetchone()
        return row[0]

    # -- batches in flight (the Batch API) --------------------------------------------------

    def batch_in_flight(self, request_key: str) -> str | None:
        """The id of the batch submitted for these requests and not yet collected."""
        sql = "SELECT batch_id FROM batches WHERE request_key=? AND status='submitted'"
        with self._mutex:
            row = self.db.execute(sql, (request_key,)).fetchone()
        return row[0] if row else None

    def batch_for(self, request_key: str) -> tuple[str, str] | None:
        """The id and status of the last batch made for these requests, whatever its status."""
        sql = "SELECT batch_id, status FROM batches WHERE request_key=?"
        with self._mutex:
            row = self.db.execute(sql, (request_key,)).fetchone()
        return (row[0], row[1]) if row else None

    def save_batch(self, request_key: str, batch_id: str, status: str = "submitted") -> None:
        """Record a batch as submitted (before waiting on it), or how it ended."""
        now = _now()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO batches VALUES (?,?,?,?,?) ON CONFLICT(request_key) DO UPDATE SET "
                "batch_id=excluded.batch_id, status=excluded.status, "
                "updated_at=excluded.updated_at",
                (request_key, batch_id, status, now, now),
            )

    def subscriber_for_archive_token(self, token: str) -> str | None:
        with self._mutex:
            row = self.db.execute(
                "SELECT subscriber_id FROM archive_tokens WHERE token=?", (token,)
            ).fetchone()
        return row[0] if row else None

    # -- votes (what readers liked and did not want) ----------------------------------------

    def record_vote(
        self, subscriber_id: str, paper_id: str, vote: str, title: str, day: date, source: str
    ) -> str | None:
        """Record a vote, the latest one counting; return the vote it replaced, or None."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT vote FROM votes WHERE subscriber_id=? AND paper_id=?",
                (subscriber_id, paper_id),
            ).fetchone()
            db.execute(
                "INSERT OR REPLACE INTO votes VALUES (?,?,?,?,?,?,?)",
                (subscriber_id, paper_id, vote, title, day.isoformat(), source, _now()),
            )
        return row[0] if row else None

    def remove_vote(self, subscriber_id: str, paper_id: str, vote: str) -> bool:
        """Undo `vote`; a later, different vote on the paper stays. Whether one was removed."""
        with self.transaction() as db:
            gone = db.execute(
                "DELETE FROM votes WHERE subscriber_id=? AND paper_id=? AND vote=?",
                (subscriber_id, paper_id, vote),
            ).rowcount
        return gone > 0

    def voted_ids(self, subscriber_id: str) -> set[str]:
        with self._mutex:
            rows = self.db.execute(
                "SELECT paper_id FROM votes WHERE subscriber_id=?", (subscriber_id,)
            ).fetchall()
        return {r[0] for r in rows}

    def voted_titles(self, subscriber_id: str, vote: str, limit: int) -> list[str]:
        """The titles of the papers given `vote`, newest first."""
        with self._mutex:
            rows = self.db.execute(
                "SELECT title FROM votes WHERE subscriber_id=? AND vote=? "
                "ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (subscriber_id, vote, limit),
            ).fetchall()
        return [r[0] for r in rows]

    # -- unsubscribes through the server's one-click link -----------------------------------

    def add_unsubscribe(self, subscriber_id: str, email: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO unsubscribes VALUES (?,?,?)",
                (email.lower(), subscriber_id, _now()),
            )

    def remove_unsubscribe(self, email: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM unsubscribes WHERE email=?", (email.lower(),))

    def unsubscribed(self, email: str) -> bool:
        with self._mutex:
            row = self.db.execute(
                "SELECT 1 FROM unsubscribes WHERE email=?", (email.lower(),)
            ).fetchone()
        return row is not None

    def own_suppressions(self) -> list[tuple[str, str, str, str]]:
        """(email, source, reason, detail) of whoever left through the server's link: what
        the run skips like an entry of SendGrid's lists, and what a sync never replaces."""
        with self._mutex:
            rows = self.db.execute("SELECT email, created_at FROM unsubscribes").fetchall()
        return [(r[0], "server", "unsubscribed", f"one-click, {r[1]}") for r in rows]
