"""A month of real arXiv metadata (../shared/corpus) through every path a reader sees, and the
prompts the model reads: nothing raises, no word is lost, no markup leaks.

Hand-written fixtures never carry what real abstracts do (`\\href{..}{..}`, a bare `\\sqrt`,
`\\|W\\|_2`, `k<n`, `<EOS>`); these 6,633 papers do. They are rendered many to a digest, as
the email, the archive's day pages and month pages, the Atom feed and the web's vote pages.
"""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from datetime import date, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import lxml.html
import pytest
from markupsafe import escape
from starlette.testclient import TestClient
from typer.testing import CliRunner

from bench.fakes.arxiv import paper as arxiv_paper
from newsletter import archive, atom, i18n, links, prompt, render, views
from newsletter.cli import app
from newsletter.config import Config, load_config
from newsletter.models import Listing, Paper, Pick, SavedDigest, Score, Selection, Usage, Vote
from newsletter.profiles import Profile, Topic
from newsletter.store import Store
from newsletter.text import clean as reader_text
from newsletter.text import normalise_space
from newsletter.web import create_app, page
from tests.conftest import EXAMPLE, REPO
from tests.test_archive import save

CORPUS = REPO.parent / "shared" / "corpus" / "arxiv-2026-06.jsonl.gz"
PAPERS = 6_633
PER_DIGEST = 150  # papers a digest: about 45 digests for the month
FIRST_DAY = date(2026, 6, 1)
WORD = re.compile(r"[^\W\d_]+")
# What is markup, not words: macro names, environment names, and the arguments a reader is
# not shown (a link's address, citation keys, labels, colours, lengths).
MARKUP = re.compile(
    r"\\(?:href|cite[a-z]*|label|ref|eqref|(?:text)?color|[hv]space|rule|begin|end|hypersetup)\*?"
    r"(?:\[[^\]]*\])*\{[^{}]*\}|\\[A-Za-z]+"
)
LEAKS = ("%s", "%(", "\\href", "\\url{", "\\sqrt{", "<%")


def test_the_corpus_is_beside_the_repository() -> None:
    """CI keeps ../shared beside its clone: a missing corpus is a failure, never a skip."""
    assert CORPUS.is_file(), f"{CORPUS} is missing: the corpus tests cannot run without it"


