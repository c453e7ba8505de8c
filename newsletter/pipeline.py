"""One run, stage after stage: fetch -> score -> select -> render -> deliver.

Each function here is what one CLI command calls; tests call them directly. A bad profile, or a
failure while serving one subscriber, is reported and the others are still served.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from newsletter import archive, deliver, fetch, links, render, suppressions
from newsletter.batch import BatchScorer
from newsletter.config import Config, display_path, openai_key, sendgrid_key
from newsletter.errors import (
    ConfigError,
    Crash,
    CredentialsRejected,
    NewsletterError,
    UsageError,
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
    Usage,
)
from newsletter.profiles import Profile, Roster, load_profiles, parse_profile
from newsletter.prompt import (
    render_full_prompt,
)
from newsletter.score import make_client
from newsletter.selections import plan, score_day, score_plans, use_local_scorer
from newsletter.store import Store
from newsletter.text import plural

SEND_WORKERS = 8  # SendGrid requests in flight: the client is synchronous


@dataclass
class Served:
    """One subscriber's line in the run summary."""

    subscriber_id: str
    status: Status
    selection: Selection | None = None
    detail: str = ""
    paths: list[Path] = field(default_factory=list)  # a preview's files
    crash: Crash | None = None  # a fault of the program: its line, to be printed whole


@dataclass
class Report:
    """What a run did: the day, each subscriber's outcome, and what scoring spent."""

    day: date | None = None
    listing: Listing | None = None
    served: list[Served] = field(default_factory=list)
    selections: list[Selection] = field(default_factory=list)
    usage: dict[str, Usage] = field(default_factory=dict)
    profile_errors: list[str] = field(default_factory=list)
    requests: int = 0
    scorer: str = ""  # what judged the papers, as the summary names it
    billed: bool = True  # False: the local scorer, which costs nothing

    @property
    def ok(self) -> bool:
        return not self.profile_errors and all(s.status.served for s in self.served)


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
    """The day's papers, and how many were new to the store: from the store when that day
    was fetched for these categories, else from the chosen source."""
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
    reader = profile and Reader(
        name=profile.name,
        categories=profile.categories_or(config.arxiv.categories),
        authors=profile.authors,
        model=profile.model or config.llm.model,
    )
    return SavedDigest.of(selection, subject, reader)


# -- the whole run ------------------------------------------------------------------------------


@dataclass
class SendOptions:
    dry_run: bool = False
    only: str | None = None
    feed: Path | None = None
    day: date | None = None
    outbox: Path | None = None
    force: bool = False
    profile: Path | None = None  # preview this file alone, not the subscribers folder


def load_roster(config: Config, opts: SendOptions, store: Store) -> Roster:
    """The subscribers folder; or, with `profile`, that one file, wherever it is (a pull
    request's version of a profile, before it is merged): only ever previewed."""
    if opts.profile is None:
        return load_profiles(config.subscribers_dir, store.known_subscribers())
    return Roster(profiles=[parse_profile(opts.profile)])


def choose_profiles(
    config: Config, roster: Roster, opts: SendOptions, report: Report
) -> list[Profile]:
    """Everybody active, or the one named; a paused one named is previewed, never sent. Each
    invalid profile is a line of the report; nobody to serve at all stops the run."""
    if opts.only:
        profile = roster.get(opts.only)
        if not profile.active and not opts.dry_run:
            report.served.append(Served(opts.only, Status.PAUSED, detail="active = false"))
            return []
        return [profile]
    report.profile_errors = [str(e) for e in roster.errors]
    for error in roster.errors:
        first = error.problems[0] if error.problems else "invalid"
        report.served.append(Served(Path(error.path).stem, Status.INVALID, detail=first))
    if not roster.active:
        folder = display_path(config.subscribers_dir)
        invalid = f", {plural(len(roster.errors), 'invalid profile')}" if roster.errors else ""
        raise UsageError(f"nobody to serve: no active profile in {folder}{invalid}")
    return roster.active


def check_options(opts: SendOptions) -> None:
    if opts.profile is not None and not opts.dry_run:
        raise UsageError("--profile previews a profile file and never sends: add --dry-run")
    if opts.feed is not None and opts.day is not None:
        raise UsageError(
            "--date and --feed name the day twice: a saved listing carries its own date; "
            "give one of them"
        )


