"""Geneformer's rank-value encoding of single cells, on a sparse count matrix in chunks of cells.

Per cell, as Geneformer's ``TranscriptomeTokenizer`` does it (``docs/context.md``):

1. gene IDs -> Ensembl IDs (symbols through TwinCell's GeneMapper), collapsed through the
   dictionary's Ensembl mapping when it has one; input genes that land on the same ID are summed;
2. only genes in the token dictionary are kept;
3. each count is normalised: ``x_g / n_counts * 10_000 / median_g``, where ``n_counts`` is the cell's
   total count over *all* input genes (``obs["n_counts"]`` when present);
4. the non-zero genes are ranked by that value, descending, and replaced by their token ids;
5. the list is truncated to the model input size; V2 keeps ``input_size - 2`` genes and adds
   ``<cls>`` first and ``<eos>`` last, V1 keeps ``input_size`` genes and adds nothing.

Ties are ordered exactly as Geneformer orders them: the same unstable ``np.argsort`` of the negated
normalised values, over the cell's non-zero vocabulary genes in input column order.
Cells are kept as Geneformer keeps them: when ``obs["filter_pass"]`` exists, only cells where it
equals 1 are tokenised. Input IDs that are keys of the token dictionary (Ensembl IDs, including
V1's 19 ``ENSGR...`` pseudo-autosomal IDs) are used as they are, upper-cased without version suffix.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from twincell._progress import bar
from twincell.context.dictionaries import SPECIAL_TOKENS, GeneformerDictionaries
from twincell.data.genes import GeneMapper, row_number_problem, var_column_hint
from twincell.data.pseudobulk import check_anndata_keys
from twincell.errors import ContextError, check_count

log = logging.getLogger(__name__)

#: Target sum of Geneformer's per-cell normalisation.
TARGET_SUM = 10_000.0
#: Ensembl gene IDs as Geneformer's dictionaries hold them, ``ENSGR...`` (PAR) IDs included, optional version.
_ENSEMBL_ID = re.compile(r"^ENSGR?\d+(\.\d+)?$", re.IGNORECASE)
#: ``obs`` column of Geneformer's cell filter: only cells where it equals 1 are tokenised.
FILTER_KEY = "filter_pass"


def passing_cells(obs: pd.DataFrame) -> np.ndarray:
    """Which cells Geneformer tokenises: ``obs["filter_pass"] == 1`` when that column exists, else all.

    Returns
    -------
    numpy.ndarray
        (n_obs,) bool mask.

    Raises
    ------
    ContextError
        No cell passes the filter.
    """
    if FILTER_KEY not in obs.columns:
        return np.ones(len(obs), dtype=bool)
    keep = (pd.to_numeric(obs[FILTER_KEY], errors="coerce") == 1).to_numpy()
    if len(obs) and not keep.any():
        raise ContextError(f"no cell has obs[{FILTER_KEY!r}] == 1 ({len(obs)} cells)",
                           f"Geneformer tokenises only cells with {FILTER_KEY} == 1: fix or drop that column")
    return keep


@dataclass
class TokenizedCells:
    """Ragged token-id lists of many cells, stored flat.

    Attributes
    ----------
    ids
        All cells' token ids concatenated, int64.
    offsets
        Cell ``i`` holds ``ids[offsets[i]:offsets[i + 1]]``; shape (n_cells + 1,).
    obs_names
        Cell names, aligned with the lists.
    n_genes_used
        Number of vocabulary genes the input matrix contributed (after ID mapping and collapsing).
    unmapped
        Input gene IDs that could not be mapped to an Ensembl ID.
    out_of_vocabulary
        Input gene IDs with an Ensembl ID that is not in the token dictionary.
    """

    ids: np.ndarray
    offsets: np.ndarray
    obs_names: np.ndarray
    n_genes_used: int
    unmapped: list[str] = field(default_factory=list)
    out_of_vocabulary: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i]:self.offsets[i + 1]]

    @property
    def lengths(self) -> np.ndarray:
        """Number of tokens of each cell, shape (n_cells,)."""
        return np.diff(self.offsets)

    def padded(self, rows: np.ndarray, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Right-padded ``input_ids`` and ``attention_mask`` (both (len(rows), max length), int64) of some cells."""
        lengths = self.lengths[rows]
        width = int(lengths.max()) if len(rows) else 0
        mask = np.arange(width)[None, :] < lengths[:, None]
        out = np.full((len(rows), width), pad_id, dtype=np.int64)
        src = np.concatenate([np.arange(self.offsets[r], self.offsets[r + 1]) for r in rows]) if len(rows) else []
        out[mask] = self.ids[src]
        return out, mask.astype(np.int64)


