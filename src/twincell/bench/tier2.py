"""Tier 2 (zero-shot target recovery): find the perturbed gene from its observed response alone.

For each held-out perturbation whose target gene was never perturbed in training, every method
ranks all network genes from the observed response (the signature), and the true target's place is
scored in PDGrapher's units: AUROC, recall@1/10/100 (with one target per perturbation, recall@10 is
the share of perturbations with the true target in the top 10), nDCG, median rank, and the network
distance (hops, undirected) from the top prediction to the true target, beside the distance a random
pick would have (``distance_random``: mean distance from the target to all other network genes).
Methods that give a direction (:attr:`~twincell.bench.methods.Method.gives_direction`) are also
scored on it: every held-out perturbation over-expresses its target, so the way to reproduce the
observed response is to *activate* the target. ``direction_accuracy`` is the share of perturbations
for which the method's direction for the true target, with the observed response as the desired
change, is +1 (activate); "no direction" (0) counts as a miss. Methods reverse what they are given
(:meth:`~twincell.bench.methods.Method.target_directions` reverses a disease signature), so they are
handed the negated response, whose reversal is the response itself. Ranks use ``|score|`` and are
the same either way. A drug-free ground truth for the sign conventions of tier 3's
``direction_accuracy``. Methods without a direction get no such rows.
Means over perturbations; confidence intervals from a bootstrap over perturbations.

Two variants, both reported (``signature`` = ``<dataset>, <variant>``):

* ``network_only``: every method as it ranks drug targets; for TwinCell that is the drug operator,
  which leaves out the perturbed gene's own transcript: what propagation alone recovers;
* ``with_own_transcript``: methods that model the over-expressed gene's own transcript
  (:meth:`~twincell.bench.methods.Method.own_transcript_variant`, TwinCell's genetic self term)
  include it, as the data contain it (the target's transcript is measured in some responses);
  the other methods rank as in ``network_only``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import shortest_path

from twincell._progress import track
from twincell.bench.methods import Method, run_method
from twincell.bench.metrics import RankedPositives, percentile_ci
from twincell.data.perturbation import PerturbationDataset
from twincell.data.signatures import Signature
from twincell.errors import TwinCellError
from twincell.network import Interactome

TIER2_KS: tuple[int, ...] = (1, 10, 100)
MIN_GENES = 10
VARIANTS: tuple[str, ...] = ("network_only", "with_own_transcript")


@dataclass
class Tier2Result:
    """Tables of tier 2.

    Attributes
    ----------
    table
        Tidy metrics: ``tier, method, disease, signature, metric, value, ci_low, ci_high`` (``signature`` =
        dataset name, ``disease`` empty).
    per_perturbation
        ``variant, method, perturbation, target, rank, auroc, ..., distance_top1, distance_random, direction,
        direction_accuracy``: ``direction`` is the method's direction (+1 activate, -1 inhibit, 0 none) for the
        true target with the observed response as the desired change, ``direction_accuracy`` 1.0 when it is
        +1 and 0.0 otherwise; both NaN for methods without a direction.
    n_excluded
        Held-out rows left out, by reason.
    """

    table: pd.DataFrame
    per_perturbation: pd.DataFrame
    n_excluded: dict[str, int]


def recovery_cases(test: PerturbationDataset, candidates: pd.Index,
                   min_genes: int = MIN_GENES) -> tuple[list[tuple[Signature, str]], dict[str, int]]:
    """Held-out rows usable for target recovery: one known target in the network, enough measured genes.

    Returns
    -------
    cases
        (signature of the observed response, true target) per usable row.
    excluded
        Counts of rows left out: ``not_one_target``, ``target_not_in_network``, ``too_few_genes``.
    """
    cases, excluded = [], {"not_one_target": 0, "target_not_in_network": 0, "too_few_genes": 0}
    X = np.asarray(test.X)
    for i in range(test.n_obs):
        targets = [g for g, s in test.targets_of(i).items() if s != 0]
        measured = np.isfinite(X[i])
        if len(targets) != 1:
            excluded["not_one_target"] += 1
        elif targets[0] not in candidates:
            excluded["target_not_in_network"] += 1
        elif measured.sum() < min_genes:
            excluded["too_few_genes"] += 1
        else:
            name = f"{test.obs['perturbation'].iloc[i]}@{test.obs['context'].iloc[i]}"
            logfc = pd.Series(X[i, measured].astype(float), index=test.genes[measured], name="logfc")
            cases.append((Signature(name=name, logfc=logfc, method="observed response"), targets[0]))
    return cases, excluded


def hop_distances(network: Interactome, sources: Sequence[str]) -> np.ndarray:
    """Unweighted shortest-path length (hops, edges read as undirected) from each source to every gene, (S, N)."""
    a = network.adjacency()
    return shortest_path(a, directed=False, unweighted=True, indices=network.node_index(sources))


def run_tier2(methods: Sequence[Method], test: PerturbationDataset, *, dataset: str, min_genes: int = MIN_GENES,
              n_boot: int = 1000, seed: int = 0) -> Tier2Result:
    """Score target recovery of fitted methods on held-out perturbations.

    Parameters
    ----------
    methods
        Methods that rank targets, fitted on a training split without the test targets.
    test
        Held-out perturbations (one target each).
    dataset
        Label written in the ``signature`` column, followed by the variant.
    min_genes
        Minimum number of measured response genes for a perturbation to be used.
    n_boot, seed
        Bootstrap over perturbations for the confidence intervals.
    """
    network = methods[0].resources.network
    candidates = pd.Index(network.genes)
    cases, excluded = recovery_cases(test, candidates, min_genes)
    if not cases:
        raise TwinCellError(f"no held-out perturbation of {dataset} is usable for target recovery ({excluded})",
                            f"tier 2 needs perturbations with one known target in the network and >= {min_genes} measured genes")
    dist = hop_distances(network, [t for _, t in cases])
    finite = np.where(np.isfinite(dist), dist, np.nan)
    distance_random = (np.nansum(finite, axis=1)) / (np.isfinite(dist).sum(axis=1) - 1)
    per: list[dict] = []
    for method in track(methods, desc="tier 2 methods", total=len(methods)):
        own = method.own_transcript_variant()
        for k, (sig, target) in enumerate(track(cases, desc=f"tier 2 {method.name}", total=len(cases))):
            base = _case(method, sig, target, candidates, finite[k], distance_random[k])
            per.append({"variant": VARIANTS[0], **base})
            per.append({"variant": VARIANTS[1],
                        **(base if own is None else _case(own, sig, target, candidates, finite[k], distance_random[k]))})
    per_df = pd.DataFrame(per)
    resample = np.random.default_rng(seed).integers(0, len(cases), size=(n_boot, len(cases)))
    metrics = ["auroc", *[f"recall_at_{k}" for k in TIER2_KS], "ndcg", "distance_top1", "distance_random"]
    rows = []
    for (variant, name), group in per_df.groupby(["variant", "method"], sort=False):
        directed = ["direction_accuracy"] if group["direction_accuracy"].notna().any() else []
        for metric in [*metrics, *directed, "median_rank"]:
            values = group["rank" if metric == "median_rank" else metric].to_numpy()
            stat = np.nanmedian if metric == "median_rank" else np.nanmean
            boot = stat(values[resample], axis=1)
            rows.append({"tier": 2, "method": name, "disease": "", "signature": f"{dataset}, {variant}",
                         "metric": metric, "value": float(stat(values)), "ci_low": percentile_ci(boot)[0],
                         "ci_high": percentile_ci(boot)[1]})
    return Tier2Result(pd.DataFrame(rows), per_df, excluded)


def _case(method: Method, sig: Signature, target: str, candidates: pd.Index, distance: np.ndarray,
          distance_random: float) -> dict:
    """One method's ranking of one held-out perturbation: the true target's metrics, the top pick's distance
    and, for methods that give one, the direction for the true target (see :func:`reproducing_direction`)."""
    scores = run_method(method, sig, candidates=candidates)
    m = RankedPositives.from_scores(scores, [target]).metrics(TIER2_KS)
    top = scores.to_numpy() == scores.max()
    direction = reproducing_direction(method, sig, target) if method.gives_direction else np.nan
    return {"method": method.name, "perturbation": sig.name, "target": target,
            "rank": float(m.pop("median_rank")[0]), **{key: float(v[0]) for key, v in m.items()},
            "distance_top1": float(np.nanmean(distance[top])), "distance_random": distance_random,
            "direction": direction, "direction_accuracy": np.nan if np.isnan(direction) else float(direction == 1)}


def reproducing_direction(method: Method, response: Signature, target: str) -> float:
    """The method's direction for ``target`` when the desired change is the observed ``response`` itself.

    :meth:`~twincell.bench.methods.Method.target_directions` answers "how to *reverse* this signature"
    (identify's desired change = ``-logFC``), so it is given ``-response``: reversing that is reproducing
    the response. For an over-expression the right answer is +1 (activate the target).

    Parameters
    ----------
    method
        A method with ``gives_direction``.
    response
        Observed response of one perturbation (log fold change or z-score per gene).
    target
        The perturbed gene.

    Returns
    -------
    float
        +1.0 activate, -1.0 inhibit, 0.0 when the method gives the target no direction (or does not list it).
    """
    directions = method.target_directions((-response.logfc).rename(response.name))
    return float(np.sign(directions.get(target, 0.0)))
