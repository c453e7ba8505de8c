"""LaTeX in arXiv metadata, as the plain text a reader sees.

arXiv keeps author names, titles and abstracts as submitted, so they carry TeX: accents
(`M\\"uller`, `{\\o}`, `\\c{c}`), text commands (`\\emph{...}`) and math (`$\\mathcal{O}(n^2)$`).
`latex_to_text` turns them into Unicode text with pylatexenc, set up for text that is mostly
not LaTeX at all: what plain text means is kept as written.

- `%` is a percent sign, not the start of a comment that would swallow the rest of an abstract;
- `&`, `~`, `--`, quotes and `<` stay as they are (pylatexenc would make them alignment space,
  no-break space, dashes and curly quotes);
- math keeps its letters: `\\mathcal{O}` is `O`, not a script capital, and `n^2` stays `n^2`.

Whitespace is left as it comes; callers collapse it where they want one line.

What is converted, and what is not: the store and the model keep the text as arXiv publishes
it, LaTeX and all. Models read LaTeX fluently, and the conversion loses what math says
(`$\\mathcal{O}(n^2)$` becomes `O(n^2)`, `$x_{ij}$` loses its grouping, `\\cite{}` a mark), so
the model judges the paper the authors wrote; the stored text stays what the RSS and the API
both give (the fetch tests check they agree), and a better conversion later needs no refetch.
What a person reads is converted, with this one function: the email's HTML and text parts and
the archive (`newsletter.views.clean`), and author names, at fetch, since followed authors are
matched against them.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from pylatexenc.latex2text import (
    LatexNodes2Text,
    MacroTextSpec,
    SpecialsTextSpec,
    get_default_latex_context_db,
)

# Font switches in math: their argument is what a reader would type for them.
_MATH_FONTS = (
    "mathcal", "mathbb", "mathrm", "mathbf", "mathit", "mathsf", "mathtt", "mathfrak",
    "mathscr", "boldsymbol", "bm", "operatorname",
)  # fmt: skip
# A `%` not escaped by a backslash (an even run of backslashes before it is line breaks).
_COMMENT = re.compile(r"(?<!\\)((?:\\\\)*)%")


@cache
def _converter() -> LatexNodes2Text:
    # 'nonascii-specials' holds ~ `` '' -- --- !` ?`; '&' comes from 'latex-approximations'.
    db = get_default_latex_context_db().filter_context(exclude_categories=["nonascii-specials"])
    db.add_context_category(
        "plain-text",
        macros=[MacroTextSpec(name, discard=False) for name in _MATH_FONTS],
        specials=[SpecialsTextSpec("&", "&")],
        prepend=True,
    )
    return LatexNodes2Text(latex_context=db, math_mode="text")


def normalise_space(text: str) -> str:
    """Every run of whitespace, line breaks included, as one space: the text on one line."""
    return " ".join(text.split())


def latex_to_text(text: str) -> str:
    """LaTeX -> Unicode text (NFC): `J\\"urgen M\\"uller` -> `Jürgen Müller`, `\\emph{x}` -> `x`.

    Text without a backslash, a brace or a `$` has nothing to convert and is not parsed:
    that is most names and abstracts, at about 0.1 ms a name saved.
    """
    if any(c in text for c in "\\{}$"):
        text = _converter().latex_to_text(_COMMENT.sub(r"\1\\%", text))
    return unicodedata.normalize("NFC", text)
