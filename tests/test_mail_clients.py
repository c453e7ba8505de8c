"""What real inboxes do with the digest: SendGrid's link tracking, and what each mail client
supports of the HTML and CSS the email uses (caniemail's data, vendored in tests/vendor)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from functools import cache
from pathlib import Path

import lxml.html
import pytest

from bench.screenshots import SAMPLE_PROMPT, sample_config, sample_profile, sample_selection
from newsletter.config import SendgridConfig
from newsletter.deliver import Envelope, SendgridApi, build_payload
from newsletter.models import Email, Judge
from newsletter.render import render_email

ENV = Envelope(date(2025, 4, 10), "ada", "ada@example.org", "Ada Lovelace", ("2504.07001",))
EMAIL = Email("Digest", "Papers", '<html><a href="https://arxiv.org">x</a></html>', "Hi")


# -- SendGrid's tracking ------------------------------------------------------------------


@pytest.mark.parametrize("opted_in", [False, True])
def test_tracking_is_off_unless_the_operator_opts_in(sendgrid_server, opted_in) -> None:
    config = SendgridConfig(api_host=sendgrid_server.url, retries=0, click_tracking=opted_in)
    SendgridApi(config, sendgrid_server.api_key).send(build_payload(EMAIL, ENV, config))

    [msg] = sendgrid_server.messages
    assert msg.body["tracking_settings"] == {
        "click_tracking": {"enable": opted_in, "enable_text": opted_in},
        "open_tracking": {"enable": opted_in},
    }


def test_tracking_is_off_by_default() -> None:
    settings = build_payload(EMAIL, ENV, SendgridConfig())["tracking_settings"]
    assert not settings["click_tracking"]["enable"] and not settings["open_tracking"]["enable"]


# -- what each client supports ------------------------------------------------------------

DATA = Path(__file__).parent / "vendor" / "caniemail" / "caniemail.json"
# The clients the digest is written for, as caniemail names them: (family, platform).
CLIENTS = {
    "Gmail web": ("gmail", "desktop-webmail"),
    "Gmail iOS": ("gmail", "ios"),
    "Gmail Android": ("gmail", "android"),
    "Apple Mail macOS": ("apple-mail", "macos"),
    "Apple Mail iOS": ("apple-mail", "ios"),
    "Outlook Windows": ("outlook", "windows"),
    "Outlook web": ("outlook", "outlook-com"),
}
GMAIL_STYLE_LIMIT = 16 * 1024  # caniemail html-style note 6: a larger <style> is dropped

ELEMENTS = {
    "div": "html-div", "span": "html-span", "p": "html-p", "pre": "html-pre",
    "table": "html-table", "tbody": "html-table", "tr": "html-table", "td": "html-table",
    "th": "html-table", "style": "html-style", "body": "html-body", "img": "html-img",
    "strong": "html-strong", "small": "html-small", "hr": "html-hr", "code": "html-code",
    "ul": "html-lists", "ol": "html-lists", "li": "html-lists", "blockquote": "html-blockquote",
    "details": "html-semantics", "summary": "html-semantics", "nav": "html-semantics",
    "section": "html-semantics", "article": "html-semantics", "header": "html-semantics",
    "footer": "html-semantics", "main": "html-semantics", "time": "html-semantics",
    **{f"h{n}": "html-h1-h6" for n in range(1, 7)},
}  # fmt: skip
# Elements that every HTML document has, and links, checked by their href below.
PLAIN_ELEMENTS = {"html", "head", "title", "meta", "a", "br"}
ATTRIBUTES = {
    "lang": "html-lang", "dir": "html-dir", "role": "html-role", "width": "html-width",
    "height": "html-height", "align": "html-align", "valign": "html-valign",
    "cellpadding": "html-cellpadding", "cellspacing": "html-cellspacing",
    "background": "html-background", "aria-hidden": "html-aria-hidden",
    "aria-label": "html-aria-label", "target": "html-target", "hidden": "html-hidden",
}  # fmt: skip
# Attributes caniemail has no entry for: every client reads them.
PLAIN_ATTRIBUTES = {
    "class", "style", "href", "name", "id", "border", "content", "http-equiv", "charset",
    "type", "alt", "src", "xmlns", "xmlns:v", "xmlns:o",
}  # fmt: skip
# CSS properties caniemail files under another name (the shorthand's).
PROPERTY_SLUGS = {
    "padding-top": "css-padding", "padding-right": "css-padding", "padding-bottom": "css-padding",
    "padding-left": "css-padding", "margin-top": "css-margin", "margin-right": "css-margin",
    "margin-bottom": "css-margin", "margin-left": "css-margin", "border-top": "css-border",
    "border-right": "css-border", "border-bottom": "css-border", "border-left": "css-border",
    "border-color": "css-border", "border-width": "css-border", "border-style": "css-border",
    "border-top-color": "css-border", "border-left-color": "css-border",
    "font-style": "css-font", "font-variant": "css-font",
}  # fmt: skip
# Properties without caniemail data, each with why it is safe to use.
UNLISTED = {
    "font-family": "every client reads it; the stack ends in Arial and sans-serif",
    "color": "every client reads it",
    "colspan=": "part of a plain table (the cost table's model rows)",
    "media=": "MJML's <style media> for Thunderbird's column widths; others ignore it",
    "aria-roledescription=": "MJML's label for screen readers; ignored where unknown",
    "css-pseudo-class-root": ":root { color-scheme } only tells Apple Mail that dark is fine",
}

# Every feature the email uses that some client above does not plainly support, with what
# the reader gets there. The design is the inline styles: <style> rules (small screens, dark
# mode, hover) only improve on it where they apply.
FALLBACKS = {
    "html-style": (
        "every style the design needs is inline (premailer); the <style> blocks add small-"
        "screen sizes, dark mode and hover where they apply, and each is under 16 KB (checked)"
    ),
    "css-selector-class": "used only in <style>: see html-style",
    "css-selector-descendant": "used only in <style> (MJML's resets): see html-style",
    "css-selector-grouping": "used only in <style>: see html-style",
    "css-selector-id": "used only in MJML's #outlook reset, for Outlook.com",
    "css-selector-type": "used only in <style> (link colour, MJML's resets): see html-style",
    "css-pseudo-class-hover": "underlines titles on hover; without it they are plain links",
    "css-at-media": (
        "the small-screen rules only tighten padding and type at 480 px and below; without "
        "them the 600 px layout shrinks to the screen as one fluid column"
    ),
    "css-at-media-prefers-color-scheme": (
        "dark mode is an extra where supported; the light design, inline, is the design"
    ),
    "css-color-scheme": "see css-at-media-prefers-color-scheme",
    "html-meta-color-scheme": "see css-at-media-prefers-color-scheme",
    "css-important": (
        "only in <style> rules, in lowercase with a space before it, where they override the "
        "inline styles; inline styles never use it"
    ),
    "css-padding": (
        "Outlook for Windows pads table cells only: the header, the cards and the boxes "
        "inside them (why it's here, the notes, the prompt) are one-cell tables, and blocks "
        "are spaced by margins; only inline pieces, the badges, buttons and card numbers, "
        "lose their padding there and sit tighter (test_only_cells_and_inline_pieces_are_padded)"
    ),
    "css-border": (
        "the borders of the cards and boxes are on table cells, which Outlook for Windows "
        "draws; the buttons' borders, on <a>, may be dropped there"
    ),
    "css-border-radius": "square corners in Outlook for Windows",
    "css-margin": (
        "only positive margins on block elements (none negative, auto or on <span>), which "
        "every client applies"
    ),
    "css-display": (
        "only inline-block (badges, buttons, contents numbers) and MJML's column blocks; "
        "Outlook for Windows shows them inline, and a space follows each number"
    ),
    "css-display-none": "hides the preview text; Outlook for Windows hides a <div> too",
    "css-max-height": "hides the preview text with display:none, which Outlook honours",
    "css-opacity": "hides the preview text with display:none, which Outlook honours",
    "css-overflow": "hides the preview text with display:none, which Outlook honours",
    "css-outline": "MJML's image reset; the email has no images",
    "css-width": (
        "widths on <div> are MJML's column widths, which Outlook for Windows gets from "
        "MJML's conditional tables; widths on <span> are the contents numbers (see css-display)"
    ),
    "css-max-width": "MJML's column width; Outlook for Windows gets its conditional tables",
    "css-height": "MJML's image reset (img { height: auto }); the email has no images",
    "html-width": "on tables and table cells only, in percent or px; the email has no images",
    "css-font-size": "in px only, never rem",
    "css-font-weight": "700 and 600 are bold everywhere, 400 normal",
    "css-line-height": "unitless, px or %: Outlook for Windows may space lines a little apart",
    "css-letter-spacing": "small positive px values on labels: at worst a little tighter",
    "css-text-transform": "uppercase only (labels), never lowercase",
    "css-text-align": "left, right and center only",
    "css-text-decoration": "none or underline, one value at a time",
    "css-white-space": "keeps the cost table's numbers on one line; where ignored they wrap",
    "css-word-break": "MJML's break-word on text cells: long words wrap, as intended",
    "css-word-spacing": "MJML's word-spacing:normal, the default anyway",
    "css-sytem-ui": (
        "ui-monospace leads the arXiv ids' font stack, which falls back to Menlo, Consolas "
        "and monospace"
    ),
    "html-anchor-links": (
        "the contents link to empty <a name> targets, which Gmail web and Outlook for Windows "
        "need; in the Gmail apps a tap does nothing, and each contents line's number is the "
        "card's #number to scroll to"
    ),
    "html-body": (
        "Gmail and Outlook.com turn <body> into a <div>; MJML repeats its background colour "
        "on the outer <div>"
    ),
    "html-dir": "MJML's dir=auto on <html> and the body <div>, never on links",
    "html-doctype": "Outlook for Windows renders without it, as it renders every email",
    "html-role": "role=presentation on layout tables: ignored where unread",
}


def declarations(css: str) -> Iterator[tuple[str, str]]:
    """(property, value) for each declaration of a style attribute or a rule's block."""
    for part in css.split(";"):
        prop, colon, value = part.partition(":")
        if colon and prop.strip():
            yield prop.strip().lower(), value.strip()


