"""SQLite: what must outlive a run, one part per kind of record over one database.

- `papers`: papers and the days they were announced (fetch),
- `scores`, `spend`: the score cache and what scoring cost (score),
- `ledger`: the delivery ledger and the papers each subscriber has been sent (deliver),
- `suppressions`, `unsubscribes`: who is not to be mailed,
- `digests`, `tokens`: each digest's selection and each subscriber's archive folder (archive),
- `readers`: who is behind each subscriber id,
- `batches`: the Batch API's batches in flight,
- `votes`: what readers liked and did not want,
- `locks`: the run lock and the scoring locks beside the file.

Every write that belongs together is one transaction: a crash leaves either all of it or none.

A database lives for months, so its schema has versions (`newsletter.migrations`): opening a
Store applies the migrations the file lacks, in order, and refuses a file written by a newer
release (SchemaTooNew) rather than write into a schema it does not know.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database as Tables

from newsletter.errors import SchemaTooNew
from newsletter.migrations import MIGRATIONS
from newsletter.store.batches import Batches, BatchRecord
from newsletter.store.database import STARTING_AFRESH, Database, sqlite_error, store_error
from newsletter.store.digests import Digests, StoredDigest
from newsletter.store.ledger import FAILED, SENDING, SENT, UNKNOWN, Ledger, LedgerEntry
from newsletter.store.locks import Locks
from newsletter.store.papers import Papers
from newsletter.store.readers import ArchiveTokens, Readers
from newsletter.store.scores import ScoreCache, Spend
from newsletter.store.suppressions import Suppression, Suppressions, Unsubscribes
from newsletter.store.votes import Votes

__all__ = [
    "FAILED", "SENDING", "SENT", "STARTING_AFRESH", "UNKNOWN", "BatchRecord", "LedgerEntry",
    "Store", "StoredDigest", "Suppression", "sqlite_error", "store_error",
]  # fmt: skip


class Store:
    """The database at `path`, upgraded to the current schema, and its parts."""

    def __init__(self, path: Path | str):
        self._db = Database(path)
        self.path = self._db.path
        try:
            self._db.conn.execute("PRAGMA journal_mode=WAL")
            self._db.conn.execute("PRAGMA synchronous=NORMAL")
            self._upgrade()
        except sqlite3.Error as exc:
            self._db.close()
            raise store_error(self.path, exc) from None
        except BaseException:
            self._db.close()
            raise
        self.papers = Papers(self._db)
        self.scores = ScoreCache(self._db)
        self.spend = Spend(self._db)
        self.ledger = Ledger(self._db)
        self.suppressions = Suppressions(self._db)
        self.unsubscribes = Unsubscribes(self._db)
        self.digests = Digests(self._db)
        self.readers = Readers(self._db)
        self.tokens = ArchiveTokens(self._db)
        self.batches = Batches(self._db)
        self.votes = Votes(self._db)
        self.locks = Locks(self.path)

    def close(self) -> None:
        self.locks.close()
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        """Close; and any SQLite error the block let through becomes the one line that names
        the file, in this one place (reads anywhere may meet a damaged page)."""
        self.close()
        if (found := sqlite_error(exc)) is not None:
            raise store_error(self.path, found) from exc

    @property
    def db(self) -> sqlite3.Connection:
        """The raw connection, outside the guard: for looking at the file, not for writing."""
        return self._db.conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write of raw SQL, all of it or none."""
        with self._db.transaction() as conn:
            yield conn

    # -- the schema's version -------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        """How many of MIGRATIONS this file has applied."""
        return self._db.read("PRAGMA user_version")[0][0]

    def _upgrade(self) -> None:
        """Apply the missing migrations in order, each with its new version in one transaction."""
        while self._known_version() < len(MIGRATIONS):
            with self._db.transaction() as conn:
                version = self._known_version()  # again, under the write lock: another
                if version < len(MIGRATIONS):  # process opening the file may have been first
                    MIGRATIONS[version](Tables(conn, execute_plugins=False))
                    conn.execute(f"PRAGMA user_version={version + 1}")

    def _known_version(self) -> int:
        """The file's schema version, unless a newer release wrote it."""
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise SchemaTooNew(
                f"{self.path} has schema version {version}, written by a newer release of "
                f"newsletter; this one knows versions up to {len(MIGRATIONS)}: upgrade it"
            )
        return version
