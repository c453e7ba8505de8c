"""One run, stage after stage: fetch -> score -> select -> render -> deliver.

Each function here is what one CLI command calls; tests call them directly. A bad profile, or a
failure while serving one subscriber, is reported and the others are still served.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from newsletter import archive, deliver, fetch, render, suppressions
from newsletter.config import Config, openai_key, sendgrid_key
from newsletter.errors import NewsletterError
from newsletter.models import Email, Listing, Paper, Selection, Usage
from newsletter.profiles import Profile, Roster, load_profiles
from newsletter.prompt import (
    prompt_hash,
    render_full_prompt,
    render_selection_prompt,
    render_title_prompt,
)
from newsletter.score import LLMScorer, Outcome, make_client, score_locally
from newsletter.select import author_matches, candidates, select
from newsletter.store import Store

Notify = Callable[[str], None]
SEND_WORKERS = 8  # SendGrid requests in flight: the client is synchronous
# statuses that count as served; "failed" and "unknown" do not
SERVED = {"sent", "previewed", "skipped", "empty", "paused", *suppressions.REASONS}


@dataclass
class Hooks:
    """How a run reports progress: plain callbacks, so the CLI can draw bars and tests can not."""

    say: Notify = lambda _msg: None
    warn: Notify = lambda msg: print(f"warning: {msg}", file=sys.stderr)
    scoring: Callable[[int], Callable[[int], None]] = lambda _total: lambda _n: None
    sending: Callable[[int], Callable[[int], None]] = lambda _total: lambda _n: None


@dataclass
class Served:
    """One subscriber's line in the run summary."""

    subscriber_id: str
    status: str  # sent, previewed, skipped, empty, failed, unknown, suppressed
    selection: Selection | None = None
    detail: str = ""
    paths: list[Path] = field(default_factory=list)


@dataclass
class Report:
    day: date | None
    listing: Listing | None
    served: list[Served] = field(default_factory=list)
    usage: dict[str, Usage] = field(default_factory=dict)
    profile_errors: list[str] = field(default_factory=list)
    requests: int = 0
    provider: str = "openai"

    @property
    def ok(self) -> bool:
        return not self.profile_errors and all(s.status in SERVED for s in self.served)


# -- fetch ------------------------------------------------------------------------------------


def active_categories(config: Config, roster: Roster) -> list[str]:
    """The union of the active subscribers' categories (the operator's default for none)."""
    cats = {c for p in roster.active for c in p.categories_or(config.arxiv.categories)}
    return sorted(cats or config.arxiv.categories)


def get_listing(
    config: Config,
    store: Store,
    categories: list[str],
    *,
    feed: Path | None = None,
    day: date | None = None,
    hooks: Hooks | None = None,
) -> tuple[Listing, int]:
    """The day's papers: from the store when that day was fetched for these categories."""
    hooks = hooks or Hooks()
    if day is not None and feed is None:
        known = store.fetched_categories(day)
        if known is not None and set(categories) <= known:
            listing = store.load_listing(day)
            assert listing is not None
            return listing, 0
    return fetch.fetch_day(
        config.arxiv, store, categories, feed=feed, day=day, on_progress=hooks.say
    )


# -- score and select -------------------------------------------------------------------------


def choose_provider(config: Config, *, dry_run: bool, hooks: Hooks) -> str:
    """`local` when configured, or for a dry run without a key (said once, plainly)."""
    if config.llm.provider == "local":
        return "local"
    if openai_key() is None and config.llm.base_url is None and dry_run:
        hooks.warn("OPENAI_API_KEY is not set: scoring with the local keyword scorer")
        return "local"
    return "openai"


@dataclass
class Plan:
    """One subscriber's part of the run, before scoring."""

    profile: Profile
    listed: int  # papers in the subscriber's categories today
    papers: list[Paper]  # candidates: listed minus papers sent on earlier days
    to_score: list[Paper]  # candidates minus author matches


def plan(config: Config, store: Store, listing: Listing, profile: Profile) -> Plan:
    sent = store.sent_paper_ids(profile.id, before=listing.day)
    listed = candidates(profile, listing.papers, config.arxiv.categories, set())
    papers = [p for p in listed if p.id not in sent]
    matched = {p.id for p in author_matches(profile, papers)}
    return Plan(profile, len(listed), papers, [p for p in papers if p.id not in matched])


def scoring_key(config: Config, profile: Profile) -> tuple[str, str]:
    """Profiles with the same key get the same scores: score them once."""
    model = profile.model or config.llm.model
    return model, prompt_hash(render_selection_prompt(profile), render_title_prompt(profile))


