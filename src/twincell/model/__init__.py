"""The learned propagation model: `TwinCell` (user API), `PropagationOperator` (its linear map per context)."""

from twincell.model.default import default_model, train_default_model
from twincell.model.operator import PropagationOperator
from twincell.model.twincell import TwinCell

__all__ = ["PropagationOperator", "TwinCell", "default_model", "train_default_model"]
