"""The day's commands: `prompt`, `fetch`, `score`, `send`, then `archive build` and `serve`;
and how a run's report is printed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from newsletter import archive, fetch, pipeline, votes, web
from newsletter import profiles as profiles_mod
from newsletter.cli.base import (
    app,
    archive_app,
    err,
    get_config,
    out,
    parse_day,
    print_error,
)
from newsletter.config import display_path
from newsletter.errors import ProfileError
from newsletter.models import Selection, Status
from newsletter.prompt import render_full_prompt, render_skim_prompt, render_title_prompt
from newsletter.store import Store
from newsletter.text import plural

# -- prompt ---------------------------------------------------------------------------------


class PromptPass(StrEnum):
    read = "read"
    skim = "skim"
    titles = "titles"


PROMPTS: dict[PromptPass, Callable[[profiles_mod.Profile], str]] = {
    PromptPass.read: render_full_prompt,
    PromptPass.skim: render_skim_prompt,
    PromptPass.titles: render_title_prompt,
}


@app.command("prompt")
def prompt(
    ctx: typer.Context,
    subscriber_id: Annotated[str, typer.Argument(metavar="ID")],
    which: Annotated[
        PromptPass,
        typer.Option("--pass", help="The full read's prompt, the skim's or the title pass's."),
    ] = PromptPass.read,
) -> None:
    """Print the selection prompt a subscriber's profile produces, with the papers they liked
    and did not want as the model will read them (the ids a profile file lists count once a
    run has recorded them). The full read's is the one the digest shows; --pass skim and
    --pass titles show the cheaper passes that come before it.

    Example: newsletter prompt example --pass skim
    """
    config = get_config(ctx)
    profile = profiles_mod.load_profiles(config.subscribers_dir).get(subscriber_id)
    with Store(config.storage.path) as store:
        profile = votes.taught(config, store, profile)
    out.print(PROMPTS[which](profile), markup=False, end="")


# -- fetch, score, send ----------------------------------------------------------------------

FeedOption = Annotated[
    Path | None,
    typer.Option("--feed", help="Read a saved arXiv RSS listing instead of the network."),
]
DateOption = Annotated[
    str | None,
    typer.Option("--date", metavar="YYYY-MM-DD", help="A past day, backfilled from the arXiv API."),
]
OnlyOption = Annotated[
    str | None, typer.Option("--only", metavar="ID", help="Only this subscriber.")
]


@contextmanager
def progress_hooks() -> Iterator[pipeline.Hooks]:
    """Progress bars on stderr (hidden when it is not a terminal), messages above them."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err, transient=True) as bars:

        def bar(label: str) -> Callable[[int], Callable[[int], None]]:
            def start(total: int) -> Callable[[int], None]:
                task = bars.add_task(label, total=total)
                return lambda n: bars.advance(task, n)

            return start

        yield pipeline.Hooks(
            say=lambda msg: err.print(msg, markup=False),
            warn=lambda msg: err.print(f"warning: {msg}", markup=False),
            scoring=bar("scoring papers"),
            sending=bar("rendering and sending"),
        )


@app.command("fetch")
def fetch_command(ctx: typer.Context, feed: FeedOption = None, day: DateOption = None) -> None:
    """Store the day's announced papers for the active subscribers' categories.

    Example: newsletter fetch --feed newsletter/data/sample-listing.xml
    """
    config = get_config(ctx)
    with progress_hooks() as hooks:
        listing, stored = pipeline.run_fetch(config, feed=feed, day=parse_day(day), hooks=hooks)
    out.print(fetch.summary_line(listing, stored), markup=False)


