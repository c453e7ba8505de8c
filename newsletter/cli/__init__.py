"""The `newsletter` command: a thin layer over the library.

Each command parses its options, loads the config, calls one library function and prints
(`day.py`: the day's run, `subscribers.py`: the people it serves). Domain errors
(`newsletter.errors`) become one-line messages and exit codes in one place (`base.py`).
"""

from newsletter.cli import day, subscribers  # noqa: F401  (each module adds its commands)
from newsletter.cli.base import app

__all__ = ["app"]
