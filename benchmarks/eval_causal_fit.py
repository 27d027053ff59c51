"""How much of each training dataset the default model's causal part explains, on its training rows and on its
held-out validation perturbations: memory against transfer.

The default model predicts each row as its dataset's background in the row's context plus a causal part (the
perturbation's targets propagated through the network, times the dataset's shrinkage factors). The background alone
is what :meth:`TwinCell.predict_dataset` predicts for a row without a target in the network, so the causal part is
the prediction minus the prediction of the same rows with their targets removed. Per dataset, the Pearson
correlation over every measured entry of that causal part with the observed response minus the background, on the
rows the model trained on and on the rows of its validation perturbations (never trained on, used for early
stopping and the shrinkage factors), with the dataset's shrinkage factors beside; and the same correlation of the
network part alone, unshrunk (each row read as a drug: no genetic self term), which the network factor weighs.

    PYTHONPATH=src python benchmarks/eval_causal_fit.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from twincell.data.perturbation import PerturbationDataset
from twincell.data.training_data import load_default_training_data
from twincell.model import TwinCell
from twincell.model.default import default_model

#: Rows per dataset a ``--quick`` smoke run scores (training and validation rows alike).
QUICK_ROWS = 200


def with_obs(data: PerturbationDataset, column: str, value: str) -> PerturbationDataset:
    """The same rows with ``obs[column]`` set to ``value`` on every row."""
    adata = data.adata.copy()
    adata.obs[column] = value
    return PerturbationDataset(adata, validate=False)


def pearson(part: np.ndarray, residual: np.ndarray) -> float:
    """Pearson correlation over the entries where both are finite (NaN when there are too few or no spread)."""
    both = np.isfinite(part) & np.isfinite(residual)
    return float(np.corrcoef(part[both], residual[both])[0, 1]) if both.sum() > 2 and part[both].std() > 0 else np.nan


def causal_fit(model: TwinCell, data: PerturbationDataset, validation: set[str]) -> list[dict]:
    """Correlations with the observed response minus the background, on training and on validation rows, of the
    causal part as predicted (shrunk) and of the network part alone, unshrunk (the rows read as drugs, without
    their genetic self term; a dataset's scale does not change a correlation)."""
    background = model.predict_dataset(with_obs(data, "targets", ""))  # no target: the background alone
    causal = model.predict_dataset(data) - background
    network = model.predict_dataset(with_obs(data, "perturbation_type", "drug"), background=False)
    residual = np.asarray(data.X, dtype=np.float64) - background
    held = data.obs["perturbation"].astype(str).isin(validation).to_numpy()
    name = str(data.obs["dataset"].iloc[0])
    return [{"dataset": name, "rows": label, "n_rows": int(mask.sum()),
             "causal part": pearson(causal[mask], residual[mask]),
             "network part": pearson(network[mask], residual[mask])}
            for label, mask in (("training", ~held), ("validation", held))]


def fit_table(rows: list[dict], metadata: dict) -> pd.DataFrame:
    """One row per dataset: rows and the two Pearson correlations on training and validation rows, the two
    shrinkage factors."""
    long = pd.DataFrame(rows)
    table = long.pivot(index="dataset", columns="rows", values="n_rows").add_prefix("rows, ")
    for value in ("causal part", "network part"):
        table = table.join(long.pivot(index="dataset", columns="rows", values=value).add_prefix(f"r {value}, "))
    table["network factor"] = pd.Series(metadata.get("causal_shrinkage", {}))
    table["self-term factor"] = pd.Series(metadata.get("self_shrinkage", {}))
    return table.reindex(long["dataset"].unique())


def main() -> None:
    """Load the default model and its training data, score each dataset, print one table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"smoke run: the first {QUICK_ROWS} rows per dataset")
    args = parser.parse_args()
    started = time.monotonic()
    model = default_model()
    validation = set(model.metadata.get("validation_perturbations", []))
    rows = []
    for data in load_default_training_data():
        if args.quick:
            data = data.subset(np.arange(min(QUICK_ROWS, data.n_obs)))
        rows += causal_fit(model, data, validation)
    with pd.option_context("display.width", 200, "display.precision", 3):
        print(fit_table(rows, model.metadata).to_string())
    print(f"{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
