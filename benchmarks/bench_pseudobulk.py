"""Tahoe-schema pseudobulk: throughput per core against pyarrow's decode speed, memory at N and 2N cells.

Generates two SYNTHETIC Tahoe-100M directories in the exact published schema (N and 2N cells, shards of a fixed
size; 500 genes, about 25 detected per cell), then, each in a fresh subprocess so that peak memory is its own:

* ``streaming``: :func:`twincell.data.tahoe.aggregate_shards` (one Dask task per shard, in-process threads,
  numba-compiled pass over the token lists; timed after a one-shard warm-up that compiles it), on all cores
  and on one Dask thread; next to it, on one thread, the **decode ceiling**: :func:`twincell.data.tahoe.read_shard`
  alone (pyarrow reading the same columns with the same settings, flat buffers and offsets taken as numpy),
  no aggregation, so ``pseudobulk / ceiling`` says how close the pseudobulk is to pyarrow's decoding speed;
* ``naive`` (unless ``--no-naive``): read every shard into one pandas DataFrame, ``explode`` the gene / count
  lists, ``groupby`` sum.

Both compute the summed counts per (drug, sample, cell line, plate) x gene; their grand totals must agree.
Each timing is the median of ``--repeats`` runs. "Per core" is given three ways, because a shared machine
rarely gives a run all its cores: the one-thread rate (wall clock), the all-core rate over the number of
cores, and cells per CPU-second of the process (user + sys time of all threads). Printed: those rates, the
ratio to the target of 1M cells/s per core, the pseudobulk / decode-ceiling ratio, peak RSS (MB) at N and 2N
and its 2N / N ratio (flat = 1.0), and the streaming / naive throughput and memory ratios.

Usage::

    python benchmarks/bench_pseudobulk.py --cells 300000   # N = 300k and 600k cells (~2 min with naive)
    python benchmarks/bench_pseudobulk.py --quick          # N = 50,000 and 100,000 cells (smoke run)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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


def _timed(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds (all threads of this process) of each run, the runs interleaved
    ``repeats`` times so that they see the same load."""
    walls: dict[str, list[float]] = {name: [] for name in runs}
    cpus: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            t0, c0 = time.perf_counter(), time.process_time()
            run()
            walls[name].append(time.perf_counter() - t0)
            cpus[name].append(time.process_time() - c0)
    return {name: (statistics.median(walls[name]), statistics.median(cpus[name])) for name in runs}


def decode_only(shards: list[str]) -> int:
    """The decode ceiling: stream the shards as the pseudobulk does, take the flat buffers, aggregate nothing.

    Returns the number of list entries seen (so that nothing is optimised away)."""
    from twincell.data.tahoe import read_shard

    entries = 0
    for shard in shards:
        for batch, _ in read_shard(shard):
            for name in ("genes", "expressions"):
                lists = batch.column(name)
                lists.values.to_numpy()
                offsets = lists.offsets.to_numpy()
                entries += int(offsets[-1] - offsets[0])
            for name in ("drug", "sample", "cell_line_id"):
                batch.column(name).indices.to_numpy()
    return entries


def worker(method: str, src: str, repeats: int) -> dict:
    """Run one method on one directory; returns cells, timings, grand total and peak RSS (MB)."""
    import numpy as np
    import pandas as pd

    from twincell.data.tahoe import aggregate_shards, open_tahoe, token_columns

    layout = open_tahoe(src)
    out = {"method": method, "cells": layout.n_cells}
    base = _peak_mb()
    if method == "streaming":
        import dask

        lookup, symbols, _ = token_columns(layout.genes)
        aggregate_shards(layout.shards[:1], lookup, len(symbols))  # warm-up: numba compiles (or loads its cache)
        shards = [str(s) for s in layout.shards]

        def one_thread() -> None:
            with dask.config.set(num_workers=1):
                aggregate_shards(shards, lookup, len(symbols))

        times = _timed({"all_cores": lambda: aggregate_shards(shards, lookup, len(symbols)),
                        "one_thread": one_thread, "decode": lambda: decode_only(shards)}, repeats)
        out.update({f"{name}_{kind}": t for name, pair in times.items() for kind, t in zip(("wall", "cpu"), pair)})
        out["seconds"] = out["all_cores_wall"]
        sums = aggregate_shards(shards, lookup, len(symbols))
        total, n_groups = float(sums.sums[:, -1].sum()), len(sums.keys)
    else:
        t0 = time.perf_counter()
        cols = ["genes", "expressions", "drug", "sample", "cell_line_id", "plate"]
        df = pd.concat([pd.read_parquet(s, columns=cols) for s in layout.shards], ignore_index=True)
        long = df.explode(["genes", "expressions"])
        long = long[long["expressions"].astype(np.float64) >= 0]
        table = (long.astype({"expressions": np.float64})
                 .groupby(["drug", "sample", "cell_line_id", "plate", "genes"])["expressions"].sum()
                 .unstack("genes", fill_value=0.0))
        total, n_groups = float(table.to_numpy().sum()), len(table)
        out["seconds"] = time.perf_counter() - t0
    return {**out, "total": total, "groups": n_groups, "peak_mb": _peak_mb(), "base_mb": base}


