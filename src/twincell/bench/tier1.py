"""Tier 1 (forward prediction): predict held-out responses, in the field's usual units.

Methods that predict responses are fitted on a training split and predict every held-out row (new
contexts or new perturbations). Per row: Pearson of predicted vs observed change over all measured
genes and over the top-20 DE genes, direction accuracy and MSE on the top-20 DE genes, and the L2
error as a ratio to the mean-response baseline's error (see :func:`twincell.bench.metrics.forward_metrics`).
Means over rows; confidence intervals from a bootstrap over rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from twincell._progress import track
from twincell.bench.methods import Method
from twincell.bench.metrics import FORWARD_METRICS, forward_metrics, percentile_ci
from twincell.data.perturbation import PerturbationDataset
from twincell.errors import TwinCellError

MIN_MEASURED = 20


def _predictions(method: Method, test: PerturbationDataset) -> np.ndarray:
    pred = method.predict_response(test)
    if list(pred.columns) != list(test.genes) or len(pred) != test.n_obs:
        raise TwinCellError(f"method {method.name!r} predicted a {pred.shape} table, expected {test.n_obs} rows "
                            f"x the {len(test.genes)} test genes", "return predictions over data.genes, one row per example")
    return pred.to_numpy(float)


def run_tier1(methods: Sequence[Method], baseline: Method, test: PerturbationDataset, *, dataset: str,
              n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Score forward predictions of fitted methods on held-out rows.

    Parameters
    ----------
    methods
        Fitted methods that predict responses.
    baseline
        The fitted mean-response baseline (denominator of ``l2_ratio``).
    test
        Held-out rows; rows with fewer than 20 measured genes are left out.
    dataset
        Label written in the ``signature`` column.
    n_boot, seed
        Bootstrap over rows for the confidence intervals.

    Returns
    -------
    DataFrame
        Tidy rows ``tier, method, disease, signature, metric, value, ci_low, ci_high``; the metric
        ``n_rows`` gives the number of rows scored.
    """
    observed = np.asarray(test.X, dtype=float)
    keep = np.isfinite(observed).sum(axis=1) >= MIN_MEASURED
    if not keep.any():
        raise TwinCellError(f"no held-out row of {dataset} has {MIN_MEASURED} measured genes",
                            "tier 1 needs responses measured on at least 20 genes")
    observed = observed[keep]
    base = _predictions(baseline, test)[keep]
    resample = np.random.default_rng(seed).integers(0, len(observed), size=(n_boot, len(observed)))
    rows = []
    for method in track(methods, desc="tier 1 methods", total=len(methods)):
        pred = base if method is baseline else _predictions(method, test)[keep]
        per_row = pd.DataFrame([forward_metrics(o, p, b) for o, p, b in zip(observed, pred, base)])
        for metric in FORWARD_METRICS:
            values = per_row[metric].to_numpy()
            with warnings.catch_warnings():  # a constant observed response has no Pearson (NaN)
                warnings.simplefilter("ignore", RuntimeWarning)
                lo, hi = percentile_ci(np.nanmean(values[resample], axis=1))
            rows.append({"tier": 1, "method": method.name, "disease": "", "signature": dataset, "metric": metric,
                         "value": float(np.nanmean(values)), "ci_low": lo, "ci_high": hi})
        rows.append({"tier": 1, "method": method.name, "disease": "", "signature": dataset, "metric": "n_rows",
                     "value": float(len(observed)), "ci_low": np.nan, "ci_high": np.nan})
    return pd.DataFrame(rows)