_RULE = re.compile(r"(@[^{]+)\{((?:[^{}]*\{[^{}]*\})*)\s*\}|([^{}@]+)\{([^{}]*)\}")


def rules(sheet: str) -> Iterator[tuple[str, str, str]]:
    """(at-rule prelude or "", selectors, block) for each rule of a style sheet, one level of
    @media deep."""
    for found in _RULE.finditer(sheet):
        if found[1]:
            for inner in re.finditer(r"([^{}]+)\{([^{}]*)\}", found[2]):
                yield found[1].strip(), inner[1].strip(), inner[2]
        else:
            yield "", found[3].strip(), found[4]


def selector_features(selectors: str) -> set[str]:
    found = {"css-selector-grouping"} if "," in selectors else set()
    for selector in selectors.split(","):
        selector = selector.strip()
        if "." in selector:
            found.add("css-selector-class")
        if "#" in selector:
            found.add("css-selector-id")
        if re.search(r"(^|[\s>+~])[a-z]", selector):
            found.add("css-selector-type")
        if re.search(r"[\w\]]\s+[\w.#*\[:]", selector):
            found.add("css-selector-descendant")
        for sign, slug in ((">", "child"), ("+", "adjacent-sibling"), ("~", "general-sibling"),
                           ("*", "universal"), ("[", "attribute")):  # fmt: skip
            if sign in selector:
                found.add(f"css-selector-{slug}")
        found.update(f"css-pseudo-class-{p}" for p in re.findall(r"(?<!:):([a-z-]+)", selector))
        found.update(f"css-pseudo-element-{p}" for p in re.findall(r"::([a-z-]+)", selector))
    return found


