"""TwinCell under TwinBench: the trained model and its untrained prior, ranked with the one-pass adjoint.

Both rank with :func:`twincell.identify.target_scores` (the adjoint scores of
:func:`~twincell.identify.rank_targets`, ``direction="both"``, desired change = the reversed signature)
on the model's operator, which the model caches per context. ``twincell_prior`` is the ablation: the
same ranking on the untrained network (evidence weights, known signs, no learning, no context).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twincell.bench.methods import Method, Resources, register_method
from twincell.data.perturbation import PerturbationDataset
from twincell.errors import TwinCellError
from twincell.identify import target_scores
from twincell.model import TwinCell


class _TwinCellRanker(Method):
    """Shared ranking and prediction of a :class:`~twincell.model.TwinCell` held in ``self.model``."""

    predicts_response = True

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.model: TwinCell | None = None

    @property
    def is_fitted(self) -> bool:
        """True once a model is held (trained here or given)."""
        return self.model is not None

    def _require_model(self) -> TwinCell:
        if self.model is None:
            raise TwinCellError(f"method {self.name!r} has no model", "call fit(train) first or pass Resources(model=...)")
        return self.model

    def predict_response(self, data: PerturbationDataset) -> pd.DataFrame:
        """Model predictions over ``data.genes`` (genes outside the network, rows without a network target: 0)."""
        pred = self._require_model().predict_dataset(data)
        return pd.DataFrame(np.nan_to_num(pred, nan=0.0), columns=data.genes)

    def rank_targets(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """|adjoint score| of every network gene for reversing the signature (best direction)."""
        model = self._require_model()
        # a gate-free model has one operator whatever the context: ask the model's cache for that one
        return target_scores(model.operator(context if model.gated else None), -signature, direction="both")


@register_method
class TwinCellMethod(_TwinCellRanker):
    """TwinCell trained on the benchmark's training split (or the model given in the resources)."""

    name = "twincell"
    description = "TwinCell: learned signed propagation over the interactome, one-pass adjoint ranking"
    reference = "this package"
    needs_training = True

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.model = resources.model if isinstance(resources.model, TwinCell) else None

    def fit(self, train: PerturbationDataset) -> TwinCellMethod:
        """Train TwinCell on ``train``: context-gated with ``resources.contexts``, else context-free.

        Options (epochs, time budget) come from ``resources.train_options``.
        """
        contexts = self.resources.contexts
        dim = 0 if contexts is None else int(contexts.dim)
        model = TwinCell(self.resources.network, dim, seed=self.resources.seed)
        self.model = model.fit([train], contexts, **self.resources.train_options)
        return self


@register_method
class TwinCellPrior(_TwinCellRanker):
    """The untrained TwinCell: evidence weights and known signs, no learning, no context."""

    name = "twincell_prior"
    description = "Ablation: the same one-pass ranking on the untrained network (evidence weights, known signs)"
    reference = "this package"

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.model = TwinCell.prior(resources.network, seed=resources.seed)
