"""Scoring through the real openai client against a local server speaking chat completions."""

import asyncio
import json
from dataclasses import replace
from datetime import date

import openai
import pytest

from newsletter.chat import ChatTransport, failure, make_client
from newsletter.config import Config, LLMConfig, Price
from newsletter.errors import QuotaExhausted
from newsletter.models import Listing, Paper
from newsletter.pipeline import score_day
from newsletter.score import LLMScorer
from tests.conftest import EXAMPLE

PRICE = Price(prompt=1.0, cached=0.5, completion=4.0)


def papers(n: int) -> list[Paper]:
    return [
        Paper(f"2504.{i:05d}", f"Paper number {i}", ("A. Author",), f"Abstract {i}. " * 20,
              ("cs.LG",), "cs.LG")
        for i in range(1, n + 1)
    ]  # fmt: skip


@pytest.fixture
def llm(openai_server, monkeypatch, store):
    """Run a scorer against the fake, keeping its scores in the test's store; returns
    (outcome, scorer)."""
    monkeypatch.setenv("OPENAI_API_KEY", openai_server.api_key)

    def run(items, *, profile=EXAMPLE, **settings):
        options = {"base_url": openai_server.base_url, "model": "m", "batch_size": 5,
                   "title_pass": False, "skim_chars": 0, "max_retries": 1, "timeout": 5,
                   "prices": {"m": PRICE}, **settings}  # fmt: skip
        config = Config(llm=LLMConfig(**options))

        async def go():
            scorer = LLMScorer(config, store, ChatTransport(config.llm, make_client(config)))
            try:
                return await scorer.score(profile, items), scorer
            finally:
                await scorer.close()

        return asyncio.run(go())

    return run


def asked_ids(request) -> list[str]:
    user = request.body["messages"][-1]["content"]
    return [line.split(": ")[1] for line in user.splitlines() if line.startswith("ARXIVID: ")]


def answer_limit(body: dict) -> int:
    """The request's cap on answer tokens, under whichever name it was sent."""
    return body.get("max_completion_tokens") or body["max_tokens"]


def jsonl(*rows) -> str:
    return "\n".join(
        json.dumps({"ARXIVID": i, "COMMENT": c, "RELEVANCE": r, "NOVELTY": n})
        for i, r, n, c in rows
    )


class TestScoring:
    def test_batches_scores_and_usage(self, llm, openai_server):
        items = papers(12)
        openai_server.relevance = {items[0].id: 9, items[5].id: 7}
        out, scorer = llm(items)
        assert len(openai_server.requests) == scorer.requests == 3  # 5 + 5 + 2
        assert out.scores[items[0].id].relevance == 9
        assert out.scores[items[5].id].relevance == 7
        assert out.scores[items[1].id].relevance == 2
        assert len(out.read) == 12 and out.unscored == []
        first = next(r for r in openai_server.requests if asked_ids(r)[0] == items[0].id)
        sent = first.body
        assert sent["messages"][0]["role"] == "system"
        assert "## Answer format" in sent["messages"][0]["content"]
        assert sent["messages"][1]["content"].startswith("ARXIVID: 2504.00001\nTitle: ")
        assert out.usage.requests == 3 and out.usage.prompt_tokens > 3 * 1000
        expected = PRICE.cost(out.usage.prompt_tokens, out.usage.cached_tokens,
                              out.usage.completion_tokens)  # fmt: skip
        assert out.usage.cost_usd == pytest.approx(expected)

    def test_prompt_prefix_is_cached_across_batches(self, llm, openai_server):
        out, _ = llm(papers(10), concurrency=1)
        assert out.usage.cached_tokens >= 1024  # the second batch reuses the system prompt
        full = PRICE.cost(out.usage.prompt_tokens, 0, out.usage.completion_tokens)
        assert out.usage.cost_usd < full

    def test_a_model_without_a_price_is_reported_not_fatal(self, llm):
        out, _ = llm(papers(2), prices={})
        assert out.usage.cost_usd is None
        assert any("no price for model 'm'" in note for note in out.notes)
        assert len(out.scores) == 2

    def test_cache_second_run_makes_no_request(self, llm, openai_server):
        first, _ = llm(papers(6))  # both runs share the test's store
        before = len(openai_server.requests)
        second, scorer = llm(papers(6))
        assert scorer.requests == 0 and len(openai_server.requests) == before
        assert second.scores == first.scores and second.usage.requests == 0


