"""Interactome benchmark: build from the raw bundled files vs load from the saved file, and path queries.

Prints wall-clock figures and ratios measured in the same run:
* build (raw sources -> edge table) vs load (one parquet file),
* k=5 most probable paths with TwinCell's Yen (scipy csgraph) vs networkx.shortest_simple_paths
  on the same -log(weight) graph (the baseline; skipped with --quick).

Usage: python benchmarks/bench_network.py [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import numpy as np

from twincell.network import Interactome


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer path queries, no networkx baseline")
    args = ap.parse_args()

    net, t_build = timed(Interactome.build)
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "net.parquet"
        _, t_save = timed(net.save, f)
        _, t_load = timed(Interactome.load, f)
        size_mb = f.stat().st_size / 1e6
    print(f"build from raw files : {t_build:7.2f} s  ({net})")
    print(f"save (parquet, {size_mb:.1f} MB): {t_save:7.2f} s")
    print(f"load from saved file : {t_load:7.2f} s  -> load is {t_build / t_load:.1f}x faster than building")

    rng = np.random.default_rng(0)
    hubs = net.degree().sort_values(ascending=False).index[:2000].to_numpy()
    n_q = 5 if args.quick else 20
    pairs = [tuple(rng.choice(hubs, 2, replace=False)) for _ in range(n_q)]
    times = []
    for s, t in pairs:
        _, dt = timed(net.paths, s, t, 5)
        times.append(dt)
    print(f"paths(k=5), {n_q} queries: median {np.median(times) * 1e3:.0f} ms, max {max(times) * 1e3:.0f} ms per query")

    if not args.quick:
        import networkx as nx

        a = net.adjacency()
        coo = a.tocoo()
        g = nx.DiGraph()
        g.add_weighted_edges_from(zip(net.genes[coo.row], net.genes[coo.col], -np.log(coo.data)))
        nx_times = []
        for s, t in pairs[:5]:
            _, dt = timed(lambda: list(itertools.islice(nx.shortest_simple_paths(g, s, t, weight="weight"), 5)))
            nx_times.append(dt)
        print(f"networkx baseline, 5 queries: median {np.median(nx_times) * 1e3:.0f} ms per query "
              f"-> TwinCell is {np.median(nx_times) / np.median(times[:5]):.1f}x faster")


if __name__ == "__main__":
    main()
