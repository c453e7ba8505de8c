"""Subscriber profiles: every validation error names the file and the field."""

from pathlib import Path

import pytest

from newsletter import profile_lines
from newsletter.config import Config
from newsletter.errors import ProfileError, UnknownSubscriber
from newsletter.models import Paper, Score
from newsletter.plans import scoring_key
from newsletter.profile_lines import check_file
from newsletter.profiles import (
    address_book,
    arxiv_categories,
    load_profiles,
    parse_profile,
)
from newsletter.select import select
from tests.conftest import REPO

GOOD = """
name = "Ada Lovelace"
email = "ada@example.org"
categories = ["cs.LG"]
[[topics]]
name = "Compression"
relevant = "pruning"
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    """The error lines, with the file as the user typed it (tests run inside tmp_path)."""
    with pytest.raises(ProfileError) as info:
        parse_profile(path)
    return [line.replace(f"{path.name}:", f"{path}:", 1) for line in str(info.value).splitlines()]


class TestExample:
    def test_the_shipped_example_is_valid(self):
        profile = parse_profile(REPO / "subscribers" / "example.toml")
        assert profile.id == "example"
        assert profile.active
        assert {t.name for t in profile.topics} >= {"Representation learning", "Model architecture"}
        assert "MoE" in profile.keywords

    def test_the_optional_keys_can_be_left_out(self, tmp_path):
        """The required keys and one topic make a working profile: active, scored with the
        operator's model, following nobody, selecting by its cutoffs."""
        profile = parse_profile(write(tmp_path, "ada", GOOD))
        assert profile.active
        assert scoring_key(Config(), profile)[0] == Config().llm.model
        papers = [Paper(i, f"Paper {i}", ("Ada Lovelace",), "", ("cs.LG",), "cs.LG") for i in "12"]
        scores = {"1": Score("1", 10, 10, "on topic"), "2": Score("2", 1, 1, "off topic")}
        picks = select(profile, papers, scores)
        assert [(k.paper.id, k.author_match) for k in picks] == [("1", False)]


