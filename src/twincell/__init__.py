"""TwinCell: a virtual cell for drug target identification.

Layers, bottom up (a lower layer never imports a higher one)::

    data -> network -> pl -> context -> model -> identify -> bench -> service / cli

``pl`` (figures) takes plain results and imports nothing above ``network``, so the ``identify`` and ``bench``
reports can draw with it.

Sub-packages are imported lazily so that ``import twincell`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBPACKAGES = ("data", "network", "pl", "context", "model", "identify", "bench", "service", "cli")

__all__ = ["__version__", *_SUBPACKAGES]


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"twincell.{name}")
    raise AttributeError(f"module 'twincell' has no attribute {name!r}")
