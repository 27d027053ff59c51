"""Does a perturbation's response carry to its network partners? No training.

For every bundled training dataset (LINCS over-expression, Tahoe-100M lines, NeurIPS PBMC types, sci-Plex, CytoSig),
each perturbation with a target in the network is a *unit*; its target set is its over-expressed gene, its drug's
DrugCentral targets (any action) or its cytokine's receptors. A unit's *partners* are the other units whose target
sets share no gene with its own and hold a direct PPI partner (either direction) of one of its targets. Per context,
the prediction of a unit's response is the mean response of its partners measured there, and both it and the
observed response are read minus the mean of every other unit in that context (leave-one-out background), without
the transcripts of the unit's own targets (and each partner's response without its own targets' transcripts).

Statistic: the Pearson correlation of prediction and observation pooled over every measured entry of the units with
at least one partner in the context (the median per unit and context beside). Null: the responses permuted among the
units (a unit's rows in every context move together) within quantile bins of the units' network degree (distinct PPI
partners of the target set), partner pairs whose responses come from units sharing a target left out as in the
observation, seeded permutations, one-sided empirical p. Beside: LINCS on the default model's split (its validation
perturbations, read from the cached default model without training, predicted from its training perturbations alone).

    PYTHONPATH=src python benchmarks/eval_neighbour_transfer.py [--permutations 200] [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from twincell.bench.metrics import empirical_p
from twincell.data.perturbation import PerturbationDataset
from twincell.data.training_data import load_default_training_data
from twincell.errors import ModelFileError
from twincell.model.default import default_model_dir
from twincell.model.io import read_config
from twincell.network import Interactome
from twincell.network.propagation import symmetric_weights

#: Most degree bins the permutations keep units within (fewer when a dataset has under 20 units per bin).
DEGREE_BINS = 10
#: Units per dataset a ``--quick`` smoke run keeps (the first ones by name).
QUICK_UNITS = 150


@dataclass
class Units:
    """One dataset's units: target sets as a units x nodes 0/1 matrix, per context a units x genes response matrix
    (NaN where the unit was not measured in the context, the entry is missing, or it is one of the unit's own
    targets' transcripts), and the units x genes mask of those own transcripts."""

    name: str
    labels: np.ndarray
    targets: sp.csr_matrix
    responses: dict[str, np.ndarray]
    own: np.ndarray


def unlisted_is_zero(data: PerturbationDataset) -> bool:
    """Whether the dataset stores only its significant entries, so that a missing entry means "no significant
    change" (LINCS' consensus signatures: only Bonferroni-significant genes, a median 4 per row), read as 0."""
    return "not significant" in str(data.adata.uns.get("provenance", {}).get("missing", ""))


def dataset_units(data: PerturbationDataset, network: Interactome, *, unlisted_zero: bool = False) -> Units:
    """The dataset's perturbations with a network target as units; a unit's rows in one context are averaged.
    With ``unlisted_zero`` a measured unit's missing entries are read as 0 (see :func:`unlisted_is_zero`)."""
    targets: dict[str, set[str]] = {}
    for i, name in enumerate(data.obs["perturbation"].astype(str)):
        targets.setdefault(name, set()).update(g for g in data.targets_of(i) if g in network.gene_index)
    labels = np.array(sorted(u for u, t in targets.items() if t), dtype=object)
    position = {u: k for k, u in enumerate(labels)}
    pairs = np.array([(position[u], network.gene_index[g]) for u in labels for g in sorted(targets[u])],
                     dtype=np.int64).reshape(-1, 2)
    incidence = sp.csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(labels), network.n_nodes))
    column = {g: j for j, g in enumerate(np.asarray(data.genes, dtype=object))}
    own = np.zeros((len(labels), len(column)), bool)
    for u, k in position.items():
        own[k, [column[g] for g in targets[u] if g in column]] = True
    X = np.asarray(data.X, dtype=np.float64)
    if unlisted_zero:
        X = np.nan_to_num(X, nan=0.0)
    unit = data.obs["perturbation"].astype(str).map(position)
    responses = {}
    for context, where in unit.groupby(data.obs["context"].astype(str)).groups.items():
        scored = unit.loc[where].dropna()
        means = pd.DataFrame(X[data.obs.index.get_indexer(scored.index)]).groupby(scored.to_numpy(int)).mean()
        Y = np.full(own.shape, np.nan)
        Y[means.index.to_numpy()] = means.to_numpy()
        Y[own] = np.nan
        responses[str(context)] = Y
    return Units(str(data.obs["dataset"].iloc[0]), labels, incidence, responses, own)


