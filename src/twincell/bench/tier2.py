"""Tier 2 (zero-shot target recovery): find the perturbed gene from its observed response alone.

For each held-out perturbation whose target gene was never perturbed in training, every method
ranks all network genes from the observed response (the signature), and the true target's place is
scored in PDGrapher's units: AUROC, recall@1/10/100 (with one target per perturbation, recall@10 is
the share of perturbations with the true target in the top 10), nDCG, median rank, and the network
distance (hops, undirected) from the top prediction to the true target, beside the distance a random
pick would have (``distance_random``: mean distance from the target to the other reachable genes the case scores;
the top pick, too, is taken among the genes the case scores).
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

By target class (:func:`run_tier2`, one target per case): each perturbation's ``target_class`` (``tf``, ``receptor``, ``ligand`` or ``other``, from
:func:`twincell.model.features.node_class_index`) is in the per-perturbation table, and the metrics of
:data:`STRATUM_METRICS` are also reported over the TF targets and over the other targets, as
``<metric>_tf`` and ``<metric>_non_tf`` (e.g. ``auroc_non_tf``), each with its own bootstrap over the
stratum's perturbations. A TF sits one readout hop from the transcripts, so any propagation finds it more
easily than a receptor or kinase; drug targets are mostly not TFs. A stratum without perturbations has no row.

By how much a case says (:data:`RICH_GENES`): every per-case row has ``n_genes``, the number of measured genes of
the response it ranked, and the same metrics are reported over the cases with at least :data:`RICH_GENES` measured
genes (``<metric>_rich``; counted on the observed ``network_only`` response, every view of a case in its stratum)
and over the others (``<metric>_sparse``). LINCS's consensus signatures list only the significantly changed genes (a
median of ~20-25 in tier 2's held-out cases): a response of 10-29 genes says little about which gene was perturbed, so
whatever a method reads from the case shows mostly on the rich cases.

Two variants, both reported (``signature`` = ``<dataset>, <variant>``):

* ``network_only``: the response without the over-expressed gene's own transcript (an over-expression raises it,
  so any method that reads large changes would name it), every method as it ranks drug targets (for TwinCell the
  drug operator, which has no self term): what the network's other genes say;
* ``with_own_transcript``: the response as measured (the target's own transcript is in some responses, often as
  the largest change), and methods that model that transcript
  (:meth:`~twincell.bench.methods.Method.own_transcript_variant`, TwinCell's genetic self term) include it.

Three more views of the same held-out cases, given the training split's mean response (``common``), show where a
ranking's skill comes from (:func:`common_views`), all ``network_only`` rankings:

* ``case_blind``: every case's response replaced by the training mean response on its measured genes. Its values
  say nothing about which gene was perturbed, but *which* genes it has is the case's own: a LINCS consensus
  response keeps only its significantly changed genes, so the gene set alone can point to the target (tier 3's
  value shuffles are the analogue). A method's case gain (observed minus blind) is what the case's values earned
  it, given its genes. On LINCS the training mean explains most of each held-out response (the run's facts say
  how much).
* ``case_free``: every case replaced by the training mean response on every gene where it is known, the same
  signature for every case: what a method scores without reading the case at all (network position, and whatever
  every perturbation's response shares); the tier-2 analogue of tier 3's disease-blind controls. Blind minus free
  is what the case's gene set earned. The cytokines measure every CytoSig gene, so there the two views agree.
* ``specific``: each case's response minus its least-squares fit on the training mean response (on the genes
  where both are known): only what is particular to the perturbation.

The held-out cytokines of :func:`run_receptor_recovery` (below) get the same two views, given the training
cytokines' mean response (every receptor subunit a positive, as in ``all_receptors``).

A second dataset, :func:`run_receptor_recovery`, recovers the receptors of held-out cytokines (CytoSig
responses; their targets are every LIANA receptor subunit of the cytokine, several per case): a perturbation
upstream of the TFs. Its variants are ``all_receptors`` (every subunit in the network is a positive) and
``unseen_receptors`` (only subunits no training row perturbed; the others are neither positive nor
negative). With several positives the metrics are the usual ones over all of them: AUROC (equal to
scikit-learn's over the case's labels), recall@k = share of the positives in the top k, median rank over
the positives, ``distance_top1`` to the nearest positive, ``direction_accuracy`` = share of the positives
the method would activate; with one positive each reduces to the definition above.

A third dataset, the targets of drugs never seen in training from their dense responses, is
:mod:`twincell.bench.tier2_drugs`; it scores through :func:`run_multi_target_recovery`, with each target's
direction the drug's action (:attr:`RecoveryCase.directions`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import shortest_path

from twincell._progress import track
from twincell.bench.methods import Method, run_method
from twincell.bench.metrics import RankedPositives, percentile_ci
from twincell.data.perturbation import PerturbationDataset
from twincell.data.signatures import Signature
from twincell.errors import TwinCellError
from twincell.model.features import NODE_CLASS_NAMES, node_class_index, node_classes
from twincell.network import Interactome

TIER2_KS: tuple[int, ...] = (1, 10, 100)
MIN_GENES = 10
VARIANTS: tuple[str, ...] = ("network_only", "with_own_transcript")
#: Views of :func:`common_views`: the case's genes with the training mean response's values, the case without
#: that mean, and the training mean response on all its genes (the same for every case).
COMMON_VARIANTS: tuple[str, ...] = ("case_blind", "specific", "case_free")
#: Variants of :func:`run_receptor_recovery` -> whether receptors perturbed in training are left out.
RECEPTOR_VARIANTS: dict[str, bool] = {"all_receptors": False, "unseen_receptors": True}
#: Metrics also reported per target stratum, as ``<metric>_<stratum>`` (see the module docstring).
STRATUM_METRICS: tuple[str, ...] = ("auroc", "recall_at_10", "median_rank", "direction_accuracy")
#: Target strata: TF targets (``target_class == "tf"``) and all others; cases with at least :data:`RICH_GENES`
#: measured genes and the others.
STRATA: tuple[str, ...] = ("tf", "non_tf", "rich", "sparse")
#: Measured genes from which a case counts as ``rich``. Chosen from decoupler's ulm (:mod:`twincell.bench.activity`)
#: on all usable LINCS rows (tier 2's held-out cases among them), before any other method was scored by it
#: (``benchmarks/eval_case_information.py --tmin 1``): ulm ranks the over-expressed TF above chance from ~30 measured
#: genes on (AUROC among TFs 0.63-0.69), not below (0.48-0.51).
RICH_GENES = 30


@dataclass
class Tier2Result:
    """Tables of tier 2.

    Attributes
    ----------
    table
        Tidy metrics: ``tier, method, disease, signature, metric, value, ci_low, ci_high`` (``signature`` =
        dataset name, ``disease`` empty); ``metric`` includes the per-stratum ``<metric>_tf``, ``<metric>_non_tf``,
        ``<metric>_rich`` and ``<metric>_sparse`` of :data:`STRATUM_METRICS` (:func:`run_tier2` only).
    per_perturbation
        ``variant, method, perturbation, source, target, target_class, n_genes, rank, auroc, ..., distance_top1,
        distance_random, direction, direction_accuracy`` (plus ``common_r`` and ``common_share`` with a training
        mean response): ``n_genes`` the case's measured response genes, ``source`` is the dataset the held-out row comes from
        (its ``uns["source"]``: tier 2's drugs pool three), ``target_class`` is the target's node class (``tf``,
        ``receptor``, ``ligand``, ``other``; :func:`target_classes`; :func:`run_tier2` only), ``direction`` is the
        method's direction (+1 activate, -1 inhibit, 0 none) for the true target with the observed response as the
        desired change (several positives: the mean over them), ``direction_accuracy`` the share of the positives
        whose direction is the one that reproduces the response (:meth:`RecoveryCase.expected_directions`: +1
        for an over-expression); both NaN for methods without a direction.
    n_excluded
        Held-out rows left out, by reason.
    """

    table: pd.DataFrame
    per_perturbation: pd.DataFrame
    n_excluded: dict[str, int]


@dataclass(frozen=True)
class RecoveryCase:
    """One held-out perturbation to recover: its observed response, its true targets and genes left out.

    Attributes
    ----------
    signature
        The observed response.
    positives
        The true targets (network genes), sorted.
    ignored
        Genes that are neither positive nor negative (e.g. a cytokine's receptors that training data perturbed).
    directions
        Per positive, +1 when activating it reproduces the response and -1 when inhibiting it does (a drug's
        action on each of its targets); empty: +1 for every positive.
    drugs
        The drugs whose drug-table entries are the case's answer (a held-out drug), hidden from the methods that
        rank from that table (:meth:`~twincell.bench.methods.Method.hiding_drugs`).
    """

    signature: Signature
    positives: tuple[str, ...]
    ignored: frozenset[str] = frozenset()
    directions: tuple[int, ...] = ()
    drugs: tuple[str, ...] = ()

    def expected_directions(self) -> np.ndarray:
        """(len(positives),) the direction that reproduces the response at each positive: ``directions``, or +1 for
        every positive when none are given (an over-expression, a cytokine's receptors)."""
        return np.asarray(self.directions or (1,) * len(self.positives), dtype=float)


def recovery_cases(test: PerturbationDataset, candidates: pd.Index,
                   min_genes: int = MIN_GENES) -> tuple[list[tuple[Signature, str]], dict[str, int]]:
    """Held-out rows usable for target recovery: one known target in the network, enough measured genes.

    Returns
    -------
    cases
        (signature of the observed response, true target) per usable row: at least ``min_genes`` measured genes
        besides the target.
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
        elif (measured & (test.genes != targets[0])).sum() < min_genes:
            excluded["too_few_genes"] += 1
        else:
            cases.append((observed_response(test, i), targets[0]))
    return cases, excluded


def without_genes(signature: Signature, genes: Sequence[str]) -> Signature:
    """``signature`` with ``genes`` left out of its values (those it does not list are ignored)."""
    return replace(signature, logfc=signature.logfc.drop(list(genes), errors="ignore"))


def observed_response(data: PerturbationDataset, i: int) -> Signature:
    """Row ``i`` of ``data`` as a signature over its measured genes, named ``<perturbation>@<context>``."""
    values = np.asarray(data.X[i], dtype=float).ravel()
    measured = np.isfinite(values)
    name = f"{data.obs['perturbation'].iloc[i]}@{data.obs['context'].iloc[i]}"
    logfc = pd.Series(values[measured], index=data.genes[measured], name="logfc")
    return Signature(name=name, logfc=logfc, method="observed response")


def hop_distances(network: Interactome, sources: Sequence[str]) -> np.ndarray:
    """Unweighted shortest-path length (hops, edges read as undirected) from each source to every gene, (S, N)."""
    a = network.adjacency()
    return shortest_path(a, directed=False, unweighted=True, indices=network.node_index(sources))


def positive_distances(network: Interactome, positives: Sequence[Sequence[str]]) -> np.ndarray:
    """Per case, hops from every gene to its nearest positive.

    Parameters
    ----------
    network
        The interactome (edges read as undirected).
    positives
        Per case, its true targets (all in the network).

    Returns
    -------
    ndarray
        (C, N) hops from each gene to the case's nearest positive (NaN when unreachable).
    """
    genes = sorted({g for case in positives for g in case})
    row = {g: i for i, g in enumerate(genes)}
    dist = hop_distances(network, genes)
    finite = np.where(np.isfinite(dist), dist, np.nan)
    return np.stack([np.fmin.reduce(finite[[row[g] for g in case]], axis=0) for case in positives])


def run_tier2(methods: Sequence[Method], test: PerturbationDataset, *, dataset: str, common: pd.Series | None = None,
              min_genes: int = MIN_GENES, n_boot: int = 1000, seed: int = 0) -> Tier2Result:
    """Score target recovery of fitted methods on held-out perturbations.

    Parameters
    ----------
    methods
        Methods that rank targets, fitted on a training split without the test targets.
    test
        Held-out perturbations (one target each).
    dataset
        Label written in the ``signature`` column, followed by the variant.
    common
        The training split's mean response per gene
        (:meth:`~twincell.data.perturbation.PerturbationDataset.mean_response`): adds the
        :data:`COMMON_VARIANTS` views (:func:`common_views`) and, per case, the columns ``common_r`` and
        ``common_share`` (:func:`common_share`) to ``per_perturbation``. None: only :data:`VARIANTS`.
    min_genes
        Minimum number of measured response genes for a perturbation to be used.
    n_boot, seed
        Bootstrap over perturbations for the confidence intervals.
    """
    network = _network_of(methods)
    cases, excluded = recovery_cases(test, pd.Index(network.genes), min_genes)
    if not cases:
        raise TwinCellError(f"no held-out perturbation of {dataset} is usable for target recovery ({excluded})",
                            f"tier 2 needs perturbations with one known target in the network and >= {min_genes} measured genes")
    views = [[(VARIANTS[0], RecoveryCase(without_genes(sig, [target]), (target,)))] for sig, target in cases]
    own = [[(VARIANTS[1], RecoveryCase(sig, (target,)))] for sig, target in cases]
    per_df = _with_common_views(methods, views, common, str(test.uns["source"]), own_views=own)
    targets = [t for _, t in cases]
    class_of = dict(zip(targets, target_classes(network, targets)))
    per_df.insert(per_df.columns.get_loc("target") + 1, "target_class", per_df["target"].map(class_of))
    table = pd.concat([tier2_table(per_df, dataset, n_boot, seed), stratum_table(per_df, dataset, n_boot, seed)],
                      ignore_index=True)
    return Tier2Result(table, per_df, excluded)


def common_views(case: RecoveryCase, common: pd.Series) -> list[tuple[str, RecoveryCase]]:
    """The :data:`COMMON_VARIANTS` views of one case, each with the case's positives.

    ``case_blind``: the case's response replaced by ``common`` (the training mean response) on its measured genes
    where ``common`` is known; ``specific``: the response minus ``b * common`` on those genes, ``b`` its
    least-squares coefficient on ``common``; ``case_free``: ``common`` on every gene where it is known, whatever
    the case.

    Raises
    ------
    TwinCellError
        If ``common`` knows none of the case's measured genes, or is zero on all of them.
    """
    y, c, b = _fit_on_common(case.signature, common)
    name = case.signature.name
    blind = Signature(name=name, logfc=c.rename("logfc"), method="training mean response on the case's genes")
    specific = Signature(name=name, logfc=(y - b * c).rename("logfc"),
                         method="observed response minus its least-squares fit on the training mean response")
    free = Signature(name=name, logfc=common.dropna().astype(float).rename("logfc"),
                     method="training mean response on all its genes")
    return [(variant, replace(case, signature=sig)) for variant, sig in zip(COMMON_VARIANTS, (blind, specific, free))]


def _network_of(methods: Sequence[Method]) -> Interactome:
    """The methods' network (their shared resources').

    Raises
    ------
    TwinCellError
        If no method is given.
    """
    if not methods:
        raise TwinCellError("no method to score", "pass fitted methods that rank targets "
                                                  "(twincell.bench.list_methods() lists them)")
    return methods[0].resources.network


def common_share(signature: Signature, common: pd.Series) -> tuple[float, float]:
    """How much of a response the training mean response explains, on the genes where both are known.

    Returns Pearson's r of the two, and the share of the response's sum of squares that its least-squares fit
    ``b * common`` explains (``1 - |y - b c|^2 / |y|^2``, in [0, 1]).
    """
    y, c, b = _fit_on_common(signature, common)
    r = float(np.corrcoef(y, c)[0, 1]) if len(y) > 1 and y.std() > 0 and c.std() > 0 else np.nan
    return r, 1.0 - float(((y - b * c) ** 2).sum()) / max(float(y @ y), np.finfo(float).tiny)


def _fit_on_common(signature: Signature, common: pd.Series) -> tuple[pd.Series, pd.Series, float]:
    """The response and ``common`` on the genes both know, and the least-squares coefficient of one on the other."""
    y = signature.logfc
    c = common.reindex(y.index)
    known = c.notna().to_numpy()
    y, c = y[known].astype(float), c[known].astype(float)
    norm = float(c @ c)
    if norm == 0.0:
        raise TwinCellError(f"the training mean response is unknown or zero on every gene of {signature.name}",
                            "give the mean response of the training split (PerturbationDataset.mean_response)")
    return y, c, float(y @ c) / norm


def _with_common_views(methods: Sequence[Method], views: Sequence[Sequence[tuple[str, RecoveryCase]]],
                       common: pd.Series | None, source: str,
                       own_views: Sequence[Sequence[tuple[str, RecoveryCase]]] = ()) -> pd.DataFrame:
    """Per-case rows of ``views`` and ``own_views`` (:func:`_per_case_rows`) and, with ``common``, of the
    :data:`COMMON_VARIANTS` views of each response's first case in ``views`` (each its own ranking), with every
    row's ``common_r`` and ``common_share``; ``source`` (the held-out rows' dataset, ``uns["source"]``) follows each
    row's ``perturbation``."""
    rows = _per_case_rows(methods, views, own_views)
    firsts = [row[0][1] for row in views]
    if common is not None:
        rows += _per_case_rows(methods, [[view] for case in firsts for view in common_views(case, common)])
    per = pd.DataFrame(rows)
    per.insert(per.columns.get_loc("perturbation") + 1, "source", source)
    if common is None:
        return per
    shares = {case.signature.name: common_share(case.signature, common) for case in firsts}
    per["common_r"] = per["perturbation"].map(lambda p: shares[p][0])
    per["common_share"] = per["perturbation"].map(lambda p: shares[p][1])
    return per


def target_classes(network: Interactome, targets: Sequence[str]) -> np.ndarray:
    """Node class of each target gene, (T,) strings of :data:`~twincell.model.features.NODE_CLASS_NAMES`.

    ``tf`` (a CollecTRI regulator), ``receptor``, ``ligand`` (LIANA consensus subunits) or ``other``; a gene
    in several classes takes the first of ``tf``, ``receptor``, ``ligand``
    (:func:`~twincell.model.features.node_class_index`).
    """
    index = node_class_index(node_classes(network))[network.node_index(targets)]
    return np.asarray(NODE_CLASS_NAMES, dtype=object)[index]


def observed_genes(per_case: pd.DataFrame) -> pd.Series:
    """Perturbation -> measured genes of its observed response (``n_genes`` of its ``network_only`` rows)."""
    return per_case[per_case["variant"] == VARIANTS[0]].groupby("perturbation")["n_genes"].max()


def source_table(per_case: pd.DataFrame) -> pd.DataFrame:
    """Tier 2 per source dataset: where a pooled tier's cases come from, and how each method scores on each part.

    Parameters
    ----------
    per_case
        Per-case rows (``Tier2Result.per_perturbation`` or ``BenchResult.tier2_cases``, with ``variant``,
        ``method``, ``source``, ``auroc`` and ``recall_at_10``; a ``seed`` column when several seeds ran).

    Returns
    -------
    pd.DataFrame
        One row per method, source and variant (in the order of ``per_case``): ``cases`` (rows scored, over all
        seeds), ``auroc`` and ``recall_at_10`` (means over those rows, every seed's cases pooled).
    """
    keys = ["method", "source", "variant"]
    grouped = per_case.groupby(keys, sort=False)
    return pd.DataFrame({"cases": grouped.size(), "auroc": grouped["auroc"].mean(),
                         "recall_at_10": grouped["recall_at_10"].mean()}).reset_index()


def stratum_table(per_case: pd.DataFrame, dataset: str, n_boot: int, seed: int) -> pd.DataFrame:
    """Tidy rows of :data:`STRATUM_METRICS` per stratum of :data:`STRATA`, as ``<metric>_<stratum>``: the TF
    targets (``_tf``) and the others (``_non_tf``), the cases with at least :data:`RICH_GENES` measured genes
    (``_rich``) and the others (``_sparse``).

    ``per_case`` needs ``target_class`` and ``n_genes`` columns and the ``network_only`` rows (whose ``n_genes``
    place every view of a case); each stratum is scored as :func:`tier2_table`
    scores all cases (its own bootstrap over the stratum's cases). A stratum without cases has no row.
    """
    is_tf = per_case["target_class"] == "tf"
    is_rich = per_case["perturbation"].map(observed_genes(per_case)) >= RICH_GENES  # every view in its case's stratum
    parts = []
    for stratum, members in zip(STRATA, (is_tf, ~is_tf, is_rich, ~is_rich)):
        if members.any():
            rows = tier2_table(per_case[members], dataset, n_boot, seed)
            rows = rows[rows["metric"].isin(STRATUM_METRICS)]
            parts.append(rows.assign(metric=rows["metric"] + f"_{stratum}"))
    return pd.concat(parts, ignore_index=True)


def receptor_cases(test: PerturbationDataset, candidates: pd.Index, seen: frozenset[str] = frozenset(),
                   min_genes: int = MIN_GENES, variants: Mapping[str, bool] = RECEPTOR_VARIANTS,
                   negatives: frozenset[str] | None = None,
                   ) -> tuple[list[list[tuple[str, RecoveryCase]]], dict[str, int]]:
    """Held-out multi-target rows (cytokines and their receptor subunits, drugs and their targets) usable for
    target recovery, as the ``variants`` views of each row.

    Parameters
    ----------
    test
        Held-out perturbations; their signed targets in the network are the positives, each with its sign as the
        direction that reproduces the response (+1 for a cytokine's receptor subunits; a drug's action: -1 for an
        inhibitor); targets of sign 0 (a drug's modulator or substrate target) are neither positive nor negative.
    candidates
        The network's genes: targets outside it are dropped.
    seen
        Genes that training rows perturbed: a variant whose value in ``variants`` is True drops them from the
        positives and leaves them out of the negatives.
    min_genes
        Minimum number of measured response genes.
    variants
        Variant name -> whether it leaves out the ``seen`` targets (default :data:`RECEPTOR_VARIANTS`).
    negatives
        The genes that may be negatives (e.g. the druggable genome); the other candidates that are not positives
        are neither positive nor negative, in every variant. None: every candidate.

    Returns
    -------
    views
        Per usable row, its ``(variant, RecoveryCase)`` views sharing one observed response, in the order of
        ``variants`` (a variant that leaves out seen targets is skipped when every target of the row is seen).
    excluded
        Rows left out, as ``"<variant>: <reason>"`` -> count; reasons ``no_target_in_network``,
        ``every_target_seen`` (all in ``seen``), ``too_few_genes``.
    """
    views: list[list[tuple[str, RecoveryCase]]] = []
    excluded = {f"{variant}: {reason}": 0 for variant in variants
                for reason in ("no_target_in_network", "every_target_seen", "too_few_genes")}
    outside = frozenset() if negatives is None else frozenset(candidates.difference(pd.Index(sorted(negatives))))
    X = np.asarray(test.X)
    for i in range(test.n_obs):
        in_network = {g: s for g, s in test.targets_of(i).items() if g in candidates}
        targets = {g: s for g, s in in_network.items() if s != 0}
        unsigned = set(in_network) - set(targets)  # e.g. a modulator's: neither positive nor negative
        few = np.isfinite(X[i]).sum() < min_genes
        kept = []  # (variant, positives, left out) of the variants that keep the row
        for variant, known in variants.items():
            left_out = set(targets) & seen if known else set()
            positives = sorted(set(targets) - left_out)
            reason = ("no_target_in_network" if not targets else "every_target_seen" if not positives
                      else "too_few_genes" if few else None)
            if reason is None:
                kept.append((variant, positives, left_out))
            else:
                excluded[f"{variant}: {reason}"] += 1
        if kept:
            response = observed_response(test, i)
            drugs = (str(test.obs["perturbation"].iloc[i]),) if test.obs["perturbation_type"].iloc[i] == "drug" else ()
            views.append([(variant, RecoveryCase(response, tuple(positives),
                                                 (outside - set(positives)) | left_out | unsigned,
                                                 tuple(int(np.sign(targets[g])) for g in positives), drugs))
                          for variant, positives, left_out in kept])
    return views, excluded


def run_receptor_recovery(methods: Sequence[Method], test: PerturbationDataset, seen: frozenset[str], *,
                          dataset: str, common: pd.Series | None = None, min_genes: int = MIN_GENES,
                          n_boot: int = 1000, seed: int = 0) -> Tier2Result:
    """Score receptor recovery of fitted methods on held-out cytokines (several true targets per case).

    Two variants (``signature`` = ``<dataset>, <variant>``), both ``network_only`` rankings:
    ``all_receptors`` (every receptor subunit of the cytokine in the network is a positive) and
    ``unseen_receptors`` (only subunits that no training row perturbed; the seen ones are left out of the
    negatives too, so a shared receptor ranked high costs nothing). Metrics as in :func:`run_tier2`, over
    all positives of a case: AUROC, recall@k = share of its positives in the top k (one positive: hit or
    miss, as on LINCS), ``direction_accuracy`` = share of its positives the method would activate.

    Parameters
    ----------
    methods
        Methods that rank targets, fitted on a training split without the test cytokines.
    test
        Held-out cytokines (targets = their receptor subunits).
    seen
        Genes perturbed by the methods' training rows (the ``unseen_receptors`` variant leaves them out).
    dataset
        Label written in the ``signature`` column, followed by the variant.
    common
        The training cytokines' mean response per gene: adds the :data:`COMMON_VARIANTS` views of each cytokine
        (:func:`common_views`, every receptor subunit a positive, as in ``all_receptors``) and the
        ``common_r`` / ``common_share`` columns, as :func:`run_tier2` does. None: only :data:`RECEPTOR_VARIANTS`.
    min_genes, n_boot, seed
        As in :func:`run_tier2`.

    Raises
    ------
    TwinCellError
        If no held-out row has a receptor in the network.
    """
    return run_multi_target_recovery(methods, [(test, common)], seen, dataset=dataset, variants=RECEPTOR_VARIANTS,
                                     min_genes=min_genes, n_boot=n_boot, seed=seed)


def run_multi_target_recovery(methods: Sequence[Method], groups: Sequence[tuple[PerturbationDataset, pd.Series | None]],
                              seen: frozenset[str], *, dataset: str, variants: Mapping[str, bool],
                              negatives: frozenset[str] | None = None, min_genes: int = MIN_GENES,
                              n_boot: int = 1000, seed: int = 0) -> Tier2Result:
    """Score the recovery of several true targets per case (:func:`receptor_cases`) over groups of held-out rows,
    each group with its own training mean response, pooled into one table.

    Parameters
    ----------
    methods
        Fitted methods that rank targets.
    groups
        ``(held-out rows, mean response or None)`` per group: the mean response (e.g. of the group's training rows)
        gives its cases the :data:`COMMON_VARIANTS` views (:func:`common_views`, of each case's first variant) and
        the ``common_r`` / ``common_share`` columns; with None a group has no such views.
    seen, variants, negatives, min_genes
        As in :func:`receptor_cases`.
    dataset
        Label written in the ``signature`` column, followed by the variant.
    n_boot, seed
        Bootstrap over the pooled cases for the confidence intervals.

    Raises
    ------
    TwinCellError
        If no held-out row has a target in the network and enough measured genes.
    """
    candidates = pd.Index(_network_of(methods).genes)
    parts: list[pd.DataFrame] = []
    excluded: dict[str, int] = {}
    for test, common in groups:
        views, dropped = receptor_cases(test, candidates, seen, min_genes, variants, negatives)
        excluded = {key: excluded.get(key, 0) + n for key, n in dropped.items()}  # every group has the same keys
        if views:
            parts.append(_with_common_views(methods, views, common, str(test.uns["source"])))
    if not parts:
        raise TwinCellError(f"no held-out perturbation of {dataset} is usable for target recovery ({excluded})",
                            f"need perturbations with a target in the network and >= {min_genes} measured genes")
    per = pd.concat(parts, ignore_index=True)
    order = per["variant"].map({variant: k for k, variant in enumerate([*variants, *COMMON_VARIANTS])})
    per = per.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)  # variant by variant
    return Tier2Result(tier2_table(per, dataset, n_boot, seed), per, excluded)


