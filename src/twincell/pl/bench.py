"""TwinBench figures: mean ROC curves per disease and the method x metric table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from twincell.errors import TwinCellError, check_count
from twincell.pl._checks import name_list, require_axes, require_numeric, require_table

#: Methods drawn with a solid line; the rest (baselines, controls) are dashed / dotted.
HIGHLIGHT = ("twincell", "twincell_calibrated", "twincell_prior")
CONTROLS = ("degree", "druggability", "popular_targets", "training_exposure", "random")


def roc_curves(roc: pd.DataFrame, disease: str | None = None, *, universe: str = "druggable",
               methods: Sequence[str] | None = None, ax: Axes | None = None) -> Axes:
    """Mean ROC curve of each method for one disease (mean over the disease's signatures).

    Parameters
    ----------
    roc
        Long table ``universe, method, disease, fpr, tpr`` (``Tier3Result.roc`` / ``BenchResult.roc``).
    disease
        Disease key to draw (default: the table's first disease).
    universe
        ``druggable`` (negatives = other drug targets, the headline) or ``all`` (every network gene).
    methods
        Methods to draw, in legend order (default all in the table's curves of ``disease``); one name may be a string.
    ax
        Axes to draw on (default a new figure).

    Returns
    -------
    Axes

    Raises
    ------
    TwinCellError
        If ``roc`` is not such a table (non-empty, numeric rates), holds no curve of ``disease`` in ``universe``, or
        none of a method of ``methods``, or ``methods`` is empty or not names, or ``ax`` is no Axes.
    """
    ax = require_axes(ax)
    roc = require_table(roc, ("universe", "method", "disease", "fpr", "tpr"), "the ROC table",
                        "pass BenchResult.roc (TwinBench tier 3)")
    require_numeric(roc, ("fpr", "tpr"), "the ROC table", "pass BenchResult.roc (rates are numbers)")
    if disease is None:
        disease = str(roc["disease"].iloc[0])
    sub = roc[(roc["disease"] == disease) & (roc["universe"] == universe)]
    if sub.empty:
        raise TwinCellError(f"no ROC curve for disease {disease!r} in universe {universe!r}",
                            f"diseases in the table: {', '.join(map(str, sorted(set(roc['disease']))))}; universes: "
                            f"{', '.join(map(str, sorted(set(roc['universe']))))}")
    available = list(dict.fromkeys(sub["method"]))
    names = name_list(methods, "methods") if methods is not None else available
    if not names:
        raise TwinCellError("methods is empty: no curve to draw", "name at least one method, or leave methods out")
    missing = [name for name in names if name not in available]
    if missing:
        raise TwinCellError(f"no ROC curve of method(s) {', '.join(map(str, missing))} for disease {disease!r} in "
                            f"universe {universe!r}", f"methods in the table: {', '.join(map(str, available))}")
    ax = ax or plt.subplots(figsize=(4.2, 4.2))[1]
    for name in names:
        curve = sub[sub["method"] == name]
        style = "-" if name in HIGHLIGHT else (":" if name in CONTROLS else "--")
        ax.plot(curve["fpr"], curve["tpr"], style, lw=2.2 if name in HIGHLIGHT else 1.2, label=name)
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8)
    negatives = "other drug targets" if universe == "druggable" else "all network genes"
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel=f"false positive rate ({negatives})",
           ylabel="true positive rate (approved targets)", title=f"{disease}: mean ROC over signatures")
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    return ax


def metric_table(summary: pd.DataFrame, *, lower_is_better: Iterable[str] | None = (), decimals: int = 2,
                 ax: Axes | None = None) -> Axes:
    """Heat-map table of methods (rows) x metrics (columns), each cell annotated with its value.

    Colours are scaled per column (best = darkest), so metrics of different units share one figure.

    Parameters
    ----------
    summary
        Method x metric table (index = method names, numeric columns; NaN and infinite cells stay blank).
    lower_is_better
        Columns where a smaller value is better (ranks, errors, p-values); one name may be a string; None: none.
    decimals
        Digits shown in the cells.
    ax
        Axes to draw on (default a new figure sized to the table).

    Returns
    -------
    Axes

    Raises
    ------
    TwinCellError
        If ``summary`` is not a non-empty table of numbers, ``lower_is_better`` names a column it does not have (or is
        not names), ``decimals`` is not a whole number >= 0, or ``ax`` is no Axes.
    """
    ax = require_axes(ax)
    decimals = check_count(decimals, "decimals", minimum=0)
    summary = require_table(summary, (), "the method x metric table", "pass BenchResult.summary()")
    require_numeric(summary, summary.columns, "the method x metric table",
                    "keep the metric columns (method names belong in the index)")
    lower = name_list(lower_is_better, "lower_is_better")
    unknown = [str(c) for c in lower if c not in summary.columns]
    if unknown:
        raise TwinCellError(f"lower_is_better names column(s) the table does not have: {', '.join(unknown)}",
                            f"columns: {', '.join(map(str, summary.columns))}")
    values = summary.to_numpy(float)
    values[~np.isfinite(values)] = np.nan  # blank, and out of each column's colour scale
    filled = ~np.isnan(values).all(axis=0)  # an all-blank column has no scale (and no nanmin warning)
    lo, hi = np.zeros(values.shape[1]), np.zeros(values.shape[1])
    lo[filled], hi[filled] = np.nanmin(values[:, filled], axis=0), np.nanmax(values[:, filled], axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = (values - lo) / span
    flip = np.array([c in set(lower) for c in summary.columns])
    scaled[:, flip] = 1.0 - scaled[:, flip]
    ax = ax or plt.subplots(figsize=(1.0 + 0.9 * summary.shape[1], 0.8 + 0.38 * summary.shape[0]))[1]
    ax.imshow(np.ma.masked_invalid(scaled), cmap="Blues", vmin=-0.15, vmax=1.15, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.{decimals}f}", ha="center", va="center", fontsize=7,
                    color="white" if scaled[i, j] > 0.65 else "black")
    ax.set_xticks(range(summary.shape[1]), [str(c) for c in summary.columns], rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(summary.shape[0]), [str(i) for i in summary.index], fontsize=8)
    ax.tick_params(length=0)
    return ax
