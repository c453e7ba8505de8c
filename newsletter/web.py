"""`newsletter serve`: the ASGI application behind the email's links.

- `/vote/<token>`: a 👍 or 👎 on one paper. Mail scanners (Outlook Safe Links, corporate
  gateways) open every link in a message, so a GET only shows a page with one button; the
  POST it sends records the vote, and offers an undo.
- `/unsubscribe/<token>`: the one-click unsubscribe of RFC 8058. A POST (what Gmail and Yahoo
  send, or the page's button) stops the digest at once; a GET shows the button, and after it
  a resubscribe button.
- `/<archive token>/feed.atom`: the reader's picks as an Atom feed.
- everything else: the archive that `newsletter archive build` wrote, so one process hosts all.

Tokens are signed (`newsletter.links`): a bad, altered or foreign one gets the same 403 page
whatever was wrong with it, and a token acts only for the subscriber and paper it was made for.
No page shows an email address in full, and every response asks for no referrer and no index.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from newsletter import atom, links, render, templating, views
from newsletter.config import Config
from newsletter.models import SavedDigest
from newsletter.store import Store
from newsletter.votes import WORDS, RateLimit

ONE_CLICK = b"List-Unsubscribe=One-Click"  # the body RFC 8058 has mail providers POST
HEADERS = {
    "Referrer-Policy": "no-referrer",  # the token in the URL must not leak to other sites
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


@cache
def environment() -> jinja2.Environment:
    return templating.environment(autoescape=True)


def page(title: str, *lines: str, status: int = 200, **context: object) -> HTMLResponse:
    """One of the server's pages: a title, a few lines, at most one button."""
    context = {"paper": "", "button": "", "action": "", "button_class": "", "note": ""} | context
    html = (
        environment()
        .get_template("web_page.j2")
        .render(title=title, lines=lines, font_stack=render.FONT_STACK, **context)
    )
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def refused() -> HTMLResponse:
    """The answer to any token we did not make: the same whatever was wrong with it."""
    return page("This link does not work", "It may have been cut or changed.", status=403)


def masked(email: str) -> str:
    """ada@example.org -> a**@example.org: enough for a reader to know it is theirs."""
    name, _, domain = email.partition("@")
    return f"{name[:1]}{'*' * max(len(name) - 1, 2)}@{domain}"


