"""Synthetic networks and responses simulated from a known TwinCell model (for tests and benchmarks).

Everything here is labelled synthetic: gene names are ``SYN0001`` ..., datasets have
``source="synthetic_..."``. Nothing is real biology.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anndata as ad
import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from twincell.data.perturbation import PerturbationDataset, format_targets
from twincell.network import Interactome

if TYPE_CHECKING:
    from twincell.model.twincell import TwinCell


def synthetic_interactome(n_nodes: int = 40, n_edges: int = 120, n_tfs: int = 6, tf_out_degree: int = 6,
                          signed_share: float = 1.0, seed: int = 0) -> Interactome:
    """A random directed signed network over ``SYN0001..``: ``ppi`` edges plus a ``tf`` layer.

    Parameters
    ----------
    n_nodes, n_edges
        Nodes and signalling edges (no self loops, no duplicates).
    n_tfs, tf_out_degree
        The first ``n_tfs`` nodes are TFs with ``tf_out_degree`` target genes each.
    signed_share
        Share of signalling edges with a known sign (the rest get sign 0).
    """
    rng = np.random.default_rng(seed)
    genes = np.array([f"SYN{i:04d}" for i in range(1, n_nodes + 1)], dtype=object)
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < n_edges:
        i, j = rng.integers(0, n_nodes, 2)
        if i != j:
            pairs.add((int(i), int(j)))
    src, dst = np.array(sorted(pairs)).T
    signed = rng.random(n_edges) < signed_share
    ppi = pd.DataFrame({"source": genes[src], "target": genes[dst],
                        "weight": rng.uniform(0.2, 1.0, n_edges).astype(np.float32),
                        "sign": np.where(signed, rng.choice([-1, 1], n_edges, p=[0.3, 0.7]), 0),
                        "directed": True, "layer": "ppi", "sources": "synthetic"})
    tf_rows = []
    for t in range(n_tfs):
        for g in rng.choice(np.delete(np.arange(n_nodes), t), tf_out_degree, replace=False):
            tf_rows.append((genes[t], genes[g], 1.0, int(rng.choice([-1, 1], p=[0.2, 0.8]))))
    tf = pd.DataFrame(tf_rows, columns=["source", "target", "weight", "sign"]).assign(
        directed=True, layer="tf", sources="synthetic")
    return Interactome(pd.concat([ppi, tf], ignore_index=True), {"sources": ["synthetic"]})


def simulate_responses(model: TwinCell, perturbations: list[dict[str, int]], contexts: list[str | None], *,
                       value_type: str = "zscore", noise: float = 0.0, perturbation_type: str = "drug",
                       genes: list[str] | None = None, seed: int = 0, name: str = "synthetic") -> PerturbationDataset:
    """Responses of ``model`` to every perturbation in every context, as a PerturbationDataset.

    Parameters
    ----------
    model
        A :class:`~twincell.model.TwinCell` whose predictions are the ground truth.
    perturbations
        Target maps ``{gene: +1/-1}``; row names are ``synthetic_pert<i>``.
    contexts
        Context ids known to the model (None = mean context, stored as ``"mean"``).
    value_type
        ``zscore`` (predictions + Gaussian noise) or ``rank_inverse_normal`` (inverse-normal scores
        of the ranks of the noisy predictions, ``rank_derived=True``).
    noise
        Standard deviation of the added noise, relative to the predictions' standard deviation.
    genes
        Measured genes (columns); default: every node.
    """
    rng = np.random.default_rng(seed)
    genes = list(model.genes if genes is None else genes)
    rows, obs = [], []
    for c in contexts:
        for i, pert in enumerate(perturbations):
            y = model.predict(pert, c, perturbation_type=perturbation_type).loc[genes].to_numpy()
            y = y + noise * (np.std(y) + 1e-12) * rng.standard_normal(len(y))
            if value_type == "rank_inverse_normal":
                y = norm.ppf((rankdata(y) - 0.5) / len(y))
            rows.append(y)
            obs.append({"perturbation": f"synthetic_pert{i}", "perturbation_type": perturbation_type,
                        "targets": format_targets(pert), "context": "mean" if c is None else c,
                        "dose": np.nan, "dataset": name})
    obs = pd.DataFrame(obs)
    obs.index = [f"{name}:{i}" for i in range(len(obs))]
    adata = ad.AnnData(np.array(rows, dtype=np.float32), obs=obs, var=pd.DataFrame(index=pd.Index(genes, name="gene")))
    adata.uns.update({"value_type": value_type, "rank_derived": value_type == "rank_inverse_normal", "source": name,
                      "provenance": {"origin": "synthetic, simulated from a TwinCell model"},
                      "unmapped_genes": np.array([], dtype=object),
                      "unmatched_perturbations": np.array([], dtype=object)})
    dataset = PerturbationDataset(adata, validate=False)
    dataset.validate(check_genes=False)  # synthetic gene names are not HGNC symbols
    return dataset
