"""Shared CLI helpers: the console and table printing."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

console = Console()


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
