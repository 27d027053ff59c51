"""Tier 2 of TwinBench for signed readings of a gene's network neighbourhood: can a linear model read it?

The ``neighbourhood`` baseline scores a gene by the mean *size* of its measured neighbours' changes (one hop, its
own change left out) and reads unseen drugs' responses about as well as the random walk. A linear forward model
can only add a target's neighbours' changes with signs; a term in which a node's activity moves its partners'
transcripts (a feedback readout) would score a gene by the *signed* mean of its neighbours' changes, with one sign
learned for all edges (a shared parameter) or signs learned per edge (free parameters, which stay on the genes
that training perturbed; rounds 13 and 14). This script scores, beside ``neighbourhood``, the signed mean read
three ways, on the same graph and weights:

* ``neighbourhood_signed_up``: the signed mean (a target whose neighbours go up scores high);
* ``neighbourhood_signed_down``: its negative;
* ``neighbourhood_signed_size``: the size of the signed mean (either shared sign).

If the signed readings score no better than the free view, the drug signal that the one-hop neighbourhood
carries is in the sizes of the changes, not in a direction one sign could learn, and a shared-sign feedback
readout has nothing to read. Runs TwinBench's tier 2 (``twincell bench --tiers 2``, every view: LINCS,
cytokines, drugs) over the seeds with these methods, the random walk and the degree control, and prints the mean
AUROC over seeds per method and view.

    PYTHONPATH=src python benchmarks/eval_neighbourhood_sign.py --seeds 0-4 [--out results/neighbourhood_sign]
    PYTHONPATH=src python benchmarks/eval_neighbourhood_sign.py --quick   # smoke run: quick sizes, one seed
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from twincell.bench.baselines import Neighbourhood
from twincell.bench.methods import register_method
from twincell.bench.run import parse_seeds, run_benchmark

#: Tier-2 views shown: table ``signature`` prefix -> short label; each with the variants in :data:`VARIANTS`.
VIEWS = {"drug signatures": "drugs", "lincs_overexpression": "LINCS", "cytosig": "cytokines"}
VARIANTS = {"all_targets": "observed", "all_receptors": "observed", "network_only": "observed", "case_free": "free",
            "unseen_targets": "unseen", "unseen_receptors": "unseen"}
REFERENCES = ("neighbourhood", "network_propagation", "degree")


class _SignedNeighbourhood(Neighbourhood):
    """The weighted mean of a gene's measured neighbours' *signed* changes, read as :attr:`reading` says."""

    #: ``"up"`` (the mean), ``"down"`` (its negative) or ``"size"`` (its absolute value).
    reading = "up"

    def rank_targets(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """Signed mean change of each network gene's measured neighbours, read by :attr:`reading` (0 without one)."""
        mean = self.neighbour_mean(signature, signed=True)
        scores = {"up": mean, "down": -mean, "size": np.abs(mean)}[self.reading]
        return pd.Series(scores, index=self.genes)


@register_method
class NeighbourhoodSignedUp(_SignedNeighbourhood):
    name, reading = "neighbourhood_signed_up", "up"
    description = "Signed mean change of the gene's measured network neighbours (one hop)"


@register_method
class NeighbourhoodSignedDown(_SignedNeighbourhood):
    name, reading = "neighbourhood_signed_down", "down"
    description = "Minus the signed mean change of the gene's measured network neighbours (one hop)"


@register_method
class NeighbourhoodSignedSize(_SignedNeighbourhood):
    name, reading = "neighbourhood_signed_size", "size"
    description = "Size of the signed mean change of the gene's measured network neighbours (one hop)"


def view_table(table: pd.DataFrame) -> pd.DataFrame:
    """Mean tier-2 AUROC over seeds: one row per method, one column per (dataset, variant) view of :data:`VIEWS`."""
    rows = table[(table["tier"] == 2) & (table["metric"] == "auroc")].copy()
    rows["dataset"] = None
    for prefix, label in VIEWS.items():
        rows.loc[rows["signature"].str.startswith(prefix), "dataset"] = label
    rows["view"] = rows["signature"].str.rsplit(", ", n=1).str[-1].map(VARIANTS)
    rows = rows.dropna(subset=["dataset", "view"])
    wide = rows.pivot_table(index="method", columns=["dataset", "view"], values="value", aggfunc="mean")
    for label in VIEWS.values():
        wide[(label, "observed - free")] = wide[(label, "observed")] - wide[(label, "free")]
    order = [(d, v) for d in VIEWS.values() for v in ("observed", "free", "observed - free", "unseen")]
    return wide[[c for c in order if c in wide.columns]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0", help="seeds of tier 2's splits, e.g. 0-4 (default 0)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table and TwinBench's metrics here")
    parser.add_argument("--quick", action="store_true", help="smoke run: TwinBench's quick sizes, seed 0")
    args = parser.parse_args()
    seeds = [0] if args.quick else parse_seeds(args.seeds)
    methods = [*REFERENCES[:1], "neighbourhood_signed_up", "neighbourhood_signed_down", "neighbourhood_signed_size",
               *REFERENCES[1:]]
    result = run_benchmark(tiers=[2], methods=methods, seeds=seeds, quick=args.quick)
    table = view_table(result.table).reindex(methods)
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.float_format", "{:.3f}".format):
        print(f"tier-2 AUROC, mean over seeds {', '.join(map(str, seeds))} (drugs: among the druggable genes)")
        print(table.to_string())
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "neighbourhood_sign.csv")
        result.table.to_csv(args.out / "metrics.csv", index=False)
        print(f"wrote {args.out}/neighbourhood_sign.csv and metrics.csv")


if __name__ == "__main__":
    main()
