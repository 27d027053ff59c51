"""Pseudobulk throughput and peak memory: streaming Tahoe reader vs a load-everything-into-pandas baseline.

Generates two SYNTHETIC Tahoe-100M directories in the exact published schema (N and 2N cells, shards of a fixed
size), then, each in a fresh subprocess so that peak memory is its own:

* ``streaming``: :func:`twincell.data.tahoe.aggregate_shards` (one Dask task per shard, in-process threads,
  numba-compiled pass over the token lists; timed after a one-shard warm-up that compiles it);
* ``naive``: read every shard into one pandas DataFrame, ``explode`` the gene / count lists, ``groupby`` sum.

Both compute the summed counts per (drug, sample, cell line, plate) x gene; their grand totals must agree.
Printed: cells/s (and per core), peak RSS (MB) at N and 2N, the 2N / N peak-memory ratio of each method
(flat = 1.0), the streaming / naive throughput and memory ratios, and streaming's ratio to the target of
1M cells/s per core.

Usage::

    python benchmarks/bench_pseudobulk.py            # N = 1,000,000 and 2,000,000 cells (a few minutes)
    python benchmarks/bench_pseudobulk.py --quick    # N = 50,000 and 100,000 cells (smoke run)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CELLS_PER_SHARD_FULL = 100_000
CELLS_PER_SHARD_QUICK = 10_000
N_GENES = 500
DETECT = 0.05  # ~25 detected genes per cell
TARGET_PER_CORE = 1_000_000  # issue 15: cells/s per core


def _peak_mb() -> float:
    """Peak resident memory of this process (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(method: str, src: str) -> dict:
    """Run one method on one directory; returns cells, seconds, grand total and peak RSS (MB)."""
    import numpy as np
    import pandas as pd

    from twincell.data.tahoe import aggregate_shards, open_tahoe, token_columns

    layout = open_tahoe(src)
    n_cells = layout.n_cells
    base = _peak_mb()
    t0 = time.perf_counter()
    if method == "streaming":
        lookup, symbols, _ = token_columns(layout.genes)
        aggregate_shards(layout.shards[:1], lookup, len(symbols))  # warm-up: numba compiles (or loads its cache)
        t0 = time.perf_counter()
        sums = aggregate_shards(layout.shards, lookup, len(symbols))
        total = float(sums.sums[:, -1].sum())
        n_groups = len(sums.keys)
    else:
        cols = ["genes", "expressions", "drug", "sample", "cell_line_id", "plate"]
        df = pd.concat([pd.read_parquet(s, columns=cols) for s in layout.shards], ignore_index=True)
        long = df.explode(["genes", "expressions"])
        long = long[long["expressions"].astype(np.float64) >= 0]
        table = (long.astype({"expressions": np.float64})
                 .groupby(["drug", "sample", "cell_line_id", "plate", "genes"])["expressions"].sum()
                 .unstack("genes", fill_value=0.0))
        total = float(table.to_numpy().sum())
        n_groups = len(table)
    seconds = time.perf_counter() - t0
    return {"method": method, "cells": n_cells, "seconds": seconds, "total": total, "groups": n_groups,
            "peak_mb": _peak_mb(), "base_mb": base}


def run_worker(method: str, src: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", method, "--src", str(src)], check=True,
                         capture_output=True, text=True, env={**os.environ, "TWINCELL_PROGRESS": "0"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="50k / 100k cells instead of 1M / 2M")
    ap.add_argument("--cells", type=int, default=None, help="N (the second run uses 2N)")
    ap.add_argument("--worker", choices=["streaming", "naive"], help=argparse.SUPPRESS)
    ap.add_argument("--src", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.src)))
        return

    from twincell.data._synthetic_tahoe import write_synthetic_tahoe

    n = args.cells or (50_000 if args.quick else 1_000_000)
    cores = os.cpu_count() or 1  # Dask's threaded scheduler runs one shard per core
    per_shard = CELLS_PER_SHARD_QUICK if args.quick else CELLS_PER_SHARD_FULL
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_pseudobulk_") as tmp:
        for size in (n, 2 * n):
            src = Path(tmp) / f"synthetic_tahoe_{size}"
            t0 = time.perf_counter()
            write_synthetic_tahoe(src, n_cells=size, n_shards=max(1, size // per_shard), n_genes=N_GENES,
                                  detect=DETECT, plates=("plate1", "plate2", "plate3", "plate4"), chunk_cells=50_000)
            print(f"generated {size:,} synthetic cells in {time.perf_counter() - t0:.1f} s", flush=True)
            for method in ("streaming", "naive"):
                r = run_worker(method, src)
                results.append(r)
                print(f"  {method:9s} {r['cells']:>10,} cells  {r['seconds']:7.2f} s  "
                      f"{r['cells'] / r['seconds']:>12,.0f} cells/s ({r['cells'] / r['seconds'] / cores:>10,.0f} "
                      f"per core)  peak RSS {r['peak_mb']:8.0f} MB (after imports {r['base_mb']:.0f} MB)", flush=True)
            s, b = results[-2], results[-1]
            if abs(s["total"] - b["total"]) > 1e-6 * b["total"] or s["groups"] != b["groups"]:
                raise SystemExit(f"streaming and naive disagree: {s} vs {b}")
    by = {(r["method"], r["cells"]): r for r in results}
    print("\nsummary")
    for method in ("streaming", "naive"):
        a, b = by[(method, n)], by[(method, 2 * n)]
        print(f"  {method:9s} peak RSS {a['peak_mb']:.0f} MB at {n:,} cells -> {b['peak_mb']:.0f} MB at {2 * n:,} "
              f"cells: ratio {b['peak_mb'] / a['peak_mb']:.2f} (flat = 1.00)")
    for size in (n, 2 * n):
        s, b = by[("streaming", size)], by[("naive", size)]
        print(f"  {size:>10,} cells: streaming / naive throughput {b['seconds'] / s['seconds']:.1f}x, "
              f"naive / streaming peak memory {b['peak_mb'] / s['peak_mb']:.1f}x, streaming "
              f"{s['cells'] / s['seconds'] / cores / TARGET_PER_CORE:.2f}x the target of {TARGET_PER_CORE:,} "
              f"cells/s per core ({cores} cores)")


if __name__ == "__main__":
    main()
