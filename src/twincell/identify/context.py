"""A context from patients' baseline expression: the mean embedding of their profiles."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from twincell.errors import ContextError

if TYPE_CHECKING:  # anndata and the encoders are imported on use: ranking without a context needs neither
    import anndata as ad

    from twincell.context import ContextEncoder


def baseline_context(expression: ad.AnnData | str | os.PathLike, model: Any | None = None,
                     encoder: ContextEncoder | None = None, *, platform: str | None = None,
                     min_coverage: float = 0.0) -> np.ndarray:
    """Encode baseline expression (e.g. the patients' samples) into one context vector.

    Parameters
    ----------
    expression
        AnnData or ``.h5ad`` path of profiles x genes, linear-scale expression (raw counts, CPM, TPM).
    model
        The model the context is for; when it records its context encoder, that encoder must be used.
    encoder
        Context encoder (default: :func:`twincell.context.default_encoder` of the model's context dimension, the one
        the default model uses).
    platform
        The :class:`~twincell.context.ExpressionEncoder`'s reference platform (``scrna``, ``rnaseq``, ``l1000``);
        default: ``obs["platform"]`` or the encoder's default.
    min_coverage
        Refuse expression holding fewer than this share of a platform's reference genes
        (:meth:`~twincell.context.ExpressionEncoder.coverage`; 0: any; the service asks for
        :data:`~twincell.context.expression.LOW_COVERAGE`, below which the encoder warns).

    Returns
    -------
    np.ndarray
        (dim,) mean embedding of the profiles.

    Raises
    ------
    ContextError
        When the encoder differs from the model's (name or dimension), ``platform`` is given to an encoder without
        platforms, or the expression covers less than ``min_coverage`` of the reference genes.
    """
    import anndata as ad

    from twincell.context import ExpressionEncoder, default_encoder, read_expression
    from twincell.context.bundled import DEFAULT_DIM

    adata = expression if isinstance(expression, ad.AnnData) else read_expression(expression)
    if adata.n_obs == 0:
        raise ContextError("the baseline expression has no cells or samples", "give the patients' baseline profiles "
                           "(an .h5ad with at least one cell or sample)")
    enc = encoder or default_encoder(getattr(model, "context_dim", None) or DEFAULT_DIM)
    trained_with = (getattr(model, "metadata", None) or {}).get("context_encoder")
    context_dim = getattr(model, "context_dim", enc.dim)
    if (trained_with is not None and trained_with != enc.name) or context_dim != enc.dim:
        raise ContextError(f"the model's contexts come from {trained_with} (dim {context_dim}), "
                           f"not from {enc.name} (dim {enc.dim})", "encode the baseline with the model's encoder")
    if not isinstance(enc, ExpressionEncoder):
        if platform is not None:
            raise ContextError(f"platform {platform!r} given for {enc.name}, which reads single-cell counts only",
                               "leave the platform out")
        return np.asarray(enc.encode(adata), dtype=np.float32).mean(axis=0)
    for plat, (present, total) in (enc.coverage(adata, platform).items() if min_coverage > 0 else ()):
        if present < min_coverage * total:
            raise ContextError(f"the baseline expression holds {present:,} of the {total:,} reference genes of platform "
                               f"{plat!r} ({present / total:.0%}); a context needs at least {min_coverage:.0%} of them",
                               "give the whole baseline profile (HGNC symbols or Ensembl IDs), or a context id")
    return np.asarray(enc.encode(adata, platform=platform), dtype=np.float32).mean(axis=0)


def resolve_context(spec: str | None, model: Any) -> str | np.ndarray | None:
    """What ``twincell identify --context SPEC`` means, as a context for :func:`rank_targets`.

    Parameters
    ----------
    spec
        ``None`` (context-free edge strengths); a baseline expression ``.h5ad`` (its mean embedding,
        :func:`baseline_context`); a registry ``.npz`` written by ``twincell context encode``, as
        ``FILE.npz`` when it holds one context or ``FILE.npz:ID`` to pick one (id matched ignoring
        case); or a context id of the model (matched ignoring case).
    model
        The model the context is for (its ``contexts``, ``context_dim`` and ``metadata["context_encoder"]``).

    Returns
    -------
    str | np.ndarray | None
        The model's spelling of a context id, a (dim,) embedding, or None.

    Raises
    ------
    ContextError
        Unknown id, a registry of another encoder or dimension, a registry with several contexts
        and no ``:ID``.
    DataFileError
        A missing or unreadable ``.h5ad`` / ``.npz`` file.
    """
    if spec is None:
        return None
    if spec.lower().endswith(".h5ad"):
        return baseline_context(spec, model)
    cut = spec.lower().rfind(".npz") + 4
    if cut >= 4 and (cut == len(spec) or spec[cut] == ":"):
        return _registry_vector(spec[:cut], spec[cut + 1:] or None, model)
    if not getattr(model, "gated", True):
        return spec
    from twincell.context.registry import match_context_id

    return match_context_id(spec, getattr(model, "contexts", {}), "the model's contexts")


def _registry_vector(file: str, context_id: str | None, model: Any) -> np.ndarray:
    from twincell.context import ContextRegistry

    reg = ContextRegistry.load(file)
    trained_with = (getattr(model, "metadata", None) or {}).get("context_encoder")
    context_dim = getattr(model, "context_dim", reg.dim)
    if (trained_with is not None and trained_with != reg.encoder_name) or context_dim != reg.dim:
        raise ContextError(f"{file} holds contexts from {reg.encoder_name} (dim {reg.dim}); the model's come from "
                           f"{trained_with} (dim {context_dim})",
                           "encode the contexts with the model's encoder (`twincell context encode`)")
    if context_id is None:
        if len(reg) != 1:
            raise ContextError(f"{file} holds {len(reg)} contexts ({', '.join(reg.ids[:10])})",
                               f"pick one with --context {file}:ID")
        context_id = reg.ids[0]
    return reg.vector(context_id)