class TestValidation:
    def test_unknown_category_names_the_index(self, tmp_path):
        path = write(tmp_path, "ada", GOOD.replace('["cs.LG"]', '["cs.LG", "cs.XX"]'))
        assert errors_of(path) == [f"{path}: categories[1]: 'cs.XX' is not an arXiv category"]

    def test_bad_email(self, tmp_path):
        path = write(tmp_path, "ada", GOOD.replace("ada@example.org", "ada-at-example"))
        assert errors_of(path) == [f"{path}: email: 'ada-at-example' is not an email address"]

    @pytest.mark.parametrize("field", ["relevance_cutoff", "novelty_cutoff"])
    @pytest.mark.parametrize("value", [0, 11])
    def test_cutoffs_within_1_to_10(self, tmp_path, field, value):
        path = write(tmp_path, "ada", f"{field} = {value}\n" + GOOD)
        (line,) = errors_of(path)
        assert line.startswith(f"{path}: {field}: Input should be")

    def test_missing_required_field(self, tmp_path):
        path = write(tmp_path, "ada", GOOD.replace('name = "Ada Lovelace"\n', ""))
        assert errors_of(path) == [f"{path}: name: required but missing"]

    def test_unknown_key(self, tmp_path):
        path = write(tmp_path, "ada", "colour = 'blue'\n" + GOOD)
        assert errors_of(path) == [f"{path}: colour: unknown key"]

    def test_a_misspelt_key_is_named_as_meant(self, tmp_path):
        path = write(tmp_path, "ada", "relevance_cutof = 5\n" + GOOD + 'irrelevent = "x"\n')
        assert sorted(errors_of(path)) == [
            f"{path}: relevance_cutof: unknown key (did you mean 'relevance_cutoff'?)",
            f"{path}: topics[0].irrelevent: unknown key (did you mean 'irrelevant'?)",
        ]

    def test_wrong_type(self, tmp_path):
        path = write(tmp_path, "ada", "max_papers = 'many'\n" + GOOD)
        (line,) = errors_of(path)
        assert line.startswith(f"{path}: max_papers: Input should be a valid integer")

    @pytest.mark.parametrize(
        ("line", "field"),
        [('max_papers = "15"', "max_papers"), ("relevance_cutoff = 6.0", "relevance_cutoff"),
         ('active = "yes"', "active"), ("active = 1", "active")],
    )  # fmt: skip
    def test_a_value_of_another_type_is_not_converted(self, tmp_path, line, field):
        """TOML says what a value is: "15" is a string, and a string where a number goes is
        a mistake to point at, not to read as 15."""
        path = write(tmp_path, "ada", f"{line}\n" + GOOD)
        (problem,) = errors_of(path)
        assert problem.startswith(f"{path}: {field}: Input should be a valid")

    def test_key_after_topics_table_is_explained(self, tmp_path):
        path = write(tmp_path, "ada", GOOD + 'keywords = ["pruning"]\n')
        (line,) = errors_of(path)
        assert "topics[0].keywords: unknown key" in line
        assert "move 'keywords' above it" in line

    def test_topic_without_relevant_text(self, tmp_path):
        path = write(tmp_path, "ada", GOOD.replace('relevant = "pruning"', 'relevant = ""'))
        (line,) = errors_of(path)
        assert line.startswith(f"{path}: topics[0].relevant:")

    def test_a_profile_must_be_able_to_select_something(self, tmp_path):
        text = 'name = "A"\nemail = "a@example.org"\n'
        path = write(tmp_path, "ada", text)
        assert errors_of(path) == [
            f"{path}: topics: a profile needs topics, keywords or authors to select anything"
        ]

    def test_every_problem_is_listed(self, tmp_path):
        text = GOOD.replace("ada@example.org", "bad").replace('["cs.LG"]', '["xx", "yy"]')
        assert len(errors_of(write(tmp_path, "ada", text))) == 3

    def test_invalid_toml(self, tmp_path):
        (line,) = errors_of(write(tmp_path, "ada", "name = \n"))
        assert "not valid TOML" in line

    def test_unusable_file_name(self, tmp_path):
        (line,) = errors_of(write(tmp_path, "-ada", GOOD))
        assert "(file name): '-ada' is not a usable id" in line

    def test_the_taxonomy_is_shipped(self):
        cats = arxiv_categories()
        assert cats["cs.LG"] == "Machine Learning"
        assert "stat.ML" in cats and "quant-ph" in cats and len(cats) > 150


class TestRoster:
    def test_one_bad_profile_never_stops_the_others(self, tmp_path):
        write(tmp_path, "ada", GOOD)
        write(tmp_path, "bob", GOOD.replace("ada@", "bob@").replace("cs.LG", "cs.XX"))
        write(tmp_path, "cy", "active = false\n" + GOOD.replace("ada@", "cy@"))
        roster = load_profiles(tmp_path)
        assert [p.id for p in roster.profiles] == ["ada", "cy"]
        assert [p.id for p in roster.active] == ["ada"]
        assert [Path(e.path).stem for e in roster.errors] == ["bob"]

    def test_paused_subscribers_are_not_active(self, tmp_path):
        write(tmp_path, "ada", "active = false\n" + GOOD)
        assert load_profiles(tmp_path).active == []

    def test_duplicate_email_across_files(self, tmp_path):
        write(tmp_path, "ada", GOOD)
        write(tmp_path, "bob", GOOD.replace("ada@", "ADA@"))
        roster = load_profiles(tmp_path)
        assert [p.id for p in roster.profiles] == ["ada"]
        (error,) = roster.errors
        assert "email: 'ADA@example.org' is also used by" in str(error)
        assert "ada.toml" in str(error)

    def test_get_names_what_is_missing(self, tmp_path):
        write(tmp_path, "ada", GOOD)
        with pytest.raises(UnknownSubscriber, match="no subscriber 'zed'"):
            load_profiles(tmp_path).get("zed")

    def test_get_of_a_bad_profile_raises_its_error(self, tmp_path):
        write(tmp_path, "bob", GOOD.replace("cs.LG", "cs.XX"))
        with pytest.raises(ProfileError, match=r"cs\.XX"):
            load_profiles(tmp_path).get("bob")


