"""Benchmark: one-pass (adjoint) target ranking vs brute-force simulation of every candidate.

Times, on the full real interactome and the SLE PBMC signature (GSE50772):

* the adjoint ranking of all N candidates (``rank_targets(method="adjoint")``, full output incl. the
  degree-matched z-scores) and the bare adjoint pass;
* the brute-force reference (``simulate_scores``: forward simulation of candidates in batches of
  identity columns) on a random subset of candidates, extrapolated linearly to all N (stated), or
  on all N with ``--all``;
* the cosine option (Hutchinson norms from 128 probes), the shuffle-calibrated score (``null="shuffle"``,
  100 shuffles in one batched adjoint) and path explanations of the top 5 targets (``explain_many``,
  one shared setup, against 5 separate ``explain`` calls).

Printed ratios: ranking / bare adjoint pass (issue 15's target: at most 3x), brute force / adjoint,
and the agreement of both on the timed subset.
Model: the default trained model (trained and cached on first use, a few minutes) unless
``--quick`` (the untrained TwinCell prior, a 256-candidate subset; a smoke run) or ``--model DIR``.

    python benchmarks/bench_identify.py [--quick] [--all] [--model DIR]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import spearmanr

from twincell.data.signatures import load_disease_signature
from twincell.identify import explain, explain_many, rank_targets
from twincell.identify.inverse import align_change, simulate_scores
from twincell.model import TwinCell, default_model
from twincell.network import Interactome


def _best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="prior model, 256 simulated candidates (smoke run)")
    parser.add_argument("--all", action="store_true", help="simulate every candidate instead of a subset")
    parser.add_argument("--subset", type=int, default=2048, help="simulated candidates when not --all")
    parser.add_argument("--model", default=None, help="saved model directory (default: the default model)")
    args = parser.parse_args()

    net = Interactome.default()
    if args.model:
        model, label = TwinCell.load(args.model), f"model {args.model}"
    elif args.quick:
        model, label = TwinCell.prior(net), "untrained TwinCell prior"
    else:
        model, label = default_model(), "default trained model"
    op = model.operator(None)
    change = load_disease_signature("SLE").desired_change()
    d, present, _ = align_change(change, op.genes)
    n = len(op.genes)
    print(f"network: {net!r}; operator: {label}, A nnz {op.A.nnz:,}, R nnz {op.R.nnz:,}, K = {op.n_hops}")
    print(f"signature: SLE GSE50772 PBMC, {int(present.sum())} genes in the network")

    rank_targets(op, change)  # warm caches (drug table, sparse transposes, the operator's ranking setup)
    t_rank = _best_of(lambda: rank_targets(op, change), 20)
    t_pass = _best_of(lambda: op.adjoint(d), 20)
    t_cos = _best_of(lambda: rank_targets(op, change, normalize="cosine"), 1)
    t_null = _best_of(lambda: rank_targets(op, change, null="shuffle", n_null=100), 2)
    ranking = rank_targets(op, change)
    top = ranking["gene"].iloc[0]
    top5 = ranking.head(5)
    t_explain = _best_of(lambda: explain(op, top, change, k=5), 1)
    t_explain5 = _best_of(lambda: [explain(op, g, change, k=5, direction=w) for g, w in
                                   zip(top5["gene"], top5["direction"])], 1)
    t_many = _best_of(lambda: explain_many(op, top5["gene"], change, k=5, direction=top5["direction"]), 1)

    n_sim = n if args.all else (256 if args.quick else min(args.subset, n))
    nodes = np.random.default_rng(0).choice(n, n_sim, replace=False) if n_sim < n else np.arange(n)
    t0 = time.perf_counter()
    simulated, _ = simulate_scores(op, d, nodes, present)
    t_sim = time.perf_counter() - t0
    t_sim_all = t_sim * n / n_sim
    adjoint = op.adjoint(d)[nodes]
    rho = spearmanr(adjoint, simulated).statistic
    max_err = float(np.max(np.abs(adjoint - simulated)))

    how = ("measured on all candidates" if n_sim == n
           else f"extrapolated from {n_sim:,} random candidates x {n / n_sim:.1f}")
    print(f"\nadjoint ranking, all {n:,} candidates (incl. z-scores, druggable): {t_rank:8.4f} s")
    print(f"  bare adjoint pass:                                       {t_pass:8.4f} s")
    print(f"  ratio ranking / bare adjoint pass:                       {t_rank / t_pass:8.1f} x  (target <= 3x)")
    print(f"  cosine option (Hutchinson, 128 probes):                  {t_cos:8.3f} s")
    print(f"  shuffle-calibrated score (100 shuffles, one pass):       {t_null:8.3f} s  "
          f"({t_null / t_pass:.0f}x the bare pass)")
    print(f"  explain top target {top} (5 walks):                       {t_explain:8.3f} s")
    print(f"  explain top 5: 5 explain calls {t_explain5:.3f} s, explain_many {t_many:.3f} s "
          f"({t_explain5 / t_many:.1f}x)")
    print(f"brute-force simulation, all {n:,} candidates:             {t_sim_all:8.3f} s  ({how})")
    print(f"speed-up (brute force / adjoint ranking):                  {t_sim_all / t_rank:8.0f} x")
    print(f"speed-up (brute force / bare adjoint pass):                {t_sim_all / t_pass:8.0f} x")
    print(f"agreement on the simulated candidates: Spearman {rho:.6f}, max |difference| {max_err:.2e}")


if __name__ == "__main__":
    main()
