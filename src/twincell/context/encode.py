"""Choosing an encoder and encoding a user's ``.h5ad`` file into a context registry."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import anndata as ad
import pandas as pd

from twincell.context.bundled import default_encoder
from twincell.context.geneformer import ENV_MODEL_DIR, GeneformerEncoder
from twincell.context.registry import ContextEncoder, ContextRegistry, encode_contexts
from twincell.data.pseudobulk import check_anndata_keys
from twincell.errors import ContextError, DataFileError

log = logging.getLogger(__name__)


def make_encoder(geneformer_dir: str | os.PathLike | None = None, **geneformer_options: Any) -> ContextEncoder:
    """Geneformer when a model directory is given (or ``$TWINCELL_GENEFORMER_DIR`` is set), else the default ExpressionEncoder.

    Parameters
    ----------
    geneformer_dir
        Geneformer model directory.
    **geneformer_options
        Passed to :class:`GeneformerEncoder` (``layer``, ``pooling``, ``batch_size``, ``dictionaries`` ...).

    Returns
    -------
    ContextEncoder
        The encoder; its ``name`` says which one it is, and the choice is logged.

    Raises
    ------
    ContextError
        Geneformer options without a Geneformer model (the fallback encoder would ignore them).
    """
    model_dir = geneformer_dir or os.environ.get(ENV_MODEL_DIR)
    if geneformer_options and not model_dir:
        raise ContextError(f"Geneformer options ({', '.join(sorted(geneformer_options))}) were given but no Geneformer "
                           "model is configured: the fallback encoder would ignore them",
                           f"give --geneformer-dir (or set {ENV_MODEL_DIR}), or drop those options")
    if model_dir:
        enc: ContextEncoder = GeneformerEncoder(model_dir, **geneformer_options)
    else:
        enc = default_encoder()
        log.warning("no Geneformer model configured (--geneformer-dir / %s): contexts are encoded by %s, not Geneformer",
                    ENV_MODEL_DIR, enc.name)
    log.info("context encoder: %s", enc.name)
    return enc


def read_expression(path: str | os.PathLike) -> ad.AnnData:
    """Read an ``.h5ad`` file of cells or samples (raw counts or linear-scale expression).

    Raises
    ------
    DataFileError
        If the file is missing or not a readable h5ad.
    """
    p = Path(path)
    if p.is_dir():
        raise DataFileError(f"{p} is a directory, not an .h5ad file", "give the path of an .h5ad file")
    if not p.is_file():
        raise DataFileError(f"{p} does not exist", "give the path of an .h5ad file")
    try:
        return ad.read_h5ad(p)
    except Exception as exc:  # h5py/anndata raise many types for a malformed file
        raise DataFileError(f"cannot read {p} as h5ad: {exc}", "write the file with anndata (adata.write_h5ad)") from exc


def encode_h5ad(path: str | os.PathLike, context_key: str, encoder: ContextEncoder, *, var_col: str | None = None,
                **encode_kwargs: Any) -> ContextRegistry:
    """Encode the contexts of an ``.h5ad`` file: one context per value of ``obs[context_key]`` (mean over its profiles).

    Parameters
    ----------
    path
        The ``.h5ad`` file of cells or samples (read with :func:`read_expression`).
    context_key
        ``obs`` column with the context id of each profile.
    encoder
        A fitted encoder (``ExpressionEncoder`` or ``GeneformerEncoder``).
    var_col
        ``var`` column with the gene symbols or Ensembl IDs (default: ``var_names``, or an ``ensembl_id`` column).
        When given, only it is read (not an ``ensembl_id`` column beside it), and genes it names twice are summed.
    **encode_kwargs
        Passed to :func:`~twincell.context.registry.encode_contexts` (``datasets=``) and on to
        ``encoder.encode`` (e.g. ``platform=``).

    Returns
    -------
    ContextRegistry
        Contexts of the file, with the file name as their source.

    Raises
    ------
    DataFileError
        If the file is missing or not a readable h5ad.
    ContextError
        As for :func:`~twincell.context.registry.encode_contexts` (missing or incomplete ``obs[context_key]``).
    """
    adata = read_expression(path)
    if var_col is not None:
        check_anndata_keys(adata, var_column=var_col)
        with warnings.catch_warnings():  # repeated names are kept on purpose: the encoders sum them
            warnings.filterwarnings("ignore", "Variable names are not unique", UserWarning)
            adata.var = pd.DataFrame(index=pd.Index(adata.var[var_col].astype(str).to_numpy()))
    return encode_contexts(adata, context_key, encoder, source=Path(path).name, **encode_kwargs)
