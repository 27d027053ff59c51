"""Figures (matplotlib): one API, ``pl.<name>(result, ax=None) -> Axes``."""

from twincell.pl.bench import metric_table, roc_curves
from twincell.pl.paths import paths
from twincell.pl.training import training_curves

__all__ = ["metric_table", "paths", "roc_curves", "training_curves"]
