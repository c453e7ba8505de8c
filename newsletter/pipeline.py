"""One run, stage after stage: fetch -> score -> select -> render -> deliver.

Each function here is what one CLI command calls; tests call them directly. A bad profile, or a
failure while serving one subscriber, is reported and the others are still served.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from newsletter import archive, deliver, fetch, links, render, suppressions, votes
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
from newsletter.outbox import Outbox
from newsletter.profiles import Profile, Roster, load_profiles, parse_profile
from newsletter.prompt import (
    render_full_prompt,
)
from newsletter.score import make_client
from newsletter.selections import Scoring, plan, score_day, score_plans, use_local_scorer
from newsletter.store import Store
from newsletter.views import plural

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


@dataclass(frozen=True)
class Report:
    """What a run did: the day, each subscriber's outcome, and what scoring spent. Put
    together once, at the end of the run, from what its stages returned."""

    day: date | None = None
    listing: Listing | None = None
    served: list[Served] = field(default_factory=list)
    selections: list[Selection] = field(default_factory=list)
    usage: dict[str, Usage] = field(default_factory=dict)
    profile_errors: list[str] = field(default_factory=list)
    requests: int = 0
    scorer: str = ""  # what judged the papers, as the summary names it
    billed: bool = True  # False: the local scorer, which costs nothing
    examples: int = 0  # papers the profile files newly list as liked or disliked, recorded

    @property
    def ok(self) -> bool:
        return not self.profile_errors and all(s.status.served for s in self.served)


@dataclass(frozen=True)
class Scores:
    """What the scoring stage gives back: each selection, the run's scoring, and how many
    examples it recorded first."""

    selections: list[Selection]
    scoring: Scoring
    examples: int


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


# -- the day, opened once ------------------------------------------------------------------


@dataclass
class SendOptions:
    dry_run: bool = False
    only: str | None = None
    feed: Path | None = None
    day: date | None = None
    outbox: Path | None = None
    force: bool = False
    profile: Path | None = None  # preview this file alone, not the subscribers folder


@dataclass(frozen=True)
class Chosen:
    """Whom a run serves, and whom the roster turned away (each a line of the report)."""

    profiles: list[Profile]
    turned_away: list[Served] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Day:
    """What every stage of one run reads: the options, the open store, the chosen profiles
    and the day's listing."""

    config: Config
    opts: SendOptions
    store: Store
    hooks: Hooks
    chosen: Chosen
    listing: Listing

    def report(self, served: list[Served], scores: Scores | None = None) -> Report:
        """The run's report, from what its stages returned."""
        scoring = {} if scores is None else {
            "selections": scores.selections, "examples": scores.examples,
            "usage": scores.scoring.spend, "requests": scores.scoring.requests,
            "scorer": scores.scoring.scorer, "billed": scores.scoring.billed,
        }  # fmt: skip
        return Report(day=self.listing.day, listing=self.listing,
                      served=self.chosen.turned_away + served,
                      profile_errors=self.chosen.errors, **scoring)  # fmt: skip


@contextmanager
def open_day(
    config: Config, opts: SendOptions, hooks: Hooks | None = None, *, claim: bool = True
) -> Iterator[Day]:
    """What `score`, `score --submit` and `send` do first: check the options and the keys,
    open the store (locked, unless nothing is sent), choose the profiles, tie their ids to
    their addresses (`claim`), and read the day's listing."""
    hooks = hooks or Hooks()
    check_options(opts)
    preflight(config, dry_run=opts.dry_run)
    with Store(config.storage.path) as store:
        if not opts.dry_run:
            store.lock()
        roster = load_roster(config, opts, store)
        chosen = choose_profiles(config, roster, opts)
        if opts.profile is None:  # a proposed file is nobody's yet: it claims no address
            if claim:
                claim_all(store, chosen.profiles, hooks)
        elif opts.feed is None and opts.day is None:  # the day the store knows last
            opts = replace(opts, day=store.latest_day())
        listing = read_listing(config, store, roster, opts, hooks)
        yield Day(config, opts, store, hooks, chosen, listing)


def load_roster(config: Config, opts: SendOptions, store: Store) -> Roster:
    """The subscribers folder; or, with `profile`, that one file, wherever it is (a pull
    request's version of a profile, before it is merged): only ever previewed."""
    if opts.profile is None:
        return load_profiles(config.subscribers_dir, store.known_subscribers())
    return Roster(profiles=[parse_profile(opts.profile)])


def choose_profiles(config: Config, roster: Roster, opts: SendOptions) -> Chosen:
    """Everybody active, or the one named; a paused one named is previewed, never sent. Each
    invalid profile is a line of the report; nobody to serve at all stops the run."""
    if opts.only:
        profile = roster.get(opts.only)
        if not profile.active and not opts.dry_run:
            return Chosen([], [Served(opts.only, Status.PAUSED, detail="active = false")])
        return Chosen([profile])
    invalid = [Served(Path(e.path).stem, Status.INVALID, detail=(e.problems or ["invalid"])[0])
               for e in roster.errors]  # fmt: skip
    if not roster.active:
        folder = display_path(config.subscribers_dir)
        count = f", {plural(len(roster.errors), 'invalid profile')}" if roster.errors else ""
        raise UsageError(f"nobody to serve: no active profile in {folder}{count}")
    return Chosen(roster.active, invalid, [str(e) for e in roster.errors])


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
        plans = [plan(config, store, day.listing, p) for p in day.chosen.profiles]
        scorer = BatchScorer(config, store, make_client(config), wait=False, say=hooks.say)
        score_plans(config, store, plans, local=False, hooks=hooks, day=day.listing.day,
                    scorer=scorer)  # fmt: skip
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


def read_listing(config: Config, store: Store, roster: Roster, opts: SendOptions,
                 hooks: Hooks) -> Listing:  # fmt: skip
    listing, stored = get_listing(config, store, active_categories(config, roster),
                                  feed=opts.feed, day=opts.day, hooks=hooks)  # fmt: skip
    hooks.say(fetch.summary_line(listing, stored))
    return listing


def open_mailer(day: Day) -> deliver.Mailer:
    """SendGrid, or for a dry run the outbox: the rest of the run does not ask which."""
    config, opts = day.config, day.opts
    if opts.dry_run:
        folder = opts.outbox or config.output.outbox
        return Outbox(day.store, folder, config.sendgrid, config.subscribers_dir)
    client = deliver.SendgridSender(config.sendgrid, sendgrid_key())
    return deliver.SendgridMailer(day.store, client, config.sendgrid, opts.force)


def claim_all(store: Store, profiles: list[Profile], hooks: Hooks) -> None:
    """Tie each subscriber id to its address: a new address under an old id starts fresh."""
    for p in profiles:
        if retired := store.claim(p.id, p.email):
            hooks.warn(
                f"{p.id}: a new address ({p.email}); the previous reader's history and archive "
                f"are kept apart, as {retired}"
            )


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
            skipped.append(Served(p.id, Status(reason), detail=detail))
    return todo, skipped


def read_suppressions(day: Day) -> dict[str, str]:
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