def score_plans(
    config: Config, store: Store, plans: list[Plan], provider: str, hooks: Hooks, day: date
) -> tuple[dict[str, Outcome], dict[str, Usage], int]:
    """Score every plan; identical prompts share one set of requests. Returns outcomes by
    subscriber id, the run's spend per model, and the number of requests made."""
    if provider == "local":
        return {p.profile.id: score_locally(p.profile, p.to_score) for p in plans}, {}, 0
    groups: dict[tuple[str, str], list[Plan]] = {}
    for p in plans:
        groups.setdefault(scoring_key(config, p.profile), []).append(p)
    return asyncio.run(_score_groups(config, store, groups, hooks, day))


async def _score_groups(config, store, groups, hooks, day):
    client = make_client(config)
    scorer = LLMScorer(config, store, client)
    work = []
    for key, members in groups.items():
        union: dict[str, Paper] = {}
        for m in members:
            union.update((p.id, p) for p in m.to_score)
        work.append((key, members, list(union.values())))
    advance = hooks.scoring(sum(len(papers) for _, _, papers in work))
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(scorer.score(members[0].profile, papers, advance))
                for _, members, papers in work
            ]
    except* NewsletterError as group:
        raise group.exceptions[0] from None
    finally:
        await client.close()
    outcomes: dict[str, Outcome] = {}
    spend: dict[str, Usage] = {}
    for (key, members, _), task in zip(work, tasks, strict=True):
        result = task.result()
        spend.setdefault(result.usage.model, Usage(result.usage.model)).add(result.usage)
        day_total = store.add_spend(day, key[1], result.usage)
        for m in members:
            outcomes[m.profile.id] = _share(result, m, day_total)
    return outcomes, spend, scorer.requests


def _share(result: Outcome, member: Plan, usage: Usage) -> Outcome:
    """One member's part of a shared scoring: its papers, and what the day's scoring cost."""
    mine = {p.id for p in member.to_score}
    return Outcome(
        scores={k: v for k, v in result.scores.items() if k in mine},
        scanned=min(result.scanned, len(mine)),
        unscored=[i for i in result.unscored if i in mine],
        usage=usage,
        notes=list(result.notes),
    )


def make_selection(listing: Listing, item: Plan, outcome: Outcome) -> Selection:
    picks = select(item.profile, item.papers, outcome.scores)
    usage = {outcome.usage.model: outcome.usage} if outcome.usage.requests else {}
    return Selection(
        subscriber_id=item.profile.id,
        day=listing.day,
        picks=picks,
        listed=item.listed,
        scanned=outcome.scanned,
        unscored=outcome.unscored,
        usage=usage,
        notes=outcome.notes,
    )


def score_day(
    config: Config,
    store: Store,
    listing: Listing,
    profiles: list[Profile],
    *,
    provider: str,
    hooks: Hooks | None = None,
) -> tuple[list[Selection], dict[str, Usage], int]:
    """Selections for each profile, the run's spend per model and its request count."""
    hooks = hooks or Hooks()
    plans = [plan(config, store, listing, p) for p in profiles]
    outcomes, spend, requests = score_plans(config, store, plans, provider, hooks, listing.day)
    selections = [make_selection(listing, p, outcomes[p.profile.id]) for p in plans]
    return selections, spend, requests


def selection_json(
    selection: Selection,
    email: Email | None = None,
    profile: Profile | None = None,
    config: Config | None = None,
) -> dict:
    """The selection as the .json preview (and the archive) keep it: with the profile and
    config, also what the web archive needs to render the digest as it was emailed."""
    record = {
        "day": selection.day.isoformat(),
        "subscriber_id": selection.subscriber_id,
        "subject": email.subject if email else None,
        "totals": {"listed": selection.listed, "scanned": selection.scanned,
                   "relevant": len(selection.picks)},
        "papers": [
            {"id": k.paper.id, "title": k.paper.title, "authors": list(k.paper.authors),
             "url": k.paper.abs_url, "author_match": k.author_match,
             "relevance": None if k.author_match else k.score.relevance,
             "novelty": None if k.author_match else k.score.novelty, "comment": k.score.comment,
             "primary_category": k.paper.primary_category,
             "announce_type": k.paper.announce_type}
            for k in selection.picks
        ],
        "unscored": selection.unscored,
        "usage": [
            {"model": u.model, "requests": u.requests, "prompt_tokens": u.prompt_tokens,
             "cached_tokens": u.cached_tokens, "completion_tokens": u.completion_tokens,
             "cost_usd": u.cost_usd}
            for u in selection.usage.values()
        ],
        "notes": selection.notes,
    }  # fmt: skip
    if profile is not None and config is not None:
        record["reader"] = {
            "name": profile.name,
            "categories": profile.categories_or(config.arxiv.categories),
            "authors": profile.authors,
            "model": profile.model or config.llm.model,
        }
    return record


# -- the whole run ------------------------------------------------------------------------------


@dataclass
class SendOptions:
    dry_run: bool = False
    only: str | None = None
    feed: Path | None = None
    day: date | None = None
    outbox: Path | None = None
    force: bool = False