def preflight(config: Config, *, dry_run: bool) -> None:
    """Everything a run needs that can be checked before any network or paid work: say all
    that is missing at once, and stop (exit 2)."""
    problems = []
    if not dry_run and sendgrid_key() is None:
        problems.append("SENDGRID_API_KEY is not set: a send needs it (or use --dry-run)")
    remote = config.llm.provider != "local" and config.llm.base_url is None
    if not dry_run and remote and openai_key() is None:
        problems.append(
            "OPENAI_API_KEY is not set: scoring needs it "
            '(or [llm] provider = "local", or a self-hosted [llm] base_url)'
        )
    if problem := config.sendgrid.unsubscribe_url_problem():
        problems.append(problem)
    elif (signed := config.signed_links()) and not os.environ.get(links.SECRET_VARIABLE):
        problems.append(
            f"{links.SECRET_VARIABLE} is not set: {'; '.join(signed)} "
            "(a long random string, e.g. `openssl rand -base64 32`)"
        )
    if problems:
        where = f" ({config.source})" if config.source else ""
        raise ConfigError("\n".join(p + where if p.startswith("sendgrid.") else p
                                    for p in problems))  # fmt: skip


def run_score(config: Config, opts: SendOptions, hooks: Hooks | None = None) -> Report:
    """`newsletter score`: fetch, score and select, without rendering or sending."""
    hooks = hooks or Hooks()
    check_options(opts)
    preflight(config, dry_run=True)
    report = Report()
    with Store(config.storage.path) as store:
        roster = load_profiles(config.subscribers_dir, store.known_subscribers())
        profiles = choose_profiles(config, roster, replace(opts, dry_run=True), report)
        claim_all(store, profiles, hooks)
        listing = _listing(config, store, roster, opts, report, hooks)
        if listing.papers:
            _score(config, store, listing, profiles, report, hooks, dry_run=True)
    return report


def run_submit(config: Config, opts: SendOptions, hooks: Hooks | None = None) -> list[str]:
    """`newsletter score --submit`: start the day's batches ([llm] mode = "batch") and return
    the ids of those still running, without waiting; a later `send` collects them. A batch
    that has ended is collected, and the next pass's batch started."""
    hooks = hooks or Hooks()
    if config.llm.mode != "batch" or config.llm.provider == "local":
        raise ConfigError('--submit needs [llm] mode = "batch" and provider = "openai"')
    check_options(opts)
    preflight(config, dry_run=True)
    with Store(config.storage.path) as store:
        roster = load_profiles(config.subscribers_dir, store.known_subscribers())
        profiles = choose_profiles(config, roster, replace(opts, dry_run=True), Report())
        listing = _listing(config, store, roster, opts, Report(), hooks)
        if not listing.papers:
            return []
        plans = [plan(config, store, listing, p) for p in profiles]
        scorer = BatchScorer(config, store, make_client(config), wait=False, say=hooks.say)
        score_plans(config, store, plans, local=False, hooks=hooks, day=listing.day,
                    scorer=scorer)  # fmt: skip
    return scorer.pending


def run_send(config: Config, opts: SendOptions, hooks: Hooks | None = None) -> Report:
    """fetch -> score -> select -> render -> deliver (or preview) for every active subscriber."""
    hooks = hooks or Hooks()
    check_options(opts)
    preflight(config, dry_run=opts.dry_run)
    report = Report()
    sender = None if opts.dry_run else deliver.SendgridSender(config.sendgrid, sendgrid_key())
    with Store(config.storage.path) as store:
        if not opts.dry_run:
            store.lock()
        roster = load_roster(config, opts, store)
        profiles = choose_profiles(config, roster, opts, report)
        if opts.profile is None:  # a proposed file is nobody's yet: it claims no address
            claim_all(store, profiles, hooks)
        elif opts.feed is None and opts.day is None:  # the day the store knows last
            opts = replace(opts, day=store.latest_day())
        listing = _listing(config, store, roster, opts, report, hooks)
        if not listing.papers:
            hooks.say(f"{listing.day}: no papers announced (weekend or holiday): nothing to send")
            return report
        if sender is not None:
            profiles = _not_yet_sent(store, listing.day, profiles, opts.force, report)
        profiles = _not_suppressed(config, store, profiles, sender, report, hooks)
        _score(config, store, listing, profiles, report, hooks, dry_run=opts.dry_run)
        by_id = {p.id: p for p in profiles}
        jobs = [(by_id[s.subscriber_id], s) for s in report.selections]
        report.served += _serve_all(config, store, jobs, sender, opts, hooks)
        sent = [s.subscriber_id for s in report.served if s.status == Status.SENT]
        archive.publish(config, store, sent, hooks)  # so "View in browser" lands
    return report


