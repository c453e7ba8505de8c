"""The reader's language: catalogs complete and in step with the sources, templates with no
word outside a translation call, German and Chinese digests, pages and feeds with no English
label left, and the model's prompts sharing their cached prefix across languages."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from lxml import html as lxml_html
from starlette.testclient import TestClient

from newsletter import archive, atom, i18n, links, render, templating, views
from newsletter.config import Config
from newsletter.i18n import LANGUAGES, Language, language
from newsletter.keywords import LocalScorer
from newsletter.models import Judge, Pick, SavedDigest, Score, Selection, Usage, Vote
from newsletter.plans import scoring_key
from newsletter.profiles import Profile, Topic, parse_profile
from newsletter.prompt import (
    render_full_prompt,
    render_selection_prompt,
    render_skim_prompt,
    render_title_prompt,
)
from newsletter.store import Store
from newsletter.web import create_app
from tests.conftest import REPO, cli, make_paper

DAY = date(2025, 4, 10)
POT = REPO / "newsletter" / "locale" / "newsletter.pot"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%%")
# Prompt templates are for the model (English by design); profile.toml.j2 is the file an
# operator writes for a subscriber and edits, with TOML keys that are English anyway; the CSS
# holds no word a reader reads.
NOT_FOR_READERS = {"_examples.j2", "_interests.j2", "_rubrics.j2", "selection_prompt.j2",
                   "skim_prompt.j2", "title_prompt.j2", "profile.toml.j2",
                   "digest_inline_css.j2", "digest_screen_css.j2"}  # fmt: skip
# Words a template may show as they are, in every language: a name, not a label.
NAMES = {"arXiv"}


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    """The email's vote links are signed."""
    monkeypatch.setenv(links.SECRET_VARIABLE, "a test secret")


def catalog(code: str) -> Catalog:
    with i18n.catalog_path(code).open("rb") as f:
        return read_po(f)


