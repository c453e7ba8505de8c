"""Scoring through the Batch API ([llm] mode = "batch"), with the real openai client against
the fake's files and batches endpoints."""

import asyncio

import pytest
from typer.testing import CliRunner

from bench.fakes.base import FakeClock
from bench.fakes.openai_batch import GARBLES
from newsletter.batch import BatchTransport
from newsletter.chat import ChatTransport, make_client
from newsletter.cli import app
from newsletter.config import Config, LLMConfig, Price, load_config
from newsletter.errors import ConfigError
from newsletter.pipeline import SendOptions, run_send, run_submit
from newsletter.score import LLMScorer
from newsletter.store import Store
from tests.conftest import EXAMPLE, SAMPLE
from tests.test_score import papers

PRICE = Price(prompt=1.0, cached=0.5, completion=4.0)  # the batch price is half, by default


def paths(server, prefix: str) -> list[str]:
    return [r.path for r in server.requests if r.path.startswith(prefix)]


@pytest.fixture
def score(openai_server, monkeypatch, store):
    """Score papers with a scorer of the given kind against the fake; returns (out, scorer)."""
    monkeypatch.setenv("OPENAI_API_KEY", openai_server.api_key)
    openai_server.batch_latency = 0.4
    openai_server.clock = FakeClock(tick=0.02)  # each look moves the batches on

    def run(items, *, kind=BatchTransport, wait=True, the_store=store, said=None, **settings):
        options = {"base_url": openai_server.base_url, "model": "m", "batch_size": 5,
                   "max_retries": 0, "timeout": 5, "prices": {"m": PRICE}, "batch_poll": 0.01,
                   "skim_chars": 0, **settings}  # fmt: skip
        config = Config(llm=LLMConfig(**options))

        async def go():
            if kind is BatchTransport:
                say = said.append if said is not None else lambda _m: None
                transport = kind(config.llm, the_store, make_client(config), wait=wait, say=say)
                transport.pause = 0  # before a create is tried again
            else:
                transport = kind(config.llm, make_client(config))
            scorer = LLMScorer(config, the_store, transport)
            try:
                return await scorer.score(EXAMPLE, items), scorer
            finally:
                await scorer.close()

        return asyncio.run(go())

    return run


