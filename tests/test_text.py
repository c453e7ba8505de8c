"""LaTeX in arXiv metadata turned into text, and plain text left alone."""

from __future__ import annotations

import string
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pylatexenc.latexwalker import LatexWalker

from newsletter import text as reader_text
from newsletter.text import latex_to_text, normalise_space


@pytest.mark.parametrize(
    ("latex", "text"),
    [
        ('M\\"uller', "Müller"),
        ('J\\"urgen M\\"uller', "Jürgen Müller"),
        ('Gr{\\"o}bner', "Gröbner"),
        ('M\\"{u}ller', "Müller"),
        ("Fr\\'echet", "Fréchet"),
        ("Ch\\'{e}ret", "Chéret"),
        ("Fran\\c{c}ois", "François"),
        ("Fran{\\c{c}}ois", "François"),
        ("Stra\\ss e", "Straße"),
        ("Stra{\\ss}e", "Straße"),
        ("S{\\o}ren", "Søren"),
        ("St{\\aa}l", "Stål"),
        ("{\\L}ukasz", "Łukasz"),
        ("\\v{S}ediv\\'y", "Šedivý"),
        ("Erd\\H{o}s", "Erdős"),
        ("Mu\\~{n}oz", "Muñoz"),
        ("Mart\\'{\\i}nez", "Martínez"),
    ],
)
def test_accents_become_letters(latex: str, text: str) -> None:
    assert latex_to_text(latex) == text


def test_the_result_is_composed_unicode() -> None:
    text = latex_to_text('Sch\\"onberg')
    assert text == unicodedata.normalize("NFC", text) == "Schönberg"


def test_text_commands_keep_their_argument() -> None:
    assert latex_to_text("A \\textbf{bold} and \\emph{new} \\textit{idea}") == (
        "A bold and new idea"
    )


@pytest.mark.parametrize(
    ("latex", "text"),
    [
        ("in $\\mathcal{O}(n^2)$ time", "in O(n^2) time"),
        ("$O(n \\log n)$", "O(n log n)"),
        ("$\\mathbb{R}^d$", "R^d"),
        ("an $\\epsilon$-net", "an ϵ-net"),
        ("$x \\in [0,1]$", "x ∈ [0,1]"),
        ("\\(k^2\\)", "k^2"),
    ],
)
def test_math_stays_legible(latex: str, text: str) -> None:
    assert latex_to_text(latex) == text


@pytest.mark.parametrize(
    "plain",
    [
        "Yoshua Bengio",
        "Martin Luther King, Jr.",
        "J.-P. Serre and Seán O'Brien",
        "k<n & m>2, with <EOS> tokens",
        "~100 tokens, about 50% of the rest -- in ``quotes''",
        "C++ and C# at 3.5 GHz: a_1 and x^2",
        "Line one\n  of the   abstract.",
    ],
)
def test_plain_text_is_unchanged(plain: str) -> None:
    assert latex_to_text(plain) == plain


def test_plain_text_inside_latex_is_unchanged_too() -> None:
    assert latex_to_text("\\emph{So}: k<n & m>2, ~100 tokens, 50% -- ``q'' for O'Brien") == (
        "So: k<n & m>2, ~100 tokens, 50% -- ``q'' for O'Brien"
    )


def test_a_percent_sign_in_latex_text_is_no_comment() -> None:
    assert latex_to_text("\\emph{Half}: 50% of $n$ points, then 100\\% of the rest") == (
        "Half: 50% of n points, then 100% of the rest"
    )
    assert latex_to_text("a \\\\% b") == "a \n% b"  # a line break, then a percent sign


def test_ampersand_tilde_and_angle_brackets_survive_latex() -> None:
    assert latex_to_text("\\emph{k<n} & {m>2}, ~3x faster") == "k<n & m>2, ~3x faster"
    assert latex_to_text("R\\&D") == "R&D"


def test_line_breaks_and_unbalanced_braces_do_not_break_it() -> None:
    assert " ".join(latex_to_text("one \\\\ two").split()) == "one two"
    assert " ".join(latex_to_text("an {unbalanced brace").split()) == "an unbalanced brace"
    assert " ".join(latex_to_text("a closing} one").split()) == "a closing one"
    assert latex_to_text("a trailing \\") == "a trailing"


def test_an_abstract_with_tex_and_angle_brackets_reads_as_written() -> None:
    """As in tests/data's listing: the author's `<`, `>`, `&` and `%` around TeX commands."""
    abstract = (
        "when k<n and m>2, \\textbf{adaptability} costs $\\mathcal{O}(n^2)$; the <EOS> marker"
        ' & its score hold for 95% of runs in Schr{\\"o}dinger bridges'
    )
    assert latex_to_text(abstract) == (
        "when k<n and m>2, adaptability costs O(n^2); the <EOS> marker & its score hold for"
        " 95% of runs in Schrödinger bridges"
    )


