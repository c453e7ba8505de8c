"""`newsletter subscribers new --from-bibtex / --liked`: a profile seeded from a researcher's
own papers, with `liked` examples kept with the votes and a draft of keywords."""

from __future__ import annotations

from bench.fakes.arxiv import paper
from newsletter.cli import app
from newsletter.models import Vote
from newsletter.profiles import parse_profile
from newsletter.seed import draft_keywords, read_bibtex
from newsletter.store import Store
from tests.conftest import runner

BIB = r"""
@article{one, title={Sparse {Mixture}-of-Experts Routing at Scale},
  eprint={2501.01234}, archivePrefix={arXiv}}
@misc{two, title="Routing in sparse mixture-of-experts, after M{\"u}ller",
  journal={arXiv preprint arXiv:2502.04321}}
@inproceedings{three, title={Pruning sparse experts}, url={https://arxiv.org/abs/2503.00042v2}}
@book{four, title={A book without an arXiv id, 19.1234 pages}}
@article{five, title={Experts, Routed}, doi={10.48550/arXiv.2504.00007}}
"""


def new(tmp_path, *args: str):
    (tmp_path / "config.toml").write_text("")
    return runner.invoke(app, ["--config", str(tmp_path / "config.toml"), "subscribers", "new",
                               "zed", "--email", "zed@lab.org", *args])  # fmt: skip


class TestBibtex:
    def test_ids_come_from_eprint_journal_and_url_fields(self, tmp_path):
        (tmp_path / "refs.bib").write_text(BIB)
        found = read_bibtex(tmp_path / "refs.bib")
        assert found.liked == {
            "2501.01234": "Sparse Mixture-of-Experts Routing at Scale",
            "2502.04321": "Routing in sparse mixture-of-experts, after Müller",
            "2503.00042": "Pruning sparse experts",
            "2504.00007": "Experts, Routed",
        }
        assert len(found.titles) == 5

    def test_keywords_are_what_recurs_across_titles(self):
        titles = ["Sparse mixture-of-experts routing", "Routing sparse mixture-of-experts",
                  "A study of pruning"]  # fmt: skip
        assert draft_keywords(titles) == ["sparse mixture-of-experts", "routing"]

    def test_the_new_profile_is_seeded_and_its_titles_kept(self, tmp_path):
        (tmp_path / "refs.bib").write_text(BIB)
        result = new(tmp_path, "--from-bibtex", str(tmp_path / "refs.bib"))
        assert result.exit_code == 0, result.output
        assert "seeded with 4 liked papers" in result.output
        profile = parse_profile(tmp_path / "subscribers" / "zed.toml")
        assert profile.liked == ["2501.01234", "2502.04321", "2503.00042", "2504.00007"]
        assert "sparse mixture-of-experts" in profile.keywords
        with Store(tmp_path / "newsletter.db") as store:
            titles = store.votes.titles("zed", Vote.UP, 15)
        assert sorted(titles) == sorted(read_bibtex(tmp_path / "refs.bib").liked.values())

    def test_the_seeded_file_holds_no_example_interest(self, tmp_path):
        """Only what the reader's papers give: not the template's compression topic nor its
        keywords, which would bring a reader of other fields compression papers."""
        (tmp_path / "refs.bib").write_text(BIB)
        assert new(tmp_path, "--from-bibtex", str(tmp_path / "refs.bib")).exit_code == 0
        path = tmp_path / "subscribers" / "zed.toml"
        profile = parse_profile(path)
        assert profile.topics == [] and profile.keywords == draft_keywords(
            list(read_bibtex(tmp_path / "refs.bib").titles)
        )
        assert "compression" not in path.read_text().lower()
        validated = runner.invoke(app, ["--config", str(tmp_path / "config.toml"),
                                        "subscribers", "validate", "zed"])  # fmt: skip
        assert validated.exit_code == 0
        assert "warning: subscribers/zed.toml: topics: none" in validated.output

    def test_titles_that_share_no_word_draft_nothing_and_say_so(self, tmp_path):
        bib = "@article{a, title={Galaxy rotation curves}}\n@article{b, title={Quantum codes}}\n"
        (tmp_path / "refs.bib").write_text(bib)
        result = new(tmp_path, "--from-bibtex", str(tmp_path / "refs.bib"))
        assert result.exit_code == 0, result.output
        assert "no keywords drafted (the titles share no word)" in result.output
        assert "draft keywords: none" not in result.output
        text = (tmp_path / "subscribers" / "zed.toml").read_text()
        assert "\nkeywords = []\n" in text and "pruning" not in text
        validated = runner.invoke(app, ["--config", str(tmp_path / "config.toml"),
                                        "subscribers", "validate", "zed"])  # fmt: skip
        assert validated.exit_code == 1  # nothing to select by until the reader writes a topic
        assert "topics: a profile needs topics, keywords or authors" in validated.output

    def test_a_file_without_titles_writes_no_profile(self, tmp_path):
        (tmp_path / "empty.bib").write_text("@misc{x, year={2020}}\n")
        result = new(tmp_path, "--from-bibtex", str(tmp_path / "empty.bib"))
        assert result.exit_code != 0 and "no BibTeX entry with a title" in result.output
        assert not (tmp_path / "subscribers" / "zed.toml").exists()


class TestArxivIds:
    def test_ids_are_looked_up_on_arxiv(self, tmp_path, arxiv_server):
        arxiv_server.api_papers = [paper("2503.00042", title="Routing tokens to experts")]
        (tmp_path / "config.toml").write_text(f'[arxiv]\napi_url = "{arxiv_server.api_url}"\n')
        result = runner.invoke(app, ["--config", str(tmp_path / "config.toml"), "subscribers",
                                     "new", "zed", "--email", "zed@lab.org",
                                     "--liked", "2503.00042"])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert parse_profile(tmp_path / "subscribers" / "zed.toml").liked == ["2503.00042"]
        assert "draft keywords: routing tokens, experts" in result.output
