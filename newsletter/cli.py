"""The `newsletter` command: a thin layer over the library.

Each command parses its options, loads the config, calls one library function and prints.
Domain errors (`newsletter.errors`) become one-line messages and exit codes here, in one place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from newsletter import archive, deliver, fetch, links, pipeline, seed, suppressions, votes, web
from newsletter import profiles as profiles_mod
from newsletter.config import Config, display_path, load_config, sendgrid_key
from newsletter.errors import NewsletterError, ProfileError, UnknownSubscriber
from newsletter.models import Selection
from newsletter.prompt import render_full_prompt, render_skim_prompt, render_title_prompt
from newsletter.store import Store
from newsletter.views import plural

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Commands(TyperGroup):
    """The command tree. Domain errors from any command become `error: ...` lines and their
    exit code here, in one place, never a traceback (NEWSLETTER_RAISE=1 re-raises them)."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            if os.environ.get("NEWSLETTER_RAISE"):
                raise
            for line in str(exc).splitlines():
                err.print(f"error: {line}", markup=False)
            raise typer.Exit(exc.exit_code) from None


HELP = {"help_option_names": ["-h", "--help"]}


def group(help_text: str, cls: type[TyperGroup] = TyperGroup) -> typer.Typer:
    return typer.Typer(
        cls=cls, help=help_text, no_args_is_help=True, rich_markup_mode=None, context_settings=HELP
    )


app = group("A personalized daily digest of new arXiv papers, scored by an LLM, sent by email.",
            Commands)  # fmt: skip
subscribers_app = group("Create, list, show and validate subscriber profiles.")
app.add_typer(subscribers_app, name="subscribers")
suppressions_app = group(
    "SendGrid's suppression lists: who unsubscribed, bounced or reported spam."
)
app.add_typer(suppressions_app, name="suppressions")
archive_app = group("The web archive: every digest sent (or previewed), as static pages.")
app.add_typer(archive_app, name="archive")


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="config.toml to use (else $NEWSLETTER_CONFIG, else ./config.toml)."
        ),
    ] = None,
) -> None:
    ctx.obj = config


def get_config(ctx: typer.Context) -> Config:
    return load_config(ctx.find_root().obj)


# -- subscribers ----------------------------------------------------------------------------


@subscribers_app.command("new")
def subscribers_new(
    ctx: typer.Context,
    subscriber_id: Annotated[str, typer.Argument(metavar="ID", help="The new subscriber's id.")],
    email: Annotated[str, typer.Option("--email", help="Where the digest goes.")],
    name: Annotated[str | None, typer.Option("--name", help="Name used in the greeting.")] = None,
    bibtex: Annotated[
        Path | None,
        typer.Option("--from-bibtex", metavar="FILE", help="Seed liked papers and keywords."),
    ] = None,
    liked: Annotated[
        list[str] | None,
        typer.Option("--liked", metavar="ARXIVID", help="A paper to seed from (repeatable)."),
    ] = None,
) -> None:
    """Write a commented profile file for a new subscriber, optionally seeded from their own
    papers (a .bib file or arXiv ids): `liked` examples and a draft of keywords.

    Example: newsletter subscribers new ada --email ada@example.org --name "Ada Lovelace"
    """
    config = get_config(ctx)
    given = seed.read_bibtex(bibtex) if bibtex else seed.Seed()  # a bad file: no profile
    path = profiles_mod.create_profile(
        config.subscribers_dir, subscriber_id, email, name or subscriber_id
    )
    if bibtex or liked:
        with Store(config.storage.path) as store:
            if liked:
                given = given.merged(seed.from_ids(config.arxiv, store, liked))
            keywords = seed.seed_profile(store, path, given)
        out.print(f"seeded with {plural(len(given.liked), 'liked paper')}; draft keywords: "
                  f"{', '.join(keywords) or 'none'} (edit them)", markup=False)  # fmt: skip
    out.print(
        f"wrote {display_path(path)}: edit its topics, then run "
        f"`newsletter subscribers validate {subscriber_id}`",
        markup=False,
    )


@subscribers_app.command("list")
def subscribers_list(ctx: typer.Context) -> None:
    """List every subscriber: id, email, categories, topics, active.

    Example: newsletter subscribers list
    """
    config = get_config(ctx)
    roster = profiles_mod.load_profiles(config.subscribers_dir)
    with Store(config.storage.path) as store:
        suppressed = suppressions.stored_reasons(store)
    table = Table("id", "email", "categories", "topics", "active")
    for p in roster.profiles:
        cats = ", ".join(p.categories_or(config.arxiv.categories))
        topics = ", ".join(t.name for t in p.topics) or "-"
        state = "yes" if p.active else "paused"
        state = suppressed.get(p.email.lower(), state)
        table.add_row(p.id, p.email, cats, topics, state)
    for e in roster.errors:
        table.add_row(Path(e.path).stem, "-", "-", "-", "invalid: run validate")
    out.print(table)


