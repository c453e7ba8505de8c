"""The fake OpenAI server, driven by the real openai client."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.fakes.openai import FakeOpenAI, parse_papers

TITLE_SYSTEM = "Rate each title. RELEVANCE is an integer from 1 to 10. " * 4
# Long enough (~1300 tokens by the fake's count) for the prompt cache to apply.
ABSTRACT_SYSTEM = "Score each paper for RELEVANCE and NOVELTY, one JSON object a line. " * 75
ABSTRACTS = (
    "ARXIVID: 2504.01234\nTitle: Sparse attention\nAuthors: A. One, B. Two\n"
    "Abstract: We study sparse attention.\n\nAnd a second paragraph.\n\n"
    "ARXIVID: 2504.05678\nTitle: Diffusion planning\nAuthors: C. Three\n"
    "Abstract: Planning with diffusion.\n"
)
TITLES = "1. Sparse attention\n2. Diffusion planning\n"


def make_client(server: FakeOpenAI, **options: Any) -> openai.OpenAI:
    options = {"max_retries": 0, "timeout": 5} | options
    return openai.OpenAI(base_url=server.base_url, api_key="test-key", **options)


@pytest.fixture
def api(openai_server: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with make_client(openai_server) as client:
        yield client


def ask(api: openai.OpenAI, system: str = ABSTRACT_SYSTEM, user: str = ABSTRACTS, **kw: Any):
    return api.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
        temperature=0,
        **kw,
    )


def test_abstract_pass_answer_is_oracle_jsonl_with_usage(
    openai_server: FakeOpenAI, api: openai.OpenAI
) -> None:
    openai_server.relevance = {"2504.01234": 9}
    reply = ask(api)
    assert isinstance(reply, openai.types.chat.ChatCompletion)
    assert reply.object == "chat.completion" and reply.model == "gpt-test"
    assert reply.choices[0].finish_reason == "stop"
    rows = [json.loads(line) for line in reply.choices[0].message.content.splitlines()]
    assert rows == [
        {"ARXIVID": "2504.01234", "COMMENT": "fake", "RELEVANCE": 9, "NOVELTY": 5},
        {"ARXIVID": "2504.05678", "COMMENT": "fake", "RELEVANCE": 2, "NOVELTY": 5},
    ]
    usage = reply.usage
    assert usage.prompt_tokens > 1024 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens == 0

    recorded = openai_server.requests[0]
    assert recorded.path == "/v1/chat/completions" and recorded.status == 200
    assert recorded.headers["authorization"] == "Bearer test-key"
    assert recorded.body["temperature"] == 0


def test_title_pass_and_custom_judge(openai_server: FakeOpenAI, api: openai.OpenAI) -> None:
    seen = []
    openai_server.judge = lambda pid, title, abstract: seen.append(pid) or (len(title), 1, title)
    openai_server.catalogue = {"Sparse attention": "2504.01234"}
    reply = ask(api, system=TITLE_SYSTEM, user=TITLES)
    rows = [json.loads(line) for line in reply.choices[0].message.content.splitlines()]
    assert seen == ["2504.01234", ""]  # a title the fake does not know has no id
    assert rows == [
        {"id": 1, "r": len("Sparse attention")},
        {"id": 2, "r": len("Diffusion planning")},
    ]


def test_parse_papers_keeps_multi_paragraph_abstracts() -> None:
    papers = parse_papers(ABSTRACTS)
    assert [p[:2] for p in papers] == [
        ("2504.01234", "Sparse attention"),
        ("2504.05678", "Diffusion planning"),
    ]
    assert papers[0][2] == "We study sparse attention.\n\nAnd a second paragraph."


def test_second_request_with_same_system_prompt_hits_cache(
    openai_server: FakeOpenAI, api: openai.OpenAI
) -> None:
    first = ask(api)
    second = ask(api, user=TITLES)
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert cached >= 1024 and cached % 128 == 0 and cached < second.usage.prompt_tokens
    other_model = api.chat.completions.create(
        model="gpt-other", messages=[{"role": "system", "content": ABSTRACT_SYSTEM}]
    )
    assert other_model.usage.prompt_tokens_details.cached_tokens == 0
    short = ask(api, system=TITLE_SYSTEM)
    short_again = ask(api, system=TITLE_SYSTEM)
    assert short.usage.prompt_tokens < 1024
    assert short_again.usage.prompt_tokens_details.cached_tokens == 0


def test_rate_limit_and_insufficient_quota(openai_server: FakeOpenAI, api: openai.OpenAI) -> None:
    openai_server.queue_rate_limit()
    openai_server.queue_insufficient_quota()
    with pytest.raises(openai.RateLimitError) as limited:
        ask(api)
    assert limited.value.code == "rate_limit_exceeded"
    assert limited.value.response.headers["retry-after"] == "0"
    with pytest.raises(openai.RateLimitError) as quota:
        ask(api)
    assert quota.value.code == "insufficient_quota"
    assert quota.value.body["type"] == "insufficient_quota"
    assert ask(api).choices[0].finish_reason == "stop"  # back to the default


def test_server_error_and_bad_request(openai_server: FakeOpenAI, api: openai.OpenAI) -> None:
    openai_server.queue_server_error()
    openai_server.queue_bad_request("max_tokens is too large")
    with pytest.raises(openai.InternalServerError):
        ask(api)
    with pytest.raises(openai.BadRequestError) as bad:
        ask(api)
    assert bad.value.body["type"] == "invalid_request_error"
    assert "max_tokens is too large" in str(bad.value)
    assert [r.status for r in openai_server.requests] == [500, 400]


def test_retries_through_one_rate_limit(openai_server: FakeOpenAI, api: openai.OpenAI) -> None:
    openai_server.queue_rate_limit()
    reply = ask(api.with_options(max_retries=2))
    assert reply.choices[0].message.content.startswith('{"ARXIVID": "2504.01234"')
    assert [r.status for r in openai_server.requests] == [429, 200]


def test_raw_content_truncation_refusal_and_malformed(
    openai_server: FakeOpenAI, api: openai.OpenAI
) -> None:
    full = ask(api).choices[0].message.content
    fenced = '```json\n[{"ARXIVID": "2504.01234", "RELEVANCE": "8",}]\n```'
    openai_server.queue_content(fenced)
    openai_server.queue_truncated()
    openai_server.queue_refusal()
    openai_server.queue_malformed()
    assert ask(api).choices[0].message.content == fenced

    cut = ask(api).choices[0]
    assert cut.finish_reason == "length" and cut.message.content == full[: len(full) // 2]

    refused = ask(api).choices[0].message
    assert refused.content is None and refused.refusal
    assert ask(api).choices is None


def test_max_tokens_cuts_the_answer(openai_server: FakeOpenAI, api: openai.OpenAI) -> None:
    choice = ask(api, max_tokens=5).choices[0]
    assert choice.finish_reason == "length" and len(choice.message.content) == 20


def test_delay_and_client_timeout(openai_server: FakeOpenAI, api: openai.OpenAI) -> None:
    openai_server.queue_delay(2)
    with pytest.raises(openai.APITimeoutError):
        ask(api.with_options(timeout=0.2))
    assert ask(api).choices[0].finish_reason == "stop"  # the delay was one-shot


def test_concurrency_limit_and_high_water_mark() -> None:
    with FakeOpenAI(latency=0.2, max_concurrent=4, rate_limit_retry_after=0.25) as server:
        api = make_client(server)
        results: list[BaseException | None] = []

        def one() -> None:
            try:
                ask(api)
                results.append(None)
            except openai.RateLimitError as exc:
                results.append(exc)

        threads = [threading.Thread(target=one) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert server.max_in_flight == 4
    assert server.rejected == 6 == sum(r is not None for r in results)
    rejected = next(r for r in results if r is not None)
    assert rejected.response.headers["retry-after"] == "0.25"
