"""`newsletter serve`: the ASGI application behind the email's links.

- `/vote/<token>`: a 👍 or 👎 on one paper. Mail scanners (Outlook Safe Links, corporate
  gateways) open every link in a message, so a GET only shows a page with one button; the
  POST it sends records the vote, and offers an undo.
- `/unsubscribe/<token>`: the one-click unsubscribe of RFC 8058. A POST (what Gmail and Yahoo
  send, or the page's button) stops the digest at once; a GET shows the button, and after it
  a resubscribe button.
- `/<archive token>/feed.atom`: the reader's picks as an Atom feed.
- everything else: the archive that `newsletter send` and `archive build` write, so one
  process hosts all; an address with no page gets a page saying so.

Tokens are signed (`newsletter.links`): a bad, altered or foreign one gets the same 403 page
whatever was wrong with it, and a token acts only for the subscriber and paper it was made for,
and only while the subscriber id belongs to the person it was mailed to (a link of an earlier
person of the id gets a 410 page saying so). The vote and unsubscribe pages link back to the
reader's archive.

No page shows an email address in full, every response asks for no referrer and no index, and
the personal ones (everything but the vote and unsubscribe pages, which are `no-store`) are
`Cache-Control: private`. Each request is logged in one line, its tokens masked.

A token's pages are in its subscriber's language; `newsletter.web_pages` words them.
"""

from __future__ import annotations

import logging
import re
from copy import deepcopy
from datetime import date
from pathlib import Path
from urllib.parse import quote

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from newsletter import archive, atom, links, text, web_pages
from newsletter.config import Config
from newsletter.i18n import Language
from newsletter.models import SavedDigest, VoteSource
from newsletter.store import Store
from newsletter.votes import RateLimit
from newsletter.web_pages import PAGE_HEADERS, earlier_reader, masked, page, refused

__all__ = ["create_app", "masked", "page", "run_server"]  # page, masked: web_pages' own

ONE_CLICK = b"List-Unsubscribe=One-Click"  # the body RFC 8058 has mail providers POST
HEADERS = {
    "Referrer-Policy": "no-referrer",  # the token in the URL must not leak to other sites
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}
PRIVATE = {"Cache-Control": "private, no-cache"}  # one reader's: no shared cache keeps it
LOG = logging.getLogger("newsletter.web")
# Path segments a log line shows as they are; any other (a token) is shown as "…".
PLAIN_SEGMENT = re.compile(
    r"(vote|undo|unsubscribe|resubscribe|feed\.atom|index\.html|robots\.txt|favicon\.ico"
    r"|\d{4}-\d{2}(-\d{2})?\.html)?"
)


def log_path(path: str) -> str:
    """The request's path with every segment that may be a token shown as "…"."""
    parts = path.split("/")
    return "/".join(p if PLAIN_SEGMENT.fullmatch(p) else "…" for p in parts)


