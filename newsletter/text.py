"""LaTeX in arXiv metadata, as the plain text a reader sees.

arXiv keeps author names, titles and abstracts as submitted, so they carry TeX: accents
(`M\\"uller`, `{\\o}`, `\\c{c}`), text commands (`\\emph{...}`), links (`\\href{url}{text}`)
and math (`$\\mathcal{O}(n^2)$`). `latex_to_text` turns them into Unicode text with
pylatexenc, set up for text that is mostly not LaTeX at all: what plain text means is kept
as written.

- `%` is a percent sign, not the start of a comment that would swallow the rest of an abstract;
- `&`, `~`, `--`, quotes and `<` stay as they are (pylatexenc would make them alignment space,
  no-break space, dashes and curly quotes);
- escaped symbols are their symbol: `\\|W\\|` is `‖W‖`, `\\>` is `>`, `Pass\\^{}1` is `Pass^1`;
- math keeps its letters: `\\mathcal{O}` is `O`, not a script capital, and `n^2` stays `n^2`;
- a link is its text: `\\href{url}{text}` is `text`, `\\url{url}` and `\\href{url}` are `url`;
- text styles keep their text (`\\texttt{KeyVT}` is `KeyVT`), and a macro name is ASCII
  letters, as TeX reads it (`$\\barλ$` is `\\bar` over `λ`).

It never raises, and never drops what it cannot read. Authors' TeX is often malformed (a
`\\sqrt` with no argument, `\\url\\href{..}{..}`), and pylatexenc's own rules then fail or print
their `%s` placeholders: each node of the parsed text is converted on its own, and a node that
fails, or a macro missing the arguments its rule formats, is shown as written (whitespace made
single spaces), so one bad span costs only itself; if the parser itself gives up, the whole
text is shown as written. Unknown macros (an author's own `\\method`) are dropped: their
definition is not in the abstract.

Whitespace is otherwise left as it comes; callers collapse it where they want one line.

What is converted, and what is not: the store and the model keep the text as arXiv publishes
it, LaTeX and all. Models read LaTeX fluently, and the conversion loses what math says
(`$\\mathcal{O}(n^2)$` becomes `O(n^2)`, `$x_{ij}$` loses its grouping, `\\cite{}` a mark), so
the model judges the paper the authors wrote; the stored text stays what the RSS and the API
both give (the fetch tests check they agree), and a better conversion later needs no refetch.
What a person reads is converted, with this one function: the email's HTML and text parts, the
archive, the feed and the vote pages (`newsletter.text.clean`), and author names, at fetch,
since followed authors are matched against them. tests/test_corpus.py holds it to a month of
real arXiv metadata.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

from pylatexenc import latexwalker
from pylatexenc.latex2text import (
    LatexNodes2Text,
    MacroTextSpec,
    SpecialsTextSpec,
    get_default_latex_context_db,
)
from pylatexenc.macrospec import std_macro

# Font switches in math: their argument is what a reader would type for them.
_MATH_FONTS = (
    "mathcal", "mathbb", "mathrm", "mathbf", "mathit", "mathsf", "mathtt", "mathfrak",
    "mathscr", "boldsymbol", "bm", "operatorname",
)  # fmt: skip
# Text styles the parser knows and pylatexenc's text rules do not: it would drop their text.
_TEXT_STYLES = ("texttt", "textsf", "textup", "textmd", "mbox")
# Escaped characters and text-mode symbols pylatexenc drops or makes fancier than written.
_SYMBOLS = {
    "|": "‖", ">": ">", "<": "<", "textless": "<", "textgreater": ">", "textbar": "|",
    "textunderscore": "_", "textasciicircum": "^", "textasciitilde": "~", "S": "§", "P": "¶",
    "degree": "°", "textdegree": "°",
}  # fmt: skip
# An accent over nothing (`\^{}`, the usual way to type a caret) is the accent character.
_SPACING_ACCENTS = {"^": "^", "~": "~", '"': '"', "'": "'", "`": "`"}
# Macros the parser must know the arguments of, or it leaves them as loose groups.
_ARGUMENTS = {"href": "{{", "binom": "{{", "tfrac": "{{", "dfrac": "{{", "rule": "[{{"}
# A `%` not escaped by a backslash (an even run of backslashes before it is line breaks).
_COMMENT = re.compile(r"(?<!\\)((?:\\\\)*)%")
_SPACE = re.compile(r"\s+")
# Characters XML 1.0 forbids, which feeds keep: the feed and the pages must not carry them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# A run of characters the parser reads as themselves, after the space before it. `*` is left
# out, as a macro's starred form is checked for with one token.
_ORDINARY_RUN = re.compile(r"(\s*)([^\s\\{}$%\[\]*]+)")
# A macro name is ASCII letters, as TeX reads it: in `$\barλ$` the macro is `\bar`, not `\barλ`.
_MACRO_BEFORE_LETTER = re.compile(r"(\s*)\\([A-Za-z]+)(?![A-Za-z])(?=[^\W\d_])")


def _link_text(node, l2tobj) -> str:
    """`\\href{url}{text}` reads as its text, `\\url{url}` and a one-argument `\\href` as the
    argument; a link command with no argument at all is only markup and reads as nothing."""
    args = node.nodeargd.argnlist if node.nodeargd else []
    given = [k for k, arg in enumerate(args) if arg is not None]
    return l2tobj.node_arg_to_text(node, given[-1]) if given else ""


def _accent(name: str, accent):
    def repl(node, l2tobj) -> str:
        args = [a for a in node.nodeargd.argnlist if a is not None] if node.nodeargd else []
        if not args or not l2tobj.nodelist_to_text(args[:1]).strip():
            return _SPACING_ACCENTS[name]
        return accent(node, l2tobj=l2tobj)

    return repl


def _text_specs(db) -> list[MacroTextSpec]:
    accents = [
        MacroTextSpec(name, _accent(name, db.get_macro_spec(name).simplify_repl))
        for name in _SPACING_ACCENTS
    ]
    return [
        *(MacroTextSpec(name, discard=False) for name in _MATH_FONTS + _TEXT_STYLES),
        *(MacroTextSpec(name, symbol) for name, symbol in _SYMBOLS.items()),
        *accents,
        MacroTextSpec("href", _link_text),
        MacroTextSpec("url", _link_text),
        MacroTextSpec("tfrac", "%s/%s"),
        MacroTextSpec("dfrac", "%s/%s"),
        MacroTextSpec("binom", "(%s choose %s)"),
        MacroTextSpec("rule", discard=True),
        MacroTextSpec("verb", lambda node: node.nodeargd.verbatim_text),
    ]


@cache
def _parser_context():
    """The parser's macros, built once (LatexWalker would rebuild its default on every call).

    No specials: `~`, `&`, `--` and quotes are read as the characters they are, and the
    parser, which tries every special at every character, runs about twice as fast.
    """
    db = latexwalker.get_default_latex_context_db().filter_context(
        keep_which=["macros", "environments"]
    )
    db.add_context_category(
        "links-and-math",
        macros=[std_macro(name, argspec) for name, argspec in _ARGUMENTS.items()],
        prepend=True,
    )
    return db


@cache
def _converter() -> _ReaderText:
    # 'nonascii-specials' holds ~ `` '' -- --- !` ?`; '&' comes from 'latex-approximations'.
    db = get_default_latex_context_db().filter_context(exclude_categories=["nonascii-specials"])
    db.add_context_category(
        "plain-text",
        macros=_text_specs(db),
        specials=[SpecialsTextSpec("&", "&")],
        prepend=True,
    )
    return _ReaderText(latex_context=db, math_mode="text")


def _as_written(node) -> str:
    """The node's source, on one line, with the `\\%` that stood for a bare `%` undone."""
    return _SPACE.sub(" ", node.latex_verbatim().replace("\\%", "%"))