@app.command("score")
def score_command(
    ctx: typer.Context,
    only: OnlyOption = None,
    feed: FeedOption = None,
    day: DateOption = None,
    submit: Annotated[
        bool,
        typer.Option(
            "--submit",
            help='[llm] mode = "batch": collect the batches that ended, start the next '
            "pass's, and return without waiting (run it hourly); a later `send` collects "
            "the rest.",
        ),
    ] = False,
) -> None:
    """Score the day's papers and print each subscriber's ranked selection and its cost.

    Example: newsletter score --only example --feed newsletter/data/sample-listing.xml
    """
    config = get_config(ctx)
    opts = pipeline.SendOptions(only=only, feed=feed, day=parse_day(day))
    if submit:
        with progress_hooks() as hooks:
            pending = pipeline.run_submit(config, opts, hooks)
        if pending:
            batches = f"{len(pending)} batch" if len(pending) == 1 else f"{len(pending)} batches"
            out.print(f"{batches} in flight: `newsletter send` collects them")
        else:
            out.print("every pass has been answered: `newsletter send` has nothing to wait for")
        return
    with progress_hooks() as hooks:
        report = pipeline.run_score(config, opts, hooks)
    report_profile_errors(report.profile_errors)
    for selection in report.selections:
        print_selection(selection)
    print_usage(report)


@app.command("send")
def send_command(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Send nothing: write previews to the outbox.")
    ] = False,
    only: OnlyOption = None,
    feed: FeedOption = None,
    day: DateOption = None,
    outbox: Annotated[
        Path | None, typer.Option("--outbox", help="Where --dry-run writes (else [output] outbox).")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Send again where the outcome is unknown (never what was sent)."
        ),
    ] = False,
    profile: Annotated[
        Path | None,
        typer.Option(
            "--profile",
            metavar="FILE",
            help="With --dry-run: preview this profile file alone, wherever it is, on the "
            "latest stored day unless --feed or --date says otherwise.",
        ),
    ] = None,
) -> None:
    """Fetch, score, select, render and deliver today's digest to every active subscriber.

    A weekly reader (frequency = "weekly" in their profile) has today's papers scored and
    kept for their weekday, when the days since their last digest go out as one; the summary
    says "weekly, next on Friday" for them, and --dry-run previews that digest so far.

    Exit status: 0 when every active subscriber was served, 1 when some were not (each
    named, with the reason), 2 when the run could not start (usage, config, keys).

    Example: newsletter send --dry-run --feed newsletter/data/sample-listing.xml
    """
    config = get_config(ctx)
    opts = pipeline.SendOptions(dry_run=dry_run, only=only, feed=feed, day=parse_day(day),
                                outbox=outbox, force=force, profile=profile)  # fmt: skip
    with progress_hooks() as hooks:
        report = pipeline.run_send(config, opts, hooks)
    report_profile_errors(report.profile_errors)
    print_report(report)
    if not report.ok:
        raise typer.Exit(1)


@archive_app.command("build")
def archive_build(
    ctx: typer.Context,
    only: OnlyOption = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Where to write (else [archive] out)."),
    ] = None,
) -> None:
    """Write the static site of past digests: a page per day, an overview per month, and an
    index per subscriber under their own unlisted folder. Only changed files are written.

    Example: newsletter archive build --out site
    """
    config = get_config(ctx)
    folder = out_dir or config.archive.out
    with Store(config.storage.path) as store:
        built = archive.build(config, store, folder, only=only)
    out.print(
        f"{display_path(folder)}: {plural(built.files, 'file')} for "
        f"{plural(built.subscribers, 'subscriber')}, {len(built.written)} written",
        markup=False,
    )
    for failure in built.failed:
        print_error(failure)
    if built.failed:
        raise typer.Exit(1)


@app.command("serve")
def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
) -> None:
    """Serve the email's vote and unsubscribe links, the feeds and the archive (needs
    NEWSLETTER_SECRET; links point at [web] base_url).

    Example: newsletter serve --host 127.0.0.1 --port 8080
    """
    config = get_config(ctx)
    for note in web.start_notes(config):
        err.print(f"warning: {note}", markup=False)
    web.run_server(config, host, port)


def report_profile_errors(errors: list[ProfileError] | list[str]) -> None:
    """One line per problem; the run goes on without that subscriber."""
    for text in map(str, errors):
        for line in text.splitlines():
            err.print(f"error: {line} (subscriber skipped)", markup=False)


