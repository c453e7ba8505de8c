"""The reader's language: gettext catalogs for every fixed word they read, and Babel's
formats for their dates and numbers.

A profile's `language` (an ISO 639-1 code, `LANGUAGES`) picks the catalog
`newsletter/locale/<code>/LC_MESSAGES/newsletter.po`. Catalogs are read as text and compiled
in memory when first used, so no compiled `.mo` file can go stale beside its `.po`. A message
a catalog lacks (or has fuzzy, or empty) reads in English, the language of the sources: a
missing translation is never a blank.

`newsletter/locale/newsletter.pot` is extracted from the package and the templates by Babel
(babel.cfg says what it reads; the commands are there too); `tests/test_i18n.py` fails when it
or a catalog is out of date. The model's prompts stay in English: only the comments it writes
follow the reader.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from datetime import date
from functools import cache, cached_property
from io import BytesIO
from pathlib import Path
from typing import Annotated

from babel import Locale
from babel.dates import format_date, format_interval, format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import Translations
from pydantic import AfterValidator

DOMAIN = "newsletter"
DEFAULT = "en"
# The languages a profile may ask for, each named in its own words and in English (the
# latter for the model's instruction: prompts are English).
LANGUAGES: dict[str, tuple[str, str]] = {
    "en": ("English", "English"),
    "de": ("Deutsch", "German"),
    "es": ("Español", "Spanish"),
    "fr": ("Français", "French"),
    "zh": ("中文（简体）", "Simplified Chinese"),
}
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
# English keeps the date as the digest has always written it ("Thursday, 10 April 2025");
# every other language takes its locale's full date ("Donnerstag, 10. April 2025").
_LONG_DATE = {"en": "EEEE, d MMMM y"}
_BABEL_LOCALE = {"zh": "zh_Hans"}


def catalog_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalog(po: bytes | str, locale: str | None = None) -> Translations:
    """A `.po` file's text, compiled in memory; untranslated and fuzzy entries are left out
    (write_mo drops them), so gettext answers those with the English msgid."""
    data = po.encode("utf-8") if isinstance(po, str) else po
    catalog = read_po(BytesIO(data), locale=locale, domain=DOMAIN)
    mo = BytesIO()
    write_mo(mo, catalog, use_fuzzy=False)
    mo.seek(0)
    return Translations(mo, domain=DOMAIN)


@cache
def translations(code: str) -> gettext.NullTranslations:
    """The catalog of `code`; English's is the sources' own words when its file is absent."""
    path = catalog_path(code)
    if not path.is_file():
        if code == DEFAULT:
            return gettext.NullTranslations()
        raise ValueError(f"no catalog for language '{code}' (looked for {path})")
    return compile_catalog(path.read_bytes(), _BABEL_LOCALE.get(code, code))


def html_lang(code: str) -> str:
    """The BCP 47 tag of `<html lang>`: the script too where a code alone is ambiguous."""
    return "zh-Hans" if code == "zh" else code


def unknown_language(code: str) -> str | None:
    """What is wrong with a profile's language code, or None when it is supported."""
    if code in LANGUAGES:
        return None
    return f"'{code}' is not a supported language (use one of: {', '.join(LANGUAGES)})"


@dataclass(frozen=True)
class Language:
    """One reader's language: their catalog's words, and their locale's dates and numbers."""

    code: str

    @cached_property  # parsing a locale costs more than the number it formats
    def locale(self) -> Locale:
        return Locale.parse(_BABEL_LOCALE.get(self.code, self.code))

    @property
    def english_name(self) -> str:
        return LANGUAGES[self.code][1]

    def gettext(self, message: str) -> str:
        return translations(self.code).gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        """The form of `count` the language asks for (German two, Chinese one, ...)."""
        return translations(self.code).ngettext(singular, plural, count)

    def then(self, sentence: str, following: str) -> str:
        """Two sentences in a row: a space between them in English, none in Chinese."""
        return self.gettext("%(sentence)s %(following)s") % {
            "sentence": sentence, "following": following}  # fmt: skip

    def number(self, value: int) -> str:
        """1,234 in English, 1.234 in German, 1 234 in French."""
        return format_decimal(value, locale=self.locale)

    def money(self, usd: float) -> str:
        """Dollars as the locale writes them: two decimals from $1, four below."""
        if usd >= 1:
            return format_currency(usd, "USD", locale=self.locale)
        pattern = self.locale.currency_formats["standard"].pattern.split(";")[0]
        return format_currency(usd, "USD", format=pattern.replace("0.00", "0.0000"),
                               locale=self.locale, currency_digits=False)  # fmt: skip

    def long_date(self, day: date) -> str:
        return format_date(day, _LONG_DATE.get(self.code, "full"), locale=self.locale)

    def period(self, first: date, last: date) -> str:
        """A weekly digest's days: "week of 7–11 April 2025", "Woche vom 7.–11. Apr. 2025"."""
        return self.gettext("week of %(days)s") % {"days": self.days(first, last)}

    def period_title(self, first: date, last: date) -> str:
        """The same as a heading: "Week of 7–11 April 2025"."""
        said = self.period(first, last)
        return said[:1].upper() + said[1:]

    def days(self, first: date, last: date) -> str:
        """From one day to another, as the locale writes an interval ("7.–11. Apr. 2025");
        English as the digest writes its dates, "7–11 April 2025", "28 April – 2 May 2025"."""
        if self.code != DEFAULT:
            return format_interval(first, last, "yMMMMd", locale=self.locale)
        end = format_date(last, "d MMMM y", locale=self.locale)
        if first == last:
            return end
        if first.year != last.year:
            start = "d MMMM y – "
        else:
            start = "d MMMM – " if first.month != last.month else "d–"
        return format_date(first, start, locale=self.locale) + end

    def month(self, day: date) -> str:
        """A month and its year: "April 2025", "2025年4月"."""
        return format_skeleton("yMMMM", day, locale=self.locale)


@cache
def language(code: str = DEFAULT) -> Language:
    return Language(code if code in LANGUAGES else DEFAULT)


ENGLISH = language(DEFAULT)


def _supported(code: str) -> str:
    problem = unknown_language(code)
    if problem:
        raise ValueError(problem)
    return code


# A profile's `language`: a supported code, or the one-line error `subscribers check` shows.
LanguageCode = Annotated[str, AfterValidator(_supported)]


def N_(message: str) -> str:
    """Marks a message for extraction where it is chosen before it is translated."""
    return message