def forms(message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [message.string]


def ids(message) -> list[str]:
    return list(message.id) if isinstance(message.id, tuple) else [message.id]


def placeholders(text: str) -> set[str]:
    return {m for m in PLACEHOLDER.findall(text) if m}


# -- the catalogs -----------------------------------------------------------------------------


class TestCatalogs:
    def test_the_pot_has_every_message_of_the_sources_and_no_other(self):
        """Re-extracted as `pybabel extract -F babel.cfg -k N_` does: a message added to the
        code or a template without re-extracting fails here."""
        with (REPO / "babel.cfg").open() as f:
            method_map, options_map = parse_mapping_cfg(f)
        keywords = {**DEFAULT_KEYWORDS, "N_": None}
        found = {msgid for _, _, msgid, _, _ in
                 extract_from_dir(REPO, method_map, options_map, keywords=keywords)}  # fmt: skip
        with POT.open("rb") as f:
            shipped = {m.id for m in read_po(f) if m.id}
        assert found == shipped, (
            sorted(map(str, found - shipped)),
            sorted(map(str, shipped - found)),
        )

    def test_every_supported_language_has_a_catalog_and_nothing_else_does(self):
        folders = {p.name for p in (REPO / "newsletter" / "locale").iterdir() if p.is_dir()}
        assert folders == set(LANGUAGES)

    @pytest.mark.parametrize("code", sorted(LANGUAGES))
    def test_a_catalog_translates_every_message_of_the_pot(self, code):
        with POT.open("rb") as f:
            wanted = {m.id for m in read_po(f) if m.id}
        cat = catalog(code)
        assert not cat.obsolete, f"{code}: obsolete entries: {list(cat.obsolete)}"
        assert {m.id for m in cat if m.id} == wanted, code
        for message in cat:
            if not message.id:
                continue
            assert not message.fuzzy, f"{code}: fuzzy: {message.id!r}"
            assert all(f.strip() for f in forms(message)), f"{code}: untranslated: {message.id!r}"
            if isinstance(message.id, tuple):  # as many forms as the language has plurals
                assert len(forms(message)) == cat.num_plurals, (code, message.id)

    @pytest.mark.parametrize("code", sorted(LANGUAGES))
    def test_a_translation_keeps_the_placeholders_of_its_message(self, code):
        for message in catalog(code):
            if not message.id:
                continue
            wanted = set().union(*map(placeholders, ids(message)))
            for form in forms(message):
                assert placeholders(form) == wanted, (code, message.id, form)
                assert form.count("%") == form.count("%(") + 2 * form.count("%%"), (code, form)

    @pytest.mark.parametrize("code", sorted(LANGUAGES))
    def test_a_catalog_has_its_languages_plural_rule(self, code):
        cat = catalog(code)
        assert cat.plural_expr == Catalog(locale=i18n._BABEL_LOCALE.get(code, code)).plural_expr

    def test_english_translates_to_the_words_of_the_sources(self):
        for message in catalog("en"):
            if message.id:
                assert forms(message) == ids(message)


class TestTemplateCalls:
    """`_()` and `ngettext()` in templates behave as jinja2.ext.i18n's newstyle gettext."""

    def test_values_are_escaped_where_the_output_is_and_only_there(self):
        source = '{{ _("Note: %(note)s", note=x) }}'
        html = templating.email_templates("de").from_string(source).render(x="<b>&</b>")
        assert html == "Hinweis: &lt;b&gt;&amp;&lt;/b&gt;"
        text = templating.text_templates().overlay(extensions=["jinja2.ext.i18n"])
        text.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
        assert text.from_string(source).render(x="<b>&</b>") == "Note: <b>&</b>"

    def test_every_message_is_formatted_and_the_message_itself_is_not_escaped(self):
        env = templating.email_templates("en")
        assert env.from_string('{{ _("100%% of it") }}').render() == "100% of it"
        assert env.from_string('{{ _("Why it\'s here:") }}').render() == "Why it's here:"

    def test_ngettext_takes_the_count_as_num_and_the_language_s_plural(self):
        source = '{{ ngettext("%(num)s more pick, by title", "%(num)s more picks, by title", n) }}'
        de = templating.email_templates("de").from_string(source)
        assert [de.render(n=n) for n in (1, 2)] == [
            "1 weiterer Treffer, nur mit Titel", "2 weitere Treffer, nur mit Titel"]  # fmt: skip


class TestFallback:
    PO = """msgid ""
msgstr ""
"Language: de\\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\\n"

msgid "View in browser"
msgstr "Im Browser ansehen"

msgid "Why it's here:"
msgstr ""

#, fuzzy
msgid "Atom feed"
msgstr "Atom-Feed?"

msgid "%(count)s request"
msgid_plural "%(count)s requests"
msgstr[0] "%(count)s Anfrage"
msgstr[1] "%(count)s Anfragen"
"""

    def test_a_missing_empty_or_fuzzy_entry_reads_in_english(self):
        translations = i18n.compile_catalog(self.PO, "de")
        assert translations.gettext("View in browser") == "Im Browser ansehen"
        assert translations.gettext("Why it's here:") == "Why it's here:"  # empty
        assert translations.gettext("Atom feed") == "Atom feed"  # fuzzy
        assert translations.gettext("Unsubscribe") == "Unsubscribe"  # missing
        assert translations.ngettext("%(count)s request", "%(count)s requests", 2) == (
            "%(count)s Anfragen"
        )

    def test_a_digest_from_a_catalog_with_a_missing_entry_shows_the_english_words(
        self, monkeypatch, tmp_path
    ):
        """The German catalog without "Why it's here:" (the HTML's and the text's): the email
        says it in English, never a blank, and the rest in German."""
        po = i18n.catalog_path("de").read_text(encoding="utf-8")
        cut = re.sub(r'msgid "Why it\'s here:[^"]*"\nmsgstr "[^"]*"\n', "", po)
        assert po.count("Why it's here:") == cut.count("Why it's here:") + 2  # HTML, text
        folder = tmp_path / "de" / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "newsletter.po").write_text(cut, encoding="utf-8")
        shipped = i18n.LOCALE_DIR
        monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
        clear_caches()
        try:
            email = digest_email(profile("de"))
        finally:  # the next test reads the shipped catalogs again
            monkeypatch.setattr(i18n, "LOCALE_DIR", shipped)
            clear_caches()
        assert "Why it's here:" in email.text and "Why it's here:" in email.html
        assert "Warum dabei" not in email.text
        assert "Im Browser ansehen" in email.text


def clear_caches() -> None:
    for cached in (i18n.translations, templating.email_templates, templating.page_templates,
                   render.blocks):  # fmt: skip
        cached.cache_clear()


# -- the templates ------------------------------------------------------------------------------


