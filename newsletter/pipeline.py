"""One run, stage after stage: fetch -> score -> select -> render -> deliver.

Each `run_*` function is what one CLI command calls; tests call them directly. A run opens its
day once (`newsletter.day`), each stage returns what it found, and the report is put together
at the end. A bad profile, or a failure while serving one subscriber, is reported and the
others are still served.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from pathlib import Path

from newsletter import archive, deliver, render, suppressions, votes
from newsletter.batch import BatchTransport
from newsletter.chat import ChatTransport, make_client
from newsletter.config import Config, openai_key, sendgrid_key
from newsletter.day import (
    Day,
    Report,
    Scores,
    SendOptions,
    Served,
    active_categories,
    get_listing,
    open_day,
)
from newsletter.errors import (
    ConfigError,
    CredentialsRejected,
    NewsletterError,
    contain,
    describe,
)
from newsletter.models import (
    Hooks,
    Listing,
    Reader,
    SavedDigest,
    Selection,
    Status,
    SuppressionReason,
)
from newsletter.outbox import Outbox
from newsletter.plans import Scoring, plan, score_plans, select_day
from newsletter.profiles import Profile, load_profiles
from newsletter.prompt import render_full_prompt
from newsletter.score import KeywordScorer, LLMScorer, Scorer
from newsletter.store import Store
from newsletter.text import plural

SEND_WORKERS = 8  # SendGrid requests in flight: the client is synchronous


# -- fetch ------------------------------------------------------------------------------------


def run_fetch(
    config: Config, *, feed: Path | None = None, day: date | None = None, hooks: Hooks | None = None
) -> tuple[Listing, int]:
    """`newsletter fetch`: store the day's papers for the active subscribers' categories."""
    roster = load_profiles(config.subscribers_dir)
    with Store(config.storage.path) as store:
        return get_listing(
            config, store, active_categories(config, roster), feed=feed, day=day, hooks=hooks
        )


def digest_record(
    selection: Selection, subject: str | None, profile: Profile | None, config: Config
) -> SavedDigest:
    """The selection as the .json preview and the archive keep it, with what a digest's page
    needs of the reader."""
    reader = (
        None
        if profile is None
        else Reader(
            name=profile.name,
            categories=profile.categories_or(config.arxiv.categories),
            authors=profile.authors,
            model=profile.model or config.llm.model,
        )
    )
    return SavedDigest.of(selection, subject, reader)


# -- the runs -------------------------------------------------------------------------------


def run_score(config: Config, opts: SendOptions, hooks: Hooks | None = None) -> Report:
    """`newsletter score`: fetch, score and select, without rendering or sending."""
    with open_day(config, replace(opts, dry_run=True), hooks) as day:
        scores = score(day, day.chosen.profiles) if day.listing.papers else None
    return day.report([], scores)


def run_submit(config: Config, opts: SendOptions, hooks: Hooks | None = None) -> list[str]:
    """`newsletter score --submit`: start the day's batches ([llm] mode = "batch") and return
    the ids of those still running, without waiting; a later `send` collects them. A batch
    that has ended is collected, and the next pass's batch started."""
    if config.llm.mode != "batch" or config.llm.provider == "local":
        raise ConfigError('--submit needs [llm] mode = "batch" and provider = "openai"')
    with open_day(config, replace(opts, dry_run=True), hooks, claim=False) as day:
        if not day.listing.papers:
            return []
        store, hooks = day.store, day.hooks
        refresh_examples(config, store, day.chosen.profiles, hooks)
        # the prompts `send` will ask, votes included: else it would ask every pass again
        profiles = [votes.taught(config, store, p) for p in day.chosen.profiles]
        plans = [plan(config, store, day.listing, p) for p in profiles]
        batches = BatchTransport(config.llm, store, make_client(config), wait=False, say=hooks.say)
        scorer = LLMScorer(config, store, batches)
        score_plans(config, store, plans, scorer, hooks=hooks, day=day.listing.day)
    return scorer.pending


def run_send(config: Config, opts: SendOptions, hooks: Hooks | None = None) -> Report:
    """fetch -> score -> select -> render -> deliver (or preview) for every active subscriber."""
    with open_day(config, opts, hooks) as day:
        if not day.listing.papers:
            day.hooks.say(f"{day.listing.day}: no papers announced (weekend or holiday): "
                          "nothing to send")  # fmt: skip
            return day.report([])
        mailer = open_mailer(day)
        todo, sent_before = not_yet_sent(mailer, day.listing.day, day.chosen.profiles)
        todo, suppressed = not_suppressed(day, todo)
        scores = score(day, todo)
        served = serve_all(day, mailer, todo, scores.selections)
        sent = [s.subscriber_id for s in served if s.status == Status.SENT]
        archive.publish(config, day.store, sent, day.hooks)  # so "View in browser" lands
    return day.report(sent_before + suppressed + served, scores)


# -- the stages -----------------------------------------------------------------------------


def open_mailer(day: Day) -> deliver.Mailer:
    """SendGrid, or for a dry run the outbox: the rest of the run does not ask which."""
    config, opts = day.config, day.opts
    if opts.dry_run:
        folder = opts.outbox or config.output.outbox
        return Outbox(day.store, folder, config.sendgrid, config.subscribers_dir)
    client = deliver.SendgridSender(config.sendgrid, sendgrid_key())
    return deliver.SendgridMailer(day.store, client, config.sendgrid, opts.force)


def not_yet_sent(
    mailer: deliver.Mailer, day: date, profiles: list[Profile]
) -> tuple[list[Profile], list[Served]]:
    """Skip, before any token is spent, the subscribers whose digest for the day went out, or
    may have (an unknown outcome): (those to serve, those skipped)."""
    todo, skipped = [], []
    for p in profiles:
        prior = mailer.prior(day, p.id)
        if prior is None:
            todo.append(p)
        else:
            skipped.append(Served(p.id, prior.status, detail=prior.detail))
    return todo, skipped