def value_features(prop: str, value: str) -> set[str]:
    found = set()
    if "!important" in value.lower():
        found.add("css-important")
    if prop == "display":
        kind = value.split("!")[0].strip().lower()
        found.add({"none": "css-display-none", "flex": "css-display-flex",
                   "grid": "css-display-grid"}.get(kind, "css-display"))  # fmt: skip
    for unit in re.findall(r"\d(px|%|em|rem|pt|vh|vw|ch|ex)\b", value):
        found.add(f"css-unit-{ {'%': 'percent'}.get(unit, unit) }")
    for function in re.findall(r"([a-z-]+)\(", value):
        found.add(f"css-{function}" if function in ("rgb", "rgba") else f"css-function-{function}")
    if prop == "font-family" and re.search(r"system-ui|ui-monospace|ui-sans-serif", value):
        found.add("css-sytem-ui")
    return found


def css_features(css_text: str, known: set[str]) -> tuple[set[str], set[str]]:
    """The caniemail features one block of declarations uses, and the properties caniemail
    has no entry for. Vendor-prefixed and mso- properties are hints to the one client that
    reads them, ignored by the others, and are left out."""
    found, unlisted = set(), set()
    for prop, value in declarations(css_text):
        if prop.startswith(("mso-", "-webkit-", "-ms-", "-moz-")):
            continue
        slug = PROPERTY_SLUGS.get(prop, f"css-{prop}")
        if slug in known:
            found.add(slug)
        else:
            unlisted.add(prop)
        found |= value_features(prop, value)
    return found, unlisted


