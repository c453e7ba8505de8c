"""Help is documentation: every command has help text with an example."""

import pytest
import typer
from typer.testing import CliRunner

from newsletter.cli import app

runner = CliRunner()


def commands(group: typer.Typer, prefix: tuple[str, ...] = ()):
    for info in group.registered_commands:
        yield (*prefix, info.name)
    for sub in group.registered_groups:
        yield from commands(sub.typer_instance, (*prefix, sub.name))


ALL = sorted(commands(app))


def test_the_commands_exist():
    assert {" ".join(c) for c in ALL} >= {
        "fetch", "score", "send", "prompt",
        "subscribers new", "subscribers list", "subscribers show", "subscribers validate",
        "archive build",
    }  # fmt: skip


@pytest.mark.parametrize("command", ALL, ids=" ".join)
def test_every_command_has_help_with_an_example(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example: newsletter " + " ".join(command) in result.output