def _lacks_arguments(node, context) -> bool:
    """A macro whose rule formats arguments (`%s/%s`) but whose source gave none to format."""
    if not node.isNodeType(latexwalker.LatexMacroNode):
        return False
    spec = context.get_macro_spec(node.macroname)
    if spec is None or not isinstance(spec.simplify_repl, str) or "%" not in spec.simplify_repl:
        return False
    if node.nodeargd is None:
        return True
    kinds = node.nodeargd.argspec.replace("*", "")
    args = [a for a in node.nodeargd.argnlist if not isinstance(a, str)]
    return any(a is None for kind, a in zip(kinds, args, strict=False) if kind == "{")


class _Walker(latexwalker.LatexWalker):
    """LatexWalker that reads a run of ordinary characters as one token, and macro names as TeX.

    LatexWalker gives each character a token and tries every rule on it first, which made
    parsing an abstract take about 10 ms. A run of characters that are nothing but text makes
    the same characters node either way. (It also ends a macro name at a letter that is not
    ASCII, where LatexWalker would read on.) Runs are kept out of what needs one character: a
    macro's argument without braces (`\\frac12`, read with `environments=False`), an optional
    argument (read with `[` as a brace), and a paragraph break.
    """

    def get_token(self, pos, include_brace_chars=None, environments=True, **kwargs):
        macro = _MACRO_BEFORE_LETTER.match(self.s, pos)
        if macro and "\n\n" not in macro[1] and macro[2] not in ("begin", "end"):
            return latexwalker.LatexToken(
                tok="macro", arg=macro[2], pos=macro.start(2) - 1, len=len(macro[2]) + 1,
                pre_space=macro[1],
            )  # fmt: skip
        if environments and not include_brace_chars:
            run = _ORDINARY_RUN.match(self.s, pos)
            if run and "\n\n" not in run[1]:
                return latexwalker.LatexToken(
                    tok="char", arg=run[2], pos=run.start(2), len=len(run[2]), pre_space=run[1]
                )
        return super().get_token(pos, include_brace_chars, environments, **kwargs)