class TestBatchMode:
    def test_same_scores_as_sync_at_half_the_price(self, score, openai_server, tmp_path):
        items = papers(12)
        openai_server.relevance = {items[0].id: 9, items[5].id: 7, items[7].id: 1}
        with Store(tmp_path / "sync.db") as other:
            sync, _ = score(items, kind=ChatTransport, the_store=other)
        chats = len(paths(openai_server, "/v1/chat"))
        said: list[str] = []
        batched, scorer = score(items, said=said)
        assert len(paths(openai_server, "/v1/chat")) == chats  # nothing asked synchronously
        assert len(paths(openai_server, "/v1/batches")) >= 2  # a title pass, an abstract pass
        assert batched.scores == sync.scores and batched.unscored == []
        assert batched.usage.requests == sync.usage.requests == scorer.requests
        assert batched.usage.prompt_tokens == sync.usage.prompt_tokens
        # the fake caches no prompt inside a batch: compare with the uncached sync price
        full = PRICE.cost(sync.usage.prompt_tokens, 0, sync.usage.completion_tokens)
        assert batched.usage.cost_usd == pytest.approx(full / 2)
        assert any("submitted" in line for line in said)
        assert any("completed" in line for line in said)
        assert any("Batch API" in note for note in batched.notes)

    def test_an_expired_batch_leaves_the_rest_to_sync_requests(self, score, openai_server):
        items = papers(15)
        openai_server.queue_batch("expired", answered=1)
        out, _ = score(items, title_pass=False)
        assert len(out.scores) == 15 and out.unscored == []
        assert len(paths(openai_server, "/v1/chat")) == 2  # the two of three batch lines left
        assert any("expired" in note and "1 of 3" in note for note in out.notes)

    def test_a_failed_batch_is_asked_synchronously(self, score, openai_server):
        openai_server.queue_batch("failed")
        out, _ = score(papers(6), title_pass=False)
        assert len(out.scores) == 6 and len(paths(openai_server, "/v1/chat")) == 2
        assert any("failed: The batch failed validation" in note for note in out.notes)

    def test_a_line_that_errs_is_asked_again_synchronously(self, score, openai_server):
        openai_server.queue_server_error()  # consumed by the first line the batch answers
        out, _ = score(papers(10), title_pass=False)
        assert len(out.scores) == 10 and len(paths(openai_server, "/v1/chat")) == 1

    def test_past_the_deadline_the_batch_is_cancelled(self, score, openai_server):
        openai_server.batch_latency = 30
        out, _ = score(papers(5), title_pass=False, batch_deadline=0.3)
        assert len(out.scores) == 5 and len(paths(openai_server, "/v1/chat")) == 1
        assert any(p.endswith("/cancel") for p in paths(openai_server, "/v1/batches"))
        assert any("batch_deadline" in note for note in out.notes)

    def test_a_rerun_collects_the_batch_in_flight_instead_of_paying_again(
        self, score, openai_server
    ):
        items = papers(5)
        first, scorer = score(items, title_pass=False, wait=False)
        assert len(scorer.pending) == 1 and not first.scores
        assert any("in flight" in note for note in first.notes)
        second, _ = score(items, title_pass=False)
        created = [r for r in openai_server.requests if r.path == "/v1/batches"]
        assert len(created) == 1 and len(second.scores) == 5
        assert not paths(openai_server, "/v1/chat")
        third, scorer = score(items, title_pass=False)  # every answer is cached now
        assert scorer.requests == 0 and len(created) == 1 and third.scores == second.scores

    def test_batches_in_flight_are_looked_at_together(self, openai_server, monkeypatch, store):
        monkeypatch.setenv("OPENAI_API_KEY", openai_server.api_key)
        openai_server.batch_latency = 0.5
        openai_server.clock = FakeClock(tick=0.02)
        options = {"base_url": openai_server.base_url, "model": "m", "title_pass": False,
                   "skim_chars": 0, "batch_poll": 0.01, "prices": {"m": PRICE}}  # fmt: skip
        config = Config(llm=LLMConfig(**options))
        other = EXAMPLE.model_copy(update={"topics": EXAMPLE.topics[:2]})  # another prompt

        async def go():
            batches = BatchTransport(config.llm, store, make_client(config))
            scorer = LLMScorer(config, store, batches)
            try:
                return await asyncio.gather(*(scorer.score(p, papers(4)) for p in (EXAMPLE, other)))
            finally:
                await scorer.close()

        results = asyncio.run(go())
        assert all(len(r.scores) == 4 for r in results)
        gets = [r.path for r in openai_server.requests if r.path.startswith("/v1/batches")]
        looks = [p for p in gets if p.startswith("/v1/batches?")]
        assert len(looks) >= 3  # the batches took 0.5 s, each look moving the clock on
        assert len(gets) == 2 + 2 + len(looks)  # two created, each retrieved once, then lists

    def test_the_cost_cap_holds_for_batches(self, score, openai_server):
        out, _ = score(papers(20), title_pass=False, max_cost_usd=0.003)
        assert out.capped and 0 < len(out.scores) < 20
        assert out.usage.cost_usd <= 0.003


class TestGarbledLines:
    """A line of a batch's output that is not a well-formed answer is skipped, and its request
    asked synchronously: nobody goes unserved, and the batch is not left to crash a re-run."""

    @pytest.mark.parametrize("kind", sorted(GARBLES))
    def test_a_garbled_line_is_asked_synchronously(self, score, openai_server, kind):
        openai_server.queue_garbled_line(kind)
        out, _ = score(papers(10), title_pass=False)
        assert len(out.scores) == 10 and out.unscored == []
        assert len(paths(openai_server, "/v1/chat")) == 1
        assert len(openai_server.batches.batches) == 1
        assert any("1 output line could not be read) answered 1 of 2 requests" in note
                   for note in out.notes)  # fmt: skip

    def test_garbled_lines_do_not_stop_the_run_that_collects_them(self, score, openai_server):
        garbled = len(GARBLES)
        items = papers(5 * (garbled + 3))  # a line errs, one of each garbled, two answered
        openai_server.queue_server_error()
        openai_server.queue_garbled_line("not_object", file="errors")
        for kind in GARBLES:
            openai_server.queue_garbled_line(kind)
        first, scorer = score(items, title_pass=False, wait=False)  # `score --submit`
        assert len(scorer.pending) == 1 and not first.scores
        second, _ = score(items, title_pass=False)  # `send` collects the batch
        assert len(second.scores) == len(items) and second.unscored == []
        assert len(paths(openai_server, "/v1/chat")) == garbled + 1
        said = f"{garbled} output lines could not be read) answered 2 of {garbled + 3} requests"
        assert any(said in note for note in second.notes)
        third, scorer = score(items, title_pass=False)  # collected: nothing is left to ask
        assert scorer.requests == 0 and third.scores == second.scores
        assert len(openai_server.batches.batches) == 1


