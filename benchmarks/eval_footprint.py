"""Tier 2 of TwinBench for the footprint score (``null="footprint"``): signed, magnitude and max variants, one training.

Trains TwinCell once on the tier-2 training split (the same split, seed and epochs as ``twincell bench
--tiers 2``; :func:`eval_common_directions.train_tier2`), then scores tier 2 (recover the over-expressed
gene from its response) with ``twincell`` and ``twincell_footprint`` in three variants, all on the same
trained model:

* ``signed``: ``z0 + sum_k (A^T)^k z`` with ``z0``, ``z`` the exact permutation z-scores of the readouts
  ``R0^T d`` and ``R^T d``;
* ``magnitude``: size ``|z0| + sum_k (|A|^T)^k |z|``, sign from the signed score;
* ``max`` (``null="footprint_max"``): size ``max(|z0_g|, max_walk prod |A| * |z_end|)``, the strongest single
  walk of at most K hops, sign from the signed score.

Writes the tier-2 table and per-case ranks to ``--out``. With ``--spread`` it trains nothing and prints,
for the cached default model and SLE's default signature, the Spearman correlation of each score's
``|score|`` with its sd over 30 seeded shuffles of the signature's values (how much a per-node scale,
not the signature, sets the ranking).

    PYTHONPATH=src python benchmarks/eval_footprint.py --out results/t2_footprint [--seed 0] [--quick]
    PYTHONPATH=src python benchmarks/eval_footprint.py --spread
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from eval_common_directions import score_tier2, train_tier2
from scipy.stats import spearmanr

from twincell.bench.learned import TwinCellFootprint, TwinCellFootprintMax, TwinCellMethod
from twincell.data.signatures import load_disease_signature
from twincell.identify.inverse import align_change, footprint_matrices, rank_targets, ranking_setup
from twincell.identify.null import shuffled_changes
from twincell.model.default import default_model
from twincell.network import Interactome

VARIANTS = ("signed", "magnitude", "max")
#: SLE's interferon cascade whose ranks ``--spread`` prints.
CASCADE = ("IFNAR1", "JAK1", "TYK2", "STAT1")


def footprint_variant(base: TwinCellMethod, variant: str) -> TwinCellFootprint:
    """A ``twincell_footprint`` ranker (``variant`` one of :data:`VARIANTS`) on ``base``'s trained model,
    named after its variant."""
    method = (TwinCellFootprintMax if variant == "max" else TwinCellFootprint)(base.resources)
    method.model = base.model
    method.magnitude = variant == "magnitude"
    method.name = f"twincell_footprint_{variant}"
    return method


def spread_check(n_shuffles: int = 30, seed: int = 0) -> None:
    """Print, per score (plain adjoint, footprint, footprint max), the Spearman correlation over all nodes of
    ``|score|`` on SLE's default signature with the score's sd over ``n_shuffles`` shuffles of its values; then,
    from ``rank_targets`` with that score (no context), the transcription factors among the top 50 and the ranks
    of the interferon receptor -> JAK/TYK2 -> STAT1 cascade."""
    op = default_model().operator(None)
    desired = load_disease_signature("SLE").desired_change()
    d, present, _ = align_change(desired, ranking_setup(op).gene_index)
    D = np.column_stack([d, shuffled_changes(d, present, n_shuffles, seed)])
    P = np.repeat(present[:, None], D.shape[1], axis=1)
    footprint = footprint_matrices(op)
    network = Interactome.default()
    tfs = set(np.asarray(network.genes)[network.tf_mask])
    for name, null, S in (("adjoint", "none", np.asarray(op.adjoint(D), dtype=float)),
                          ("footprint", "footprint", footprint.scores(D, P)),
                          ("footprint_max", "footprint_max", footprint.max_path_scores(D, P))):
        rho = spearmanr(np.abs(S[:, 0]), S[:, 1:].std(axis=1, ddof=1))[0]
        ranking = rank_targets(op, desired, null=null).set_index("gene")
        n_tf = len(tfs & set(ranking.index[:50]))
        cascade = ", ".join(f"{g} {ranking.at[g, 'rank']}" for g in CASCADE)
        print(f"{name}: Spearman(|score|, sd over {n_shuffles} shuffles) = {rho:.4f}; TFs in the top 50: {n_tf}; "
              f"ranks: {cascade}")


def main() -> None:
    """Parse arguments, train once, score tier 2 for twincell and every footprint variant, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results/t2_footprint"))
    parser.add_argument("--quick", action="store_true", help="smoke run: TwinBench's quick sizes")
    parser.add_argument("--spread", action="store_true", help="only the SLE spread check on the default model")
    args = parser.parse_args()
    if args.spread:
        spread_check(seed=args.seed)
        return
    base, test, settings = train_tier2(args.seed, args.quick)
    methods = [base, *(footprint_variant(base, variant) for variant in VARIANTS)]
    score_tier2(methods, test, settings, args.seed, args.out)


if __name__ == "__main__":
    main()
