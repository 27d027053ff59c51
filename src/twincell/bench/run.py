"""`run_benchmark`: TwinBench's three tiers on the bundled (or user) data, into one tidy result.

Data per tier (all splits from :func:`twincell.data.splits.make_split`, seeded):

* tier 2 and tier 1 (held-out perturbations): LINCS L1000 over-expression consensus signatures,
  split by target gene, so no training example over-expresses a held-out gene;
* tier 2 (held-out cytokines): a seeded third of CytoSig's cytokines (split by perturbation), whose
  receptor subunits the methods recover from the response (:func:`twincell.bench.tier2.run_receptor_recovery`);
  the methods are the ones fitted for LINCS, and a method that trains on CytoSig itself (the ablation's
  designs) is told the held-out cytokines through :attr:`Resources.held_out`; a method that adds any bundled
  training data leaves out the rows that perturb a held-out LINCS target (:attr:`Resources.held_out_genes`), and
  the ``seen`` targets of the unseen variants are those of the rows left;
* tier 2 (drugs): one response per drug with a DrugCentral target in the network, from the bundled drug signatures
  (Tahoe-100M lines, NeurIPS 2023 PBMC types, sci-Plex 3), whose targets the methods recover
  (:mod:`twincell.bench.tier2_drugs`; negatives: the other druggable genes); tier 2's methods are fitted on LINCS
  alone, so no drug is in training;
* tier 1 (held-out contexts): Open Problems NeurIPS 2023 PBMC drug signatures, one cell type held
  out; TwinCell learns context gates from the bundled context embeddings;
* tier 3: the bundled disease signatures and approved-drug targets (plus user files), ranked by
  the default TwinCell model (trained on all bundled perturbation data; cached after first use).

Learned methods are fitted on each split's training part; the rest need no training.

Tiers 1 and 2 can run over several seeds (``seeds=[...]``, ``twincell bench --seeds 0-4``): each seed
draws its own splits, trainings and bootstraps; tier 3 runs once, with the first seed. One seed moves
tier-2 AUROC by about +-0.04 (README, "How noisy the deciding tiers are"), so designs are compared on
the mean over seeds (:func:`seed_table`).
"""

from __future__ import annotations

import logging
import numbers
import os
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from twincell._progress import bar
from twincell.bench import baselines, learned  # noqa: F401  (registers the methods)
from twincell.bench.diseases import (approved_directions, bundled_signatures, clinical_tasks, drugless_when_hidden,
                                     read_signature_files, read_targets)
from twincell.bench.exposure import default_training_exposure, perturbation_target_counts
from twincell.bench.methods import (METHODS, Method, Resources, check_method_names, default_method_names,
                                    make_methods)
from twincell.bench.tier1 import run_tier1
from twincell.bench.tier2 import (COMMON_VARIANTS, RECEPTOR_VARIANTS, RICH_GENES, VARIANTS, Tier2Result,
                                  observed_genes, run_receptor_recovery, run_tier2, source_table)
from twincell.bench.tier2_drugs import (DRUG_VARIANTS, count_drugs, load_drug_datasets, run_drug_recovery,
                                        split_drugs, training_drug_rows)
from twincell.bench.tier3 import COMBINED, MEAN, Tier3Result, run_tier3
from twincell.context import ContextRegistry
from twincell.data.drugs import DrugTargets
from twincell.data.perturbation import PerturbationDataset
from twincell.data.splits import Split, make_split
from twincell.data.training_data import load_bundled
from twincell.errors import TwinCellError, check_count, is_finite_number
from twincell.model import TwinCell, default_model
from twincell.network import Interactome

logger = logging.getLogger(__name__)

TABLE_COLUMNS = ("tier", "method", "disease", "signature", "metric", "value", "ci_low", "ci_high")
#: Columns of :attr:`BenchResult.table`: the tiers' tidy columns and the seed that produced each row.
RESULT_COLUMNS = (*TABLE_COLUMNS, "seed")
#: Columns of :func:`seed_table`, after ``method`` and ``metric``.
SEED_STATISTICS = ("mean", "sd", "min", "max", "n")
#: The most seeds one run takes: each seed retrains the learned methods (minutes per seed on 2 cores), so a
#: mistyped range such as ``0-1000`` is refused before it allocates or runs anything.
MAX_SEEDS = 100
TIER2_DATASET = "lincs_overexpression"
TIER1_CONTEXT_DATASET = "signatures_neurips"
CYTOKINE_DATASET = "cytosig"
#: Share of CytoSig's cytokines held out for tier 2's receptor recovery (every run, quick or not).
CYTOKINE_TEST_FRACTION = 1 / 3

TIER2_LABEL = f"{TIER2_DATASET} (held-out targets)"
TIER1_CONTEXT_LABEL = f"{TIER1_CONTEXT_DATASET} (held-out contexts)"
CYTOKINE_LABEL = f"{CYTOKINE_DATASET} (held-out cytokines)"
DRUG_LABEL = "drug signatures (unseen drugs, among druggable genes)"
#: Short column prefix of each dataset in the summary.
PREFIX = {(1, TIER1_CONTEXT_LABEL): "T1-context", (1, TIER2_LABEL): "T1-perturbation",
          (2, f"{TIER2_LABEL}, {VARIANTS[0]}"): "T2", (2, f"{TIER2_LABEL}, {VARIANTS[1]}"): "T2-own",
          **{(2, f"{TIER2_LABEL}, {v}"): p for v, p in zip(COMMON_VARIANTS, ("T2-blind", "T2-specific", "T2-free"))},
          **{(2, f"{CYTOKINE_LABEL}, {v}"): p for v, p in zip(RECEPTOR_VARIANTS, ("T2-cyto", "T2-cyto-unseen"))},
          **{(2, f"{CYTOKINE_LABEL}, {v}"): p
             for v, p in zip(COMMON_VARIANTS, ("T2-cyto-blind", "T2-cyto-specific", "T2-cyto-free"))},
          **{(2, f"{DRUG_LABEL}, {v}"): p for v, p in zip(DRUG_VARIANTS, ("T2-drug", "T2-drug-unseen"))},
          **{(2, f"{DRUG_LABEL}, {v}"): p
             for v, p in zip(COMMON_VARIANTS, ("T2-drug-blind", "T2-drug-specific", "T2-drug-free"))}}
