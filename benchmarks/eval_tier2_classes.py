"""Tier 2 by target class over seeds: each design against ``chosen``, on all, TF and non-TF targets (issue 12).

Reads the ``ablation.csv`` files written by ``benchmarks/ablation_model.py --tiers12-only --seed S`` (one per
seed, any number of designs each) and prints one row per design: the mean number of held-out TF and non-TF
targets per seed; the mean over seeds of the tier-2 AUROC and recall@10 on all held-out targets, on the TF
targets (CollecTRI regulators) and on the others; the paired mean gain over ``chosen`` (same seed) of the
all-target and non-TF AUROC, the number of seeds on which it is positive, and a two-sided Wilcoxon
signed-rank p over the seeds; and the verdict of the rule the lead fixed before any stratified number was seen:

    a design passes tier 2 for drug targets when its paired mean non-TF T2 AUROC gain over chosen is
    >= +0.01 with p < 0.1 AND its all-target T2 AUROC is not lower by more than 0.01.

With 5 seeds the smallest two-sided Wilcoxon p is 2/32 = 0.0625: p < 0.1 then needs all 5 seeds higher.

    PYTHONPATH=src python benchmarks/eval_tier2_classes.py results/abl_seed*/ablation.csv
    PYTHONPATH=src python benchmarks/eval_tier2_classes.py results/abl_seed*/ablation.csv --prefix T2-own
    PYTHONPATH=src python benchmarks/eval_tier2_classes.py --quick   # smoke run on a quick 2-seed ablation
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from _seed_runs import paired_gain, quick_runs, read_seed_tables

BASE = "chosen"
#: (column suffix in ablation.csv, short label) of the target strata.
STRATA = (("", "all"), (" TF", "TF"), (" non-TF", "non-TF"))
#: The pre-registered rule: minimum paired non-TF AUROC gain, its p threshold, largest all-target AUROC loss.
MIN_NON_TF_GAIN, MAX_P, MAX_ALL_LOSS = 0.01, 0.1, 0.01


def with_class_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (design x seed rows of ``ablation.csv`` files), checked for the tier-2 columns by target class."""
    missing = {"design", "seed", "T2 auroc non-TF", "T2 TF targets"} - set(table.columns)
    if missing:
        raise SystemExit(f"missing columns {sorted(missing)}: run ablation_model.py --tiers12-only --seed S with this "
                         "release (it writes the tier-2 columns by target class)")
    return table


def class_table(table: pd.DataFrame, prefix: str = "T2") -> pd.DataFrame:
    """One row per design: means over seeds by target class, paired gains over :data:`BASE` and the verdict."""
    if BASE not in set(table["design"]):
        raise SystemExit(f"no '{BASE}' rows: the gains are paired against it (add it to --designs)")
    rows = []
    for design, group in table.groupby("design", sort=False):
        row = {"design": design, "seeds": len(group), "targets TF": group["T2 TF targets"].mean(),
               "targets non-TF": group["T2 non-TF targets"].mean()}
        for suffix, label in STRATA:
            row[f"auroc {label}"] = group[f"{prefix} auroc{suffix}"].mean()
        for suffix, label in STRATA:
            row[f"recall@10 {label}"] = group[f"{prefix} recall_at_10{suffix}"].mean()
        for suffix, label in (STRATA[0], STRATA[2]):
            gain, up, n, p = paired_gain(table, design, BASE, f"{prefix} auroc{suffix}")
            row.update({f"gain {label}": gain, f"higher {label}": f"{up}/{n}", f"p {label}": p})
        rows.append(row)
    out = pd.DataFrame(rows).set_index("design")
    passes = ((out["gain non-TF"] >= MIN_NON_TF_GAIN) & (out["p non-TF"] < MAX_P) & (out["gain all"] >= -MAX_ALL_LOSS))
    out["verdict"] = np.where(out.index == BASE, "(reference)", np.where(passes, "PASS", "fail"))
    return out


def main() -> None:
    """Parse the file list, print the table by target class and the rule."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="ablation.csv files (one per seed)")
    parser.add_argument("--prefix", default="T2", choices=("T2", "T2-own"),
                        help="tier-2 variant: T2 (network_only, the rule's) or T2-own (with_own_transcript)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: make the files first with a quick ablation run (2 designs, 2 seeds)")
    args = parser.parse_args()
    if not (args.quick or args.files):
        parser.error("give the ablation.csv files (one per seed), or --quick")
    table = with_class_columns(quick_runs(controls=False) if args.quick else read_seed_tables(args.files))
    out = class_table(table, args.prefix)
    print(f"{args.prefix} by target class, seeds {sorted(table['seed'].unique().tolist())}; gains paired with "
          f"'{BASE}' by seed, p = two-sided Wilcoxon signed-rank over the seeds")
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(out.to_string(float_format=lambda v: f"{v:.3f}" if abs(v) >= 0.001 or v == 0 else f"{v:.1e}"))
    print(f"\nrule (fixed before the stratified numbers): PASS when gain non-TF >= +{MIN_NON_TF_GAIN} with p non-TF "
          f"< {MAX_P} and gain all >= -{MAX_ALL_LOSS}")


if __name__ == "__main__":
    main()
