"""Reproducible train / test splits of perturbation datasets for the benchmark tiers.

* ``context``: held-out contexts (cell lines / cell types) never seen in training;
* ``perturbation``: held-out perturbations (drugs, over-expressed genes) never seen in training;
* ``target``: held-out target genes: every example that perturbs one of them is in the test set, so no
  training example perturbs a held-out gene. Examples without known targets stay in training.

Held-out ids are drawn with ``numpy.random.default_rng(seed)`` from the sorted union of ids over all given
datasets, so a split is the same for the same data and seed, and consistent across datasets (a held-out cell
line is held out of every dataset).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from twincell.data.perturbation import PerturbationDataset, parse_targets
from twincell.errors import DataFileError

SplitKind = Literal["context", "perturbation", "target"]


@dataclass
class Split:
    """A train / test split over one or more datasets.

    Attributes
    ----------
    kind
        ``context``, ``perturbation`` or ``target``.
    held_out
        The held-out ids (contexts, perturbations or target genes), sorted.
    test_masks
        One boolean mask per dataset (True = test example).
    seed
        The seed used.
    """

    kind: SplitKind
    held_out: list[str]
    test_masks: list[np.ndarray]
    seed: int

    def apply(self, datasets: Sequence[PerturbationDataset],
              ) -> tuple[list[PerturbationDataset], list[PerturbationDataset]]:
        """(train, test) datasets; datasets left without examples on one side are omitted from that side."""
        if len(datasets) != len(self.test_masks):
            raise DataFileError(f"split was made for {len(self.test_masks)} datasets, got {len(datasets)}",
                                "apply a split to the datasets it was made from")
        train = [d.subset(~m) for d, m in zip(datasets, self.test_masks) if (~m).any()]
        test = [d.subset(m) for d, m in zip(datasets, self.test_masks) if m.any()]
        return train, test


def _ids(ds: PerturbationDataset, kind: SplitKind) -> list[set[str]]:
    """Per example, the ids a split of ``kind`` acts on."""
    if kind == "context":
        return [{c} for c in ds.obs["context"].astype(str)]
    if kind == "perturbation":
        return [{p} for p in ds.obs["perturbation"].astype(str)]
    return [set(parse_targets(t)) for t in ds.obs["targets"]]


def make_split(datasets: PerturbationDataset | Sequence[PerturbationDataset], kind: SplitKind,
               test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Hold out a random ``test_fraction`` of the contexts, perturbations or target genes.

    Parameters
    ----------
    datasets
        One dataset or several (ids are pooled over them).
    kind
        ``context``, ``perturbation`` or ``target``.
    test_fraction
        Share of the distinct ids held out (at least one, and at least one left for training).
    seed
        Random seed.

    Raises
    ------
    DataFileError
        Unknown kind, a fraction outside (0, 1), or fewer than two distinct ids to split.
    """
    dss = [datasets] if isinstance(datasets, PerturbationDataset) else list(datasets)
    if kind not in ("context", "perturbation", "target"):
        raise DataFileError(f"unknown split kind {kind!r}", "use 'context', 'perturbation' or 'target'")
    if not 0 < test_fraction < 1:
        raise DataFileError(f"test_fraction must lie in (0, 1), got {test_fraction}", "use e.g. 0.2")
    per_ds = [_ids(d, kind) for d in dss]
    universe = sorted(set().union(*(s for ids in per_ds for s in ids)))
    if len(universe) < 2:
        raise DataFileError(f"need at least two distinct {kind} ids to split, found {universe}",
                            "use another split kind or more data")
    n_test = min(max(1, round(test_fraction * len(universe))), len(universe) - 1)
    rng = np.random.default_rng(seed)
    held = sorted(rng.choice(universe, size=n_test, replace=False).tolist())
    held_set = set(held)
    masks = [np.array([bool(s & held_set) for s in ids], dtype=bool) for ids in per_ds]
    return Split(kind, held, masks, seed)
