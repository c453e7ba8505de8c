"""Who must not be mailed: SendGrid's suppression lists, mirrored in SQLite.

Each run reads, before scoring, the digest's unsubscribe group and SendGrid's global lists
(unsubscribes, bounces, blocks, spam reports, invalid emails), so that nobody who left costs a
token or gets a mail. When the API cannot be reached, the last synced copy is used: an address
known to be suppressed is never mailed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from newsletter.config import SendgridConfig
from newsletter.deliver import SendgridApi
from newsletter.errors import DeliveryError
from newsletter.models import SuppressionReason
from newsletter.store import Store

PAGE = 500  # SendGrid's largest page for the suppression lists
MAX_PAGES = 400  # 200,000 addresses on one list: far past any digest's audience


class GlobalList(NamedTuple):
    source: str  # the list's name, as the store keeps it
    reason: SuppressionReason  # what the run summary says of an address on it


# endpoint under /v3 -> the list
GLOBAL_LISTS = {
    "suppression/unsubscribes": GlobalList("unsubscribes", SuppressionReason.UNSUBSCRIBED),
    "suppression/bounces": GlobalList("bounces", SuppressionReason.BOUNCED),
    "suppression/blocks": GlobalList("blocks", SuppressionReason.BLOCKED),
    "suppression/spam_reports": GlobalList("spam_reports", SuppressionReason.SPAM_REPORT),
    "suppression/invalid_emails": GlobalList("invalid_emails", SuppressionReason.INVALID_EMAIL),
}


class Row(NamedTuple):
    """One address on one list, as the store keeps it."""

    email: str
    source: str  # the list: "group", "bounces", ...
    reason: SuppressionReason
    detail: str  # SendGrid's own words, when it gives any
    created: int | None  # when SendGrid listed it (Unix time)


@dataclass
class SyncResult:
    added: list[str]  # "email (reason)"
    removed: list[str]
    total: int


def read_list(client: SendgridApi, path: str) -> list[dict]:
    """Every entry of one global list, following limit/offset paging, for at most MAX_PAGES
    pages: a server that answers every page in full (or ignores the offset) would otherwise
    keep a run reading forever."""
    entries: list[dict] = []
    previous = None
    for number in range(MAX_PAGES):
        page = client.get_json(path, {"limit": PAGE, "offset": number * PAGE})
        if not isinstance(page, list):
            raise DeliveryError(f"SendGrid /v3/{path}: expected a list")
        if page and page == previous:
            raise DeliveryError(f"SendGrid /v3/{path}: the same page again (offset ignored)")
        entries += [e for e in page if isinstance(e, dict) and e.get("email")]
        if len(page) < PAGE:
            return entries
        previous = page
    raise DeliveryError(f"SendGrid /v3/{path}: more than {MAX_PAGES * PAGE:,} entries")


def read_all(client: SendgridApi, config: SendgridConfig) -> list[Row]:
    rows: list[Row] = []
    if config.unsubscribe_group_id is not None:
        path = f"asm/groups/{config.unsubscribe_group_id}/suppressions"
        emails = client.get_json(path)
        if not isinstance(emails, list):
            raise DeliveryError(f"SendGrid /v3/{path}: expected a list")
        unsubscribed = SuppressionReason.UNSUBSCRIBED
        rows += [Row(str(e), "group", unsubscribed, "unsubscribe group", None) for e in emails]
    for path, (source, reason) in GLOBAL_LISTS.items():
        for e in read_list(client, path):
            detail = str(e.get("reason") or e.get("status") or "")
            rows.append(Row(e["email"], source, reason, detail, e.get("created")))
    return rows


def sync(store: Store, client: SendgridApi, config: SendgridConfig) -> SyncResult:
    """Replace the stored copy with SendGrid's lists; say who was added and who removed."""
    before = stored_reasons(store)
    store.suppressions.replace(read_all(client, config))
    after = stored_reasons(store)
    return SyncResult(
        added=[f"{e} ({after[e]})" for e in sorted(after.keys() - before.keys())],
        removed=[f"{e} ({before[e]})" for e in sorted(before.keys() - after.keys())],
        total=len(after),
    )


def stored_reasons(store: Store) -> dict[str, SuppressionReason]:
    """email (lowercase) -> the reason to show; the most telling one when several apply.
    SendGrid's lists and the server's own one-click unsubscribes alike."""
    order = list(SuppressionReason)  # worst first
    found: dict[str, SuppressionReason] = {}
    rows = store.suppressions.all() + store.unsubscribes.as_suppressions()
    for email, word in ((r.email, r.reason) for r in rows):
        reason, current = SuppressionReason(word), found.get(email)
        if current is None or order.index(reason) < order.index(current):
            found[email] = reason
    return found


def current(
    store: Store, client: SendgridApi | None, config: SendgridConfig, warn
) -> dict[str, SuppressionReason]:
    """The run's suppressions: synced now when possible, else the last synced copy."""
    if client is not None:
        try:
            sync(store, client, config)
        except DeliveryError as exc:
            when = store.suppressions.synced_at() or "never"
            warn(f"suppression lists unreachable ({exc}); using the copy synced {when}")
    return stored_reasons(store)
