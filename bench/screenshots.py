"""Render a realistic sample digest and screenshot it in headless Chromium.

    .venv/bin/python bench/screenshots.py [--out DIR] [--papers N] [--local]
                                          [--language de] [--weekly]

Writes digest.html and four PNGs to DIR (default $TMPDIR/newsletter-screenshots): phone
(375 px) and desktop (800 px) wide, each in light and dark mode. The papers are invented; one
title carries TeX as arXiv sends it. --local: as scored by the local keyword scorer;
--language: for a reader of that language (en, de, es, fr, zh); --weekly: a weekly digest of
the week of 7-11 April 2025.
tests/test_render.py uses `sample_email` and `screenshot_all` from here.
"""

from __future__ import annotations

import argparse
import shutil
import struct
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from newsletter.config import Config  # noqa: E402
from newsletter.models import Email, Judge, Paper, Pick, Score, Selection, Usage  # noqa: E402
from newsletter.profiles import Profile, Topic  # noqa: E402
from newsletter.render import render_email  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SIZES = {"phone": (375, 5200), "desktop": (800, 4200)}
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

# (title, authors, abstract, comment, relevance, novelty)
PAPERS = [
    (
        "Sparse Mixture-of-Experts Routing as Optimal Transport: Balanced Experts Without "
        "Auxiliary Losses",
        "Lena Hoffmann, Rahul Iyer, Mei Chen, Tobias Krämer, Ada Lovelace",
        "Mixture-of-Experts (MoE) layers scale model capacity at a roughly constant compute "
        "cost, but their token routers are prone to collapse and are usually kept in balance "
        "with auxiliary losses that trade quality for load. We cast top-k routing as an "
        "entropy-regularised optimal transport problem between tokens and experts whose "
        "marginals encode the desired load, and solve it with a few Sinkhorn iterations that "
        "add under 1% to the step time. The resulting router is balanced by construction, "
        "needs no auxiliary loss and no capacity factor, and drops no tokens. On language "
        "modelling with 8 to 128 experts, it matches or improves the perplexity of the best "
        "tuned baselines while cutting the variance of expert load by two orders of "
        "magnitude. We also show that the transport plan yields a natural confidence score "
        "for each routing decision, which we use to prune rarely used experts after training "
        "with little loss.",
        "",
        10,
        10,
    ),
    (
        r"Low-Rank Adapters Provably Recover $k$-Sparse Features in \emph{Two-Layer} Networks",
        "Sofia Martínez, Jae-won Park, Oliver Grant",
        "Parameter-efficient fine-tuning methods such as LoRA update a pretrained network "
        "through a low-rank correction, yet why such corrections suffice in practice remains "
        "unclear. We study fine-tuning of a two-layer network whose target function differs "
        "from the pretrained one by a sparse set of features. We prove that gradient descent "
        "on a rank-r adapter recovers these features with a sample complexity that depends "
        "on r and the sparsity but not on the width, and that full fine-tuning needs "
        "polynomially more samples in the same setting. Experiments on synthetic tasks and "
        "on instruction tuning of a 1B-parameter model agree with the predicted scaling.",
        "A theory of why low-rank fine-tuning works, with sample-complexity bounds that "
        "separate it from full fine-tuning: squarely on the low-rank and representation "
        "learning topics.",
        9,
        8,
    ),
    (
        "Quantization-Aware Scaling Laws for Large Language Models",
        "Priya Natarajan, Marco Rossi, Hannah Becker, Yusuf Demir, Chloé Laurent, Wei Zhang, "
        "Daniel Okafor, Ingrid Solberg, Tomás Herrera, Aiko Tanaka",
        "Scaling laws guide how to spend a compute budget between parameters and data, but "
        "they ignore the precision at which the model will be deployed. We train more than "
        "400 language models from 30M to 7B parameters with quantization-aware training at "
        "2, 3, 4 and 8 bits and fit a joint law in parameters, tokens and bit width. The law "
        "predicts that, at a fixed memory budget, 4-bit models with more parameters dominate "
        "16-bit ones, and that the optimal number of training tokens grows as precision "
        "falls. We validate the predictions on held-out scales and release the checkpoints.",
        "Scaling laws that include the bit width: directly about quantization and scaling, "
        "with a large and careful empirical study.",
        9,
        7,
    ),
    (
        "When Do Sparse Autoencoders Find the Features a Transformer Uses?",
        "Gabriel Costa, Nadia Petrova",
        "Sparse autoencoders are widely used to interpret the activations of language models, "
        "but it is hard to tell whether the features they find are those the model computes "
        "with. We build transformers with known, planted features and measure when "
        "autoencoders recover them. Recovery fails in predictable ways when features are "
        "correlated or when the dictionary is too small, and a simple diagnostic based on "
        "reconstruction under feature ablation flags these failures on real models.",
        "Interpretability of representations with a controlled setting; relevant to "
        "representation learning, novel diagnostic.",
        7,
        7,
    ),
    (
        "Token Merging for Long-Context Inference Without Retraining",
        "Hiroshi Sato, Elena Popescu, Kwame Mensah",
        "We merge similar tokens in the key-value cache of a pretrained transformer during "
        "inference, reducing memory by up to 3x on contexts of 128k tokens with a small loss "
        "on retrieval benchmarks. No retraining is needed.",
        "An efficiency method for inference; compression-adjacent but incremental.",
        6,
        5,
    ),
]


