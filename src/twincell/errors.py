"""Errors that TwinCell raises for bad input.

Every error names what is wrong and what to do about it, so that the CLI and the
service can show it as is (no bare tracebacks).
"""

from __future__ import annotations

import importlib
import math
import numbers
from types import ModuleType


class TwinCellError(ValueError):
    """Base class of TwinCell's input errors.

    Parameters
    ----------
    problem
        What is wrong, naming the offending file, gene, column or value.
    hint
        What the user can do about it.
    """

    def __init__(self, problem: str, hint: str | None = None) -> None:
        self.problem = problem
        self.hint = hint
        super().__init__(problem if hint is None else f"{problem}\n  -> {hint}")


class DataFileError(TwinCellError):
    """A data file is missing, unreadable or has the wrong columns."""


class UnknownGeneError(TwinCellError):
    """Genes that could not be mapped to the interactome / HGNC symbols."""

    def __init__(self, genes: list[str], problem: str, hint: str | None = None) -> None:
        self.genes = list(genes)
        super().__init__(problem, hint)


class SignatureError(TwinCellError):
    """A disease signature or desired change is empty, malformed or has NaNs."""


class ModelFileError(TwinCellError):
    """A saved model directory is missing, incomplete, corrupt or of another version."""


class ContextError(TwinCellError):
    """An unknown context id or an unusable context expression profile."""


class MissingDependencyError(TwinCellError):
    """An optional dependency that a feature needs is not installed (names the extra that installs it)."""


def check_count(value: object, name: str, minimum: int = 1) -> int:
    """``value`` as an int, when it is a whole number (not a bool) of at least ``minimum``.

    Raises
    ------
    TwinCellError
        Naming ``name``, when it is not a whole number or is below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TwinCellError(f"{name} must be a whole number, got {value!r}", f"give {name} >= {minimum}")
    if value < minimum:
        raise TwinCellError(f"{name} must be at least {minimum}, got {value}", f"give {name} >= {minimum}")
    return int(value)


def is_finite_number(value: object) -> bool:
    """True when ``value`` is a finite real number (not a bool: ``True`` is no setting's value)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def optional_import(module: str, extra: str, feature: str) -> ModuleType:
    """Import an optional dependency of ``feature``, or say which extra installs it.

    Parameters
    ----------
    module
        Dotted module name, e.g. ``"scanpy"`` or ``"pydeseq2.dds"``.
    extra
        The ``twincell[...]`` extra that installs it (``scale``, ``de``, ``geneformer``, ``service``, ``fast``).
    feature
        What needs it, for the message (e.g. ``"the Wilcoxon signature"``).

    Returns
    -------
    ModuleType
        The imported module.

    Raises
    ------
    MissingDependencyError
        The module (or one it imports) is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(f"{feature} needs {module.split('.')[0]}, which is not installed "
                                     f"({type(exc).__name__}: {exc})",
                                     f"pip install 'twincell[{extra}]'") from exc
