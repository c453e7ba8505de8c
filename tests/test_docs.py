"""Help is documentation: every command has help text with an example, and the README names
every command and option."""

import re
from pathlib import Path

import pytest
import typer

from newsletter.cli import app
from tests.conftest import runner


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


def summary_lines(group: str) -> list[str]:
    """The README command block's lines for `newsletter <group>`, continuations included."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    found, ours = [], False
    for line in readme.split("## Commands", 1)[1].split("```", 2)[1].splitlines():
        ours = line.startswith(f"newsletter {group} ") or (ours and line.startswith(" "))
        found += [line] if ours else []
    return found


@pytest.mark.parametrize("command", ALL, ids=" ".join)
def test_the_readme_summary_names_every_command_and_option(command):
    group, *sub = command
    lines = summary_lines(group)
    assert lines and all(any(re.search(rf"\b{w}\b", ln) for ln in lines) for w in sub)
    click = typer.main.get_command(app)
    for name in command:
        click = click.commands[name]
    options = {o for param in click.params for o in param.opts if o.startswith("--")}
    assert {o for o in options - {"--help"} if o not in " ".join(lines)} == set()
