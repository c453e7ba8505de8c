"""Each subscriber's plan for a day: what is theirs to score (their categories, minus
what they were sent before and what their followed authors wrote), scored once per distinct
prompt however many subscribers share it and by one run at a time, then selected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from newsletter import votes
from newsletter.config import Config
from newsletter.errors import NewsletterError
from newsletter.models import Hooks, Judge, Listing, Paper, Selection, Usage
from newsletter.profiles import Profile
from newsletter.prompt import (
    prompt_hash,
    render_selection_prompt,
    render_skim_prompt,
    render_title_prompt,
)
from newsletter.score import Scored, Scorer
from newsletter.select import author_matches, candidates, select
from newsletter.store import Store


@dataclass
class Plan:
    """One subscriber's part of the run, before scoring."""

    profile: Profile
    listed: int  # papers in the subscriber's categories today
    papers: list[Paper]  # candidates: listed minus papers sent on earlier days
    to_score: list[Paper]  # candidates minus author matches


def plan(config: Config, store: Store, listing: Listing, profile: Profile) -> Plan:
    sent = store.ledger.sent_paper_ids(profile.id, before=listing.day)
    listed = candidates(profile, listing.papers, config.arxiv.categories, set())
    papers = [p for p in listed if p.id not in sent]
    matched = {p.id for p in author_matches(profile, papers)}
    return Plan(profile, len(listed), papers, [p for p in papers if p.id not in matched])


def scoring_key(config: Config, profile: Profile) -> tuple[str, str]:
    """Profiles with the same key get the same scores: score them once."""
    model = profile.model or config.llm.model
    prompts = (render_selection_prompt(profile), render_title_prompt(profile),
               render_skim_prompt(profile))  # fmt: skip
    return model, prompt_hash(*prompts)


def loosest(profiles: list[Profile]) -> Profile:
    """The first profile with the lowest cutoffs of all: the title pass and the skim drop
    papers by the cutoffs, and a shared scoring must read every paper any member asks for."""
    return profiles[0].model_copy(update={
        "relevance_cutoff": min(p.relevance_cutoff for p in profiles),
        "novelty_cutoff": min(p.novelty_cutoff for p in profiles),
    })  # fmt: skip


@dataclass
class Scoring:
    """A run's scoring: each subscriber's share, what it spent per model, what judged."""

    results: dict[str, Scored]
    spend: dict[str, Usage]
    requests: int
    scorer: str
    billed: bool


def score_plans(
    config: Config, store: Store, plans: list[Plan], scorer: Scorer, *, hooks: Hooks, day: date
) -> Scoring:
    """Score every plan; identical prompts share one set of requests."""
    groups: dict[tuple[str, str], list[Plan]] = {}
    for p in plans:
        groups.setdefault(scoring_key(config, p.profile), []).append(p)
    return asyncio.run(_score_groups(scorer, store, groups, hooks, day))


async def _score_alone(scorer: Scorer, store: Store, day: date, key: str, profile: Profile,
                       papers, advance) -> Scored:  # fmt: skip
    """Score one prompt's papers while no other run does (see Locks.hold_scoring)."""
    await asyncio.to_thread(store.locks.hold_scoring, day, key)
    try:
        return await scorer.score(profile, papers, advance)
    finally:
        store.locks.release_scoring(day, key)


def screened_alike(work: list[tuple]) -> dict[tuple[str, str], list[tuple]]:
    """The groups whose title pass and skim are the same requests (their prompts differ only
    after those passes, as a reader's language does), to be scored one after the other: the
    later ones find the screens' answers in the cache instead of asking for them again."""
    families: dict[tuple[str, str], list[tuple]] = {}
    for key, profile, papers in work:
        screens = prompt_hash(render_title_prompt(profile), render_skim_prompt(profile))
        families.setdefault((key[0], screens), []).append((key, profile, papers))
    return families