def reader_templates() -> list[Path]:
    every = sorted(templating.TEMPLATES_DIR.glob("*.j2"))
    assert {p.name for p in every} >= NOT_FOR_READERS
    return [p for p in every if p.name not in NOT_FOR_READERS]


_ATTR_WORDS = re.compile(r'\b(?:title|alt|aria-label|placeholder)="([^"]*)"')


def untranslated(source: str) -> list[str]:
    """The words a template shows outside a translation call: comments, `{% %}` and
    `{{ }}` dropped (a trans block whole), style sheets, tags and their attributes, entities;
    what a reader reads in an attribute (a title, a label) is kept to be checked."""
    source = re.sub(r"\{#.*?#\}", " ", source, flags=re.S)
    source = re.sub(r"\{%-?\s*trans\b.*?\{%-?\s*endtrans\s*-?%\}", " ", source, flags=re.S)
    attributes = " ".join(_ATTR_WORDS.findall(source))
    source = re.sub(r"<(style|mj-style)\b.*?</\1>", " ", source, flags=re.S)
    source = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", source + " " + attributes, flags=re.S)
    source = re.sub(r"<[^>]*>", " ", source)
    source = re.sub(r"&#?\w+;", " ", source)
    return [w for w in re.findall(r"[^\W\d_]+", source) if w not in NAMES]


@pytest.mark.parametrize("path", reader_templates(), ids=lambda p: p.name)
def test_a_template_shows_no_word_outside_a_translation_call(path):
    assert untranslated(path.read_text(encoding="utf-8")) == []


def test_the_template_check_finds_a_word_left_in_english():
    assert untranslated('<div class="x">{{ _("Fine") }} Cost</div>') == ["Cost"]
    assert untranslated('<a title="More like this" href="{{x}}">{{ _("y") }}</a>') == [
        "More", "like", "this"]  # fmt: skip
    assert untranslated("<b>{% trans %}Fine{% endtrans %}</b><style>p { color: red }</style>") == []


# -- a realistic day, in a language -------------------------------------------------------------

PAPERS = [
    make_paper("2504.07001", "Sparse Mixture-of-Experts Routing with Load Balancing",
               authors=("Grace Hopper", "Edsger Dijkstra"),
               abstract="We study expert routing. " * 30),
    make_paper("2504.07002", "Quantized KV Caches for Long-Context Inference",
               authors=tuple(f"Author{k} Person{k}" for k in range(12)),
               abstract="KV caches. " * 40, announce_type="cross"),
    make_paper("2504.07003", "Pruning Transformers at Initialization",
               abstract="Pruning at initialization. " * 30),
    make_paper("2504.07004", "Low-Rank Adapters Revisited", abstract="Low-rank updates. " * 30),
]  # fmt: skip
COMMENTS = ["", "Matches KV-cache compression.", "Pruning at init, on topic.", "Low-rank methods."]


def profile(code: str) -> Profile:
    topics = [Topic(name="Sparsity", relevant="MoE and pruning")]
    p = Profile(name="Ada Lovelace", email="ada@example.org", authors=["Grace Hopper"],
                topics=topics, language=code)  # fmt: skip
    p.id = "ada"
    return p


def selection(judge: Judge = Judge.MODEL) -> Selection:
    picks = [Pick(p, Score(p.id, 9 - i, 7 - i, COMMENTS[i]), author_match=i == 0)
             for i, p in enumerate(PAPERS)]  # fmt: skip
    usage = {m: Usage(m, 3, 27_534, 1_024, 3_597, 0.0123) for m in ("gpt-4o-mini", "gpt-4o")}
    return Selection("ada", DAY, picks, usage=usage, listed=1_374, read=211, titled=1_200,
                     skimmed=300, unscored=["2504.09999"], judge=judge)  # fmt: skip


def config(**output) -> Config:
    c = Config()
    c.web.base_url = "https://digest.example.org"
    c.output.profile_help_url = "https://example.org/help"
    for key, value in output.items():
        setattr(c.output, key, value)
    return c


def digest_email(reader: Profile, *, budget: int = 100_000, judge: Judge = Judge.MODEL):
    """The day's email; a small `budget` (bytes) shortens cards, lists some by title only
    and leaves some out, each with its own words."""
    c = config(max_html_bytes=budget)
    return render.render_email(selection(judge), reader, c, prompt_text=render_full_prompt(reader),
                               view_url="https://example.org/t/2025-04-10.html")  # fmt: skip


