"""The one connection every part of the store shares, and the one guard around it.

Deliveries run in worker threads on one connection: every statement goes through `read`,
`read_one` or `transaction`, each of which holds the guard, so no reader meets a half-written
transaction and no two writers interleave. The parts of the store never touch the connection
otherwise.

What an SQLite error means for the operator is said here too (`store_error`): one line that
names the file and what to do.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsletter.errors import StoreError

# What a fresh database forgets, said wherever moving the file aside is the way out.
STARTING_AFRESH = (
    "move it aside (with its -wal and -shm files) to start a fresh one, which forgets who was "
    "sent what (a send would repeat the days already sent), the cached scores, the votes and "
    "the archive's links"
)

# One parameter holding a JSON list stands for any number of values: no chunks of `?,?,...`
# under SQLite's limit on parameters.
IN_JSON = "(SELECT value FROM json_each(?))"

Args = Sequence[Any] | dict[str, Any]


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


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def json_list(values: Iterable[str]) -> str:
    return json.dumps(list(values))


class Database:
    """The connection, opened in autocommit mode: transactions are begun here, explicitly."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the database ({exc})") from None
        self.conn.row_factory = sqlite3.Row
        self._guard = threading.RLock()  # reentrant: a write may read what it is writing

    def close(self) -> None:
        self.conn.close()

    def read(self, sql: str, args: Args = ()) -> list[sqlite3.Row]:
        with self._guard:
            return self.conn.execute(sql, args).fetchall()

    def read_one(self, sql: str, args: Args = ()) -> sqlite3.Row | None:
        with self._guard:
            return self.conn.execute(sql, args).fetchone()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write: all of it or none, and a failing disk said as one line naming the file."""
        with self._guard:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self.conn
                except BaseException:
                    if self.conn.in_transaction:  # some errors have rolled it back already
                        self.conn.execute("ROLLBACK")
                    raise
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise store_error(self.path, exc) from None


def insert_sql(table: str, columns: Iterable[str], *, conflict: str = "") -> str:
    """`INSERT [OR <conflict>] INTO table (a, b) VALUES (:a, :b)`: rows go in by name."""
    cols = list(columns)
    verb = f"INSERT OR {conflict}" if conflict else "INSERT"
    return f"{verb} INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"


def upsert_sql(table: str, key: Sequence[str], columns: Iterable[str]) -> str:
    """An insert that, on a row with the same `key`, updates its other columns instead."""
    cols = list(columns)
    sets = ", ".join(f"{c}=excluded.{c}" for c in cols if c not in key)
    return f"{insert_sql(table, cols)} ON CONFLICT({', '.join(key)}) DO UPDATE SET {sets}"