class SecurityHeaders:
    """Adds HEADERS to every response, the archive's files included, and logs each request
    in one line (`GET /vote/… 200`): enough to see that readers vote, never a token."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()
                         if k.lower().encode() not in names]  # fmt: skip
                message["headers"] = [*message.get("headers", []), *extra]
                if scope["type"] == "http":
                    where = log_path(scope["path"])
                    LOG.info("%s %s %s", scope["method"], where, message["status"])
            await send(message)

        await self.app(scope, receive, with_headers)


class Archive(StaticFiles):
    """The archive's files, marked private; a page that is not there gets a page saying what
    happened, and a folder without its slash is sent to it by a relative address (one built
    from the request's Host header would send the reader wherever the header said)."""

    def __init__(self, endpoints: Endpoints, directory: Path):
        super().__init__(directory=directory, html=True)
        self.endpoints = endpoints

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404:
                raise
            return self.endpoints.missing(path)
        if isinstance(response, RedirectResponse):
            folder = scope["path"].rstrip("/").rsplit("/", 1)[-1]
            return RedirectResponse(f"./{quote(folder)}/", headers=PRIVATE)
        response.headers.update(PRIVATE)
        return response


class Endpoints:
    """The endpoints, sharing the store (WAL: a `newsletter send` may run beside them)."""

    def __init__(self, config: Config, store: Store):
        self.config, self.store = config, store
        self.limit = RateLimit(config.web.votes_per_hour)

    # -- votes ------------------------------------------------------------------------------

    def _vote(self, request: Request) -> links.VoteLink | Response:
        """The token's vote, or the answer that refuses it: not ours, or an earlier reader's."""
        vote = links.read_vote(request.path_params["token"])
        if vote is None:
            return refused()
        if not self._same_person(vote[0], vote[4]):
            return earlier_reader()
        return vote

    def _same_person(self, subscriber: str, person: str | None) -> bool:
        """Whether the person a vote link was mailed to still holds the id. A link made before
        links named their person counts only while the id has had one person."""
        if person is None:
            return not self.store.readers.had_earlier_reader(subscriber)
        email = self.store.readers.email(subscriber)
        return email is None or links.person(email) == person

    def _allowed_vote(self, request: Request) -> links.VoteLink | Response:
        """A POST's vote, or the answer that refuses it: a bad token, or too many at once."""
        if isinstance(vote := self._vote(request), Response):
            return vote
        if not self.limit.allow(vote[0]):
            return web_pages.too_many(self._language(vote[0]))
        return vote

    def _language(self, subscriber: str) -> Language:
        return web_pages.reader_language(self.config.subscribers_dir, subscriber)

    def _back(self, subscriber: str, lang: Language, day: str | None = None) -> archive.Link | None:
        """The link back to the reader's digest of `day`, or to their archive: on the site
        `[archive] base_url` names, else on this server when the page is in its folder."""
        token = self.store.tokens.token(subscriber)
        folder = Path(self.config.archive.out) / token
        base = self.config.archive.base_url
        if day is not None:
            name = archive.day_file(date.fromisoformat(day))
            if base or (folder / name).is_file():
                label = web_pages.back_to_day(lang, date.fromisoformat(day))
                return archive.Link(label, f"{base or ''}/{token}/{name}")
        if base or (folder / "index.html").is_file():
            return archive.Link(web_pages.back_to_archive(lang), f"{base or ''}/{token}/")
        return None

    def _title(self, paper_id: str) -> str:
        found = self.store.papers.load([paper_id]).get(paper_id)
        return " ".join(found.title.split()) if found else f"arXiv:{paper_id}"

    async def vote_page(self, request: Request) -> Response:
        if isinstance(vote := self._vote(request), Response):
            return vote
        subscriber, paper_id, choice, day, _ = vote
        lang = self._language(subscriber)
        paper, back = text.clean(self._title(paper_id)), self._back(subscriber, lang, day)
        return web_pages.vote_question(lang, choice, paper, back)

    async def vote(self, request: Request) -> Response:
        if isinstance(vote := self._allowed_vote(request), Response):
            return vote
        subscriber, paper_id, choice, day, _ = vote
        title = self._title(paper_id)
        on = date.fromisoformat(day)
        before = self.store.votes.record(subscriber, paper_id, choice, title, on, VoteSource.LINK)
        lang = self._language(subscriber)
        action = f"{request.path_params['token']}/undo"
        back = self._back(subscriber, lang, day)
        return web_pages.vote_noted(lang, choice, before, text.clean(title), action, back)

    async def undo(self, request: Request) -> Response:
        if isinstance(vote := self._allowed_vote(request), Response):
            return vote
        subscriber, paper_id, choice, day, _ = vote
        removed = self.store.votes.remove(subscriber, paper_id, choice)
        lang = self._language(subscriber)
        paper, back = text.clean(self._title(paper_id)), self._back(subscriber, lang, day)
        return web_pages.undone(lang, removed, paper, back)

    # -- unsubscribing ----------------------------------------------------------------------

    def _reader(self, request: Request) -> tuple[str, str] | Response:
        """(subscriber, email) of the token, or the answer that refuses it: not ours, or
        mailed to an address the id no longer serves."""
        reader = links.read_unsubscribe(request.path_params["token"])
        if reader is None:
            return refused()
        now = self.store.readers.email(reader[0])
        if now is not None and now.lower() != reader[1].lower():
            return earlier_reader()
        return reader

    def _subscribed_page(self, subscriber: str, email: str) -> Response:
        lang = self._language(subscriber)
        return web_pages.subscribed(lang, email, self._back(subscriber, lang))

    def _unsubscribed_page(self, subscriber: str, email: str, token: str) -> Response:
        lang = self._language(subscriber)
        return web_pages.unsubscribed(lang, email, token, self._back(subscriber, lang))

    async def unsubscribe_page(self, request: Request) -> Response:
        if isinstance(reader := self._reader(request), Response):
            return reader
        (subscriber, email), token = reader, request.path_params["token"]
        if self.store.unsubscribes.contains(email):
            return self._unsubscribed_page(subscriber, email, token)
        return self._subscribed_page(subscriber, email)

    async def unsubscribe(self, request: Request) -> Response:
        if isinstance(reader := self._reader(request), Response):
            return reader
        subscriber, email = reader
        self.store.unsubscribes.add(subscriber, email)
        if (await request.body()).strip() == ONE_CLICK:  # a mail provider, not a person
            return PlainTextResponse("unsubscribed\n", headers=PAGE_HEADERS)
        return self._unsubscribed_page(subscriber, email, request.path_params["token"])

    async def resubscribe(self, request: Request) -> Response:
        if isinstance(reader := self._reader(request), Response):
            return reader
        self.store.unsubscribes.remove(reader[1])
        lang = self._language(reader[0])
        return web_pages.welcome_back(lang, reader[1], self._back(reader[0], lang))

    # -- the feed ---------------------------------------------------------------------------

    async def feed(self, request: Request) -> Response:
        token = request.path_params["token"]
        subscriber = self.store.tokens.subscriber(token)
        if subscriber is None:
            return self.missing(f"{token}/feed.atom")
        base = self.config.web.base_url or str(request.base_url).rstrip("/")
        rows = self.store.digests.load(subscriber, sent_only=True)  # never a preview
        digests = [SavedDigest.model_validate(d) for _, _, d in rows]
        xml = atom.feed(digests, atom.feed_url(base, token), self._language(subscriber))
        return Response(xml, media_type="application/atom+xml; charset=utf-8", headers=PRIVATE)

    # -- an address with nothing behind it --------------------------------------------------

    def missing(self, path: str) -> Response:
        """A 404 that says what happened: a reader's page not written (yet), or no archive
        at this address at all."""
        token = path.strip("/").split("/", 1)[0]
        subscriber = self.store.tokens.subscriber(token) if token else None
        if subscriber is None:
            return web_pages.no_page()
        lang = self._language(subscriber)
        return web_pages.not_yet(lang, self._back(subscriber, lang))


def create_app(config: Config, store: Store) -> SecurityHeaders:
    """The application; `store` stays open for its life."""
    endpoints = Endpoints(config, store)
    # the archive may be built after the server starts; an absent folder would be a 500
    Path(config.archive.out).mkdir(parents=True, exist_ok=True)
    routes = [
        Route("/vote/{token}", endpoints.vote_page, methods=["GET"]),
        Route("/vote/{token}", endpoints.vote, methods=["POST"]),
        Route("/vote/{token}/undo", endpoints.undo, methods=["POST"]),
        Route("/unsubscribe/{token}", endpoints.unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe/{token}", endpoints.unsubscribe, methods=["POST"]),
        Route("/unsubscribe/{token}/resubscribe", endpoints.resubscribe, methods=["POST"]),
        Route("/{token}/feed.atom", endpoints.feed, methods=["GET"]),
        Mount("/", Archive(endpoints, Path(config.archive.out))),
    ]
    return SecurityHeaders(Starlette(routes=routes))


def start_notes(config: Config) -> list[str]:
    """What an operator should know as the server starts."""
    if config.web.base_url:
        return []
    where = f" in {config.source}" if config.source else ""
    return [
        f"[web] base_url is not set{where}: no email will carry a vote or unsubscribe link to "
        "this server (set it to the address readers reach it at)"
    ]


def log_config() -> dict:
    """uvicorn's logging, with our one line per request on its handler."""
    config = deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"][LOG.name] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def run_server(config: Config, host: str, port: int) -> None:
    """Run the application on uvicorn until interrupted; refuse to start without the secret
    that signs the links."""
    links.secret()
    with Store(config.storage.path) as store:
        # uvicorn's access log would print the readers' tokens: ours masks them
        app = create_app(config, store)
        uvicorn.run(app, host=host, port=port, access_log=False, log_config=log_config())