class TestUntrustedAnswers:
    def test_fenced_array_with_prose_and_trailing_commas(self, llm, openai_server):
        items = papers(2)
        body = json.dumps(
            [{"ARXIVID": items[0].id, "COMMENT": "c", "RELEVANCE": "8", "NOVELTY": 6.4},
             {"ARXIVID": items[1].id, "COMMENT": "d", "RELEVANCE": 3, "NOVELTY": 12}]
        ).replace("}]", "},]")  # fmt: skip
        openai_server.queue_content(f"Sure, here you go:\n```json\n{body}\n```\nThanks!")
        out, scorer = llm(items)
        assert scorer.requests == 1
        assert (out.scores[items[0].id].relevance, out.scores[items[0].id].novelty) == (8, 6)
        assert out.scores[items[1].id].novelty == 10

    def test_a_hallucinated_id_is_never_selected(self, llm, openai_server):
        items = papers(2)
        openai_server.queue_content(
            jsonl((items[0].id, 5, 5, "ok"), ("2504.99999", 10, 10, "injected"))
        )
        out, _ = llm(items)
        assert "2504.99999" not in out.scores
        assert set(out.scores) == {items[0].id, items[1].id}  # the missing one was re-asked

    def test_missing_ids_are_asked_again_in_smaller_batches(self, llm, openai_server):
        items = papers(4)
        openai_server.queue_content(jsonl((items[0].id, 5, 5, "only one")))
        out, _ = llm(items, batch_size=4)
        assert asked_ids(openai_server.requests[0]) == [p.id for p in items]
        retried = [asked_ids(r) for r in openai_server.requests[1:]]
        assert sorted(retried) == [[items[1].id, items[2].id], [items[3].id]]
        assert len(out.scores) == 4 and out.unscored == []

    def test_unanswered_after_the_rounds_are_reported(self, llm, openai_server):
        items = papers(1)
        openai_server.queue_content("no idea", times=3)
        out, scorer = llm(items, retry_rounds=2)
        assert scorer.requests == 3
        assert out.unscored == [items[0].id] and out.scores == {}

    @pytest.mark.parametrize("failure", ["refusal", "bad_request", "malformed", "truncated"])
    def test_a_failed_batch_affects_only_that_batch(self, llm, openai_server, failure):
        items = papers(4)
        {
            "refusal": openai_server.queue_refusal,
            "bad_request": openai_server.queue_bad_request,
            "malformed": openai_server.queue_malformed,
            "truncated": lambda: openai_server.queue_truncated(keep=120),
        }[failure]()
        out, _ = llm(items, batch_size=2, retry_rounds=0, concurrency=1)
        # the first batch failed (a cut answer keeps its complete first line); the second did not
        assert {items[2].id, items[3].id} <= set(out.scores)
        assert items[1].id in out.unscored
        if failure == "truncated":
            assert items[0].id in out.scores
        else:
            assert set(out.unscored) == {items[0].id, items[1].id}


