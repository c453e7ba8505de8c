"""A synthetic, seeded arXiv day with ground truth, a judge that plays an accurate model, and
profile variants.

`make_day(n, seed)` builds a `Listing` of n papers in cs.LG / stat.ML / cs.CL / cs.AI whose
titles (8-16 words) and abstracts (150-250 words) are assembled from phrase banks. Each paper
carries a hidden label against the example profile (subscribers/example.toml):

- relevant (~5%): core work on one of the profile's topics (MoE, pruning, quantization, KV
  cache, representation learning, LLM theory, ...), not always naming a profile keyword;
- borderline (~10%): a topic's technique (a keyword in the title) applied to an application;
- off-topic (the rest): RL, medical imaging, time series, federated learning, robotics, ...

`Day.judge` scores from those labels the way an accurate model would: relevant 8-9 (novelty
6-8), borderline 4-6 (4-6), off-topic 1-2, and the same relevance on a title alone. Served by
`DayServer` (a `FakeOpenAI`), the judge also reads which topics the request's prompt names, so a
profile without a paper's topic sees that paper as off-topic.
"""

from __future__ import annotations

import random
import re
import threading
import tomllib
from dataclasses import dataclass
from datetime import date
from itertools import combinations
from pathlib import Path
from typing import Any

from newsletter.config import Config, LLMConfig, Price
from newsletter.models import Listing, Paper, Usage
from newsletter.profiles import Profile
from tests.fakes.openai import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PROFILE = ROOT / "subscribers" / "example.toml"
DEFAULT_DAY = date(2025, 3, 4)
API_KEY = "bench-key"  # the fake's key: a benchmark sets OPENAI_API_KEY to it, never another
RELEVANT, BORDERLINE, OFF_TOPIC = "relevant", "borderline", "off-topic"
SHARES = {RELEVANT: 0.05, BORDERLINE: 0.10}
READER_CATEGORIES = ("cs.LG", "stat.ML", "cs.CL", "cs.AI")

REPR, ARCH, COMP, LLM, SCI, EMERG = (
    "Representation learning",
    "Model architecture",
    "Model compression and efficiency",
    "Large language models",
    "AI for science",
    "Emerging directions",
)
TOPICS = (REPR, ARCH, COMP, LLM, SCI, EMERG)
TOPIC_KEYWORDS = {
    REPR: ("representation learning", "sparsity"),
    ARCH: ("mixture of experts", "MoE"),
    COMP: ("pruning", "quantization", "low-rank", "KV cache", "compression", "sparsity"),
    LLM: ("foundation model",),
    SCI: ("foundation model",),
    EMERG: (),
}


def _split(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split("|") if s.strip())


@dataclass(frozen=True)
class Theme:
    """What papers on one subject say: phrase banks that fill the title and abstract templates."""

    key: str
    topic: str | None  # the profile topic it belongs to (None: off-topic)
    cats: tuple[str, ...]  # primary category first
    subjects: tuple[str, ...]  # noun phrases for titles and abstracts
    techniques: tuple[str, ...]
    area: tuple[str, ...]
    goals: tuple[str, ...]  # verb phrases
    issues: tuple[str, ...]  # clauses
    findings: tuple[str, ...]  # clauses
    benches: tuple[str, ...]
    baselines: tuple[str, ...]
    metrics: tuple[str, ...]
    gerunds: tuple[str, ...]


def theme(key: str, topic: str | None, cats: str, **banks: str) -> Theme:
    return Theme(key, topic, _split(cats), **{k: _split(v) for k, v in banks.items()})


