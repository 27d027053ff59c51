"""Tier 1's floor: how a background-only prediction scores against the mean baseline, beside TwinCell designs.

TwinBench's tier-1 ``l2_ratio`` divides a method's error by the mean-response baseline's. A model whose
causal part is shrunk to nothing predicts its background (each dataset's mean training response in
the row's context, or over all contexts for a new one). This script scores, on TwinBench's own tier-1
splits (seed 0):

* ``background``: that prediction, TwinBench's perturbation-blind control ``background``
  (:class:`twincell.bench.baselines.Background`, no model), on every measured gene, and ``background, network genes only``: the same with genes that are not network
  nodes predicted as 0 (what TwinCell predicted there before its background covered them);
* TwinCell trained inside TwinBench with each design of ``benchmarks/ablation_model.py`` given.

    PYTHONPATH=src python benchmarks/eval_tier1_background.py --designs chosen,causal_shrinkage [--quick]
"""

from __future__ import annotations

import argparse
import numpy as np
import pandas as pd

from ablation_model import DESIGNS, design_method, registered, tier_rows
from twincell.bench import run_benchmark
from twincell.bench.baselines import Background, MeanResponse
from twincell.bench.methods import Resources
from twincell.bench.metrics import forward_metrics
from twincell.bench.run import TIER1_CONTEXT_DATASET, TIER2_DATASET, BenchSettings, _subsample
from twincell.data.drugs import DrugTargets
from twincell.data.splits import make_split
from twincell.data.training_data import load_bundled
from twincell.network import Interactome

#: TwinBench's tier-1 splits: (dataset, split kind, test fraction, row label prefix).
SPLITS = ((TIER2_DATASET, "target", BenchSettings().test_fraction, "T1-perturbation"),
          (TIER1_CONTEXT_DATASET, "context", 0.25, "T1-context"))


def background_rows(network: Interactome) -> list[dict]:
    """Mean tier-1 ``l2_ratio`` and top-20 Pearson of the background-only predictions on each split."""
    rows = []
    for name, kind, fraction, prefix in SPLITS:
        data = load_bundled(name)
        (train,), (test,) = make_split(data, kind, fraction, 0).apply([data])
        if kind == "target":
            test = _subsample(test, BenchSettings().max_tier2_cases, 0)
        resources = Resources(network, DrugTargets.default(), 0)
        base = MeanResponse(resources).fit(train).predict_response(test).to_numpy(float)
        observed = np.asarray(test.X, dtype=float)
        keep = np.isfinite(observed).sum(axis=1) >= 20
        in_network = np.array([g in network.gene_index for g in test.genes])
        bg = Background(resources).fit(train).predict_response(test).to_numpy(float)
        for label, pred in (("background", bg), ("background, network genes only", np.where(in_network, bg, 0.0))):
            metrics = pd.DataFrame([forward_metrics(o, p, b) for o, p, b in zip(observed[keep], pred[keep], base[keep])])
            rows.append({"method": label, f"{prefix} l2_ratio": metrics["l2_ratio"].mean(),
                         f"{prefix} pearson_top20": metrics["pearson_top20"].mean()})
    return rows


def main() -> None:
    """Parse arguments, score the background-only predictions and the designs, print one table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--designs", default="chosen", help=f"any of {','.join(DESIGNS)}")
    parser.add_argument("--quick", action="store_true", help="smoke run: TwinBench's quick sizes for the designs")
    args = parser.parse_args()
    unknown = [name for name in args.designs.split(",") if name not in DESIGNS]
    if unknown:  # before the slow loading, not after it
        parser.error(f"unknown design(s) {', '.join(unknown)}; any of {','.join(DESIGNS)}")
    network = Interactome.default()
    rows = background_rows(network)
    for name in args.designs.split(","):
        with registered(design_method(DESIGNS[name])):
            table = run_benchmark((1,), ["twincell"], quick=args.quick, seed=0, network=network).table
        rows.append({"method": f"twincell ({name})", **tier_rows("twincell", table)})
    out = pd.DataFrame(rows).groupby("method", sort=False).first()
    with pd.option_context("display.width", 200, "display.precision", 4):
        print(out.to_string())


if __name__ == "__main__":
    main()
