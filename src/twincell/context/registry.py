"""The registry of cell contexts: context id -> embedding, with where each embedding came from."""

from __future__ import annotations

import difflib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import anndata as ad
import numpy as np
import pandas as pd

from twincell.context._npz import npz_target, open_versioned_npz, write_npz
from twincell.context.tokenizer import passing_cells
from twincell.errors import ContextError, DataFileError

logger = logging.getLogger(__name__)

_FORMAT = 1
_INFO_FIELDS = ("source", "has_baseline", "datasets", "n_profiles", "note")


def match_context_id(context_id: str, known: Iterable[str], where: str) -> str:
    """The spelling in ``known`` of ``context_id``: exact, else the one id equal to it ignoring case.

    Parameters
    ----------
    context_id
        The id a user gave (e.g. ``hepg2_c3a``, ``t_cells``).
    known
        The ids available (a registry's or a model's contexts).
    where
        What holds ``known``, for the message (``the model``, ``registry of expression-pca``).

    Raises
    ------
    ContextError
        Unknown id (with close matches and a pointer to ``twincell context list``), or an id that
        matches several ids ignoring case.
    """
    known = list(known)
    context_id = str(context_id)
    if context_id in known:
        return context_id
    folded = [k for k in known if k.casefold() == context_id.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    if folded:
        raise ContextError(f"context {context_id!r} matches {', '.join(folded)} in {where} (ids differing only in case)",
                           f"give the exact id: one of {', '.join(folded)}")
    close = difflib.get_close_matches(context_id, known, n=3, cutoff=0.5)
    shown = ", ".join(sorted(known)[:12]) + (" ..." if len(known) > 12 else "")
    hint = (f"did you mean {', '.join(close)}? " if close else "") + (
        f"the {len(known)} known: {shown} (`twincell context list` describes the bundled contexts); "
        "or give a baseline expression .h5ad, or a registry .npz from `twincell context encode`")
    raise ContextError(f"unknown context {context_id!r} ({where})", hint)


@runtime_checkable
class ContextEncoder(Protocol):
    """What the model needs from an encoder: ``name``, ``dim``, ``fit(adata)`` and ``encode(adata) -> (n_obs, dim)``."""

    name: str

    @property
    def dim(self) -> int:
        """Embedding size."""

    def fit(self, adata: ad.AnnData) -> ContextEncoder:
        """Fit where needed (a no-op for pretrained encoders); returns the encoder."""

    def encode(self, adata: ad.AnnData) -> np.ndarray:
        """Embed each row of ``adata``: (n_obs, dim)."""


class ContextRegistry:
    """Context id -> embedding vector, all from one encoder, with provenance per context.

    A context without baseline expression holds the documented default vector, the **zero vector**
    (``has_baseline=False``). For the ``expression-pca`` encoder the zero vector is exactly the
    (platform-balanced) mean of the reference profiles.

    Parameters
    ----------
    encoder_name
        Name of the encoder that produced the vectors (e.g. ``expression-pca``, ``geneformer-V1-6L``).
    dim
        Embedding size.
    """

    def __init__(self, encoder_name: str, dim: int) -> None:
        if dim < 1:
            raise ContextError(f"context dimension must be positive, got {dim}", "check the encoder")
        self.encoder_name = str(encoder_name)
        self.dim = int(dim)
        self._vectors: dict[str, np.ndarray] = {}
        self._info: dict[str, dict[str, Any]] = {}

    # -- access ------------------------------------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        """Context ids, in insertion order."""
        return list(self._vectors)

    def __len__(self) -> int:
        return len(self._vectors)

    def __contains__(self, context_id: object) -> bool:
        return context_id in self._vectors

    def __repr__(self) -> str:
        n_base = sum(i["has_baseline"] for i in self._info.values())
        return (f"ContextRegistry({len(self)} contexts, {n_base} with baseline expression, "
                f"encoder={self.encoder_name}, dim={self.dim})")

    def resolve(self, context_id: str) -> str:
        """The registry's spelling of ``context_id`` (matched ignoring case; see :func:`match_context_id`)."""
        return match_context_id(context_id, self.ids, f"registry of {self.encoder_name}")

    def vector(self, context_id: str) -> np.ndarray:
        """Embedding of one context (id matched ignoring case), shape (dim,), float32 (a copy)."""
        return self._vectors[self.resolve(context_id)].copy()

    def matrix(self, ids: Iterable[str] | None = None) -> np.ndarray:
        """Embeddings of several contexts (default: all, in :attr:`ids` order), shape (n, dim), float32."""
        ids = self.ids if ids is None else [self.resolve(i) for i in ids]
        return np.stack([self._vectors[i] for i in ids]) if ids else np.zeros((0, self.dim), np.float32)

    def info(self, context_id: str) -> dict[str, Any]:
        """Provenance of one context: ``source``, ``has_baseline``, ``datasets``, ``n_profiles``, ``note``."""
        return dict(self._info[self.resolve(context_id)])

    def default_vector(self) -> np.ndarray:
        """The vector of contexts without baseline expression: zeros, shape (dim,)."""
        return np.zeros(self.dim, dtype=np.float32)

    def to_frame(self) -> pd.DataFrame:
        """One row per context: id, encoder, provenance columns and the vector's L2 norm."""
        rows = [{"context": i, "encoder": self.encoder_name, **self._info[i], "norm": float(np.linalg.norm(v))}
                for i, v in self._vectors.items()]
        return pd.DataFrame(rows, columns=["context", "encoder", *_INFO_FIELDS, "norm"])

    # -- building ----------------------------------------------------------------------------------------------
    def add(self, context_id: str, vector: np.ndarray | None, source: str, *, has_baseline: bool = True,
            datasets: str = "", n_profiles: int = 0, note: str = "", replace: bool = False) -> None:
        """Add one context.

        Parameters
        ----------
        context_id
            Id as used in the perturbation datasets' ``context`` column.
        vector
            (dim,) embedding; ``None`` stores the default (zero) vector and forces ``has_baseline=False``.
        source
            Where the embedding came from (data and encoder), shown by ``twincell context list``.
        has_baseline
            Whether the vector was computed from real baseline expression.
        datasets, n_profiles, note
            Datasets using the id, number of cells/samples averaged, free-text remark.
        replace
            Overwrite an existing id instead of raising.

        Raises
        ------
        ContextError
            On an empty or duplicate id, a wrong shape or non-finite values.
        """
        context_id = str(context_id)
        if not context_id:
            raise ContextError("empty context id", "give every context a non-empty id")
        if context_id in self._vectors and not replace:
            raise ContextError(f"context {context_id!r} is already in the registry", "pass replace=True to overwrite it")
        if vector is None:
            vec, has_baseline = self.default_vector(), False
        else:
            vec = np.asarray(vector, dtype=np.float32).reshape(-1)
            if vec.shape != (self.dim,):
                raise ContextError(f"context {context_id!r}: vector of size {vec.size}, registry dim is {self.dim}",
                                   f"encode it with the registry's encoder ({self.encoder_name})")
            if not np.all(np.isfinite(vec)):
                raise ContextError(f"context {context_id!r}: vector holds NaN or infinite values", "check the input expression")
        self._vectors[context_id] = vec
        self._info[context_id] = {"source": str(source), "has_baseline": bool(has_baseline), "datasets": str(datasets),
                                  "n_profiles": int(n_profiles), "note": str(note)}

    def update(self, other: ContextRegistry, replace: bool = False) -> None:
        """Add every context of ``other`` (same encoder and dim required)."""
        if other.encoder_name != self.encoder_name or other.dim != self.dim:
            raise ContextError(f"cannot merge contexts of {other.encoder_name} (dim {other.dim}) "
                               f"into {self.encoder_name} (dim {self.dim})",
                               "encode all contexts with one encoder")
        for i in other.ids:
            self.add(i, other._vectors[i], replace=replace, **other._info[i])

    # -- persistence -------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the registry to one ``.npz`` file (vectors, ids, encoder name, provenance as JSON; no pickles).

        Returns
        -------
        Path
            The file written: ``path`` with ``.npz`` added when it has another suffix (numpy's rule).

        Raises
        ------
        DataFileError
            If ``path`` is an existing directory, or an existing file that is not a context registry (an earlier
            registry is replaced; any other file is kept).
        """
        target = npz_target(path)
        if Path(path).is_dir() or target.is_dir():
            raise DataFileError(f"{path} is a directory", "give a file name for the registry, e.g. contexts.npz")
        if target.exists():
            try:
                ContextRegistry.load(target)
            except DataFileError as exc:
                raise DataFileError(f"{target} exists and is not a context registry ({exc.problem}); saving would "
                                    "replace it", "give another file name, or move that file") from exc
        info = json.dumps([self._info[i] for i in self.ids])
        return write_npz(target, "context registry", {
            "format": np.array(_FORMAT), "encoder_name": np.array(self.encoder_name),
            "ids": np.array(self.ids, dtype=str), "matrix": self.matrix(), "info": np.array(info)})

    @classmethod
    def load(cls, path: str | os.PathLike) -> ContextRegistry:
        """Read a registry written by :meth:`save`.

        Raises
        ------
        DataFileError
            If the file is missing, corrupt or of another format version.
        """
        with open_versioned_npz(path, _FORMAT, "context registry",
                                "give a file written by ContextRegistry.save / `twincell context encode`") as f:
            ids, mat, infos = f["ids"].tolist(), f["matrix"], json.loads(str(f["info"]))
            reg = cls(str(f["encoder_name"]), mat.shape[1])
        if len(ids) != len(mat) or len(infos) != len(ids):
            raise DataFileError(f"context registry {path} is inconsistent ({len(ids)} ids, {len(mat)} vectors)",
                                "re-create the registry")
        for i, vec, inf in zip(ids, mat, infos):
            reg.add(i, vec, **inf)
        return reg

    @classmethod
    def default(cls) -> ContextRegistry:
        """The bundled contexts encoded by the default :class:`ExpressionEncoder` (built once, cached on disk).

        See :func:`twincell.context.bundled.default_registry` for which contexts and sources.
        """
        from twincell.context.bundled import default_registry

        return default_registry()


def encode_contexts(adata: ad.AnnData, context_key: str, encoder: ContextEncoder, *, source: str = "AnnData",
                    datasets: str = "", **encode_kwargs: Any) -> ContextRegistry:
    """Encode the contexts of an AnnData of cells or bulk samples (e.g. a patient's tissue).

    Each profile is embedded, then the context embedding is the mean over its profiles. With an
    ``obs["filter_pass"]`` column (Geneformer's convention) only profiles where it equals 1 are used.

    Parameters
    ----------
    adata
        Profiles x genes (raw counts for Geneformer; linear-scale expression for the ExpressionEncoder).
    context_key
        ``obs`` column with the context id of each profile.
    encoder
        A fitted encoder (``ExpressionEncoder`` or ``GeneformerEncoder``).
    source
        Description of the data, stored with every context.
    datasets
        Dataset name(s) stored with every context.
    **encode_kwargs
        Passed to ``encoder.encode`` (e.g. ``platform=`` for the expression encoder, ``gene_key=`` or ``layer=`` for
        Geneformer's tokenizer); the expression encoder reads gene IDs from ``var_names`` (or its ``ensembl_id``
        column), so set ``var_names`` from another column first (as ``encode_h5ad(var_col=...)`` does).

    Returns
    -------
    ContextRegistry
        One context per distinct ``obs[context_key]`` value (sorted), encoder name from ``encoder.name``.

    Raises
    ------
    ContextError
        If the column is missing or has missing values, or no profile passes ``obs["filter_pass"]`` (profiles
        that fail it are left out with a warning naming the contexts that lose every profile).
    """
    if context_key not in adata.obs.columns:
        raise ContextError(f"obs has no column {context_key!r}", f"available columns: {list(adata.obs.columns)}")
    labels = adata.obs[context_key]
    if labels.isna().any() or adata.n_obs == 0:
        raise ContextError(f"obs[{context_key!r}] is empty or has missing values", "give every cell/sample a context id")
    keep = passing_cells(adata.obs)
    if not keep.all():
        lost = sorted(set(labels.astype(str)) - set(labels[keep].astype(str)))
        logger.warning("%d of %d profiles fail obs['filter_pass'] and are left out%s", int((~keep).sum()), len(keep),
                       f"; contexts with no profile left, not encoded: {', '.join(lost)}" if lost else "")
        adata, labels = adata[keep], labels[keep]
    emb = encoder.encode(adata, **encode_kwargs)
    labels = labels.astype(str).to_numpy()
    reg = ContextRegistry(encoder.name, encoder.dim)
    for ctx in sorted(set(labels)):
        rows = labels == ctx
        reg.add(ctx, emb[rows].mean(axis=0), source,
                datasets=datasets, n_profiles=int(rows.sum()))
    return reg