#: The summary's blocks, one table each in the CLI: title -> the column prefixes it holds.
SUMMARY_BLOCKS: dict[str, tuple[str, ...]] = {
    "T1": ("T1-context", "T1-perturbation"), "T2, LINCS over-expression": ("T2", "T2-own"),
    "T2, LINCS cases blind, specific and free": ("T2-blind", "T2-specific", "T2-free"),
    "T2, held-out cytokines": ("T2-cyto", "T2-cyto-unseen"),
    "T2, cytokines blind, specific and free": ("T2-cyto-blind", "T2-cyto-specific", "T2-cyto-free"),
    "T2, drugs": ("T2-drug", "T2-drug-unseen"),
    "T2, drugs blind, specific and free": ("T2-drug-blind", "T2-drug-specific", "T2-drug-free"), "T3": ("T3",)}
#: Metrics shown in the method x metric summary, per tier.
SUMMARY_METRICS: dict[int, tuple[str, ...]] = {
    1: ("pearson_top20", "l2_ratio"),
    2: ("auroc", "recall_at_10", "median_rank", "direction_accuracy"),
    3: ("auroc", "auroc_druggable", "auprc_druggable", "recall_at_100", "mode_collapse_n_significant_druggable",
        "mode_collapse_fisher_p_druggable"),
}
#: Columns of the "where the skill comes from" table (tier 3, druggable universe), in order.
SKILL_METRICS: tuple[str, ...] = ("auroc_druggable", "signature_gain_druggable", "geneset_gain_druggable",
                                  "auroc_druggable_unseen", "druggable_in_top_50", "direction_accuracy",
                                  "direction_balanced_accuracy", "direction_coverage",
                                  "mode_collapse_n_significant_druggable", "mode_collapse_fisher_p_druggable")
#: Short column headers of the skill table where space is tight (the CLI).
SKILL_HEADERS: dict[str, str] = {
    "auroc_druggable": "AUROC drug", "signature_gain_druggable": "sig. gain", "geneset_gain_druggable": "gene-set gain",
    "auroc_druggable_unseen": "AUROC unseen", "druggable_in_top_50": "drug in top 50",
    "direction_accuracy": "direction acc.", "direction_balanced_accuracy": "dir. bal. acc.",
    "direction_coverage": "dir. coverage",
    "mode_collapse_n_significant_druggable": "diseases p<0.05",
    "mode_collapse_fisher_p_druggable": "Fisher p"}
LOWER_IS_BETTER = ("l2_ratio", "median_rank", "mode_collapse_fisher_p_druggable")
#: Tier-2 datasets of the case-gain table: summary prefix of the observed cases -> those of its blind, specific and
#: free views (:data:`twincell.bench.tier2.COMMON_VARIANTS`).
CASE_VIEWS: dict[str, tuple[str, str, str]] = {"T2": ("T2-blind", "T2-specific", "T2-free"),
                                               "T2-cyto": ("T2-cyto-blind", "T2-cyto-specific", "T2-cyto-free"),
                                               "T2-drug": ("T2-drug-blind", "T2-drug-specific", "T2-drug-free")}
#: Tier-2 metrics of the case-gain table -> their column label: all cases, and the cases with at least
#: :data:`~twincell.bench.tier2.RICH_GENES` measured genes (:func:`~twincell.bench.tier2.stratum_table`).
CASE_GAIN_METRICS: dict[str, str] = {"auroc": "", "auroc_rich": "rich "}


@dataclass(frozen=True)
class BenchSettings:
    """Sizes of one TwinBench run (``quick`` shrinks all of them).

    Attributes
    ----------
    n_boot
        Bootstrap resamples for confidence intervals.
    n_shuffles
        Value permutations and random-gene-set shuffles per signature (tier 3; the gene-set shuffles
        are the mode-collapse null, whose floor is 1 / (n_shuffles + number of other diseases + 1)).
    test_fraction
        Share of target genes held out in tier 2 (and tier 1, held-out perturbations).
    max_tier2_cases
        Cap on held-out perturbations ranked in tier 2 (chosen with the seed).
    max_epochs
        Training epochs of TwinCell per split (a fixed count, not a time budget, so that results do
        not depend on the machine's speed).
    drug_test_fraction
        Share of the drugs with a signed network target that tier 2 holds out as cases (:func:`split_drugs`); the rest are
        training drugs a method may train on (only when tier 2 runs). 1 (the default): every drug is a case, none is
        in training.
    """

    n_boot: int = 1000
    n_shuffles: int = 100
    test_fraction: float = 0.2
    max_tier2_cases: int = 150
    max_epochs: int = 3
    drug_test_fraction: float = 1.0

    def __post_init__(self) -> None:
        if not (is_finite_number(self.drug_test_fraction) and 0 < self.drug_test_fraction <= 1):
            raise TwinCellError(f"the drug test fraction must be in (0, 1], got {self.drug_test_fraction!r}",
                                "e.g. 0.5 holds out half the drugs (--drug-test-fraction 0.5); 1 holds out all")
        check_count(self.n_boot, "n_boot", minimum=0)
        check_count(self.n_shuffles, "n_shuffles")
        check_count(self.max_tier2_cases, "max_tier2_cases")
        check_count(self.max_epochs, "max_epochs")
        if not (is_finite_number(self.test_fraction) and 0 < self.test_fraction < 1):
            raise TwinCellError(f"test_fraction must lie between 0 and 1, got {self.test_fraction!r}",
                                "hold out a share such as 0.2")

    @classmethod
    def quick(cls) -> BenchSettings:
        """Small settings for a smoke run (well under a minute of ranking work)."""
        return cls(n_boot=200, n_shuffles=20, test_fraction=0.1, max_tier2_cases=30, max_epochs=1)