async def _score_groups(scorer: Scorer, store: Store, groups, hooks: Hooks, day: date) -> Scoring:
    work = []
    for key, members in groups.items():
        union: dict[str, Paper] = {}
        for m in members:
            union.update((p.id, p) for p in m.to_score)
        work.append((key, loosest([m.profile for m in members]), list(union.values())))
    advance = hooks.scoring(sum(len(papers) for _, _, papers in work))
    families = list(screened_alike(work).values())

    async def score_in_turn(family: list[tuple]) -> list[Scored]:
        return [await _score_alone(scorer, store, day, k[1], p, papers, advance)
                for k, p, papers in family]  # fmt: skip

    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(score_in_turn(family)) for family in families]
    except* NewsletterError as group:
        raise group.exceptions[0] from None
    finally:
        await scorer.close()
    scored = {key: result for family, task in zip(families, tasks, strict=True)
              for (key, _, _), result in zip(family, task.result(), strict=True)}  # fmt: skip
    results: dict[str, Scored] = {}
    spend: dict[str, Usage] = {}
    for key, members in groups.items():
        result = scored[key]
        usage = result.usage
        if scorer.billed:
            spend.setdefault(usage.model, Usage(usage.model)).add(usage)
            usage = store.spend.add(day, key[1], usage)  # the day's total for this prompt
        for m in members:
            results[m.profile.id] = _share(result, m, usage)
    return Scoring(results, spend, scorer.requests, scorer.label, scorer.billed)


def _share(result: Scored, member: Plan, usage: Usage) -> Scored:
    """One member's part of a shared scoring: its papers, and what the day's scoring cost."""
    mine = {p.id for p in member.to_score}
    return Scored(
        scores={k: v for k, v in result.scores.items() if k in mine},
        titled=result.titled & mine,
        skimmed=result.skimmed & mine,
        read=result.read & mine,
        unscored=[i for i in result.unscored if i in mine],
        usage=usage,
        notes=list(result.notes),
        capped=result.capped,
    )


def make_selection(
    listing: Listing, item: Plan, result: Scored, min_scored: float, judge: Judge = Judge.MODEL
) -> Selection:
    picks = select(item.profile, item.papers, result.scores)
    usage = {result.usage.model: result.usage} if result.usage.requests else {}
    return Selection(
        subscriber_id=item.profile.id,
        day=listing.day,
        picks=picks,
        listed=item.listed,
        read=len(result.read),
        skimmed=len(result.skimmed),
        titled=len(result.titled),
        unscored=result.unscored,
        usage=usage,
        notes=result.notes,
        failure=scoring_failure(item, result, min_scored),
        judge=judge,
    )


def scoring_failure(item: Plan, result: Scored, min_scored: float) -> str:
    """Why the subscriber's scores cannot be trusted ("" when they can): fewer papers judged
    than [llm] min_scored asks, and not because the cost cap stopped scoring. A digest of
    followed authors only, sent as if the day had been read, would lose the reader's day."""
    asked = len(item.to_score)
    judged = asked - len(result.unscored)
    if result.capped or not asked or judged >= min_scored * asked:
        return ""
    why = "; ".join(n for n in result.notes if "failed" in n) or "no usable answer"
    return f"scoring failed, {judged} of {asked} papers judged ({why}): not sent, re-run later"


def select_day(
    config: Config,
    store: Store,
    listing: Listing,
    profiles: list[Profile],
    scorer: Scorer,
    hooks: Hooks,
    periods: Mapping[str, Listing] | None = None,
) -> tuple[list[Selection], Scoring]:
    """Each profile's selection for the day, judged by `scorer`, and the run's scoring.
    `periods`: a reader's own listing, of more days than the day's (newsletter.rhythm)."""
    profiles = [votes.taught(config, store, p) for p in profiles]
    mine = {p.id: (periods or {}).get(p.id, listing) for p in profiles}
    plans = [plan(config, store, mine[p.id], p) for p in profiles]
    scoring = score_plans(config, store, plans, scorer, hooks=hooks, day=listing.day)
    min_scored = config.llm.min_scored
    judge = Judge.MODEL if scoring.billed else Judge.KEYWORDS
    selections = [make_selection(mine[p.profile.id], p, scoring.results[p.profile.id],
                                 min_scored, judge) for p in plans]  # fmt: skip
    return selections, scoring
