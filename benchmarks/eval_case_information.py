"""How much a LINCS over-expression response says about its target, by the number of genes it measures.

Tier 2 recovers the over-expressed gene from its LINCS consensus response, which keeps only the
Bonferroni-significant genes. This script asks how much such a response can say at all, with the
field's standard case-driven reader and no training: decoupler's ulm TF activities
(:mod:`twincell.bench.activity`, ``tf_activity``) on every usable LINCS row (>= 10 measured genes, one
over-expressed gene that is a TF with a regulon), scored as tier 2 scores a case but among the TFs only
(AUROC of the true TF against all TFs with an activity; TFs without one tie at the bottom; the sign of
the activity must say "up" for the target, as an over-expression's own regulon should). The same
ranking with the response replaced by the dataset's mean response on the row's genes (the blind view)
is printed beside it, by bins of measured genes. TwinBench's ``tier2.RICH_GENES`` was chosen from this
table.

    PYTHONPATH=src python benchmarks/eval_case_information.py [--bins 10,20,30,100] [--tmin 5] [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from twincell.bench.activity import TMIN, regulon_matrix, ulm_activities
from twincell.bench.tier2 import MIN_GENES
from twincell.data.lincs import load_lincs_overexpression
from twincell.network import Interactome


#: LINCS rows a ``--quick`` smoke run reads.
QUICK_ROWS = 300


def tf_auroc(t: pd.Series, target: str) -> float:
    """AUROC of ``target`` among the TFs by signed activity (higher = more active); NaN activities tie lowest."""
    scores = t.fillna(t.min() - 1.0 if t.notna().any() else 0.0)
    return float(roc_auc_score(scores.index == target, scores.to_numpy()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bins", default="10,20,30,100", help="lower edges of the measured-gene bins")
    parser.add_argument("--tmin", type=int, default=TMIN,
                        help=f"fewest regulon targets among a row's genes for a TF to get an activity (default {TMIN}, "
                             "decoupler's and tf_activity's)")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: the first {QUICK_ROWS} LINCS rows only")
    args = parser.parse_args()
    edges = [int(b) for b in args.bins.split(",")]
    network = Interactome.default()
    weights, tfs, targets = regulon_matrix(network)
    data = load_lincs_overexpression()
    X = np.asarray(data.X, dtype=float)
    mean = data.mean_response()
    rows = []
    for i in range(min(data.n_obs, QUICK_ROWS) if args.quick else data.n_obs):
        perturbed = [g for g, s in data.targets_of(i).items() if s > 0]
        measured = np.isfinite(X[i]) & ~np.isin(data.genes, perturbed)  # its own transcript left out, as tier 2 does
        if len(perturbed) != 1 or perturbed[0] not in tfs or measured.sum() < MIN_GENES:
            continue
        genes = data.genes[measured]
        observed = pd.Series(X[i, measured], index=genes)
        blind = mean.reindex(genes).dropna()
        t = ulm_activities(weights, targets, [observed, blind], tmin=args.tmin)
        rows.append({"target": perturbed[0], "n_genes": int(measured.sum()),
                     "observed": tf_auroc(pd.Series(t[:, 0], index=tfs), perturbed[0]),
                     "blind": tf_auroc(pd.Series(t[:, 1], index=tfs), perturbed[0])})
    cases = pd.DataFrame(rows)
    cases["genes"] = pd.cut(cases["n_genes"], [*edges, np.inf], right=False,
                            labels=[f"{lo}-{hi - 1}" for lo, hi in zip(edges, edges[1:])] + [f">= {edges[-1]}"])
    table = cases.groupby("genes", observed=True).agg(cases=("target", "size"), observed=("observed", "mean"),
                                                      blind=("blind", "mean"))
    table["case gain"] = table["observed"] - table["blind"]
    print(f"LINCS over-expression of a TF with a regulon, >= {MIN_GENES} measured genes: {len(cases)} rows "
          f"(measured genes: median {cases['n_genes'].median():.0f}); {len(tfs)} TFs ranked by ulm activity, "
          f"tmin {args.tmin}")
    print("AUROC of the over-expressed TF among all TFs, mean over rows:")
    print(table.round(3).to_string())
    print(f"all rows: observed {cases['observed'].mean():.3f}, blind {cases['blind'].mean():.3f}")


if __name__ == "__main__":
    main()
