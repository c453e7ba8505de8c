"""A reader's rhythm: a digest each announcement day, or one a week on their weekday.

Every reader's papers are scored on their own announcement day, whatever the rhythm, so the
work is spread over the week and a weekly reader costs what a daily one does: only the mail
waits. A `send` keeps each announcement day of a weekly reader's in the store for them
(`Ledger.hold`); on their other days it scores their papers and sends nothing. On their
weekday, or on the first run after it when that day's run did not happen or their digest
failed (a holiday, a crash), the days held since their previous digest, at most the seven days
up to the weekday, are gathered with the day itself into one listing and selected as one day
is (newsletter.select): followed authors first, then the cutoffs and the cap; the scores of
the days already judged come from the cache.

Exactly once holds per (period, reader): a weekly digest is keyed in the ledger, the archive
and the sent papers by the date of the weekday its period is due on, whichever day it goes
out, so that a run on any later day of the week finds it. Sending a digest lets go of the days
it gathered up to that date in the transaction that records it (and of a late one's days
after it just after); a daily digest gathers the days a reader held as a weekly one, so that
switching rhythm loses nothing, and the papers sent before are never candidates again, so
that it repeats nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import get_args

from newsletter import votes
from newsletter.day import Day, Served
from newsletter.deliver import Mailer
from newsletter.models import Listing, Paper, Selection, Status, Usage, Weekday
from newsletter.plans import scoring_key
from newsletter.profiles import Profile
from newsletter.store import Store

WEEKDAYS: tuple[str, ...] = get_args(Weekday)  # monday first, as date.weekday() counts
REACH = timedelta(days=6)  # a digest gathers at most the seven days up to the one it is due on


def due_day(day: date, weekday: str) -> date:
    """The latest `weekday` on or before `day`: the day the current period is due on."""
    return day - timedelta(days=(day.weekday() - WEEKDAYS.index(weekday)) % 7)


def next_due(day: date, weekday: str) -> date:
    """The first `weekday` on or after `day`."""
    return day + timedelta(days=(WEEKDAYS.index(weekday) - day.weekday()) % 7)


def next_on(profile: Profile) -> str:
    """What the run's summary says of a weekly reader on another day."""
    return f"next on {profile.weekday.capitalize()}"


@dataclass(frozen=True)
class Turn:
    """One reader's part in a run: the day their digest is keyed by, the announcement days
    it gathers (today last), and whether it goes out today."""

    profile: Profile
    key: date
    days: tuple[date, ...]
    due: bool

    @property
    def period(self) -> tuple[date, date] | None:
        """The days a digest says it holds, when it is more than its own day's."""
        if self.profile.frequency == "weekly" or len(self.days) > 1:
            return self.days[0], self.days[-1]
        return None


def take_turns(
    store: Store, mailer: Mailer, profiles: list[Profile], today: date
) -> tuple[list[Turn], list[Served]]:
    """Each reader's turn, before any token is spent; or, for those whose digest went out
    (or may have: an unknown outcome), the line saying so: (turns, those skipped)."""
    turns: list[Turn] = []
    skipped: list[Served] = []
    for profile in profiles:
        turn = take_turn(store, mailer, profile, today)
        if isinstance(turn, Served):
            skipped.append(turn)
        else:
            turns.append(turn)
    return turns, skipped


def take_turn(store: Store, mailer: Mailer, profile: Profile, today: date) -> Turn | Served:
    held = store.ledger.held(profile.id)
    if profile.frequency == "daily":
        prior = mailer.prior(today, profile.id)
        if prior is not None:
            return Served(profile.id, prior.status, detail=prior.detail)
        return Turn(profile, today, gathered(held, today, today), due=True)
    due = due_day(today, profile.weekday)
    prior = mailer.prior(due, profile.id)
    if prior is not None and (today == due or prior.status == Status.UNKNOWN):
        if today != due:  # the period may have gone: today's papers wait for the next one
            store.ledger.hold(profile.id, today)
        return Served(profile.id, prior.status, detail=prior.detail)
    if prior is None and (today == due or any(d <= due for d in held)):  # a period waits
        return Turn(profile, due, gathered(held, due, today), due=True)
    key = next_due(today, profile.weekday)
    return Turn(profile, key, gathered(held, key, today), due=False)


def gathered(held: list[date], key: date, today: date) -> tuple[date, ...]:
    """The days held within reach of the day a digest is keyed by, and today."""
    return tuple(sorted({d for d in held if key - REACH <= d < today} | {today}))


def listings(store: Store, listing: Listing, turns: list[Turn]) -> dict[str, Listing]:
    """Each reader's listing, keyed by their turn's day: today's papers as read, and those
    of the days held from the store, each paper once (in the order of its first day)."""
    stored: dict[date, Listing | None] = {listing.day: listing}
    found: dict[str, Listing] = {}
    for turn in turns:
        if turn.days == (turn.key,) == (listing.day,):  # a day's digest: the day's listing
            found[turn.profile.id] = listing
            continue
        papers: dict[str, Paper] = {}
        for day in turn.days:
            if day not in stored:
                stored[day] = store.papers.load_listing(day)
            known = stored[day]
            for paper in known.papers if known is not None else []:
                papers.setdefault(paper.id, paper)
        found[turn.profile.id] = replace(listing, day=turn.key, papers=list(papers.values()))
    return found


def split(
    day: Day, turns: list[Turn], selections: list[Selection]
) -> tuple[list[Selection], list[Served]]:
    """The selections to serve now (each saying the days it holds), and a line for each
    weekly reader whose day it is not: their day is held for them. A dry run previews
    everyone's, a weekly reader's as it stands so far."""
    by_id = {t.profile.id: t for t in turns}
    going, waiting = [], []
    for selection in selections:
        turn = by_id[selection.subscriber_id]
        if turn.period is not None:
            selection = replace(selection, period=turn.period, usage=period_usage(day, turn))
        if not day.opts.dry_run and turn.profile.frequency == "weekly":
            # on their weekday too: a digest that fails leaves the day for the next run
            day.store.ledger.hold(turn.profile.id, day.listing.day)
        if turn.due or day.opts.dry_run:
            going.append(selection)
        else:
            waiting.append(Served(turn.profile.id, Status.WEEKLY, selection, next_on(turn.profile)))
    return going, waiting


def period_usage(day: Day, turn: Turn) -> dict[str, Usage]:
    """What scoring the turn's days cost, for its digest to show, as a day's digest shows
    what its day cost (newsletter.plans: whichever run paid)."""
    profile = votes.taught(day.config, day.store, turn.profile)
    spent = day.store.spend.over(turn.days, scoring_key(day.config, profile)[1])
    return {model: usage for model, usage in spent.items() if usage.requests}


def settle(day: Day, turns: list[Turn], served: list[Served]) -> None:
    """Let go of the days of the digests served, sent or with nothing to send. A digest sent
    lets go of the days up to the one it is keyed by as the ledger records it; this lets go
    of the days after it, those of a digest sent late (on Monday for Friday)."""
    if day.opts.dry_run:
        return
    due = {t.profile.id for t in turns if t.due}
    for s in served:
        if s.subscriber_id in due and s.status in (Status.SENT, Status.EMPTY):
            day.store.ledger.release(s.subscriber_id, day.listing.day)
