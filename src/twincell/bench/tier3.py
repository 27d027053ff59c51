"""Tier 3 (clinical): rank targets from patient-tissue disease signatures, score against approved-drug targets.

For every method and every signature, the method's scores over the network's genes are compared
with the disease's approved-drug targets (the positives) in two universes:

* ``all``: every other network gene is a negative (metric names as they are: ``auroc`` ...);
* ``druggable``: the negatives are only the genes some drug of the drug table targets (metric names
  with the suffix ``_druggable``). This is the headline: a disease-blind druggability ranking already
  separates approved targets from all genes, but not from other drug targets.

Each signature is scored on its own and each disease as the mean over its signatures
(``signature = "mean"``). Confidence intervals come from a bootstrap over the disease's approved
targets (the negatives are kept; the same resamples are used for every signature and method).

Where the skill comes from (all in the druggable universe):

* ``auroc_druggable_shuffled``: mean AUROC over ``n_shuffles`` value permutations (the logFC values
  permuted among the signature's own genes); ``signature_gain_druggable`` = ``auroc_druggable`` minus
  it, interval = percentiles of the gain over the permutations: does the ranking use the direction
  and size of each change?
* ``auroc_druggable_geneset_shuffled`` / ``geneset_gain_druggable``: the same with the values of the
  signature's network genes moved to a random set of network genes of the same size: does the
  ranking use *which* genes change?
* ``auroc_druggable_unseen``: positives and negatives restricted to genes that were never a
  perturbation target of the default model's training data (one gene set for every method).
* ``druggable_in_top_50``: drug targets among the method's top 50 of all network genes (a tied block
  at the cut counts in proportion).
* ``direction_accuracy`` (methods that give a direction): share of the approved targets with a known
  drug action whose predicted direction (activate / inhibit) is the drug's; no direction is a miss.
  Most approved drugs inhibit, so ``direction_balanced_accuracy`` gives the mean over the two
  actions (activate, inhibit) of the share predicted correctly (a constant direction scores 0.5
  where both are known); the disease-blind controls ``druggability`` (inhibit everything) and
  ``popular_targets`` (each gene's majority drug action) give directions to compare with.
  ``direction_coverage`` is the share of those targets given any direction: both accuracies count
  "no direction" as a miss, so a method that abstains on many targets sits below 0.5 even when every
  direction it gives is right.

Mode-collapse p-value: the method's AUROC for disease D is compared with its AUROC against D's
targets when given (a) every signature of the other diseases and (b) the ``n_shuffles`` random-gene-set
shuffles of D's signature. ``p = (1 + #{null >= observed}) / (1 + #null)``; a method that ranks the
same genes whatever the input gets p = 1. Per disease (``signature = "mean"``) the null holds the
other diseases' means and the shuffles' means, so 100 shuffles put the floor below 0.01. Over the
diseases, rows with ``disease = "combined"`` give the number of diseases with p < 0.05
(``mode_collapse_n_significant``) and Fisher's combined p-value (``mode_collapse_fisher_p``; the
diseases' nulls share the other diseases' signatures, so read it as approximate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from twincell._progress import track
from twincell.bench.diseases import ClinicalTask, disease_of
from twincell.bench.methods import Method, run_method_many
from twincell.bench.metrics import (RANK_KS, RankedPositives, auprc, auroc, auroc_columns, direction_accuracy,
                                    direction_balanced_accuracy, direction_coverage, empirical_p, fisher_combined_p,
                                    hits_in_top, ndcg, percentile_ci)
from twincell.data.signatures import Signature

UNIVERSES: dict[str, str] = {"all": "", "druggable": "_druggable"}
SKLEARN_POINT = {"auroc": auroc, "auprc": auprc, "ndcg": ndcg}
FPR_GRID = np.linspace(0.0, 1.0, 101)
MEAN = "mean"
NO_SIGNATURE = "no signature"
COMBINED = "combined"
TOP_K = 50
SIGNIFICANCE = 0.05
#: Direction metrics of the methods that give a direction: name -> (predicted, known) -> value.
DIRECTION_METRICS = {"direction_accuracy": direction_accuracy,
                     "direction_balanced_accuracy": direction_balanced_accuracy,
                     "direction_coverage": direction_coverage}


@dataclass
class Tier3Result:
    """Tables of tier 3.

    Attributes
    ----------
    table
        Tidy metrics: ``tier, method, disease, signature, metric, value, ci_low, ci_high``.
    targets
        Rank of every approved target: ``method, disease, signature, universe, gene, in_network, rank,
        n_candidates, top_percent`` (``signature = "mean"``: rank averaged over the disease's signatures).
    roc
        Mean ROC curve per method and disease: ``universe, method, disease, fpr, tpr``.
    coverage
        Per disease: ``disease, status, n_signatures, signatures, n_targets, n_targets_in_network, targets_absent``.
    """

    table: pd.DataFrame
    targets: pd.DataFrame
    roc: pd.DataFrame
    coverage: pd.DataFrame


def permute_values(signature: Signature, rng: np.random.Generator, k: int) -> Signature:
    """The k-th value permutation: the signature's logFC values permuted among its own genes."""
    values = pd.Series(rng.permutation(signature.logfc.to_numpy()), index=signature.logfc.index, name="logfc")
    return Signature(name=f"{signature.name}~permuted{k}", logfc=values, method="value permutation")


def move_to_random_genes(signature: Signature, genes: pd.Index, rng: np.random.Generator, k: int) -> Signature:
    """The k-th gene-set shuffle: the values of the signature's genes in ``genes`` moved to random genes of ``genes``.

    The new gene set has the same size (the signature's genes in ``genes``, e.g. the network); the
    signature's genes outside ``genes`` keep their values.
    """
    inside = signature.logfc.index.isin(genes)
    chosen = genes[rng.choice(len(genes), size=int(inside.sum()), replace=False)]
    values = pd.concat([pd.Series(signature.logfc.to_numpy()[inside], index=chosen),
                        signature.logfc[~inside]]).rename("logfc")
    return Signature(name=f"{signature.name}~geneset{k}", logfc=values, method="random gene set")


def coverage_table(tasks: Sequence[ClinicalTask]) -> pd.DataFrame:
    """One row per disease: status, signatures and how many approved targets are network genes."""
    return pd.DataFrame([{
        "disease": t.disease, "status": t.status, "n_signatures": len(t.signatures),
        "signatures": ", ".join(s.name for s in t.signatures), "n_targets": len(t.targets) + len(t.targets_absent),
        "n_targets_in_network": len(t.targets), "targets_absent": ", ".join(t.targets_absent)} for t in tasks])


def _row(method: str, disease: str, signature: str, metric: str, value: float,
         ci: tuple[float, float] = (np.nan, np.nan)) -> dict:
    return {"tier": 3, "method": method, "disease": disease, "signature": signature, "metric": metric,
            "value": float(value), "ci_low": ci[0], "ci_high": ci[1]}


@dataclass
class _Task:
    """One scored disease, fixed for every method: masks over the candidates, resamples, known directions."""

    task: ClinicalTask
    positive: np.ndarray
    negatives: dict[str, np.ndarray]
    resample: np.ndarray
    unseen_targets: tuple[str, ...] = ()
    unseen_negatives: pd.Index | None = None
    unseen_resample: np.ndarray | None = None
    directions: pd.Series = field(default_factory=lambda: pd.Series(dtype=int))


class _TaskScorer:
    """Scores one method on one disease in one universe (positives fixed, negatives per universe)."""

    def __init__(self, task: ClinicalTask, negatives: pd.Index | None) -> None:
        self.task = task
        self.negatives = negatives

    def ranked(self, scores: pd.Series) -> RankedPositives:
        return RankedPositives.from_scores(scores, self.task.targets, self.negatives)

    def restricted(self, scores: pd.Series) -> pd.Series:
        if self.negatives is None:
            return scores
        return scores[scores.index.isin(self.negatives) | scores.index.isin(self.task.targets)]

    def point(self, scores: pd.Series, ranked: RankedPositives) -> dict[str, float]:
        """Point estimates: AUROC, AUPRC, nDCG from scikit-learn; recall@k and median rank from the ranks."""
        sub = self.restricted(scores)
        out = {name: fn(sub, self.task.targets) for name, fn in SKLEARN_POINT.items()}
        rest = ranked.metrics()
        out.update({k: float(v[0]) for k, v in rest.items() if k not in out})
        return out


def run_tier3(methods: Sequence[Method], tasks: Sequence[ClinicalTask], druggable: set[str], *,
              exposed: set[str] | None = None, directions: pd.Series | None = None,
              n_boot: int = 1000, n_shuffles: int = 100, seed: int = 0) -> Tier3Result:
    """Run tier 3 for every method.

    Parameters
    ----------
    methods
        Fitted methods that rank targets (all share one network).
    tasks
        Diseases with their signatures and targets (:func:`twincell.bench.diseases.clinical_tasks`).
    druggable
        Genes targeted by some drug (the negatives of the druggable-genome variant).
    exposed
        Genes that were perturbation targets of the default model's training data; with it,
        ``auroc_druggable_unseen`` scores the other genes only (None: no such rows).
    directions
        (disease, gene) -> approved drug's direction, +1 / -1
        (:func:`twincell.bench.diseases.approved_directions`); None: no ``direction_accuracy``.
    n_boot
        Bootstrap resamples of the approved targets for the confidence intervals.
    n_shuffles
        Value permutations and, separately, random-gene-set shuffles per signature (the latter are
        the mode-collapse null); at least 99 keep a disease's p-value floor at or below 0.01.
    seed
        Seed of the shuffles and the bootstrap.

    Returns
    -------
    Tier3Result
    """
    candidates = pd.Index(methods[0].resources.network.genes)
    rng = np.random.default_rng(seed)
    scored = [t for t in tasks if t.status == "scored"]
    all_sigs = [s for t in tasks for s in t.signatures]
    shuffles = {s.name: [permute_values(s, rng, k) for k in range(n_shuffles)]
                + [move_to_random_genes(s, candidates, rng, k) for k in range(n_shuffles)]
                for t in scored for s in t.signatures}
    druggable_mask = candidates.isin(list(druggable))
    fixed = [_fixed_task(t, candidates, druggable_mask, exposed, directions, rng, n_boot) for t in scored]
    universes = {"all": None, "druggable": candidates[druggable_mask]}
    rows: list[dict] = []
    target_rows: list[pd.DataFrame] = []
    roc_rows: list[pd.DataFrame] = []
    for t in tasks:
        if t.status == NO_SIGNATURE:
            rows += [_row(m.name, t.disease, NO_SIGNATURE, f"auroc{suffix}", np.nan)
                     for m in methods for suffix in UNIVERSES.values()]
    for method in track(methods, desc="tier 3 methods", total=len(methods)):
        shared = run_method_many(method, all_sigs, candidates=candidates)
        first = len(rows)
        for ft in track(fixed, desc=f"tier 3 {method.name}", total=len(fixed)):
            ranker = method.hiding_drugs(ft.task.drugs)  # a drug-table control never sees the disease's own drugs
            real = shared if ranker is method else run_method_many(ranker, all_sigs, candidates=candidates)
            names = [s.name for s in ft.task.signatures]
            turned = ({n: ranker.target_directions(s.logfc.rename(n)) for n, s in zip(names, ft.task.signatures)}
                      if method.gives_direction and directions is not None else None)
            null = {n: run_method_many(ranker, shuffles[n], candidates=candidates).to_numpy() for n in names}
            for universe, negatives in universes.items():
                r, tgt, roc = _score_task(method.name, _TaskScorer(ft.task, negatives), ft, real, null, universe)
                rows += r
                target_rows.append(tgt)
                roc_rows.append(roc)
            rows += _shuffle_rows(method.name, ft, real, null, n_shuffles)
            rows += _extra_rows(method.name, ft, real, turned, druggable_mask)
        rows += _combined_rows(method.name, rows[first:])
    return Tier3Result(pd.DataFrame(rows), pd.concat(target_rows, ignore_index=True) if target_rows else pd.DataFrame(),
                       pd.concat(roc_rows, ignore_index=True) if roc_rows else pd.DataFrame(), coverage_table(tasks))


def _combined_rows(method: str, rows: Sequence[dict]) -> list[dict]:
    """Over the diseases: how many have a mode-collapse p < 0.05, and Fisher's combined p, per universe."""
    out = []
    for suffix in UNIVERSES.values():
        p = [r["value"] for r in rows if r["signature"] == MEAN and r["metric"] == f"mode_collapse_p{suffix}"]
        out += [_row(method, COMBINED, MEAN, f"mode_collapse_n_significant{suffix}", float(np.sum(np.asarray(p) < SIGNIFICANCE))),
                _row(method, COMBINED, MEAN, f"mode_collapse_fisher_p{suffix}", fisher_combined_p(p))]
    return out


def _fixed_task(task: ClinicalTask, candidates: pd.Index, druggable: np.ndarray, exposed: set[str] | None,
                directions: pd.Series | None, rng: np.random.Generator, n_boot: int) -> _Task:
    """Masks, bootstrap resamples and known directions of one disease, shared by every method."""
    positive = np.asarray(candidates.isin(task.targets))
    known = pd.Series(dtype=int)
    if directions is not None and len(directions):  # disease keys match case-insensitively, as clinical_tasks groups
        known = directions[directions.index.get_level_values(0).str.lower() == task.disease.lower()].droplevel(0)
    ft = _Task(task, positive, {"": ~positive, "_druggable": druggable & ~positive},
               rng.integers(0, len(task.targets), size=(n_boot, len(task.targets))),
               directions=known[known.index.isin(task.targets)])
    if exposed is not None:
        ft.unseen_targets = tuple(g for g in task.targets if g not in exposed)
        ft.unseen_negatives = candidates[druggable & ~positive & ~candidates.isin(list(exposed))]
        if ft.unseen_targets:
            ft.unseen_resample = rng.integers(0, len(ft.unseen_targets), size=(n_boot, len(ft.unseen_targets)))
    return ft


def _score_task(method: str, scorer: _TaskScorer, ft: _Task, real: pd.DataFrame, null: Mapping[str, np.ndarray],
                universe: str) -> tuple[list[dict], pd.DataFrame, pd.DataFrame]:
    """Point metrics with bootstrap intervals, ROC and target ranks, and the mode-collapse p-values."""
    task = scorer.task
    suffix = UNIVERSES[universe]
    names = [s.name for s in task.signatures]
    rows: list[dict] = []
    points, boots, ranks, tprs = [], [], [], []
    for name in names:
        ranked = scorer.ranked(real[name])
        point = scorer.point(real[name], ranked)
        boot = ranked.metrics(RANK_KS, ft.resample)
        points.append(point)
        boots.append(boot)
        ranks.append(ranked)
        rows += [_row(method, task.disease, name, f"{m}{suffix}", v, percentile_ci(boot[m])) for m, v in point.items()]
        sub = scorer.restricted(real[name])
        fpr, tpr, _ = roc_curve(sub.index.isin(task.targets), sub.to_numpy())
        tprs.append(np.interp(FPR_GRID, fpr, tpr))
    for m in points[0]:
        mean_boot = np.mean([b[m] for b in boots], axis=0)
        rows.append(_row(method, task.disease, MEAN, f"{m}{suffix}", np.mean([p[m] for p in points]),
                         percentile_ci(mean_boot)))
    # mode collapse: other diseases' signatures and random-gene-set shuffles of this disease's signatures
    negative = ft.negatives[suffix]
    observed = {name: p["auroc"] for name, p in zip(names, points)}
    other = [n for n in real.columns if disease_of(n).lower() != task.disease.lower()]
    other_auroc = pd.Series(auroc_columns(real[other].to_numpy(), ft.positive, negative), index=other)
    n = next(iter(null.values())).shape[1] // 2
    moved = {name: auroc_columns(null[name][:, n:], ft.positive, negative) for name in names}
    for name in names:
        rows.append(_row(method, task.disease, name, f"mode_collapse_p{suffix}",
                         empirical_p(observed[name], np.r_[other_auroc.to_numpy(), moved[name]])))
    per_disease = other_auroc.groupby(lambda c: disease_of(c).lower()).mean().to_numpy()
    moved_means = np.mean([moved[name] for name in names], axis=0)
    rows.append(_row(method, task.disease, MEAN, f"mode_collapse_p{suffix}",
                     empirical_p(np.mean(list(observed.values())), np.r_[per_disease, moved_means])))
    targets = _target_table(method, task, names, ranks, universe)
    roc = pd.DataFrame({"universe": universe, "method": method, "disease": task.disease,
                        "fpr": FPR_GRID, "tpr": np.mean(tprs, axis=0)})
    return rows, targets, roc


def _shuffle_rows(method: str, ft: _Task, real: pd.DataFrame, null: Mapping[str, np.ndarray],
                  n_shuffles: int) -> list[dict]:
    """Druggable AUROC on value permutations and random gene sets, and the gains over them (per signature, mean)."""
    negative = ft.negatives["_druggable"]
    names = [s.name for s in ft.task.signatures]
    observed = auroc_columns(real[names].to_numpy(), ft.positive, negative)
    rows = []
    for kind, part in (("", slice(0, n_shuffles)), ("_geneset", slice(n_shuffles, 2 * n_shuffles))):
        shuffled = np.vstack([auroc_columns(null[n][:, part], ft.positive, negative) for n in names])
        for label, obs, sh in [*zip(names, observed, shuffled), (MEAN, observed.mean(), shuffled.mean(axis=0))]:
            gain = obs - sh
            rows += [_row(method, ft.task.disease, label, f"auroc_druggable{kind}_shuffled", sh.mean(), percentile_ci(sh)),
                     _row(method, ft.task.disease, label, f"{kind.lstrip('_') or 'signature'}_gain_druggable",
                          gain.mean(), percentile_ci(gain))]
    return rows


def _unseen_auroc(scores: pd.Series, ft: _Task) -> tuple[float, np.ndarray | None]:
    """Druggable AUROC among genes never perturbed in training, and its bootstrap over those positives."""
    if not ft.unseen_targets or not len(ft.unseen_negatives):  # NaN: the run's facts name the disease
        return np.nan, None
    ranked = RankedPositives.from_scores(scores, ft.unseen_targets, ft.unseen_negatives)
    return float(ranked.metrics(ks=())["auroc"][0]), ranked.metrics(ks=(), resample=ft.unseen_resample)["auroc"]


def _ci(boot: np.ndarray | None) -> tuple[float, float]:
    return (np.nan, np.nan) if boot is None else percentile_ci(boot)


def _extra_rows(method: str, ft: _Task, real: pd.DataFrame, turned: Mapping[str, pd.Series] | None,
                druggable: np.ndarray) -> list[dict]:
    """``druggable_in_top_50``, ``auroc_druggable_unseen`` and the direction metrics, per signature and mean."""
    task = ft.task
    names = [s.name for s in task.signatures]
    top = hits_in_top(real[names].to_numpy(), druggable, TOP_K)
    per_metric: dict[str, list[tuple[float, np.ndarray | None]]] = {f"druggable_in_top_{TOP_K}": [(v, None) for v in top]}
    if ft.unseen_negatives is not None:
        per_metric["auroc_druggable_unseen"] = [_unseen_auroc(real[n], ft) for n in names]
    if turned is not None:
        for metric, fn in DIRECTION_METRICS.items():
            per_metric[metric] = [(fn(turned[n], ft.directions), None) for n in names]
    rows = []
    for metric, values in per_metric.items():
        for name, (v, boot) in zip(names, values):
            rows.append(_row(method, task.disease, name, metric, v, _ci(boot)))
        boots = [b for _, b in values]
        mean_boot = None if any(b is None for b in boots) else np.mean(boots, axis=0)
        rows.append(_row(method, task.disease, MEAN, metric, np.mean([v for v, _ in values]), _ci(mean_boot)))
    return rows


def _target_table(method: str, task: ClinicalTask, names: Sequence[str], ranks: Sequence[RankedPositives],
                  universe: str) -> pd.DataFrame:
    frames = []
    for name, ranked in zip(names, ranks):
        frames.append(pd.DataFrame({"gene": ranked.genes, "rank": ranked.ranks(),
                                    "n_candidates": ranked.n_neg + ranked.n_pos, "signature": name}))
    per_sig = pd.concat(frames, ignore_index=True)
    mean = per_sig.groupby("gene", as_index=False).agg(rank=("rank", "mean"), n_candidates=("n_candidates", "first"))
    mean["signature"] = MEAN
    absent = pd.DataFrame({"gene": list(task.targets_absent), "rank": np.nan, "n_candidates": np.nan, "signature": MEAN})
    out = pd.concat([per_sig, mean, absent], ignore_index=True)
    out["in_network"] = out["rank"].notna()
    out["top_percent"] = 100.0 * out["rank"] / out["n_candidates"]
    out.insert(0, "universe", universe)
    out.insert(0, "disease", task.disease)
    out.insert(0, "method", method)
    return out[["method", "disease", "signature", "universe", "gene", "in_network", "rank", "n_candidates",
                "top_percent"]]