@pytest.mark.parametrize(
    ("latex", "text"),
    [
        (
            "code at \\href{https://github.com/a/b_c%20d}{our repository}.",
            "code at our repository.",
        ),
        ("see \\url{https://x.org/a_b~c%20d}", "see https://x.org/a_b~c%20d"),
        ("one argument: \\href{https://x.org}", "one argument: https://x.org"),
        ("\\url\\href{a}{b}", "ab"),
        ("\\|W\\|_2 and $\\|x\\|$", "‖W‖_2 and ‖x‖"),
        ("(\\>20 FPS)", "(>20 FPS)"),
        ("Pass\\^{}1 and a\\~{}b", "Pass^1 and a~b"),
        ("\\_ \\% \\& \\# \\$ \\{x\\}", "_ % & # $ {x}"),
        ("\\textless{}EOS\\textgreater{} \\textbar{} \\textunderscore{}", "<EOS> | _"),
        ("$\\sqrt{2}$, $\\sqrt T$, $\\frac12$, $\\tfrac{a}{b}$", "√(2), √(T), 1/2, a/b"),
        ("$\\binom{n}{k}$ subsets", "(n choose k) subsets"),
        (
            "We propose \\texttt{KeyVT} on \\textsf{FOLIO}, \\mbox{as is}",
            "We propose KeyVT on FOLIO, as is",
        ),
        ("a plateau $\\barλ$, $\\left(\\fracπβ\\right)$", "a plateau λ̅, (π/β)"),
        ("\\verb|x_y|", "x_y"),
    ],
)
def test_links_symbols_and_math_read_as_written(latex: str, text: str) -> None:
    assert latex_to_text(latex) == text


@pytest.mark.parametrize(
    ("latex", "text"),
    [
        ("rate $\\sqrt", "rate \\sqrt"),
        ("a bare \\frac", "a bare \\frac"),
        ("a bare \\url", "a bare"),
        ("a bare \\href", "a bare"),
        ("\\emph{Kept}, then \\title", "Kept, then \\title"),
        ("$x$ then \\footnote", "x then \\footnote"),
    ],
)
def test_a_macro_without_its_arguments_costs_only_itself(latex: str, text: str) -> None:
    """pylatexenc raises (`KeyError`, `AttributeError`) or prints `%s` for these."""
    assert normalise_space(latex_to_text(latex)) == text


def test_what_the_parser_cannot_read_at_all_is_the_text_as_written() -> None:
    deep = "{" * 5000 + "x" + "}" * 5000
    assert latex_to_text(deep) == deep


_TEX_TOKENS = [
    "\\", "{", "}", "$", "$$", "\\(", "\\)", "\\[", "\\]", "\\href", "\\url", "\\sqrt",
    "\\frac", "\\emph", "\\textbf", "\\mathcal", "\\begin", "\\end", "\\item", "\\|", "\\>",
    "\\^", "\\~", '\\"', "\\%", "\\\\", "\\title", "\\footnote", "\\cite", "\\textcolor",
    "\\verb", "\\left", "\\right", "\\binom", "\\unknownmacro",
]  # fmt: skip
# Text as arXiv metadata has it: words, TeX, and TeX gone wrong.
_LATEXISH = st.lists(
    st.one_of(
        st.text(alphabet="ab1 \n.,<>&~^_%#[]'`|-*", max_size=6), st.sampled_from(_TEX_TOKENS)
    ),
    max_size=30,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_LATEXISH, st.text(max_size=60)))
def test_any_text_converts_without_raising(text: str) -> None:
    converted = latex_to_text(text)
    assert isinstance(converted, str)
    if "%" not in text:
        assert "%s" not in converted and "%(" not in converted


def _pieces():
    """(LaTeX, what a reader sees of it): text, and TeX whose letters are all meant to show."""
    plain = st.text(
        alphabet=string.ascii_letters + string.digits + " \n.,;:!?()[]'<>&~^_%#|@-+=*/", max_size=12
    )
    math = st.text(alphabet=string.ascii_letters + string.digits + " +-=()^_,.<>", max_size=8)
    word = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=8)
    symbols = {"\\|": "‖", "\\>": ">", "\\^{}": "^", "\\_": "_", "\\%": "%", "\\&": "&",
               "\\#": "#", "\\$": "$", "\\{": "{", "\\}": "}", "\\textless{}": "<"}  # fmt: skip
    return st.one_of(
        plain.map(lambda t: (t, t)),
        math.map(lambda m: (f"${m}$", m)),
        plain.map(lambda t: (f"\\emph{{{t}}}", t)),
        plain.map(lambda t: (f"\\textbf{{{t}}}", t)),
        plain.map(lambda t: (f"{{{t}}}", t)),
        st.tuples(word, plain).map(lambda u: (f"\\href{{https://{u[0]}}}{{{u[1]}}}", u[1])),
        word.map(lambda u: (f"\\url{{https://x.org/{u}}}", f"https://x.org/{u}")),
        st.sampled_from(sorted(symbols.items())),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(_pieces(), max_size=12))
def test_every_letter_digit_and_symbol_a_reader_should_see_is_kept(pieces) -> None:
    latex = "".join(source for source, _ in pieces)
    shown = "".join(text for _, text in pieces)
    assert "".join(latex_to_text(latex).split()) == "".join(shown.split())


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(_LATEXISH, st.lists(_pieces(), max_size=8).map(lambda p: "".join(s for s, _ in p)))
)
def test_reading_runs_of_text_as_one_token_parses_as_pylatexenc_does(latex: str) -> None:
    """The parser's fast path (a run of ordinary characters as one token) changes nothing."""

    def converted(walker_class) -> str:
        walker = walker_class(
            latex, latex_context=reader_text._parser_context(), tolerant_parsing=True
        )
        return reader_text._converter().nodelist_to_text(walker.get_latex_nodes()[0])

    try:
        expected = converted(LatexWalker)
    except Exception:  # what pylatexenc cannot parse, the fast path need not either
        return
    assert converted(reader_text._Walker) == expected
