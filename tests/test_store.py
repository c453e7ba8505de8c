"""The store's schema versions. tests/data/newsletter-0.1.0.sqlite was written by release 0.1.0,
which kept no version (tests/data/make_v0_db.py says how): it must open, upgrade and keep its
ledger, so that a re-run after the upgrade sends nobody anything twice."""

import json
import shutil
import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.fakes.arxiv import paper
from newsletter.cli import app
from newsletter.config import load_config
from newsletter.errors import NewsletterError, SchemaTooNew
from newsletter.migrations import MIGRATIONS
from newsletter.models import Listing, Paper, Score, Usage
from newsletter.pipeline import SendOptions, run_send
from newsletter.store import SENT, UNKNOWN, Store
from tests.conftest import SAMPLE

FIXTURE = Path(__file__).parent / "data" / "newsletter-0.1.0.sqlite"
DAY = date(2025, 4, 10)  # the sample listing's day, the one the fixture holds
LATEST = len(MIGRATIONS)


def query(path: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(sql).fetchall()


def user_version(path: Path) -> int:
    return query(path, "PRAGMA user_version")[0][0]


def schema(path: Path) -> list[tuple]:
    return query(path, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")


@pytest.fixture
def old_db(tmp_path) -> Path:
    """A copy of the database release 0.1.0 wrote."""
    path = tmp_path / "v0.sqlite"
    shutil.copy(FIXTURE, path)
    return path


class TestUpgradeFrom010:
    def test_the_fixture_is_as_that_release_left_it(self):
        """Unversioned, with one sent and one unknown delivery: what the tests below rely on."""
        assert user_version(FIXTURE) == 0
        assert query(FIXTURE, "SELECT subscriber_id, status FROM deliveries ORDER BY 1") == [
            ("ada", "sent"),
            ("bob", "unknown"),
        ]

    def test_it_opens_at_the_latest_version_and_records_it(self, old_db):
        with Store(old_db) as store:
            assert store.schema_version == LATEST
        assert user_version(old_db) == LATEST

    def test_the_ledger_survives(self, old_db):
        sent = {r[0] for r in query(old_db, "SELECT paper_id FROM sent_papers")}
        with Store(old_db) as store:
            ada, bob = store.ledger.delivery(DAY, "ada"), store.ledger.delivery(DAY, "bob")
            assert (ada.status, bob.status) == (SENT, UNKNOWN)
            assert ada.message_id and bob.message_id is None
            assert store.ledger.sent_paper_ids("ada") == sent and len(sent) == 8
            assert store.ledger.sent_paper_ids("ada", before=DAY) == set()
            assert store.ledger.sent_paper_ids("bob") == set()

    def test_archive_tokens_and_digests_survive(self, old_db):
        tokens = dict(query(old_db, "SELECT subscriber_id, token FROM archive_tokens"))
        [(sent,)] = query(old_db, "SELECT selection FROM digests WHERE kind='sent'")
        with Store(old_db) as store:
            assert store.tokens.token("ada") == tokens["ada"]
            assert store.tokens.token("bob") == tokens["bob"]
            digests = {who: (day, record) for day, who, record in store.digests.load()}
        assert sorted(digests) == ["ada", "bob"]
        assert digests["ada"] == (DAY, json.loads(sent))  # the one sent, not her preview
        assert digests["bob"][0] == DAY and digests["bob"][1]["papers"]

    def test_the_day_scores_and_suppressions_survive(self, old_db):
        scored = query(old_db, "SELECT prompt_hash, paper_id FROM scores")
        with Store(old_db) as store:
            assert store.papers.latest_day() == DAY
            listing = store.papers.load_listing(DAY)
            ids = [p.id for p in listing.papers]
            assert len(ids) == 38 and listing.listed == 44
            assert len(store.papers.load(ids)) == 38
            for key in {key for key, _ in scored}:
                found = store.scores.cached(ids, key, "m")
                assert set(found) == {pid for k, pid in scored if k == key} and found
            emails = {r.email for r in store.suppressions.all()}
            assert emails == {"left@example.org", "gone@example.org"}
            assert store.suppressions.synced_at()

    def test_a_fresh_database_gets_the_same_schema(self, old_db, tmp_path):
        Store(old_db).close()
        Store(tmp_path / "fresh.sqlite").close()
        assert schema(tmp_path / "fresh.sqlite") == schema(old_db)
        assert user_version(tmp_path / "fresh.sqlite") == LATEST
        assert len([row for row in schema(old_db) if row[0] == "table"]) == 16

    def test_opening_it_again_changes_nothing(self, old_db):
        Store(old_db).close()
        before = schema(old_db)
        Store(old_db).close()
        assert schema(old_db) == before and user_version(old_db) == LATEST


def add_note(db) -> None:
    db["deliveries"].add_column("note", str)


def add_note_then_fail(db) -> None:
    add_note(db)
    raise RuntimeError("halfway")


class TestMigrations:
    def test_a_later_migration_runs_on_the_old_database(self, old_db, monkeypatch):
        monkeypatch.setattr("newsletter.store.MIGRATIONS", [*MIGRATIONS, add_note])
        with Store(old_db) as store:
            assert store.schema_version == LATEST + 1
            ada = "SELECT note FROM deliveries WHERE day=? AND subscriber_id='ada'"
            assert store.db.execute(ada, (DAY.isoformat(),)).fetchone()["note"] is None
            assert store.ledger.delivery(DAY, "ada").status == SENT

    def test_a_failing_migration_leaves_the_version_before_it(self, old_db, monkeypatch):
        monkeypatch.setattr("newsletter.store.MIGRATIONS", [*MIGRATIONS, add_note_then_fail])
        with pytest.raises(RuntimeError, match="halfway"):
            Store(old_db)
        assert user_version(old_db) == LATEST  # the migrations before it were committed
        assert "note" not in [r[1] for r in query(old_db, "PRAGMA table_info(deliveries)")]

    def test_a_database_from_a_newer_release_is_refused(self, tmp_path):
        path = tmp_path / "newer.sqlite"
        Store(path).close()
        query(path, f"PRAGMA user_version={LATEST + 1}")
        with pytest.raises(SchemaTooNew, match="newer release") as caught:
            Store(path)
        assert isinstance(caught.value, NewsletterError) and str(path) in str(caught.value)
        assert user_version(path) == LATEST + 1  # and left as it was

    def test_the_command_line_says_so_in_one_line(self, tmp_path):
        path = tmp_path / "newer.sqlite"
        Store(path).close()
        query(path, f"PRAGMA user_version={LATEST + 1}")
        (tmp_path / "config.toml").write_text('[storage]\npath = "newer.sqlite"\n')
        result = CliRunner().invoke(app, ["suppressions", "list"])
        assert result.exit_code == 1
        assert f"error: {path} has schema version {LATEST + 1}" in result.output


class TestUpgradeToWeeklyDigests:
    """Migration 5 adds the days held for a weekly reader's next digest."""

    def test_a_database_of_the_release_before_opens_with_nothing_held(self, old_db, monkeypatch):
        with monkeypatch.context() as before:
            before.setattr("newsletter.store.MIGRATIONS", MIGRATIONS[:4])
            Store(old_db).close()
        assert user_version(old_db) == 4 and not query(old_db, HELD_TABLE)
        with Store(old_db) as store:
            assert store.schema_version == LATEST == 5
            assert store.ledger.held("ada") == []
            assert store.ledger.delivery(DAY, "ada").status == SENT  # the ledger is kept
            store.ledger.hold("ada", date(2025, 4, 14))
            store.ledger.hold("ada", date(2025, 4, 15))
            store.ledger.hold("ada", date(2025, 4, 15))  # a re-run holds a day once
            assert store.ledger.held("ada") == [date(2025, 4, 14), date(2025, 4, 15)]
            later = date(2025, 4, 18)
            store.ledger.begin(later, "ada", "ada@example.org")
            assert store.ledger.held("ada") != []  # not while its outcome is unknown
            store.ledger.finish(later, "ada", SENT, paper_ids=["2504.99999"])
            assert store.ledger.held("ada") == []  # let go with the digest that sent them
        assert query(old_db, HELD_TABLE)

    def test_days_held_move_with_the_reader_when_the_id_changes_hands(self, store):
        store.readers.claim("ada", "ada@example.org")
        store.ledger.hold("ada", DAY)
        assert store.readers.claim("ada", "someone.else@example.org") == "ada~1"
        assert store.ledger.held("ada") == [] and store.ledger.held("ada~1") == [DAY]


HELD_TABLE = "SELECT name FROM sqlite_master WHERE type='table' AND name='held'"


class TestTransactions:
    def test_a_listing_that_fails_halfway_stores_none_of_it(self, tmp_path):
        """The papers go in before the day's counts: a bad count must take them back out."""
        new = Paper("2504.00001", "T", ("A",), "abstract", ("cs.LG",), "cs.LG")
        broken = Listing(DAY, [new], listed=None, new=1)  # type: ignore[arg-type]
        with Store(tmp_path / "db.sqlite") as store:
            with pytest.raises(sqlite3.IntegrityError, match=r"days\.listed"):
                store.papers.save_listing(broken, ["cs.LG"])
            assert store.papers.load([new.id]) == {} and store.papers.latest_day() is None
            assert store.papers.save_listing(Listing(DAY, [new], listed=1, new=1), ["cs.LG"]) == 1
            assert store.papers.load_listing(DAY).papers == [new]


class TestRerunAfterUpgrade:
    """A deployment whose `[storage] path` is the 0.1.0 database, against the local fakes."""

    @pytest.fixture
    def config(self, home):
        shutil.copy(FIXTURE, home / "v0.sqlite")
        with (home / "config.toml").open("a") as toml:
            toml.write('\n[storage]\npath = "v0.sqlite"\n')
        return load_config(home / "config.toml")

    def test_the_same_day_sends_nothing(self, config, sendgrid_server, openai_server):
        report = run_send(config, SendOptions(feed=SAMPLE))
        assert report.day == DAY
        statuses = {s.subscriber_id: s.status for s in report.served}
        assert statuses == {"ada": "skipped", "bob": "unknown"}
        assert sendgrid_server.requests_count == 0 and openai_server.requests == []

    def test_a_later_day_leaves_out_the_papers_sent_before(self, config, arxiv_server):
        with Store(config.storage.path) as store:
            again = sorted(store.ledger.sent_paper_ids("ada"))[0]
        arxiv_server.serve(
            [
                paper(again, title="Mixture of Experts again", categories=["cs.LG"]),
                paper("2504.99001", title="Pruning Experts Anew", categories=["cs.LG"]),
            ],
            pub_date="Fri, 11 Apr 2025 00:00:00 -0400",
        )
        report = run_send(config, SendOptions(only="ada"))
        assert [(s.subscriber_id, s.status) for s in report.served] == [("ada", "sent")]
        assert [k.paper.id for k in report.served[0].selection.picks] == ["2504.99001"]


class TestMigration2:
    def test_an_upgraded_database_knows_who_was_sent(self, old_db):
        with Store(old_db) as store:
            rows = store.db.execute("SELECT subscriber_id, email FROM subscribers ORDER BY 1")
            assert [tuple(r) for r in rows] == [
                ("ada", "ada@example.org"),
                ("bob", "bob@example.org"),
            ]
            assert store.readers.claim("ada", "ada@example.org") is None  # the same reader


NEW = Paper("2504.00001", "T", ("A",), "abstract", ("cs.LG",), "cs.LG")

# One call of every public method of every part of the store.
CALLS = {
    "papers.save_listing": lambda s: s.papers.save_listing(
        Listing(DAY, [NEW], listed=1, new=1), ["cs.LG"]
    ),
    "papers.fetched_categories": lambda s: s.papers.fetched_categories(DAY),
    "papers.latest_day": lambda s: s.papers.latest_day(),
    "papers.load_listing": lambda s: s.papers.load_listing(DAY),
    "papers.load": lambda s: s.papers.load([NEW.id]),
    "scores.save": lambda s: s.scores.save([Score(NEW.id, 7, 3, "c")], "h", "m"),
    "scores.cached": lambda s: s.scores.cached([NEW.id], "h", "m"),
    "spend.add": lambda s: s.spend.add(DAY, "k", Usage("m", 1, 10, 0, 5, 0.5)),
    "spend.over": lambda s: s.spend.over([DAY], "k"),
    "ledger.begin": lambda s: s.ledger.begin(DAY, "ada", "ada@example.org"),
    "ledger.finish": lambda s: s.ledger.finish(DAY, "ada", SENT, paper_ids=[NEW.id]),
    "ledger.delivery": lambda s: s.ledger.delivery(DAY, "ada"),
    "ledger.sent_paper_ids": lambda s: s.ledger.sent_paper_ids("ada"),
    "ledger.hold": lambda s: s.ledger.hold("ada", DAY),
    "ledger.held": lambda s: s.ledger.held("ada"),
    "ledger.release": lambda s: s.ledger.release("ada", DAY),
    "suppressions.replace": lambda s: s.suppressions.replace(
        [("Gone@example.org", "bounces", "bounced", "550", 1)]
    ),
    "suppressions.all": lambda s: s.suppressions.all(),
    "suppressions.synced_at": lambda s: s.suppressions.synced_at(),
    "unsubscribes.add": lambda s: s.unsubscribes.add("bob", "Bob@example.org"),
    "unsubscribes.contains": lambda s: s.unsubscribes.contains("bob@example.org"),
    "unsubscribes.as_suppressions": lambda s: s.unsubscribes.as_suppressions(),
    "unsubscribes.remove": lambda s: s.unsubscribes.remove("bob@example.org"),
    "digests.save": lambda s: s.digests.save(DAY, "ada", "sent", {"papers": []}),
    "digests.load": lambda s: s.digests.load("ada"),
    "readers.claim": lambda s: s.readers.claim("ada", "ada@example.org"),
    "readers.email": lambda s: s.readers.email("ada"),
    "readers.had_earlier_reader": lambda s: s.readers.had_earlier_reader("ada"),
    "readers.known": lambda s: s.readers.known(),
    "tokens.token": lambda s: s.tokens.token("ada"),
    "tokens.subscriber": lambda s: s.tokens.subscriber("no-such-token"),
    "batches.save": lambda s: s.batches.save("key", "batch_1"),
    "batches.in_flight": lambda s: s.batches.in_flight("key"),
    "batches.last": lambda s: s.batches.last("key"),
    "votes.record": lambda s: s.votes.record("ada", NEW.id, "up", "T", DAY, "link"),
    "votes.voted_ids": lambda s: s.votes.voted_ids("ada"),
    "votes.titles": lambda s: s.votes.titles("ada", "up", 5),
    "votes.remove": lambda s: s.votes.remove("ada", NEW.id, "up"),
}
PARTS = ("papers", "scores", "spend", "ledger", "suppressions", "unsubscribes", "digests",
         "readers", "tokens", "batches", "votes")  # fmt: skip


class Guarded:
    """The store's connection, refusing any statement run without the store's guard held."""

    def __init__(self, conn: sqlite3.Connection, guard):
        self.conn, self.guard, self.statements = conn, guard, 0

    def execute(self, *args):
        assert self.guard._is_owned(), f"unguarded: {args[0]}"
        self.statements += 1
        return self.conn.execute(*args)

    def executemany(self, *args):
        assert self.guard._is_owned(), f"unguarded: {args[0]}"
        self.statements += 1
        return self.conn.executemany(*args)

    def __getattr__(self, name):
        return getattr(self.conn, name)


class TestOneGuard:
    """Deliveries run in threads on one connection: every statement of every part holds the
    one guard, reads as much as writes."""

    def test_every_method_is_called_below(self, store):
        public = {
            f"{part}.{name}"
            for part in PARTS
            for name in dir(getattr(store, part))
            if not name.startswith("_") and callable(getattr(getattr(store, part), name))
        }
        assert public == set(CALLS)

    def test_every_statement_holds_the_guard(self, store):
        watched = Guarded(store._db.conn, store._db._guard)
        store._db.conn = watched
        for name, call in CALLS.items():
            before = watched.statements
            call(store)
            assert watched.statements > before, f"{name} ran no statement"
        assert store.ledger.delivery(DAY, "ada").status == SENT
        assert store.suppressions.all()[0].email == "gone@example.org"
        assert store.votes.voted_ids("ada") == set() and store.batches.in_flight("key")