RELEVANT_THEMES = (
    theme(
        "moe",
        ARCH,
        "cs.LG|cs.CL",
        subjects="mixture-of-experts routing|expert load balancing|sparse MoE layers|"
        "token-to-expert assignment|expert specialization in MoE language models",
        techniques="expert-choice routing|an auxiliary-loss-free balancing rule|"
        "differentiable top-k gating|shared and routed experts",
        area="sparse conditional computation|large-scale language model pretraining",
        goals="scale model capacity without increasing per-token compute|"
        "keep every expert busy during training|route tokens to the most useful experts",
        issues="routers collapse onto a handful of experts early in training|"
        "auxiliary balancing losses interfere with the language modeling objective|"
        "expert utilization is highly uneven across layers",
        findings="experts specialize by syntactic role rather than by topic|"
        "balanced routing emerges without any auxiliary loss|"
        "the optimal number of active experts grows with model size",
        benches="a 1.3B-parameter MoE trained on 100B tokens|C4 and the Pile|"
        "downstream zero-shot tasks",
        baselines="Switch Transformer|GShard-style top-2 routing|dense models of equal compute",
        metrics="validation perplexity|training throughput|downstream accuracy",
        gerunds="Scaling|Routing|Balancing|Understanding",
    ),
    theme(
        "attention",
        ARCH,
        "cs.LG|cs.CL",
        subjects="linear attention|attention sinks in Transformers|"
        "positional encodings for length generalization|gated attention layers|"
        "state-space alternatives to attention",
        techniques="a kernelized attention operator|a learned forgetting gate|"
        "rotary embeddings with adaptive frequencies|chunked recurrent state updates",
        area="sequence modeling|Transformer architecture design",
        goals="model long contexts at linear cost|explain why attention concentrates on "
        "the first token|extrapolate to sequences longer than those seen in training",
        issues="linear-time variants still lag behind softmax attention on recall tasks|"
        "attention heads waste capacity on uninformative tokens|"
        "models fail abruptly beyond their training context length",
        findings="attention sinks act as a learned no-op that stabilizes the residual stream|"
        "a single gate closes most of the gap to softmax attention|"
        "length generalization depends on the spectrum of the positional encoding",
        benches="language modeling at 125M to 1.3B parameters|the Long Range Arena|"
        "associative recall and needle-in-a-haystack tests",
        baselines="FlashAttention Transformers|Mamba|RetNet",
        metrics="perplexity|recall accuracy|tokens per second",
        gerunds="Rethinking|Understanding|Revisiting|Designing",
    ),
    theme(
        "pruning",
        COMP,
        "cs.LG",
        subjects="one-shot pruning of large language models|structured pruning|"
        "N:M sparsity|unstructured sparsity in Transformers|lottery tickets at scale",
        techniques="second-order saliency scores|a layer-wise reconstruction objective|"
        "activation-aware weight importance|iterative magnitude pruning with rewinding",
        area="model compression|efficient inference for large models",
        goals="remove half of the weights without retraining|"
        "accelerate inference on commodity GPUs|find sparse subnetworks early in training",
        issues="pruning beyond 50% sparsity sharply degrades perplexity|"
        "saliency criteria ignore interactions between weights|"
        "unstructured sparsity rarely translates into wall-clock speedups",
        findings="a small calibration set suffices to recover most of the accuracy|"
        "pruned networks retain the features of the dense model in their top layers|"
        "the sparsity pattern can be fixed after a few percent of training",
        benches="LLaMA-2 7B and 13B|OPT models up to 30B parameters|"
        "ImageNet with ResNet-50 and ViT-B",
        baselines="SparseGPT|Wanda|magnitude pruning",
        metrics="perplexity at 60% sparsity|end-to-end latency|zero-shot accuracy",
        gerunds="Pruning|Sparsifying|Compressing|Slimming",
    ),
    theme(
        "quantization",
        COMP,
        "cs.LG|cs.CL",
        subjects="post-training quantization of LLMs|4-bit weight quantization|"
        "activation outliers in quantized Transformers|low-bit training|FP8 training",
        techniques="Hadamard rotations of the weight space|per-channel scaling learned "
        "from calibration data|a mixed-precision bit allocation|vector quantization codebooks",
        area="model compression|low-precision inference",
        goals="run 70B-parameter models on a single GPU|"
        "quantize weights and activations to 4 bits|train in 8-bit floating point end to end",
        issues="a few outlier channels dominate the quantization error|"
        "rounding errors accumulate across layers|low-bit training diverges at scale",
        findings="outliers arise from a small number of attention heads|"
        "rotation makes the weight distribution nearly Gaussian|"
        "quantization error concentrates in the last layers",
        benches="LLaMA-3 8B and 70B|WikiText-2 and C4|the Open LLM Leaderboard tasks",
        baselines="GPTQ|AWQ|SmoothQuant",
        metrics="perplexity|memory footprint|decoding throughput",
        gerunds="Quantizing|Compressing|Rotating|Calibrating",
    ),
    theme(
        "lowrank",
        COMP,
        "cs.LG",
        subjects="low-rank adaptation|low-rank factorization of weight matrices|"
        "rank-adaptive compression|low-rank gradient projection",
        techniques="a spectral initialization|rank allocation by singular value decay|"
        "a Riemannian optimizer on the manifold of fixed-rank matrices",
        area="parameter-efficient fine-tuning|memory-efficient training",
        goals="fine-tune large models with a fraction of the memory|"
        "compress weight matrices without losing accuracy|train with low-rank gradients",
        issues="fixed ranks waste capacity in some layers and starve others|"
        "low-rank updates underperform full fine-tuning on hard tasks|"
        "the optimizer state dominates memory during training",
        findings="the effective rank of weight updates is far below the chosen rank|"
        "spectral initialization closes most of the gap to full fine-tuning|"
        "gradient low-rankness emerges after the first few thousand steps",
        benches="GLUE and commonsense reasoning|pretraining LLaMA-style models on C4|"
        "instruction-following benchmarks",
        baselines="LoRA|DoRA|GaLore",
        metrics="accuracy|optimizer memory|training time",
        gerunds="Adapting|Factorizing|Compressing|Training",
    ),
    theme(
        "kvcache",
        COMP,
        "cs.CL|cs.LG",
        subjects="KV cache compression|KV cache eviction|KV cache quantization|"
        "memory-efficient long-context inference",
        techniques="attention-score-based token eviction|per-head key quantization|"
        "cross-layer cache sharing|a learned cache budget per head",
        area="long-context inference|serving large language models",
        goals="shrink the KV cache by an order of magnitude|serve longer contexts on the same "
        "hardware|keep decoding latency flat as the context grows",
        issues="the KV cache grows linearly with context length and dominates GPU memory|"
        "eviction heuristics discard tokens that become important later|"
        "keys have outlier channels that resist quantization",
        findings="a small set of heavy-hitter tokens carries most of the attention mass|"
        "keys and values need different bit widths|"
        "adjacent layers store highly redundant caches",
        benches="LongBench and RULER|needle-in-a-haystack retrieval up to 128K tokens|"
        "Llama-3.1 8B and Mistral 7B",
        baselines="H2O|StreamingLLM|KIVI",
        metrics="memory footprint|accuracy at 10% cache budget|decoding throughput",
        gerunds="Compressing|Evicting|Quantizing|Sharing",
    ),
    theme(
        "replearn",
        REPR,
        "cs.LG|stat.ML",
        subjects="contrastive representation learning|sparse autoencoders|dictionary "
        "learning of neural features|self-supervised representations|representation collapse",
        techniques="a spectral contrastive objective|sparse dictionary learning|"
        "an information-theoretic regularizer|whitening of embeddings",
        area="representation learning|self-supervised learning",
        goals="learn features that transfer across tasks|"
        "recover interpretable features from activations|avoid collapse without negatives",
        issues="contrastive objectives depend heavily on augmentations|"
        "learned dictionaries contain many dead or redundant features|"
        "dimensional collapse silently limits downstream accuracy",
        findings="representations are linear in a small set of sparse features|"
        "collapse is caused by the interplay of augmentation strength and weight decay|"
        "the learned features are shared across architectures",
        benches="ImageNet linear probing|CIFAR-100 and STL-10|activations of a 1B-parameter "
        "language model",
        baselines="SimCLR|BYOL and VICReg|standard sparse autoencoders",
        metrics="linear-probe accuracy|reconstruction error|feature interpretability scores",
        gerunds="Understanding|Learning|Disentangling|Probing",
    ),
    theme(
        "dynamics",
        REPR,
        "cs.LG|stat.ML",
        subjects="training dynamics of deep networks|grokking|neural collapse|"
        "feature learning in two-layer networks|the edge of stability",
        techniques="a mean-field analysis|a solvable teacher-student model|"
        "a dynamical systems view of gradient descent",
        area="deep learning theory|the theory of generalization",
        goals="explain when networks generalize after memorizing|"
        "predict which features a network learns first|characterize the implicit bias of SGD",
        issues="existing theory covers only the lazy regime|"
        "the phenomenon is documented but not explained|"
        "kernel approximations miss feature learning",
        findings="generalization follows a sharp phase transition in weight norm|"
        "networks learn features in order of decreasing signal strength|"
        "large learning rates select flatter and more structured solutions",
        benches="modular arithmetic tasks|synthetic sparse parity problems|"
        "CIFAR-10 with ResNets and MLPs",
        baselines="neural tangent kernel predictions|prior mean-field analyses|"
        "standard learning-rate schedules",
        metrics="test error|alignment between predicted and observed features",
        gerunds="Explaining|Characterizing|Understanding|Predicting",
    ),
    theme(
        "llmtheory",
        LLM,
        "cs.CL|cs.LG",
        subjects="in-context learning in Transformers|scaling laws for LLM pretraining|"
        "induction heads|length generalization of language models|"
        "the mechanics of next-token prediction",
        techniques="a circuit-level analysis|a linear-regression model of in-context learning|"
        "a compute-optimal scaling fit|controlled pretraining on synthetic languages",
        area="the science of large language models|LLM pretraining",
        goals="explain how LLMs learn from examples in their context|predict the loss of "
        "larger models from smaller runs|explain the emergence of new abilities",
        issues="emergent abilities are poorly understood and hard to predict|"
        "scaling laws are fitted post hoc and transfer poorly between setups|"
        "mechanistic accounts rarely survive beyond toy models",
        findings="in-context learning is implemented by a two-stage circuit that forms abruptly|"
        "the data mixture shifts the scaling exponent but not the intercept|"
        "emergence disappears under a continuous metric",
        benches="GPT-2 and Pythia checkpoints|synthetic regression tasks|"
        "pretraining runs from 10M to 1B parameters",
        baselines="Chinchilla scaling|previous circuit analyses|standard pretraining",
        metrics="loss prediction error|in-context accuracy",
        gerunds="Explaining|Predicting|Dissecting|Understanding",
    ),
    theme(
        "science",
        SCI,
        "cs.LG|q-bio.BM",
        subjects="protein language models|equivariant generative models for molecules|"
        "flow matching for molecular conformations|foundation models for materials",
        techniques="SE(3)-equivariant flow matching|a geometric diffusion prior|"
        "a tokenization of atomic structure",
        area="machine learning for molecular science|generative modeling of proteins",
        goals="generate stable molecules with desired properties|"
        "design proteins that fold as intended|predict conformational ensembles",
        issues="generative models ignore the physical symmetries of molecules|"
        "sampling is slow and often produces invalid structures|"
        "models trained on one family transfer poorly to others",
        findings="equivariance is essential at small data scales but not at large ones|"
        "a single model transfers across protein families|"
        "flow matching samples are more diverse than diffusion samples",
        benches="QM9 and GEOM-Drugs|CATH protein structures|the Materials Project",
        baselines="EDM|RFdiffusion|GeoDiff",
        metrics="validity and stability|designability|sampling time",
        gerunds="Generating|Designing|Learning",
    ),
    theme(
        "emerging",
        EMERG,
        "stat.ML|cs.LG",
        subjects="benign overfitting|double descent|the implicit bias of gradient descent|"
        "learning without backpropagation",
        techniques="a random-matrix analysis|a forward-only learning rule|"
        "an exact characterization of the minimum-norm interpolator",
        area="learning theory|the foundations of deep learning",
        goals="challenge the assumption that overparameterization always helps|"
        "train deep networks without backpropagation|explain double descent beyond linear models",
        issues="classical bounds are vacuous for modern networks|"
        "the common explanation relies on assumptions that fail in practice|"
        "backpropagation is biologically implausible and hard to parallelize",
        findings="overfitting is benign only in a narrow range of noise levels|"
        "a forward-only rule matches backpropagation on medium-sized networks|"
        "the double descent peak is an artifact of the regularization path",
        benches="synthetic Gaussian data|CIFAR-10 and MNIST|kernel regression benchmarks",
        baselines="standard uniform-convergence bounds|backpropagation|ridge regression",
        metrics="excess risk|test accuracy",
        gerunds="Revisiting|Challenging|Rethinking",
    ),
)

