"""The score cache, keyed by (paper, prompt hash, model), so a re-run spends nothing twice;
and what each day's scoring cost, so a digest can say what its selection cost."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from newsletter.models import Score, Usage
from newsletter.store.database import IN_JSON, Database, insert_sql, json_list, now

SCORE_COLUMNS = (
    "paper_id", "prompt_hash", "model", "relevance", "novelty", "comment", "scored_at",
)  # fmt: skip
SAVE_SCORE = insert_sql("scores", SCORE_COLUMNS, conflict="REPLACE")

SPEND_COLUMNS = (
    "day", "scoring_key", "model", "requests", "prompt_tokens", "cached_tokens",
    "completion_tokens", "cost_usd",
)  # fmt: skip
ADD_SPEND = insert_sql("spend", SPEND_COLUMNS) + (
    " ON CONFLICT(day, scoring_key, model) DO UPDATE SET requests=requests+excluded.requests, "
    "prompt_tokens=prompt_tokens+excluded.prompt_tokens, "
    "cached_tokens=cached_tokens+excluded.cached_tokens, "
    "completion_tokens=completion_tokens+excluded.completion_tokens, "
    "cost_usd=cost_usd+excluded.cost_usd"
)


class ScoreCache:
    """Scores by (paper, prompt hash, model)."""

    def __init__(self, db: Database):
        self.db = db

    def cached(self, paper_ids: Iterable[str], prompt_hash: str, model: str) -> dict[str, Score]:
        rows = self.db.read(
            "SELECT paper_id, relevance, novelty, comment FROM scores "
            f"WHERE prompt_hash=? AND model=? AND paper_id IN {IN_JSON}",
            (prompt_hash, model, json_list(paper_ids)),
        )
        return {
            r["paper_id"]: Score(r["paper_id"], r["relevance"], r["novelty"], r["comment"])
            for r in rows
        }

    def save(self, scores: Iterable[Score], prompt_hash: str, model: str) -> None:
        at = now()
        rows = [
            {"paper_id": s.paper_id, "prompt_hash": prompt_hash, "model": model,
             "relevance": s.relevance, "novelty": s.novelty, "comment": s.comment,
             "scored_at": at}
            for s in scores
        ]  # fmt: skip
        with self.db.transaction() as db:
            db.executemany(SAVE_SCORE, rows)


class Spend:
    """Tokens and dollars by (day, prompt, model), added up over runs."""

    def __init__(self, db: Database):
        self.db = db

    def add(self, day: date, scoring_key: str, usage: Usage) -> Usage:
        """Add a run's spend on one day's scoring for one prompt; return the day's total.

        A digest shows what its selection cost, whether the scores were bought by this run or
        an earlier one (a dry run, a crashed run): so the total is kept, not just the last run.
        """
        key = {"day": day.isoformat(), "scoring_key": scoring_key, "model": usage.model}
        counts = {c: getattr(usage, c) for c in SPEND_COLUMNS[3:]}
        with self.db.transaction() as db:
            db.execute(ADD_SPEND, key | counts)
            row = db.execute(
                "SELECT * FROM spend WHERE day=:day AND scoring_key=:scoring_key AND model=:model",
                key,
            ).fetchone()
        return Usage(usage.model, *(row[c] for c in SPEND_COLUMNS[3:]))

    def over(self, days: Iterable[date], scoring_key: str) -> dict[str, Usage]:
        """What the scoring of several days for one prompt cost, per model: a digest of more
        than one day shows what its days cost together."""
        rows = self.db.read(
            f"SELECT * FROM spend WHERE scoring_key=? AND day IN {IN_JSON} ORDER BY day",
            (scoring_key, json_list(d.isoformat() for d in days)),
        )
        total: dict[str, Usage] = {}
        for r in rows:
            usage = Usage(r["model"], *(r[c] for c in SPEND_COLUMNS[3:]))
            total.setdefault(r["model"], Usage(r["model"])).add(usage)
        return total
