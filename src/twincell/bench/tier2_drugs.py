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

Cases (:func:`drug_cases`), per dataset: every drug with at least one DrugCentral target in the network gives one
case, the response of one of its contexts drawn with the seed (so seeds see different cell lines). Positives are
its targets in the network, each with the drug's action as the direction that reproduces the response (-1 for an
inhibitor, +1 for an agonist): ``direction_accuracy`` is the share of them the method would move that way. Variants
(:data:`DRUG_VARIANTS`): ``all_targets``, and ``unseen_targets`` (targets that no training row perturbed; the seen
ones are neither positive nor negative).

Disease-blind control (the ``case_free`` view of :func:`twincell.bench.tier2.common_views`): the mean response of the
dataset's rows whose drug has no target in the network. Those rows are never cases, so no case leaks into the
response that stands for "any drug in these cells"; the ``case_blind`` and ``specific`` views use it too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from twincell.bench.methods import Method
from twincell.bench.tier2 import MIN_GENES, Tier2Result, run_multi_target_recovery
from twincell.data.perturbation import PerturbationDataset
from twincell.data.training_data import load_bundled

#: The bundled drug-signature datasets whose drugs tier 2 recovers targets of.
DRUG_DATASETS: tuple[str, ...] = ("signatures_tahoe", "signatures_neurips", "signatures_sciplex")
#: Variants of :func:`run_drug_recovery` -> whether targets perturbed in training are left out.
DRUG_VARIANTS: dict[str, bool] = {"all_targets": False, "unseen_targets": True}


def drug_cases(data: PerturbationDataset, candidates: pd.Index, seed: int,
               max_cases: int | None = None) -> tuple[PerturbationDataset, pd.Series]:
    """One response per drug with a target in the network, and the mean response of the other drugs' rows.

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

    Returns
    -------
    cases
        One row per drug with a target in ``candidates`` (rows in the data's order).
    common
        Per gene, the mean response of the rows of drugs with no target in ``candidates`` (NaN where none measures
        it): :meth:`~twincell.data.perturbation.PerturbationDataset.mean_response` of those rows.
    """
    wanted = set(candidates)
    drugs = data.obs["perturbation"].astype(str).to_numpy()
    has_target = np.array([any(s != 0 and g in wanted for g, s in data.targets_of(i).items())
                           for i in range(data.n_obs)])
    rows = pd.Series(np.arange(data.n_obs)[has_target]).groupby(drugs[has_target]).agg(list)  # drug -> its rows
    rng = np.random.default_rng(seed)
    chosen = np.array([rng.choice(r) for r in rows], dtype=int)
    if max_cases is not None and len(chosen) > max_cases:
        chosen = rng.choice(chosen, size=max_cases, replace=False)
    return data.subset(np.sort(chosen)), data.subset(~has_target).mean_response()


def run_drug_recovery(methods: Sequence[Method], seen: frozenset[str], *, dataset: str, seed: int,
                      datasets: Sequence[str] = DRUG_DATASETS, max_cases: int | None = None,
                      min_genes: int = MIN_GENES, n_boot: int = 1000) -> Tier2Result:
    """Score the recovery of drugs' targets from their responses among the druggable genes (see the module
    docstring), pooled over ``datasets``.

    Parameters
    ----------
    methods
        Fitted methods that rank targets (none trained on these drugs).
    seen
        Genes perturbed by the methods' training rows (``unseen_targets`` leaves them out).
    dataset
        Label written in the ``signature`` column, followed by the variant.
    seed
        Contexts drawn per drug (:func:`drug_cases`) and the bootstrap over cases.
    datasets
        Bundled drug-signature datasets (default :data:`DRUG_DATASETS`).
    max_cases
        At most this many drugs per dataset (None: all).
    min_genes, n_boot
        As in :func:`twincell.bench.tier2.run_tier2`.
    """
    resources = methods[0].resources
    candidates = pd.Index(resources.network.genes)
    groups = [drug_cases(load_bundled(name), candidates, seed, max_cases) for name in datasets]
    return run_multi_target_recovery(methods, groups, seen, dataset=dataset, variants=DRUG_VARIANTS,
                                     negatives=frozenset(resources.drugs.druggable_genes()), min_genes=min_genes,
                                     n_boot=n_boot, seed=seed)