@dataclass
class BenchResult:
    """Everything a TwinBench run produced.

    Attributes
    ----------
    table
        Tidy metrics of all tiers: ``tier, method, disease, signature, metric, value, ci_low, ci_high, seed``
        (tiers 1-2: one block of rows per seed; tier 3: the first seed).
    targets
        Tier 3: rank of every approved target per method, disease and signature.
    roc
        Tier 3: mean ROC curves (``universe, method, disease, fpr, tpr``).
    coverage
        Tier 3: per disease, its status (``scored`` / ``no signature`` / ...), signatures and targets.
    tier2_cases
        Tier 2: per method, held-out perturbation and seed, the true target's rank.
    facts
        Run description (command settings, data sizes, timings), shown in the report.
    """

    table: pd.DataFrame
    targets: pd.DataFrame = field(default_factory=pd.DataFrame)
    roc: pd.DataFrame = field(default_factory=pd.DataFrame)
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    tier2_cases: pd.DataFrame = field(default_factory=pd.DataFrame)
    facts: dict[str, str] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Method x metric table: tiers 1-2 averaged over their seeds, tier 3 over the diseases' means."""
        return summary_table(self.table)

    def seeds(self) -> pd.DataFrame:
        """Spread of the tier 1-2 summary metrics over the seeds (:func:`seed_table`)."""
        return seed_table(self.table)

    def skill(self) -> pd.DataFrame:
        """Where each method's tier-3 skill comes from (:func:`skill_table`)."""
        return skill_table(self.table)

    def case_gains(self) -> pd.DataFrame:
        """Where each method's tier-2 skill comes from (:func:`case_gain_table`)."""
        return case_gain_table(self.table)

    def tier2_sources(self) -> pd.DataFrame:
        """Tier 2 per method, source dataset and variant (:func:`~twincell.bench.tier2.source_table`; empty without
        tier 2)."""
        return source_table(self.tier2_cases) if not self.tier2_cases.empty else pd.DataFrame()


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """Method x metric headline table from the tidy metrics (see :data:`SUMMARY_METRICS`).

    Columns are ``<tier/dataset> <metric>`` (``T1-context``, ``T1-perturbation``, ``T2``, ``T3``); tiers 1-2
    are the mean over the seeds of the table (one seed: that seed's value), tier 3 is the mean over
    diseases of each disease's mean over its signatures. Methods keep their order.
    """
    t = _summary_rows(table)
    wide = t.pivot_table(index="method", columns="column", values="value", aggfunc="mean")
    order = [m for m in dict.fromkeys(table["method"]) if m in wide.index]
    return wide.loc[order, [c for c in _summary_columns() if c in wide.columns]]


def seed_table(table: pd.DataFrame) -> pd.DataFrame:
    """Spread over the seeds of the tier 1-2 summary metrics: one row per method and metric.

    Parameters
    ----------
    table
        Tidy metrics of :func:`run_benchmark` (a table without a ``seed`` column counts as one seed).

    Returns
    -------
    pd.DataFrame
        Columns ``method``, ``metric`` (a :func:`summary_table` column name, e.g. ``T2 auroc``) and
        :data:`SEED_STATISTICS`: ``mean``, ``sd`` (sample standard deviation, NaN for one seed),
        ``min``, ``max`` over the seeds and ``n``, the number of seeds with a value. Methods keep their
        order, metrics the summary's.
    """
    t = _summary_rows(table[table["tier"] != 3])
    if t.empty:
        return pd.DataFrame(columns=["method", "metric", *SEED_STATISTICS])
    keys = ["method", "column", "seed"] if "seed" in t.columns else ["method", "column"]
    per_seed = t.groupby(keys, sort=False)["value"].mean()
    stats = per_seed.groupby(level=["method", "column"], sort=False).agg(["mean", "std", "min", "max", "count"])
    stats.columns = list(SEED_STATISTICS)
    stats.index.names = ["method", "metric"]
    methods = {m: i for i, m in enumerate(dict.fromkeys(table["method"]))}
    columns = {c: i for i, c in enumerate(_summary_columns())}
    keys = sorted(stats.index, key=lambda mc: (methods[mc[0]], columns[mc[1]]))
    return stats.loc[keys].reset_index()


def _summary_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The tidy rows shown in the summary (:data:`SUMMARY_METRICS`, tier 3 disease means), with their ``column``."""
    t = table[table["value"].notna() & ((table["tier"] != 3) | (table["signature"] == MEAN))]
    t = t[np.array([m in SUMMARY_METRICS[tier] for tier, m in zip(t["tier"], t["metric"])], dtype=bool)]
    prefix = [PREFIX.get((tier, sig), f"T{tier}") if tier != 3 else "T3" for tier, sig in zip(t["tier"], t["signature"])]
    return t.assign(column=[f"{p} {m}" for p, m in zip(prefix, t["metric"])])


def _summary_columns() -> list[str]:
    """Every summary column name, in the summary's order (dataset blocks, then metrics)."""
    return [f"{b} {m}" for b in [*PREFIX.values(), "T3"] for m in SUMMARY_METRICS[int(b[1])]]


def skill_table(table: pd.DataFrame) -> pd.DataFrame:
    """Where each method's tier-3 skill comes from: one row per method, the columns of :data:`SKILL_METRICS`.

    Per-disease metrics are the mean over diseases of each disease's mean over its signatures;
    ``mode_collapse_n_significant_druggable`` (diseases with p < 0.05) and
    ``mode_collapse_fisher_p_druggable`` (Fisher's combined p) are over all diseases. A disease without a value
    for a metric (e.g. no approved target unseen in training) is left out of that mean, and the run's facts name it
    (:func:`diseases_without_value`). Methods keep their order; a metric a method does not have (the direction
    metrics) is NaN.
    """
    t = table[(table["tier"] == 3) & (table["signature"] == MEAN) & table["metric"].isin(SKILL_METRICS)]
    if t.empty:
        return pd.DataFrame(columns=list(SKILL_METRICS))
    wide = t.pivot_table(index="method", columns="metric", values="value", aggfunc="mean")
    order = [m for m in dict.fromkeys(t["method"]) if m in wide.index]
    return wide.reindex(index=order, columns=list(SKILL_METRICS))