def sample_selection(count: int = 12, *, day: date = date(2025, 4, 10)) -> Selection:
    """A day's selection for Ada, with invented papers; the first one is an author match."""
    picks = []
    for i in range(count):
        title, authors, abstract, comment, rel, nov = PAPERS[i % len(PAPERS)]
        if i >= len(PAPERS):
            title = f"{title} (revisited, part {i // len(PAPERS) + 1})"
            rel, nov = max(rel - i // len(PAPERS), 5), max(nov - i // len(PAPERS), 4)
        paper = Paper(
            id=f"2504.{7001 + i:05d}",
            title=title,
            authors=tuple(a.strip() for a in authors.split(",")),
            abstract=abstract,
            categories=("cs.LG", "stat.ML"),
            primary_category="cs.LG" if i % 3 else "stat.ML",
            announce_type="cross" if i % 4 == 3 else "new",
        )
        match = i == 0
        score = Score(paper.id, 10 if match else rel, 10 if match else nov, comment)
        picks.append(Pick(paper, score, author_match=match))
    usage = {
        "gpt-4o-mini": Usage("gpt-4o-mini", 9, 27_534, 18_432, 3_597, 0.0062),
        "gpt-4o": Usage("gpt-4o", 2, 8_214, 0, 1_102, 0.0316),
    }
    return Selection("ada", day, picks, listed=374, read=211, usage=usage)


def sample_profile() -> Profile:
    profile = Profile(
        name="Ada Lovelace",
        email="ada@example.org",
        categories=["cs.LG", "stat.ML"],
        authors=["Ada Lovelace"],
        topics=[Topic(name="Sparsity", relevant="MoE, pruning, low-rank, quantization")],
    )
    profile.id = "ada"
    return profile


def sample_config() -> Config:
    config = Config()
    config.output.profile_help_url = "https://example.org/newsletter/profiles"
    config.sendgrid.unsubscribe_url = "https://example.org/newsletter/unsubscribe?id=ada"
    return config


SAMPLE_PROMPT = """You help a researcher read the day's new arXiv papers. Read each paper's title
and abstract below and judge how well it matches the reader's interests.

## Topics
1. Sparsity: mixture of experts, pruning, low-rank methods, quantization.
2. Representation learning: what networks learn, and why.

## Scoring
Relevance and novelty are two independent axes, each from 1 to 10.

[PAPER LIST HERE]
"""


def sample_email(
    count: int = 12, *, local: bool = False, language: str = "en", weekly: bool = False
) -> Email:
    selection = sample_selection(count)
    if local:
        selection.usage, selection.judge = {}, Judge.KEYWORDS  # the local scorer spends nothing
    if weekly:
        selection.period = (date(2025, 4, 7), date(2025, 4, 11))
    profile = sample_profile().model_copy(update={"language": language})
    return render_email(selection, profile, sample_config(), prompt_text=SAMPLE_PROMPT)


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


def screenshot(
    page: Path,
    png: Path,
    *,
    width: int,
    height: int,
    dark: bool,
    chromium: str = CHROMIUM,
    timeout: float = 90,
) -> Path:
    """Screenshot a local HTML file in headless Chromium, in the given color scheme."""
    scheme = 0 if dark else 1  # blink's PreferredColorScheme: 0 dark, 1 light
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile_dir:
        cmd = [
            chromium,
            *FLAGS,
            f"--user-data-dir={profile_dir}",
            f"--blink-settings=preferredColorScheme={scheme}",
            f"--window-size={width},{height}",
            f"--screenshot={png}",
            page.resolve().as_uri(),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0 or not png.exists():
        raise RuntimeError(f"chromium failed ({result.returncode}): {result.stderr[-2000:]}")
    return png


def screenshot_all(html: str, out: Path, chromium: str = CHROMIUM) -> list[Path]:
    """digest.html plus the four PNGs: {phone,desktop}-{light,dark}.png."""
    out.mkdir(parents=True, exist_ok=True)
    page = out / "digest.html"
    page.write_text(html, encoding="utf-8")
    jobs = [
        (out / f"{name}-{'dark' if dark else 'light'}.png", width, height, dark)
        for name, (width, height) in SIZES.items()
        for dark in (False, True)
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = pool.map(
            lambda job: screenshot(
                page, job[0], width=job[1], height=job[2], dark=job[3], chromium=chromium
            ),
            jobs,
        )
        return list(done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(tempfile.gettempdir()) / "newsletter-screenshots"
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--papers", type=int, default=5)
    parser.add_argument("--local", action="store_true", help="scored by the local scorer")
    parser.add_argument("--language", default="en", help="the reader's: en, de, es, fr or zh")
    parser.add_argument("--weekly", action="store_true", help="a weekly digest")
    args = parser.parse_args()
    if not shutil.which(CHROMIUM):
        sys.exit(f"{CHROMIUM} not found: apt-get install chromium")
    email = sample_email(args.papers, local=args.local, language=args.language,
                         weekly=args.weekly)  # fmt: skip
    print(f"subject: {email.subject}\nhtml: {len(email.html.encode()):,} bytes")
    for png in screenshot_all(email.html, args.out):
        width, height = png_size(png)
        print(f"{png}  {width}x{height}  {png.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
