"""Reading the model's answer. The model is not trusted: its text is parsed leniently, its
scores are clamped, and only ids of the batch it was asked about are accepted.

One parser serves every pass. The title pass and the skim name each paper by its number in the
list and answer a line of numbers: `17:7` (number, relevance) and `17:7:5` (and novelty), four
and six tokens a paper where the same as JSON is nine and thirteen. The abstract pass answers
JSONL, `{ARXIVID, COMMENT, RELEVANCE, NOVELTY}`. Either form is read in any pass, and JSON
under the short keys too (`{"id": 17, "r": 7, "n": 5}`): a model does not always answer as
asked.

No answer can stop a run, whatever an abstract talked the model into writing: a line with an
infinite score, arrays nested thousands deep or an object that does not parse is skipped, and
a comment comes out as one line of printable text. Reading takes time linear in the answer,
which is cut at MAX_ANSWER_CHARS first: an endpoint may ignore `max_tokens`.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Collection, Iterator, Mapping

from newsletter.arxiv_id import normalize_id
from newsletter.models import Score

# The longest answer asked for is 16,000 tokens (score.MAX_ANSWER_TOKENS), about 64 KB of
# JSONL; a megabyte is far beyond it, and is read in well under a second however broken.
MAX_ANSWER_CHARS = 1_000_000
MAX_COMMENT_CHARS = 500

_FENCE = re.compile(r"```[a-zA-Z]*")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
# An object holding no object (an answer's are flat), its strings read as JSON reads them and
# ended by a line break if unclosed. Every quantifier is possessive and every ending optional,
# so a candidate always matches as far as it goes and the next one starts where it stopped:
# no character is scanned twice, however broken the text.
_CANDIDATE = re.compile(r'\{(?:[^{}"]++|"(?:[^"\\\n]++|\\.)*+"?)*+\}?')
_SCORE = r"[ \t]*(\d{1,3}(?:\.\d{1,3})?)[ \t\r]*"
# A line, perhaps a list item ("- 17:7"): models sometimes answer in Markdown.
_NUMBERS = re.compile(rf"^[ \t]*(?:[-*•][ \t]*)?(\d{{1,6}})[ \t]*:{_SCORE}(?::{_SCORE})?$", re.M)
_KEYS = {
    "arxivid": "id", "arxiv_id": "id", "id": "id", "paper_id": "id",
    "comment": "comment", "relevance": "relevance", "r": "relevance", "novelty": "novelty",
    "n": "novelty",
}  # fmt: skip


def clamp_score(value: object) -> int | None:
    """'8', 8.6, 12, -3, '7/10' -> 8, 9, 10, 1, 7. A number is clamped to 1..10 however far
    out it is; anything that is not a finite number (text, a bool, null, a list or an object,
    NaN, infinity, 1e309, an integer too large for a float) -> None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(str(value).strip().split("/")[0])
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return max(1, min(10, round(number)))


def clean_comment(value: object) -> str:
    """The comment as one line of at most MAX_COMMENT_CHARS printable characters: controls
    (NUL, ESC), bidi overrides, zero-width, private and unassigned characters, lone surrogates
    (which SQLite and the mail encoders refuse) are dropped, line breaks and other spaces
    become single spaces."""
    text = str(value)[: 2 * MAX_COMMENT_CHARS]  # enough to fill the cap after cleaning
    kept = "".join(c if c.isprintable() else " " if c.isspace() else "" for c in text)
    return " ".join(kept.split())[:MAX_COMMENT_CHARS]


def cut_answer(text: str) -> str:
    """The answer's complete lines within its first MAX_ANSWER_CHARS characters."""
    if len(text) <= MAX_ANSWER_CHARS:
        return text
    return text[: text.rfind("\n", 0, MAX_ANSWER_CHARS) + 1]


def iter_objects(text: str) -> Iterator[dict]:
    """Every flat JSON object in the text: JSONL, a JSON array, fenced, with prose around it,
    or wrapped in another object (of an object holding others, only those are read). Each
    candidate is decoded on its own, so a failure costs the candidate's length, never the
    text's."""
    cleaned = _TRAILING_COMMA.sub(r"\1", _FENCE.sub("", cut_answer(text)))
    for candidate in _CANDIDATE.findall(cleaned):
        if candidate[-1] != "}" or '"' not in candidate:  # unclosed, or no key to read
            continue
        try:
            obj = json.loads(candidate)
        except (ValueError, RecursionError):  # not JSON, or arrays nested too deep to decode
            continue
        if isinstance(obj, dict):
            yield obj


def iter_numbers(text: str) -> Iterator[dict]:
    """Every `17:7` or `17:7:5` line of the text, as the keys a JSON answer would use."""
    for number, relevance, novelty in _NUMBERS.findall(cut_answer(text)):
        yield {"id": number, "relevance": relevance} | ({"novelty": novelty} if novelty else {})


def parse_answer(
    text: str | None,
    batch_ids: Collection[str],
    *,
    with_novelty: bool = True,
    aliases: Mapping[str, str] | None = None,
) -> dict[str, Score]:
    """Scores for the batch's papers that the answer gives in a usable form.

    An id outside the batch is ignored, however it scored; a duplicate keeps the first.
    `aliases` names papers by another key (their numbers in the list: "17" -> "2501.01234");
    a number outside the list is ignored like any other unknown id.
    Without novelty (the title pass), Score.novelty is 0 and the comment empty.
    """
    found: dict[str, Score] = {}
    aliases = aliases or {}
    for raw in itertools.chain(iter_numbers(text or ""), iter_objects(text or "")):
        obj = {_KEYS[k.lower()]: v for k, v in raw.items() if k.lower() in _KEYS}
        paper_id = normalize_id(obj.get("id", ""))
        paper_id = aliases.get(paper_id, paper_id)
        if paper_id not in batch_ids or paper_id in found:
            continue
        relevance = clamp_score(obj.get("relevance"))
        novelty = clamp_score(obj.get("novelty")) if with_novelty else 0
        if relevance is None or novelty is None:
            continue
        comment = clean_comment(obj.get("comment") or "") if with_novelty else ""
        found[paper_id] = Score(paper_id, relevance, novelty, comment)
    return found
