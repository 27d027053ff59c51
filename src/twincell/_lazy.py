"""Lazy package exports: names imported from their sub-module on first use (keeps ``import`` light)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, where: Mapping[str, str],
                 eager: Mapping[str, Any] | None = None) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module-level ``__getattr__`` and ``__dir__`` for ``package`` that import on first use.

    Parameters
    ----------
    package
        The package's dotted name (``__name__``).
    where
        Exported name -> sub-module (relative to ``package``) that defines it.
    eager
        The package's globals, listed by ``__dir__`` next to the lazy names.

    Returns
    -------
    tuple
        ``(__getattr__, __dir__)`` to assign in the package's ``__init__``.
    """
    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*(eager or {}), *where})

    return __getattr__, __dir__
