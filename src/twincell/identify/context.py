"""A context from patients' baseline expression: the mean embedding of their profiles."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from twincell.errors import ContextError

if TYPE_CHECKING:  # anndata and the encoders are imported on use: ranking without a baseline needs neither
    import anndata as ad

    from twincell.context import ContextEncoder


def baseline_context(expression: ad.AnnData | str | os.PathLike, model: Any | None = None,
                     encoder: ContextEncoder | None = None) -> np.ndarray:
    """Encode baseline expression (e.g. the patients' samples) into one context vector.

    Parameters
    ----------
    expression
        AnnData or ``.h5ad`` path of profiles x genes, linear-scale expression (raw counts, CPM, TPM).
    model
        The model the context is for; when it records its context encoder, that encoder must be used.
    encoder
        Context encoder (default: :func:`twincell.context.default_encoder`, the one the default model uses).

    Returns
    -------
    np.ndarray
        (dim,) mean embedding of the profiles.

    Raises
    ------
    ContextError
        When the encoder differs from the model's (name or dimension).
    """
    import anndata as ad

    from twincell.context import default_encoder, read_expression

    adata = expression if isinstance(expression, ad.AnnData) else read_expression(expression)
    enc = encoder or default_encoder()
    trained_with = (getattr(model, "metadata", None) or {}).get("context_encoder")
    context_dim = getattr(model, "context_dim", enc.dim)
    if (trained_with is not None and trained_with != enc.name) or context_dim != enc.dim:
        raise ContextError(f"the model's contexts come from {trained_with} (dim {context_dim}), "
                           f"not from {enc.name} (dim {enc.dim})", "encode the baseline with the model's encoder")
    return np.asarray(enc.encode(adata), dtype=np.float32).mean(axis=0)