def shared_targets(units: Units) -> np.ndarray:
    """Units x units bool matrix: True where the two target sets share a gene (the diagonal included)."""
    return ((units.targets @ units.targets.T) != 0).toarray()


def partner_matrix(units: Units, ppi: sp.csr_matrix) -> sp.csr_matrix:
    """Units x units 0/1 matrix: 1 where the two target sets share no gene and a PPI edge joins them (``ppi``: the
    symmetric PPI layer, :func:`~twincell.network.propagation.symmetric_weights`; only its pattern is read)."""
    joined = ((units.targets @ ppi @ units.targets.T) != 0).toarray()
    return sp.csr_matrix((joined & ~shared_targets(units)).astype(np.float64))


def degree_bins(units: Units, ppi: sp.csr_matrix) -> np.ndarray:
    """Per unit, its quantile bin (0 ... at most :data:`DEGREE_BINS` - 1) of network degree: distinct PPI partners
    of its target set, ties broken by order."""
    degree = np.asarray(((units.targets @ ppi) != 0).sum(axis=1)).ravel()
    n_bins = max(1, min(DEGREE_BINS, len(degree) // 20))
    return pd.qcut(pd.Series(degree).rank(method="first"), n_bins, labels=False).to_numpy()


def transfer(units: Units, partners: sp.csr_matrix, order: np.ndarray, scored: np.ndarray,
             shared: np.ndarray) -> tuple[float, float, int]:
    """Pooled and median per-unit-context Pearson of the partners' mean response with the unit's own, both minus the
    leave-one-out background, when unit ``k`` carries the response of unit ``order[k]``; and the unit-contexts read.

    ``scored`` (bool, units) marks the units read; ``partners`` (units x units) may hold only some source units
    (a split); ``shared`` (:func:`shared_targets`) leaves out the partner pairs whose *responses* come from units
    sharing a target, as the observed partners share none. Each read unit is masked at its own (its label's)
    targets' transcripts.
    """
    partners = sp.csr_matrix(partners.multiply(~shared[np.ix_(order, order)]))
    predicted, observed, per_unit, n_read = [], [], [], 0
    for Y0 in units.responses.values():
        Y = Y0[order]
        finite = np.isfinite(Y)
        Z = np.where(finite, Y, 0.0)
        measured = finite.any(axis=1)
        keep = scored & measured & (partners @ measured.astype(np.float64) > 0)
        if not keep.any():
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            background = (Z.sum(axis=0) - Z[keep]) / (finite.sum(axis=0) - finite[keep])
            mean = (partners[keep] @ Z) / (partners[keep] @ finite.astype(np.float64))
        P = mean - background
        O = Y[keep] - background
        O[units.own[keep]] = np.nan
        both = np.isfinite(P) & np.isfinite(O)
        predicted.append(P[both])
        observed.append(O[both])
        per_unit += [np.corrcoef(p[b], o[b])[0, 1] for p, o, b in zip(P, O, both)
                     if b.sum() > 2 and p[b].std() > 0 and o[b].std() > 0]
        n_read += int(keep.sum())
    if not predicted:
        return np.nan, np.nan, 0
    p, o = np.concatenate(predicted), np.concatenate(observed)
    pooled = float(np.corrcoef(p, o)[0, 1]) if p.size > 2 else np.nan
    return pooled, float(np.median(per_unit)) if per_unit else np.nan, n_read


def permutations(bins: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    """``n`` seeded orders of the units, each a permutation within every degree bin."""
    rng = np.random.default_rng(seed)
    orders = []
    for _ in range(n):
        order = np.arange(len(bins))
        for b in np.unique(bins):
            members = np.flatnonzero(bins == b)
            order[members] = rng.permutation(members)
        orders.append(order)
    return orders


def evaluate(units: Units, partners: sp.csr_matrix, scored: np.ndarray, orders: list[np.ndarray],
             view: str) -> dict:
    """One table row: the observed statistics, the null's mean and 95 % range, the empirical p."""
    identity, shared = np.arange(len(units.labels)), shared_targets(units)
    pooled, median, n_read = transfer(units, partners, identity, scored, shared)
    null = np.array([transfer(units, partners, order, scored, shared)[0] for order in orders])
    return {"dataset": units.name, "view": view, "units": len(units.labels), "unit-contexts read": n_read,
            "contexts": len(units.responses), "pooled r": pooled, "median unit-context r": median,
            "null mean": float(np.nanmean(null)), "null 2.5%": float(np.nanquantile(null, 0.025)),
            "null 97.5%": float(np.nanquantile(null, 0.975)), "p": empirical_p(pooled, null[np.isfinite(null)])}


def cached_validation_perturbations() -> set[str]:
    """The default model's validation perturbations, read from its cached ``config.json`` (no training: empty, with a
    note, when the cache has no readable default model; the model split's rows are then left out)."""
    try:
        metadata = read_config(default_model_dir(), verify=()).get("metadata", {})
    except ModelFileError:
        print("no cached default model: the model split is left out (a command that uses it, e.g. `twincell identify "
              "--disease SLE`, trains and caches it)")
        return set()
    return set(metadata.get("validation_perturbations", []))


def score_dataset(units: Units, ppi: sp.csr_matrix, validation: set[str], view: str,
                  args: argparse.Namespace) -> list[dict]:
    """The rows of one dataset read one way: every unit, and for LINCS the default model's split beside."""
    if args.quick:
        keep = np.arange(min(QUICK_UNITS, len(units.labels)))
        units = Units(units.name, units.labels[keep], units.targets[keep],
                      {c: Y[keep] for c, Y in units.responses.items()}, units.own[keep])
    partners = partner_matrix(units, ppi)
    orders = permutations(degree_bins(units, ppi), args.permutations, args.seed)
    rows = [evaluate(units, partners, np.ones(len(units.labels), bool), orders, view)]
    held = np.isin(units.labels, list(validation))
    if units.name == "lincs_overexpression" and held.any():
        split = sp.csr_matrix(partners.multiply(~held[None, :]))
        rows.append(evaluate(units, split, held, orders, view.replace("all units", "model split")))
    return rows


def main() -> None:
    """Score every bundled training dataset (and LINCS on the default model's split), print and write one table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--permutations", type=int, default=200, help="permutations of the null (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the permutations (default 0)")
    parser.add_argument("--out", type=Path, help="folder to write transfer.csv into")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: the first {QUICK_UNITS} units per dataset")
    args = parser.parse_args()
    started = time.monotonic()
    network = Interactome.default()
    ppi = symmetric_weights(network, "ppi")
    validation = cached_validation_perturbations()
    rows = []
    for data in load_default_training_data():
        readings = [("all units", False)] + ([("all units, unlisted as 0", True)] if unlisted_is_zero(data) else [])
        for view, zero in readings[::-1]:
            rows += score_dataset(dataset_units(data, network, unlisted_zero=zero), ppi, validation, view, args)
        print(f"{data.obs['dataset'].iloc[0]}: {time.monotonic() - started:.0f} s", flush=True)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 220, "display.precision", 4):
        print(table.to_string(index=False))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "transfer.csv", index=False)
    print(f"{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
