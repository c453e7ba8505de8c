"""The fake OpenAI server, driven by the real openai client."""

from __future__ import annotations

import json
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion

from bench.fakes.base import FakeClock
from bench.fakes.openai import FakeOpenAI, parse_papers
from bench.fakes.openai_batch import GARBLES

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
    options = {"api_key": server.api_key, "max_retries": 0, "timeout": 5} | options
    return openai.OpenAI(base_url=server.base_url, **options)


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
    assert seen == ["2504.01234", ""]  # a title the fake does not know has no id
    assert reply.choices[0].message.content == "1:16\n2:18"  # number:relevance, as asked


def test_the_skim_is_answered_with_novelty_from_the_abstract(
    openai_server: FakeOpenAI, api: openai.OpenAI
) -> None:
    seen = []
    openai_server.judge = lambda pid, title, abstract: seen.append(abstract) or (7, 4, "")
    skim = "Answer each paper's number, relevance and novelty:\n1:7:5\n"
    reply = ask(api, system=skim, user="1. Sparse attention\nWe study sparse attention.\n\n"
                "2. Diffusion planning\nWe plan.\n\n")  # fmt: skip
    assert seen == ["We study sparse attention.", "We plan."]
    assert reply.choices[0].message.content == "1:7:4\n2:7:4"


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


def error_of(exc: openai.APIStatusError) -> dict[str, Any]:
    """The error object of a failed request's body, as the real API nests it."""
    assert isinstance(exc.body, dict) and set(exc.body) == {"message", "type", "param", "code"}
    return exc.body


def test_rate_limit_and_insufficient_quota(openai_server: FakeOpenAI, api: openai.OpenAI) -> None:
    openai_server.queue_rate_limit()
    openai_server.queue_insufficient_quota()
    with pytest.raises(openai.RateLimitError) as limited:
        ask(api)
    assert limited.value.response.headers["retry-after"] == "0"
    error = error_of(limited.value)
    assert (error["type"], error["param"], error["code"]) == (
        "requests",
        None,
        "rate_limit_exceeded",
    )
    assert error["message"].startswith("Rate limit reached for gpt-test in organization ")
    with pytest.raises(openai.RateLimitError) as quota:
        ask(api)
    error = error_of(quota.value)
    assert (error["type"], error["param"], error["code"]) == (
        "insufficient_quota",
        None,
        "insufficient_quota",
    )
    assert error["message"].startswith("You exceeded your current quota")
    assert ask(api).choices[0].finish_reason == "stop"  # back to the default


def test_server_error_and_bad_request(openai_server: FakeOpenAI, api: openai.OpenAI) -> None:
    openai_server.queue_server_error()
    openai_server.queue_bad_request(
        "Invalid 'messages[1].content': string too long.",
        param="messages[1].content",
        code="string_above_max_length",
    )
    with pytest.raises(openai.InternalServerError) as failed:
        ask(api)
    assert error_of(failed.value) == {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.BadRequestError) as bad:
        ask(api)
    error = error_of(bad.value)
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "messages[1].content",
        "string_above_max_length",
    )
    assert "string too long" in str(bad.value)
    assert [r.status for r in openai_server.requests] == [500, 400]


def test_a_refused_parameter_is_named_as_the_real_api_names_it(
    openai_server: FakeOpenAI, api: openai.OpenAI
) -> None:
    openai_server.unsupported = {"max_tokens", "temperature"}
    with pytest.raises(openai.BadRequestError) as limit:
        ask(api, max_tokens=100)
    assert error_of(limit.value) == {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "type": "invalid_request_error",
        "param": "max_tokens",
        "code": "unsupported_parameter",
    }
    with pytest.raises(openai.BadRequestError) as heat:
        ask(api, max_completion_tokens=100)  # `ask` sends temperature=0
    assert error_of(heat.value) == {
        "message": "Unsupported value: 'temperature' does not support 0 with this model. "
        "Only the default (1) value is supported.",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": "unsupported_value",
    }
    accepted = api.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": TITLES}], temperature=1
    )
    assert accepted.choices[0].finish_reason == "stop"  # the default value is fine


def test_a_wrong_or_missing_key_is_refused(openai_server: FakeOpenAI) -> None:
    wrong = make_client(openai_server, api_key="sk-wrong-key-1234")
    with wrong, pytest.raises(openai.AuthenticationError) as refused:
        ask(wrong)
    error = error_of(refused.value)
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        None,
        "invalid_api_key",
    )
    assert error["message"].startswith("Incorrect API key provided: sk-**********1234.")
    # the client will not send a request without a key: a bare one, with no Authorization
    body = json.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]})
    bare = urllib.request.Request(f"{openai_server.base_url}/chat/completions", body.encode())
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(bare, timeout=5)
    with missing.value as answer:
        assert answer.code == 401
        error = json.loads(answer.read())["error"]
    assert error["message"].startswith("You didn't provide an API key.")
    assert [r.status for r in openai_server.requests] == [401, 401]


