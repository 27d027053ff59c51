"""Figures (matplotlib): one API, ``pl.<name>(result, *, ax=None) -> Axes``.

matplotlib is imported on first use (``paths`` imports it when called, the other figures are imported
lazily), so that importing ``twincell.pl`` or the reports' standalone SVG (``twincell.pl.svg``) stays light.
"""

from __future__ import annotations

from twincell._lazy import lazy_exports
from twincell.pl.paths import paths

_LAZY = {"metric_table": "bench", "roc_curves": "bench", "training_curves": "training"}

__all__ = ["metric_table", "paths", "roc_curves", "training_curves"]
__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
