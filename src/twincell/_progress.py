"""Progress bars shared by every long-running step (rich, via tqdm's rich front end)."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.std import TqdmExperimentalWarning

with warnings.catch_warnings():  # what tqdm.auto does, without its asyncio variant (~50 ms of imports)
    warnings.simplefilter("ignore", category=TqdmExperimentalWarning)
    from tqdm.autonotebook import tqdm

T = TypeVar("T")


def progress_enabled() -> bool:
    """Progress bars show on an interactive terminal unless ``TWINCELL_PROGRESS=0``."""
    flag = os.environ.get("TWINCELL_PROGRESS")
    if flag is not None:
        return flag not in ("0", "false", "no")
    return sys.stderr.isatty()


def track(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Wrap ``iterable`` in a progress bar (disabled off-terminal or by ``TWINCELL_PROGRESS=0``)."""
    return iter(tqdm(iterable, desc=desc, total=total, unit=unit, disable=not progress_enabled(), leave=False))


def bar(*, desc: str, total: int | None = None, unit: str = "it") -> tqdm:
    """A manual progress bar (``.update(n)``, ``.set_postfix``); use as a context manager."""
    return tqdm(desc=desc, total=total, unit=unit, disable=not progress_enabled(), leave=False)
