"""Input checks shared by the figures: a wrong object gets a :class:`~twincell.errors.TwinCellError`, not a bare
``KeyError`` from deep inside pandas or matplotlib."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from twincell.errors import TwinCellError


def require_table(table: object, columns: Sequence[str], what: str, hint: str, *,
                  allow_empty: bool = False) -> pd.DataFrame:
    """``table`` itself, when it is a DataFrame holding ``columns`` (and rows, unless ``allow_empty``).

    Raises
    ------
    TwinCellError
        Naming ``what`` and what is wrong with it, with ``hint``.
    """
    if not isinstance(table, pd.DataFrame):
        raise TwinCellError(f"{what} must be a pandas DataFrame, got {type(table).__name__}", hint)
    if table.empty and not allow_empty:
        raise TwinCellError(f"{what} is empty", hint)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise TwinCellError(f"{what} lacks column(s) {', '.join(missing)} (columns: {', '.join(map(str, table.columns))})",
                            hint)
    return table
