"""Geneformer rank-value tokenizer throughput: RankValueTokenizer (sparse, chunked) vs a naive per-cell dense loop.

Data: synthetic counts (geometric counts, ~1,000 detected genes per cell) for 100,000 cells x 20,000
genes in a CSR matrix; the genes are the first 20,000 real Ensembl IDs of the bundled Geneformer V1 token
dictionary (the counts are synthetic). The baseline is measured in the same run on a subset of cells
(it is too slow for all of them) and its output is checked against the tokenizer's.

Usage::

    python benchmarks/bench_tokenizer.py            # 100k cells
    python benchmarks/bench_tokenizer.py --quick     # 5k cells (smoke run)
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TWINCELL_PROGRESS", "0")

import anndata as ad  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from twincell.context import GeneformerDictionaries, RankValueTokenizer  # noqa: E402


def synthetic_counts(n_cells: int, genes: list[str], per_cell: int, seed: int = 0) -> ad.AnnData:
    """Sparse synthetic counts: ``per_cell`` random genes per cell (duplicates summed), geometric counts."""
    rng = np.random.default_rng(seed)
    blocks = []
    for start in range(0, n_cells, 10_000):
        n = min(10_000, n_cells - start)
        rows = np.repeat(np.arange(n), per_cell)
        cols = rng.integers(0, len(genes), size=n * per_cell)
        vals = rng.geometric(0.4, size=n * per_cell).astype(np.float32)
        blocks.append(sp.csr_matrix((vals, (rows, cols)), shape=(n, len(genes))))
    x = sp.vstack(blocks, format="csr")
    return ad.AnnData(x, var=pd.DataFrame(index=genes), obs=pd.DataFrame(index=[f"synthetic_cell{i}" for i in range(n_cells)]))


def naive_tokenize(x: sp.csr_matrix, tokens: np.ndarray, medians: np.ndarray, limit: int) -> list[np.ndarray]:
    """Baseline: one cell at a time on a dense row (normalise, divide by medians, argsort)."""
    out = []
    for i in range(x.shape[0]):
        row = x[i].toarray().ravel().astype(np.float64)
        norm = row / row.sum() * 10_000 / medians
        nz = np.flatnonzero(norm)
        out.append(tokens[nz[np.argsort(-norm[nz], kind="stable")][:limit]])
    return out


def main() -> None:
    """Run the benchmark and print cells/second for both implementations and their ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5,000 cells instead of 100,000")
    ap.add_argument("--cells", type=int, default=None)
    ap.add_argument("--genes-per-cell", type=int, default=1_000)
    ap.add_argument("--baseline-cells", type=int, default=None, help="cells tokenised by the naive loop")
    args = ap.parse_args()
    n_cells = args.cells or (5_000 if args.quick else 100_000)
    n_base = min(args.baseline_cells or (300 if args.quick else 1_000), n_cells)  # the naive loop's cells are a subset

    dicts = GeneformerDictionaries.bundled_v1()
    genes = [g for g in dicts.tokens if g.startswith("ENSG")][:20_000]
    t0 = time.perf_counter()
    adata = synthetic_counts(n_cells, genes, args.genes_per_cell)
    print(f"synthetic data: {n_cells:,} cells x {len(genes):,} genes, {adata.X.nnz:,} non-zeros "
          f"({time.perf_counter() - t0:.1f} s to generate)")

    tokenizer = RankValueTokenizer(dicts)
    t0 = time.perf_counter()
    cells = tokenizer.tokenize(adata)
    t_fast = time.perf_counter() - t0

    tok = np.array([dicts.tokens[g] for g in genes])
    med = np.array([dicts.medians[g] for g in genes])
    t0 = time.perf_counter()
    ref = naive_tokenize(adata.X[:n_base], tok, med, tokenizer.max_genes)
    t_naive = time.perf_counter() - t0
    mismatches = sum(not np.array_equal(ref[i], cells[i]) for i in range(n_base))

    fast_rate, naive_rate = n_cells / t_fast, n_base / t_naive
    print(f"RankValueTokenizer   : {fast_rate:12,.0f} cells/s  ({n_cells:,} cells in {t_fast:.2f} s; "
          f"mean {cells.lengths.mean():.0f} tokens/cell)")
    print(f"naive per-cell loop  : {naive_rate:12,.0f} cells/s  ({n_base:,} cells in {t_naive:.2f} s)")
    print(f"speed-up             : {fast_rate / naive_rate:12.1f} x")
    print(f"outputs identical on the {n_base:,} baseline cells: {mismatches == 0} ({mismatches} mismatches)")


if __name__ == "__main__":
    main()