def paper_text(reader: Profile) -> list[str]:
    """What the papers, the model, the reader and the prompt bring: not the catalog's."""
    from newsletter.text import clean

    texts = [reader.name, reader.email, render_full_prompt(reader),
             views.plain_headings(render_full_prompt(reader)), "gpt-4o-mini", "gpt-4o"]  # fmt: skip
    for p in PAPERS:
        texts += [clean(p.title), clean(p.abstract), p.id, p.primary_category, *p.authors]
    texts += [c for c in COMMENTS if c]
    return sorted(texts, key=len, reverse=True)


def visible(markup: str) -> str:
    """A page's text as read, with the prompt's box (the model's English) left out, and the
    attributes a reader sees (title, alt)."""
    doc = lxml_html.fromstring(markup)
    for box in doc.xpath("//*[contains(@class, 'prompt-box')]|//style|//head"):
        box.getparent().remove(box)
    attrs = " ".join(doc.xpath("//@title|//@alt|//@aria-label"))
    return doc.text_content() + " " + attrs


def english_left(text: str, code: str, reader: Profile) -> list[str]:
    """The English messages of the catalog (of those `code` words differently) found in
    `text` once the paper-provided text is taken out; each message is looked for by its
    fixed parts, those with a word of three letters or more."""
    for t in paper_text(reader):
        text = text.replace(t, " ")
    text = re.sub(r"https?://\S+|mailto:\S+", " ", text)
    found = []
    for message in catalog(code):
        if not message.id or ids(message) == forms(message):
            continue  # the same in both languages, such as "PDF"
        for english in ids(message):
            if english in forms(message):
                continue
            for part in PLACEHOLDER.split(english):
                part = (part or "").strip(" ,.:;()·[]…")
                if re.search(r"[A-Za-z]{3,}", part) and re.search(
                    rf"(?<![\w]){re.escape(part)}(?![\w])", text
                ):
                    found.append(part)
    return found


@pytest.mark.parametrize("code", ["de", "zh"])
class TestNoEnglishLeft:
    def test_the_email_subject_html_and_text(self, code):
        reader = profile(code)
        for email in [digest_email(reader, budget=b) for b in (100_000, 34_000, 30_000, 24_000)]:
            for part in (email.subject, email.preheader, email.text, visible(email.html)):
                assert english_left(part, code, reader) == [], part[:300]
        keywords = digest_email(reader, judge=Judge.KEYWORDS)
        assert english_left(keywords.text, code, reader) == []

    def test_a_quiet_day(self, code):
        reader = profile(code)
        quiet = Selection("ada", DAY, [], listed=374, read=211)
        email = render.render_email(quiet, reader, config(), prompt_text="")
        for part in (email.subject, email.preheader, email.text, visible(email.html)):
            assert english_left(part, code, reader) == [], part[:300]

    def test_a_weekly_digest_and_a_quiet_week(self, code):
        reader = profile(code)
        week = (date(2025, 4, 7), DAY)
        quiet = Selection("ada", DAY, [], listed=1374, read=611, period=week)
        for chosen in (replace(selection(), period=week), quiet):
            email = render.render_email(chosen, reader, config(), prompt_text="")
            assert language(code).period(*week) in email.subject
            for part in (email.subject, email.preheader, email.text, visible(email.html)):
                assert english_left(part, code, reader) == [], part[:300]
        weekly = SavedDigest.of(replace(selection(), period=week), None, None)
        pages = archive.subscriber_pages([weekly], reader, config(), {p.id: p for p in PAPERS})
        for name, make in pages.items():
            assert english_left(visible(make()), code, reader) == [], name

    def test_the_archive_pages_and_the_feed(self, code, tmp_path):
        reader = profile(code)
        records = [SavedDigest.of(replace(selection(), day=d), None, None)
                   for d in (date(2025, 3, 31), DAY, date(2025, 4, 11))]  # fmt: skip
        papers = {p.id: p for p in PAPERS}
        pages = archive.subscriber_pages(records, reader, config(), papers)
        assert set(pages) >= {"2025-04-10.html", "2025-03.html", "2025-04.html", "index.html"}
        for name, make in pages.items():
            page = make()
            assert f'<html lang="{i18n.html_lang(code)}"' in page, name
            assert english_left(visible(page), code, reader) == [], name
        feed = atom.feed(records, "https://example.org/t/feed.atom", language(code))
        assert f' xml:lang="{i18n.html_lang(code)}">' in feed.split("<id>")[0]  # on <feed>
        titles = re.findall(r"<title>([^<]*)</title>|<name>([^<]*)</name>", feed)
        fixed = " ".join(t for pair in titles for t in pair) + " ".join(
            re.findall(r"<summary[^>]*>([^<]*)</summary>", feed))  # fmt: skip
        assert english_left(fixed, code, reader) == []
        assert language(code).gettext("By an author you follow.") in feed

    def test_the_vote_and_unsubscribe_pages(self, code, tmp_path, monkeypatch):
        c = config()
        c.subscribers_dir = tmp_path / "subscribers"
        c.subscribers_dir.mkdir()
        example = (REPO / "subscribers" / "example.toml").read_text(encoding="utf-8")
        (c.subscribers_dir / "ada.toml").write_text(in_language(example, code), "utf-8")
        reader = parse_profile(c.subscribers_dir / "ada.toml")
        c.storage.path = tmp_path / "db.sqlite"
        c.archive.out = tmp_path / "site"
        c.archive.base_url = "https://example.org/archive"
        paper = PAPERS[2]
        with Store(c.storage.path) as store:
            client = TestClient(create_app(c, store))
            vote = links.vote_token("ada", paper.id, Vote.UP, DAY.isoformat(), reader.email)
            down = links.vote_token("ada", paper.id, Vote.DOWN, DAY.isoformat(), reader.email)
            leave = links.unsubscribe_token("ada", reader.email)
            answers = [client.get(f"/vote/{vote}"), client.post(f"/vote/{vote}"),
                       client.post(f"/vote/{down}"), client.post(f"/vote/{down}/undo"),
                       client.post(f"/vote/{down}/undo"), client.get(f"/unsubscribe/{leave}"),
                       client.post(f"/unsubscribe/{leave}"),
                       client.post(f"/unsubscribe/{leave}/resubscribe"),
                       client.get(f"/{store.tokens.token('ada')}/2025-01-01.html")]  # fmt: skip
        for answer in answers:
            assert answer.status_code in (200, 404), answer.text
            assert f'<html lang="{i18n.html_lang(code)}"' in answer.text
            assert english_left(visible(answer.text), code, reader) == [], answer.text


