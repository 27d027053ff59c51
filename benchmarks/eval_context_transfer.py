"""Tier 1 on every held-out cell type: how much of a drug's response carries to a cell type never seen in training.

TwinBench's ``T1-context`` holds out one of the four NeurIPS 2023 PBMC cell types, drawn by the seed (seeds 0-4 draw
T cells three times, myeloid cells and NK cells once, B cells never). This script holds out each cell type in turn,
trains on the other three and scores the forward methods exactly as TwinBench's tier 1 does
(:func:`twincell.bench.run.held_out_context_tier1`, ``l2_ratio`` against the per-drug ``mean``), beside the
perturbation-blind control ``background`` and ``mean_shrunk``, whose factor (printed) says how much of the other
cell types' mean response to the same drug carries to a left-out one, fitted on the training types alone.

A second table asks where TwinCell's prediction differs from its background: the Pearson correlation, over every
row and gene, of TwinCell's causal part (its prediction minus ``background``) with the observed response minus
``background``, on the training cell types' rows (what the model fitted) and on the held-out type's, beside the same
correlation for the per-drug ``mean`` (what a drug's response in other cell types carries).

    PYTHONPATH=src python benchmarks/eval_context_transfer.py [--methods mean,background,...] [--quick] [--out f.csv]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from twincell.bench import Resources, make_methods
from twincell.bench.baselines import context_transfer_factor
from twincell.bench.run import TIER1_CONTEXT_DATASET, BenchSettings, held_out_context_tier1
from twincell.context import ContextRegistry
from twincell.data.perturbation import PerturbationDataset
from twincell.data.drugs import DrugTargets
from twincell.data.training_data import load_bundled
from twincell.network import Interactome

METHODS = "mean,mean_shrunk,background,linear,twincell,twincell_common_response,twincell_prior"


def residual_correlation(resources: Resources, train: PerturbationDataset, test: PerturbationDataset,
                         method: str) -> dict[str, float]:
    """Pearson correlation of ``method``'s prediction minus ``background`` with the observed response minus
    ``background``, over every measured entry of the training rows and of the held-out rows (fitted on ``train``;
    TwinCell reuses the model trained on the same split with the same resources)."""
    fitted, background = (m.fit(train) for m in make_methods([method, "background"], resources))
    out = {}
    for label, data in (("training rows", train), ("held-out rows", test)):
        base = background.predict_response(data).to_numpy()
        part = fitted.predict_response(data).to_numpy() - base
        residual = np.asarray(data.X, dtype=np.float64) - base
        measured = np.isfinite(residual)
        out[label] = float(np.corrcoef(part[measured], residual[measured])[0, 1])
    return out


def context_table(methods: list[str], *, quick: bool = False, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tier-1 ``l2_ratio`` and top-20 Pearson per method (rows) and held-out cell type (columns), with their mean,
    and the fitted ``mean_shrunk`` factor per held-out type; and :func:`residual_correlation` of ``twincell`` and
    ``mean`` per held-out type (when ``twincell`` is among ``methods``)."""
    settings = BenchSettings.quick() if quick else BenchSettings()
    data = load_bundled(TIER1_CONTEXT_DATASET)
    network, drugs, registry = Interactome.default(), DrugTargets.universe(), ContextRegistry.default()
    options = {"max_epochs": settings.max_epochs, "patience": 1}
    contexts = data.obs["context"].astype(str).to_numpy()
    parts, factors, correlations = [], {}, []
    for held_out in sorted(set(contexts)):
        train, test = data.subset(contexts != held_out), data.subset(contexts == held_out)
        factors[held_out] = context_transfer_factor(train)[0]
        table = held_out_context_tier1(methods, train, test, network=network, drugs=drugs, seed=seed,
                                       train_options=options, n_boot=settings.n_boot, contexts=registry)
        parts.append(table.assign(held_out=held_out))
        resources = Resources(network, drugs, seed, contexts=registry, train_options=options)
        correlations += [{"method": m, "held_out": held_out, **residual_correlation(resources, train, test, m)}
                         for m in ("twincell", "mean") if m in methods]
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[rows["metric"].isin(["l2_ratio", "pearson_top20"])]
    wide = rows.pivot_table(index="method", columns=["metric", "held_out"], values="value", sort=False)
    for metric in ("l2_ratio", "pearson_top20"):
        wide[(metric, "mean")] = wide[metric].mean(axis=1)
    wide = wide.sort_index(axis=1, level=0, sort_remaining=False)
    factor_row = pd.DataFrame({("l2_ratio", k): [v] for k, v in factors.items()}, index=["mean_shrunk factor"])
    return pd.concat([wide.reindex(methods), factor_row]), pd.DataFrame(correlations)


def main() -> None:
    """Parse arguments, score each held-out cell type, print the table (and write it with ``--out``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", default=METHODS, help="forward methods of the TwinBench registry")
    parser.add_argument("--quick", action="store_true", help="TwinBench's quick sizes (smoke run)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the trainings and the bootstrap")
    parser.add_argument("--out", default=None, help="CSV file for the table")
    args = parser.parse_args()
    started = time.monotonic()
    table, correlations = context_table(args.methods.split(","), quick=args.quick, seed=args.seed)
    with pd.option_context("display.width", 250, "display.precision", 4, "display.max_columns", 20):
        print(table.to_string())
        if not correlations.empty:
            print("\nprediction minus background vs observed minus background (Pearson over rows x genes):")
            print(correlations.pivot(index="method", columns="held_out").to_string())
    print(f"{time.monotonic() - started:.0f} s")
    if args.out:
        table.to_csv(args.out)


if __name__ == "__main__":
    main()