class TestValuesThatWouldBreakAMail:
    """Values that parse as TOML and used to pass validation, then broke the run."""

    @pytest.mark.parametrize(
        ("line", "field"),
        [
            ('name = " "', "name: must not be blank"),
            ('name = "Ada\\nBcc: x@evil.org"', "name: holds a line break"),
            ('name = "Ada\\r"', "name: holds a line break"),
            ('name = "Ada\\u0007"', "name: holds the character '\\x07'"),
            ('name = "Ada\\u202e"', "name: holds the character '\\u202e'"),
        ],
    )
    def test_names(self, tmp_path, line, field):
        path = write(tmp_path, "ada", GOOD.replace('name = "Ada Lovelace"', line, 1))
        assert any(e.startswith(f"{path}: {field}") for e in errors_of(path)), errors_of(path)

    @pytest.mark.parametrize(
        "email", ["ada@example.org\\n", "a,b@example.org", "a;b@example.org", "<a@example.org>"]
    )
    def test_emails_that_name_two_addresses_or_carry_a_newline(self, tmp_path, email):
        path = write(tmp_path, "ada", GOOD.replace('"ada@example.org"', f'"{email}"'))
        assert any(e.startswith(f"{path}: email: ") for e in errors_of(path))

    def test_a_control_character_in_a_keyword_or_topic(self, tmp_path):
        text = GOOD.replace("[[topics]]", 'keywords = ["MoE\\u0000"]\n[[topics]]')
        text = text.replace('relevant = "pruning"', 'relevant = "pru\\u001bning"')
        problems = errors_of(write(tmp_path, "ada", text))
        assert any("keywords[0]: holds the character '\\x00'" in e for e in problems)
        assert any("topics[0].relevant: holds the character '\\x1b'" in e for e in problems)

    def test_a_topic_may_span_lines(self, tmp_path):
        text = GOOD.replace('relevant = "pruning"', 'relevant = """pruning,\nquantization"""')
        assert parse_profile(write(tmp_path, "ada", text)).topics[0].relevant.count("\n") == 1

    def test_a_file_name_with_a_newline_is_no_id(self, tmp_path):
        path = write(tmp_path, "ada\n", GOOD)
        assert any("(file name)" in e for e in errors_of(path))


