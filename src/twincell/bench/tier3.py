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

Mode-collapse p-value: the method's AUROC for disease D is compared with its AUROC against D's
targets when given (a) every signature of the other diseases and (b) ``n_shuffles`` shuffles of D's
signature (values re-assigned to random genes). ``p = (1 + #{null >= observed}) / (1 + #null)``; a
method that ranks the same genes whatever the input gets p = 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from twincell._progress import track
from twincell.bench.diseases import ClinicalTask, disease_of
from twincell.bench.methods import Method, run_method
from twincell.bench.metrics import RANK_KS, RankedPositives, auprc, auroc, ndcg, percentile_ci
from twincell.data.signatures import Signature

UNIVERSES: dict[str, str] = {"all": "", "druggable": "_druggable"}
SKLEARN_POINT = {"auroc": auroc, "auprc": auprc, "ndcg": ndcg}
FPR_GRID = np.linspace(0.0, 1.0, 101)
MEAN = "mean"
NO_SIGNATURE = "no signature"


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


def shuffle_signature(signature: Signature, genes: pd.Index, rng: np.random.Generator, k: int) -> Signature:
    """The signature's values re-assigned to random genes of ``genes`` ∪ the signature's genes (k-th shuffle)."""
    pool = signature.logfc.index.union(genes)
    chosen = rng.choice(len(pool), size=len(signature.logfc), replace=False)
    values = pd.Series(signature.logfc.to_numpy(), index=pool[chosen], name="logfc")
    return Signature(name=f"{signature.name}~shuffle{k}", logfc=values, method="shuffle")


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


def _empirical_p(observed: float, null: np.ndarray) -> float:
    return float((1 + np.sum(null >= observed - 1e-12)) / (1 + len(null)))


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

    def auroc_of(self, scores: pd.Series) -> float:
        return float(self.ranked(scores).metrics(ks=())["auroc"][0])


def run_tier3(methods: Sequence[Method], tasks: Sequence[ClinicalTask], druggable: set[str], *,
              n_boot: int = 1000, n_shuffles: int = 20, seed: int = 0) -> Tier3Result:
    """Run tier 3 for every method.

    Parameters
    ----------
    methods
        Fitted methods that rank targets (all share one network).
    tasks
        Diseases with their signatures and targets (:func:`twincell.bench.diseases.clinical_tasks`).
    druggable
        Genes targeted by some drug (the negatives of the druggable-genome variant).
    n_boot
        Bootstrap resamples of the approved targets for the confidence intervals.
    n_shuffles
        Shuffled signatures per signature for the mode-collapse p-value.
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
    shuffles = {s.name: [shuffle_signature(s, candidates, rng, k) for k in range(n_shuffles)]
                for t in scored for s in t.signatures}
    boot = {t.disease: rng.integers(0, len(t.targets), size=(n_boot, len(t.targets))) for t in scored}
    universes = {"all": None, "druggable": candidates[candidates.isin(list(druggable))]}
    rows: list[dict] = []
    target_rows: list[pd.DataFrame] = []
    roc_rows: list[pd.DataFrame] = []
    for t in tasks:
        if t.status == NO_SIGNATURE:
            rows += [_row(m.name, t.disease, NO_SIGNATURE, f"auroc{suffix}", np.nan)
                     for m in methods for suffix in UNIVERSES.values()]
    for method in track(methods, desc="tier 3 methods", total=len(methods)):
        real = {s.name: run_method(method, s, candidates=candidates) for s in all_sigs}
        for task in track(scored, desc=f"tier 3 {method.name}", total=len(scored)):
            shuffled = {s.name: [run_method(method, sh, candidates=candidates) for sh in shuffles[s.name]]
                        for s in task.signatures}
            for universe, negatives in universes.items():
                scorer = _TaskScorer(task, negatives)
                r, tgt, roc = _score_task(method.name, scorer, real, shuffled, boot[task.disease], universe)
                rows += r
                target_rows.append(tgt)
                roc_rows.append(roc)
    return Tier3Result(pd.DataFrame(rows), pd.concat(target_rows, ignore_index=True) if target_rows else pd.DataFrame(),
                       pd.concat(roc_rows, ignore_index=True) if roc_rows else pd.DataFrame(), coverage_table(tasks))


def _score_task(method: str, scorer: _TaskScorer, real: Mapping[str, pd.Series],
                shuffled: Mapping[str, list[pd.Series]], resample: np.ndarray,
                universe: str) -> tuple[list[dict], pd.DataFrame, pd.DataFrame]:
    task = scorer.task
    suffix = UNIVERSES[universe]
    names = [s.name for s in task.signatures]
    rows: list[dict] = []
    points, boots, ranks, tprs = [], [], [], []
    for name in names:
        ranked = scorer.ranked(real[name])
        point = scorer.point(real[name], ranked)
        boot = ranked.metrics(RANK_KS, resample)
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
    # mode collapse: other diseases' signatures and shuffles of this disease's signatures
    observed = {name: p["auroc"] for name, p in zip(names, points)}
    other = [n for n in real if disease_of(n).lower() != task.disease.lower()]
    other_auroc = {n: scorer.auroc_of(real[n]) for n in other}
    shuffle_auroc = {n: np.array([scorer.auroc_of(s) for s in shuffled[n]]) for n in names}
    for name in names:
        null = np.r_[list(other_auroc.values()), shuffle_auroc[name]]
        rows.append(_row(method, task.disease, name, f"mode_collapse_p{suffix}", _empirical_p(observed[name], null)))
    per_disease = pd.Series(other_auroc).groupby(lambda n: disease_of(n).lower()).mean().to_numpy()
    shuffle_means = np.mean([shuffle_auroc[n] for n in names], axis=0)
    rows.append(_row(method, task.disease, MEAN, f"mode_collapse_p{suffix}",
                     _empirical_p(np.mean(list(observed.values())), np.r_[per_disease, shuffle_means])))
    targets = _target_table(method, task, names, ranks, universe)
    roc = pd.DataFrame({"universe": universe, "method": method, "disease": task.disease,
                        "fpr": FPR_GRID, "tpr": np.mean(tprs, axis=0)})
    return rows, targets, roc


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
