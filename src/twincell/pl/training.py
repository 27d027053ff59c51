"""Training curves of a TwinCell model."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from twincell.pl._checks import require_axes, require_numeric, require_table


def training_curves(history: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Training and validation loss per epoch (plus per-dataset validation losses, dashed).

    Parameters
    ----------
    history
        ``TwinCell.history``: one row per epoch with ``epoch``, ``train_loss``, ``val_loss`` and
        ``val_<dataset>`` columns.
    ax
        Axes to draw on (default: a new figure).

    Returns
    -------
    Axes
        One line per loss against the epoch: training (solid), held-out perturbations and each dataset's
        held-out loss (dashed); a validation loss with no value (no held-out rows) is left out.

    Raises
    ------
    TwinCellError
        If ``history`` is not a table with ``epoch`` and ``train_loss`` rows, a loss column is not numeric, or ``ax``
        is no Axes.
    """
    ax = require_axes(ax)
    history = require_table(history, ("epoch", "train_loss"), "the training history",
                            "train the model first (TwinCell.fit) and pass TwinCell.history")
    losses = [c for c in history.columns if c in ("epoch", "train_loss") or str(c).startswith("val_")]
    require_numeric(history, losses, "the training history", "pass TwinCell.history (epochs and losses are numbers)")
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    ax.plot(history["epoch"], history["train_loss"], marker="o", label="train")
    if "val_loss" in history and history["val_loss"].notna().any():
        ax.plot(history["epoch"], history["val_loss"], marker="o", label="held-out perturbations")
    for col in [c for c in losses if str(c).startswith("val_") and c != "val_loss" and history[c].notna().any()]:
        ax.plot(history["epoch"], history[col], ls="--", lw=1, label=f"held-out: {col[4:]}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss per example (lower is better)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("TwinCell training")
    ax.legend(fontsize=8)
    return ax