class TestLines:
    """`check_file` puts each problem on the line of the file that holds it."""

    def problems(self, tmp_path, text: str) -> list[tuple[int | None, str]]:
        return [(p.line, p.message) for p in check_file(write(tmp_path, "ada", text))]

    def test_a_syntax_error_is_on_the_line_tomllib_names(self, tmp_path):
        text = GOOD.replace('"ada@example.org"', "ada@example.org")
        [(line, message)] = self.problems(tmp_path, text)
        assert line == 3 and message.startswith("not valid TOML (Invalid value")

    def test_an_unknown_key_is_on_its_line(self, tmp_path):
        [(line, message)] = self.problems(tmp_path, GOOD + 'colour = "blue"\n')
        assert (line, message) == (8, "topics[0].colour: unknown key")

    def test_a_bad_value_is_on_its_line(self, tmp_path):
        [(line, message)] = self.problems(tmp_path, GOOD.replace("ada@example.org", "ada-at"))
        assert (line, message) == (3, "email: 'ada-at' is not an email address")

    def test_a_bad_item_of_a_list_is_on_the_item_s_line(self, tmp_path):
        listed = 'categories = [\n  "cs.LG",  # mine\n  "cs.XX",\n]'
        [(line, message)] = self.problems(tmp_path, GOOD.replace('categories = ["cs.LG"]', listed))
        assert (line, message) == (6, "categories[1]: 'cs.XX' is not an arXiv category")

    def test_a_field_of_the_second_topic_after_multiline_strings(self, tmp_path):
        text = GOOD.replace('relevant = "pruning"', 'relevant = """pruning\nname = "x"\n"""')
        text += '[[topics]]\nname = "Other"\nrelevant = " "\nirrelevant = 3\n'
        [(line, message)] = self.problems(tmp_path, text)
        assert line == 13 and message.startswith("topics[1].irrelevant: Input should be")

    def test_a_wrong_type_and_a_key_left_out(self, tmp_path):
        text = "max_papers = 'many'\n" + GOOD.replace('name = "Ada Lovelace"\n', "")
        assert sorted(self.problems(tmp_path, text), key=str) == [
            (1, "max_papers: Input should be a valid integer"),
            (None, "name: required but missing"),
        ]

    def test_a_valid_file_has_no_problem(self, tmp_path):
        assert check_file(REPO / "subscribers" / "example.toml") == []

    def test_an_address_another_subscriber_has(self, tmp_path):
        write(tmp_path / "subscribers", "bob", GOOD)
        emails = address_book(tmp_path / "subscribers")
        [problem] = check_file(write(tmp_path, "ada", GOOD), emails)
        assert (problem.line, problem.message) == (
            3, "email: 'ada@example.org' is also used by subscribers/bob.toml"
        )  # fmt: skip
        assert check_file(write(tmp_path, "bob", GOOD), emails) == []  # its own file, proposed

    def test_every_field_error_names_its_line(self, tmp_path):
        # every field of a profile and of a topic given a value of the wrong type, each on a
        # line of its own, the second topic's fields inside the second [[topics]] table
        scalar = {"name": "1", "email": "2", "active": '"yes"', "relevance_cutoff": '"5"',
                  "novelty_cutoff": "0", "max_papers": "true", "model": "3"}  # fmt: skip
        lists = ["categories", "authors", "keywords", "irrelevant_domains",
                 "application_tasks", "liked", "disliked"]  # fmt: skip
        lines: list[str] = []
        where: dict[str, int] = {}
        for key, value in scalar.items():
            lines.append(f"{key} = {value}")
            where[key] = len(lines)
        for key in lists:
            good = "cs.LG" if key == "categories" else "2501.01234"
            lines += [f"{key} = [", f'  "{good}",', "  4,", "]"]
            where[f"{key}[1]"] = len(lines) - 1
        lines += ["[[topics]]", 'name = "One"', 'relevant = "fine"', "", "[[topics]]"]
        for key in ("name", "relevant", "irrelevant", "extra"):
            lines.append(f"{key} = 5")
            where[f"topics[1].{key}"] = len(lines)
        problems = self.problems(tmp_path, "\n".join(lines) + "\n")
        assert {message.split(": ")[0]: line for line, message in problems} == where
        assert len(problems) == len(where) == len(scalar) + len(lists) + 4

    def test_a_topic_is_on_its_header_line(self, tmp_path):
        text = GOOD + '\n\n[[topics]]\nname = "Second"\nrelevant = " "\n'
        assert self.problems(tmp_path, text) == [
            (12, "topics[1].relevant: must say what is relevant")
        ]
        assert profile_lines.field_line(text, ("topics", 1)) == 10
        assert profile_lines.field_line(text, ("topics",)) == 5

    def test_a_syntax_error_at_the_end_is_on_the_last_line(self, tmp_path):
        [(line, message)] = self.problems(tmp_path, GOOD + 'irrelevant = """unclosed\n')
        assert line == 8 and "at end of document" in message


class TestRhythmWarning:
    def test_a_weekday_without_a_weekly_frequency_is_said_to_do_nothing(self, tmp_path):
        path = write(tmp_path, "ada", GOOD.replace("categories", 'weekday = "monday"\ncategories'))
        [warning] = profile_lines.check_warnings(path)
        assert warning.message.startswith('weekday: ignored, since frequency is "daily"')
        assert "on Monday" in warning.message

    def test_a_weekly_profile_or_none_set_says_nothing(self, tmp_path):
        weekly = GOOD.replace("categories", 'frequency = "weekly"\nweekday = "monday"\ncategories')
        assert profile_lines.check_warnings(write(tmp_path, "ada", weekly)) == []
        assert profile_lines.check_warnings(write(tmp_path, "bob", GOOD)) == []