# Each borderline paper: a technique that names a profile keyword, applied to an application.
BORDERLINE_TECHNIQUES = (
    (COMP, "post-training quantization", "Quantized"),
    (COMP, "8-bit quantization", "Low-Bit"),
    (COMP, "structured pruning", "Pruned"),
    (COMP, "low-rank adaptation", "Low-Rank Adapted"),
    (ARCH, "a mixture-of-experts model", "Mixture-of-Experts"),
    (ARCH, "MoE layers", "MoE-Based"),
    (REPR, "contrastive representation learning", "Contrastive"),
    (REPR, "self-supervised representation learning", "Self-Supervised"),
    (COMP, "KV cache compression", "Memory-Efficient"),
    (SCI, "a foundation model", "Foundation-Model-Based"),
)


@dataclass(frozen=True)
class App:
    key: str
    cats: tuple[str, ...]
    objects: tuple[str, ...]  # the task, as a noun phrase
    settings: tuple[str, ...]  # where it runs or who uses it
    issues: tuple[str, ...]
    datasets: tuple[str, ...]
    metrics: tuple[str, ...]


def app(key: str, cats: str, **banks: str) -> App:
    return App(key, _split(cats), **{k: _split(v) for k, v in banks.items()})


APPS = (
    app(
        "ecg",
        "cs.LG|eess.SP",
        objects="ECG arrhythmia classification|wearable ECG monitoring",
        settings="low-power wearable devices|remote cardiac monitoring",
        issues="continuous monitoring drains the battery of wearable devices|"
        "clinicians need alerts within seconds",
        datasets="MIT-BIH and PTB-XL|a cohort of 12,000 patients",
        metrics="F1 score|detection latency",
    ),
    app(
        "crop",
        "cs.LG|cs.CV",
        objects="crop disease detection|weed segmentation in field images",
        settings="edge devices in agricultural fields|smartphones used by farmers",
        issues="field devices have little memory and no reliable connectivity|"
        "labels from agronomists are scarce",
        datasets="PlantVillage|a new dataset of 40,000 field images",
        metrics="classification accuracy|mean IoU",
    ),
    app(
        "load",
        "cs.LG|eess.SY",
        objects="short-term electricity load forecasting|wind power forecasting",
        settings="regional grid operators|utility control rooms",
        issues="demand patterns shift with weather and holidays|"
        "forecasts must be refreshed every fifteen minutes",
        datasets="ISO New England load data|the GEFCom2014 benchmark",
        metrics="MAPE|RMSE",
    ),
    app(
        "speech",
        "cs.CL|eess.AS",
        objects="on-device speech recognition|keyword spotting",
        settings="smartwatches and earbuds|offline voice assistants",
        issues="models must fit within a few megabytes of memory|"
        "accented speech remains hard to recognize",
        datasets="LibriSpeech and Common Voice|Google Speech Commands",
        metrics="word error rate|real-time factor",
    ),
    app(
        "legal",
        "cs.CL|cs.AI",
        objects="legal document summarization|contract clause retrieval",
        settings="law firms|court archives",
        issues="legal documents are long and full of domain-specific terms|"
        "errors in summaries carry legal risk",
        datasets="BillSum and a corpus of 8,000 contracts|the CUAD benchmark",
        metrics="ROUGE-L|retrieval recall",
    ),
    app(
        "retail",
        "cs.LG|cs.IR",
        objects="click-through rate prediction|retail demand forecasting",
        settings="large e-commerce platforms|online advertising systems",
        issues="serving latency budgets are a few milliseconds|item catalogs change daily",
        datasets="Criteo and Avazu|a proprietary dataset of 2 billion impressions",
        metrics="AUC|serving latency",
    ),
    app(
        "satellite",
        "cs.CV|cs.LG",
        objects="satellite image segmentation|land-cover classification",
        settings="onboard satellite processors|disaster response teams",
        issues="downlink bandwidth is limited|cloud cover corrupts many images",
        datasets="Sentinel-2 and DeepGlobe|the xView2 building damage dataset",
        metrics="mean IoU|overall accuracy",
    ),
    app(
        "clinical",
        "cs.CL|cs.LG",
        objects="clinical note classification|ICD code assignment",
        settings="hospital information systems|emergency departments",
        issues="patient data cannot leave the hospital|notes are noisy and abbreviated",
        datasets="MIMIC-IV discharge summaries|notes from three hospitals",
        metrics="micro-F1|AUROC",
    ),
    app(
        "traffic",
        "cs.LG|cs.AI",
        objects="traffic flow prediction|ride-hailing demand forecasting",
        settings="city traffic management centers|ride-hailing platforms",
        issues="sensor networks are sparse and unreliable|demand spikes around events",
        datasets="METR-LA and PEMS-BAY|trip records from New York City",
        metrics="MAE|RMSE",
    ),
    app(
        "translation",
        "cs.CL",
        objects="low-resource machine translation|code-switched speech translation",
        settings="community translation projects|mobile translation apps",
        issues="parallel data is scarce for most languages|models must run offline on phones",
        datasets="FLORES-200|a new corpus of 50,000 sentence pairs",
        metrics="BLEU|chrF",
    ),
    app(
        "fraud",
        "cs.LG|cs.CR",
        objects="credit card fraud detection|anti-money-laundering alerts",
        settings="payment processors|retail banks",
        issues="fraud is rare and patterns change quickly|decisions must be explainable",
        datasets="the IEEE-CIS fraud dataset|transactions from a European bank",
        metrics="precision at 1% recall|AUPRC",
    ),
    app(
        "radiology",
        "eess.IV|cs.CV",
        objects="chest X-ray report generation|brain MRI tumor segmentation",
        settings="radiology departments|portable scanners",
        issues="annotations require expert radiologists|scanners differ across hospitals",
        datasets="MIMIC-CXR and CheXpert|BraTS 2023",
        metrics="Dice score|clinical efficacy metrics",
    ),
)