def case_gain_table(table: pd.DataFrame) -> pd.DataFrame:
    """Where each method's tier-2 skill comes from: AUROC on the observed cases and on the views of each case.

    Per tier-2 dataset of :data:`CASE_VIEWS` (LINCS ``T2``, cytokines ``T2-cyto``, drugs ``T2-drug``), AUROC means
    over the seeds:
    ``<prefix> auroc`` (observed), ``<free> auroc`` (the training mean response on all its genes for every case:
    no case at all), ``<blind> auroc`` (the case's genes with the training mean's values), ``<specific> auroc``
    (each response minus its fit on that mean), and two differences: ``<prefix> gene-set gain`` (blind - free:
    what the case's set of measured genes earned) and ``<prefix> case gain`` (observed - blind: what its values
    earned, given its genes). Then the same over the cases with at least
    :data:`~twincell.bench.tier2.RICH_GENES` measured genes (``<prefix> rich auroc`` ...; LINCS only), where a
    case says most. Methods keep their order; empty without the views.
    """
    t = table[(table["tier"] == 2) & table["value"].notna()]
    columns = {}
    for observed, (blind, specific, free) in CASE_VIEWS.items():
        for metric, label in CASE_GAIN_METRICS.items():
            wide = _tier2_means(t, metric)
            if all(v in wide.columns for v in (observed, blind, specific, free)):
                for view in (observed, free, blind, specific):
                    columns[f"{view} {label}auroc"] = wide[view]
                columns[f"{observed} {label}gene-set gain"] = wide[blind] - wide[free]
                columns[f"{observed} {label}case gain"] = wide[observed] - wide[blind]
    if not columns:
        return pd.DataFrame()
    gains = pd.DataFrame(columns)
    order = [m for m in dict.fromkeys(t["method"]) if m in gains.index]
    return gains.loc[order].dropna(how="all")


