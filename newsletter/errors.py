"""Domain exceptions. The CLI turns each into a one-line message and an exit code.

Any other exception is a fault of the program itself (a bug, or input no one foresaw): it
becomes a `Crash`, one line saying what failed and for whom, while its traceback is appended
to `newsletter-errors.log` beside the state, where the operator can find it and report it.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import sys
import threading
import traceback
from datetime import UTC, datetime
from pathlib import Path

LOG_NAME = "newsletter-errors.log"
MESSAGE_CHARS = 200  # of an unexpected exception's message, in its one line
_log_lock = threading.Lock()  # subscribers are served in threads: one entry at a time


class NewsletterError(Exception):
    """Base class: anything a user can fix or must be told about, in one line."""

    exit_code = 1


class ConfigError(NewsletterError):
    """config.toml is missing, unreadable or invalid. The message names the file and key."""

    exit_code = 2


class UsageError(NewsletterError):
    """The run was asked for something it cannot do (options that contradict each other,
    nobody to serve): nothing was started."""

    exit_code = 2


class CredentialsRejected(NewsletterError):
    """A service refused our key: the message names the variable to fix."""

    exit_code = 2


class ProfileError(NewsletterError):
    """A subscriber profile is invalid. The message names the file and field."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


class UnknownSubscriber(NewsletterError):
    """An id named on the command line has no profile file."""


class FetchError(NewsletterError):
    """The arXiv listing could not be read (after retries)."""


class QuotaExhausted(NewsletterError):
    """The LLM provider said the account has no quota left: retrying cannot help."""


class DeliveryError(NewsletterError):
    """A mail could not be handed to SendGrid (after retries)."""


class RunLocked(NewsletterError):
    """Another `newsletter send` holds the lock on the store."""


class SchemaTooNew(NewsletterError):
    """The store was written by a newer release, whose schema this one does not know."""


class StoreError(NewsletterError):
    """The SQLite file cannot be opened, read or written: the message names it and says why."""


class Crash(NewsletterError):
    """A fault of the program itself: what failed, for whom, and where its traceback went."""


def raising() -> bool:
    """NEWSLETTER_RAISE=1: let every error through as it is, traceback and all."""
    return bool(os.environ.get("NEWSLETTER_RAISE"))


def log_traceback(exc: BaseException, what: str, folder: Path | None) -> Path | OSError:
    """Append a dated entry (the command line, what failed, the traceback) to the log in
    `folder`; return its path, or why it could not be written."""
    if folder is None:
        return FileNotFoundError("no folder for the log: the config was not read")
    path = folder / LOG_NAME
    when = datetime.now(UTC).isoformat(timespec="seconds")
    entry = f"{when}  {shlex.join(sys.argv)}\n{what}\n{''.join(traceback.format_exception(exc))}\n"
    try:
        with _log_lock, path.open("a", encoding="utf-8") as log:
            log.write(entry)
    except OSError as problem:
        return problem
    return path


def crash(exc: BaseException, what: str, folder: Path | None) -> Crash:
    """`exc`, which no code expected, as one line; its traceback logged in `folder`. Notes
    on the exception (PEP 678) name what was being worked on, such as a paper."""
    logged = log_traceback(exc, what, folder)
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]  # an asyncio TaskGroup's: the one error is what to name
    notes = getattr(exc, "__notes__", [])
    where = f" on {', '.join(reversed(notes))}" if notes else ""
    if isinstance(logged, Path):
        tail = f"a bug: its traceback is in {logged}"
    else:
        reason = logged.strerror or str(logged)
        tail = f"a bug: its traceback could not be logged ({reason}); NEWSLETTER_RAISE=1 shows it"
    return Crash(f"{what}{where}: {describe(exc)} ({tail})")


def describe(exc: BaseException) -> str:
    """`IndexError: list index out of range`: its first line, printable and short, since the
    message may quote paper text."""
    text = next(iter(str(exc).splitlines()), "")
    text = "".join(c for c in text if c.isprintable())[:MESSAGE_CHARS]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def contain(exc: Exception, what: str, folder: Path | None) -> Crash:
    """A fault in one subscriber's part of a run, as the line that reports it, so that the
    others are still served. Under NEWSLETTER_RAISE=1 it is raised as it is; and so is a
    broken store, which is nobody's part: every record of the run needs it (`Store` names
    the file)."""
    if raising() or isinstance(exc, sqlite3.Error):
        raise exc
    return crash(exc, what, folder)
