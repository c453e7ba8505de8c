"""The package's Jinja2 templates (`templates/`) and the three environments that render them.

- `email_templates`: the digest (MJML, HTML partials, the text part). MJML and HTML are
  autoescaped, the text part is not; the HTML partials (`*.html.j2`) are loaded with the CSS
  of `digest_inline_css.j2` already written into their style attributes, once, rather than
  inlined into every email (premailer takes hundreds of milliseconds on a finished digest,
  and the partials' structure is static, so the result is the same).
- `page_templates`: the archive's pages and the server's, HTML with everything escaped.
- `text_templates`: the prompts and the profile file, plain text with whitespace kept exactly
  as written.

The email's and the pages' environments exist once per reader's language (`i18n.LANGUAGES`),
each with that language's catalog installed for `jinja2.ext.i18n`: `_()` and `ngettext()` in
a template translate, and `html_lang` is the code for `<html lang>`. The prompts and the
profile file are English whoever reads them (the model reads the prompts; the profile file is
the operator's to edit), so `text_templates` has no language.

Every environment reads the same folder, fails on an undefined name rather than printing
nothing, and never re-reads a template it has loaded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import premailer
from jinja2.nodes import EvalContext
from lxml import etree
from markupsafe import Markup

from newsletter import i18n


def _templates_dir() -> Path:
    """An installed wheel carries the templates inside the package (pyproject.toml maps them
    there); a checkout, editable install included, keeps them at the top of the repository."""
    package = Path(__file__).resolve().parent
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


TEMPLATES_DIR = _templates_dir()
FONT_STACK = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
INLINE_CSS = "digest_inline_css.j2"
_ROOT_ID = "inline-root"
_JINJA_TOKEN = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
# A line break (and its indentation) touching a tag or a block tag is layout, not content.
_LAYOUT_BREAK = re.compile(r"(?:(?<=>)|(?<=%\}))\n[ \t]*|\n[ \t]*(?=<|\{%)")
_STYLE_ATTR = re.compile(r'style="[^"]*"')


def render_template(env: jinja2.Environment, name: str, /, **context: Any) -> str:
    return env.get_template(name).render(**context)


@cache
def email_templates(lang: str = i18n.DEFAULT) -> jinja2.Environment:
    """MJML and HTML templates are autoescaped; the text part and the CSS are not."""
    return _translated(
        _environment(
            loader=InliningLoader(TEMPLATES_DIR),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("mjml.j2", "html.j2"), default_for_string=True, default=False
            ),
            extensions=("jinja2.ext.i18n",),
        ),
        lang,
    )


@cache
def page_templates(lang: str = i18n.DEFAULT) -> jinja2.Environment:
    """Web pages: HTML, so everything interpolated is escaped (but the font stack, which is
    ours and holds quotes: escaped, a browser would drop the CSS rule)."""
    env = _environment(autoescape=True, extensions=("jinja2.ext.i18n",))
    env.globals["font_stack"] = Markup(FONT_STACK)
    return _translated(env, lang)


@cache
def text_templates() -> jinja2.Environment:
    """Plain text (the prompts, the profile file): nothing escaped, every space kept."""
    return _environment(autoescape=False, exact_whitespace=True)


def _translated(env: jinja2.Environment, lang: str) -> jinja2.Environment:
    """The environment speaking `lang`, with jinja2.ext.i18n's "newstyle" gettext: `_()` and
    `ngettext()` take their values as keywords (`num`: ngettext's count), escape what they
    interpolate, and format every message (a literal percent sign is written `%%`).

    The calls are ours rather than the extension's wrappers, which pass each call through the
    template context three times: a digest makes about 1,200 of them, and the wrappers
    doubled the time a digest or an archive page takes to render. Same results, byte for
    byte (tests/test_i18n.py)."""
    catalog = i18n.translations(lang)

    @jinja2.pass_eval_context
    def gettext(eval_ctx: EvalContext, message: str, /, **values: Any) -> str:
        return _formatted(eval_ctx, catalog.gettext(message), values)

    @jinja2.pass_eval_context
    def ngettext(eval_ctx: EvalContext, one: str, many: str, num: int, /, **values: Any) -> str:
        values.setdefault("num", num)
        return _formatted(eval_ctx, catalog.ngettext(one, many, num), values)

    env.install_gettext_callables(gettext, ngettext, newstyle=False)  # type: ignore[attr-defined]
    env.globals["_"] = gettext  # the extension's `_` would go through `gettext` by name
    env.globals["html_lang"] = i18n.html_lang(lang)
    return env


def _formatted(eval_ctx: EvalContext, message: str, values: dict[str, Any]) -> str:
    """A translated message with its values, as the newstyle gettext makes it: Markup where
    the output is escaped, so only the values are; formatted even without values, so `%%` is
    a percent sign (a message without one is its own formatting)."""
    text: str = Markup(message) if eval_ctx.autoescape else message
    return text % values if "%" in text else text


def _environment(
    *,
    autoescape: bool | Callable[[str | None], bool],
    loader: jinja2.BaseLoader | None = None,
    exact_whitespace: bool = False,
    extensions: tuple[str, ...] = (),
) -> jinja2.Environment:
    return jinja2.Environment(
        extensions=list(extensions),
        loader=loader or jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=exact_whitespace,
        trim_blocks=not exact_whitespace,
        lstrip_blocks=not exact_whitespace,
        auto_reload=False,
    )


def inline_css(source: str, css: str) -> str:
    """Write `css` into the style attributes of an HTML template's source, keeping its Jinja."""
    doc = etree.fromstring(
        f'<html><head></head><body><div id="{_ROOT_ID}">{source}</div></body></html>',
        etree.HTMLParser(),
    )
    premailer.Premailer(
        css_text=[css],
        allow_network=False,
        keep_style_tags=True,
        strip_important=False,
        align_floating_images=False,
        disable_basic_attributes=["bgcolor", "valign", "height", "width"],
        cssutils_logging_level=logging.CRITICAL,
    ).transform(doc)
    root = doc.find(f".//div[@id='{_ROOT_ID}']")
    html = (root.text or "") + "".join(
        etree.tostring(child, encoding="unicode", method="html") for child in root
    )
    html = _STYLE_ATTR.sub(lambda m: m.group(0).replace("; ", ";"), _LAYOUT_BREAK.sub("", html))
    if _JINJA_TOKEN.findall(html) != _JINJA_TOKEN.findall(source):
        raise ValueError("inlining CSS changed the template's Jinja tags: see the file's rules")
    return html


class InliningLoader(jinja2.FileSystemLoader):
    """Loads templates; HTML partials (*.html.j2) come with the inline CSS already applied."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if template.endswith(".html.j2"):
            css = super().get_source(environment, INLINE_CSS)[0]
            source = inline_css(source, css)
        return source, filename, uptodate