@subscribers_app.command("show")
def subscribers_show(
    ctx: typer.Context,
    subscriber_id: Annotated[str, typer.Argument(metavar="ID")],
) -> None:
    """Show one subscriber's profile as the program reads it.

    Example: newsletter subscribers show example
    """
    config = get_config(ctx)
    profile = profiles_mod.load_profiles(config.subscribers_dir).get(subscriber_id)
    out.print(f"id: {profile.id}", markup=False)
    for key, value in profile.model_dump().items():
        if key == "categories" and not value:
            value = f"{config.arxiv.categories} (the default)"
        if key == "topics":
            for i, t in enumerate(value):
                out.print(
                    f"topics[{i}]: {t['name']}\n  relevant: {t['relevant']}\n"
                    f"  irrelevant: {t['irrelevant'] or '-'}",
                    markup=False,
                )
            continue
        out.print(f"{key}: {value}", markup=False)


@subscribers_app.command("validate")
def subscribers_validate(
    ctx: typer.Context,
    subscriber_id: Annotated[str | None, typer.Argument(metavar="[ID]")] = None,
) -> None:
    """Check profile files; list every error. Exit 1 if any file is bad.

    Example: newsletter subscribers validate ada
    """
    config = get_config(ctx)
    roster = profiles_mod.load_profiles(config.subscribers_dir)
    good, bad = roster.profiles, roster.errors
    if subscriber_id is not None:
        good = [p for p in good if p.id == subscriber_id]
        bad = [e for e in bad if Path(e.path).stem == subscriber_id]
        if not good and not bad:
            raise UnknownSubscriber(f"no subscriber '{subscriber_id}' in {config.subscribers_dir}")
    for p in good:
        out.print(
            f"ok: {display_path(config.subscribers_dir / (p.id + '.toml'))}",
            markup=False,
        )
    for e in bad:
        for line in str(e).splitlines():
            err.print(f"error: {line}", markup=False)
    if bad:
        raise typer.Exit(1)


class CheckFormat(StrEnum):
    text = "text"
    github = "github"


@subscribers_app.command("check")
def subscribers_check(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Profile files.")],
    output: Annotated[
        CheckFormat,
        typer.Option("--format", help="text, or GitHub's workflow commands (::error ...)."),
    ] = CheckFormat.text,
) -> None:
    """Check profile files wherever they are (a pull request's, say), with the line of each
    problem. Exit 1 if any file is bad.

    Example: newsletter subscribers check subscribers/ada.toml --format github
    """
    config = get_config(ctx)
    emails = profiles_mod.address_book(config.subscribers_dir)
    bad = False
    for path in files:
        problems = profiles_mod.check_file(path, emails)
        bad = bad or bool(problems)
        if not problems:
            out.print(f"ok: {profiles_mod.display_path(path)}", markup=False)
        for problem in problems:
            if output is CheckFormat.github:
                out.print(github_error(problem), markup=False)
            else:
                where = problem.path + (f":{problem.line}" if problem.line else "")
                err.print(f"error: {where}: {problem.message}", markup=False)
    if bad:
        raise typer.Exit(1)


def github_error(problem: profiles_mod.Problem) -> str:
    """A problem as GitHub's workflow command, which marks the line in a pull request."""

    def escape(text: str, *, value: bool = False) -> str:
        text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return text.replace(":", "%3A").replace(",", "%2C") if value else text

    where = f"file={escape(problem.path, value=True)}"
    if problem.line:
        where += f",line={problem.line}"
    return f"::error {where}::{escape(problem.message)}"


@subscribers_app.command("pause")
def subscribers_pause(
    ctx: typer.Context, subscriber_id: Annotated[str, typer.Argument(metavar="ID")]
) -> None:
    """Stop a subscriber's digest (sets active = false in the profile file).

    Example: newsletter subscribers pause ada
    """
    set_active(ctx, subscriber_id, False)


@subscribers_app.command("resume")
def subscribers_resume(
    ctx: typer.Context, subscriber_id: Annotated[str, typer.Argument(metavar="ID")]
) -> None:
    """Start a paused subscriber's digest again (sets active = true).

    Example: newsletter subscribers resume ada
    """
    set_active(ctx, subscriber_id, True)


def set_active(ctx: typer.Context, subscriber_id: str, active: bool) -> None:
    config = get_config(ctx)
    profile = profiles_mod.load_profiles(config.subscribers_dir).get(subscriber_id)
    path = config.subscribers_dir / f"{profile.id}.toml"
    profiles_mod.write_active(path, active)
    state = "active" if active else "paused"
    out.print(f"{display_path(path)}: {state}", markup=False)


def vote_by_hand(ctx: typer.Context, subscriber_id: str, ids: list[str], vote: str) -> None:
    config = get_config(ctx)
    profile = profiles_mod.load_profiles(config.subscribers_dir).get(subscriber_id)
    with Store(config.storage.path) as store:
        titles, unknown = votes.teach(config.arxiv, store, profile.id, ids, vote)
    for pid, title in titles.items():
        out.print(f"{pid}: {title}", markup=False)
    for pid in unknown:
        err.print(f"warning: {pid}: not found on arXiv, not recorded", markup=False)
    if unknown:
        raise typer.Exit(1)


