"""Does the context gate earn its place? Gated vs gate-free TwinCell on held-out whole contexts.

Whole Tahoe-100M cell lines and a whole NeurIPS 2023 PBMC cell type are held out. Both models (the
same TwinCell, with gates learned or fixed at 1) train with the same data, seed and budget on the
other contexts, then predict the held-out contexts' responses to drugs seen in training (given the
held-out contexts' embeddings from ``ContextRegistry.default()``). Scores per held-out signature:
Pearson over the stored genes (rank-derived scores), over the top-20 genes, and direction accuracy
on the top-20 genes; the mean response of the same drug in the training contexts is shown as a
reference. Genes the model cannot reach count as "no change".

    python benchmarks/eval_context_gate.py [--quick] [--budget SECONDS] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from twincell.bench.baselines import MeanResponse
from twincell.bench.methods import Resources
from twincell.bench.metrics import forward_metrics
from twincell.context import ContextRegistry
from twincell.data.drugs import DrugTargets
from twincell.data.training_data import load_bundled
from twincell.model import TwinCell
from twincell.network import Interactome


def with_targets(ds):
    """Rows whose drug has a target with a known direction (the only ones a model can be scored on)."""
    return ds.subset(ds.obs["targets"].astype(str).str.contains(r":[+-]1", regex=True).to_numpy())


def scores(test, pred: np.ndarray, mean_pred: np.ndarray) -> pd.DataFrame:
    """Forward metrics per held-out row."""
    X = np.asarray(test.X, dtype=np.float64)
    rows = [forward_metrics(X[i], np.nan_to_num(pred[i]), mean_pred[i]) for i in range(test.n_obs)]
    return pd.DataFrame(rows).assign(dataset=test.obs["dataset"].astype(str).to_numpy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short budget, fewer held-out lines (smoke run)")
    parser.add_argument("--budget", type=float, default=None, help="training budget per model, seconds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    budget = args.budget or (30.0 if args.quick else 180.0)
    n_lines = 3 if args.quick else 8

    registry = ContextRegistry.default()
    net = Interactome.default()
    rng = np.random.default_rng(args.seed)
    splits = []
    for name, n_out in (("signatures_tahoe", n_lines), ("signatures_neurips", 1)):
        ds = with_targets(load_bundled(name))
        ctx = ds.obs["context"].astype(str).to_numpy()
        held = set(rng.choice(np.unique(ctx), n_out, replace=False))
        is_test = np.array([c in held for c in ctx])
        splits.append((ds.subset(~is_test), ds.subset(is_test), sorted(held)))
        print(f"{name}: held-out contexts {sorted(held)}; {int((~is_test).sum())} training / "
              f"{int(is_test.sum())} held-out signatures")
    train = [s[0] for s in splits]
    resources = Resources(network=net, drugs=DrugTargets.default(), seed=args.seed)

    results = []
    for label, gates in (("TwinCell (context gates)", True), ("TwinCell (gates fixed, context-free)", False)):
        t0 = time.monotonic()
        model = TwinCell(net, registry.dim, context_gates=gates, seed=args.seed)
        model.fit(train, registry, max_epochs=50, time_budget_s=budget, validation_fraction=0.1, patience=3)
        print(f"{label}: {len(model.history)} epochs in {time.monotonic() - t0:.0f} s")
        for tr, te, _ in splits:
            mean_pred = MeanResponse(resources).fit(tr).predict_response(te).to_numpy()
            results.append(scores(te, model.predict_dataset(te), mean_pred).assign(method=label))
    for tr, te, _ in splits:
        mean_pred = MeanResponse(resources).fit(tr).predict_response(te).to_numpy()
        results.append(scores(te, mean_pred, mean_pred).assign(method="same drug, mean of training contexts"))

    table = (pd.concat(results).groupby(["dataset", "method"], sort=False)
             [["pearson", "pearson_top20", "direction_accuracy_top20"]].agg(["mean", "count"]))
    table = table.loc[:, [("pearson", "mean"), ("pearson", "count"), ("pearson_top20", "mean"),
                          ("direction_accuracy_top20", "mean")]]
    table.columns = ["pearson", "n_signatures", "pearson_top20", "direction_acc_top20"]
    pd.set_option("display.width", 200)
    print(table.round(3).to_string())
    gated, free = (pd.concat(results).query("method == @m") for m in
                   ("TwinCell (context gates)", "TwinCell (gates fixed, context-free)"))
    boot = np.random.default_rng(args.seed)
    for ds in table.index.get_level_values(0).unique():
        diff = (gated.loc[gated["dataset"] == ds, "pearson"].to_numpy()
                - free.loc[free["dataset"] == ds, "pearson"].to_numpy())
        diff = diff[np.isfinite(diff)]
        means = [boot.choice(diff, len(diff)).mean() for _ in range(2000)]
        lo, hi = np.percentile(means, [2.5, 97.5])
        verdict = "the gate helps" if lo > 0 else "the gate hurts" if hi < 0 else "no clear difference"
        print(f"{ds}: gated - gate-free Pearson, paired over {len(diff)} held-out signatures: "
              f"{diff.mean():+.3f} (95% bootstrap CI {lo:+.3f} to {hi:+.3f}): {verdict}")

if __name__ == "__main__":
    main()
