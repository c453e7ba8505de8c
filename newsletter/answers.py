"""Reading the model's answer. The model is not trusted: its text is parsed leniently, its
scores are clamped, and only ids of the batch it was asked about are accepted.

One parser serves both passes: the title pass answers `{id, r}` with the paper's number in the
list as its id (short keys and numbers halve its completion tokens), the abstract pass
`{ARXIVID, COMMENT, RELEVANCE, NOVELTY}`; either pass's keys are read in either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping

from newsletter.models import Score

_FENCE = re.compile(r"```[a-zA-Z]*")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_ID_VERSION = re.compile(r"v\d+$")
_KEYS = {
    "arxivid": "id", "arxiv_id": "id", "id": "id", "paper_id": "id",
    "comment": "comment", "relevance": "relevance", "r": "relevance", "novelty": "novelty",
}  # fmt: skip


def normalize_id(value: object) -> str:
    """'arXiv:2502.15657v2' -> '2502.15657'."""
    text = str(value).strip()
    text = text.removeprefix("arXiv:").removeprefix("arxiv:").strip()
    text = text.rsplit("/abs/", 1)[-1]
    return _ID_VERSION.sub("", text)


def clamp_score(value: object) -> int | None:
    """'8', 8.6, 12 -> 8, 9, 10. Anything unreadable -> None."""
    try:
        number = float(str(value).strip().split("/")[0])
    except ValueError:
        return None
    if number != number:  # NaN
        return None
    return max(1, min(10, round(number)))


def iter_objects(text: str) -> Iterator[dict]:
    """Every JSON object in the text: JSONL, a JSON array, fenced, or with prose around it."""
    cleaned = _TRAILING_COMMA.sub(r"\1", _FENCE.sub("", text))
    decoder = json.JSONDecoder()
    pos = 0
    while (start := cleaned.find("{", pos)) != -1:
        try:
            obj, end = decoder.raw_decode(cleaned, start)
        except json.JSONDecodeError:
            pos = start + 1
            continue
        if isinstance(obj, dict):
            yield obj
        pos = end


def parse_answer(
    text: str | None,
    batch_ids: Collection[str],
    *,
    with_novelty: bool = True,
    aliases: Mapping[str, str] | None = None,
) -> dict[str, Score]:
    """Scores for the batch's papers that the answer gives in a usable form.

    An id outside the batch is ignored, however it scored; a duplicate keeps the first.
    `aliases` names papers by another key (the title pass's numbers: "17" -> "2501.01234");
    a number outside the list is ignored like any other unknown id.
    Without novelty (the title pass), Score.novelty is 0 and the comment empty.
    """
    found: dict[str, Score] = {}
    aliases = aliases or {}
    for raw in iter_objects(text or ""):
        obj = {_KEYS[k.lower()]: v for k, v in raw.items() if k.lower() in _KEYS}
        paper_id = normalize_id(obj.get("id", ""))
        paper_id = aliases.get(paper_id, paper_id)
        if paper_id not in batch_ids or paper_id in found:
            continue
        relevance = clamp_score(obj.get("relevance"))
        novelty = clamp_score(obj.get("novelty")) if with_novelty else 0
        if relevance is None or novelty is None:
            continue
        comment = str(obj.get("comment") or "").strip() if with_novelty else ""
        found[paper_id] = Score(paper_id, relevance, novelty, comment[:500])
    return found
