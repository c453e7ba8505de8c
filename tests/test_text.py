"""LaTeX in arXiv metadata turned into text, and plain text left alone."""

from __future__ import annotations

import unicodedata

import pytest

from newsletter.text import latex_to_text


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