def sheet_features(sheet: str, known: set[str]) -> tuple[set[str], set[str]]:
    found, unlisted = set(), set()
    if "/*" in sheet:
        found.add("css-comments")
        sheet = re.sub(r"/\*.*?\*/", "", sheet, flags=re.S)
    for at_rule, selectors, block in rules(sheet):
        if at_rule:
            name = at_rule[1:].split()[0].lower()
            found.add(f"css-at-{name}")
            found.update(
                f"css-at-media-{f}"
                for f in re.findall(r"\(\s*([a-z-]+)", at_rule)
                if f"css-at-media-{f}" in known
            )
        for feature in selector_features(selectors):
            (found if feature in known else unlisted).add(feature)
        more, odd = css_features(block, known)
        found, unlisted = found | more, unlisted | odd
    return found, unlisted


def html_features(html: str, known: set[str]) -> tuple[set[str], set[str]]:
    """The caniemail features an HTML document uses (elements, attributes, links, CSS in
    style attributes and <style> blocks, at-rules), and what caniemail has no entry for.
    Outlook's conditional comments are Outlook's own (MJML writes them) and are not read."""
    found = {"html-doctype"} if html[:9].lower() == "<!doctype" else set()
    found |= {"html-comments"} if "<!--" in html else set()
    unlisted = set()
    for el in lxml.html.document_fromstring(html).iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower()
        if tag in ELEMENTS:
            found.add(ELEMENTS[tag])
        elif tag not in PLAIN_ELEMENTS:
            unlisted.add(f"<{tag}>")
        for attr in el.attrib:
            if attr in ATTRIBUTES:
                found.add(ATTRIBUTES[attr])
            elif attr not in PLAIN_ATTRIBUTES:
                unlisted.add(f"{attr}=")
        href = el.get("href", "") if tag == "a" else ""
        found |= {"html-anchor-links"} if href.startswith("#") else set()
        found |= {"html-mailto-links"} if href.startswith("mailto:") else set()
        if tag == "meta" and el.get("name") in ("color-scheme", "supported-color-schemes"):
            found.add("html-meta-color-scheme")
        more, odd = css_features(el.get("style", ""), known)
        if tag == "style":
            sheet, odd_sheet = sheet_features(el.text or "", known)
            more, odd = more | sheet, odd | odd_sheet
        found, unlisted = found | more, unlisted | odd
    return found, unlisted


@cache
def caniemail() -> dict[str, dict]:
    return {f["slug"]: f for f in json.loads(DATA.read_text())["data"]}


def support(slug: str, client: str) -> str:
    """caniemail's word for the client's latest tested version: "y", "a" (partial), "n",
    "u" (unknown), with note numbers ("a #1")."""
    family, platform = CLIENTS[client]
    versions = caniemail()[slug]["stats"].get(family, {}).get(platform) or {"?": "u"}
    return list(versions.values())[-1]


def gaps(slug: str) -> dict[str, str]:
    """The clients where the feature does not plainly work, with caniemail's notes."""
    notes = caniemail()[slug].get("notes_by_num") or {}
    found = {}
    for client in CLIENTS:
        word = support(slug, client)
        if word != "y":
            said = [notes.get(n, "") for n in re.findall(r"#(\d+)", word)]
            found[client] = " ".join([word.split()[0], *said])
    return found


