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

Writes the tier-2 table and per-case ranks to ``--out``.

    PYTHONPATH=src python benchmarks/eval_footprint.py --out results/t2_footprint [--seed 0] [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from eval_common_directions import score_tier2, train_tier2

from twincell.bench.learned import TwinCellFootprint, TwinCellFootprintMax, TwinCellMethod

VARIANTS = ("signed", "magnitude", "max")


def footprint_variant(base: TwinCellMethod, variant: str) -> TwinCellFootprint:
    """A ``twincell_footprint`` ranker (``variant`` one of :data:`VARIANTS`) on ``base``'s trained model,
    named after its variant."""
    method = (TwinCellFootprintMax if variant == "max" else TwinCellFootprint)(base.resources)
    method.model = base.model
    method.magnitude = variant == "magnitude"
    method.name = f"twincell_footprint_{variant}"
    return method


def main() -> None:
    """Parse arguments, train once, score tier 2 for twincell and every footprint variant, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results/t2_footprint"))
    parser.add_argument("--quick", action="store_true", help="smoke run: TwinBench's quick sizes")
    args = parser.parse_args()
    base, test, settings = train_tier2(args.seed, args.quick)
    methods = [base, *(footprint_variant(base, variant) for variant in VARIANTS)]
    score_tier2(methods, test, settings, args.seed, args.out)


if __name__ == "__main__":
    main()
