"""The learned propagation model: `TwinCell` (user API), `PropagationOperator` (its linear map per context).

Names are imported on first use: torch is loaded only when something needs the torch model, so
that opening a saved model for inference (:func:`open_model`) stays light.
"""

from __future__ import annotations

from twincell._lazy import lazy_exports

_WHERE = {"PropagationOperator": "operator", "TwinCell": "twincell", "default_model": "default",
          "open_default_model": "default", "train_default_model": "default", "SavedModel": "io",
          "open_model": "io"}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
