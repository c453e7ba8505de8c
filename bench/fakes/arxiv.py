"""A local arXiv: the RSS listing and the Atom query API, on 127.0.0.1, scriptable per test.

Papers are plain dicts (see `paper`), written out as arXiv's generators write them: text as
submitted (TeX and all), XML-escaped once, the RSS description being plain text, not HTML.
A test can instead serve a saved document byte for byte (`rss_body`, `api_body`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

from bench.fakes.base import FakeHandler, FakeServer
from newsletter.config import ArxivConfig

PUB_DATE = "Thu, 10 Apr 2025 00:00:00 -0400"
SUBMITTED = datetime(2025, 4, 9, 17, 59, 46, tzinfo=UTC)


def paper(pid: str, **fields: object) -> dict:
    """A fake paper: every field has a plausible default."""
    return {
        "id": pid,
        "version": 1,
        "title": f"A study of {pid}",
        "authors": ["Ada Lovelace", "Alan Turing"],
        "abstract": f"We study problem {pid}.",
        "categories": ["cs.LG"],
        "announce_type": "new",
        "submitted": SUBMITTED,
    } | fields


def _creator(authors: list[str]) -> str:
    return authors[0] if len(authors) < 2 else ", ".join(authors[:-1]) + " and " + authors[-1]


def rss_item(p: dict) -> str:
    vid = f"{p['id']}v{p['version']}"
    cats = "".join(f"\n      <category>{escape(c)}</category>" for c in p["categories"])
    description = f"arXiv:{vid} Announce Type: {p['announce_type']} \nAbstract: {p['abstract']}"
    return f"""
    <item>
      <title>{escape(p["title"])}</title>
      <link>https://arxiv.org/abs/{p["id"]}</link>
      <description>{escape(description)}</description>
      <guid isPermaLink="false">oai:arXiv.org:{vid}</guid>{cats}
      <pubDate>{PUB_DATE}</pubDate>
      <arxiv:announce_type>{p["announce_type"]}</arxiv:announce_type>
      <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
      <dc:creator>{escape(_creator(p["authors"]))}</dc:creator>
    </item>"""


def rss_document(
    papers: list[dict], categories: str = "cs.LG+stat.ML", pub_date: str = PUB_DATE
) -> bytes:
    names = ", ".join(categories.split("+"))
    items = "".join(rss_item(p) for p in papers)
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" \
xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/" \
version="2.0">
  <channel>
    <title>{names} updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/{categories}</link>
    <description>{names} updates on the arXiv.org e-print archive.</description>
    <atom:link href="http://rss.arxiv.org/rss/{categories}" rel="self" type="application/rss+xml"/>
    <docs>http://www.rssboard.org/rss-specification</docs>
    <language>en-us</language>
    <lastBuildDate>{pub_date}</lastBuildDate>
    <managingEditor>rss-help@arxiv.org</managingEditor>
    <pubDate>{pub_date}</pubDate>
    <skipDays>
      <day>Saturday</day>
      <day>Sunday</day>
    </skipDays>{items}
  </channel>
</rss>
""".encode()


def atom_entry(p: dict) -> str:
    vid, stamp = f"{p['id']}v{p['version']}", p["submitted"].strftime("%Y-%m-%dT%H:%M:%SZ")
    authors = "".join(
        f"\n    <author>\n      <name>{escape(a)}</name>\n    </author>" for a in p["authors"]
    )
    cats = "".join(
        f'\n    <category term="{c}" scheme="http://arxiv.org/schemas/atom"/>'
        for c in p["categories"]
    )
    return f"""
  <entry>
    <id>http://arxiv.org/abs/{vid}</id>
    <updated>{stamp}</updated>
    <published>{stamp}</published>
    <title>{escape(p["title"])}</title>
    <summary>  {escape(p["abstract"])}\n</summary>{authors}
    <link href="http://arxiv.org/abs/{vid}" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/{vid}" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" \
term="{p["categories"][0]}" scheme="http://arxiv.org/schemas/atom"/>{cats}
  </entry>"""


def atom_document(papers: list[dict], total: int, start: int, query: str = "") -> bytes:
    opensearch = 'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"'
    entries = "".join(atom_entry(p) for p in papers)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href={quoteattr("http://arxiv.org/api/query?" + query)} rel="self" \
type="application/atom+xml"/>
  <title type="html">ArXiv Query: {escape(query)}</title>
  <id>http://arxiv.org/api/fake</id>
  <updated>2025-04-10T00:00:00-04:00</updated>
  <opensearch:totalResults {opensearch}>{total}</opensearch:totalResults>
  <opensearch:startIndex {opensearch}>{start}</opensearch:startIndex>
  <opensearch:itemsPerPage {opensearch}>{len(papers)}</opensearch:itemsPerPage>{entries}
