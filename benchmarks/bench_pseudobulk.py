"""Tahoe-schema pseudobulk: throughput per core against pyarrow's decode speed, memory at N and 2N cells.

Generates SYNTHETIC Tahoe-100M directories in the exact published schema (1,000-cell row groups) at two
densities, N and 2N cells each: the density the 1M cells/s per core target was set on (500 genes, about 25
detected per cell, 100,000 cells per shard), and Tahoe's own (2,000 genes, about 1,200 detected per cell; real
lists hold 390-5,450 entries), where the rate that matters is list entries per second and memory must stay
flat although a 1,000-cell row group decodes to ~15 MB. Then, each in a fresh subprocess so that peak memory
is its own:

* ``streaming``: :func:`twincell.data.tahoe.aggregate_shards` (one Dask task per shard, in-process threads,
  numba-compiled pass over the token lists; timed after a one-shard warm-up that compiles it), on all cores
  and on one Dask thread; next to it, on one thread, the **decode ceiling**: :func:`twincell.data.tahoe.read_shard`
  alone (pyarrow reading the same columns with the same settings, flat buffers and offsets taken as numpy),
  no aggregation, so ``pseudobulk / ceiling`` says how close the pseudobulk is to pyarrow's decoding speed;
* ``naive`` (unless ``--no-naive``): on the first ``--naive-cells`` cells of the N directory (it holds every
  cell in memory), read the shards into one pandas DataFrame, ``explode`` the gene / count lists, ``groupby``
  sum; its grand total and group count must equal the streaming result on the same shards.

Timings are medians of ``--repeats`` runs, the three runs interleaved in each repeat so that they see the
same load; the default N (1M cells) makes one run last about a second, and the spread (min-max over the
repeats) is printed next to each median. "Per core" is given three ways, because a shared machine rarely
gives a run all its cores: the one-thread rate (wall clock), cells per CPU-second of the process (user + sys
time of all threads; robust to other jobs taking the core away), and the all-core rate over the number of
cores. With every figure come the load average and the share of the machine's CPU time that other
processes used during the timed runs (from /proc/stat). Also printed: list entries (token, count pairs) per
second, the rate that carries over to real Tahoe cells (which hold far more entries per cell than these),
the ratio to the target of 1M cells/s per core, the pseudobulk / decode-ceiling ratio, and peak RSS (MB) at
N and 2N with its 2N / N ratio (flat = 1.0).

Usage::

    python benchmarks/bench_pseudobulk.py            # 1M / 2M cells, and 40k / 80k at Tahoe's density (~5 min)
    python benchmarks/bench_pseudobulk.py --quick    # 50k / 100k and 2k / 4k cells (smoke run)
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
from dataclasses import dataclass
from pathlib import Path



@dataclass(frozen=True)
class Density:
    """How the SYNTHETIC cells are drawn: genes in gene_metadata, the chance that a gene is detected in a cell."""

    n_genes: int
    detect: float
    cells_per_shard: int
    chunk_cells: int  # cells generated at a time (the generator holds chunk_cells x n_genes floats)


#: The density the 1M cells/s per core target was set on: ~25 detected genes per cell.
SPARSE = Density(500, 0.05, 100_000, 50_000)
SPARSE_QUICK = Density(500, 0.05, 10_000, 50_000)
#: Tahoe's own density: ~1,200 detected genes per cell (its lists hold 390-5,450 entries; ~3 KB per cell on disk,
#: this one ~2.5 KB), 20,000 cells per shard (Tahoe's hold 28,200).
DENSE = Density(2_000, 0.6, 20_000, 5_000)
NAIVE_CELLS = 300_000  # the naive baseline holds every cell in memory: ~7 GB per million cells
TARGET_PER_CORE = 1_000_000  # issue 15: cells/s per core


def _peak_mb() -> float:
    """Peak resident memory of this process (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU-seconds of the whole machine since boot, from /proc/stat ((0, 0) where it is missing)."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - ticks[3] - ticks[4]) / hz, sum(ticks) / hz  # idle and iowait are not busy


def _timed(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, dict[str, list[float]]]:
    """Wall and CPU seconds (all threads of this process) of each run, and the share of the machine's CPU time
    that other processes used meanwhile, the runs interleaved ``repeats`` times so that they see the same load."""
    times: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": [], "others": []} for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            (busy0, total0), t0, c0 = _machine_cpu(), time.perf_counter(), time.process_time()
            run()
            wall, cpu, (busy1, total1) = time.perf_counter() - t0, time.process_time() - c0, _machine_cpu()
            times[name]["wall"].append(wall)
            times[name]["cpu"].append(cpu)
            times[name]["others"].append(max(0.0, busy1 - busy0 - cpu) / max(total1 - total0, 1e-9))
    return times


def decode_only(shards: list[str]) -> int:
    """The decode ceiling: stream the shards as the pseudobulk does, take the flat buffers, aggregate nothing.

    Returns the number of list entries (token, count pairs, CLS markers included) seen, so that nothing is
    optimised away."""
    from twincell.data.tahoe import read_shard

    entries = 0
    for shard in shards:
        for run in read_shard(shard):
            for name in run.keys.schema.names:
                run.keys.column(name).indices.to_numpy()
            for batch in run.lists:
                genes, expressions = batch.columns
                genes.values.to_numpy(), expressions.values.to_numpy(), expressions.offsets.to_numpy()
                offsets = genes.offsets.to_numpy()
                entries += int(offsets[-1] - offsets[0])
    return entries


def worker(method: str, src: str, repeats: int, max_cells: int | None) -> dict:
    """Run one method on one directory (on its first shards up to ``max_cells`` cells when given); returns
    cells, list entries, timings, grand total, groups, peak RSS (MB) and the load average before and after."""
    import numpy as np
    import pandas as pd

    from twincell.data.tahoe import aggregate_shards, open_tahoe, token_columns

    layout = open_tahoe(src)
    lookup, symbols, _ = token_columns(layout.genes)
    shards = [str(s) for s in layout.shards]
    if max_cells is not None:
        layout.shards = layout.shards[:max(1, max_cells * len(shards) // layout.n_cells)]
        shards = shards[:len(layout.shards)]
    out = {"method": method, "cells": layout.n_cells, "load_before": os.getloadavg()[0]}
    base = _peak_mb()
    if method == "streaming":
        import dask

        aggregate_shards(shards[:1], lookup, len(symbols))  # warm-up: numba compiles (or loads its cache)

        def one_thread() -> None:
            with dask.config.set(num_workers=1):
                aggregate_shards(shards, lookup, len(symbols))

        out["times"] = _timed({"all_cores": lambda: aggregate_shards(shards, lookup, len(symbols)),
                               "one_thread": one_thread, "decode": lambda: decode_only(shards)}, repeats)
        out["entries"] = decode_only(shards)
    else:
        t0 = time.perf_counter()
        df = pd.concat([pd.read_parquet(s, columns=["genes", "expressions", "drug", "sample", "cell_line_id", "plate"])
                        for s in shards], ignore_index=True)
        long = df.explode(["genes", "expressions"])
        long = long[long["expressions"].astype(np.float64) >= 0]
        table = (long.astype({"expressions": np.float64})
                 .groupby(["drug", "sample", "cell_line_id", "plate", "genes"])["expressions"].sum()
                 .unstack("genes", fill_value=0.0))
        out["seconds"] = time.perf_counter() - t0
        out["naive_total"], out["naive_groups"] = float(table.to_numpy().sum()), len(table)
    peak = _peak_mb()
    sums = aggregate_shards(shards, lookup, len(symbols))
    return {**out, "total": float(sums.sums[:, -1].sum()), "groups": len(sums.keys), "peak_mb": peak,
            "base_mb": base, "load_after": os.getloadavg()[0]}


def run_worker(method: str, src: Path, repeats: int, max_cells: int | None = None) -> dict:
    """One method on one directory in a fresh subprocess (its own peak memory)."""
    cmd = [sys.executable, __file__, "--worker", method, "--src", str(src), "--repeats", str(repeats)]
    out = subprocess.run(cmd + ([] if max_cells is None else ["--naive-cells", str(max_cells)]), check=True,
                         capture_output=True, text=True, env={**os.environ, "TWINCELL_PROGRESS": "0"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rate(cells: float, seconds: list[float]) -> str:
    """``median (min-max)`` of ``cells / seconds`` over the repeats."""
    rates = [cells / t for t in seconds]
    return f"{statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f})"


def _others(times: dict[str, dict[str, list[float]]]) -> str:
    """Median (min-max) share of the machine's CPU time that other processes used during the timed runs."""
    shares = [x for t in times.values() for x in t["others"]]
    return f"{statistics.median(shares):.0%} ({min(shares):.0%}-{max(shares):.0%})"


def _median_rate(cells: float, seconds: list[float]) -> float:
    """Median of ``cells / seconds`` over the repeats."""
    return statistics.median(cells / t for t in seconds)


def _streaming_section(label: str, root: Path, n: int, density: Density, repeats: int, naive_cells: int | None,
                       ) -> dict:
    """Generate N and 2N cells at one density, run the streaming worker on each (and the naive one on N unless
    ``naive_cells`` is None), print each run; returns the results by size (and ``"naive"``)."""
    from twincell.data._synthetic_tahoe import write_synthetic_tahoe

    cores = os.cpu_count() or 1  # Dask's threaded scheduler runs one shard per core
    by: dict = {}
    print(f"{label}: {density.n_genes} genes, detection rate {density.detect} ({density.cells_per_shard:,} cells per "
          f"shard)", flush=True)
    for size in (n, 2 * n):
        src = root / f"synthetic_tahoe_{density.n_genes}_{size}"
        t0 = time.perf_counter()
        write_synthetic_tahoe(src, n_cells=size, n_shards=max(1, size // density.cells_per_shard),
                              n_genes=density.n_genes, detect=density.detect,
                              plates=("plate1", "plate2", "plate3", "plate4"), chunk_cells=density.chunk_cells)
        print(f"  generated {size:,} synthetic cells in {time.perf_counter() - t0:.1f} s", flush=True)
        r = by[size] = run_worker("streaming", src, repeats)
        t = r["times"]
        print(f"  streaming {size:>10,} cells ({r['entries'] / size:,.1f} list entries per cell), load average "
              f"{r['load_before']:.2f} -> {r['load_after']:.2f} on {cores} cores; cells/s, median (min-max) of "
              f"{repeats}:\n"
              f"    one thread     {_rate(size, t['one_thread']['wall'])}  per CPU-second "
              f"{_rate(size, t['one_thread']['cpu'])}\n"
              f"    all cores      {_rate(size, t['all_cores']['wall'])}  per CPU-second "
              f"{_rate(size, t['all_cores']['cpu'])}\n"
              f"    decode ceiling {_rate(size, t['decode']['wall'])}  per CPU-second "
              f"{_rate(size, t['decode']['cpu'])} (one thread)\n"
              f"    other processes used {_others(t)} of the machine's CPU time during these runs\n"
              f"    peak RSS {r['peak_mb']:.0f} MB (after imports {r['base_mb']:.0f} MB)", flush=True)
        if size == n and naive_cells is not None:
            b = by["naive"] = run_worker("naive", src, 1, naive_cells)
            if abs(b["naive_total"] - b["total"]) > 1e-6 * b["total"] or b["naive_groups"] != b["groups"]:
                raise SystemExit(f"streaming and naive disagree: {b}")
            print(f"  naive     {b['cells']:>10,} cells (the first shards), load average {b['load_before']:.2f}: "
                  f"{b['cells'] / b['seconds']:,.0f} cells/s, peak RSS {b['peak_mb']:.0f} MB; grand total and "
                  f"{b['groups']} groups equal to the streaming result", flush=True)
    return by


def _summary(label: str, by: dict, n: int) -> None:
    """Print the ratios of one section: memory 2N / N, rates against the target and the decode ceiling."""
    cores = os.cpu_count() or 1
    a, b = by[n], by[2 * n]
    print(f"  {label}: streaming peak RSS {a['peak_mb']:.0f} MB at {n:,} cells -> {b['peak_mb']:.0f} MB at "
          f"{2 * n:,} cells: ratio {b['peak_mb'] / a['peak_mb']:.2f} (flat = 1.00)")
    for size in (n, 2 * n):
        t = by[size]["times"]
        one, one_cpu = (_median_rate(size, t["one_thread"][k]) for k in ("wall", "cpu"))
        dec, dec_cpu = (_median_rate(size, t["decode"][k]) for k in ("wall", "cpu"))
        all_cpu, all_wall = (_median_rate(size, t["all_cores"][k]) for k in ("cpu", "wall"))
        per_cell = by[size]["entries"] / size
        print(f"    {size:>10,} cells: one thread {one / TARGET_PER_CORE:.3f}x the target, per CPU-second "
              f"{one_cpu / TARGET_PER_CORE:.3f}x (all cores {all_cpu / TARGET_PER_CORE:.3f}x; all cores / {cores} "
              f"{all_wall / cores / TARGET_PER_CORE:.3f}x); {one_cpu * per_cell / 1e6:.1f}M list entries per "
              f"CPU-second; decode ceiling {dec / TARGET_PER_CORE:.3f}x (per CPU-second "
              f"{dec_cpu / TARGET_PER_CORE:.3f}x); pseudobulk / decode ceiling {one / dec:.2f} (per CPU-second "
              f"{one_cpu / dec_cpu:.2f})")
    if "naive" in by:
        naive = by["naive"]
        print(f"    naive ({naive['cells']:,} cells): streaming one thread / naive throughput "
              f"{_median_rate(n, a['times']['one_thread']['wall']) / (naive['cells'] / naive['seconds']):.1f}x, "
              f"naive peak memory / streaming at {n:,} cells {naive['peak_mb'] / a['peak_mb']:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 50k / 100k and 2k / 4k cells")
    ap.add_argument("--cells", type=int, default=None, help="N at the target's density (the second run uses 2N)")
    ap.add_argument("--dense-cells", type=int, default=None, help="N at Tahoe's density (0 skips that part)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per figure (median)")
    ap.add_argument("--no-naive", action="store_true", help="skip the load-everything pandas baseline")
    ap.add_argument("--naive-cells", type=int, default=NAIVE_CELLS, help="cells the naive baseline reads")
    ap.add_argument("--worker", choices=["streaming", "naive"], help=argparse.SUPPRESS)
    ap.add_argument("--src", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        max_cells = args.naive_cells if args.worker == "naive" else None
        print(json.dumps(worker(args.worker, args.src, args.repeats, max_cells)))
        return

    n = args.cells or (50_000 if args.quick else 1_000_000)
    n_dense = args.dense_cells if args.dense_cells is not None else (2_000 if args.quick else 40_000)
    sparse = SPARSE_QUICK if args.quick else SPARSE
    with tempfile.TemporaryDirectory(prefix="bench_pseudobulk_") as tmp:
        by = _streaming_section("the target's density", Path(tmp), n, sparse, args.repeats,
                                None if args.no_naive else args.naive_cells)
        dense = _streaming_section("Tahoe's density", Path(tmp), n_dense, DENSE, args.repeats, None) if n_dense else {}
    print(f"\nsummary (target: {TARGET_PER_CORE:,} cells/s per core, set at the target's density; medians)")
    _summary("the target's density", by, n)
    if dense:
        _summary("Tahoe's density", dense, n_dense)


if __name__ == "__main__":
    main()
