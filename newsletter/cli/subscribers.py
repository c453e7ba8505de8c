"""`newsletter subscribers ...` and `newsletter suppressions ...`: the people a digest goes to,
their profile files, and who SendGrid will not mail."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from newsletter import deliver, profile_lines, seed, suppressions, votes
from newsletter import profiles as profiles_mod
from newsletter.cli.base import err, get_config, out, subscribers_app, suppressions_app
from newsletter.config import display_path, sendgrid_key
from newsletter.errors import UnknownSubscriber
from newsletter.models import Vote
from newsletter.store import Store
from newsletter.text import plural

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
    name = name or subscriber_id
    if not (bibtex or liked):
        path = profiles_mod.create_profile(config.subscribers_dir, subscriber_id, email, name)
        out.print(f"wrote {display_path(path)}: edit its topics and keywords, then run "
                  f"`newsletter subscribers validate {subscriber_id}`", markup=False)  # fmt: skip
        return
    with Store(config.storage.path) as store:
        if liked:  # looked up before the file is written: offline, no half-made profile
            given = given.merged(seed.from_ids(config.arxiv, store, liked))
        path, keywords = seed.seed_profile(
            store, config.subscribers_dir, subscriber_id, email, name, given
        )
    drafted = f"draft keywords: {', '.join(keywords)} (edit them)" if keywords else (
        "no keywords drafted (the titles share no word)")  # fmt: skip
    out.print(f"seeded with {plural(len(given.liked), 'liked paper')}; {drafted}", markup=False)
    out.print(f"wrote {display_path(path)}: add the reader's topics, then run "
              f"`newsletter subscribers validate {subscriber_id}`", markup=False)  # fmt: skip


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
    for line in archive_lines(config, profile.id):
        out.print(line, markup=False)


def archive_lines(config, subscriber_id: str) -> list[str]:
    """Where the reader's archive and Atom feed are: on the published site, else on
    `newsletter serve`, else in the folder `archive build` writes."""
    if not Path(config.storage.path).exists():
        return [f"archive: none yet (no store at {display_path(config.storage.path)})"]
    with Store(config.storage.path) as store:
        token = store.tokens.token(subscriber_id)
    base = config.archive.base_url or config.web.base_url
    where = f"{base}/{token}" if base else display_path(Path(config.archive.out) / token)
    return [f"archive: {where}/", f"feed: {where}/feed.atom"]


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
        path = display_path(config.subscribers_dir / (p.id + ".toml"))
        out.print(f"ok: {path}", markup=False)
        for warning in profiles_mod.profile_warnings(p):
            err.print(f"warning: {path}: {warning}", markup=False)
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
        problems = profile_lines.check_file(path, emails, config.subscribers_dir)
        bad = bad or bool(problems)
        if not problems:
            out.print(f"ok: {profiles_mod.display_path(path)}", markup=False)
            problems = profile_lines.check_warnings(path)
        for problem in problems:
            kind = "warning" if problem.warning else "error"
            if output is CheckFormat.github:
                out.print(github_error(problem, kind), markup=False)
            else:
                where = problem.path + (f":{problem.line}" if problem.line else "")
                err.print(f"{kind}: {where}: {problem.message}", markup=False)
    if bad:
        raise typer.Exit(1)


def github_error(problem: profile_lines.Problem, kind: str = "error") -> str:
    """A problem as GitHub's workflow command (`kind`: error or warning), which marks the
    line in a pull request."""

    def escape(text: str, *, value: bool = False) -> str:
        text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return text.replace(":", "%3A").replace(",", "%2C") if value else text

    where = f"file={escape(problem.path, value=True)}"
    if problem.line:
        where += f",line={problem.line}"
    return f"::{kind} {where}::{escape(problem.message)}"


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


def vote_by_hand(ctx: typer.Context, subscriber_id: str, ids: list[str], vote: Vote) -> None:
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
    vote_by_hand(ctx, subscriber_id, ids, Vote.UP)


@subscribers_app.command("dislike")
def subscribers_dislike(
    ctx: typer.Context,
    subscriber_id: Annotated[str, typer.Argument(metavar="ID")],
    ids: IdsArgument,
) -> None:
    """Give the prompts papers this reader did not want, as examples.

    Example: newsletter subscribers dislike ada 2501.01234
    """
    vote_by_hand(ctx, subscriber_id, ids, Vote.DOWN)


# -- suppressions ---------------------------------------------------------------------------


@suppressions_app.command("sync")
def suppressions_sync(ctx: typer.Context) -> None:
    """Read SendGrid's suppression lists now and print what changed.

    Example: newsletter suppressions sync
    """
    config = get_config(ctx)
    client = deliver.SendgridApi(config.sendgrid, sendgrid_key())
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
        rows, synced = store.suppressions.all(), store.suppressions.synced_at()
    table = Table("email", "subscriber", "list", "reason", "detail")
    for r in rows:
        table.add_row(r.email, ids.get(r.email, "-"), r.source, r.reason, r.detail)
    out.print(table)
    out.print(f"last synced: {synced or 'never'}", markup=False)
