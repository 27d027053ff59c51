"""Out-of-core pseudobulk: per-group count sums, CP10k + log1p, and the change against matched controls.

The same logic serves Tahoe-100M shards (:mod:`twincell.data.tahoe`) and a user's AnnData
(:func:`from_anndata`). Memory is bounded by (groups x genes): cells are streamed in chunks and only
their per-group sums are kept.

Response of a treated group ``t`` with matched control group ``c`` (same context and, where given,
replicate / plate)::

    delta[g] = log1p(1e4 * counts_t[g] / total_t) - log1p(1e4 * counts_c[g] / total_c)

i.e. a natural-log fold change of CP10k with a pseudocount of 1 (``value_type = "log_fold_change"``).
Library sizes ``total`` are taken over every gene of the input, mapped or not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from twincell._progress import bar
from twincell.data.genes import GeneMapper, merged_gene_ids, row_number_problem, var_column_hint
from twincell.data.perturbation import PERTURBATION_TYPES, PerturbationDataset, format_targets, report_left_out
from twincell.data.signatures import whole_numbers
from twincell.errors import DataFileError, TwinCellError, UnknownGeneError, optional_import

log = logging.getLogger(__name__)

CP10K_TRANSFORM = "log1p(CP10k) of summed counts, treated minus matched control (natural log)"


@dataclass
class GroupSums:
    """Summed counts per group of cells.

    Attributes
    ----------
    keys
        One row per group (the grouping columns), index 0..n_groups-1.
    sums
        (n_groups, n_genes) float64 summed counts.
    n_cells
        (n_groups,) int64 number of cells per group.
    """

    keys: pd.DataFrame
    sums: np.ndarray
    n_cells: np.ndarray

    def collapse(self, by: Sequence[str]) -> GroupSums:
        """Sum groups that share the values of the ``by`` columns (e.g. wells of one condition)."""
        gid, uniq = pd.MultiIndex.from_frame(self.keys[list(by)]).factorize(sort=True)
        return _sum_rows(uniq.to_frame(index=False, name=list(by)), gid, self.sums, self.n_cells)


def _sum_rows(keys: pd.DataFrame, gid: np.ndarray, sums: np.ndarray, n_cells: np.ndarray) -> GroupSums:
    """Add the rows of ``sums`` that share a group id (sparse indicator product, no Python loop)."""
    return GroupSums(keys.reset_index(drop=True), group_sums(sums, gid, len(keys)),
                     np.bincount(gid, n_cells, len(keys)).astype(np.int64))


class NoCellsError(DataFileError):
    """Nothing to aggregate: the input (or the part of it a filter kept) holds no cell."""


def merge_sums(*parts: GroupSums) -> GroupSums:
    """Reduce partial sums (e.g. one per shard) into one table: groups with equal keys are added.

    Each part is added into the output in place, one row at a time (``np.add.at`` is ~10x slower per
    element, and a part of a real Tahoe shard holds ~4,800 groups x ~40,000 genes), so a merge holds its inputs
    plus one output table (never a stacked copy of all parts).
    """
    parts = tuple(p for p in parts if len(p.keys))
    if not parts:
        raise NoCellsError("no cells to aggregate", "check that the input holds cells")
    keys = pd.concat([p.keys for p in parts], ignore_index=True)
    gid, uniq = pd.MultiIndex.from_frame(keys).factorize(sort=True)
    sums = np.zeros((len(uniq), parts[0].sums.shape[1]), dtype=np.float64)
    n_cells = np.zeros(len(uniq), dtype=np.int64)
    start = 0
    for part in parts:
        rows = gid[start:start + len(part.keys)]
        for row, part_row in zip(rows, part.sums):
            sums[row] += part_row
        np.add.at(n_cells, rows, part.n_cells)
        start += len(part.keys)
    return GroupSums(uniq.to_frame(index=False, name=list(keys.columns)), sums, n_cells)


def group_sums(matrix: np.ndarray | sp.spmatrix, group_id: np.ndarray, n_groups: int) -> np.ndarray:
    """(n_groups, n_genes) sums of the rows of ``matrix`` (dense or sparse) per group id (float64)."""
    ind = sp.csr_matrix((np.ones(len(group_id)), (group_id, np.arange(len(group_id)))),
                        shape=(n_groups, len(group_id)))
    out = ind @ (matrix.astype(np.float64) if sp.issparse(matrix) else np.asarray(matrix, dtype=np.float64))
    return np.asarray(out.todense() if sp.issparse(out) else out)


BAD_COUNT, BAD_TOKEN, BAD_LENGTH = 1, 2, 3  # error codes of :func:`add_token_lists`


def _add_token_lists(row_group: np.ndarray, tok_offsets: np.ndarray, val_offsets: np.ndarray, tokens: np.ndarray,
                     values: np.ndarray, lookup: np.ndarray, out: np.ndarray,
                     skip_negative_first: bool) -> tuple[int, int]:
    """The loop of :func:`add_token_lists` (plain Python; compiled by numba on first use)."""
    n_cols, n_tokens = out.shape[1] - 1, len(lookup)
    for i in range(len(row_group)):
        g = row_group[i]
        if g < 0:
            continue
        t0, v0 = tok_offsets[i], val_offsets[i]
        n = tok_offsets[i + 1] - t0
        if val_offsets[i + 1] - v0 != n:
            return BAD_LENGTH, i
        first = 1 if skip_negative_first and n > 0 and values[v0] < 0 else 0
        row = out[g]
        library = 0.0  # the cell's library size, added to the group once
        for k in range(first, n):
            v = np.float64(values[v0 + k])
            if not (v >= 0 and v < np.inf and v == np.floor(v)):  # negative, NaN, infinite or fractional (normalised)
                return BAD_COUNT, i
            t = tokens[t0 + k]
            if t < 0 or t >= n_tokens:
                return BAD_TOKEN, i
            library += v
            c = lookup[t]
            if c >= 0:
                row[c] += v
        row[n_cols] += library
    return 0, -1


@cache
def _compiled_add_token_lists() -> Callable[..., tuple[int, int]]:
    numba = optional_import("numba", "scale", "fast pseudobulk of token lists")
    return numba.njit(cache=True, nogil=True)(_add_token_lists)


def add_token_lists(row_group: np.ndarray, tok_offsets: np.ndarray, val_offsets: np.ndarray, tokens: np.ndarray,
                    values: np.ndarray, lookup: np.ndarray, out: np.ndarray,
                    skip_negative_first: bool = True) -> tuple[int, int]:
    """Add cells stored as (token list, count list) into per-group gene sums, in place, in one pass.

    Cell ``i`` holds ``tokens[tok_offsets[i]:tok_offsets[i + 1]]`` with the counts
    ``values[val_offsets[i]:val_offsets[i + 1]]`` (Arrow list offsets and flat values, no copy). Its counts go
    to row ``row_group[i]`` of ``out`` (skipped when < 0): to column ``lookup[token]`` (nothing when -1) and,
    for every token, to the last column (library size). A negative first count is a marker (Tahoe's CLS) and
    is skipped when ``skip_negative_first``. Compiled with numba (``nogil``: shards aggregate in parallel
    threads); counts are added in cell order in float64 (a cell's library size is summed first, then added),
    so the sums do not depend on batching.

    Parameters
    ----------
    row_group
        (n_cells,) int64 output row of each cell.
    tok_offsets, val_offsets
        (n_cells + 1,) offsets of each cell's entries in ``tokens`` / ``values``.
    tokens, values
        Flat token ids (int) and counts (float).
    lookup
        Token id -> output column (int32, -1 = not a gene column).
    out
        (n_groups, n_cols + 1) float64 sums, updated in place.
    skip_negative_first
        Skip a cell's first entry when its count is negative.

    Returns
    -------
    code, cell
        ``(0, -1)``, or the first problem: ``BAD_COUNT`` (negative, NaN, infinite or fractional count), ``BAD_TOKEN`` (token not in
        ``lookup``) or ``BAD_LENGTH`` (token and count lists of a cell differ in length) and the cell where it
        occurs (sums are then incomplete).
    """
    return _compiled_add_token_lists()(row_group, tok_offsets, val_offsets, tokens, values, lookup, out,
                                       skip_negative_first)


#: Treated groups per block of :func:`control_deltas` (bounds its temporaries to a few blocks of groups x genes).
DELTA_BLOCK_ROWS = 512


def log_cp10k(sums: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """``log1p(1e4 * sums / totals)`` row-wise; ``totals`` (n_groups,) are the library sizes."""
    return np.log1p(sums / totals[:, None] * 1e4)


def symbol_aggregator(gene_ids: Sequence[str], mapper: GeneMapper | None = None, kind: str = "auto",
                      ) -> tuple[sp.csr_matrix, list[str], list[str]]:
    """Sparse (n_input_genes, n_symbols) 0/1 matrix that sums input genes into HGNC symbols.

    Input genes mapping to one symbol are summed (counts of one gene split over IDs); unmapped
    genes get an all-zero row.

    Returns
    -------
    M, symbols, unmapped
    """
    mapper = mapper or GeneMapper.default()
    ids = [str(g) for g in gene_ids]
    res = mapper.map(ids, kind=kind)  # type: ignore[arg-type]
    symbols = sorted(set(res.symbols.values()))
    col = {s: j for j, s in enumerate(symbols)}
    rows = [i for i, g in enumerate(ids) if g in res.symbols]
    cols = [col[res.symbols[ids[i]]] for i in rows]
    M = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(ids), len(symbols)))
    return M, symbols, res.unmapped


def control_deltas(sums: GroupSums, totals: np.ndarray, is_control: np.ndarray, match_on: Sequence[str],
                   ) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Responses of the treated groups against the control group with the same ``match_on`` values.

    Parameters
    ----------
    sums
        Per-group counts already restricted to the output genes.
    totals
        (n_groups,) library sizes over all input genes.
    is_control
        (n_groups,) True for control groups (pooled when several share the ``match_on`` values).
    match_on
        Key columns that a treated group and its control must share (context, replicate, plate ...).

    Returns
    -------
    treated, deltas, unmatched
        ``treated``: keys of the treated groups that have a control, with ``n_cells`` and ``n_control_cells``;
        ``deltas``: (len(treated), n_genes) float32; ``unmatched``: keys of treated groups without a control, or
        whose own or control library size is 0 (no counts: no response to compute).

    Deltas are computed in blocks of :data:`DELTA_BLOCK_ROWS` groups, so that the work beyond the input sums and the
    float32 output is a few blocks' worth, not copies of the whole table.
    """
    pooled = GroupSums(sums.keys[is_control].reset_index(drop=True),
                       np.column_stack([sums.sums[is_control], totals[is_control]]),
                       sums.n_cells[is_control]).collapse(match_on)
    ctrl_index = pd.MultiIndex.from_frame(pooled.keys)
    treated_rows = np.flatnonzero(~is_control)
    treated_keys = sums.keys.iloc[treated_rows].reset_index(drop=True)
    pos = ctrl_index.get_indexer(pd.MultiIndex.from_frame(treated_keys[list(match_on)]))
    has = (pos >= 0) & (totals[treated_rows] > 0)
    has[has] = pooled.sums[pos[has], -1] > 0
    rows, c = treated_rows[has], pos[has]
    deltas = np.empty((len(rows), sums.sums.shape[1]), dtype=np.float32)
    for start in range(0, len(rows), DELTA_BLOCK_ROWS):
        r, rc = rows[start:start + DELTA_BLOCK_ROWS], c[start:start + DELTA_BLOCK_ROWS]
        deltas[start:start + len(r)] = (log_cp10k(sums.sums[r], totals[r])
                                        - log_cp10k(pooled.sums[rc, :-1], pooled.sums[rc, -1]))
    treated = treated_keys[has].reset_index(drop=True).assign(n_cells=sums.n_cells[rows],
                                                              n_control_cells=pooled.n_cells[c])
    return treated, deltas, treated_keys[~has].reset_index(drop=True)


def check_anndata_keys(adata: ad.AnnData, *, layer: str | None = None, var_column: str | None = None,
                       error: type[TwinCellError] = DataFileError) -> None:
    """Check that an AnnData has the layer (or the ``X``) and the var column that the caller was asked to read.

    Parameters
    ----------
    adata
        The AnnData (in memory or backed).
    layer
        Name of a layer of ``adata.layers`` (None: ``X`` is read, which must be there: files may keep their counts
        in layers alone).
    var_column
        Name of a column of ``adata.var`` (None: ``var_names`` are read, nothing to check).
    error
        The TwinCellError subclass to raise.

    Raises
    ------
    TwinCellError
        ``error``, naming the missing layer, ``X`` or column and listing those the AnnData has.
    """
    if layer is None and adata.X is None:
        have = list(map(str, adata.layers.keys()))
        raise error("AnnData has no X (no expression matrix)", (f"its layers: {', '.join(have)}; pass layer= naming the "
                                                                "counts, or set adata.X" if have else "it has no layers "
                                                                "either: read the file that holds the counts"))
    if layer is not None and layer not in adata.layers:
        have = list(map(str, adata.layers.keys()))
        raise error(f"AnnData has no layer {layer!r}",
                    (f"choose one of its layers: {', '.join(have)}" if have else "it has no layers")
                    + ", or give no layer to use X")
    if var_column is not None and var_column not in adata.var.columns:
        have = list(map(str, adata.var.columns))
        raise error(f"AnnData var has no column {var_column!r}",
                    (f"choose one of its var columns: {', '.join(have)}" if have else "its var table has no columns")
                    + ", or give no column to use var_names")


def _chunks(adata: ad.AnnData, layer: str | None, chunk_size: int):
    """Yield (start, stop, rows) blocks of the count matrix; works on backed h5ad (only X) and in memory."""
    if layer is not None and adata.isbacked:
        raise DataFileError(f"layer {layer!r} cannot be streamed from a backed AnnData",
                            "put the counts in X or load the file into memory")
    matrix = adata.X if layer is None else adata.layers[layer]
    for start in range(0, adata.n_obs, chunk_size):
        stop = min(start + chunk_size, adata.n_obs)
        yield start, stop, matrix[start:stop]


def from_anndata(adata: ad.AnnData, perturbation_key: str, control_value: str, context_key: str,
                 replicate_key: str | None = None, *, perturbation_type: str = "drug",
                 targets: Mapping[str, Mapping[str, int]] | None = None, dose_key: str | None = None,
                 gene_key: str | None = None, layer: str | None = None, combine_replicates: bool = True,
                 min_cells: int = 1, chunk_size: int = 10_000, dataset: str = "user",
                 mapper: GeneMapper | None = None) -> PerturbationDataset:
    """Turn a user's perturbation screen (single-cell or bulk AnnData of counts) into the perturbation contract.

    Cells (or samples) are summed per (perturbation, context[, dose][, replicate]) in chunks of rows (sparse
    aware; a backed h5ad is streamed), then each treated group is compared with the control cells of the same
    context (and the same replicate when ``replicate_key`` is given) as log1p(CP10k) differences.

    Parameters
    ----------
    adata
        Raw counts in ``X`` (or ``layers[layer]``), cells x genes; may be opened with ``backed="r"``.
    perturbation_key, control_value
        obs column naming the perturbation, and its value for control cells.
    context_key
        obs column with the cell type / cell line.
    replicate_key
        Optional obs column (donor, replicate, plate); controls are then matched within it.
    perturbation_type
        One of ``drug|knockout|knockdown|overexpression|cytokine``.
    targets
        Optional perturbation -> {gene: sign}; gene IDs are mapped to HGNC symbols.
    dose_key
        Optional obs column with the dose (numeric).
    gene_key
        var column with gene IDs (default: ``var_names``); any kind GeneMapper accepts.
    layer
        Layer holding the counts instead of ``X``.
    combine_replicates
        Average the per-replicate responses into one row per (perturbation, context[, dose]) (the paired
        estimate); otherwise keep one row per replicate (obs column ``replicate``).
    min_cells
        Treated or control groups with fewer cells are left out (listed in ``uns['dropped_groups']``).
    chunk_size
        Rows read at a time.
    dataset
        Name stored in ``obs['dataset']`` and ``uns['source']``.

    Raises
    ------
    DataFileError
        Missing obs columns, ``layer`` or ``gene_key`` column, gene IDs that are row numbers, no control cells, counts
        that are negative, not finite or not whole numbers (normalised data), no group with a control.
    """
    if perturbation_type not in PERTURBATION_TYPES:
        raise DataFileError(f"unknown perturbation_type {perturbation_type!r}", f"use one of {PERTURBATION_TYPES}")
    check_anndata_keys(adata, layer=layer, var_column=gene_key)
    keys = [perturbation_key, context_key] + [k for k in (dose_key, replicate_key) if k]
    missing = [k for k in keys if k not in adata.obs.columns]
    if missing:
        raise DataFileError(f"AnnData obs lacks columns {missing}", f"obs has: {list(adata.obs.columns)}")
    obs = adata.obs[keys].copy()
    for k in keys:
        if obs[k].isna().any():
            raise DataFileError(f"obs column {k!r} has {int(obs[k].isna().sum())} missing values",
                                "fill or drop those cells before aggregation")
    if not (obs[perturbation_key].astype(str) == str(control_value)).any():
        raise DataFileError(f"no cell has {perturbation_key} == {control_value!r}",
                            f"values seen: {sorted(obs[perturbation_key].astype(str).unique())[:10]}")
    gene_ids = adata.var[gene_key] if gene_key else adata.var_names
    problem = row_number_problem(gene_ids, f"the AnnData's {'var[' + repr(gene_key) + ']' if gene_key else 'var_names'}")
    if problem:
        raise DataFileError(problem, var_column_hint(adata.var.columns))
    M, symbols, unmapped = symbol_aggregator(gene_ids, mapper)
    coo = M.tocoo()
    symbol_of: list[str | None] = [None] * M.shape[0]
    for row, col in zip(coo.row, coo.col):
        symbol_of[row] = symbols[col]
    merged = merged_gene_ids([str(g) for g in gene_ids], symbol_of)
    if merged:
        log.info("from_anndata: %d HGNC symbols each sum several input genes (uns['merged_genes']), e.g. %s",
                 len(merged), "; ".join(merged[:3]))
    if not symbols:
        raise DataFileError("no gene of the AnnData maps to an HGNC symbol",
                            "pass gene_key naming a var column with symbols or Ensembl IDs")

    if dose_key:
        doses = pd.to_numeric(obs[dose_key], errors="coerce")
        words = sorted(set(obs.loc[doses.isna(), dose_key].astype(str)))
        if words:
            raise DataFileError(f"obs column {dose_key!r} holds doses that are not numbers: {', '.join(words[:5])}",
                                "give doses as numbers in one unit (e.g. 10 for 10 uM) and name the unit elsewhere")
    mapped_targets = _map_targets(targets or {}, mapper)  # checked before the counts are read
    group_keys = [k for k in (perturbation_key, context_key, dose_key, replicate_key) if k]
    groups = obs[group_keys].astype(str)
    if dose_key:  # one dose, one group: "10" and "10.0" are the same dose
        groups[dose_key] = doses.to_numpy(float)
    gid, uniq = pd.MultiIndex.from_frame(groups).factorize(sort=True)
    n_groups = len(uniq)
    sums = np.zeros((n_groups, M.shape[1]))
    totals = np.zeros(n_groups)
    with bar(desc="pseudobulk", total=adata.n_obs, unit="cells") as pbar:
        for start, stop, block in _chunks(adata, layer, chunk_size):
            block = sp.csr_matrix(block) if sp.issparse(block) else np.asarray(block)
            data = block.data if sp.issparse(block) else block
            if not np.isfinite(data).all() or (data < 0).any():
                raise DataFileError(f"count matrix rows {start}-{stop} hold NaN, infinite or negative values",
                                    "from_anndata needs raw (non-negative) counts; pass layer= with the counts")
            if not whole_numbers(data):  # normalised or log data would be normalised again
                raise DataFileError(f"count matrix rows {start}-{stop} hold values that are not whole numbers "
                                    "(normalised or log-transformed data?)",
                                    "from_anndata normalises raw counts itself; pass layer= with the raw counts")
            g = gid[start:stop]
            totals += np.bincount(g, np.asarray(block.sum(axis=1)).ravel(), n_groups)
            sums += group_sums(block @ M if sp.issparse(block) else sp.csr_matrix(block) @ M, g, n_groups)
            pbar.update(stop - start)
    table = GroupSums(uniq.to_frame(index=False, name=group_keys), sums, np.bincount(gid, minlength=n_groups))
    small = table.n_cells < min_cells
    dropped = _labels(table.keys[small])
    keep = ~small
    table = GroupSums(table.keys[keep].reset_index(drop=True), table.sums[keep], table.n_cells[keep])
    totals = totals[keep]
    is_control = (table.keys[perturbation_key] == str(control_value)).to_numpy()
    if not is_control.any() or is_control.all():
        raise DataFileError(f"min_cells={min_cells} leaves {'no control' if not is_control.any() else 'no treated'} "
                            f"group (the largest group has {int(np.bincount(gid).max())} cells)", "lower min_cells")
    match_on = [context_key] + ([replicate_key] if replicate_key else [])
    treated, deltas, unmatched = control_deltas(table, totals, is_control, match_on)
    if len(treated) == 0:
        raise DataFileError("no treated group has matched control cells",
                            f"each {'/'.join(match_on)} needs cells with {perturbation_key} == {control_value!r}")
    row_keys = [perturbation_key, context_key] + ([dose_key] if dose_key else [])
    if replicate_key and combine_replicates:
        rid, runiq = pd.MultiIndex.from_frame(treated[row_keys]).factorize(sort=True)
        counts = np.bincount(rid)
        deltas = (group_sums(deltas, rid, len(runiq)) / counts[:, None]).astype(np.float32)
        rows = runiq.to_frame(index=False, name=row_keys).assign(
            n_replicates=counts, n_cells=np.bincount(rid, treated["n_cells"]).astype(int),
            n_control_cells=np.bincount(rid, treated["n_control_cells"]).astype(int))
    else:
        rows = treated.rename(columns={replicate_key: "replicate"}) if replicate_key else treated
    out_obs = pd.DataFrame({
        "perturbation": rows[perturbation_key].astype(str), "perturbation_type": perturbation_type,
        "targets": rows[perturbation_key].astype(str).map(lambda p: format_targets(mapped_targets.get(p, {}))),
        "context": rows[context_key].astype(str),
        "dose": pd.to_numeric(rows[dose_key], errors="coerce") if dose_key else np.nan, "dataset": dataset})
    extra = [c for c in ("replicate", "n_replicates", "n_cells", "n_control_cells") if c in rows.columns]
    for column in extra:  # one by one: a joint array would turn the counts into objects that h5ad cannot store
        out_obs[column] = rows[column].to_numpy()
    unmatched_names = sorted(set(map(str, (targets or {}))) - set(out_obs["perturbation"]))
    ds = PerturbationDataset.build(
        deltas, out_obs, symbols, value_type="log_fold_change", source=dataset,
        provenance={"input": f"AnnData {adata.n_obs} x {adata.n_vars}" + (f" ({adata.filename})" if adata.isbacked
                                                                            else ""),
                    "transform": CP10K_TRANSFORM, "control": f"{perturbation_key} == {control_value!r}",
                    "matched_on": "/".join(match_on),
                    "replicates": ("averaged per-replicate responses" if replicate_key and combine_replicates
                                   else "one row per replicate" if replicate_key else "none"),
                    "duplicate_genes": "input genes mapping to one symbol are summed before normalisation"},
        unmapped_genes=unmapped, unmatched_perturbations=unmatched_names,
        uns={"dropped_groups": np.asarray(dropped + _labels(unmatched), dtype=object),
             "merged_genes": np.asarray(merged, dtype=object)})
    report_left_out(ds, f"from_anndata ({dataset})", {
        "dropped_groups": f"groups have fewer than min_cells={min_cells} cells or no control cells of the same "
                          f"{'/'.join(match_on)} and were left out",
        "unmapped_genes": f"genes map to no HGNC symbol and were left out ({len(symbols)} kept)",
        "unmatched_perturbations": "perturbations named in targets have no treated group"})
    return ds


def _labels(keys: pd.DataFrame) -> list[str]:
    """``a/b/c`` labels of group-key rows (for reports)."""
    return ["/".join(map(str, row)) for row in keys.itertuples(index=False)]


def _map_targets(targets: Mapping[str, Mapping[str, int]], mapper: GeneMapper | None) -> dict[str, dict[str, int]]:
    """Map the gene IDs of user-given targets to HGNC symbols; unknown genes, anything but a gene -> +1 / -1
    mapping per perturbation, and two IDs of one gene with opposite signs raise an error naming them."""
    mapper = mapper or GeneMapper.default()
    out: dict[str, dict[str, int]] = {}
    for pert, genes in targets.items():
        if not isinstance(genes, Mapping) or any(isinstance(s, bool) or s not in (-1, 1) for s in genes.values()):
            raise DataFileError(f"targets of {pert!r} must map each gene to +1 (activated) or -1 (inhibited), "
                                f"got {genes!r}", "e.g. targets={'sgEGFR': {'EGFR': -1}}")
        res = mapper.map(genes)
        if res.unmapped:
            raise UnknownGeneError(res.unmapped, f"targets of {pert!r} not recognised: {res.unmapped}",
                                   "give HGNC symbols, Entrez, Ensembl or UniProt IDs")
        mapped: dict[str, int] = {}
        for g, s in genes.items():
            symbol = res.symbols[g]
            if mapped.get(symbol, s) != s:
                raise DataFileError(f"targets of {pert!r} give {symbol} both signs (through {g!r} and another ID)",
                                    "give each target gene once, with one sign")
            mapped[symbol] = int(s)
        out[str(pert)] = mapped
    return out