OFF_THEMES = (
    theme(
        "rl",
        None,
        "cs.LG|cs.AI",
        subjects="offline reinforcement learning|policy optimization|reward shaping|"
        "multi-agent reinforcement learning|exploration in sparse-reward environments",
        techniques="a conservative value penalty|intrinsic curiosity bonuses|"
        "a trust-region policy update|model-based rollouts",
        area="reinforcement learning|sequential decision making",
        goals="learn policies from fixed datasets|explore efficiently with sparse rewards|"
        "coordinate many agents without communication",
        issues="value estimates are overoptimistic on out-of-distribution actions|"
        "agents rarely observe any reward early in training|"
        "non-stationarity makes independent learners unstable",
        findings="conservatism matters more than the choice of policy class|"
        "simple count-based bonuses rival learned curiosity|"
        "sharing a critic stabilizes decentralized training",
        benches="D4RL locomotion tasks|Atari 100k|the StarCraft Multi-Agent Challenge",
        baselines="CQL and IQL|PPO|QMIX",
        metrics="normalized return|sample efficiency",
        gerunds="Learning|Exploring|Optimizing|Stabilizing",
    ),
    theme(
        "medimg",
        None,
        "eess.IV|cs.CV|cs.LG",
        subjects="brain MRI segmentation|chest X-ray classification|"
        "histopathology slide analysis|retinal fundus image grading",
        techniques="a U-Net with attention gates|multiple-instance learning|"
        "test-time adaptation|uncertainty-aware ensembling",
        area="medical image analysis|computer-aided diagnosis",
        goals="segment tumors accurately across scanners|"
        "grade disease severity from a single image|flag uncertain cases for review",
        issues="annotated scans are scarce and expensive|"
        "models degrade on images from unseen hospitals|class imbalance is severe",
        findings="uncertainty estimates correlate with radiologist disagreement|"
        "test-time adaptation recovers most of the cross-site drop|"
        "slide-level labels suffice for accurate localization",
        benches="BraTS and ISIC|CheXpert and MIMIC-CXR|Camelyon16",
        baselines="nnU-Net|DenseNet-121|TransUNet",
        metrics="Dice score|AUROC|sensitivity at fixed specificity",
        gerunds="Segmenting|Diagnosing|Detecting|Grading",
    ),
    theme(
        "timeseries",
        None,
        "cs.LG|stat.ML",
        subjects="multivariate time series forecasting|anomaly detection in sensor streams|"
        "irregularly sampled time series|long-horizon forecasting",
        techniques="patch-based temporal encoders|a frequency-domain decomposition|"
        "neural ordinary differential equations|a seasonal-trend mixer",
        area="time series analysis|forecasting",
        goals="forecast hundreds of correlated series jointly|detect anomalies without labels|"
        "handle missing and irregular observations",
        issues="long horizons amplify error accumulation|"
        "channel dependencies are hard to model without overfitting|"
        "anomalies are rare and poorly defined",
        findings="simple linear models remain competitive on most benchmarks|"
        "frequency-domain features improve long-horizon accuracy|"
        "channel independence acts as a strong regularizer",
        benches="ETTh1, ETTm2 and Weather|the UCR anomaly archive|PhysioNet 2012",
        baselines="PatchTST|DLinear|Informer",
        metrics="MSE and MAE|F1 score",
        gerunds="Forecasting|Detecting|Modeling|Decomposing",
    ),
    theme(
        "federated",
        None,
        "cs.LG|cs.DC",
        subjects="federated learning under client drift|personalized federated learning|"
        "communication-efficient federated optimization|federated learning with "
        "differential privacy",
        techniques="client-side control variates|adaptive server aggregation|"
        "gradient compression with error feedback|secure aggregation",
        area="federated learning|distributed optimization",
        goals="train across devices without sharing raw data|"
        "reduce communication rounds|personalize models to each client",
        issues="heterogeneous client data slows convergence|"
        "stragglers delay every round|privacy noise degrades accuracy",
        findings="drift correction matters most under extreme heterogeneity|"
        "a few rounds of local fine-tuning give most of the personalization gains|"
        "compression and privacy noise interact nonlinearly",
        benches="FEMNIST and Shakespeare|CIFAR-10 with Dirichlet splits|"
        "a deployment on 10,000 phones",
        baselines="FedAvg|SCAFFOLD|FedProx",
        metrics="test accuracy|communication cost",
        gerunds="Federating|Personalizing|Aggregating|Accelerating",
    ),
    theme(
        "robotics",
        None,
        "cs.RO|cs.LG",
        subjects="robotic grasping|legged locomotion|visuomotor policies|"
        "sim-to-real transfer for manipulation",
        techniques="domain randomization|diffusion policies|teleoperated demonstrations|"
        "a learned contact model",
        area="robot learning|embodied control",
        goals="grasp unseen objects reliably|walk over rough terrain|"
        "transfer policies from simulation to hardware",
        issues="real-world data collection is slow and costly|"
        "policies overfit to the simulator|contact dynamics are hard to model",
        findings="a few real demonstrations close most of the sim-to-real gap|"
        "policy success depends more on data diversity than on architecture|"
        "proprioception alone suffices on most terrains",
        benches="a Franka arm on 40 household objects|a quadruped on outdoor trails|"
        "RLBench and MetaWorld",
        baselines="behavior cloning|Diffusion Policy|RT-1",
        metrics="success rate|failure rate per hour",
        gerunds="Grasping|Walking|Manipulating|Transferring",
    ),
    theme(
        "recsys",
        None,
        "cs.IR|cs.LG",
        subjects="sequential recommendation|cold-start recommendation|"
        "conversational recommender systems|fairness in ranking",
        techniques="graph-based collaborative filtering|a user-intent memory|"
        "counterfactual data augmentation",
        area="recommender systems|information retrieval",
        goals="recommend items to new users|model evolving user interests|"
        "balance exposure across providers",
        issues="interaction data is sparse and biased by past recommendations|"
        "new items have no interaction history|popularity bias harms niche providers",
        findings="intent memories help most for infrequent users|"
        "debiasing improves both accuracy and diversity|"
        "offline metrics overstate online gains",
        benches="MovieLens-1M and Amazon Reviews|Yelp and Gowalla|an online A/B test",
        baselines="SASRec|LightGCN|BERT4Rec",
        metrics="NDCG@10|Recall@20|click-through rate",
        gerunds="Recommending|Ranking|Personalizing",
    ),
    theme(
        "graphs",
        None,
        "cs.LG|cs.SI",
        subjects="node classification under heterophily|link prediction|"
        "graph neural networks for traffic networks|oversmoothing in deep GNNs",
        techniques="signed message passing|positional encodings from random walks|"
        "a graph rewiring step",
        area="graph representation learning|network science",
        goals="classify nodes whose neighbors differ from them|predict missing links|"
        "train deeper message-passing networks",
        issues="message passing assumes homophily|deep GNNs oversmooth node features|"
        "benchmarks are small and saturated",
        findings="rewiring helps only when the graph has bottlenecks|"
        "simple baselines match GNNs on heterophilous graphs|"
        "oversmoothing is driven by normalization rather than depth",
        benches="Cora, Citeseer and PubMed|the OGB link prediction suite|"
        "heterophilous benchmarks such as Chameleon",
        baselines="GCN|GraphSAGE|GAT",
        metrics="accuracy|Hits@50",
        gerunds="Rewiring|Propagating|Predicting",
    ),
    theme(
        "causal",
        None,
        "stat.ML|stat.ME|cs.LG",
        subjects="causal effect estimation|causal discovery from observational data|"
        "off-policy evaluation|conformal prediction under covariate shift",
        techniques="doubly robust estimators|score-based structure learning|"
        "weighted conformal scores",
        area="causal inference|statistical machine learning",
        goals="estimate treatment effects without randomized trials|"
        "recover causal graphs from data|give valid prediction intervals",
        issues="unobserved confounding biases effect estimates|"
        "the search space of graphs grows super-exponentially|"
        "coverage guarantees fail under distribution shift",
        findings="doubly robust estimators remain stable with flexible nuisance models|"
        "coverage is restored with estimated likelihood ratios|"
        "structure learning is reliable only with strong signal",
        benches="IHDP and ACIC benchmarks|synthetic linear Gaussian graphs|"
        "electronic health records",
        baselines="inverse propensity weighting|NOTEARS|split conformal prediction",
        metrics="PEHE|structural Hamming distance|coverage",
        gerunds="Estimating|Discovering|Calibrating",
    ),
    theme(
        "fairness",
        None,
        "cs.LG|cs.CY",
        subjects="algorithmic fairness in lending|bias auditing of classifiers|"
        "fair representation in hiring tools",
        techniques="group-conditional calibration|a post-processing threshold rule|"
        "adversarial debiasing",
        area="algorithmic fairness|responsible machine learning",
        goals="equalize error rates across groups|audit deployed models|"
        "trade off accuracy and fairness transparently",
        issues="fairness criteria are mutually incompatible|"
        "protected attributes are often unavailable|audits rarely reach deployed systems",
        findings="post-processing is nearly optimal under common criteria|"
        "proxy attributes suffice for reliable audits|"
        "fairness gaps widen under distribution shift",
        benches="COMPAS and Adult|the Folktables datasets|a hiring dataset from a large firm",
        baselines="reweighing|equalized-odds post-processing",
        metrics="demographic parity gap|equalized odds difference",
        gerunds="Auditing|Debiasing|Measuring",
    ),
    theme(
        "bayesopt",
        None,
        "stat.ML|cs.LG",
        subjects="Bayesian optimization|hyperparameter optimization|"
        "Gaussian process surrogates for experimental design",
        techniques="a trust-region acquisition rule|multi-fidelity evaluations|"
        "sparse variational Gaussian processes",
        area="black-box optimization|sequential experimental design",
        goals="optimize expensive functions with few evaluations|"
        "tune hyperparameters under a fixed budget|design experiments in batches",
        issues="Gaussian processes scale poorly with the number of observations|"
        "high-dimensional search spaces defeat standard acquisition functions",
        findings="local trust regions dominate in high dimensions|"
        "cheap low-fidelity runs rank configurations reliably",
        benches="HPO-B and YAHPO|synthetic Branin and Hartmann functions|"
        "a chemistry lab with automated synthesis",
        baselines="expected improvement|TuRBO|Hyperband",
        metrics="simple regret|evaluations to target",
        gerunds="Optimizing|Tuning|Designing",
    ),
    theme(
        "driving",
        None,
        "cs.RO|cs.CV|cs.LG",
        subjects="trajectory prediction for autonomous driving|end-to-end driving policies|"
        "3D object detection from lidar",
        techniques="a scene-graph encoder|bird's-eye-view features|"
        "closed-loop training in simulation",
        area="autonomous driving|perception for robotics",
        goals="predict the motion of surrounding agents|drive safely in dense traffic|"
        "detect pedestrians at long range",
        issues="rare events dominate safety but are missing from datasets|"
        "open-loop metrics do not reflect driving quality",
        findings="closed-loop training reduces collisions by half|"
        "map information matters more than agent history",
        benches="nuScenes and Waymo Open|the CARLA leaderboard|Argoverse 2",
        baselines="Wayformer|TransFuser|CenterPoint",
        metrics="minADE|driving score|mAP",
        gerunds="Predicting|Driving|Detecting",
    ),
    theme(
        "agents",
        None,
        "cs.AI|cs.CL",
        subjects="LLM agents for web navigation|tool-using language agents|"
        "multi-agent debate between LLMs|planning with language model agents",
        techniques="a reflection loop|a hierarchical planner|retrieval of past trajectories",
        area="language agents|autonomous AI systems",
        goals="complete multi-step tasks on real websites|call external tools reliably|"
        "plan over long horizons",
        issues="agents fail on long tasks due to compounding errors|"
        "tool calls are brittle and poorly grounded",
        findings="reflection helps only when feedback is informative|"
        "most failures come from misreading the page state",
        benches="WebArena and Mind2Web|ToolBench|ALFWorld",
        baselines="ReAct|Reflexion|GPT-4 with chain-of-thought prompting",
        metrics="task success rate|cost per task",
        gerunds="Planning|Navigating|Orchestrating",
    ),
    theme(
        "llmsafety",
        None,
        "cs.CL|cs.CR",
        subjects="jailbreak attacks on LLMs|hallucination detection in LLM outputs|"
        "red-teaming chat assistants|benchmarking LLM reasoning on math word problems",
        techniques="automatically generated adversarial prompts|a self-consistency check|"
        "a new human-annotated benchmark",
        area="LLM safety and evaluation|trustworthy language technology",
        goals="measure how often assistants follow harmful requests|"
        "flag hallucinated statements|evaluate reasoning beyond memorization",
        issues="safety training is easily bypassed|"
        "existing benchmarks are contaminated by pretraining data",
        findings="most attacks transfer across model families|"
        "self-consistency detects hallucinations with high precision|"
        "performance drops sharply on perturbed problems",
        benches="AdvBench and HarmBench|TruthfulQA|GSM8K and a perturbed variant",
        baselines="GCG attacks|SelfCheckGPT|standard prompting",
        metrics="attack success rate|AUROC|accuracy",
        gerunds="Jailbreaking|Detecting|Evaluating|Benchmarking",
    ),
    theme(
        "nlptasks",
        None,
        "cs.CL",
        subjects="aspect-based sentiment analysis|named entity recognition in tweets|"
        "question answering over tables|dialogue state tracking",
        techniques="instruction tuning on task data|prompt ensembles|data augmentation "
        "with paraphrases",
        area="natural language processing|information extraction",
        goals="extract entities from noisy text|answer questions over structured data|"
        "track user goals across a conversation",
        issues="annotated data is expensive for new domains|models confuse rare entities",
        findings="instruction-tuned models rival supervised ones with 100 labels|"
        "table linearization choices change accuracy by ten points",
        benches="SemEval-2014 and WNUT-17|WikiTableQuestions|MultiWOZ 2.4",
        baselines="fine-tuned BERT|T5|GPT-3.5 few-shot prompting",
        metrics="F1 score|exact match|joint goal accuracy",
        gerunds="Extracting|Answering|Tracking",
    ),
    theme(
        "diffusion",
        None,
        "cs.CV|cs.LG",
        subjects="text-to-image diffusion models|video generation with diffusion|"
        "image editing with diffusion priors",
        techniques="classifier-free guidance schedules|cross-attention control|"
        "consistency distillation",
        area="generative modeling of images|visual content creation",
        goals="generate images that follow complex prompts|edit images while preserving "
        "identity|sample in a few steps",
        issues="guidance trades diversity for fidelity|edits leak into unrelated regions",
        findings="dynamic guidance improves prompt adherence without losing diversity|"
        "four sampling steps suffice after distillation",
        benches="MS-COCO and DrawBench|UCF-101|a user study with 50 participants",
        baselines="Stable Diffusion XL|Prompt-to-Prompt|DDIM sampling",
        metrics="FID|CLIP score|human preference",
        gerunds="Generating|Editing|Distilling",
    ),
    theme(
        "climate",
        None,
        "physics.ao-ph|cs.LG",
        subjects="weather forecasting with machine learning|precipitation nowcasting|"
        "downscaling of climate projections",
        techniques="a graph neural weather model|a probabilistic ensemble|"
        "a super-resolution network",
        area="machine learning for weather and climate|earth system modeling",
        goals="forecast global weather ten days ahead|predict heavy rain an hour ahead|"
        "produce kilometer-scale climate projections",
        issues="numerical weather prediction is expensive|extremes are underrepresented",
        findings="learned models match operational forecasts at a fraction of the cost|"
        "ensembles capture extreme events better than single runs",
        benches="ERA5 reanalysis|radar data from national weather services|CMIP6 projections",
        baselines="the ECMWF HRES forecast|GraphCast|bicubic interpolation",
        metrics="RMSE|CRPS|critical success index",
        gerunds="Forecasting|Nowcasting|Downscaling",
    ),
)

