"""The local scorer: honest comments, sensible order, a pre-filter that keeps the best."""

from newsletter.keywords import NEUTRAL_NOVELTY, LocalScorer
from newsletter.models import Paper
from tests.conftest import EXAMPLE, make_paper


def paper(pid: str, title: str, abstract: str = "") -> Paper:
    return make_paper(pid, title, authors=("A",), abstract=abstract)


ON = paper("1", "Load Balancing in Sparse Mixture-of-Experts", "We prune experts in MoE layers.")
OFF = paper("2", "Federated Learning for Medical Imaging", "A segmentation benchmark.")
PLAIN = paper("3", "A Study of Soil Moisture", "Field measurements.")


def test_on_topic_outscores_off_topic():
    scorer = LocalScorer(EXAMPLE)
    on, off, plain = (scorer.score(p) for p in (ON, OFF, PLAIN))
    assert on.relevance >= 8 > plain.relevance >= off.relevance
    assert on.novelty == NEUTRAL_NOVELTY


def test_comments_name_what_matched():
    scorer = LocalScorer(EXAMPLE)
    assert "matched: " in scorer.score(ON).comment and "MoE" in scorer.score(ON).comment
    assert "off-topic: federated learning" in scorer.score(OFF).comment
    assert scorer.score(PLAIN).comment.startswith("no profile keyword matched")


def test_acronyms_match_case_sensitively():
    scorer = LocalScorer(EXAMPLE)
    assert "MoE" not in scorer.score(paper("4", "Moe the cat")).comment


def test_prefilter_keeps_the_best_fraction_in_listing_order():
    papers = [PLAIN, ON, OFF]
    assert LocalScorer(EXAMPLE).prefilter(papers, 0.34) == [ON]
    assert LocalScorer(EXAMPLE).prefilter(papers, 1.0) == papers


def test_prefilter_breaks_keyword_ties_by_similarity_to_the_profile():
    theory = paper("5", "How Deep Networks Encode Information", "A study of generalization.")
    farming = paper("6", "Crop Yield Estimates from Rainfall", "Field data from farms.")
    assert LocalScorer(EXAMPLE).raw(theory)[0] == LocalScorer(EXAMPLE).raw(farming)[0] == 0
    assert LocalScorer(EXAMPLE).prefilter([farming, theory], 0.5) == [theory]
