"""arXiv identifiers, read in one place: `2501.01234` (since 2007) or `hep-th/9901001`, with
or without a version (`v2`), wherever they turn up (feeds, API entries, BibTeX fields, a model's
answer, a profile's examples)."""

from __future__ import annotations

import re

# without a version; a profile's `liked` and `disliked` must match it whole (a profile error
# quotes it)
PATTERN = r"(\d{4}\.\d{4,5}|[a-z-]+(\.[A-Z]{2})?/\d{7})"
FULL_PATTERN = rf"^{PATTERN}$"
_VERSIONED = re.compile(rf"(?P<id>{PATTERN})v(?P<v>\d+)")
# in free text: not inside a longer number
_LOOSE = re.compile(rf"(?<!\d)(?P<id>{PATTERN})(?:v\d+)?(?!\d)")
_VERSION = re.compile(r"v\d+$")


def versioned(text: str) -> tuple[str, int] | None:
    """The first versioned id in `text` and its version: '.../abs/2501.01234v2' -> ('2501.01234',
    2); None when there is none (an id without its version does not count)."""
    found = _VERSIONED.search(text)
    return (found["id"], int(found["v"])) if found else None


def find(text: str) -> str | None:
    """The first id in `text`, versioned or not, without its version."""
    found = _LOOSE.search(text)
    return found["id"] if found else None


def normalize_id(value: object) -> str:
    """'arXiv:2502.15657v2' -> '2502.15657'. Lenient: whatever is not an arXiv address or
    prefix is kept, less a trailing version."""
    text = str(value).strip()
    text = text.removeprefix("arXiv:").removeprefix("arxiv:").strip()
    text = text.rsplit("/abs/", 1)[-1]
    return _VERSION.sub("", text)