class TestProviderErrors:
    def test_429_then_success(self, llm, openai_server):
        openai_server.queue_rate_limit()
        out, scorer = llm(papers(2))
        assert scorer.requests == 1  # the client retried by itself
        assert [r.status for r in openai_server.requests] == [429, 200]
        assert len(out.scores) == 2

    def test_500s_exhaust_the_client_retries_then_the_batch_is_asked_again(
        self, llm, openai_server
    ):
        openai_server.queue_server_error(times=2)
        out, scorer = llm(papers(4), batch_size=2, concurrency=1, max_retries=1)
        assert [r.status for r in openai_server.requests] == [500, 500, 200, 200]
        assert any("HTTP 500" in note for note in out.notes)
        assert len(out.scores) == 4 and scorer.requests == 3

    def test_a_round_of_nothing_but_failures_is_not_asked_again(self, llm, openai_server):
        """An endpoint that answers only 500s costs one round, not `retry_rounds` more."""
        openai_server.queue_server_error(times=20)
        out, scorer = llm(papers(4), batch_size=2, max_retries=0, retry_rounds=2)
        assert scorer.requests == 2 and [r.status for r in openai_server.requests] == [500] * 2
        assert out.scores == {} and len(out.unscored) == 4

    def test_failures_of_a_kind_make_one_note_in_the_first_ones_words(self, llm, openai_server):
        openai_server.queue_server_error(times=4)
        out, scorer = llm(papers(4), batch_size=1, max_retries=0, retry_rounds=0)
        assert scorer.requests == 4
        said = "The server had an error while processing your request. Sorry about that!"
        assert [n for n in out.notes if "failed" in n] == [f"4 requests failed: HTTP 500 ({said})"]

    def test_a_note_never_shows_the_endpoints_credentials(self, llm):
        """The notes reach the digests."""
        out, _ = llm(papers(1), base_url="http://u:secret@127.0.0.1:9/v1/?key=abc", max_retries=0)
        assert out.notes == ["1 request failed: no connection to http://127.0.0.1:9/v1"]
        client = openai.OpenAI(base_url="http://[::1]:9/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.APIConnectionError) as refused:  # as the client builds it
            client.models.list()
        said = failure(refused.value, client.base_url, 30)
        assert said == ("connection", "no connection to http://[::1]:9/v1")

    def test_insufficient_quota_stops_the_run(self, llm, openai_server):
        openai_server.queue_insufficient_quota(times=5)
        with pytest.raises(QuotaExhausted, match="insufficient quota for model 'm'"):
            llm(papers(2), max_retries=0)

    def test_request_timeout_is_ours(self, llm, openai_server):
        openai_server.queue_delay(3)
        out, _ = llm(papers(1), timeout=0.3, max_retries=0, retry_rounds=0)
        assert out.unscored == ["2504.00001"]
        assert out.notes == [
            f"1 request failed: no answer from {openai_server.base_url} within 0.3 s"
        ]


class TestCostCap:
    def test_stops_before_the_cap_and_keeps_what_is_ready(self, llm, openai_server):
        items = papers(20)
        # one batch of 5 costs about $0.0025 at $1/M prompt tokens; allow roughly two
        out, scorer = llm(items, concurrency=1, max_cost_usd=0.006,
                          prices={"m": Price(prompt=1.0, completion=4.0)})  # fmt: skip
        assert 1 <= scorer.requests < 4
        assert out.usage.cost_usd <= 0.006
        assert len(out.scores) == 5 * scorer.requests
        assert any("cost cap" in note for note in out.notes)


class TestTitlePass:
    def test_clearly_irrelevant_titles_are_dropped(self, llm, openai_server):
        items = papers(6)
        openai_server.relevance = {items[0].id: 9, items[1].id: 5}
        openai_server.know(items)
        out, _ = llm(items, title_pass=True, title_batch_size=10)
        title_request, *abstract_requests = openai_server.requests
        assert "NOVELTY" not in title_request.body["messages"][0]["content"]
        assert title_request.body["messages"][1]["content"].startswith("1. Paper number 1\n")
        assert [asked_ids(r) for r in abstract_requests] == [[items[0].id, items[1].id]]
        assert len(out.read) == 2

    def test_titles_the_answer_leaves_out_are_kept(self, llm, openai_server):
        items = papers(3)
        openai_server.queue_content(json.dumps({"ARXIVID": items[0].id, "RELEVANCE": 1}))
        out, _ = llm(items, title_pass=True)
        assert asked_ids(openai_server.requests[1]) == [items[1].id, items[2].id]
        assert len(out.read) == 2

    def test_an_unparseable_title_answer_keeps_every_paper(self, llm, openai_server):
        openai_server.queue_content("I would rather not.")
        out, _ = llm(papers(3), title_pass=True)
        assert asked_ids(openai_server.requests[1]) == [p.id for p in papers(3)]
        assert len(out.read) == 3
        assert out.notes[0].startswith("the title pass's answers could not be read: its 3 papers")

    def test_the_title_cutoff_never_exceeds_the_profile_cutoff(self, llm, openai_server):
        lenient = EXAMPLE.model_copy(update={"relevance_cutoff": 2})
        items = papers(2)
        openai_server.relevance = {items[0].id: 2, items[1].id: 1}
        openai_server.know(items)
        out, _ = llm(items, profile=lenient, title_pass=True, title_cutoff=3)
        assert asked_ids(openai_server.requests[1]) == [items[0].id]
        assert len(out.read) == 1

    def test_a_title_batch_never_asks_for_more_than_a_model_can_answer(self, llm, openai_server):
        out, _ = llm(papers(1500), title_pass=True, title_batch_size=1000)
        title_requests = [
            r for r in openai_server.requests if "NOVELTY" not in r.body["messages"][0]["content"]
        ]
        assert len(title_requests) == 2
        assert all(answer_limit(r.body) <= 16_000 for r in title_requests)
        assert len(out.read) == 0  # every title scored 2: clearly irrelevant


class TestSkim:
    """Between the title pass and the full read: a title and the opening of its abstract."""

    def judge(self, scores: dict[str, tuple[int, int]], seen: list[str]):
        def judge(paper_id: str, title: str, abstract: str) -> tuple[int, int, str]:
            seen.append(abstract)
            relevance, novelty = scores.get(paper_id, (2, 2))
            return relevance, novelty, "read"

        return judge

    def test_papers_within_a_point_of_both_cutoffs_are_read_in_full(self, llm, openai_server):
        items = papers(5)
        cut = (EXAMPLE.relevance_cutoff, EXAMPLE.novelty_cutoff)
        skim = {items[0].id: cut, items[1].id: (cut[0] - 1, cut[1] - 1),
                items[2].id: (cut[0] - 2, 9), items[3].id: (9, cut[1] - 2)}  # fmt: skip
        seen: list[str] = []
        openai_server.judge = self.judge(skim, seen)
        openai_server.know(items)
        out, _ = llm(items, skim_chars=120, skim_batch_size=10)
        skim_request, *reads = openai_server.requests
        system, user = (m["content"] for m in skim_request.body["messages"])
        assert "\n1:7:5\n" in system and "NOVELTY" not in system
        first = user.split("\n\n")[0].splitlines()
        assert first[0] == "1. Paper number 1" and first[1].endswith(" …")
        assert len(first[1]) <= 122 and "2504.00001" not in user and "A. Author" not in user
        assert [asked_ids(r) for r in reads] == [[items[0].id, items[1].id]]
        assert len(out.read) == 2 and set(out.scores) == {items[0].id, items[1].id}
        assert out.scores[items[0].id].comment == "read"  # the full read's, not the skim's
        assert len(seen[-1]) > 200  # the full read sees the whole abstract

    def test_papers_the_skim_answer_leaves_out_are_read(self, llm, openai_server):
        items = papers(3)
        openai_server.queue_content('{"id":1,"r":1,"n":1}\n{"id":7,"r":9,"n":9}')
        out, _ = llm(items, skim_chars=120)
        assert asked_ids(openai_server.requests[1]) == [items[1].id, items[2].id]
        assert len(out.read) == 2

    def test_a_rerun_skims_nothing_again(self, llm, openai_server):
        items = papers(4)
        llm(items, skim_chars=120)
        asked = len(openai_server.requests)
        out, scorer = llm(items, skim_chars=120)
        assert scorer.requests == 0 and len(openai_server.requests) == asked
        assert len(out.read) == 0  # every paper skimmed at 2 and 5: dropped again, for free

    def test_a_skim_of_another_length_is_asked_again(self, llm, openai_server):
        items = papers(2)
        llm(items, skim_chars=120)
        asked = len(openai_server.requests)
        llm(items, skim_chars=200)  # another opening: the cached skim does not answer it
        assert len(openai_server.requests) == asked + 1

    def test_a_screening_request_refused_with_a_400_leaves_the_rest_to_read(
        self, llm, openai_server
    ):
        """A 400 is about that request (300 titles too long for a small model's context),
        not a sign the endpoint is down: the skim and the full read still run."""
        items = papers(4)
        message = "This model's maximum context length is 8192 tokens."
        openai_server.queue_bad_request(message, param="messages", code="context_length_exceeded")
        openai_server.relevance = {p.id: 8 for p in items}
        openai_server.know(items)
        out, _ = llm(items, title_pass=True, skim_chars=120)
        assert [r.status for r in openai_server.requests[:2]] == [400, 200]
        assert len(out.scores) == 4 and out.unscored == [] and not out.down
        assert f"1 request failed: HTTP 400 ({message})" in out.notes

    def test_the_shipped_funnel_is_titles_then_skim_then_full_reads(self, llm, openai_server):
        items = papers(4)
        openai_server.relevance = {p.id: 9 for p in items[:2]}
        openai_server.know(items)
        llm(items, title_pass=True, skim_chars=LLMConfig().skim_chars)
        bodies = [r.body["messages"] for r in openai_server.requests]
        kinds = [(len(user["content"].split("\n\n")), "\n1:7:5\n" in system["content"])
                 for system, user in bodies]  # fmt: skip
        assert kinds[0] == (1, False)  # the titles, one a line
        assert kinds[1] == (3, True)  # two papers skimmed, a blank line after each
        assert [asked_ids(r) for r in openai_server.requests[2:]] == [[items[0].id, items[1].id]]

    @pytest.mark.parametrize(("keep", "funnel"), [(1.0, (6, 3, 2)), (0.5, (3, 3, 2))])
    def test_a_rerun_tells_the_funnel_the_first_run_paid_for(
        self, llm, openai_server, keep, funnel
    ):
        """The counts reach the digest: a preview and the send after it must say the same,
        with the keyword pre-filter too (it must keep the same papers on the re-run)."""
        items = papers(6)
        openai_server.relevance = {p.id: 9 for p in items[:2]} | {items[2].id: 4}
        openai_server.know(items)
        settings = {"title_pass": True, "skim_chars": LLMConfig().skim_chars,
                    "prefilter_keep": keep}  # fmt: skip
        first, _ = llm(items, **settings)
        asked = len(openai_server.requests)
        again, _ = llm(items, **settings)
        assert len(openai_server.requests) == asked  # all of it from the cache
        counts = [(len(out.titled), len(out.skimmed), len(out.read)) for out in (first, again)]
        assert counts == [funnel, funnel]


@pytest.fixture
def shared_day(openai_server, monkeypatch, store):
    """Score a day for profiles sharing one prompt, the fake judging by `relevance`;
    returns (selections, scoring)."""
    monkeypatch.setenv("OPENAI_API_KEY", openai_server.api_key)

    def run(profiles, items, relevance):
        openai_server.relevance = relevance
        openai_server.know(items)
        options = {"base_url": openai_server.base_url, "model": "m", "prices": {"m": PRICE}}
        config = Config(llm=LLMConfig(**options))
        return score_day(config, store, Listing(date(2025, 4, 10), items), profiles)

    return run


def test_profiles_sharing_a_prompt_are_screened_at_their_lowest_cutoffs(shared_day):
    """One scoring serves both: the strict reader's cutoffs would skim away the paper the
    lenient one asks for."""
    strict, lenient = (EXAMPLE.model_copy(update={"relevance_cutoff": c}) for c in (8, 4))
    strict.id, lenient.id = "strict", "lenient"
    items = papers(3)
    selections, scoring = shared_day([strict, lenient], items, {items[0].id: 9, items[1].id: 4})
    assert scoring.requests == 3  # titles, skim, full read: once for both
    picked = {s.subscriber_id: [k.paper.id for k in s.picks] for s in selections}
    assert picked == {"strict": [items[0].id], "lenient": [items[0].id, items[1].id]}


def test_profiles_sharing_a_prompt_each_tell_their_own_funnel(shared_day):
    """One scoring serves both, but each digest counts its own papers through it."""
    wide = EXAMPLE.model_copy(update={"id": "wide", "categories": ["cs.LG", "cs.CL"]})
    narrow = EXAMPLE.model_copy(update={"id": "narrow", "categories": ["cs.CL"]})
    items = papers(2) + [replace(p, categories=("cs.CL",), primary_category="cs.CL")
                         for p in papers(5)[2:]]  # fmt: skip
    selections, scoring = shared_day([wide, narrow], items, {items[0].id: 9, items[2].id: 9})
    assert scoring.requests == 3  # titles, skim, full read: once for both
    funnel = {s.subscriber_id: (s.listed, s.titled, s.skimmed, s.read) for s in selections}
    assert funnel == {"wide": (5, 5, 2, 2), "narrow": (3, 3, 1, 1)}


def test_a_funnel_counts_only_what_was_answered(llm, openai_server):
    """An endpoint gone during the title pass judged nothing, and the digest must not say
    it read anything."""
    openai_server.queue_server_error(times=1_000)
    out, _ = llm(papers(4), title_pass=True, skim_chars=LLMConfig().skim_chars, max_retries=0)
    assert out.down and (out.titled, out.skimmed, len(out.read)) == (set(), set(), 0)


def test_a_model_that_refuses_max_tokens_and_temperature_is_adapted_to(llm, openai_server):
    """As OpenAI's reasoning models answer: the batch is asked again without the parameter."""
    openai_server.unsupported = {"max_tokens", "temperature"}
    out, _ = llm(papers(6), concurrency=1)  # 2 batches
    assert len(out.scores) == 6 and out.unscored == []
    last = openai_server.requests[-1].body
    assert "max_completion_tokens" in last and "max_tokens" not in last
    assert "temperature" not in last
    assert [r.status for r in openai_server.requests] == [400, 400, 200, 200]


def test_concurrent_batches_all_adapt(llm, openai_server):
    openai_server.unsupported = {"max_tokens"}
    out, _ = llm(papers(15), concurrency=3, retry_rounds=0)  # 3 batches at once
    assert len(out.scores) == 15
    statuses = [r.status for r in openai_server.requests]
    assert 1 <= statuses.count(400) <= 3 and statuses.count(200) == 3


def test_other_bad_requests_are_not_retried(llm, openai_server):
    openai_server.queue_bad_request(
        "Invalid 'messages[1].content': string too long. Expected a string with maximum length "
        "1048576, but got a string with length 2000000 instead.",
        param="messages[1].content",
        code="string_above_max_length",
    )
    out, _ = llm(papers(2), retry_rounds=0)
    assert out.unscored == ["2504.00001", "2504.00002"]
    assert [r.status for r in openai_server.requests] == [400]


def test_answers_are_kept_as_they_arrive(llm, openai_server):
    """A run stopped by the provider keeps what it had paid for: the re-run asks only the rest."""
    openai_server.queue_content(jsonl(*((f"2504.{i:05d}", 5, 5, "ok") for i in range(1, 6))))
    openai_server.queue_insufficient_quota()
    with pytest.raises(QuotaExhausted):
        llm(papers(10), concurrency=1, max_retries=0)
    openai_server.requests.clear()
    out, _ = llm(papers(10), concurrency=1)
    assert [asked_ids(r) for r in openai_server.requests] == [[p.id for p in papers(10)[5:]]]
    assert len(out.scores) == 10


def test_the_scorer_adapts_on_the_param_field_not_the_message(llm, openai_server):
    """A 400 whose text mentions max_tokens but whose `param` names another field is not a
    refused max_tokens: nothing is renamed, and the batch fails as any other 400."""
    openai_server.queue_bad_request(
        "Invalid 'messages[1].content': max_tokens worth of text is too long.",
        param="messages", code="string_above_max_length",
    )  # fmt: skip
    out, _ = llm(papers(2), retry_rounds=0)
    assert out.unscored == ["2504.00001", "2504.00002"]
    assert [r.status for r in openai_server.requests] == [400]
    openai_server.queue_bad_request(
        "This model does not support that.", param="max_tokens", code="unsupported_parameter"
    )
    out, _ = llm(papers(2), retry_rounds=0)
    assert "max_completion_tokens" in openai_server.requests[-1].body
    assert len(out.scores) == 2


def test_profiles_differing_only_in_language_screen_the_day_once(shared_day, openai_server):
    """The title pass and the skim answer in numbers, whatever the reader's language: a German
    and an English reader of one profile pay for them once, and each for their own full read
    (its comments are in their language)."""
    english = EXAMPLE.model_copy(update={"id": "en"})
    german = EXAMPLE.model_copy(update={"id": "de", "language": "de"})
    items = papers(3)
    selections, scoring = shared_day([english, german], items, {items[0].id: 9})
    systems = [r.body["messages"][0]["content"] for r in openai_server.requests]
    assert scoring.requests == len(systems) == 4  # titles, skim, and a full read for each
    assert sum("in German" in s for s in systems) == 1
    assert [[k.paper.id for k in s.picks] for s in selections] == [[items[0].id]] * 2
