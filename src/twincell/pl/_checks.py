"""Input checks shared by the figures: a wrong object gets a :class:`~twincell.errors.TwinCellError`, not a bare
``KeyError`` from deep inside pandas or matplotlib."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from twincell.errors import TwinCellError

if TYPE_CHECKING:
    from matplotlib.axes import Axes


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


def require_numeric(table: pd.DataFrame, columns: Iterable[object], what: str, hint: str) -> None:
    """Refuse ``columns`` of ``table`` that are not numeric (text would be drawn as categories, not values).

    Raises
    ------
    TwinCellError
        Naming ``what`` and the non-numeric columns, with ``hint``.
    """
    text = [str(c) for c in columns if not pd.api.types.is_numeric_dtype(table[c])]
    if text:
        raise TwinCellError(f"{what} has non-numeric column(s) {', '.join(text)}", hint)


def require_axes(ax: object) -> Axes | None:
    """``ax`` itself when it is None (a new figure) or a matplotlib ``Axes``.

    Raises
    ------
    TwinCellError
        For anything else (a figure, a string ...).
    """
    from matplotlib.axes import Axes  # here: the module is imported without matplotlib (SVG figures)

    if ax is not None and not isinstance(ax, Axes):
        raise TwinCellError(f"ax must be a matplotlib Axes, got {type(ax).__name__}",
                            "pass an Axes (e.g. fig, ax = plt.subplots()) or leave ax out for a new figure")
    return ax


def name_list(names: object, what: str) -> list[str]:
    """``names`` as a list: one name (a string) or an iterable of names; None is no name.

    Raises
    ------
    TwinCellError
        When ``names`` is neither (a number ...).
    """
    if names is None:
        return []
    if isinstance(names, str):
        return [names]
    if not isinstance(names, Iterable):
        raise TwinCellError(f"{what} must be a name or a list of names, got {type(names).__name__}",
                            f"e.g. {what}=['twincell', 'degree']" if what == "methods" else f"give {what} as a list")
    return [str(n) for n in names]