TITLE_TEMPLATES = (
    "{method}: {gerund} {subject} with {technique}",
    "{subject} via {technique}",
    "On the Role of {technique} in {subject}",
    "Towards Better {subject} through {technique}",
    "{method}: A Simple Framework for {subject}",
    "When Does {technique} Help {subject}? An Empirical Study",
    "{gerund} {subject}: {finding}",
    "{method}: {technique} for {subject}",
    "Rethinking {subject} from the Perspective of {technique}",
)
TITLE_SUFFIXES = (
    "at Scale", "in Large Language Models", "without Retraining", "with Provable Guarantees",
    "for Efficient Inference", "Beyond the Lazy Regime", "in Practice", "Revisited",
)  # fmt: skip
OFF_SUFFIXES = (
    "under Distribution Shift", "in the Wild", "with Limited Labels", "at Scale",
    "for Real-World Deployment", "with Theoretical Guarantees",
)  # fmt: skip
BORDER_TITLES = (
    "{adj} Transformers for {obj} on {setting}",
    "{method}: {adj} Models for Real-Time {obj}",
    "Efficient {obj} with {technique} for {setting}",
    "Deploying {adj} Networks for {obj} in {setting}",
    "{method}: Leveraging {technique} for Accurate {obj}",
    "{a_adj} Approach to {obj}: A Case Study in {setting}",
)
CONTEXT = (
    "{Subject} has become a central ingredient of {area}.",
    "Recent progress in {area} has been driven in large part by advances in {subject}.",
    "{Subject} is widely used to {goal}, yet {issue}.",
    "Understanding {subject} remains a long-standing question in {area}.",
    "As models and datasets grow, {subject} plays an increasingly important role in {area}.",
)
PROBLEM = (
    "However, {issue2}, and existing methods offer little insight into why.",
    "Despite its practical success, {issue2}.",
    "Prior work has studied this question mostly empirically, and a principled account "
    "is still missing.",
    "In practice, {issue2}, which limits how far current methods can be pushed.",
    "A central difficulty is that {issue2}.",
)
METHOD = (
    "In this work, we propose {method}, {a_adj} approach to {subject} based on {technique}.",
    "We introduce {method}, which combines {technique} with a lightweight correction step "
    "to {goal}.",
    "To address this, we present {method}, {a_adj} framework that uses {technique} to {goal}.",
    "We revisit {subject} and derive {method}, {a_adj} algorithm built on {technique}.",
)
DETAIL = (
    "The key idea is to treat {subject} as an optimization problem whose solution can be "
    "approximated in closed form.",
    "{method} requires no additional training data and adds negligible overhead.",
    "Unlike prior work, {method} does not rely on hand-tuned hyperparameters or "
    "architecture-specific heuristics.",
    "Our method is simple to implement and can be combined with {baseline}.",
    "We further show how {technique} can be computed efficiently with a linear-time algorithm.",
    "The approach is modular: each component can be analyzed and ablated independently.",
)
ANALYSIS = (
    "We prove that {finding} under mild assumptions on the data distribution.",
    "Our analysis reveals that {finding}.",
    "Theoretically, we show that {finding}, and we characterize when this fails.",
    "A careful ablation study shows that {finding}.",
)
RESULTS = (
    "Experiments on {bench} show that {method} improves {metric} by {pct}% over {baseline}.",
    "On {bench}, {method} matches the {metric} of {baseline} while using {pct}% less compute.",
    "Across {bench}, {method} consistently outperforms {baseline} in {metric}.",
    "Empirically, {method} achieves state-of-the-art {metric} on {bench}.",
)
EXTRA = (
    "We also find that {finding}.",
    "The gains are largest for larger models and longer training runs.",
    "These improvements hold across model scales from {small} to {large} parameters.",
    "We additionally release an evaluation suite to facilitate reproducible comparisons.",
    "Our findings are robust to the choice of hyperparameters and random seeds.",
    "We complement these results with a study of failure cases and their causes.",
)
CLOSING = (
    "Code is available at https://github.com/{user}/{repo}.",
    "Our results suggest that {finding}, with implications for {area}.",
    "We hope this work provides a foundation for future research on {subject}.",
    "We discuss limitations and directions for future work.",
)
BORDER_CONTEXT = (
    "{Obj} is critical for {setting}, but {issue}.",
    "Reliable {obj} remains challenging because {issue}.",
    "Deploying accurate models for {obj} is difficult: {issue}.",
)
BORDER_METHOD = (
    "We propose {method}, a system for {obj} built on {technique}.",
    "In this paper, we apply {technique} to {obj} and design a pipeline tailored to {setting}.",
    "We build on {technique} to develop {method}, a model for {obj} that runs on {setting}.",
)
BORDER_DETAIL = (
    "Our pipeline combines domain-specific preprocessing with an off-the-shelf backbone.",
    "We tune the model on a curated dataset collected in collaboration with practitioners.",
    "The design favors simplicity so that it can be maintained by non-experts.",
    "We evaluate several standard configurations and select the one best suited to {setting}.",
    "A user study with domain experts guided the choice of operating thresholds.",
    "Data were collected over two years and labeled by a team of trained annotators.",
    "We report results averaged over five random splits, with standard deviations.",
    "An error analysis shows that most remaining mistakes involve rare or ambiguous cases.",
    "Inference runs within the memory and latency limits of {setting}.",
    "We also compare against classical baselines that are still common in {setting}.",
    "The trained model is robust to the noise levels typical of data collected in practice.",
)
BORDER_RESULTS = (
    "Experiments on {dataset} show that {method} reaches {a_metric} within 1% of the "
    "full-size model while being {speed} times faster.",
    "On {dataset}, {method} improves {metric} by {pct}% over the previous system.",
    "{method} achieves {a_metric} competitive with larger models on {dataset}.",
)
BORDER_CLOSING = (
    "The system has been deployed in {setting} for six months.",
    "These results show that {technique} is a practical choice for {obj}.",
    "We release our code and a cleaned version of the dataset.",
)
ADJECTIVES = (
    "simple", "principled", "scalable", "unified", "lightweight", "data-free", "adaptive",
    "training-free", "theoretically grounded", "hardware-aware",
)  # fmt: skip
NAME_HEADS = (
    "Sparse", "Route", "Quant", "Flex", "Hyper", "Prism", "Echo", "Atlas", "Nova", "Tri",
    "Omni", "Delta", "Lumen", "Vector", "Kappa", "Orbit", "Pilot", "Cedar", "Helix",
)  # fmt: skip
NAME_TAILS = (
    "Mo", "Net", "Former", "Q", "Prune", "Cache", "Fusion", "Gate", "Lite", "Mix", "Scope",
    "Flow", "Align", "Shift", "Rank", "Bench", "Path",
)  # fmt: skip
FIRST_NAMES = (
    "Wei", "Jing", "Yuki", "Hiroshi", "Ananya", "Rahul", "Priya", "Arjun", "Sofia", "Lucas",
    "Mateo", "Elena", "Marco", "Giulia", "Pierre", "Camille", "Lena", "Jonas", "Anna",
    "Mikhail", "Olga", "Tomasz", "Agnieszka", "Emily", "James", "Michael", "Sarah", "David",
    "Laura", "Daniel", "Ahmed", "Fatima", "Omar", "Layla", "Kwame", "Amara", "Chen", "Li",
    "Min-jun", "Seo-yeon", "Thanh", "Linh", "Diego", "Valentina", "Noah", "Olivia", "Erik",
    "Ingrid", "Mehmet", "Zeynep", "Ravi", "Kavya", "Hannah", "Samuel", "Yara", "Tariq",
)  # fmt: skip
LAST_NAMES = (
    "Wang", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma",
    "Tanaka", "Suzuki", "Sato", "Kim", "Park", "Lee", "Choi", "Nguyen", "Tran", "Sharma",
    "Gupta", "Patel", "Singh", "Iyer", "Rossi", "Bianchi", "Ferrari", "Dubois", "Martin",
    "Bernard", "Schmidt", "Schneider", "Fischer", "Weber", "Novak", "Kowalski", "Ivanov",
    "Petrov", "Smith", "Johnson", "Brown", "Garcia", "Martinez", "Lopez", "Silva", "Santos",
    "Okafor", "Mensah", "Haddad", "Khan", "Ali", "Yilmaz", "Larsen", "Andersen", "Cohen",
    "Levi", "Murphy", "O'Brien", "Kumar", "Das", "Rao", "Hoang", "Ortiz", "Romero",
)  # fmt: skip
SMALL_WORDS = {
    "a", "an", "the", "of", "for", "in", "on", "with", "via", "and", "to", "from", "under",
    "at", "by", "as", "or", "without", "through", "beyond",
}  # fmt: skip