</feed>
""".encode()


@dataclass
class Reply:
    """A scripted answer that replaces the normal one."""

    status: int = 200
    truncate: bool = False  # the normal document, cut in the middle
    hang: float = 0.0  # seconds of silence before answering
    # the whole document's length announced, half of it sent, then the connection closed
    # (`cut`) or, for `stall` seconds, silence before the rest
    cut: bool = False
    stall: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class _Handler(FakeHandler):
    fake: FakeArxiv

    def do_GET(self) -> None:
        reply = self.fake.next_reply(self.path, self.headers.get("User-Agent", ""))
        if reply.hang and self.fake.stopping.wait(reply.hang):
            return
        body = self.fake.document(self.path)
        status = reply.status if body is not None else 404
        if status != 200:
            body = f"<html><body>Error {status}</body></html>".encode()
        elif reply.truncate:
            body = body[: len(body) // 2]
        headers = {"Content-Type": "application/xml; charset=utf-8"} | reply.headers
        if status == 200 and (reply.cut or reply.stall):
            self.reply_in_part(body, headers, reply.stall)
        else:
            self.reply(status, body, headers)

    def reply_in_part(self, body: bytes, headers: dict[str, str], stall: float) -> None:
        """A 200 announcing all of `body` and sending its first half; then, after `stall`
        seconds, the rest, or with no stall the connection closed: a transfer cut short."""
        try:
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if stall and not self.fake.stopping.wait(stall):
                self.wfile.write(body[len(body) // 2 :])
            self.close_connection = True
        except OSError:
            pass


class FakeArxiv(FakeServer):
    handler = _Handler

    def __init__(self) -> None:
        super().__init__()
        self.papers: list[dict] = []
        self.api_papers: list[dict] | None = None  # None: the same papers as the RSS
        self.pub_date = PUB_DATE
        self.requests: list[str] = []
        self.user_agents: list[str] = []  # of each request, in order
        self.script: deque[Reply] = deque()
        self.always: Reply | None = None
        self.rss_body: bytes | None = None  # served instead of the papers, when set
        self.api_body: bytes | None = None

    @property
    def rss_url(self) -> str:
        return self.url + "/rss/"

    @property
    def api_url(self) -> str:
        return self.url + "/api/query"

    # -- what it serves --------------------------------------------------------------------

    def serve(self, papers: list[dict], pub_date: str = PUB_DATE) -> None:
        self.papers, self.pub_date = list(papers), pub_date

    def empty_day(self, pub_date: str = "Sat, 12 Apr 2025 00:00:00 -0400") -> None:
        self.serve([], pub_date)

    def _script(self, reply: Reply, times: int | None) -> None:
        if times is None:
            self.always = reply
        else:
            self.script.extend(reply for _ in range(times))

    def fail(self, status: int = 503, times: int | None = None, retry_after: str = "") -> None:
        headers = {"Retry-After": retry_after} if retry_after else {}
        self._script(Reply(status=status, headers=headers), times)

    def truncate(self, times: int | None = None) -> None:
        self._script(Reply(truncate=True), times)

    def hang(self, seconds: float, times: int | None = None) -> None:
        self._script(Reply(hang=seconds), times)

    def cut(self, times: int | None = None) -> None:
        self._script(Reply(cut=True), times)

    def stall(self, seconds: float, times: int | None = None) -> None:
        self._script(Reply(stall=seconds), times)

    def config(self, **overrides: object) -> ArxivConfig:
        fast = {"timeout": 2.0, "retries": 2, "retry_delay": 0.0, "categories": ["cs.LG"]}
        return ArxivConfig(rss_url=self.rss_url, api_url=self.api_url, **(fast | overrides))

    # -- what it saw -----------------------------------------------------------------------

    def queries(self, path: str) -> list[dict[str, str]]:
        """The query strings of the requests to `path`, each as a dict."""
        found = [urlsplit(r) for r in self.requests]
        return [{k: v[0] for k, v in parse_qs(u.query).items()} for u in found if u.path == path]

    # -- the wire --------------------------------------------------------------------------

    def next_reply(self, target: str, user_agent: str = "") -> Reply:
        with self.lock:
            self.requests.append(target)
            self.user_agents.append(user_agent)
            if self.script:
                return self.script.popleft()
            return self.always or Reply()

    def document(self, target: str) -> bytes | None:
        url = urlsplit(target)
        if url.path.startswith("/rss/"):
            if self.rss_body is not None:
                return self.rss_body
            return rss_document(self.papers, url.path[len("/rss/") :], self.pub_date)
        if url.path == "/api/query":
            if self.api_body is not None:
                return self.api_body
            args = {k: v[0] for k, v in parse_qs(url.query).items()}
            start, size = int(args.get("start", 0)), int(args.get("max_results", 10))
            papers = self.papers if self.api_papers is None else self.api_papers
            return atom_document(papers[start : start + size], len(papers), start, url.query)
        return None
