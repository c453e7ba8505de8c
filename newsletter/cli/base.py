"""What every command shares: the consoles, the command tree, the config, and the one place
where domain errors (`newsletter.errors`) become one-line messages and exit codes."""

from __future__ import annotations

import logging
from datetime import date
from itertools import takewhile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from newsletter.config import Config, load_config
from newsletter.errors import NewsletterError, crash, raising

if TYPE_CHECKING:
    # What typer gives a group's methods is the Context of the click it carries, which
    # typer.Context extends; typer exports no public name for it.
    from typer._click.core import Context as ClickContext

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
# keys of the context's meta, which all of a command line's contexts share
COMMAND, STATE = "newsletter.command", "newsletter.state"


class Commands(TyperGroup):
    """The command tree. Domain errors from any command become `error: ...` lines and their
    exit code here, in one place, never a traceback (NEWSLETTER_RAISE=1 re-raises them); so
    does any other exception, a fault of the program, whose traceback goes to the log."""

    def resolve_command(self, ctx: ClickContext, args: list[str]) -> Any:
        ctx.meta[COMMAND] = args  # the command line after the global options, for its line
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: ClickContext) -> Any:
        show_warnings()
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # the command line's own: an exit status, a usage mistake
        except Exception as exc:
            if raising():
                raise
            if not isinstance(exc, NewsletterError):
                exc = crash(exc, f"`{command_words(ctx)}` failed", state_folder(ctx))
            print_error(exc)
            raise typer.Exit(exc.exit_code) from None


class WarningLines(logging.Handler):
    """What the library logs as a warning (a retry, a feed item skipped) shown as every other
    warning is: a `warning: ...` line on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"warning: {record.getMessage()}", markup=False)


def show_warnings() -> None:
    """Route the package's logged warnings to stderr, once per process."""
    logger = logging.getLogger("newsletter")
    if not any(isinstance(h, WarningLines) for h in logger.handlers):
        logger.addHandler(WarningLines(logging.WARNING))


def print_error(exc: NewsletterError) -> None:
    """The one way an error is shown: `error: ...`, a line per line of its message."""
    for line in str(exc).splitlines():
        err.print(f"error: {line}", markup=False)


def command_words(ctx: ClickContext) -> str:
    """`newsletter archive build`, `newsletter prompt ada`: the command, without options."""
    words = takewhile(lambda arg: not arg.startswith("-"), ctx.meta.get(COMMAND, []))
    return " ".join(["newsletter", *words])


def state_folder(ctx: ClickContext) -> Path | None:
    """The folder of `[storage] path`, where the log of crashes is kept; None when even the
    config cannot be read."""
    if STATE not in ctx.meta:
        try:
            get_config(ctx)
        except Exception:  # the config is what failed: no folder to log in
            return None
    return ctx.meta[STATE]


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


def get_config(ctx: ClickContext) -> Config:
    config = load_config(ctx.find_root().obj)
    ctx.meta[STATE] = config.storage.path.parent  # where a crash's traceback is logged
    return config


def parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a date (YYYY-MM-DD)") from None