class TestOnePassOneBatch:
    """A pass is sent as one batch, and paid for once, whatever happens to the reply."""

    def test_a_lost_create_reply_makes_no_second_batch(self, score, openai_server):
        items = papers(12)
        openai_server.know(items)
        openai_server.relevance = {p.id: 5 for p in items}  # each passes the title pass
        openai_server.queue_lost_batch_reply(times=2)  # the title pass's and the full read's
        out, scorer = score(items, max_retries=2)
        assert len(openai_server.batches.batches) == 2  # one a pass
        creates = [r for r in openai_server.requests if r.path == "/v1/batches"]
        assert len(creates) == 2  # neither tried again: each found by its metadata
        assert len(out.scores) == 12 and out.unscored == []
        assert not paths(openai_server, "/v1/chat")
        assert scorer.requests == sum(b.total for b in openai_server.batches.batches.values())
        assert out.usage.cost_usd == pytest.approx(
            openai_server.batches.billed(PRICE.batch_price())
        )

    def test_a_create_dropped_before_the_batch_was_made_is_tried_again(self, score, openai_server):
        openai_server.queue_lost_batch_reply(created=False)
        out, _ = score(papers(10), title_pass=False)
        assert len(openai_server.batches.batches) == 1 and len(out.scores) == 10
        creates = [r for r in openai_server.requests if r.path == "/v1/batches"]
        assert len(creates) == 2 and not paths(openai_server, "/v1/chat")

    def test_a_batch_collected_is_not_collected_again_for_the_same_requests(
        self, score, openai_server
    ):
        openai_server.queue_refusal()  # the one line: the paper is asked again, as it was
        out, _ = score(papers(1), title_pass=False)
        assert len(openai_server.batches.batches) == 2 and len(out.scores) == 1

    def test_a_rerun_collects_the_batch_a_killed_run_made(self, score, openai_server, store):
        items = papers(5)
        score(items, title_pass=False, wait=False)
        with store.transaction() as db:  # killed before the batch's id was kept
            db.execute("DELETE FROM batches")
        said: list[str] = []
        out, scorer = score(items, title_pass=False, said=said)
        assert len(openai_server.batches.batches) == 1 and len(out.scores) == 5
        assert scorer.requests == 0 and not paths(openai_server, "/v1/chat")
        assert any("collecting what an earlier run submitted" in line for line in said)

    def test_a_batch_a_killed_run_made_that_failed_is_made_again(self, score, openai_server, store):
        items = papers(5)
        openai_server.queue_batch("failed")  # as for the queue's token limit, which passes
        score(items, title_pass=False, wait=False)
        with store.transaction() as db:
            db.execute("DELETE FROM batches")
        out, _ = score(items, title_pass=False)
        assert len(openai_server.batches.batches) == 2 and len(out.scores) == 5
        assert not paths(openai_server, "/v1/chat")


