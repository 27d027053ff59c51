"""Every figure refuses a wrong input with a TwinCellError that names it (synthetic tables), instead of a bare
KeyError or ValueError from pandas or matplotlib."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from types import SimpleNamespace  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from twincell import pl  # noqa: E402
from twincell.errors import TwinCellError  # noqa: E402


#: A one-row ROC table (synthetic).
_ROC = pd.DataFrame({"universe": ["druggable"], "method": ["m"], "disease": ["SLE"], "fpr": [0.0], "tpr": [0.0]})


@pytest.mark.parametrize(("call", "message"), [
    (lambda: pl.roc_curves(pd.DataFrame(columns=["universe", "method", "disease", "fpr", "tpr"]), "SLE"),
     "the ROC table is empty"),
    (lambda: pl.roc_curves(_ROC, "SLE", universe="all"), "no ROC curve for disease 'SLE' in universe 'all'"),
    (lambda: pl.roc_curves(_ROC, methods=3), "methods must be a name or a list of names, got int"),
    (lambda: pl.roc_curves(_ROC.assign(fpr=["a"])), "non-numeric column(s) fpr"),
    (lambda: pl.roc_curves(_ROC, ax="x"), "ax must be a matplotlib Axes, got str"),
    (lambda: pl.metric_table(pd.DataFrame({"auroc": [0.7]}), ax=1), "ax must be a matplotlib Axes, got int"),
    (lambda: pl.metric_table(pd.DataFrame({"auroc": [0.7]}), lower_is_better=2), "lower_is_better must be a name"),
    (lambda: pl.training_curves(pd.DataFrame({"epoch": [1], "train_loss": [1.0]}), ax="x"), "ax must be a matplotlib"),
    (lambda: pl.paths(SimpleNamespace(target="A"), ax="x"), "ax must be a matplotlib Axes, got str"),
    (lambda: pl.roc_curves(pd.DataFrame({"disease": ["SLE"]}), "SLE"), "lacks column(s) universe, method"),
    (lambda: pl.roc_curves([1, 2], "SLE"), "must be a pandas DataFrame, got list"),
    (lambda: pl.metric_table(pd.DataFrame({"method": ["a"], "auroc": [0.7]})), "non-numeric column(s) method"),
    (lambda: pl.metric_table(pd.DataFrame()), "the method x metric table is empty"),
    (lambda: pl.training_curves(pd.DataFrame({"loss": [1.0]})), "lacks column(s) epoch, train_loss"),
    (lambda: pl.paths(pd.DataFrame({"gene": ["STAT1"]})), "pl.paths takes an Explanation, got DataFrame"),
    (lambda: pl.paths(SimpleNamespace(paths=pd.DataFrame())), "got SimpleNamespace (it has no target, direction"),
    (lambda: pl.paths(SimpleNamespace(target="A", direction="inhibit", covered_share=1.0, paths=None)),
     "the explanation's walk table (.paths) must be a pandas DataFrame, got NoneType"),
    (lambda: pl.metric_table(pd.DataFrame({"auroc": [0.7]}), decimals=-1), "decimals must be at least 0"),
    (lambda: pl.roc_curves(pd.DataFrame({"universe": ["druggable"], "method": ["m"], "disease": ["SLE"],
                                         "fpr": [0.0], "tpr": [0.0]}), methods=[]), "methods is empty"),
    (lambda: pl.training_curves(pd.DataFrame({"epoch": [1, 2], "train_loss": ["a", "b"]})),
     "non-numeric column(s) train_loss"),
])
def test_figures_name_a_wrong_input(call, message):
    with pytest.raises(TwinCellError) as info:
        call()
    assert message in info.value.problem


def test_training_curves_without_a_validation_column_still_draw():
    ax = pl.training_curves(pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.8]}))   # was: KeyError 'val_loss'
    assert [line.get_label() for line in ax.get_lines()] == ["train"]


def test_training_curves_ignore_columns_that_are_not_named_by_strings():
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.8], 0: ["x", "y"]})   # was: AttributeError
    assert [line.get_label() for line in pl.training_curves(history).get_lines()] == ["train"]


def test_metric_table_takes_none_and_leaves_non_finite_cells_blank_without_warnings():
    """``lower_is_better=None`` means no such column; an all-NaN column and an infinite cell stay blank, with no numpy
    warning, and the other cells keep their colour scale."""
    import warnings

    summary = pd.DataFrame({"auroc": [0.7, 0.6], "empty": [float("nan")] * 2, "p": [float("inf"), 0.01]},
                           index=["a", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = pl.metric_table(summary, lower_is_better=None)
    assert sorted(t.get_text() for t in ax.texts) == ["0.01", "0.60", "0.70"]


def test_training_curves_leave_out_a_dataset_loss_with_no_value():
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.8], "val_loss": [0.9, 0.85],
                            "val_norman": [float("nan")] * 2, "val_lincs": [0.7, 0.6]})
    labels = [line.get_label() for line in pl.training_curves(history).get_lines()]
    assert labels == ["train", "held-out perturbations", "held-out: lincs"]
