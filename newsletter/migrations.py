"""The store's schema as an ordered list of migrations: a database lives for months (the
Actions cache), and every release must open what the ones before it wrote.

`PRAGMA user_version` holds how many of MIGRATIONS a file has applied. Opening a Store applies
the missing ones in order, each in one transaction together with its new version, so a crash
leaves the file at one version or the next. Release 0.1.0 kept no version: migration 1 is its
schema, and finds a file that release wrote already holding it.

To change the schema, append a function decorated with `@migration` at the end: its place in
the list is its version. Never edit, reorder or remove one that has been released: databases
in the wild have run it. It receives a sqlite_utils Database inside the open transaction:
`db.execute` for plain SQL, `db[table].add_column(...)` or `db[table].transform(...)` for what
ALTER TABLE cannot do (sqlite-utils 4 nests its own transactions in ours as savepoints; 3.x
committed them). Then extend tests/test_store.py: the database release 0.1.0 wrote
(tests/data/newsletter-0.1.0.sqlite) must open with its data intact, and a fresh file must get
the same schema as an upgraded one.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils import Database

Migration = Callable[[Database], None]
MIGRATIONS: list[Migration] = []


def migration(step: Migration) -> Migration:
    MIGRATIONS.append(step)
    return step


TABLES_0_1_0 = """
CREATE TABLE papers (
    id TEXT PRIMARY KEY, version INTEGER NOT NULL, title TEXT NOT NULL, authors TEXT NOT NULL,
    abstract TEXT NOT NULL, categories TEXT NOT NULL, primary_category TEXT NOT NULL
);
CREATE TABLE days (
    day TEXT PRIMARY KEY, listed INTEGER NOT NULL, new INTEGER NOT NULL,
    cross_listed INTEGER NOT NULL, dropped INTEGER NOT NULL, categories TEXT NOT NULL,
    fetched_at TEXT NOT NULL
);
CREATE TABLE day_papers (
    day TEXT NOT NULL, paper_id TEXT NOT NULL REFERENCES papers(id), announce_type TEXT NOT NULL,
    position INTEGER NOT NULL, PRIMARY KEY (day, paper_id)
);
CREATE TABLE scores (
    paper_id TEXT NOT NULL, prompt_hash TEXT NOT NULL, model TEXT NOT NULL,
    relevance INTEGER NOT NULL, novelty INTEGER NOT NULL, comment TEXT NOT NULL,
    scored_at TEXT NOT NULL, PRIMARY KEY (paper_id, prompt_hash, model)
);
CREATE TABLE deliveries (
    day TEXT NOT NULL, subscriber_id TEXT NOT NULL, email TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, message_id TEXT, error TEXT, updated_at TEXT NOT NULL,
    PRIMARY KEY (day, subscriber_id)
);
CREATE TABLE sent_papers (
    subscriber_id TEXT NOT NULL, paper_id TEXT NOT NULL, day TEXT NOT NULL,
    PRIMARY KEY (subscriber_id, paper_id)
);
CREATE TABLE spend (
    day TEXT NOT NULL, scoring_key TEXT NOT NULL, model TEXT NOT NULL, requests INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL, cost_usd REAL, PRIMARY KEY (day, scoring_key, model)
);
CREATE TABLE suppressions (
    email TEXT NOT NULL, source TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL,
    created INTEGER, PRIMARY KEY (email, source)
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE digests (
    day TEXT NOT NULL, subscriber_id TEXT NOT NULL, kind TEXT NOT NULL, selection TEXT NOT NULL,
    created_at TEXT NOT NULL, PRIMARY KEY (day, subscriber_id, kind)
);
CREATE TABLE archive_tokens (
    subscriber_id TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE
);
"""


@migration
def m001_tables(db: Database) -> None:
    """Release 0.1.0's tables, as it created them. It wrote no version: a file it wrote has
    them all already, and is version 1 as it stands."""
    if not db["papers"].exists():
        db.executescript(TABLES_0_1_0)


@migration
def m002_subscribers(db: Database) -> None:
    """Who is behind each subscriber id: the address last delivered to. A profile file given
    to a new address under an old id is a new reader (see Readers.claim)."""
    db.execute(
        "CREATE TABLE subscribers (subscriber_id TEXT PRIMARY KEY, email TEXT NOT NULL, "
        "since TEXT NOT NULL)"
    )
    db.execute(
        "INSERT INTO subscribers SELECT subscriber_id, email, MAX(updated_at) FROM deliveries "
        "GROUP BY subscriber_id"
    )


@migration
def m003_batches(db: Database) -> None:
    """The Batch API's batches, by a digest of their requests: stored before a run waits on
    one, so a run that crashed meanwhile collects it instead of paying for it again."""
    db.execute(
        "CREATE TABLE batches (request_key TEXT PRIMARY KEY, batch_id TEXT NOT NULL, "
        "status TEXT NOT NULL, submitted_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
    )


@migration
def m004_votes(db: Database) -> None:
    """What readers said through `newsletter serve` or by hand: a 👍 or 👎 on a paper (the
    latest one counts, with the title it had, for the prompts), and who unsubscribed through
    a one-click link."""
    db.execute(
        "CREATE TABLE votes (subscriber_id TEXT NOT NULL, paper_id TEXT NOT NULL, "
        "vote TEXT NOT NULL, title TEXT NOT NULL, day TEXT NOT NULL, source TEXT NOT NULL, "
        "created_at TEXT NOT NULL, PRIMARY KEY (subscriber_id, paper_id))"
    )
    db.execute(
        "CREATE TABLE unsubscribes (email TEXT PRIMARY KEY, subscriber_id TEXT NOT NULL, "
        "created_at TEXT NOT NULL)"
    )


@migration
def m005_held(db: Database) -> None:
    """The announcement days whose papers wait for a reader's next digest: a weekly reader's
    days before their weekday (newsletter.rhythm). The digest that sends them lets them go."""
    db.execute(
        "CREATE TABLE held (subscriber_id TEXT NOT NULL, day TEXT NOT NULL, "
        "PRIMARY KEY (subscriber_id, day))"
    )