def claim_all(store: Store, profiles: list[Profile], hooks: Hooks) -> None:
    """Tie each subscriber id to its address: a new address under an old id starts fresh."""
    for p in profiles:
        if retired := store.claim(p.id, p.email):
            hooks.warn(
                f"{p.id}: a new address ({p.email}); the previous reader's history and archive "
                f"are kept apart, as {retired}"
            )


def _listing(config, store, roster, opts: SendOptions, report: Report, hooks) -> Listing:
    categories = active_categories(config, roster)
    listing, stored = get_listing(
        config, store, categories, feed=opts.feed, day=opts.day, hooks=hooks
    )
    hooks.say(fetch.summary_line(listing, stored))
    report.day, report.listing = listing.day, listing
    return listing


def _score(config, store, listing, profiles, report: Report, hooks, *, dry_run: bool) -> None:
    local = use_local_scorer(config, dry_run=dry_run, hooks=hooks)
    report.selections, scoring = score_day(
        config, store, listing, profiles, local=local, hooks=hooks
    )
    report.usage, report.requests = scoring.spend, scoring.requests
    report.scorer, report.billed = scoring.scorer, scoring.billed


def _not_yet_sent(
    store: Store, day: date, profiles: list[Profile], force: bool, report: Report
) -> list[Profile]:
    """Skip, before any token is spent, the subscribers whose digest for the day went out, or
    may have (an unknown outcome): `force` sends those again, never one recorded as sent."""
    todo = []
    for p in profiles:
        prior = deliver.prior_delivery(store, day, p.id)
        if prior is None or (force and prior.status == Status.UNKNOWN):
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
    try:
        reasons = suppressions.current(store, client, config.sendgrid, hooks.warn)
    except CredentialsRejected as exc:
        if sender is not None:
            raise  # a send would be refused too: stop before scoring
        hooks.warn(f"{exc}; the preview uses the suppressions synced before")
        reasons = suppressions.stored_reasons(store)
    todo = []
    for p in profiles:
        reason = reasons.get(p.email.lower())
        if reason is None:
            todo.append(p)
        else:
            served = Served(p.id, Status(reason), detail="asked not to be mailed, or cannot be")
            report.served.append(served)
    return todo


def _serve_all(config, store, jobs, sender, opts, hooks) -> list[Served]:
    """Serve each subscriber from a pool of threads; a refused key stops them all, and the
    subscribers not yet tried are left out of the report rather than counted as failed."""
    advance = hooks.sending(len(jobs))
    outbox = opts.outbox or config.output.outbox
    refused: list[CredentialsRejected] = []

    def serve_one(job: tuple[Profile, Selection]) -> Served | None:
        profile, selection = job
        if refused:
            return None
        try:
            return serve(config, store, profile, selection, sender, outbox, opts.force)
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
        served = list(pool.map(serve_one, jobs))
    if refused:
        raise refused[0]
    return [s for s in served if s is not None]


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
    if sender is None:
        store.save_digest(selection.day, profile.id, "preview", record.model_dump(mode="json"))
        paths = deliver.write_preview(outbox, email, env, config.sendgrid, record,
                                      display_path(config.subscribers_dir / f"{profile.id}.toml"))
        return Served(profile.id, Status.PREVIEWED, selection, paths=paths)
    result = deliver.deliver(store, sender, email, env, config.sendgrid, force=force)
    if result.status == Status.SENT:  # the archive shows what readers received, nothing else
        store.save_digest(selection.day, profile.id, "sent", record.model_dump(mode="json"))
    return Served(profile.id, result.status, selection, detail=result.detail)
