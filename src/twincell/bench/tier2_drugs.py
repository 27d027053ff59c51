"""Tier 2 on drugs: recover each drug's targets from one of its measured responses (dense, rank-derived signatures).

Tier 2's learned methods are fitted on LINCS over-expression alone (:func:`twincell.bench.run.run_benchmark`), so
every drug of the bundled context-resolved signatures (Tahoe-100M cancer lines, Open Problems NeurIPS 2023 PBMC
cell types, sci-Plex 3; :mod:`twincell.data.ranked`) is a perturbation they never saw. Unlike a LINCS consensus
row (a median of ~20-25 significant genes), each of these responses lists ~800 to ~24,000 genes, and its targets
are what tier 3 asks for: kinases, receptors, channels and enzymes that drugs act on, mostly inhibited.

Scored among the druggable genome, as tier 3's honest headline is: a drug's targets are by definition genes of the
drug table, so over all genes a disease-blind "is it a drug target" ranking would win (the ``druggability``
control), and the AUROC would measure that. Negatives are the other druggable network genes
(:meth:`~twincell.data.drugs.DrugTargets.druggable_genes` of the methods' drug table); the rest of the network is
neither positive nor negative, in every variant and view.

Cases (:func:`drug_cases`), per dataset: every drug with at least one signed DrugCentral target (an inhibitor's,
an agonist's ...) in the network gives one case, the response of one of its contexts drawn with the seed (so seeds
see different cell lines). A drug is named by :func:`~twincell.data.drugs.normalize_drug_name`, so the spellings of
one drug (``Tofacitinib``, ``Tofacitinib citrate``) are one case. Positives are its signed targets in the network,
each with the drug's action as the direction that reproduces the response (-1 for an inhibitor, +1 for an agonist):
``direction_accuracy`` is the share of them the method would move that way. Its targets of unknown action
(DrugCentral's modulators, substrates, "other") are neither positive nor negative; a drug with only such targets
is not a case. Variants
(:data:`DRUG_VARIANTS`): ``all_targets``, and ``unseen_targets`` (targets that no training row perturbed: LINCS's
training split, the training cytokines and the training drugs, one set for every method whether it trains on them or
not; the seen ones are neither positive nor negative).

Drug split (:func:`split_drugs`): by default every drug is a case. With a test fraction below 1, a seeded share of the
drugs with a network target are the cases, the rest are *training drugs* (one split over the three datasets by
normalised drug name, so a drug measured in two of them, under any spelling, is on one side): a method may train on their rows
(:func:`training_drug_rows`), and their targets count as perturbed in training (the ``unseen_targets`` variant leaves
them out).

Disease-blind control (the ``case_free`` view of :func:`twincell.bench.tier2.common_views`): the mean response of the
dataset's rows whose drug has no target in the network, of any action. Those rows are never cases, so no case leaks into the
response that stands for "any drug in these cells"; the ``case_blind`` and ``specific`` views use it too.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from twincell.bench.methods import Method
from twincell.bench.tier2 import MIN_GENES, Tier2Result, run_multi_target_recovery
from twincell.data.drugs import normalize_drug_name
from twincell.data.perturbation import PerturbationDataset
from twincell.data.training_data import load_bundled
from twincell.errors import TwinCellError

#: The bundled drug-signature datasets whose drugs tier 2 recovers targets of.
DRUG_DATASETS: tuple[str, ...] = ("signatures_tahoe", "signatures_neurips", "signatures_sciplex")
#: Variants of :func:`run_drug_recovery` -> whether targets perturbed in training are left out.
DRUG_VARIANTS: dict[str, bool] = {"all_targets": False, "unseen_targets": True}


def load_drug_datasets(names: Sequence[str] = DRUG_DATASETS) -> list[PerturbationDataset]:
    """The bundled drug-signature datasets (default :data:`DRUG_DATASETS`), loaded once for a tier-2 run to share."""
    return [load_bundled(name) for name in names]


def split_drugs(datasets: Sequence[PerturbationDataset], candidates: pd.Index, test_fraction: float,
                seed: int) -> tuple[frozenset[str], frozenset[str]]:
    """Split the drugs with a signed target in the network into cases (held out) and training drugs, by normalised
    drug name.

    Parameters
    ----------
    datasets
        Drug-signature datasets (:func:`load_drug_datasets`), pooled: a drug in several of them is held out (or not)
        in all.
    candidates
        The network's genes.
    test_fraction
        Share of the drugs held out as cases, in (0, 1]; 1 holds out every drug (no training drug).
    seed
        ``numpy.random.default_rng(seed)`` draws the held-out drugs from the sorted normalised names
        (:func:`~twincell.data.drugs.normalize_drug_name`).

    Returns
    -------
    held_out, training
        Drug names as the datasets spell them (the ``perturbation`` column): the cases, and the drugs a method may
        train on; every spelling of one drug is on the same side.

    Raises
    ------
    TwinCellError
        If ``test_fraction`` is not in (0, 1].
    """
    if not 0.0 < test_fraction <= 1.0:
        raise TwinCellError(f"the drug test fraction must be in (0, 1], got {test_fraction}",
                            "e.g. 0.5 holds out half the drugs as cases; 1 (the default) holds out all")
    wanted = set(candidates)
    names: set[str] = set()
    for data in datasets:
        names |= set(data.obs["perturbation"].astype(str)[data.perturbs(wanted)])
    drug_of = {name: normalize_drug_name(name) for name in names}
    ordered = sorted(set(drug_of.values()))
    n_test = len(ordered) if test_fraction == 1.0 else max(1, round(test_fraction * len(ordered)))
    held_drugs = set(np.random.default_rng(seed).choice(ordered, size=n_test, replace=False).tolist())
    held_out = frozenset(name for name, drug in drug_of.items() if drug in held_drugs)
    return held_out, frozenset(names) - held_out


def count_drugs(spellings: Collection[str]) -> int:
    """How many drugs ``spellings`` (drug names as the datasets spell them) name, each counted once
    (:func:`~twincell.data.drugs.normalize_drug_name`)."""
    return len({normalize_drug_name(name) for name in spellings})


def training_drug_rows(datasets: Sequence[PerturbationDataset], training: Collection[str],
                       held_out_genes: Collection[str] = ()) -> list[PerturbationDataset]:
    """Every row (all contexts) of the drugs in ``training`` (:func:`split_drugs`) that perturbs none of
    ``held_out_genes`` (another tier's test targets, :attr:`~twincell.bench.methods.Resources.held_out_genes`), one
    dataset per dataset of ``datasets`` that has any; empty when ``training`` is."""
    parts = [data.subset(data.obs["perturbation"].astype(str).isin(training).to_numpy()).without_targets(held_out_genes)
             for data in datasets]
    return [data for data in parts if data.n_obs]


def drug_cases(data: PerturbationDataset, candidates: pd.Index, seed: int,
               max_cases: int | None = None,
               drugs: Collection[str] | None = None) -> tuple[PerturbationDataset, pd.Series]:
    """One response per drug with a signed target in the network, and the mean response of the rows of drugs with no
    network target of any action.

    Parameters
    ----------
    data
        A drug-signature dataset (rows = drug x context; ``targets`` from DrugCentral, empty when unknown).
    candidates
        The network's genes.
    seed
        Draws each drug's context, and the drugs kept when there are more than ``max_cases``
        (``numpy.random.default_rng(seed)``; drugs in sorted order, so a draw depends only on the data and the seed).
    max_cases
        At most this many drugs (None: all).
    drugs
        Only these drugs are cases (the held-out drugs of :func:`split_drugs`; None: every drug).

    Returns
    -------
    cases
        One row per drug (:func:`~twincell.data.drugs.normalize_drug_name`: one per drug, whatever its spellings)
        with a signed target in ``candidates`` (and in ``drugs``; rows in the data's order).
    common
        Per gene, the mean response of the rows of drugs with no target in ``candidates`` of any action (NaN where
        none measures it): :meth:`~twincell.data.perturbation.PerturbationDataset.mean_response` of those rows.
    """
    names = data.obs["perturbation"].astype(str).to_numpy()
    case = data.perturbs(candidates)
    if drugs is not None:
        case &= np.isin(names, list(drugs))
    drug_of = np.array([normalize_drug_name(name) for name in names], dtype=object)
    rows = pd.Series(np.arange(data.n_obs)[case]).groupby(drug_of[case]).agg(list)  # drug -> its rows
    rng = np.random.default_rng(seed)
    chosen = np.array([rng.choice(r) for r in rows], dtype=int)
    if max_cases is not None and len(chosen) > max_cases:
        chosen = rng.choice(chosen, size=max_cases, replace=False)
    return data.subset(np.sort(chosen)), data.subset(~data.perturbs(candidates, signed=False)).mean_response()


def run_drug_recovery(methods: Sequence[Method], datasets: Sequence[PerturbationDataset], seen: frozenset[str], *,
                      dataset: str, seed: int, max_cases: int | None = None,
                      drugs: Collection[str] | None = None,
                      min_genes: int = MIN_GENES, n_boot: int = 1000) -> Tier2Result:
    """Score the recovery of drugs' targets from their responses among the druggable genes (see the module
    docstring), pooled over ``datasets``.

    Parameters
    ----------
    methods
        Fitted methods that rank targets (none trained on these drugs).
    datasets
        Drug-signature datasets (:func:`load_drug_datasets`).
    seen
        Genes perturbed by the methods' training rows (``unseen_targets`` leaves them out).
    dataset
        Label written in the ``signature`` column, followed by the variant.
    seed
        Contexts drawn per drug (:func:`drug_cases`) and the bootstrap over cases.
    max_cases
        At most this many drugs per dataset (None: all).
    drugs
        Only these drugs are cases (the held-out drugs of :func:`split_drugs`; None: every drug).
    min_genes, n_boot
        As in :func:`twincell.bench.tier2.run_tier2`.
    """
    resources = methods[0].resources
    candidates = pd.Index(resources.network.genes)
    groups = [drug_cases(data, candidates, seed, max_cases, drugs) for data in datasets]
    return run_multi_target_recovery(methods, groups, seen, dataset=dataset, variants=DRUG_VARIANTS,
                                     negatives=frozenset(resources.drugs.druggable_genes()), min_genes=min_genes,
                                     n_boot=n_boot, seed=seed)
