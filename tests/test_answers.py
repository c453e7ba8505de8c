"""The model's answer is untrusted: every malformed shape is read, nothing outside the batch."""

import pytest

from newsletter.answers import clamp_score, normalize_id, parse_answer
from newsletter.models import Score

BATCH = {"2504.00001", "2504.00002"}
LINE1 = '{"ARXIVID": "2504.00001", "COMMENT": "MoE routing", "RELEVANCE": 9, "NOVELTY": 7}'
LINE2 = '{"ARXIVID": "2504.00002", "COMMENT": "pruning", "RELEVANCE": 6, "NOVELTY": 5}'
EXPECTED = {
    "2504.00001": Score("2504.00001", 9, 7, "MoE routing"),
    "2504.00002": Score("2504.00002", 6, 5, "pruning"),
}


@pytest.mark.parametrize(
    "text",
    [
        f"{LINE1}\n{LINE2}\n",
        f"```json\n{LINE1}\n{LINE2}\n```",
        f"```\n{LINE1}\n{LINE2}\n```\n",
        f"Here are my scores:\n{LINE1}\n{LINE2}\nLet me know if you need more.",
        f"[{LINE1}, {LINE2}]",
        f"[\n  {LINE1},\n  {LINE2},\n]",
        LINE1.replace("7}", "7,}") + "\n" + LINE2.replace("5}", "5,}"),
        f"{LINE1}{LINE2}",
    ],
    ids=[
        "jsonl",
        "fenced-json",
        "fenced",
        "prose",
        "array",
        "trailing-comma-array",
        "trailing-comma-object",
        "no-newline",
    ],
)
def test_every_answer_shape(text):
    assert parse_answer(text, BATCH) == EXPECTED


def test_scores_as_strings_and_floats_are_clamped():
    text = (
        '{"ARXIVID": "2504.00001", "COMMENT": "", "RELEVANCE": "8", "NOVELTY": 6.6}\n'
        '{"ARXIVID": "2504.00002", "COMMENT": "", "RELEVANCE": 14, "NOVELTY": -3}'
    )
    scores = parse_answer(text, BATCH)
    assert (scores["2504.00001"].relevance, scores["2504.00001"].novelty) == (8, 7)
    assert (scores["2504.00002"].relevance, scores["2504.00002"].novelty) == (10, 1)


def test_an_id_outside_the_batch_is_ignored_however_it_scored():
    text = LINE1 + '\n{"ARXIVID": "9999.99999", "COMMENT": "!", "RELEVANCE": 10, "NOVELTY": 10}'
    assert set(parse_answer(text, BATCH)) == {"2504.00001"}


def test_ids_with_prefix_or_version_are_recognised():
    text = LINE1.replace('"2504.00001"', '"arXiv:2504.00001v3"')
    assert set(parse_answer(text, BATCH)) == {"2504.00001"}


def test_lowercase_keys_and_duplicates():
    text = '{"arxiv_id": "2504.00002", "relevance": 3, "novelty": 2}\n' + LINE2
    assert parse_answer(text, BATCH)["2504.00002"].relevance == 3


def test_unreadable_scores_leave_the_paper_unanswered():
    text = '{"ARXIVID": "2504.00001", "RELEVANCE": "high", "NOVELTY": 5}'
    assert parse_answer(text, BATCH) == {}


def test_title_pass_answers_by_number():
    aliases = {"1": "2504.00001", "2": "2504.00002", "3": "2504.00099"}
    text = '{"id":1,"r":2}\n{"id":"2","r":7}\n{"id":3,"r":9}\n{"id":4,"r":9}'
    scores = parse_answer(text, BATCH, with_novelty=False, aliases=aliases)
    # 3 names a paper outside the batch, 4 no paper at all: neither is added
    assert scores == {
        "2504.00001": Score("2504.00001", 2, 0, ""),
        "2504.00002": Score("2504.00002", 7, 0, ""),
    }


def test_title_pass_needs_no_novelty():
    text = '{"id":"2504.00001","r":2}\n{"ARXIVID": "2504.00002", "RELEVANCE": 7}'
    scores = parse_answer(text, BATCH, with_novelty=False)
    assert scores["2504.00001"] == Score("2504.00001", 2, 0, "")
    assert scores["2504.00002"] == Score("2504.00002", 7, 0, "")


@pytest.mark.parametrize("text", [None, "", "I cannot help with that.", "{not json", "[1, 2]"])
def test_garbage_gives_nothing(text):
    assert parse_answer(text, BATCH) == {}


def test_helpers():
    assert normalize_id("https://arxiv.org/abs/2504.00001v2") == "2504.00001"
    assert clamp_score("7/10") == 7
    assert clamp_score("NaN") is None
