"""The model's answer is untrusted: every malformed shape is read, nothing outside the batch,
no answer stops the run, and reading one takes time linear in its size."""

import json
import sqlite3
import time

import pytest

from newsletter.answers import MAX_ANSWER_CHARS, clamp_score, normalize_id, parse_answer
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
        json.dumps([json.loads(LINE1), json.loads(LINE2)], indent=2),
        f'{{"scores": [{LINE1}, {LINE2}]}}',
        "[" * 5000 + f"{LINE1},\n{LINE2}" + "]" * 5000,
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
        "indented",
        "wrapped",
        "deep-array-around",
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


def test_the_number_lines_the_short_passes_answer_in():
    aliases = {"1": "2504.00001", "2": "2504.00002", "3": "2504.00099"}
    text = "1:2\r\n 2 : 7.6 \n3:9\n4:9\n1:9\n2:8 — on topic\n"
    scores = parse_answer(text, BATCH, with_novelty=False, aliases=aliases)
    # 3 names a paper outside the batch, 4 no paper at all; the second 1 is a duplicate
    assert scores == {
        "2504.00001": Score("2504.00001", 2, 0, ""),
        "2504.00002": Score("2504.00002", 8, 0, ""),
    }
    skim = parse_answer("1:6:4\n2:9\n", BATCH, aliases=aliases)
    assert skim == {"2504.00001": Score("2504.00001", 6, 4, "")}  # 2 lacks its novelty


def test_number_lines_as_a_markdown_list():
    aliases = {"1": "2504.00001", "2": "2504.00002"}
    scores = parse_answer("```\n- 1:6:4\n * 2:9:5\n```", BATCH, aliases=aliases)
    assert scores == {
        "2504.00001": Score("2504.00001", 6, 4, ""),
        "2504.00002": Score("2504.00002", 9, 5, ""),
    }


def test_the_skim_answers_by_number_with_novelty():
    aliases = {"1": "2504.00001", "2": "2504.00002"}
    text = '{"id":1,"r":6,"n":4}\n{"id":2,"r":9}'  # 2 without its novelty: not usable
    scores = parse_answer(text, BATCH, aliases=aliases)
    assert scores == {"2504.00001": Score("2504.00001", 6, 4, "")}


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


def test_braces_and_quotes_in_a_comment_are_its_text():
    text = LINE1.replace("MoE routing", r"O(n^{2}) \"fast\" {x}") + "\n" + LINE2
    assert parse_answer(text, BATCH)["2504.00001"].comment == 'O(n^{2}) "fast" {x}'


UNREADABLE = [
    "1e309", "-1e309", "Infinity", "-Infinity", "NaN", '"inf"', '"-inf"', '"nan"', '"1e309"',
    "1" + "0" * 400, "true", "false", "null", "[8]", '{"value": 8}', '""',
]  # fmt: skip


@pytest.mark.parametrize("value", UNREADABLE, ids=lambda v: v[:12])
@pytest.mark.parametrize("key", ["RELEVANCE", "NOVELTY"])
def test_a_line_with_an_unreadable_score_is_skipped_and_the_rest_read(key, value):
    line = LINE1.replace(f'"{key}": {9 if key == "RELEVANCE" else 7}', f'"{key}": {value}')
    assert line != LINE1
    assert parse_answer(f"{line}\n{LINE2}", BATCH) == {"2504.00002": EXPECTED["2504.00002"]}


@pytest.mark.parametrize("value", UNREADABLE, ids=lambda v: v[:12])
def test_the_title_pass_skips_an_unreadable_score(value):
    text = f'{{"id":1,"r":{value}}}\n{{"id":2,"r":7}}'
    aliases = {"1": "2504.00001", "2": "2504.00002"}
    scores = parse_answer(text, BATCH, with_novelty=False, aliases=aliases)
    assert scores == {"2504.00002": Score("2504.00002", 7, 0, "")}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (14, 10), (14.0, 10), ("14", 10), ("14/10", 10), (1e308, 10), (10**300, 10),
        (0, 1), (-3, 1), ("-3", 1), (-1e308, 1),
        (1, 1), (10, 10), (6.6, 7), (" 8 ", 8),
    ],
)  # fmt: skip
def test_a_finite_number_is_clamped_to_1_to_10_in_any_form(value, expected):
    assert clamp_score(value) == expected


@pytest.mark.parametrize(
    "value", [True, False, None, [8], {"v": 8}, float("inf"), 10**400], ids=lambda v: repr(v)[:12]
)
def test_what_is_not_a_finite_number_is_no_score(value):
    assert clamp_score(value) is None


def test_nested_arrays_too_deep_to_decode_skip_only_their_line():
    deep = "[" * 5000 + "]" * 5000
    text = LINE1.replace('"MoE routing"', deep) + "\n" + LINE2
    assert parse_answer(text, BATCH) == {"2504.00002": EXPECTED["2504.00002"]}


def test_objects_nested_too_deep_to_decode_leave_the_lines_inside_readable():
    text = '{"a": ' * 5000 + LINE1 + "}" * 5000 + "\n" + LINE2
    assert parse_answer(text, BATCH) == EXPECTED


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        (r"lone \ud800 surrogate", "lone surrogate"),
        (r"NUL\u0000 and ESC\u001b[31m", "NUL and ESC[31m"),
        (r"line\u2028separator\u2029paragraph", "line separator paragraph"),
        (r"bidi \u202egnp.exe\u202c \u2066isolate\u2069", "bidi gnp.exe isolate"),
        (r"zero\u200bwidth\ufeff", "zerowidth"),
        (r"line\nbreak\r\ttab\u0085next\u00a0nbsp", "line break tab next nbsp"),
        (r"  é, naïve ≤ 10^{-3} 🚀  ", "é, naïve ≤ 10^{-3} 🚀"),
        ("x" * 5000, "x" * 500),
    ],
)
def test_a_comment_comes_out_as_one_line_of_printable_text(comment, expected):
    text = LINE1.replace("MoE routing", comment)
    got = parse_answer(text, BATCH)["2504.00001"].comment
    assert got == expected
    assert got.isprintable()
    # SQLite encodes text as strict UTF-8: a lone surrogate made saving the score fail
    assert sqlite3.connect(":memory:").execute("SELECT ?", (got,)).fetchone() == (got,)


@pytest.mark.parametrize(
    "junk",
    ["{" * 300_000, "[" * 300_000, "[{" * 150_000, '{"a":' * 60_000, '{"' + '{\\"' * 100_000],
    ids=["braces", "brackets", "brackets-and-braces", "open-objects", "unclosed-string"],
)
def test_a_large_broken_answer_is_read_in_linear_time(junk):
    # each failed decode used to scan the text from its start: tens of seconds for these
    started = time.perf_counter()
    scores = parse_answer(f"{junk}\n{LINE1}\n{LINE2}", BATCH)
    assert time.perf_counter() - started < 2
    assert scores == EXPECTED


def test_an_answer_over_the_cap_keeps_only_its_complete_lines_within_it():
    padding = " " * (MAX_ANSWER_CHARS - len(LINE1) - len(LINE2) - 1)
    whole = f"{LINE1}\n{padding}{LINE2}"
    assert len(whole) == MAX_ANSWER_CHARS
    assert parse_answer(whole, BATCH) == EXPECTED
    # one character more and LINE2 crosses the cap: it is cut, so it is not read
    assert parse_answer(f"{LINE1}\n {padding}{LINE2}", BATCH) == {
        "2504.00001": EXPECTED["2504.00001"]
    }
    assert parse_answer(f"{LINE1} {padding}{LINE2}\n", BATCH) == {}