class SecurityHeaders:
    """Adds HEADERS to every response, the archive's files included."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()
                         if k.lower().encode() not in names]  # fmt: skip
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


class Views:
    """The endpoints, sharing the store (WAL: a `newsletter send` may run beside them)."""

    def __init__(self, config: Config, store: Store):
        self.config, self.store = config, store
        self.limit = RateLimit(config.web.votes_per_hour)

    # -- votes ------------------------------------------------------------------------------

    def _vote(self, request: Request):
        return links.read_vote(request.path_params["token"])

    def _allowed_vote(self, request: Request) -> tuple[str, str, str, str] | Response:
        """A POST's vote, or the answer that refuses it: a bad token, or too many at once."""
        if (vote := self._vote(request)) is None:
            return refused()
        if not self.limit.allow(vote[0]):
            return page("Too many at once", "Please try again in a while.", status=429)
        return vote

    def _title(self, paper_id: str) -> str:
        found = self.store.load_papers([paper_id]).get(paper_id)
        return " ".join(found.title.split()) if found else f"arXiv:{paper_id}"

    async def vote_page(self, request: Request) -> Response:
        if (vote := self._vote(request)) is None:
            return refused()
        _, paper_id, choice, _ = vote
        more = choice == links.UP
        return page(
            "More papers like this?" if more else "Fewer papers like this?",
            "Your digest learns from what you mark.",
            paper=views.clean(self._title(paper_id)),
            button="Yes, more like this" if more else "Yes, fewer like this",
        )

    async def vote(self, request: Request) -> Response:
        if isinstance(vote := self._allowed_vote(request), Response):
            return vote
        subscriber, paper_id, choice, day = vote
        title = self._title(paper_id)
        on = date.fromisoformat(day)
        before = self.store.record_vote(subscriber, paper_id, choice, title, on, "link")
        changed = "more" if choice == links.UP else "fewer"
        lines = [f"We'll show you {changed} papers like this one."]
        if before and before != choice:
            earlier = "more like this" if before == links.UP else "fewer like this"
            lines.append(f"This replaces your earlier “{earlier}”.")
        return page(
            "Thank you, noted",
            *lines,
            paper=views.clean(title),
            button="Undo",
            button_class="quiet",
            action=f"{request.path_params['token']}/undo",
            note=f"From tomorrow's digest on, it counts as a paper you {WORDS[choice]}.",
        )

    async def undo(self, request: Request) -> Response:
        if isinstance(vote := self._allowed_vote(request), Response):
            return vote
        subscriber, paper_id, choice, _ = vote
        removed = self.store.remove_vote(subscriber, paper_id, choice)
        return page(
            "Undone" if removed else "Nothing to undo",
            "This paper no longer counts for your digest."
            if removed
            else "This vote is not recorded (already undone, or replaced by another).",
            paper=views.clean(self._title(paper_id)),
        )

    # -- unsubscribing ----------------------------------------------------------------------

    def _reader(self, request: Request):
        return links.read_unsubscribe(request.path_params["token"])

    def _subscribed_page(self, email: str) -> Response:
        return page(
            "Unsubscribe from the arXiv digest?",
            f"The daily digest goes to {masked(email)}.",
            button="Unsubscribe",
            action="",
        )

    def _unsubscribed_page(self, email: str, token: str) -> Response:
        return page(
            "You are unsubscribed",
            f"No more digests go to {masked(email)}, starting with the next one.",
            button="Resubscribe",
            button_class="quiet",
            action=f"{token}/resubscribe",
            note="Changed your mind? The button above starts the digest again.",
        )

    async def unsubscribe_page(self, request: Request) -> Response:
        if (reader := self._reader(request)) is None:
            return refused()
        email, token = reader[1], request.path_params["token"]
        if self.store.unsubscribed(email):
            return self._unsubscribed_page(email, token)
        return self._subscribed_page(email)

    async def unsubscribe(self, request: Request) -> Response:
        if (reader := self._reader(request)) is None:
            return refused()
        subscriber, email = reader
        self.store.add_unsubscribe(subscriber, email)
        if (await request.body()).strip() == ONE_CLICK:  # a mail provider, not a person
            return PlainTextResponse("unsubscribed\n", headers=PAGE_HEADERS)
        return self._unsubscribed_page(email, request.path_params["token"])

    async def resubscribe(self, request: Request) -> Response:
        if (reader := self._reader(request)) is None:
            return refused()
        self.store.remove_unsubscribe(reader[1])
        return page("Welcome back", f"The digest goes to {masked(reader[1])} again.")

    # -- the feed ---------------------------------------------------------------------------

    async def feed(self, request: Request) -> Response:
        token = request.path_params["token"]
        subscriber = self.store.subscriber_for_archive_token(token)
        if subscriber is None:
            return PlainTextResponse("not found\n", status_code=404)
        base = self.config.web.base_url or str(request.base_url).rstrip("/")
        digests = [SavedDigest.model_validate(d) for _, _, d in self.store.load_digests(subscriber)]
        xml = atom.feed(digests, atom.feed_url(base, token))
        return Response(xml, media_type="application/atom+xml; charset=utf-8")


def create_app(config: Config, store: Store) -> SecurityHeaders:
    """The application; `store` stays open for its life."""
    views = Views(config, store)
    # the archive may be built after the server starts; an absent folder would be a 500
    Path(config.archive.out).mkdir(parents=True, exist_ok=True)
    routes = [
        Route("/vote/{token}", views.vote_page, methods=["GET"]),
        Route("/vote/{token}", views.vote, methods=["POST"]),
        Route("/vote/{token}/undo", views.undo, methods=["POST"]),
        Route("/unsubscribe/{token}", views.unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe/{token}", views.unsubscribe, methods=["POST"]),
        Route("/unsubscribe/{token}/resubscribe", views.resubscribe, methods=["POST"]),
        Route("/{token}/feed.atom", views.feed, methods=["GET"]),
        Mount("/", StaticFiles(directory=Path(config.archive.out), html=True)),
    ]
    return SecurityHeaders(Starlette(routes=routes))


def serve(config: Config, host: str, port: int) -> None:
    """Run the application on uvicorn until interrupted; refuse to start without the secret
    that signs the links."""
    links.secret()
    with Store(config.storage.path) as store:
        # no access log: the paths hold the readers' tokens
        uvicorn.run(create_app(config, store), host=host, port=port, access_log=False)
