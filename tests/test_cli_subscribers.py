"""`newsletter subscribers ...` and `newsletter prompt`, through typer's CliRunner."""

import shutil

import pytest

from newsletter.profiles import parse_profile
from newsletter.prompt import PAPERS_PLACEHOLDER
from tests.conftest import REPO, cli


@pytest.fixture
def workdir(tmp_path):
    """The working folder, with a config.toml and the shipped example profile (no servers:
    these commands never reach one)."""
    (tmp_path / "subscribers").mkdir()
    shutil.copy(REPO / "subscribers" / "example.toml", tmp_path / "subscribers")
    (tmp_path / "config.toml").write_text('[arxiv]\ncategories = ["cs.LG"]\n')
    return tmp_path


class TestNew:
    def test_writes_a_valid_commented_profile(self, workdir):
        result = cli("subscribers", "new", "ada", "--email", "ada@lab.org", "--name", "Ada L")
        assert result.exit_code == 0, result.output
        text = (workdir / "subscribers" / "ada.toml").read_text()
        assert text.startswith("# A subscriber profile.")
        assert 'name = "Ada L"\nemail = "ada@lab.org"\n' in text
        assert 'frequency = "daily"\n' in text and 'language = "en"\n' in text  # to be changed
        assert cli("subscribers", "validate", "ada").exit_code == 0

    def test_a_name_with_quotes_and_backslashes_is_written_as_toml(self, workdir):
        name = 'Ada "The Countess" L\\ovelace'
        result = cli("subscribers", "new", "ada", "--email", "ada@lab.org", "--name", name)
        assert result.exit_code == 0, result.output
        profile = parse_profile(workdir / "subscribers" / "ada.toml")
        assert profile.name == name and profile.email == "ada@lab.org"

    def test_refuses_to_overwrite(self, workdir):
        before = (workdir / "subscribers" / "example.toml").read_text()
        result = cli("subscribers", "new", "example", "--email", "x@lab.org")
        assert result.exit_code == 1
        assert "exists already: not overwritten" in result.output
        assert (workdir / "subscribers" / "example.toml").read_text() == before

    def test_rejects_a_bad_email(self, workdir):
        result = cli("subscribers", "new", "zed", "--email", "nope")
        assert result.exit_code == 1
        assert "email: 'nope' is not an email address" in result.output
        assert not (workdir / "subscribers" / "zed.toml").exists()


class TestListShowValidate:
    def test_list(self, workdir):
        cli("subscribers", "new", "bob", "--email", "bob@lab.org")
        result = cli("subscribers", "list")
        assert result.exit_code == 0
        assert "example" in result.output and "ada@example.org" in result.output
        assert "bob@lab.org" in result.output

    def test_show(self, workdir):
        result = cli("subscribers", "show", "example")
        assert result.exit_code == 0
        assert "topics[0]: Representation learning" in result.output
        assert "relevance_cutoff: 6" in result.output

    def test_show_unknown(self, workdir):
        result = cli("subscribers", "show", "nobody")
        assert result.exit_code == 1
        assert result.output.strip() == "error: no subscriber 'nobody' (no nobody.toml)"

    def test_break_read_fix(self, workdir):
        """The README's walk-through: break a profile, read the error, fix it."""
        path = workdir / "subscribers" / "example.toml"
        good = path.read_text()
        path.write_text(good.replace('"stat.ML"', '"stat.XX"'))
        result = cli("subscribers", "validate")
        assert result.exit_code == 1
        assert (
            "error: subscribers/example.toml: categories[1]: 'stat.XX' is not an arXiv category"
            in result.output
        )
        assert "Traceback" not in result.output
        path.write_text(good)
        result = cli("subscribers", "validate")
        assert result.exit_code == 0
        assert result.output.strip() == "ok: subscribers/example.toml"

    def test_validate_reports_good_files_too(self, workdir):
        (workdir / "subscribers" / "bad.toml").write_text('name = "B"\nemail = "b@x.org"\nx = 1\n')
        result = cli("subscribers", "validate")
        assert result.exit_code == 1
        assert "ok: subscribers/example.toml" in result.output
        assert "error: subscribers/bad.toml: x: unknown key" in result.output

    def test_a_profile_without_topics_is_valid_with_a_warning(self, workdir):
        """Keywords alone still select papers, but the model has no interest described to
        judge them against: validate says so, and still passes."""
        (workdir / "subscribers" / "kay.toml").write_text(
            'name = "Kay"\nemail = "kay@lab.org"\nkeywords = ["pruning"]\n'
        )
        result = cli("subscribers", "validate", "kay")
        assert result.exit_code == 0
        assert result.output.splitlines() == [
            "ok: subscribers/kay.toml",
            "warning: subscribers/kay.toml: topics: none, so the model judges the papers by the "
            "keywords alone; add a [[topics]] table (name, relevant, irrelevant) at the end of "
            "the file",
        ]
        checked = cli("subscribers", "check", "--format", "github", "subscribers/kay.toml")
        assert checked.exit_code == 0
        assert checked.output.splitlines()[1].startswith(
            "::warning file=subscribers/kay.toml::topics: none, so the model judges"
        )

    def test_a_number_in_quotes_is_an_error_that_says_how_to_write_it(self, workdir):
        path = workdir / "subscribers" / "example.toml"
        path.write_text(path.read_text().replace("max_papers = 30", 'max_papers = "15"'))
        result = cli("subscribers", "validate")
        assert result.exit_code == 1
        assert result.output.strip() == (
            "error: subscribers/example.toml: max_papers: Input "
            "should be a valid integer (write 15 without quotes)"
        )

    def test_bad_config_is_one_line(self, workdir):
        (workdir / "config.toml").write_text("[llm]\nmodle = 1\n")
        result = cli("subscribers", "list")
        assert result.exit_code == 2  # the run could not start
        said = "error: config.toml: llm.modle: unknown key (did you mean 'model'?)"
        assert result.output.strip() == said

    def test_global_config_option(self, workdir, tmp_path_factory):
        other = tmp_path_factory.mktemp("elsewhere")
        (other / "c.toml").write_text(f'subscribers_dir = "{workdir / "subscribers"}"\n')
        result = cli("--config", str(other / "c.toml"), "subscribers", "list")
        assert result.exit_code == 0 and "ada@example.org" in result.output