def test_the_english_check_finds_an_english_label():
    """The check above is not vacuous: an English label in German text is found."""
    reader = profile("de")
    assert "Why it's here" in english_left("Hallo. Why it's here: ja", "de", reader)
    assert english_left(digest_email(profile("en")).text, "de", reader) != []


# -- the reader's formats ----------------------------------------------------------------------


class TestFormats:
    def test_dates_and_numbers_follow_the_locale(self):
        de, zh = digest_email(profile("de")), digest_email(profile("zh"))
        assert "Donnerstag, 10. April 2025" in de.text and "1.374" in de.text
        assert "2025年4月10日星期四" in zh.text
        assert "Thursday, 10 April 2025" in digest_email(profile("en")).text

    @pytest.mark.parametrize("code", sorted(LANGUAGES))
    def test_every_email_says_its_language(self, code):
        html = digest_email(profile(code)).html
        assert re.search(rf'<html lang="{i18n.html_lang(code)}"', html)

    def test_plural_forms_are_the_languages(self):
        one, many = "%(count)s request", "%(count)s requests"
        assert language("de").ngettext(one, many, 1) == "%(count)s Anfrage"
        assert language("de").ngettext(one, many, 2) == "%(count)s Anfragen"
        assert language("fr").ngettext(one, many, 0) == "%(count)s requête"  # French: 0 is one
        assert language("en").ngettext(one, many, 0) == many
        assert language("zh").ngettext(one, many, 1) == language("zh").ngettext(one, many, 5)

    def test_money_in_the_locale(self):
        assert Language("en").money(0.0123) == "$0.0123"
        assert Language("en").money(1234.5) == "$1,234.50"
        assert Language("de").money(0.0123) == "0,0123\xa0$"


@pytest.mark.parametrize(("code", "words"), [("de", "Stichwortbewertung"), ("zh", "关键词评分器")])
def test_the_local_scorer_comments_in_the_reader_s_language(code, words):
    reader = profile(code)
    for paper in PAPERS:
        comment = LocalScorer(reader).score(paper).comment
        assert words in comment and english_left(comment, code, reader) == [], comment