class RankValueTokenizer:
    """Turns raw counts into Geneformer token-id lists (rank-value encoding).

    Parameters
    ----------
    dictionaries
        Token and gene-median dictionaries of one Geneformer generation.
    input_size
        Model input size (``max_position_embeddings``); defaults to 2,048 for V1 and 4,096 for V2.
    chunk_size
        Cells processed per step (bounds temporary memory).
    """

    def __init__(self, dictionaries: GeneformerDictionaries, input_size: int | None = None, chunk_size: int = 8192) -> None:
        self.dictionaries = dictionaries
        self.version = dictionaries.version
        self.special_tokens = dictionaries.version == "V2"
        default = 4096 if self.special_tokens else 2048
        self.input_size = check_count(default if input_size is None else input_size, "input_size")
        self.n_special = 2 if self.special_tokens else 0
        if self.input_size <= self.n_special:
            raise ContextError(f"input size {self.input_size} leaves no room for genes",
                               "use the model's max_position_embeddings")
        self.chunk_size = check_count(chunk_size, "chunk_size")
        self.pad_id = dictionaries.special("<pad>")
        self.cls_id = dictionaries.special("<cls>") if self.special_tokens else None
        self.eos_id = dictionaries.special("<eos>") if self.special_tokens else None

    @property
    def max_genes(self) -> int:
        """Most genes kept per cell: ``input_size`` (V1) or ``input_size - 2`` (V2)."""
        return self.input_size - self.n_special

    def ensembl_ids(self, gene_ids: list[str]) -> tuple[list[str | None], list[str]]:
        """Ensembl ID of each input gene (``None`` where unmapped) and the unmapped inputs.

        Ensembl IDs (``ENSG...`` and ``ENSGR...``) are upper-cased and lose their version suffix; any
        other identifier goes through :class:`~twincell.data.genes.GeneMapper` to an HGNC symbol and its
        Ensembl ID.
        """
        out: list[str | None] = [None] * len(gene_ids)
        others = []
        for i, g in enumerate(gene_ids):
            if _ENSEMBL_ID.match(g.strip()):
                out[i] = g.strip().split(".")[0].upper()
            else:
                others.append(i)
        if others:
            mapper = GeneMapper.default()
            symbols = mapper.to_symbols([gene_ids[i] for i in others])
            ens = mapper.ensembl_of(s for s in symbols if s)
            for i, s in zip(others, symbols):
                out[i] = ens.get(s) if s else None
        return out, [g for g, e in zip(gene_ids, out) if e is None]

    def gene_matrix(self, gene_ids: list[str]) -> tuple[sp.csr_matrix, list[str], list[str], list[str]]:
        """Map input gene columns onto vocabulary genes.

        Returns
        -------
        M
            (n_input_genes, n_kept) 0/1 matrix; ``X @ M`` sums input columns that share an Ensembl ID.
        kept
            Vocabulary Ensembl ID of each kept column, in first-occurrence input order.
        unmapped, out_of_vocabulary
            Input IDs without an Ensembl ID / outside the token dictionary.
        """
        ens, unmapped = self.ensembl_ids(gene_ids)
        tokens = self.dictionaries.tokens
        collapse = self.dictionaries.collapse
        if collapse is not None:
            collapse = {k.upper(): v for k, v in collapse.items() if v in tokens}
        col_of: dict[str, int] = {}
        rows, cols, oov = [], [], []
        for i, e in enumerate(ens):
            if e is None:
                continue
            key = collapse.get(e) if collapse is not None else e
            if key is None or key not in tokens or key in SPECIAL_TOKENS:
                oov.append(gene_ids[i])
                continue
            rows.append(i)
            cols.append(col_of.setdefault(key, len(col_of)))
        m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(gene_ids), len(col_of)))
        return m, list(col_of), unmapped, oov

    def tokenize(self, adata: ad.AnnData, *, gene_key: str | None = None, n_counts_key: str = "n_counts",
                 layer: str | None = None) -> TokenizedCells:
        """Rank-value encode every cell of ``adata``.

        Parameters
        ----------
        adata
            Cells x genes, raw counts in ``X`` (or ``layer``), dense or sparse.
        gene_key
            ``var`` column holding gene IDs (symbols or Ensembl); default: ``ensembl_id`` when present, else ``var_names``.
        n_counts_key
            ``obs`` column with each cell's total count; computed over all input genes when absent.
        layer
            Use this layer instead of ``X``.

        Returns
        -------
        TokenizedCells
            One token-id list per cell, in ``adata`` order; only cells with ``obs["filter_pass"] == 1``
            when that column exists (their names in ``obs_names``).

        Raises
        ------
        ContextError
            On a missing ``layer`` or ``gene_key`` column, negative or non-finite counts, no vocabulary genes,
            non-positive totals, or cells without any expressed vocabulary gene.
        """
        if gene_key is None:
            gene_key = "ensembl_id" if "ensembl_id" in adata.var.columns else None
        check_anndata_keys(adata, layer=layer, var_column=gene_key, error=ContextError)
        keep = passing_cells(adata.obs)
        if not keep.all():
            log.info("Geneformer %s tokenizer: %d of %d cells pass obs[%r] == 1", self.version, int(keep.sum()),
                     adata.n_obs, FILTER_KEY)
            adata = adata[keep]
        gene_ids = [str(g) for g in (adata.var[gene_key] if gene_key else adata.var_names)]
        problem = row_number_problem(gene_ids, f"the cells' {'var[' + repr(gene_key) + ']' if gene_key else 'var_names'}")
        if problem:
            raise ContextError(problem, var_column_hint(adata.var.columns))
        m, kept, unmapped, oov = self.gene_matrix(gene_ids)
        if m.shape[1] == 0:
            raise ContextError(f"none of the {len(gene_ids)} genes is in the Geneformer {self.version} vocabulary",
                               "give Ensembl IDs or HGNC symbols (var_names or a var column such as 'ensembl_id')")
        log.info("Geneformer %s tokenizer: %d of %d input genes in the vocabulary (%d unmapped, %d outside it)",
                 self.version, m.shape[0] - len(unmapped) - len(oov), len(gene_ids), len(unmapped), len(oov))
        token_of_col = np.array([self.dictionaries.tokens[k] for k in kept], dtype=np.int64)
        medians = np.array([self.dictionaries.medians[k] for k in kept], dtype=np.float64)
        x = adata.layers[layer] if layer else adata.X
        totals = None
        if n_counts_key in adata.obs.columns:
            totals = pd.to_numeric(adata.obs[n_counts_key], errors="coerce").to_numpy(dtype=float)
            if np.isnan(totals).any():
                bad = adata.obs_names[np.isnan(totals)][0]
                raise ContextError(f"obs[{n_counts_key!r}] holds a value that is not a number (e.g. cell {bad!r})",
                                   f"give each cell's total counts as a number in obs[{n_counts_key!r}], or drop the "
                                   "column (totals are then summed from the counts)")

        ids, lengths = [], []
        with bar(desc=f"tokenizing ({self.version})", total=adata.n_obs, unit="cell") as pbar:
            for start in range(0, adata.n_obs, self.chunk_size):
                stop = min(start + self.chunk_size, adata.n_obs)
                chunk = sp.csr_matrix(x[start:stop], dtype=np.float64)
                _check_counts(chunk)
                if start == 0 and not np.array_equal(chunk.data, np.round(chunk.data)):
                    log.warning("non-integer values: Geneformer expects raw counts (log-transformed data changes the ranks)")
                n_counts = totals[start:stop] if totals is not None else np.asarray(chunk.sum(axis=1)).ravel()
                c_ids, c_len = self._tokenize_chunk(chunk @ m, n_counts, medians, token_of_col, adata.obs_names[start:stop])
                ids.append(c_ids)
                lengths.append(c_len)
                pbar.update(stop - start)
        lengths_all = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths_all)]).astype(np.int64)
        return TokenizedCells(np.concatenate(ids) if ids else np.zeros(0, np.int64), offsets,
                              np.asarray(adata.obs_names), m.shape[1], unmapped, oov)

    def _tokenize_chunk(self, counts: sp.csr_matrix, n_counts: np.ndarray, medians: np.ndarray,
                        token_of_col: np.ndarray, names: object) -> tuple[np.ndarray, np.ndarray]:
        counts = sp.csr_matrix(counts)
        counts.sum_duplicates()
        counts.eliminate_zeros()
        counts.sort_indices()
        n = counts.shape[0]
        if np.any(~np.isfinite(n_counts)) or np.any(n_counts <= 0):
            bad = [str(names[i]) for i in np.flatnonzero(~(np.isfinite(n_counts) & (n_counts > 0)))[:5]]
            raise ContextError(f"cells with a non-positive, infinite or missing total count: {bad}",
                               "drop empty cells, or fix obs['n_counts'] (the total count over all genes)")
        per_row = np.diff(counts.indptr)
        if np.any(per_row == 0):
            bad = [str(names[i]) for i in np.flatnonzero(per_row == 0)[:5]]
            raise ContextError(f"{int((per_row == 0).sum())} cells express no Geneformer vocabulary gene, e.g. {bad}",
                               "filter out cells with no counts in the vocabulary genes before encoding")
        row = np.repeat(np.arange(n), per_row)
        neg_value = -(counts.data / n_counts[row] * TARGET_SUM / medians[counts.indices])
        tokens = token_of_col[counts.indices]
        n_genes = np.minimum(per_row, self.max_genes)
        lengths = n_genes + self.n_special
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        out = np.empty(int(lengths.sum()), dtype=np.int64)
        if self.special_tokens:
            out[starts] = self.cls_id
            out[starts + lengths - 1] = self.eos_id
        first = starts + (1 if self.special_tokens else 0)
        ptr, limit = counts.indptr, self.max_genes
        # one small sort per cell (cache-friendly; a global lexsort over all entries is several times slower);
        # indices are sorted within each row (input column order) and the sort is numpy's default, unstable
        # one, exactly Geneformer's ``np.argsort(-values)``: tied genes come out in the same order
        for i in range(n):
            seg = slice(ptr[i], ptr[i + 1])
            order = np.argsort(neg_value[seg])[:limit]
            out[first[i]:first[i] + len(order)] = tokens[seg][order]
        return out, lengths


def _check_counts(chunk: sp.csr_matrix) -> None:
    if not np.all(np.isfinite(chunk.data)):
        raise ContextError("the count matrix holds NaN or infinite values", "give raw counts (non-negative, finite)")
    if chunk.nnz and chunk.data.min() < 0:
        raise ContextError("the count matrix holds negative values (scaled or centred data?)",
                           "Geneformer ranks raw counts: use the raw counts layer (layer=...)")
