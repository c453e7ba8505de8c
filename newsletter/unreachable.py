"""arXiv out of reach, in one line: what failed, and the way to run without the network.

The RSS listing (`fetch`) and the API (`backfill`) both talk to arXiv through `requests`, whose
exceptions wrap urllib3's, which wrap the socket's: `reason` finds the one a reader can act on
(a host that will not resolve, no answer in time, a refused connection) instead of the
wrapper's paragraph. `message` adds the saved listing (`--feed`) as the way to run offline,
where one is.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

from newsletter.config import display_path

SAMPLE_LISTING = Path(__file__).parent / "data" / "sample-listing.xml"  # for offline runs
UNRESOLVED = "cannot resolve its host"


def message(url: str, why: str, what: str = "arXiv listing", *, feed: bool = True) -> str:
    """The message for arXiv out of reach, with the way to run without the network when a
    saved listing (`--feed`) is one; a caller for which it is not says its own way."""
    text = f"{what} unreachable: {why} ({url})"
    if not feed:
        return text
    return f"{text}; offline, run with --feed {display_path(SAMPLE_LISTING)}"


def reason(exc: BaseException, timeout: float) -> str:
    """Why a request failed, in a few words: the innermost cause, read from its chain."""
    chain = list(_causes(exc))
    if unresolved(exc):
        return UNRESOLVED
    if any(isinstance(e, TimeoutError) for e in chain):  # socket.timeout is TimeoutError
        return f"no answer within {timeout:g} s"
    text = str(chain[-1]).strip().splitlines()
    return text[0][:200] if text else type(chain[-1]).__name__


def unresolved(exc: BaseException) -> bool:
    """Whether the failure was a host name that would not resolve: no DNS, so no network,
    or a wrong host. Retrying cannot help."""
    return any(isinstance(e, socket.gaierror) for e in _causes(exc))


def _causes(exc: BaseException | None) -> Iterator[BaseException]:
    """`exc`, then what caused it, and so on. requests puts urllib3's exception in `args`
    rather than chaining it, so that is followed too; `__context__` is not, since after a
    retry it is the previous attempt's failure, not this one's cause."""
    while exc is not None:
        yield exc
        if exc.__cause__ is not None:
            exc = exc.__cause__
        else:
            exc = next((a for a in exc.args[:1] if isinstance(a, BaseException)), None)