def run_send(config: Config, opts: SendOptions, hooks: Hooks | None = None) -> Report:
    """fetch -> score -> select -> render -> deliver (or preview) for every active subscriber."""
    hooks = hooks or Hooks()
    roster = load_profiles(config.subscribers_dir)
    report = Report(day=None, listing=None, profile_errors=[str(e) for e in roster.errors])
    profiles = [roster.get(opts.only)] if opts.only else roster.active
    if opts.only:
        report.profile_errors = []
        if not profiles[0].active and not opts.dry_run:  # a preview of a paused one is fine
            report.served.append(Served(opts.only, "paused", detail="active = false"))
            profiles = []
    sender = None if opts.dry_run else deliver.SendgridSender(config.sendgrid, sendgrid_key())
    with Store(config.storage.path) as store:
        if not opts.dry_run:
            store.lock()
        listing, stored = get_listing(
            config,
            store,
            active_categories(config, roster),
            feed=opts.feed,
            day=opts.day,
            hooks=hooks,
        )
        report.day, report.listing = listing.day, listing
        hooks.say(fetch.summary_line(listing, stored))
        if not listing.papers:
            hooks.say(f"{listing.day}: no papers announced (weekend or holiday): nothing to send")
            return report
        if sender is not None:
            profiles = _not_yet_sent(store, listing.day, profiles, opts.force, report)
        profiles = _not_suppressed(config, store, profiles, sender, report, hooks)
        report.provider = choose_provider(config, dry_run=opts.dry_run, hooks=hooks)
        selections, report.usage, report.requests = score_day(
            config, store, listing, profiles, provider=report.provider, hooks=hooks
        )
        by_id = {p.id: p for p in profiles}
        jobs = [(by_id[s.subscriber_id], s) for s in selections]
        report.served += _serve_all(config, store, jobs, sender, opts, hooks)
    return report


def _not_yet_sent(
    store: Store, day: date, profiles: list[Profile], force: bool, report: Report
) -> list[Profile]:
    """Skip, before any token is spent, the subscribers whose digest for the day went out."""
    if force:
        return profiles
    todo = []
    for p in profiles:
        prior = deliver.prior_outcome(store, day, p.id)
        if prior is None:
            todo.append(p)
        else:
            report.served.append(Served(p.id, prior.status, detail=prior.detail))
    return todo


def _not_suppressed(
    config: Config,
    store: Store,
    profiles: list[Profile],
    sender: deliver.SendgridSender | None,
    report: Report,
    hooks: Hooks,
) -> list[Profile]:
    """Skip, before scoring, whoever unsubscribed, bounced or reported spam."""
    key = sendgrid_key()
    client = sender or (deliver.SendgridSender(config.sendgrid, key) if key else None)
    reasons = suppressions.current(store, client, config.sendgrid, hooks.warn)
    todo = []
    for p in profiles:
        reason = reasons.get(p.email.lower())
        if reason is None:
            todo.append(p)
        else:
            report.served.append(Served(p.id, reason, detail="on SendGrid's suppression list"))
    return todo


def _serve_all(config, store, jobs, sender, opts, hooks) -> list[Served]:
    advance = hooks.sending(len(jobs))
    outbox = opts.outbox or config.output.outbox

    def serve_one(job: tuple[Profile, Selection]) -> Served:
        profile, selection = job
        try:
            return serve(config, store, profile, selection, sender, outbox, opts.force)
        except (NewsletterError, OSError) as exc:
            return Served(profile.id, "failed", selection, detail=str(exc).splitlines()[0])
        finally:
            advance(1)

    with ThreadPoolExecutor(SEND_WORKERS) as pool:
        return list(pool.map(serve_one, jobs))


def serve(
    config: Config,
    store: Store,
    profile: Profile,
    selection: Selection,
    sender: deliver.SendgridSender | None,
    outbox: Path,
    force: bool,
) -> Served:
    """Render one subscriber's digest and deliver it (or write its preview)."""
    if not selection.picks and not config.sendgrid.send_empty:
        return Served(profile.id, "empty", selection, detail="no paper passed the cutoffs")
    email = render.render_email(
        selection,
        profile,
        config,
        prompt_text=render_full_prompt(profile),
        view_url=archive.page_url(config, store, profile.id, selection.day),
    )
    env = deliver.Envelope(
        day=selection.day,
        subscriber_id=profile.id,
        to_email=profile.email,
        to_name=profile.name,
        paper_ids=tuple(k.paper.id for k in selection.picks),
    )
    record = selection_json(selection, email, profile, config)
    if sender is None:
        store.save_digest(selection.day, profile.id, "preview", record)
        paths = deliver.write_preview(outbox, email, env, config.sendgrid, record)
        return Served(profile.id, "previewed", selection, paths=paths)
    outcome = deliver.deliver(store, sender, email, env, config.sendgrid, force=force)
    if outcome.status == "sent":  # the archive shows what readers received, nothing else
        store.save_digest(selection.day, profile.id, "sent", record)
    return Served(profile.id, outcome.status, selection, detail=outcome.detail)