class TestPeriod:
    """What a weekly digest's subject, header and archive call its days."""

    @pytest.mark.parametrize(
        ("first", "last", "label"),
        [
            ((2025, 4, 7), (2025, 4, 11), "week of 7–11 April 2025"),
            ((2025, 4, 28), (2025, 5, 2), "week of 28 April – 2 May 2025"),
            ((2025, 12, 29), (2026, 1, 2), "week of 29 December 2025 – 2 January 2026"),
            ((2025, 4, 11), (2025, 4, 11), "week of 11 April 2025"),
        ],
    )
    def test_the_days_are_said_once_each(self, first, last, label):
        assert i18n.ENGLISH.period(date(*first), date(*last)) == label

    @pytest.mark.parametrize(
        ("code", "label"),
        [
            ("de", "Woche vom 7.–11. Apr. 2025"),
            ("es", "semana del 7–11 de abril de 2025"),
            ("fr", "semaine du 7–11 avr. 2025"),
            ("zh", "2025年4月7日\u2009–\u200911日这一周"),  # thin spaces, as CLDR writes it
        ],
    )
    def test_each_language_says_the_week_as_it_writes_an_interval(self, code, label):
        assert language(code).period(date(2025, 4, 7), date(2025, 4, 11)) == label


# -- the model's prompts ------------------------------------------------------------------------


class TestPrompts:
    def test_languages_share_the_prompts_prefix_up_to_one_line(self):
        en, de = profile("en"), profile("de")
        assert render_title_prompt(en) == render_title_prompt(de)
        assert render_skim_prompt(en) == render_skim_prompt(de)
        english, german = render_selection_prompt(en), render_selection_prompt(de)
        line = "Write every COMMENT in German; the keys stay as shown.\n\n"
        tail = "## Papers\n"
        assert english.endswith(tail) and german == english.removesuffix(tail) + line + tail
        assert "## Answer format" in english.removesuffix(tail)  # the rubric is in the prefix

    def test_the_examples_stay_after_the_language_line(self):
        de = profile("de").model_copy(update={"liked_titles": ["A liked paper"]})
        prompt = render_selection_prompt(de)
        assert prompt.index("COMMENT in German") < prompt.index("A liked paper")

    def test_languages_never_share_one_scoring(self):
        c = Config()
        assert scoring_key(c, profile("en")) != scoring_key(c, profile("de"))
        assert scoring_key(c, profile("de")) == scoring_key(c, profile("de"))


def in_language(profile_text: str, code: str) -> str:
    """The example profile, in the language `code`."""
    assert 'language = "en"' in profile_text
    return profile_text.replace('language = "en"', f'language = "{code}"')


# -- a profile's language -----------------------------------------------------------------------


def test_an_unknown_language_is_one_line_naming_the_file_and_the_field(tmp_path):
    folder = tmp_path / "subscribers"
    folder.mkdir()
    example = (REPO / "subscribers" / "example.toml").read_text(encoding="utf-8")
    (folder / "kay.toml").write_text(in_language(example, "xx"), encoding="utf-8")
    (tmp_path / "config.toml").write_text("")
    result = cli("subscribers", "check", str(folder / "kay.toml"), home=tmp_path)
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith("error: ") and "kay.toml:" in line
    assert ": language: 'xx' is not a supported language" in line
    assert "en, de, es, fr, zh" in line and "Traceback" not in result.output


def test_send_skips_only_the_profile_with_an_unknown_language(home):
    subs = home / "subscribers"
    (subs / "ada.toml").write_text(in_language((subs / "ada.toml").read_text(), "de"))
    bob = (subs / "bob.toml").read_text().replace("bob@", "kay@")
    (subs / "kay.toml").write_text(in_language(bob, "klingon"))
    result = cli("send", "--dry-run", "--feed", str(REPO / "newsletter/data/sample-listing.xml"),
                 home=home)  # fmt: skip
    assert "kay.toml: language: 'klingon' is not a supported language" in result.output
    previews = home / "outbox" / "2025-04-10"
    assert sorted(p.name for p in previews.glob("*.txt")) == ["ada.txt", "bob.txt"]
    assert "Warum dabei:" in (previews / "ada.txt").read_text(encoding="utf-8")
    assert "Why it's here:" in (previews / "bob.txt").read_text(encoding="utf-8")