class TestPrompt:
    def test_prints_the_rendered_prompt(self, workdir):
        result = cli("prompt", "example")
        assert result.exit_code == 0
        assert "1. Representation learning" in result.output
        assert result.output.rstrip().endswith("## Papers\n\n" + PAPERS_PLACEHOLDER)

    @pytest.mark.parametrize(("which", "answer"), [("skim", "\n1:7:5\n"), ("titles", "\n1:7\n")])
    def test_prints_the_cheaper_passes_prompts(self, workdir, which, answer):
        result = cli("prompt", "example", "--pass", which)
        assert result.exit_code == 0
        assert answer in result.output and "1. Representation learning" in result.output


# how to break the example, and the line of the example's file the error is then on
BROKEN = {
    "syntax": ('email = "ada@example.org"', 'email = "ada@example.org', 8),
    "unknown key": ("active = true", 'active = true\ncolour = "blue"', 12),
    "bad value": ('"stat.ML"', '"stat.XX"', 16),
}


class TestCheck:
    """`subscribers check FILE...`: any file, such as a pull request's, each problem on its
    line, in plain text or as GitHub's workflow commands."""

    def broken(self, workdir, kind: str):
        """The example, broken in one way, outside the subscribers folder; and the line."""
        old, new, line = BROKEN[kind]
        text = (workdir / "subscribers" / "example.toml").read_text().replace(old, new, 1)
        path = workdir / "proposed" / "ada.toml"
        path.parent.mkdir()
        path.write_text(text)
        return path, line

    @pytest.mark.parametrize(
        ("kind", "message"),
        [
            ("syntax", "not valid TOML (Illegal character"),
            ("unknown key", "colour: unknown key"),
            ("bad value", "categories[1]: 'stat.XX' is not an arXiv category"),
        ],
    )
    def test_text(self, workdir, kind, message):
        path, line = self.broken(workdir, kind)
        result = cli("subscribers", "check", str(path), "subscribers/example.toml")
        assert result.exit_code == 1
        error, ok = result.output.splitlines()
        assert error.startswith(f"error: proposed/ada.toml:{line}: {message}")
        assert ok == "ok: subscribers/example.toml"

    @pytest.mark.parametrize("kind", ["syntax", "unknown key", "bad value"])
    def test_github(self, workdir, kind):
        path, line = self.broken(workdir, kind)
        result = cli("subscribers", "check", "--format", "github", str(path))
        assert result.exit_code == 1
        [command] = result.output.splitlines()
        assert command.startswith(f"::error file=proposed/ada.toml,line={line}::")

    def test_github_escapes_what_would_end_the_command(self, workdir):
        path = workdir / "subscribers" / "a,b.toml"
        path.write_text('name = "A"\nemail = "a@lab.org"\nkeywords = ["x"]\n')
        result = cli("subscribers", "check", "--format", "github", str(path))
        assert result.output.strip() == (
            "::error file=subscribers/a%2Cb.toml::(file name): 'a,b' is not a usable id "
            "(letters, digits, -_.)"
        )

    def test_a_problem_without_a_line_names_the_file(self, workdir):
        path = workdir / "subscribers" / "zed.toml"
        path.write_text('email = "z@lab.org"\nkeywords = ["x"]\n')
        result = cli("subscribers", "check", str(path))
        assert result.output.strip() == "error: subscribers/zed.toml: name: required but missing"
        result = cli("subscribers", "check", "--format", "github", str(path))
        assert (
            result.output.strip() == "::error file=subscribers/zed.toml::name: required but missing"
        )

    def test_an_address_of_another_subscriber(self, workdir):
        path = workdir / "bob.toml"
        path.write_text((workdir / "subscribers" / "example.toml").read_text())
        result = cli("subscribers", "check", str(path))
        assert result.exit_code == 1
        assert result.output.strip() == (
            "error: bob.toml:8: email: 'ada@example.org' is also used by subscribers/example.toml"
        )

    @pytest.mark.parametrize("output", ["text", "github"])
    def test_a_file_in_a_subfolder_of_subscribers_is_refused(self, workdir, output):
        """A run reads only the files directly in subscribers/: one in a subfolder would pass
        every other check and then never be served (nor could its prompt be shown)."""
        path = workdir / "subscribers" / "team" / "zed.toml"
        path.parent.mkdir()
        text = (workdir / "subscribers" / "example.toml").read_text()
        path.write_text(text.replace("ada@example.org", "zed@example.org"))
        result = cli("subscribers", "check", "--format", output, str(path))
        assert result.exit_code == 1
        why = ("(folder): only files directly in subscribers/ are served, never one in a "
               "subfolder: move it to subscribers/zed.toml")  # fmt: skip
        assert result.output.strip() == (
            f"error: subscribers/team/zed.toml: {why}"
            if output == "text"
            else f"::error file=subscribers/team/zed.toml::{why}"
        )

    def test_every_good_file_passes(self, workdir):
        result = cli(
            "subscribers",
            "check",
            "subscribers/example.toml",
            str(REPO / "subscribers" / "example.toml"),
        )
        assert result.exit_code == 0, result.output
        assert result.output.count("ok: ") == 2
