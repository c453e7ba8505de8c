"""What every command shares: the consoles, the command tree, the config, and the one place
where domain errors (`newsletter.errors`) become one-line messages and exit codes."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from newsletter.config import Config, load_config
from newsletter.errors import NewsletterError

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


def parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a date (YYYY-MM-DD)") from None