def print_selection(selection: Selection) -> None:
    out.print(
        f"\n{selection.subscriber_id} · {selection.day} · {len(selection.picks)} selected of "
        f"{selection.listed} listed, "
        + (f"{selection.titled} judged by title, " if selection.titled else "")
        + (f"{selection.skimmed} skimmed, " if selection.skimmed else "")
        + f"{selection.read} {'read in full' if selection.judge.by_model else 'scored'}",
        markup=False,
    )
    table = Table("#", "id", "R", "N", "title", "comment")
    for i, pick in enumerate(selection.picks, 1):
        r, n = ("-", "-") if pick.author_match else (pick.score.relevance, pick.score.novelty)
        table.add_row(str(i), pick.paper.id, str(r), str(n), pick.paper.title, pick.score.comment)
    out.print(table)
    for note in selection.notes:
        out.print(f"note: {note}", markup=False)
    if selection.unscored:
        out.print(f"unscored: {', '.join(selection.unscored)}", markup=False)


def print_usage(report: pipeline.Report) -> None:
    """What this run spent, per model (the digests show what their whole day cost)."""
    if not report.scorer:
        return  # nothing was scored: no listing, or nobody to score for
    if not report.billed:
        out.print(f"scored by {report.scorer}: 0 tokens, $0.00", markup=False)
        return
    if not report.requests:
        out.print("this run made no request: every score came from the cache", markup=False)
        return
    table = Table("model", "requests", "prompt", "cached", "completion", "total", "cost",
                  title="spent by this run")  # fmt: skip
    for u in report.usage.values():
        cost = "unknown (no price)" if u.cost_usd is None else f"${u.cost_usd:.4f}"
        table.add_row(u.model, str(u.requests), str(u.prompt_tokens), str(u.cached_tokens),
                      str(u.completion_tokens), str(u.total_tokens), cost)  # fmt: skip
    out.print(table)


def print_report(report: pipeline.Report) -> None:
    if report.listing is None or not report.listing.papers:
        return
    # a digest shows what its day's scoring cost, whichever run paid: so does this table
    table = Table("subscriber", "papers", "day's tokens", "day's cost", "status", "detail")
    for s in report.served:
        sel = s.selection
        # the local scorer spends nothing to show
        spent = sel if sel is not None and sel.judge.by_model else None
        cost = "-" if spent is None or spent.cost_usd is None else f"${spent.cost_usd:.4f}"
        table.add_row(
            s.subscriber_id, "-" if sel is None else str(len(sel.picks)),
            "-" if spent is None else str(spent.tokens), cost, s.status,
            s.detail or ("preview written" if s.paths else ""),
        )  # fmt: skip
    out.print(table)
    for s in report.served:
        for path in s.paths:
            out.print(f"{s.subscriber_id}: {display_path(path)}", markup=False)
    notes = {n for s in report.served if s.selection for n in s.selection.notes}
    for note in sorted(notes):  # shared scoring gives several subscribers the same note
        err.print(f"note: {note}", markup=False)
    for s in report.served:
        if s.crash is not None:  # whole, where the table would fold it
            print_error(s.crash)
    print_usage(report)
    out.print(f"{report.day}: {summary_line(report)}", markup=False)


def summary_line(report: pipeline.Report) -> str:
    """How many were served, by status; the weekly readers whose day it is not, and when it
    is; then each one who was not served, and why in a word."""
    counts: dict[str, int] = {}
    later: dict[str, list[str]] = {}  # "next on Friday" -> its readers
    for s in report.served:
        if s.status == Status.WEEKLY:
            later.setdefault(s.detail, []).append(s.subscriber_id)
        elif s.status.served:
            counts[s.status] = counts.get(s.status, 0) + 1
    parts = [", ".join(f"{n} {status}" for status, n in sorted(counts.items()))] if counts else []
    parts += [f"weekly, {when}: {', '.join(ids)}" for when, ids in sorted(later.items())]
    line = "; ".join(parts) or "nobody served"
    missed = [f"{s.subscriber_id} ({s.status})" for s in report.served if not s.status.served]
    return line + (f"; not served: {', '.join(missed)}" if missed else "")