@dataclass(frozen=True)
class Label:
    """The hidden truth about one paper, relative to the example profile."""

    kind: str  # relevant, borderline, off-topic
    topic: str | None  # the profile topic a relevant or borderline paper touches
    gist: str  # what the paper is about, for the judge's comment


# -- text --------------------------------------------------------------------------------------


def titlecase(text: str) -> str:
    words = text.split(" ")
    out = []
    for i, word in enumerate(words):
        start = i == 0 or words[i - 1].endswith(":")
        keep = any(c.isupper() or c.isdigit() for c in word)
        if keep or (word in SMALL_WORDS and not start):
            out.append(word)
        else:
            out.append("-".join(p[:1].upper() + p[1:] for p in word.split("-")))
    return " ".join(out)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _method_name(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return "".join(rng.choice("ABCDEFGHKLMPRSTV") for _ in range(rng.randint(3, 5)))
    return rng.choice(NAME_HEADS) + rng.choice(NAME_TAILS)


def _words(text: str) -> int:
    return len(text.split())


def _fit_title(rng: random.Random, make, suffixes: tuple[str, ...]) -> str:
    """A title of 8 to 16 words: resampled, or padded with a suffix, until it fits."""
    for _ in range(50):
        title = titlecase(make())
        if _words(title) < 8:
            title = f"{title} {rng.choice(suffixes)}"
        if 8 <= _words(title) <= 16:
            return title
    raise RuntimeError("no title of 8-16 words from these banks")


def _abstract(rng: random.Random, head: list[str], middle: list[str], tail: str) -> str:
    """Sentences up to a target of 150-250 words: the head, then middle ones, then the tail."""
    target = rng.randint(150, 250)
    sentences = list(head)
    pool = list(middle)
    rng.shuffle(pool)
    while pool and _words(" ".join([*sentences, tail])) < target:
        sentence = pool.pop()
        if sentence not in sentences:
            sentences.append(sentence)
    text = " ".join([*sentences, tail])
    while _words(text) > 250 and len(sentences) > len(head):
        sentences.pop()
        text = " ".join([*sentences, tail])
    if _words(text) < 150:
        raise RuntimeError("phrase banks too short for a 150-word abstract")
    return text


def _a(phrase: str) -> str:
    return f"{'an' if phrase[:1].lower() in 'aeiou' else 'a'} {phrase}"


def _theme_slots(rng: random.Random, t: Theme) -> dict[str, Any]:
    subject = rng.choice(t.subjects)
    issue, issue2 = rng.sample(t.issues, 2)
    gerunds = [g for g in t.gerunds if g[:5].lower() != subject[:5].lower()]
    return {
        "subject": subject,
        "Subject": _cap(subject),
        "technique": rng.choice(t.techniques),
        "area": rng.choice(t.area),
        "goal": rng.choice(t.goals),
        "issue": issue,
        "issue2": issue2,
        "finding": rng.choice(t.findings),
        "bench": rng.choice(t.benches),
        "baseline": rng.choice(t.baselines),
        "metric": rng.choice(t.metrics),
        "gerund": rng.choice(gerunds or t.gerunds),
        "method": _method_name(rng),
        "a_adj": _a(rng.choice(ADJECTIVES)),
        "pct": rng.choice((3, 5, 8, 12, 17, 23, 31, 40)),
        "small": rng.choice(("125M", "350M", "1B")),
        "large": rng.choice(("7B", "13B", "70B")),
        "user": rng.choice(LAST_NAMES).lower().replace("'", "") + "-lab",
        "repo": subject.split()[0].lower().strip(",:") + "-" + str(rng.randint(1, 99)),
    }


def _themed_paper(rng: random.Random, t: Theme, suffixes: tuple[str, ...]) -> tuple[str, str]:
    s = _theme_slots(rng, t)

    def make_title() -> str:
        slots = dict(s, finding=_cap(rng.choice(t.findings).split(" that ")[0]))
        return rng.choice(TITLE_TEMPLATES).format(**slots)

    title = _fit_title(rng, make_title, suffixes)
    head = [rng.choice(CONTEXT), rng.choice(PROBLEM), rng.choice(METHOD), rng.choice(RESULTS)]
    findings = rng.sample(t.findings, len(t.findings))
    middle = [
        x.format(**dict(s, finding=findings[i % len(findings)]))
        for i, x in enumerate((*ANALYSIS, *EXTRA[:1]))
    ]
    middle += [x.format(**s) for x in (*DETAIL, *EXTRA[1:])]
    middle += [x.format(**dict(s, bench=b)) for x, b in zip(RESULTS[1:], t.benches, strict=False)]
    abstract = _abstract(
        rng, [x.format(**s) for x in head], middle, rng.choice(CLOSING).format(**s)
    )
    return title, abstract


def _borderline_paper(rng: random.Random) -> tuple[str, str, str, str, tuple[str, ...]]:
    topic, technique, adj = rng.choice(BORDERLINE_TECHNIQUES)
    a = rng.choice(APPS)
    obj = rng.choice(a.objects)
    s = {
        "obj": obj,
        "Obj": _cap(obj),
        "setting": rng.choice(a.settings),
        "issue": rng.choice(a.issues),
        "dataset": rng.choice(a.datasets),
        "metric": (metric := rng.choice(a.metrics)),
        "a_metric": _a(metric),
        "technique": technique,
        "adj": adj,
        "a_adj": _a(adj),
        "method": _method_name(rng),
        "pct": rng.choice((2, 4, 6, 9, 14)),
        "speed": rng.choice((2, 3, 4, 6)),
    }
    title = _fit_title(
        rng, lambda: rng.choice(BORDER_TITLES).format(**s), ("in Practice", "at the Edge")
    )
    head = [rng.choice(BORDER_CONTEXT), rng.choice(BORDER_METHOD), rng.choice(BORDER_RESULTS)]
    generic = [x.format(**s) for x in BORDER_DETAIL]
    generic += [rng.choice(BORDER_RESULTS[:2]).format(**dict(s, dataset=d)) for d in a.datasets]
    generic += [
        f"We use the standard recipe for {technique} without modification.",
        f"We compare {technique} with a full-size model trained on the same data.",
    ]
    abstract = _abstract(
        rng, [x.format(**s) for x in head], generic, rng.choice(BORDER_CLOSING).format(**s)
    )
    gist = f"applies {technique} to {obj}"
    return title, abstract, topic, gist, a.cats


def _authors(rng: random.Random) -> tuple[str, ...]:
    count = rng.choice((1, 2, 3, 3, 4, 4, 5, 6, 7, 9, 12))
    return tuple(f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" for _ in range(count))


def _categories(rng: random.Random, preferred: tuple[str, ...]) -> tuple[str, tuple[str, ...], str]:
    """(primary, categories, announce type): a paper outside the four is a cross-list."""
    primary = preferred[0] if rng.random() < 0.7 else rng.choice(preferred)
    cats = [primary]
    for cat in (*preferred, *READER_CATEGORIES):
        if cat not in cats and rng.random() < 0.25:
            cats.append(cat)
    if not set(cats) & set(READER_CATEGORIES):
        cats.append(rng.choice(("cs.LG", "cs.LG", "stat.ML", "cs.AI")))
    kind = "new" if primary in READER_CATEGORIES else "cross"
    return primary, tuple(cats), kind


# -- the day -----------------------------------------------------------------------------------


@dataclass
class Day:
    """A listing with its ground truth, and the judge that scores from it."""

    listing: Listing
    labels: dict[str, Label]
    seed: int

    @property
    def papers(self) -> list[Paper]:
        return self.listing.papers

    def ids(self, kind: str) -> set[str]:
        return {i for i, label in self.labels.items() if label.kind == kind}

    def judge(self, paper_id: str, title: str, abstract: str) -> tuple[int, int, str]:
        """(relevance, novelty, comment) as an accurate model would give them, for the topics
        of the request being answered (all of the example's topics outside a `DayServer`)."""
        label = self.labels.get(paper_id) or Label(OFF_TOPIC, None, "an unknown paper")
        rng = random.Random(f"{self.seed}:{paper_id}")
        high, mid, low = rng.randint(8, 9), rng.randint(4, 6), rng.randint(1, 2)
        novel, middling, routine = rng.randint(6, 8), rng.randint(4, 6), rng.randint(2, 5)
        topics = getattr(_reader, "topics", None) or set(TOPICS)
        if label.kind == RELEVANT and label.topic in topics:
            return high, novel, f"Core {label.topic.lower()} work on {label.gist}."
        if label.kind == BORDERLINE and label.topic in topics:
            return mid, middling, f"Touches {label.topic.lower()} but {label.gist}."
        return low, routine, f"About {label.gist}, outside the reader's topics."


def make_day(n: int = 1000, seed: int = 0, day: date = DEFAULT_DAY) -> Day:
    """n papers: 5% relevant, 10% borderline, the rest off-topic, shuffled; same seed, same day."""
    rng = random.Random(seed)
    kinds = [RELEVANT] * round(n * SHARES[RELEVANT]) + [BORDERLINE] * round(n * SHARES[BORDERLINE])
    kinds += [OFF_TOPIC] * (n - len(kinds))
    rng.shuffle(kinds)
    papers: list[Paper] = []
    labels: dict[str, Label] = {}
    number = rng.randint(1000, 3000)
    prefix = f"{day.year % 100:02d}{day.month:02d}"
    titles: set[str] = set()
    for kind in kinds:
        number += rng.randint(1, 12)
        pid = f"{prefix}.{number:05d}"
        title = ""
        while not title or title in titles:  # arXiv titles of one day are distinct
            if kind == BORDERLINE:
                title, abstract, topic, gist, preferred = _borderline_paper(rng)
            else:
                bank = RELEVANT_THEMES if kind == RELEVANT else OFF_THEMES
                t = rng.choice(bank)
                suffixes = TITLE_SUFFIXES if kind == RELEVANT else OFF_SUFFIXES
                title, abstract = _themed_paper(rng, t, suffixes)
                topic, gist, preferred = t.topic, t.subjects[0], t.cats
        titles.add(title)
        primary, cats, announce = _categories(rng, preferred)
        papers.append(
            Paper(
                pid, title, _authors(rng), abstract, cats, primary, announce, rng.choice((1, 1, 2))
            )
        )
        labels[pid] = Label(kind, topic, gist)
    papers.sort(key=lambda p: (p.announce_type != "new", p.id))
    listing = Listing(day=day, papers=papers, listed=n)
    listing.new = sum(p.announce_type == "new" for p in papers)
    listing.cross = n - listing.new
    return Day(listing, labels, seed)


# -- the server --------------------------------------------------------------------------------

_reader = threading.local()
_TOPIC_LINE = re.compile(r"^\d+\. (.+?)\s*$", re.M)


class DayServer(FakeOpenAI):
    """The fake OpenAI server answering with `day.judge` for the topics each prompt names."""

    def oracle(self, messages: list[dict[str, Any]]) -> str:
        system = "".join(
            m["content"]
            for m in messages
            if m.get("role") == "system" and isinstance(m.get("content"), str)
        )
        _reader.topics = set(_TOPIC_LINE.findall(system)) & set(TOPICS)
        try:
            return super().oracle(messages)
        finally:
            _reader.topics = None


def serve(day: Day, *, latency: float = 0.0, max_concurrent: int | None = None) -> DayServer:
    """A started `DayServer` for the day, expecting `API_KEY`; `stop()` it when done."""
    server = DayServer(
        latency=latency, max_concurrent=max_concurrent, judge=day.judge, api_key=API_KEY
    )
    server.know(day.papers)
    return server.start()


# -- profiles ----------------------------------------------------------------------------------


def example_profile() -> Profile:
    with EXAMPLE_PROFILE.open("rb") as fh:
        profile = Profile.model_validate(tomllib.load(fh))
    profile.id = "example"
    return profile


def make_profiles(k: int, seed: int = 0) -> list[Profile]:
    """k profiles with distinct prompts: the example first, then variants that keep a subset of
    its topics (at least two) and only the keywords of the topics kept."""
    base = example_profile()
    by_name = {t.name: t for t in base.topics}
    subsets = [c for size in range(len(TOPICS) - 1, 1, -1) for c in combinations(TOPICS, size)]
    random.Random(seed).shuffle(subsets)
    if k > len(subsets) + 1:
        raise ValueError(f"at most {len(subsets) + 1} distinct profiles")
    profiles = [base]
    for i, kept in enumerate(subsets[: k - 1], start=1):
        keywords = {w for name in kept for w in TOPIC_KEYWORDS[name]}
        variant = base.model_copy(
            update={
                "name": f"Reader {i}",
                "email": f"reader{i}@example.org",
                "topics": [by_name[name] for name in kept],
                "keywords": [w for w in base.keywords if w in keywords],
            }
        )
        variant.id = f"reader{i:02d}"
        profiles.append(variant)
    return profiles


def subscriber(profile: Profile, number: int) -> Profile:
    """Another subscriber reading exactly what `profile` reads (same prompts, own address)."""
    twin = profile.model_copy(
        update={"name": f"Subscriber {number}", "email": f"subscriber{number}@example.org"}
    )
    twin.id = f"{profile.id}-sub{number:03d}"
    return twin


# -- running and reporting -------------------------------------------------------------------

MODEL = "gpt-4o-mini"
PRICE = Price(prompt=0.15, cached=0.075, completion=0.60)  # USD per 1M tokens


def llm_config(server: FakeOpenAI, **settings: Any) -> Config:
    """A config scoring through `server` with gpt-4o-mini's prices; `settings` go to [llm]."""
    options = {"base_url": server.base_url, "model": MODEL, "prices": {MODEL: PRICE}, **settings}
    return Config(llm=LLMConfig(**options))


def billed_prompt_tokens(usage: Usage, price: Price = PRICE) -> float:
    """Prompt tokens weighted by price: a cached token counts as cached/prompt of one."""
    ratio = (price.cached if price.cached is not None else price.prompt) / price.prompt
    return usage.prompt_tokens - usage.cached_tokens + usage.cached_tokens * ratio


def total_usage(spend: dict[str, Usage]) -> Usage:
    total = Usage(model="all")
    for usage in spend.values():
        total.add(usage)
    return total


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """Rows as an aligned plain-text table: text to the left, numbers to the right."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_numeric(row[i]) for row in cells[1:]) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(row, widths, numeric, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _numeric(value: Any) -> bool:
    return bool(re.fullmatch(r"[-+$]?[\d.,]+[%x]?s?|-", value.strip()))


def verdict(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'MISS'}: {text}"