def test_an_unknown_model_or_path_is_a_404(openai_server: FakeOpenAI, api: openai.OpenAI) -> None:
    openai_server.models = {"gpt-known"}
    with pytest.raises(openai.NotFoundError) as unknown:
        ask(api)
    assert error_of(unknown.value) == {
        "message": "The model `gpt-test` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }
    with pytest.raises(openai.NotFoundError) as path:
        api.post("/embeddings", body={"model": "gpt-known"}, cast_to=object)
    assert error_of(path.value)["message"] == "Invalid URL (POST /v1/embeddings)"
    answer = api.chat.completions.create(
        model="gpt-known", messages=[{"role": "user", "content": TITLES}]
    )
    assert answer.model == "gpt-known"


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
    """Requests held in flight by the fake: the ones beyond the limit are turned away, however
    the threads happen to be scheduled."""
    hold = threading.Event()
    with FakeOpenAI(max_concurrent=4, rate_limit_retry_after=0.25, hold=hold) as server:
        api = make_client(server)
        results: queue.Queue[BaseException | None] = queue.Queue()

        def one() -> None:
            try:
                ask(api)
                results.put(None)
            except openai.RateLimitError as exc:
                results.put(exc)

        threads = [threading.Thread(target=one) for _ in range(10)]
        for t in threads:
            t.start()
        # the four accepted requests wait on `hold`: the six answers back are the rejections
        rejections = [results.get(timeout=10) for _ in range(6)]
        hold.set()
        for t in threads:
            t.join()
        successes = [results.get_nowait() for _ in range(4)]
    assert server.max_in_flight == 4 and server.rejected == 6
    assert all(isinstance(r, openai.RateLimitError) for r in rejections)
    assert successes == [None] * 4
    assert rejections[0].response.headers["retry-after"] == "0.25"


# -- files and batches ----------------------------------------------------------------------


def batch_line(custom_id: str, user: str = ABSTRACTS, model: str = "gpt-test") -> dict:
    messages = [{"role": "system", "content": ABSTRACT_SYSTEM}, {"role": "user", "content": user}]
    body = {"model": model, "messages": messages, "max_tokens": 500}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def start_batch(api: openai.OpenAI, lines: list[dict]):
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    upload = api.files.create(file=("in.jsonl", data), purpose="batch")
    return api.batches.create(
        input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
    )


def wait_until_ended(api: openai.OpenAI, batch_id: str) -> tuple[Any, list[str]]:
    seen: list[str] = []
    for _ in range(200):
        batch = api.batches.retrieve(batch_id)
        if not seen or seen[-1] != batch.status:
            seen.append(batch.status)
        if batch.status in {"completed", "failed", "expired", "cancelled"}:
            return batch, seen
    raise AssertionError(f"batch {batch_id} never ended: {seen}")


def read_jsonl(api: openai.OpenAI, file_id: str | None) -> list[dict]:
    return (
        [json.loads(line) for line in api.files.content(file_id).text.splitlines()]
        if file_id
        else []
    )


class TestBatches:
    @pytest.fixture(autouse=True)
    def quick(self, openai_server):
        """Each look at a batch moves its clock on: half a second takes about ten looks."""
        openai_server.batch_latency = 0.5
        openai_server.clock = FakeClock(tick=0.02)

    def test_an_upload_comes_back_byte_for_byte(self, api):
        data = b'{"a": 1}\n{"b": "\xc3\xa9"}\n'
        upload = api.files.create(file=("in.jsonl", data), purpose="batch")
        assert (upload.purpose, upload.bytes, upload.filename) == ("batch", len(data), "in.jsonl")
        assert api.files.content(upload.id).content == data

    def test_a_batch_runs_through_every_status_and_answers_each_line(self, api):
        batch = start_batch(api, [batch_line("one"), batch_line("two")])
        assert batch.status == "validating" and batch.request_counts.total == 2
        batch, seen = wait_until_ended(api, batch.id)
        assert seen[0] == "validating" and seen[-1] == "completed"
        assert set(seen) <= {"validating", "in_progress", "finalizing", "completed"}
        assert "in_progress" in seen
        assert (batch.request_counts.completed, batch.request_counts.failed) == (2, 0)
        rows = sorted(read_jsonl(api, batch.output_file_id), key=lambda r: r["custom_id"])
        assert [r["custom_id"] for r in rows] == ["one", "two"] and batch.error_file_id is None
        rows.reverse()  # "one" first
        body = rows[0]["response"]["body"]
        assert rows[0]["response"]["status_code"] == 200 and rows[0]["error"] is None
        assert body["object"] == "chat.completion" and body["usage"]["prompt_tokens"] > 0
        ids = [
            json.loads(x)["ARXIVID"] for x in body["choices"][0]["message"]["content"].split("\n")
        ]
        assert ids == ["2504.01234", "2504.05678"]

    def test_a_line_that_fails_goes_to_the_error_file(self, api, openai_server):
        openai_server.models = {"gpt-test"}
        batch = start_batch(api, [batch_line("good"), batch_line("bad", model="nope")])
        batch, _ = wait_until_ended(api, batch.id)
        assert batch.status == "completed"
        assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 1)
        assert [r["custom_id"] for r in read_jsonl(api, batch.output_file_id)] == ["good"]
        (failed,) = read_jsonl(api, batch.error_file_id)
        assert failed["custom_id"] == "bad" and failed["response"]["status_code"] == 404
        assert failed["response"]["body"]["error"]["code"] == "model_not_found"

    def test_a_file_with_a_repeated_custom_id_fails_validation(self, api):
        batch = start_batch(api, [batch_line("same"), batch_line("same")])
        batch, seen = wait_until_ended(api, batch.id)
        assert seen[-1] == "failed" and batch.output_file_id is None
        assert [(e.code, e.line) for e in batch.errors.data] == [("duplicate_custom_id", 2)]

    def test_an_expired_batch_answers_only_part(self, api, openai_server):
        openai_server.queue_batch("expired", answered=1)
        batch = start_batch(api, [batch_line(f"r{i}") for i in range(3)])
        batch, seen = wait_until_ended(api, batch.id)
        assert seen[-1] == "expired"
        assert [r["custom_id"] for r in read_jsonl(api, batch.output_file_id)] == ["r0"]
        errors = read_jsonl(api, batch.error_file_id)
        assert [(r["custom_id"], r["response"], r["error"]["code"]) for r in errors] == [
            ("r1", None, "batch_expired"), ("r2", None, "batch_expired")
        ]  # fmt: skip

    def test_a_cancelled_batch_stops_and_cannot_be_cancelled_twice(self, api):
        batch = start_batch(api, [batch_line("r0")])
        assert api.batches.cancel(batch.id).status == "cancelling"
        assert api.batches.retrieve(batch.id).status == "cancelled"
        with pytest.raises(openai.ConflictError):
            api.batches.cancel(batch.id)

    def test_unknown_batches_and_files_are_404(self, api):
        with pytest.raises(openai.NotFoundError):
            api.batches.retrieve("batch_nope")
        with pytest.raises(openai.NotFoundError):
            api.files.content("file-nope")
        with pytest.raises(openai.NotFoundError):
            api.batches.create(
                input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h"
            )

    def test_the_list_pages_newest_first(self, api):
        ids = [start_batch(api, [batch_line("r0")]).id for _ in range(3)]
        first = api.batches.list(limit=2)
        assert [b.id for b in first.data] == ids[:0:-1] and first.has_more
        assert [b.id for b in api.batches.list(limit=2, after=ids[1]).data] == [ids[0]]
        assert [b.id for b in api.batches.list(limit=100)] == ids[::-1]

    def test_metadata_is_kept_and_checked_as_the_service_checks_it(self, api):
        data = (json.dumps(batch_line("r0")) + "\n").encode()
        upload = api.files.create(file=("in.jsonl", data), purpose="batch")
        options = {"input_file_id": upload.id, "endpoint": "/v1/chat/completions",
                   "completion_window": "24h"}  # fmt: skip
        batch = api.batches.create(**options, metadata={"pass": "titles"})
        assert api.batches.retrieve(batch.id).metadata == {"pass": "titles"}
        for refused in ({f"k{i}": "v" for i in range(17)}, {"k" * 65: "v"}, {"k": "v" * 513}):
            with pytest.raises(openai.BadRequestError, match="metadata"):
                api.batches.create(**options, metadata=refused)

    def test_a_lost_create_reply_leaves_the_batch_made(self, api, openai_server):
        once = api.with_options(max_retries=0)  # a retry would be another create
        openai_server.queue_lost_batch_reply()
        openai_server.queue_lost_batch_reply(created=False)
        for _ in range(2):
            with pytest.raises(openai.APIConnectionError):
                start_batch(once, [batch_line("r0")])
        assert len(openai_server.batches.batches) == 1  # the first made it, the second not
        assert start_batch(once, [batch_line("r0")]).status == "validating"

    @pytest.mark.parametrize("kind", sorted(GARBLES))
    def test_a_garbled_line_is_outside_the_documented_shape(self, api, openai_server, kind):
        """Each garbled line breaks the format of a batch's output line, read with the
        client's own type for the body; the line after it is whole."""
        openai_server.queue_garbled_line(kind)
        batch, _ = wait_until_ended(api, start_batch(api, [batch_line("a"), batch_line("b")]).id)
        garbled, whole = api.files.content(batch.output_file_id).text.splitlines()
        assert not well_formed(garbled) and well_formed(whole)


def well_formed(line: str) -> bool:
    try:
        row = json.loads(line)
        response = row["response"]
        assert isinstance(row["custom_id"], str) and response["status_code"] == 200
        ChatCompletion.model_validate(response["body"])
    except (ValueError, TypeError, KeyError, AssertionError):  # ValidationError is a ValueError
        return False
    return True
