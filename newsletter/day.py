"""A run's day, opened once: the options, the checks before any paid work, the store, the
chosen profiles and the listing; and the report the run puts together from its stages.

`score`, `score --submit` and `send` each open their day with `open_day` (`newsletter.pipeline`
runs the stages).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from newsletter import fetch, links
from newsletter.config import Config, display_path, openai_key, sendgrid_key
from newsletter.errors import ConfigError, Crash, UsageError
from newsletter.models import Hooks, Listing, Selection, Status, SuppressionReason, Usage
from newsletter.plans import Scoring
from newsletter.profiles import Profile, Roster, load_profiles, parse_profile
from newsletter.store import Store
from newsletter.text import plural


@dataclass
class Served:
    """One subscriber's line in the run summary."""

    subscriber_id: str
    status: Status | SuppressionReason
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


# -- the listing ---------------------------------------------------------------------------


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
        known = store.papers.fetched_categories(day)
        if known is not None and set(categories) <= known:
            listing = store.papers.load_listing(day)
            assert listing is not None
            return listing, 0
    return fetch.fetch_day(
        config.arxiv, store, categories, feed=feed, day=day, on_progress=hooks.say
    )


def read_listing(config: Config, store: Store, roster: Roster, opts: SendOptions,
                 hooks: Hooks) -> Listing:  # fmt: skip
    """The listing for the day the options name, said in one line."""
    listing, stored = get_listing(config, store, active_categories(config, roster),
                                  feed=opts.feed, day=opts.day, hooks=hooks)  # fmt: skip
    hooks.say(fetch.summary_line(listing, stored))
    return listing


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
        report = Report(day=self.listing.day, listing=self.listing,
                        served=self.chosen.turned_away + served,
                        profile_errors=self.chosen.errors)  # fmt: skip
        if scores is None:
            return report
        scoring = scores.scoring
        return replace(report, selections=scores.selections, examples=scores.examples,
                       usage=scoring.spend, requests=scoring.requests, scorer=scoring.scorer,
                       billed=scoring.billed)  # fmt: skip


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
            store.locks.lock_run()
        roster = load_roster(config, opts, store)
        chosen = choose_profiles(config, roster, opts)
        if opts.profile is None:  # a proposed file is nobody's yet: it claims no address
            if claim:
                claim_all(store, chosen.profiles, hooks)
        elif opts.feed is None and opts.day is None:  # the day the store knows last
            opts = replace(opts, day=store.papers.latest_day())
        listing = read_listing(config, store, roster, opts, hooks)
        yield Day(config, opts, store, hooks, chosen, listing)


def load_roster(config: Config, opts: SendOptions, store: Store) -> Roster:
    """The subscribers folder; or, with `profile`, that one file, wherever it is (a pull
    request's version of a profile, before it is merged): only ever previewed."""
    if opts.profile is None:
        return load_profiles(config.subscribers_dir, store.readers.known())
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


def claim_all(store: Store, profiles: list[Profile], hooks: Hooks) -> None:
    """Tie each subscriber id to its address: a new address under an old id starts fresh."""
    for p in profiles:
        if retired := store.readers.claim(p.id, p.email):
            hooks.warn(
                f"{p.id}: a new address ({p.email}); the previous reader's history and archive "
                f"are kept apart, as {retired}"
            )