def _per_case_rows(methods: Sequence[Method], responses: Sequence[Sequence[tuple[str, RecoveryCase]]],
                   own_responses: Sequence[Sequence[tuple[str, RecoveryCase]]] = ()) -> list[dict]:
    """Per method and held-out response, one row of metrics (:func:`_case_rows`) per ``(variant, case)`` view of
    it: the response is ranked once per method and scored against each view's positives. ``own_responses`` are
    ranked the same way by each method's own-transcript variant (the method itself when it has none), after
    ``responses``."""
    network = _network_of(methods)
    candidates = pd.Index(network.genes)
    both = [*responses, *own_responses]
    per_view = iter(positive_distances(network, [case.positives for views in both for _, case in views]))
    geometry = [[_ScoredView.of(variant, case, next(per_view), candidates) for variant, case in views] for views in both]
    per: list[dict] = []
    for method in track(methods, desc="tier 2 methods", total=len(methods)):
        own = method.own_transcript_variant() or method
        for k, views in enumerate(track(geometry, desc=f"tier 2 {method.name}", total=len(geometry))):
            per += _case_rows(method if k < len(responses) else own, views, candidates)
    return per


def tier2_table(per_case: pd.DataFrame, dataset: str, n_boot: int, seed: int) -> pd.DataFrame:
    """Tidy tier-2 rows from per-case metrics: per variant and method, the mean (median rank: median) over
    cases with a bootstrap interval over cases (``numpy.random.default_rng(seed)``, one draw per case count)."""
    metrics = ["auroc", *[f"recall_at_{k}" for k in TIER2_KS], "ndcg", "distance_top1", "distance_random"]
    rows = []
    for (variant, name), group in per_case.groupby(["variant", "method"], sort=False):
        resample = np.random.default_rng(seed).integers(0, len(group), size=(n_boot, len(group)))
        directed = ["direction_accuracy"] if group["direction_accuracy"].notna().any() else []
        for metric in [*metrics, *directed, "median_rank"]:
            values = group["rank" if metric == "median_rank" else metric].to_numpy()
            stat = np.nanmedian if metric == "median_rank" else np.nanmean
            boot = stat(values[resample], axis=1)
            rows.append({"tier": 2, "method": name, "disease": "", "signature": f"{dataset}, {variant}",
                         "metric": metric, "value": float(stat(values)), "ci_low": percentile_ci(boot)[0],
                         "ci_high": percentile_ci(boot)[1]})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class _ScoredView:
    """What scoring one view of a case needs besides a method's ranking, computed once for every method.

    Attributes
    ----------
    variant, case
        The view.
    distance
        (N,) hops from each candidate to the case's nearest positive (:func:`positive_distances`).
    negatives
        The candidates the case does not ignore (None: every candidate).
    pickable
        (N,) bool, the candidates the case does not ignore: where a top pick is taken.
    distance_random
        What a random pick of a reachable non-positive among them would score.
    """

    variant: str
    case: RecoveryCase
    distance: np.ndarray
    negatives: pd.Index | None
    pickable: np.ndarray
    distance_random: float

    @classmethod
    def of(cls, variant: str, case: RecoveryCase, distance: np.ndarray, candidates: pd.Index) -> _ScoredView:
        """The view's geometry over ``candidates`` (the network's genes, in the rankings' order)."""
        pickable = ~candidates.isin(list(case.ignored))
        others = pickable & ~candidates.isin(case.positives) & ~np.isnan(distance)
        return cls(variant, case, distance, candidates.difference(case.ignored) if case.ignored else None, pickable,
                   float(distance[others].mean()))


