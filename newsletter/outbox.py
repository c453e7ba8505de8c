"""The dry run's outbox: each digest written as files to look at, never sent.

OUTBOX/<day>/<subscriber>.html, .txt, .eml (the complete message, headers as SendGrid would
send them) and .json (the selection, as the archive keeps it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from newsletter.config import SendgridConfig, display_path
from newsletter.deliver import Delivery, Envelope, build_mime
from newsletter.files import write_atomic
from newsletter.models import Email, SavedDigest, Status
from newsletter.store import Store


@dataclass
class Outbox:
    """The dry run: each digest written to `folder` as a preview, and kept in the store as
    one, never sent. Nothing is ever "sent before": a preview may be written again."""

    store: Store
    folder: Path
    config: SendgridConfig
    subscribers_dir: Path  # named in each preview's .json, for the operator

    def prior(self, day: date, subscriber_id: str) -> Delivery | None:
        return None

    def deliver(self, email: Email, env: Envelope, record: SavedDigest) -> Delivery:
        digest = record.model_dump(mode="json")
        self.store.digests.save(env.day, env.subscriber_id, "preview", digest)
        profile_file = display_path(self.subscribers_dir / f"{env.subscriber_id}.toml")
        paths = write_preview(self.folder, email, env, self.config, record, profile_file)
        return Delivery(Status.PREVIEWED, paths=tuple(paths))


def write_preview(
    outbox: Path,
    email: Email,
    env: Envelope,
    config: SendgridConfig,
    record: SavedDigest,
    profile_file: str | None = None,
) -> list[Path]:
    """Write OUTBOX/<day>/<subscriber>.{html,txt,eml,json}; return the paths. The .json
    names the profile file (`profile_file`), for the operator: the email never does."""
    folder = outbox / env.day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    data = record.model_dump(mode="json") | ({"profile_file": profile_file} if profile_file else {})
    selection = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    files = {
        ".html": email.html.encode("utf-8"),
        ".txt": email.text.encode("utf-8"),
        ".eml": build_mime(email, env, config),
        ".json": selection.encode("utf-8"),
    }
    paths = []
    for suffix, content in files.items():
        path = folder / f"{env.subscriber_id}{suffix}"
        write_atomic(path, content)
        paths.append(path)
    return paths