def not_suppressed(day: Day, profiles: list[Profile]) -> tuple[list[Profile], list[Served]]:
    """Skip, before scoring, whoever unsubscribed, bounced or reported spam: (those to serve,
    those skipped)."""
    reasons = read_suppressions(day)
    todo, skipped = [], []
    for p in profiles:
        reason = reasons.get(p.email.lower())
        if reason is None:
            todo.append(p)
        else:
            detail = "asked not to be mailed, or cannot be"
            skipped.append(Served(p.id, reason, detail=detail))
    return todo, skipped


def read_suppressions(day: Day) -> dict[str, SuppressionReason]:
    """email -> reason, synced from SendGrid when a key is set. A dry run whose key SendGrid
    refuses uses the copy synced before; a send stops there, before scoring."""
    config, store, warn = day.config, day.store, day.hooks.warn
    key = sendgrid_key()
    lists = suppressions.SendgridLists(config.sendgrid, key) if key else None
    try:
        return suppressions.current(store, lists, config.sendgrid, warn)
    except CredentialsRejected as exc:
        if not day.opts.dry_run:
            raise  # a send would be refused too
        warn(f"{exc}; the preview uses the suppressions synced before")
        return suppressions.stored_reasons(store)


def score(day: Day, profiles: list[Profile]) -> Scores:
    """Record the profile files' new examples, then score and select for each profile."""
    config, store, hooks = day.config, day.store, day.hooks
    examples = refresh_examples(config, store, profiles, hooks)
    local = use_local_scorer(config, dry_run=day.opts.dry_run, hooks=hooks)
    selections, scoring = score_day(config, store, day.listing, profiles, local=local,
                                    hooks=hooks)  # fmt: skip
    return Scores(selections, scoring, examples)


def use_local_scorer(config: Config, *, dry_run: bool, hooks: Hooks) -> bool:
    """The local scorer when configured, or for a dry run without a key (said once, plainly)."""
    if config.llm.provider == "local":
        return True
    if openai_key() is None and config.llm.base_url is None and dry_run:
        hooks.warn("OPENAI_API_KEY is not set: scoring with the local keyword scorer")
        return True
    return False


def make_scorer(config: Config, store: Store, *, local: bool, hooks: Hooks) -> Scorer:
    """The local keyword scorer, or the model: each request on its own, or with [llm] mode =
    "batch" each round of requests as one batch."""
    if local:
        return KeywordScorer()
    client = make_client(config)
    if config.llm.mode == "batch":
        return LLMScorer(config, store, BatchTransport(config.llm, store, client, say=hooks.say))
    return LLMScorer(config, store, ChatTransport(config.llm, client))


def score_day(
    config: Config,
    store: Store,
    listing: Listing,
    profiles: list[Profile],
    *,
    local: bool = False,
    hooks: Hooks | None = None,
) -> tuple[list[Selection], Scoring]:
    """Each profile's selection for the day, and the run's scoring."""
    hooks = hooks or Hooks()
    scorer = make_scorer(config, store, local=local, hooks=hooks)
    return select_day(config, store, listing, profiles, scorer, hooks)


def refresh_examples(config: Config, store: Store, profiles: list[Profile], hooks: Hooks) -> int:
    """Record the papers the profile files newly list as liked or disliked, before the prompts
    are written: it may ask arXiv for their titles. Said when it recorded any."""
    recorded = votes.refresh_examples(config, store, profiles, hooks.warn)
    if recorded:
        hooks.say(f"examples: {plural(recorded, 'paper')} from the profiles' liked/disliked "
                  "lists recorded")  # fmt: skip
    return recorded


def serve_all(
    day: Day, mailer: deliver.Mailer, profiles: list[Profile], selections: list[Selection]
) -> list[Served]:
    """Serve each subscriber from a pool of threads; a refused key stops them all, and the
    subscribers not yet tried are left out of the report rather than counted as failed."""
    config, store = day.config, day.store
    by_id = {p.id: p for p in profiles}
    advance = day.hooks.sending(len(selections))
    refused: list[CredentialsRejected] = []

    def serve_one(selection: Selection) -> Served | None:
        profile = by_id[selection.subscriber_id]
        if refused:
            return None
        try:
            return serve(config, store, profile, selection, mailer)
        except CredentialsRejected as exc:
            refused.append(exc)
            return None
        except NewsletterError as exc:
            return Served(profile.id, Status.FAILED, selection, str(exc).splitlines()[0])
        except Exception as exc:  # one subscriber's bad value must not stop the others
            crash = contain(exc, f"{profile.id}: the digest failed", config.storage.path.parent)
            return Served(profile.id, Status.FAILED, selection, describe(exc), crash=crash)
        finally:
            advance(1)

    with ThreadPoolExecutor(SEND_WORKERS) as pool:
        served = list(pool.map(serve_one, selections))
    if refused:
        raise refused[0]
    return [s for s in served if s is not None]


def serve(
    config: Config, store: Store, profile: Profile, selection: Selection, mailer: deliver.Mailer
) -> Served:
    """Render one subscriber's digest and hand it to the mailer (SendGrid, or the outbox)."""
    if selection.failure:
        return Served(profile.id, Status.FAILED, selection, selection.failure)
    if not selection.picks and not config.sendgrid.send_empty:
        return Served(profile.id, Status.EMPTY, selection, "no paper passed the cutoffs")
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
    record = digest_record(selection, email.subject, profile, config)
    result = mailer.deliver(email, env, record)
    return Served(profile.id, result.status, selection, result.detail, list(result.paths))