def _case_rows(method: Method, views: Sequence[_ScoredView], candidates: pd.Index) -> list[dict]:
    """One method's ranking of one held-out response (shared by ``views``), scored per view among the genes the
    case does not ignore: the positives' metrics (means over positives; ``rank`` their median rank), the top pick's
    distance to the nearest positive beside ``distance_random`` and, for methods that give one, the mean direction
    for the positives and the share of them it would move the way that reproduces the response
    (:meth:`RecoveryCase.expected_directions`; see :func:`reproducing_directions`)."""
    response = views[0].case.signature
    method = method.hiding_drugs(views[0].case.drugs)
    scores = run_method(method, response, candidates=candidates)
    values = scores.to_numpy()
    directions = reproducing_directions(method, response) if method.gives_direction else None
    rows = []
    for view in views:
        case, distance = view.case, view.distance
        top = view.pickable & (values == values[view.pickable].max())
        m = RankedPositives.from_scores(scores, case.positives, view.negatives).metrics(TIER2_KS)
        signs = (np.full(len(case.positives), np.nan) if directions is None
                 else _direction_signs(directions, case.positives))
        right = signs == case.expected_directions()
        rows.append({"variant": view.variant, "method": method.name, "perturbation": response.name,
                     "target": ";".join(case.positives), "n_genes": len(response.logfc),
                     "rank": float(m.pop("median_rank")[0]),
                     **{key: float(v[0]) for key, v in m.items()},
                     "distance_top1": float(np.nanmean(distance[top])),
                     "distance_random": view.distance_random,
                     "direction": float(signs.mean()),
                     "direction_accuracy": np.nan if directions is None else float(right.mean())})
    return rows


def reproducing_directions(method: Method, response: Signature) -> pd.Series:
    """The method's directions when the desired change is the observed ``response`` itself.

    :meth:`~twincell.bench.methods.Method.target_directions` answers "how to *reverse* this signature"
    (identify's desired change = ``-logFC``), so it is given ``-response``: reversing that is reproducing
    the response. For an over-expression (or a cytokine, for its receptors) the right answer for the perturbed
    genes is +1 (activate).

    Parameters
    ----------
    method
        A method with ``gives_direction``.
    response
        Observed response of one perturbation (log fold change or z-score per gene).

    Returns
    -------
    pd.Series
        Gene -> +1 activate, -1 inhibit, 0 no direction (genes the method does not list have none).
    """
    return method.target_directions((-response.logfc).rename(response.name))


def _direction_signs(directions: pd.Series, targets: Sequence[str]) -> np.ndarray:
    """(len(targets),) sign of each target's direction in ``directions`` (0.0 for a target it does not list)."""
    return np.sign([float(directions.get(t, 0.0)) for t in targets])