def _tier2_means(tier2: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Method x summary prefix (:data:`PREFIX`) mean over the seeds of one tier-2 metric."""
    rows = tier2[tier2["metric"] == metric]
    prefix = [PREFIX.get((2, sig)) for sig in rows["signature"]]
    rows = rows.assign(column=prefix).dropna(subset=["column"])
    return rows.pivot_table(index="method", columns="column", values="value", aggfunc="mean")


def _subsample(data: PerturbationDataset, n: int, seed: int) -> PerturbationDataset:
    """At most ``n`` rows that have >= 10 measured genes, chosen with ``seed`` (order kept)."""
    usable = np.flatnonzero(np.isfinite(np.asarray(data.X)).sum(axis=1) >= 10)
    if len(usable) > n:
        usable = np.sort(np.random.default_rng(seed).choice(usable, size=n, replace=False))
    return data.subset(usable)


def parse_seeds(text: str) -> list[int]:
    """Seeds from ``--seeds`` text: comma-separated non-negative integers and ascending ranges.

    ``"0-4"`` -> ``[0, 1, 2, 3, 4]``; ``"0,3,7"`` -> ``[0, 3, 7]``; ``"0-2,9"`` -> ``[0, 1, 2, 9]``.
    Order is kept (the first seed is the one tier 3 uses).

    Raises
    ------
    TwinCellError
        Empty text, a part that is not a number or ``a-b`` range, a descending range, a repeated seed, or more
        than :data:`MAX_SEEDS` seeds.
    """
    hint = "e.g. --seeds 0-4 or --seeds 0,3,7 (non-negative integers, ranges ascending)"
    seeds: list[int] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if match is None:
            raise TwinCellError(f"--seeds: {part.strip()!r} is not a seed or a range (in {text!r})", hint)
        low, high = int(match[1]), int(match[2] if match[2] is not None else match[1])
        if high < low:
            raise TwinCellError(f"--seeds: the range {part.strip()!r} runs backwards", hint)
        _check_seed_count(len(seeds) + high - low + 1)  # before the range is built: 0-999999999 allocates nothing
        seeds += range(low, high + 1)
    return check_seeds(seeds)


def check_seeds(seeds: Sequence[int] | int | str) -> list[int]:
    """``seeds`` as a list of ints (one int, or the CLI's text such as ``"0-4"``, read as such), refused
    (TwinCellError) when empty, not whole numbers, negative, repeated or more than :data:`MAX_SEEDS`."""
    hint = "give distinct non-negative seeds, e.g. seeds=[0, 1, 2, 3, 4] (CLI: --seeds 0-4)"
    if isinstance(seeds, str):
        return parse_seeds(seeds)
    if isinstance(seeds, numbers.Integral):
        seeds = [seeds]
    seeds = [check_count(s, "a seed", minimum=0) for s in seeds]
    if not seeds:
        raise TwinCellError("no seed given", hint)
    _check_seed_count(len(seeds))
    repeated = sorted(s for s, n in Counter(seeds).items() if n > 1)
    if repeated:
        raise TwinCellError(f"seed(s) {', '.join(map(str, repeated))} given more than once", hint)
    return seeds


def _check_seed_count(count: int) -> None:
    if count > MAX_SEEDS:
        raise TwinCellError(f"{count} seeds asked for; one run takes at most {MAX_SEEDS} (each seed retrains the "
                            "learned methods)", "give fewer seeds (e.g. --seeds 0-4), or split them over runs with their own --out")


def check_tiers(tiers: object) -> list[int]:
    """The tiers asked for, sorted and unique: an int, an iterable of ints, or the CLI's text (``"1,2,3"``).

    Raises
    ------
    TwinCellError
        When a tier is not a whole number among 1, 2 and 3, or none is given.
    """
    if isinstance(tiers, str):
        parts = [t.strip() for t in tiers.split(",") if t.strip()]
        if not all(t.isdigit() for t in parts):
            raise TwinCellError(f"tiers must be comma-separated numbers, got {tiers!r}", "e.g. --tiers 1,2,3")
        tiers = [int(t) for t in parts]
    elif isinstance(tiers, numbers.Integral) and not isinstance(tiers, bool):
        tiers = [tiers]
    elif not isinstance(tiers, Iterable):
        raise TwinCellError(f"tiers must be among 1, 2, 3, got {type(tiers).__name__}", "e.g. tiers=(1, 2, 3)")
    tiers = list(tiers)
    wrong = [t for t in tiers if isinstance(t, bool) or not isinstance(t, numbers.Integral) or t not in (1, 2, 3)]
    if not tiers or wrong:
        raise TwinCellError(f"tiers must be among 1, 2, 3; got {tiers}", "e.g. tiers=(1, 2, 3) or --tiers 1,2,3")
    return sorted({int(t) for t in tiers})


def _warn_unused(tiers: Sequence[int], tier3_options: bool, tier2_options: bool) -> None:
    """Warn of options given for a tier the run does not score (nothing silently unused)."""
    if tier3_options and 3 not in tiers:
        logger.warning("the signature, target-table, --no-bundled and model options are not used: they are tier 3's "
                       "and the run scores tier(s) %s", ", ".join(map(str, tiers)))
    if tier2_options and 2 not in tiers:
        logger.warning("the drug test fraction is not used: it is tier 2's and the run scores tier(s) %s",
                       ", ".join(map(str, tiers)))


def run_benchmark(tiers: Iterable[int] = (1, 2, 3), methods: Sequence[str] | None = None, *, quick: bool = False,
                  seed: int | None = None, seeds: Sequence[int] | None = None,
                  signature_files: Sequence[str | os.PathLike] = (),
                  targets_file: str | os.PathLike | None = None, bundled: bool = True,
                  model: TwinCell | None = None, network: Interactome | None = None,
                  drug_test_fraction: float = 1.0) -> BenchResult:
    """Run TwinBench.

    Parameters
    ----------
    tiers
        Any of 1, 2, 3.
    methods
        Registered method names (default all with ``in_default_run``, see :func:`twincell.bench.list_methods`); ``mean``
        is always added to tier 1 (the denominator of ``l2_ratio``).
    quick
        Smaller splits, fewer shuffles and bootstrap resamples, shorter training (:meth:`BenchSettings.quick`).
    seed
        Seed of every split, shuffle, bootstrap and training run (default 0); not with ``seeds``.
    seeds
        Several seeds: tiers 1 and 2 run once per seed (own splits, trainings, bootstraps); tier 3
        runs once, with the first seed (its TwinCell is the cached default model). Not with ``seed``.
        ``seeds=[s]`` gives the same result as ``seed=s``.
    signature_files
        Extra disease signature files for tier 3 (file name ``<Disease>_<anything>.tsv``).
    targets_file
        Approved-target table for tier 3 (``disease``, ``gene_symbol``); default the bundled one.
    bundled
        Include the bundled disease signatures in tier 3.
    model
        TwinCell model for tier 3 (default :func:`twincell.model.default_model`).
    network
        Interactome (default :meth:`Interactome.default`).
    drug_test_fraction
        Share of the drugs tier 2 holds out as cases (:attr:`BenchSettings.drug_test_fraction`; default 1, all).

    Returns
    -------
    BenchResult
        ``table`` and ``tier2_cases`` carry a ``seed`` column; :meth:`BenchResult.summary` is the mean
        over the seeds, :meth:`BenchResult.seeds` their spread.
    """
    tiers = check_tiers(tiers)
    _warn_unused(tiers, bool(signature_files) or targets_file is not None or not bundled or model is not None,
                 drug_test_fraction != 1.0)
    if seed is not None and seeds is not None:
        raise TwinCellError("give one seed or several seeds, not both",
                            "--seed 3 runs one seed; --seeds 0-4 runs tiers 1-2 over five (tier 3 with the first)")
    seeds = check_seeds(seeds if seeds is not None else [0 if seed is None else seed])
    names = check_method_names(methods if methods is not None else default_method_names())
    model = _given_model(model)
    unscored = ""
    if 1 in tiers and not any(METHODS[n].predicts_response and n != "mean" for n in names):  # mean against itself
        if tiers == [1]:
            raise TwinCellError(f"no method named predicts responses, which tier 1 scores ({', '.join(names)})",
                                "name a forward method (e.g. twincell, linear, mean_shrunk): twincell bench "
                                "--list-methods lists them")
        tiers, unscored = [t for t in tiers if t != 1], "none of the methods named predicts responses"
    settings = replace(BenchSettings.quick() if quick else BenchSettings(), drug_test_fraction=drug_test_fraction)
    if network is not None and not isinstance(network, Interactome):
        raise TwinCellError(f"network must be an Interactome, got {type(network).__name__}",
                            "load one with Interactome.default() or Interactome.load(path), or leave it out")
    network = network or Interactome.default()
    tier3_inputs = _tier3_inputs(names, network, signature_files, targets_file, bundled) if 3 in tiers else None
    drugs = DrugTargets.universe()
    train_options = {"max_epochs": settings.max_epochs, "patience": 1}
    first = seeds[0]
    facts = {"tiers": ",".join(map(str, tiers)), "seed": ", ".join(map(str, seeds)), "quick": str(quick),
             "network": repr(network), "n_bootstrap": str(settings.n_boot), "n_shuffles": str(settings.n_shuffles)}
    if len(seeds) > 1:
        facts["seed"] += f" (tiers 1-2 once per seed; tier 3 with seed {first}; summary = mean over seeds)"
    if unscored:
        facts["tier 1 not scored"] = unscored
    parts: list[pd.DataFrame] = []
    cases: list[pd.DataFrame] = []
    result = BenchResult(pd.DataFrame(columns=list(RESULT_COLUMNS)), facts=facts)
    started = time.monotonic()
    if 1 in tiers or 2 in tiers:
        with bar(desc="TwinBench tiers 1-2", total=len(seeds), unit="seed") as progress:
            for s in seeds:
                progress.set_postfix_str(f"seed {s}")
                seed_facts: dict[str, str] = {}
                table, tier2_cases = _run_seed(tiers, names, network, drugs, settings, s, train_options, seed_facts)
                parts.append(table.assign(seed=s))
                if not tier2_cases.empty:
                    cases.append(tier2_cases.assign(seed=s))
                facts.update({key if len(seeds) == 1 else f"{key} (seed {s})": v for key, v in seed_facts.items()})
                progress.update(1)
        if cases:
            result.tier2_cases = pd.concat(cases, ignore_index=True)
    if 3 in tiers:
        lap = time.monotonic()
        res = _run_tier3(names, network, drugs, settings, first, tier3_inputs, model, facts)
        parts.append(res.table.assign(seed=first))
        result.targets, result.roc, result.coverage = res.targets, res.roc, res.coverage
        facts["seconds, tier 3"] = f"{time.monotonic() - lap:.0f}"
    facts["seconds"] = f"{time.monotonic() - started:.0f}"
    result.table = pd.concat(parts, ignore_index=True)[list(RESULT_COLUMNS)]
    return result


def _given_model(model: TwinCell | str | os.PathLike | None) -> TwinCell | None:
    """Tier 3's model: a TwinCell, one loaded from a model folder, or None (the default model).

    Raises
    ------
    TwinCellError
        Anything else (a wrong object would be ignored and a new model trained in its place).
    """
    if model is None or isinstance(model, TwinCell):
        return model
    if isinstance(model, (str, os.PathLike)):
        return TwinCell.load(model)
    raise TwinCellError(f"model must be a TwinCell or a model folder, got {type(model).__name__}",
                        "pass TwinCell.load(DIR) (CLI: --model DIR), or leave it out for the default model")


def _run_seed(tiers: Sequence[int], names: Sequence[str], network: Interactome, drugs: DrugTargets,
              settings: BenchSettings, seed: int, train_options: dict,
              facts: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tiers 1 and 2 (those of ``tiers``) with one seed: their tidy rows and tier 2's per-case ranks."""
    started = time.monotonic()
    parts, cases = _run_perturbation_tiers(tiers, names, network, drugs, settings, seed, train_options, facts)
    facts["seconds, LINCS tiers"] = f"{time.monotonic() - started:.0f}"
    if 1 in tiers:
        lap = time.monotonic()
        parts.append(_run_context_tier1(names, network, drugs, settings, seed, train_options, facts))
        facts["seconds, tier 1 contexts"] = f"{time.monotonic() - lap:.0f}"
    if not parts:  # tier 2's methods all left out (facts say why) beside tier 3
        return pd.DataFrame(columns=list(TABLE_COLUMNS)), cases
    return pd.concat(parts, ignore_index=True), cases


def _fit(methods: Sequence[Method], train: PerturbationDataset) -> list[Method]:
    """Fit the methods that need it and are not fitted yet (a given model is kept)."""
    return [m if m.is_fitted else m.fit(train) for m in methods]


def _with_mean(names: Sequence[str]) -> list[str]:
    return list(names) if "mean" in names else [*names, "mean"]


def _run_perturbation_tiers(tiers: Sequence[int], names: Sequence[str], network: Interactome, drugs: DrugTargets,
                            settings: BenchSettings, seed: int, train_options: dict,
                            facts: dict[str, str]) -> tuple[list[pd.DataFrame], pd.DataFrame]:
    """Tier 2 and tier 1 (held-out perturbations) on LINCS over-expression, split by target gene, and tier 2 on
    held-out cytokines (CytoSig, split by cytokine), all with the same fitted methods.

    Returns the tiers' tidy tables and tier 2's per-case ranks (empty without tier 2).
    """
    data = load_bundled(TIER2_DATASET)
    split = make_split(data, "target", settings.test_fraction, seed)
    (train,), (test,) = split.apply([data])
    test = _subsample(test, settings.max_tier2_cases, seed)
    cytokine_split, cytokine_train, cytokine_test = split_cytokines(seed)
    drug_data = load_drug_datasets() if 2 in tiers else []  # loaded once: the split, the seen targets, the cases
    test_drugs, training_drugs = (split_drugs(drug_data, pd.Index(network.genes), settings.drug_test_fraction, seed)
                                  if 2 in tiers else (frozenset(), frozenset()))
    resources = Resources(network, drugs, seed, train_options=train_options,
                          training_exposure=perturbation_target_counts([train]),
                          held_out=frozenset(cytokine_split.held_out), held_out_genes=frozenset(split.held_out),
                          training_drugs=training_drugs,
                          drug_datasets=tuple(drug_data))
    wanted = _with_mean(names) if 1 in tiers else list(names)
    methods = _fit(make_methods(wanted, resources), train)
    facts["tier 1/2 data"] = (f"{TIER2_DATASET}: {train.n_obs} training rows; {len(split.held_out)} target genes "
                              f"held out, {test.n_obs} of their rows used (>= 10 measured genes)")
    parts, cases = [], pd.DataFrame()
    rankers = _tier2_rankers(methods, names, training_drugs, facts, only_tier=tiers == [2]) if 2 in tiers else []
    if rankers:
        t2 = run_tier2(rankers, test, dataset=TIER2_LABEL, common=train.mean_response(), n_boot=settings.n_boot,
                       seed=seed)
        facts["tier 2 cases"] = _case_facts(t2)
        held_genes = resources.held_out_genes  # what a method may add to its training leaves these genes' rows out
        seen = frozenset(perturbation_target_counts([train, cytokine_train.without_targets(held_genes),
                                                     *training_drug_rows(drug_data, training_drugs, held_genes)]).index)
        t2c = run_receptor_recovery(rankers, cytokine_test, seen, dataset=CYTOKINE_LABEL,
                                    common=cytokine_train.mean_response(), n_boot=settings.n_boot,
                                    seed=seed)
        facts["tier 2 cytokines"] = _cytokine_facts(t2c, cytokine_split.held_out, len(cytokine_split.test_masks[0]))
        t2d = run_drug_recovery(rankers, drug_data, seen, dataset=DRUG_LABEL, seed=seed,
                                max_cases=settings.max_tier2_cases, drugs=test_drugs, n_boot=settings.n_boot)
        facts["tier 2 drugs"] = _drug_facts(t2d, count_drugs(test_drugs), count_drugs(training_drugs))
        for label, result in (("LINCS", t2), ("cytokine", t2c), ("drug", t2d)):
            facts[f"tier 2 {label} cases vs the training mean response"] = _common_facts(result.per_perturbation)
        cases = pd.concat([t2.per_perturbation, t2c.per_perturbation, t2d.per_perturbation], ignore_index=True)
        parts += [t2.table, t2c.table, t2d.table]
    if 1 in tiers:
        forward = [m for m in methods if m.predicts_response]
        baseline = next(m for m in forward if m.name == "mean")
        parts.append(run_tier1(forward, baseline, test, dataset=TIER2_LABEL,
                               n_boot=settings.n_boot, seed=seed))
    return parts, cases


def _tier2_rankers(methods: Sequence[Method], names: Sequence[str], training_drugs: frozenset[str],
                   facts: dict[str, str], *, only_tier: bool) -> list[Method]:
    """The named ranking methods that tier 2 can score: a method that trains on the bundled drug responses
    (``trains_on_drugs``) is left out when the split leaves it no training drug (it would rank nothing and score
    chance), and the facts say why.

    Raises
    ------
    TwinCellError
        If that leaves nothing to score and tier 2 is the only tier asked for (``only_tier``).
    """
    rankers = [m for m in methods if m.ranks_targets and m.name in names]
    idle = [m.name for m in rankers if m.trains_on_drugs and not training_drugs]
    why = f"{', '.join(idle)}: every drug is a tier-2 case, so no drug is left to train on"
    fix = "give --drug-test-fraction below 1, e.g. 0.5, to score it on the held-out drugs"
    if idle:
        facts["tier 2 not scored"] = f"{why} ({fix})"
    kept = [m for m in rankers if m.name not in idle]
    if not rankers:
        facts["tier 2 not scored"] = "none of the methods named ranks targets"
    if only_tier and not kept:
        raise TwinCellError(f"no method can be scored on tier 2 ({why if idle else 'none of them ranks targets'})",
                            fix if idle else "name a method that ranks targets: twincell bench --list-methods lists them")
    return kept


def split_cytokines(seed: int) -> tuple[Split, PerturbationDataset, PerturbationDataset]:
    """Tier 2's cytokine split: a seeded :data:`CYTOKINE_TEST_FRACTION` of CytoSig's cytokines held out.

    Returns
    -------
    split
        The :func:`~twincell.data.splits.make_split` split by perturbation (``held_out`` = cytokine names).
    train, test
        The training cytokines and the held-out ones (one row per cytokine).
    """
    cytokines = load_bundled(CYTOKINE_DATASET)
    split = make_split(cytokines, "perturbation", CYTOKINE_TEST_FRACTION, seed)
    (train,), (test,) = split.apply([cytokines])
    return split, train, test


def _case_facts(result: Tier2Result) -> str:
    """Tier 2's LINCS cases: how many, how many measured genes (and rich cases) they have, what was excluded."""
    genes = observed_genes(result.per_perturbation)
    return (f"{len(genes)} perturbations (measured genes: median {genes.median():.0f}, {int((genes >= RICH_GENES).sum())} "
            f"with >= {RICH_GENES}); excluded: {result.n_excluded}")


def _common_facts(per_case: pd.DataFrame) -> str:
    """How much of tier 2's held-out responses the training mean response explains (medians over the cases)."""
    share = per_case.drop_duplicates("perturbation")[["common_r", "common_share"]]
    r = share["common_r"]
    return (f"median Pearson r {r.median():.3f} (IQR {r.quantile(0.25):.3f}-{r.quantile(0.75):.3f}); median share "
            f"of a case's sum of squares that its fit on the mean explains {share['common_share'].median():.3f}")


def _scored_facts(result: Tier2Result, cases: str, positives: str,
                  variants: Sequence[str] | None = None) -> tuple[str, str, pd.DataFrame]:
    """A multi-target tier-2 dataset's facts: ``"<variant>: <n> <cases>, <n> <positives>"`` per variant (those of
    ``variants``, default all), the exclusions that happened (``'none'``) and the per-variant case rows."""
    per = result.per_perturbation.drop_duplicates(["variant", "perturbation"])
    scored = "; ".join(f"{v}: {len(g)} {cases}, {g['target'].str.count(';').add(1).sum()} {positives}"
                       for v, g in per.groupby("variant", sort=False) if variants is None or v in variants)
    excluded = {k: n for k, n in result.n_excluded.items() if n}
    return scored, str(excluded or "none"), per


def _cytokine_facts(result: Tier2Result, held_out: Sequence[str], n_cytokines: int) -> str:
    """What tier 2's cytokine dataset held out and scored: cytokines, cases and positives per variant, exclusions."""
    scored, excluded, _ = _scored_facts(result, "cytokines", "receptor positives")
    return (f"{CYTOKINE_DATASET}: {len(held_out)} of {n_cytokines} cytokines held out ({', '.join(held_out)}); "
            f"{scored}; excluded: {excluded}")


def _drug_facts(result: Tier2Result, n_test: int, n_training: int) -> str:
    """What tier 2's drug cases scored: held-out and training drugs, drugs and target positives per variant, measured
    genes, exclusions."""
    scored, excluded, per = _scored_facts(result, "drugs", "target positives", DRUG_VARIANTS)
    genes = per.loc[per["variant"] == next(iter(DRUG_VARIANTS)), "n_genes"]
    split = (f"{n_test} drugs held out, {n_training} training drugs (their targets count as seen)" if n_training
             else "every drug held out")
    return (f"{split}; one seeded context per held-out drug (all its spellings) with a signed target in the network; "
            f"{scored}; "
            f"measured genes per response: "
            f"median {genes.median():.0f} (min {genes.min()}); excluded: {excluded}; the free view is the "
            f"mean response of the drugs with no target in the network")


def held_out_context_tier1(names: Sequence[str], train: PerturbationDataset, test: PerturbationDataset, *,
                           network: Interactome, drugs: DrugTargets, seed: int = 0, train_options: dict | None = None,
                           n_boot: int = 1000, contexts: ContextRegistry | None = None) -> pd.DataFrame:
    """Tier 1 on rows of contexts ``train`` never saw (context-gated TwinCell).

    The forward methods among ``names`` (``mean``, the ``l2_ratio`` denominator, added when missing) are fitted on
    ``train`` and scored on ``test`` by :func:`~twincell.bench.tier1.run_tier1`, labelled
    :data:`TIER1_CONTEXT_LABEL`. ``train_options`` go to the learned methods' training; ``contexts`` are the context
    embeddings (None: :meth:`ContextRegistry.default`).
    """
    resources = Resources(network, drugs, seed, contexts=contexts or ContextRegistry.default(),
                          train_options=train_options or {})
    forward = make_methods([n for n in check_method_names(_with_mean(names)) if METHODS[n].predicts_response],
                           resources)
    forward = _fit(forward, train)
    baseline = next(m for m in forward if m.name == "mean")
    return run_tier1(forward, baseline, test, dataset=TIER1_CONTEXT_LABEL, n_boot=n_boot, seed=seed)


def _run_context_tier1(names: Sequence[str], network: Interactome, drugs: DrugTargets, settings: BenchSettings,
                       seed: int, train_options: dict, facts: dict[str, str]) -> pd.DataFrame:
    """Tier 1 on drug signatures of a held-out cell type, drawn by the seed."""
    data = load_bundled(TIER1_CONTEXT_DATASET)
    split = make_split(data, "context", 0.25, seed)
    (train,), (test,) = split.apply([data])
    facts["tier 1 contexts"] = (f"{TIER1_CONTEXT_DATASET}: {train.n_obs} training rows; held-out context(s) "
                                f"{', '.join(split.held_out)} ({test.n_obs} rows)")
    return held_out_context_tier1(names, train, test, network=network, drugs=drugs, seed=seed,
                                  train_options=train_options, n_boot=settings.n_boot)


def _tier3_inputs(names: Sequence[str], network: Interactome, signature_files: Sequence[str | os.PathLike],
                  targets_file: str | os.PathLike | None, bundled: bool) -> tuple[list, pd.DataFrame, list]:
    """Tier 3's signatures, approved targets and clinical tasks, read and checked before any tier runs.

    Raises
    ------
    TwinCellError
        No named method ranks targets, no signature, unreadable files (their loaders' errors), or no disease with
        both a signature and an approved target in the network.
    """
    if not any(METHODS[n].ranks_targets for n in names):
        raise TwinCellError(f"no method named ranks targets, which tier 3 scores ({', '.join(names)})",
                            "name a method that ranks targets: twincell bench --list-methods lists them")
    signatures = (bundled_signatures() if bundled else []) + read_signature_files(signature_files)
    if not signatures:
        raise TwinCellError("tier 3 has no disease signature", "keep the bundled signatures or pass --signature FILE")
    targets = read_targets(targets_file)
    tasks = clinical_tasks(signatures, targets, pd.Index(network.genes))
    if not any(t.status == "scored" for t in tasks):
        raise TwinCellError("no disease has both a signature and an approved target in the network ("
                            + "; ".join(f"{t.disease}: {t.status}" for t in tasks) + ")",
                            "name signature files <Disease>_<study>.tsv after the diseases of the target table")
    return signatures, targets, tasks


def _run_tier3(names: Sequence[str], network: Interactome, drugs: DrugTargets, settings: BenchSettings, seed: int,
               inputs: tuple[list, pd.DataFrame, list], model: TwinCell | None, facts: dict[str, str]) -> Tier3Result:
    """Tier 3 on the disease signatures (:func:`_tier3_inputs`); learned baselines train on all of LINCS (or every
    bundled drug), TwinCell is the default model."""
    signatures, targets, tasks = inputs
    candidates = pd.Index(network.genes)
    # every ranking of the trained TwinCell (plain, calibrated, centred, common) scores the default model
    uses_model = {n for n in names if n in METHODS and issubclass(METHODS[n], learned.TwinCellMethod)}
    needs_model = bool(uses_model) and model is None
    if uses_model and model is not None and model.interactome.fingerprint != network.fingerprint:
        raise TwinCellError(f"the model was trained on another network ({model.interactome!r}) than the benchmark's "
                            f"({network!r}): genes it lacks would tie at the floor", "bench with the network the "
                            "model was trained on (network=model.interactome; CLI: --network of its training)")
    exposure = default_training_exposure()
    ranking = [n for n in check_method_names(names) if METHODS[n].ranks_targets]
    drug_data = tuple(load_drug_datasets()) if any(METHODS[n].trains_on_drugs for n in ranking) else ()
    every_drug = split_drugs(drug_data, candidates, 1.0, seed)[0] if drug_data else frozenset()
    resources = Resources(network, drugs, seed, model=default_model() if needs_model else model,
                          training_exposure=exposure, training_drugs=every_drug, drug_datasets=drug_data)
    rankers = make_methods(ranking, resources)
    if not all(m.is_fitted for m in rankers):
        rankers = _fit(rankers, load_bundled(TIER2_DATASET))
    facts["tier 3 data"] = (f"{len(signatures)} signatures; targets from {targets.attrs.get('source')} "
                            f"({targets['disease'].nunique()} diseases, {len(targets)} disease-target pairs; "
                            f"left out: {targets.attrs.get('blank_rows', 0)} rows without a disease or gene, "
                            f"{len(targets.attrs.get('unmapped', []))} unmapped gene IDs"
                            + (f": {', '.join(targets.attrs['unmapped'][:10])}" if targets.attrs.get("unmapped") else "")
                            + ")")
    if uses_model:
        facts["tier 3 TwinCell model"] = repr(resources.model)
    if every_drug:
        rows = training_drug_rows(drug_data, every_drug)
        facts["tier 3 drug responses"] = (f"{count_drugs(every_drug)} drugs with a signed network target "
                                          f"({len(every_drug)} spellings), every context "
                                          f"({sum(d.n_obs for d in rows)} rows, "
                                          f"{len(perturbation_target_counts(rows))} target genes), for "
                                          f"{', '.join(m.name for m in rankers if m.trains_on_drugs)}")
    facts["tier 3 training exposure"] = (f"{len(exposure)} genes were perturbation targets of the default model's "
                                         f"training data (left out of auroc_druggable_unseen)")
    druggable = drugs.druggable_genes() | set(targets["gene"])
    if any(m.reads_drug_table for m in rankers):
        facts["tier 3 drug-table controls"] = _drugless_facts(drugless_when_hidden(tasks, drugs,
                                                                                   candidates.intersection(druggable)))
    result = run_tier3(rankers, tasks, druggable, exposed=set(exposure.index),
                       directions=approved_directions(targets, drugs), n_boot=settings.n_boot,
                       n_shuffles=settings.n_shuffles, seed=seed)
    gaps = diseases_without_value(result.table)
    if gaps:
        facts["tier 3 means over fewer diseases"] = "; ".join(f"{metric}: no value for {', '.join(diseases)}"
                                                             for metric, diseases in gaps.items())
    return result


def _drugless_facts(counts: pd.DataFrame) -> str:
    """Why tier 3's drug-table controls have no fair version: what hiding each disease's approved drugs leaves."""
    per = ", ".join(f"{d} {r.targets_without_drug}/{r.targets}" for d, r in counts.iterrows())
    total = counts.sum()
    return (f"each disease's approved drugs hidden, {total['targets_without_drug']} of {total['targets']} approved "
            f"targets have no drug left ({per}), against {total['negatives_without_drug']} of "
            f"{total['negatives']} other druggable genes (summed over diseases)")


def diseases_without_value(table: pd.DataFrame) -> dict[str, list[str]]:
    """Skill metrics whose tier-3 mean leaves out diseases: metric -> the scored diseases without a value for it.

    A disease has no ``auroc_druggable_unseen`` when every approved target of it was perturbed in training, and no
    direction metric when no approved drug's action is known; :func:`skill_table` then averages the other diseases.
    Only diseases some method scored are counted, and only metrics some method has.
    """
    t = table[(table["tier"] == 3) & (table["signature"] == MEAN) & table["metric"].isin(SKILL_METRICS)
              & (table["disease"] != COMBINED)]
    scored = set(t.loc[t["metric"] == "auroc_druggable", "disease"])
    t = t[t["disease"].isin(scored)]
    valued = t[t["value"].notna()].groupby("metric")["disease"].agg(set)
    return {metric: sorted(scored - diseases) for metric, diseases in valued.items() if scored - diseases}
