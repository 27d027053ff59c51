"""Shared CLI helpers: the console and table printing."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rich.console import Console
from rich.table import Table

#: Rich console of every command. Output that is not a terminal (a log file, a pipe) gets 160 columns
#: instead of rich's 80, so that tables are not cut (``COLUMNS`` overrides both).
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)
#: Console of errors, warnings and log records: stderr, so that a redirected stdout keeps results only and a failure
#: is never silent on the terminal.
err_console = Console(stderr=True, width=None if sys.stderr.isatty() or "COLUMNS" in os.environ else 160)

#: Upper bounds of CLI options, checked before the model loads: each explained target costs about 3 ms on
#: the full network (its walk search and report figure) and adds a figure to the report, each path a Yen iteration.
MAX_EXPLAIN = 500
MAX_PATHS = 100

if TYPE_CHECKING:
    from twincell.model import SavedModel, TwinCell


def load_model(model_dir: Path | None) -> TwinCell:
    """A saved model directory, or the bundled default model (trained and cached on first use)."""
    from twincell.model import TwinCell, default_model

    return default_model() if model_dir is None else TwinCell.load(model_dir)


def open_model(model_dir: Path | None) -> SavedModel:
    """A saved model directory, or the bundled default model, opened for inference (torch loaded only if needed)."""
    from twincell.model import open_default_model, open_model as open_dir

    return open_default_model() if model_dir is None else open_dir(model_dir)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{int(value):,}" if value.is_integer() and abs(value) >= 1 else f"{value:.3g}"
    return str(value)


def print_table(df: pd.DataFrame, title: str | None = None) -> None:
    """Print a DataFrame as a rich table (whole numbers with thousands separators, others to 3 digits)."""
    table = Table(title=title)
    for col in df.columns:
        table.add_column(str(col))
    for row in df.astype(object).itertuples(index=False):
        table.add_row(*[_fmt(v) for v in row])
    console.print(table)
