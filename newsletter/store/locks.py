"""The file locks beside the database: one run sends at a time, and one run at a time scores
a day for a prompt (the other then finds the scores in the cache instead of buying them)."""

from __future__ import annotations

import fcntl
import hashlib
import threading
from datetime import date
from pathlib import Path
from typing import IO

from newsletter.errors import RunLocked


def _lock_offset(day: date, key: str) -> int:
    return int(hashlib.sha256(f"{day}:{key}".encode()).hexdigest()[:7], 16)


class Locks:
    """The lock files beside the database; released when the store closes."""

    def __init__(self, path: Path):
        self.path = path
        self._run: IO[str] | None = None
        self._scoring: IO[str] | None = None
        self._opening = threading.Lock()  # scoring runs in threads: one handle for them all

    def lock_run(self) -> None:
        """Take the exclusive run lock, or raise RunLocked at once."""
        handle = open(f"{self.path}.lock", "w")  # noqa: SIM115 (held for the run)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RunLocked(
                f"another `newsletter send` is running on {self.path} (lock {self.path}.lock)"
            ) from None
        self._run = handle

    def unlock_run(self) -> None:
        if self._run is not None:
            fcntl.flock(self._run, fcntl.LOCK_UN)
            self._run.close()
            self._run = None

    def hold_scoring(self, day: date, key: str) -> None:
        """Wait until no other run scores `day` for the prompt `key`, then hold that until
        `release_scoring`: the second of two runs (a dry run beside a send, two dry runs) then
        finds the first one's scores in the cache instead of paying for them again. One byte
        of one file per (day, prompt), so a process keeps one handle for all of them."""
        with self._opening:
            if self._scoring is None:
                self._scoring = open(f"{self.path}.scoring.lock", "a")  # noqa: SIM115
        fcntl.lockf(self._scoring, fcntl.LOCK_EX, 1, _lock_offset(day, key))

    def release_scoring(self, day: date, key: str) -> None:
        if self._scoring is not None:
            fcntl.lockf(self._scoring, fcntl.LOCK_UN, 1, _lock_offset(day, key))

    def close(self) -> None:
        self.unlock_run()
        if self._scoring is not None:
            self._scoring.close()  # releases what this process held
