"""Training exposure: how often each gene was a perturbation target in a model's training data.

A ranking can look skilful on approved targets simply because the model was trained on those
targets' perturbations (tofacitinib's JAK1/JAK3, glucocorticoids' NR3C1, ...). TwinBench counts,
per gene, the training examples that perturbed it (a drug's target or a perturbed gene, with a
non-zero sign, as the model reads them from ``obs["targets"]``); the ``training_exposure`` control
ranks by that count and ``auroc_druggable_unseen`` scores only genes whose count is 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

import pandas as pd

from twincell.data.perturbation import PerturbationDataset, parse_targets
from twincell.data.training_data import load_default_training_data


def perturbation_target_counts(datasets: Iterable[PerturbationDataset]) -> pd.Series:
    """Gene -> number of examples (rows over all datasets) whose targets include it with a non-zero sign.

    Returns
    -------
    Series
        Counts (int), descending, named ``n_training_perturbations``; genes never perturbed are absent.
    """
    counts: Counter[str] = Counter()
    for data in datasets:
        for text in data.obs["targets"]:
            counts.update(g for g, sign in parse_targets(text).items() if sign != 0)
    return pd.Series(counts, dtype=int, name="n_training_perturbations").sort_values(ascending=False)


@lru_cache(maxsize=1)
def default_training_exposure() -> pd.Series:
    """:func:`perturbation_target_counts` of :func:`twincell.data.training_data.load_default_training_data`.

    Read once per process (whatever datasets that function returns, so it follows the default model).
    """
    return perturbation_target_counts(load_default_training_data())