def digest_html(count: int, max_bytes: int, **changes) -> str:
    selection = sample_selection(count)
    selection.notes.append("The cost cap was reached.")
    selection.unscored.append("2504.09999")
    for key, value in changes.items():
        setattr(selection, key, value)
    config = sample_config()
    config.output.max_html_bytes = max_bytes
    email = render_email(
        selection, sample_profile(), config, prompt_text=SAMPLE_PROMPT,
        view_url="https://example.org/digest/2025-04-10.html",
    )  # fmt: skip
    return email.html


@pytest.fixture(scope="module")
def pages() -> list[str]:
    """Digests with every part the templates have: an author match, whole and shortened
    cards, title-only rows, papers left out, notes, the view link and the footer's links;
    scored by a model and by the local scorer."""
    found = [
        digest_html(20, 50_000),
        digest_html(20, 50_000, usage={}, judge=Judge.KEYWORDS),
        digest_html(150, 30_000),
    ]
    whole = "".join(found)
    parts = [
        "Author match", "[shortened]", "more-row", "did not fit", "View in browser",
        "Unsubscribe", "prompt-box", "What this digest cost", "local keyword scorer",
    ]  # fmt: skip
    assert [part for part in parts if part not in whole] == []
    return found


@pytest.fixture(scope="module")
def used(pages) -> set[str]:
    return set().union(*(html_features(page, set(caniemail()))[0] for page in pages))


def test_every_feature_works_in_every_client_or_has_a_named_fallback(used) -> None:
    unsupported = {slug: found for slug in sorted(used) if (found := gaps(slug))}
    missing = {slug: found for slug, found in unsupported.items() if slug not in FALLBACKS}
    assert missing == {}, "features some client lacks, with no fallback in FALLBACKS"
    assert set(FALLBACKS) <= set(unsupported), "FALLBACKS names features no longer in need"


def test_what_caniemail_has_no_entry_for_is_known(pages) -> None:
    unlisted = set().union(*(html_features(page, set(caniemail()))[1] for page in pages))
    assert unlisted == set(UNLISTED)


def test_no_details_summary_or_other_element_gmail_rewrites(used) -> None:
    assert "html-semantics" not in used  # <details>/<summary>: Gmail underlines, Outlook strips


def test_each_style_block_fits_gmails_limit(pages) -> None:
    for page in pages:
        for block in re.findall(r"<style[^>]*>.*?</style>", page, flags=re.S):
            assert len(block.encode()) < GMAIL_STYLE_LIMIT


def test_every_in_page_link_lands_on_a_named_anchor(pages) -> None:
    for page in pages:
        targets = set(re.findall(r'<a name="([^"]+)"', page))
        links = set(re.findall(r'href="#([^"]+)"', page))
        assert links and links <= targets


# Inline pieces: padding on them is a nicety Outlook for Windows drops; a block is never one.
PADDED_INLINE = {("span", "pill"), ("span", "num"), ("a", "btn")}


def padded(page: str) -> set[tuple[str, str]]:
    """(tag, first class) of each element other than a table cell with padding in its style."""
    return {
        (el.tag, (el.get("class") or "").split(" ")[0])
        for el in lxml.html.document_fromstring(page).iter()
        if isinstance(el.tag, str) and el.tag != "td" and "padding" in el.get("style", "")
    }


def test_only_cells_and_inline_pieces_are_padded(pages) -> None:
    assert set().union(*map(padded, pages)) == PADDED_INLINE
    cell = '<table><tr><td style="padding: 1px">y</td></tr></table>'
    assert padded(f'<div><p class="a b" style="padding: 4px">x</p>{cell}</div>') == {("p", "a")}


def test_the_checks_see_what_they_check() -> None:
    """The feature finder on a page that uses what the digest avoids."""
    page = (
        "<!doctype html><html><head><style>a:hover { color: red }</style></head><body>"
        '<details><summary>Prompt</summary><pre style="white-space: pre-wrap">x</pre></details>'
        '<div style="text-indent: -30px; display: flex">y</div><a href="#p">z</a></body></html>'
    )
    found, _ = html_features(page, set(caniemail()))
    for slug in ("html-semantics", "html-pre", "css-white-space", "css-text-indent",
                 "css-display-flex", "html-anchor-links", "css-pseudo-class-hover",
                 "css-selector-type", "html-doctype"):  # fmt: skip
        assert slug in found
    assert "n" in support("css-at-media-prefers-color-scheme", "Gmail web")