def run_worker(method: str, src: Path, repeats: int) -> dict:
    """One method on one directory in a fresh subprocess (its own peak memory)."""
    out = subprocess.run([sys.executable, __file__, "--worker", method, "--src", str(src), "--repeats", str(repeats)],
                         check=True, capture_output=True, text=True, env={**os.environ, "TWINCELL_PROGRESS": "0"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="50k / 100k cells instead of 1M / 2M")
    ap.add_argument("--cells", type=int, default=None, help="N (the second run uses 2N)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per figure (median)")
    ap.add_argument("--no-naive", action="store_true", help="skip the load-everything pandas baseline")
    ap.add_argument("--worker", choices=["streaming", "naive"], help=argparse.SUPPRESS)
    ap.add_argument("--src", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.src, args.repeats)))
        return

    from twincell.data._synthetic_tahoe import write_synthetic_tahoe

    n = args.cells or (50_000 if args.quick else 1_000_000)
    cores = os.cpu_count() or 1  # Dask's threaded scheduler runs one shard per core
    per_shard = CELLS_PER_SHARD_QUICK if args.quick else CELLS_PER_SHARD_FULL
    methods = ("streaming",) if args.no_naive else ("streaming", "naive")
    by = {}
    with tempfile.TemporaryDirectory(prefix="bench_pseudobulk_") as tmp:
        for size in (n, 2 * n):
            src = Path(tmp) / f"synthetic_tahoe_{size}"
            t0 = time.perf_counter()
            write_synthetic_tahoe(src, n_cells=size, n_shards=max(1, size // per_shard), n_genes=N_GENES,
                                  detect=DETECT, plates=("plate1", "plate2", "plate3", "plate4"), chunk_cells=50_000)
            print(f"generated {size:,} synthetic cells in {time.perf_counter() - t0:.1f} s; load average "
                  f"{os.getloadavg()[0]:.2f} on {cores} cores", flush=True)
            for method in methods:
                r = by[(method, size)] = run_worker(method, src, args.repeats)
                line = f"  {method:9s} {size:>10,} cells  {r['seconds']:7.2f} s  {size / r['seconds']:>12,.0f} cells/s"
                if method == "streaming":
                    line += (f" on {cores} cores ({size / r['all_cores_cpu']:,.0f} per CPU-second); one thread "
                             f"{size / r['one_thread_wall']:,.0f} ({size / r['one_thread_cpu']:,.0f} per CPU-second); "
                             f"decode ceiling, one thread {size / r['decode_wall']:,.0f} "
                             f"({size / r['decode_cpu']:,.0f} per CPU-second)")
                print(f"{line}; peak RSS {r['peak_mb']:.0f} MB (after imports {r['base_mb']:.0f} MB)", flush=True)
            if not args.no_naive:
                s, b = by[("streaming", size)], by[("naive", size)]
                if abs(s["total"] - b["total"]) > 1e-6 * b["total"] or s["groups"] != b["groups"]:
                    raise SystemExit(f"streaming and naive disagree: {s} vs {b}")
    print("\nsummary")
    for method in methods:
        a, b = by[(method, n)], by[(method, 2 * n)]
        print(f"  {method:9s} peak RSS {a['peak_mb']:.0f} MB at {n:,} cells -> {b['peak_mb']:.0f} MB at {2 * n:,} "
              f"cells: ratio {b['peak_mb'] / a['peak_mb']:.2f} (flat = 1.00)")
    for size in (n, 2 * n):
        s = by[("streaming", size)]
        rate = {k: size / s[k] / TARGET_PER_CORE for k in ("one_thread_wall", "one_thread_cpu", "all_cores_cpu",
                                                           "decode_wall", "decode_cpu")}
        print(f"  {size:>10,} cells, per core vs the target of {TARGET_PER_CORE:,} cells/s: one thread "
              f"{rate['one_thread_wall']:.2f}x, per CPU-second {rate['one_thread_cpu']:.2f}x (all cores "
              f"{rate['all_cores_cpu']:.2f}x), all cores / {cores} {size / s['seconds'] / cores / TARGET_PER_CORE:.2f}x; "
              f"decode ceiling {rate['decode_wall']:.2f}x (per CPU-second {rate['decode_cpu']:.2f}x); pseudobulk / "
              f"decode ceiling {rate['one_thread_wall'] / rate['decode_wall']:.2f} (per CPU-second "
              f"{rate['one_thread_cpu'] / rate['decode_cpu']:.2f})")
        if not args.no_naive:
            b = by[("naive", size)]
            print(f"  {size:>10,} cells: streaming / naive throughput {b['seconds'] / s['seconds']:.1f}x, "
                  f"naive / streaming peak memory {b['peak_mb'] / s['peak_mb']:.1f}x")


if __name__ == "__main__":
    main()