class _ReaderText(LatexNodes2Text):
    """LatexNodes2Text that converts node by node, keeping as written what it cannot convert."""

    def node_to_text(self, node, prev_node_hint=None, textcol=0) -> str:
        if node is not None and _lacks_arguments(node, self.latex_context):
            return _as_written(node)
        try:
            return super().node_to_text(node, prev_node_hint, textcol)
        except Exception:  # pylatexenc's rules index and format arguments bad TeX lacks
            return _as_written(node)


def normalise_space(text: str) -> str:
    """Every run of whitespace, line breaks included, as one space: the text on one line."""
    return " ".join(text.split())


def latex_to_text(text: str) -> str:
    """LaTeX -> Unicode text (NFC): `J\\"urgen M\\"uller` -> `Jürgen Müller`, `\\emph{x}` -> `x`.

    Never raises: what cannot be converted is shown as written. Text without a backslash, a
    brace or a `$` has nothing to convert and is not parsed: that is most names and abstracts.
    """
    if any(c in text for c in "\\{}$"):
        text = _converted(text)
    return unicodedata.normalize("NFC", text)


# Each subscriber's digest, and each archive page, converts the same papers again.
@lru_cache(maxsize=4096)
def _converted(text: str) -> str:
    source = _COMMENT.sub(r"\1\\%", text)
    try:
        walker = _Walker(source, latex_context=_parser_context(), tolerant_parsing=True)
        return _converter().nodelist_to_text(walker.get_latex_nodes()[0])
    except Exception:  # the parser itself gave up (nesting deeper than Python's stack)
        return text


# -- words for a reader ------------------------------------------------------------------------


def clean(text: str) -> str:
    """Text as a reader sees it: LaTeX converted (`Schr{\\"o}dinger` -> `Schrödinger`), and on
    one line with single spaces, no control characters (feeds keep line breaks and indentation
    inside titles and abstracts)."""
    return " ".join(latex_to_text(_NOT_XML.sub("", text)).split())


def author_name(name: str) -> str:
    """An author's name as a reader sees it, and as followed authors are matched:
    `J\\"urgen M\\"uller` -> `Jürgen Müller`. The RSS and the API give names alike."""
    return normalise_space(latex_to_text(name))


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"