@pytest.fixture(scope="module")
def corpus() -> list[Paper]:
    if not CORPUS.is_file():
        pytest.fail(f"{CORPUS} is missing: the corpus tests cannot run without it")
    with gzip.open(CORPUS, "rt", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    return [
        Paper(
            id=row["id"],
            title=row["title"],
            authors=tuple(row["authors"]),
            abstract=row["abstract"],
            categories=tuple(row["categories"]),
            primary_category=row["categories"][0],
        )
        for row in rows
    ]


def comment_for(paper: Paper) -> str:
    """The model's comment quotes the abstract, TeX and all (an abstract can ask it to)."""
    return paper.abstract[:160]


@pytest.fixture(scope="module")
def selections(corpus) -> list[Selection]:
    usage = {"gpt-4o-mini": Usage("gpt-4o-mini", 3, 27_534, 1_024, 3_597, 0.0123)}
    chunks = [corpus[i : i + PER_DIGEST] for i in range(0, len(corpus), PER_DIGEST)]
    return [
        Selection(
            "ada",
            FIRST_DAY + timedelta(days=k),
            [Pick(p, Score(p.id, 8, 6, comment_for(p))) for p in chunk],
            listed=len(chunk),
            read=len(chunk),
            usage=usage,
        )
        for k, chunk in enumerate(chunks)
    ]


@pytest.fixture(scope="module")
def reader() -> Profile:
    profile = Profile(
        name="Ada Lovelace", email="ada@example.org", topics=[Topic(name="ML", relevant="learning")]
    )
    profile.id = "ada"
    return profile


def page_text(html: str) -> str:
    """What a browser shows of the page: its text nodes, on one line (scripts and styles
    aside). Escaped `<` in an abstract is text here; a leaked tag would not be."""
    root = lxml.html.document_fromstring(html)
    for element in root.xpath("//style|//script|//head"):
        element.drop_tree()
    return normalise_space(root.text_content())


def words(text: str) -> set[str]:
    return set(WORD.findall(text))


def letters(text: str) -> str:
    """The letters of `text`, run together and without accents (`\\tilde O` is `Õ`)."""
    bare = unicodedata.normalize("NFKD", text)
    return "".join(WORD.findall("".join(c for c in bare if not unicodedata.combining(c))))


def assert_no_leaks(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, leak


def test_the_corpus_is_the_month(corpus, selections) -> None:
    assert len(corpus) == PAPERS
    assert sum(len(s.picks) for s in selections) == PAPERS


def test_the_conversion_keeps_every_word_the_authors_wrote(corpus) -> None:
    """Every word of each title, abstract and author name, outside markup, is in the text a
    reader sees, in order of letters (a word split by TeX, `\\textbf{E}vidence`, is whole).
    Text with no backslash, brace or `$` is not parsed, and is kept as it is (test_text)."""
    for paper in corpus:
        for written in (paper.title, paper.abstract, *paper.authors):
            if not any(c in written for c in "\\{}$"):
                continue
            shown = letters(reader_text(written))
            words = set(WORD.findall(MARKUP.sub(" ", written)))
            lost = [w for w in words if w not in shown and letters(w) not in shown]
            assert not lost, (paper.id, lost)


@pytest.mark.parametrize("language", ["en", "de", "zh"])
def test_every_paper_reads_whole_in_the_email(selections, reader, language) -> None:
    """Each digest as `render_email` makes it: the HTML within the size budget, where the lowest
    papers shorten or lose their abstract, or are left out, and the text part that follows the
    HTML's forms. Each paper shows what its form promises; the text part with every card whole
    has every abstract and comment. In English, and through the German and Chinese catalogs,
    whose words and formats surround the same paper text."""
    config = Config()
    reader = reader.model_copy(update={"language": language})
    for k, selection in enumerate(selections):
        digest = views.build_digest(selection, reader, config, "PROMPT")
        html, forms, omitted = render.fitted_html(digest, config.output.max_html_bytes)
        text = render.render_text(digest, forms, omitted)
        if k == 0:  # the same steps as the email's
            email = render.render_email(selection, reader, config, prompt_text="PROMPT")
            assert (email.html, email.text) == (html, text)
            assert text.startswith(i18n.language(language).gettext("arXiv digest"))
        shown, text, whole = page_text(html), normalise_space(text), render.render_text(digest)
        assert len(forms) + omitted == len(selection.picks) and len(forms) > 20
        for view, form in zip(digest.papers, forms, strict=False):
            assert view.title in shown and view.title in text, view.id
            if form == "full":
                assert view.abstract in shown and view.abstract in text, view.id
        for view in digest.papers:
            assert view.abstract in whole and view.comment in whole, view.id
        assert words(" ".join(v.abstract for v in digest.papers)) <= words(whole)
        assert_no_leaks(html + text + whole)


def deployment(folder: Path, config_toml: str = "") -> Config:
    """A deployment in `folder` with one subscriber, Ada, from the example profile."""
    (folder / "subscribers").mkdir()
    example = (REPO / "subscribers" / "example.toml").read_text()
    (folder / "subscribers" / "ada.toml").write_text(example)
    (folder / "config.toml").write_text(config_toml)
    return load_config(folder / "config.toml")


def test_every_paper_reads_whole_in_the_archive_and_its_feed(selections, reader, tmp_path):
    """`archive build` over the month: each day page has every card whole, each month page
    its top titles, and the feed (its newest 200 picks) the converted titles and comments."""
    config = deployment(tmp_path)
    with Store(config.storage.path) as store:
        for s in selections:
            save(store, config, "ada", s.day, [pick.paper for pick in s.picks])
        token = store.tokens.token("ada")
    with Store(config.storage.path) as store:
        built = archive.build(config, store, config.archive.out)
    folder = config.archive.out / token
    for s in selections:
        shown = page_text((folder / archive.day_file(s.day)).read_text())
        for pick in s.picks:
            title, abstract = reader_text(pick.paper.title), reader_text(pick.paper.abstract)
            assert title in shown and abstract in shown, pick.paper.id
        assert_no_leaks(shown)
    assert built.files >= len(selections)
    months = " ".join(page_text(p.read_text()) for p in folder.glob("2026-0?.html"))
    for s in selections:
        assert reader_text(s.picks[0].paper.title) in months
    entries = ET.parse(folder / "feed.atom").getroot().findall(f"{{{atom.NS}}}entry")
    assert len(entries) == atom.MAX_ENTRIES
    newest = [pick.paper for s in reversed(selections) for pick in s.picks][: atom.MAX_ENTRIES]
    for entry, paper in zip(entries, newest, strict=True):
        assert entry.findtext(f"{{{atom.NS}}}title") == reader_text(paper.title)


def test_every_paper_reads_whole_in_a_feed(selections, reader) -> None:
    """The feed of each digest (up to 200 entries a feed): every title, author and comment."""
    for selection in selections:
        xml = atom.feed([SavedDigest.of(selection, None, None)], "urn:newsletter:feed:t")
        entries = ET.fromstring(xml).findall(f"{{{atom.NS}}}entry")
        assert len(entries) == len(selection.picks)
        for entry, pick in zip(entries, selection.picks, strict=True):
            paper = pick.paper
            assert entry.findtext(f"{{{atom.NS}}}title") == reader_text(paper.title)
            assert entry.findtext(f"{{{atom.NS}}}summary") == reader_text(comment_for(paper))
            names = [e.text for e in entry.iter(f"{{{atom.NS}}}name")]
            assert names == [reader_text(a) for a in paper.authors[:20]]
        assert_no_leaks(xml)


def test_every_title_reads_whole_on_a_vote_page(corpus) -> None:
    """The vote pages show the converted title, escaped: a `<` in it is text, not a tag."""
    for paper in corpus:
        title = reader_text(paper.title)
        body = page("More papers like this?", "Noted.", paper=title).body.decode()
        assert str(escape(title)) in body, paper.id
        if "<" in title or "&" in title:
            assert title in page_text(body), paper.id


def test_a_vote_page_shows_the_title_converted(corpus, tmp_path, monkeypatch) -> None:
    """Through the web app, for each paper whose title carries TeX; the vote keeps the title
    as written, for the prompt."""
    monkeypatch.setenv(links.SECRET_VARIABLE, "corpus-secret")
    config = deployment(tmp_path, "[web]\nvotes_per_hour = 1000\n")
    texed = [p for p in corpus if any(c in p.title for c in "\\${}<&")]
    with Store(config.storage.path) as store:
        store.papers.save_listing(Listing(FIRST_DAY, texed, listed=len(texed)), ["cs.CV"])
        client = TestClient(create_app(config, store))
        for paper in texed:
            day = FIRST_DAY.isoformat()
            token = links.vote_token("ada", paper.id, Vote.UP, day, EXAMPLE.email)
            answer = client.post(f"/vote/{token}")
            assert answer.status_code == 200
            assert reader_text(paper.title) in page_text(answer.text), paper.id
        titles = store.votes.titles("ada", Vote.UP, len(texed))
    assert sorted(titles) == sorted(normalise_space(p.title) for p in texed)
    assert len(texed) > 40


def test_the_prompts_keep_every_abstract_as_written(corpus) -> None:
    """The model reads the TeX the authors wrote: each abstract and title is in the read
    prompt verbatim (whitespace aside), each title in the title pass and the skim."""
    for i in range(0, len(corpus), Config().llm.batch_size):
        batch = corpus[i : i + Config().llm.batch_size]
        read = normalise_space(prompt.format_papers(batch, abstract_chars=1_000_000))
        titles, skim = prompt.format_titles(batch), prompt.format_skim(batch, 300)
        for paper in batch:
            assert normalise_space(paper.abstract) in read, paper.id
            assert normalise_space(paper.title) in read, paper.id
            assert normalise_space(paper.title) in titles and normalise_space(paper.title) in skim


# A day of TeX gone wrong, in titles, abstracts and the model's comments.
TEX_DAY = [
    ("Pruning Experts with $\\|W\\|_2$ bounds", "Code: \\href{https://github.com/a/b}{our repo}."),
    ("Experts at $O(\\sqrt{T})$ cost", "At (\\>20 FPS), Pass\\^{}1 of 90\\%, see \\url{https://x.org}"),
    ("Experts \\url\\href{a}{b} and \\href{c}", "Ends with a bare \\frac, then \\sqrt"),
]  # fmt: skip


def test_a_day_of_tex_gone_wrong_goes_to_everyone_once_and_archives(
    home, arxiv_server, openai_server, sendgrid_server
):
    """`send --dry-run`, `send` twice and `archive build`, as run: pylatexenc raised on each
    of these."""
    arxiv_server.serve(
        [arxiv_paper(f"2504.0000{n}", title=t, abstract=a) for n, (t, a) in enumerate(TEX_DAY)]
    )
    openai_server.judge = lambda pid, title, abstract: (9, 7, f"Says {abstract[:60]}")
    config = ["--config", str(home / "config.toml")]
    sent = CliRunner().invoke(app, [*config, "send", "--dry-run"])
    assert sent.exit_code == 0 and "2 previewed" in sent.output, sent.output
    for _ in range(2):  # the second run finds everyone served
        delivered = CliRunner().invoke(app, [*config, "send"])
        assert delivered.exit_code == 0, delivered.output
    mailed = [m.body["personalizations"][0]["to"][0]["email"] for m in sendgrid_server.messages]
    assert sorted(mailed) == ["ada@example.org", "bob@example.org"]
    built = CliRunner().invoke(app, [*config, "archive", "build"])
    assert built.exit_code == 0, built.output
    texts = sorted((home / "outbox").glob("*/*.txt"))
    assert len(texts) == 2
    for part in texts:
        text = normalise_space(part.read_text())
        for shown in ("‖W‖_2", "our repo", "(>20 FPS)", "Pass^1 of 90%", "https://x.org",
                      "Experts at O(√(T)) cost", "Experts ab and c", "then \\sqrt"):  # fmt: skip
            assert shown in text, (part.name, shown)
        assert_no_leaks(text)
        html = page_text(part.with_suffix(".html").read_text())
        assert "‖W‖_2" in html and "our repo" in html
