"""Forward prediction on held-out LINCS over-expression perturbations: TwinCell vs mean and linear baselines.

Perturbations (over-expressed genes) are split at random; TwinCell (context-free: LINCS consensus
signatures have one context), its untrained prior, the mean-response baseline and the linear
baseline of Ahlmann-Eltze et al. (PCA gene embeddings of the training data + ridge) are compared
on the held-out perturbations with the TwinBench forward metrics (Pearson over the responding =
measured genes, and over the top-20 genes, direction accuracy on the top-20 genes, and the error
ratio to the mean baseline). Genes the model cannot reach (or outside the network) count as "no change".

    python benchmarks/eval_lincs_forward.py [--quick] [--budget SECONDS] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from twincell.bench.baselines import LinearRidge, MeanResponse
from twincell.bench.methods import Resources
from twincell.bench.metrics import forward_metrics
from twincell.data.drugs import DrugTargets
from twincell.data.training_data import load_bundled
from twincell.model import TwinCell
from twincell.network import Interactome


def evaluate(name: str, test, pred: np.ndarray, mean_pred: np.ndarray) -> dict[str, float]:
    """Mean forward metrics over the test rows with at least 3 measured genes."""
    rows = []
    X = np.asarray(test.X, dtype=np.float64)
    for i in range(test.n_obs):
        if np.isfinite(X[i]).sum() >= 3:
            rows.append(forward_metrics(X[i], np.nan_to_num(pred[i]), mean_pred[i]))
    df = pd.DataFrame(rows)
    covered = float(np.mean([np.any(np.nan_to_num(pred[i])[np.isfinite(X[i])] != 0) for i in range(test.n_obs)]))
    return {"method": name, "n_perturbations": len(df), **df.mean().to_dict(), "nonzero_prediction_share": covered}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short training budget (smoke run)")
    parser.add_argument("--budget", type=float, default=None, help="TwinCell training budget in seconds")
    parser.add_argument("--holdout", type=float, default=0.2, help="share of perturbations held out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    budget = args.budget or (30.0 if args.quick else 180.0)

    net = Interactome.default()
    lincs = load_bundled("lincs_overexpression")
    rng = np.random.default_rng(args.seed)
    perts = lincs.obs["perturbation"].astype(str).to_numpy()
    held = set(rng.choice(np.unique(perts), int(args.holdout * len(np.unique(perts))), replace=False))
    is_test = np.array([p in held for p in perts])
    train, test = lincs.subset(~is_test), lincs.subset(is_test)
    print(f"LINCS over-expression: {train.n_obs} training / {test.n_obs} held-out perturbations")

    resources = Resources(network=net, drugs=DrugTargets.default(), seed=args.seed)
    mean = MeanResponse(resources).fit(train)
    mean_pred = mean.predict_response(test).to_numpy()
    linear_pred = LinearRidge(resources).fit(train).predict_response(test).to_numpy()

    t0 = time.monotonic()
    model = TwinCell(net, 0, context_gates=False, seed=args.seed)
    model.fit(train, max_epochs=50, time_budget_s=budget, validation_fraction=0.1, patience=3)
    train_s = time.monotonic() - t0
    prior = TwinCell.prior(net)

    table = pd.DataFrame([
        evaluate("mean response", test, mean_pred, mean_pred),
        evaluate("linear (Ahlmann-Eltze)", test, linear_pred, mean_pred),
        evaluate("TwinCell prior (untrained)", test, prior.predict_dataset(test), mean_pred),
        evaluate("TwinCell", test, model.predict_dataset(test), mean_pred),
    ]).set_index("method")
    pd.set_option("display.width", 200)
    print(f"TwinCell: {len(model.history)} epochs in {train_s:.0f} s "
          f"(best held-out loss {model.history['val_loss'].min():.3f})")
    print(table.round(3).to_string())
    tc, best = table.loc["TwinCell"], table.drop(index="TwinCell")["pearson"].idxmax()
    print(f"TwinCell Pearson {tc['pearson']:.3f} vs best baseline ({best}) {table.loc[best, 'pearson']:.3f}; "
          f"l2 ratio to mean baseline {tc['l2_ratio']:.3f} (< 1 beats it)")


if __name__ == "__main__":
    main()
