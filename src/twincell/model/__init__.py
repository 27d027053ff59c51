"""The learned propagation model: `TwinCell` (user API), `PropagationOperator` (its linear map per context).

Names are imported on first use: torch is loaded only when something needs the torch model, so
that opening a saved model for inference (:func:`open_model`) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"PropagationOperator": "operator", "TwinCell": "twincell", "default_model": "default",
          "open_default_model": "default", "train_default_model": "default", "SavedModel": "io",
          "open_model": "io"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"twincell.model.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'twincell.model' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