IdsArgument = Annotated[list[str], typer.Argument(metavar="ARXIVID...", help="arXiv ids.")]


@subscribers_app.command("like")
def subscribers_like(
    ctx: typer.Context,
    subscriber_id: Annotated[str, typer.Argument(metavar="ID")],
    ids: IdsArgument,
) -> None:
    """Give the prompts papers this reader liked, as examples (titles looked up once).

    Example: newsletter subscribers like ada 2501.01234 2502.04321
    """
    vote_by_hand(ctx, subscriber_id, ids, links.UP)


@subscribers_app.command("dislike")
def subscribers_dislike(
    ctx: typer.Context,
    subscriber_id: Annotated[str, typer.Argument(metavar="ID")],
    ids: IdsArgument,
) -> None:
    """Give the prompts papers this reader did not want, as examples.

    Example: newsletter subscribers dislike ada 2501.01234
    """
    vote_by_hand(ctx, subscriber_id, ids, links.DOWN)


# -- suppressions ---------------------------------------------------------------------------


@suppressions_app.command("sync")
def suppressions_sync(ctx: typer.Context) -> None:
    """Read SendGrid's suppression lists now and print what changed.

    Example: newsletter suppressions sync
    """
    config = get_config(ctx)
    client = deliver.SendgridSender(config.sendgrid, sendgrid_key())
    with Store(config.storage.path) as store:
        result = suppressions.sync(store, client, config.sendgrid)
    for line in result.added:
        out.print(f"+ {line}", markup=False)
    for line in result.removed:
        out.print(f"- {line} (served again)", markup=False)
    out.print(
        f"{result.total} suppressed addresses ({len(result.added)} added, "
        f"{len(result.removed)} removed)",
        markup=False,
    )


@suppressions_app.command("list")
def suppressions_list(ctx: typer.Context) -> None:
    """List the suppressed addresses as last synced, with the subscriber each one is.

    Example: newsletter suppressions list
    """
    config = get_config(ctx)
    roster = profiles_mod.load_profiles(config.subscribers_dir)
    ids = {p.email.lower(): p.id for p in roster.profiles}
    with Store(config.storage.path) as store:
        rows, synced = store.suppressions(), store.suppressions_synced_at()
    table = Table("email", "subscriber", "list", "reason", "detail")
    for r in rows:
        table.add_row(r["email"], ids.get(r["email"], "-"), r["source"], r["reason"], r["detail"])
    out.print(table)
    out.print(f"last synced: {synced or 'never'}", markup=False)


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
    and did not want as the model will read them. The full read's is the one the digest shows;
    --pass skim and --pass titles show the cheaper passes that come before it.

    Example: newsletter prompt example --pass skim
    """
    config = get_config(ctx)
    profile = profiles_mod.load_profiles(config.subscribers_dir).get(subscriber_id)
    with Store(config.storage.path) as store:
        profile = votes.taught(
            config, store, profile, lambda msg: err.print(f"warning: {msg}", markup=False)
        )
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
    web.serve(get_config(ctx), host, port)


def report_profile_errors(errors: list[ProfileError] | list[str]) -> None:
    """One line per problem; the run goes on without that subscriber."""
    for text in map(str, errors):
        for line in text.splitlines():
            err.print(f"error: {line} (subscriber skipped)", markup=False)


def print_selection(selection: Selection) -> None:
    out.print(
        f"\n{selection.subscriber_id} · {selection.day} · {len(selection.picks)} selected of "
        f"{selection.listed} listed, "
        + (f"{selection.skimmed} skimmed, " if selection.skimmed else "")
        + f"{selection.scanned} read in full",
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
        spent = sel is not None and sel.by_model  # the local scorer spends nothing to show
        cost = f"${sel.cost_usd:.4f}" if spent and sel.cost_usd is not None else "-"
        table.add_row(
            s.subscriber_id, "-" if sel is None else str(len(sel.picks)),
            str(sel.tokens) if spent else "-", cost, s.status,
            s.detail or ("preview written" if s.paths else ""),
        )  # fmt: skip
    out.print(table)
    for s in report.served:
        for path in s.paths:
            out.print(f"{s.subscriber_id}: {display_path(path)}", markup=False)
    notes = {n for s in report.served if s.selection for n in s.selection.notes}
    for note in sorted(notes):  # shared scoring gives several subscribers the same note
        err.print(f"note: {note}", markup=False)
    print_usage(report)
    out.print(f"{report.day}: {summary_line(report)}", markup=False)


def summary_line(report: pipeline.Report) -> str:
    """How many were served, by status; then each one who was not, and why in a word."""
    counts: dict[str, int] = {}
    for s in report.served:
        if s.status.served:
            counts[s.status] = counts.get(s.status, 0) + 1
    line = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nobody served"
    missed = [f"{s.subscriber_id} ({s.status})" for s in report.served if not s.status.served]
    return line + (f"; not served: {', '.join(missed)}" if missed else "")


def parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a date (YYYY-MM-DD)") from None