class TestSubmitThenSend:
    def test_score_submit_starts_the_batches_and_send_collects_them(
        self, home, openai_server, sendgrid_server
    ):
        openai_server.batch_latency = 0.3
        openai_server.clock = clock = FakeClock()  # still until a test moves it
        config_file = home / "config.toml"
        text = config_file.read_text().replace(
            "[llm]\n", '[llm]\nmode = "batch"\nbatch_poll = 0.01\n'
        )
        config_file.write_text(text)
        args = ["--config", str(config_file), "score", "--submit", "--feed", str(SAMPLE)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "1 batch in flight" in result.output  # ada and bob share one prompt
        assert not paths(openai_server, "/v1/chat")
        clock.tick = 0.1  # the send waits: each look moves the batches on
        report = run_send(load_config(config_file), SendOptions(feed=SAMPLE))
        assert report.ok and sorted(s.status for s in report.served) == ["sent", "sent"]
        created = [r for r in openai_server.requests if r.path == "/v1/batches"]
        assert len(created) == 3  # the title pass once (collected), the skim, the abstract pass
        assert not paths(openai_server, "/v1/chat")
        lines = sum(b.total for b in openai_server.batches.batches.values())
        (usage,) = report.served[0].selection.usage.values()  # the day's spend, both runs
        assert usage.requests == lines and usage.cost_usd > 0

    def test_a_second_submit_collects_the_title_pass_and_records_its_cost(
        self, home, openai_server
    ):
        openai_server.batch_latency = 0.2
        openai_server.clock = clock = FakeClock()  # still until a test moves it
        config_file = home / "config.toml"
        batch = '[llm]\nmode = "batch"\nbatch_poll = 0.01\n'
        config_file.write_text(config_file.read_text().replace("[llm]\n", batch))
        config = load_config(config_file)
        assert len(run_submit(config, SendOptions(feed=SAMPLE))) == 1
        clock.advance(0.3)
        assert len(run_submit(config, SendOptions(feed=SAMPLE))) == 1  # the skim
        titles = min(openai_server.batches.batches.values(), key=lambda b: b.created_at)
        with Store(config.storage.path) as store:
            (row,) = store.db.execute("SELECT requests, cost_usd FROM spend").fetchall()
        assert row[0] == titles.total and row[1] > 0

    def test_hourly_submits_run_every_pass_and_send_only_collects(
        self, home, openai_server, sendgrid_server
    ):
        """The README's cron: `score --submit` each hour collects what ended and starts the
        next pass; by the time `send` runs, there is nothing left to submit or wait for."""
        openai_server.batch_latency = 0.2
        openai_server.clock = clock = FakeClock()  # still until a test moves it
        config_file = home / "config.toml"
        batch = '[llm]\nmode = "batch"\nbatch_poll = 0.01\n'
        config_file.write_text(config_file.read_text().replace("[llm]\n", batch))
        config = load_config(config_file)
        in_flight = []
        for _ in range(4):
            in_flight.append(len(run_submit(config, SendOptions(feed=SAMPLE))))
            clock.advance(0.3)
        assert in_flight == [1, 1, 1, 0]  # titles, skim, full read, then done
        args = ["--config", str(config_file), "score", "--submit", "--feed", str(SAMPLE)]
        said = CliRunner().invoke(app, args).output
        assert "every pass has been answered: `newsletter send` has nothing to wait for" in said
        created = len(openai_server.batches.batches)
        report = run_send(config, SendOptions(feed=SAMPLE))
        assert report.ok and len(sendgrid_server.messages) == 2
        assert len(openai_server.batches.batches) == created == 3
        assert not paths(openai_server, "/v1/chat")

    def test_submit_refuses_sync_mode(self, home):
        args = ["--config", str(home / "config.toml"), "score", "--submit", "--feed", str(SAMPLE)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and 'mode = "batch"' in result.output


class TestBatchPrices:
    def test_half_the_price_unless_told_otherwise(self):
        assert PRICE.batch_price().cost(1_000_000, 0, 1_000_000) == pytest.approx(2.5)
        own = Price(prompt=1.0, completion=4.0, batch={"prompt": 0.3, "completion": 1.0})
        assert own.batch_price().cost(1_000_000, 0, 1_000_000) == pytest.approx(1.3)

    @pytest.mark.parametrize("share", [0, 1.5, -0.5])
    def test_a_share_outside_0_to_1_is_refused(self, share, tmp_path):
        path = tmp_path / "config.toml"
        path.write_text(f"[llm.prices.m]\nprompt = 1\ncompletion = 2\nbatch = {share}\n")
        with pytest.raises(ConfigError, match=r"llm\.prices\.m\.batch"):
            load_config(path)
