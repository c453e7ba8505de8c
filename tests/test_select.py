"""Selection: author matches first, then cutoffs, ranking and the cap."""

from newsletter.models import Paper, Score
from newsletter.profiles import Profile
from newsletter.select import AUTHOR_MATCH, author_matches, candidates, same_author, select
from tests.conftest import make_paper


def paper(pid: str, authors=("A. Nobody",), cats=("cs.LG",)) -> Paper:
    return make_paper(pid, f"Title {pid}", authors=tuple(authors), abstract="abstract",
                      categories=tuple(cats), primary_category=cats[0])  # fmt: skip


def profile(**kw) -> Profile:
    base = {"name": "Ada", "email": "a@example.org", "keywords": ["x"]}
    return Profile.model_validate({**base, **kw})


class TestAuthorNames:
    def test_latex_escapes_and_accents(self):
        assert same_author("Jürgen Müller", 'J\\"urgen M\\"uller')
        assert same_author('M\\"uller, J\\"urgen', "Jurgen Muller")
        assert same_author("Sören Mindermann", 'S\\"oren Mindermann')
        assert same_author("Maurice Fréchet", "Maurice Fr\\'echet")
        assert same_author("Søren Hauberg", "S{\\o}ren Hauberg")
        assert same_author("Soren Hauberg", "Søren Hauberg")
        assert same_author("Stefan Strauss", "Stefan Strau\\ss")
        assert same_author("Stefan Strauss", "Stefan Strauß")
        assert same_author("Lukasz Kaiser", "{\\L}ukasz Kaiser")
        assert same_author("François Chollet", "Fran{\\c{c}}ois Chollet")
        assert same_author("Ana García", "\\textbf{Ana} Garc\\'{\\i}a")

    def test_initials(self):
        assert same_author("Yoshua Bengio", "Y. Bengio")
        assert same_author("Y. Bengio", "Yoshua Bengio")
        assert same_author("Jean-Pierre Serre", "J.-P. Serre")

    def test_different_people(self):
        assert not same_author("Yoshua Bengio", "Samy Bengio")
        assert not same_author("Yoshua Bengio", "Yoshua Bengi")
        assert not same_author("", "Yoshua Bengio")


class TestSelect:
    def test_author_match_first_without_scores(self):
        prof = profile(authors=["Jürgen Müller"])
        papers = [paper("1"), paper("2", authors=("X", 'J\\"urgen M\\"uller'))]
        scores = {"1": Score("1", 10, 10, "great")}
        picks = select(prof, papers, scores)
        assert [p.paper.id for p in picks] == ["2", "1"]
        assert picks[0].author_match and picks[0].score.comment == AUTHOR_MATCH
        assert author_matches(prof, papers) == [papers[1]]

    def test_author_matches_keep_listing_order_and_need_one_followed_author(self):
        prof = profile(authors=["Y. Bengio", "Ada Lovelace"])
        papers = [
            paper("1", authors=("Samy Bengio", "Ada Byron")),
            paper("2", authors=("X. Y. Zed", "Ada Lovelace")),
            paper("3", authors=("Yoshua Bengio",)),
            paper("4", authors=()),
        ]
        assert [p.id for p in author_matches(prof, papers)] == ["2", "3"]
        assert author_matches(profile(), papers) == []

    def test_cutoffs_sort_and_cap(self):
        prof = profile(relevance_cutoff=6, novelty_cutoff=5, max_papers=3)
        papers = [paper(str(i)) for i in range(6)]
        scores = {
            "0": Score("0", 9, 4, ""),  # novelty below cutoff
            "1": Score("1", 5, 9, ""),  # relevance below cutoff
            "2": Score("2", 7, 7, ""),  # 14
            "3": Score("3", 8, 6, ""),  # 14, higher relevance wins the tie
            "4": Score("4", 10, 10, ""),  # 20
            "5": Score("5", 6, 5, ""),  # 11: cut by the cap
        }
        assert [p.paper.id for p in select(prof, papers, scores)] == ["4", "3", "2"]

    def test_unscored_papers_are_never_selected(self):
        assert select(profile(), [paper("1")], {}) == []

    def test_candidates_follow_categories_and_skip_sent(self):
        prof = profile(categories=["stat.ML"])
        papers = [paper("1"), paper("2", cats=("cs.LG", "stat.ML")), paper("3", cats=("stat.ML",))]
        assert [p.id for p in candidates(prof, papers, ["cs.LG"], {"3"})] == ["2"]
        assert [p.id for p in candidates(profile(), papers, ["cs.LG"], set())] == ["1", "2"]
