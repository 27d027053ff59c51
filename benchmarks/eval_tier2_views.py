"""Tier 2's deciding views together over seeds: each design against ``chosen`` (issue 12's rules, rounds 8 and 9).

Reads the ``ablation.csv`` files written by ``benchmarks/ablation_model.py --tiers12-only --seed S`` (one per
seed, any designs) and prints one row per design with the mean over seeds and the paired gain over ``chosen``
(same seed: mean, seeds higher / seeds, two-sided Wilcoxon signed-rank p) of the tier-2 AUROC on the views that
decide a design:

* ``LINCS``: every held-out LINCS over-expression target (``T2 auroc``);
* ``non-TF``: the held-out LINCS targets that are not CollecTRI regulators (``T2 auroc non-TF``);
* ``cytokines``: the receptor subunits of held-out CytoSig cytokines (``T2-cyto auroc``);
* ninth round only: ``LINCS specific``: the LINCS cases with their fit on the training mean response removed
  (``T2-specific auroc``): only what is particular to each perturbation;

then, for information, ``T2-cyto-unseen`` (receptors no training row perturbs), the LINCS cases' ``T2-blind``
view (each response replaced by the training mean response: what the ranking scores without reading the case)
and ``LINCS case gain`` (``T2`` minus ``T2-blind``), the same for the cytokines (``T2-cyto-blind``,
``cytokines case gain``, ``T2-cyto-specific``), ``T2-specific`` under the eighth rule, tier 1's
``l2_ratio`` on the held-out cell type and LINCS genes, and the controls' means. The rules, each fixed before
any number of the designs it was written for (``--rule``):

    eighth: PASS when no view (LINCS, non-TF, cytokines) loses more than 0.01 paired mean AUROC, AND the
    non-TF or the cytokine view gains >= +0.01 with p < 0.1.
    ninth (default): PASS when no view (LINCS, non-TF, cytokines, LINCS specific) loses more than 0.01, AND
    the LINCS-specific view gains >= +0.01 with p < 0.1.

    PYTHONPATH=src python benchmarks/eval_tier2_views.py results/r9/abl_seed*/ablation.csv
    PYTHONPATH=src python benchmarks/eval_tier2_views.py --rule eighth results/r8/abl_seed*/ablation.csv
    PYTHONPATH=src python benchmarks/eval_tier2_views.py --quick   # smoke run on a quick 2-seed ablation
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from _seed_runs import paired_gain, quick_runs, read_seed_tables

BASE = "chosen"
#: view label -> ablation.csv column: the eighth round's deciding views.
VIEWS = {"LINCS": "T2 auroc", "non-TF": "T2 auroc non-TF", "cytokines": "T2-cyto auroc"}
#: Views shown for information (when the runs have them and the rule does not decide on them).
INFO = {"cytokines unseen": "T2-cyto-unseen auroc", "LINCS blind": "T2-blind auroc",
        "LINCS specific": "T2-specific auroc", "cytokines blind": "T2-cyto-blind auroc",
        "cytokines specific": "T2-cyto-specific auroc", "T1 context l2": "T1-context l2_ratio",
        "T1 LINCS l2": "T1-perturbation l2_ratio"}
#: Information views also shown for the controls.
CONTROL_INFO = ("cytokines unseen", "LINCS blind", "LINCS specific", "cytokines blind", "cytokines specific")
#: Every rule: largest allowed loss on any deciding view, the gain one of its transfer views must show, its p bound.
MAX_LOSS, MIN_GAIN, MAX_P = 0.01, 0.01, 0.1


@dataclass(frozen=True)
class Rule:
    """A round's rule: the views that decide (label -> column) and those of them one must gain on."""

    views: dict[str, str]
    transfer: tuple[str, ...]


RULES = {"eighth": Rule(VIEWS, ("non-TF", "cytokines")),
         "ninth": Rule({**VIEWS, "LINCS specific": INFO["LINCS specific"]}, ("LINCS specific",))}


def view_table(table: pd.DataFrame, rule: Rule = RULES["ninth"]) -> pd.DataFrame:
    """One row per design (controls left out): means over seeds, paired gains over :data:`BASE`, the verdict."""
    missing = {"design", "seed", *rule.views.values()} - set(table.columns)
    if missing:
        raise SystemExit(f"missing columns {sorted(missing)}: run ablation_model.py --tiers12-only --seed S with this "
                         "release (it writes every tier-2 view)")
    if BASE not in set(table["design"]):
        raise SystemExit(f"no '{BASE}' rows: the gains are paired against it (add it to --designs)")
    table = table[~table["design"].str.startswith("[control]")]
    rows = []
    for design, group in table.groupby("design", sort=False):
        row: dict[str, float | str] = {"design": design, "seeds": len(group)}
        for label, column in rule.views.items():
            gain, up, n, p = paired_gain(table, design, BASE, column)
            row.update({f"{label}": group[column].mean(), f"{label} gain": gain, f"{label} higher": f"{up}/{n}",
                        f"{label} p": p})
        row.update({label: group[column].mean() for label, column in INFO.items()
                    if column in group and label not in rule.views})
        for label, real, blind in (("LINCS", "LINCS", "LINCS blind"), ("cytokines", "cytokines", "cytokines blind")):
            if INFO[blind] in group:
                row[f"{label} case gain"] = (group[VIEWS[real]] - group[INFO[blind]]).mean()
        rows.append(row)
    out = pd.DataFrame(rows).set_index("design")
    no_loss = np.all([out[f"{label} gain"] >= -MAX_LOSS for label in rule.views], axis=0)
    transfer = np.any([(out[f"{label} gain"] >= MIN_GAIN) & (out[f"{label} p"] < MAX_P) for label in rule.transfer],
                      axis=0)
    out["verdict"] = np.where(out.index == BASE, "(reference)", np.where(no_loss & transfer, "PASS", "fail"))
    return out


def main() -> None:
    """Parse the file list, print the deciding views and the rule."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="ablation.csv files (one per seed)")
    parser.add_argument("--rule", choices=list(RULES), default="ninth", help="the round's rule (default: ninth)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: make the files first with a quick ablation run (2 designs, 2 seeds)")
    args = parser.parse_args()
    if not (args.quick or args.files):
        parser.error("give the ablation.csv files (one per seed), or --quick")
    rule = RULES[args.rule]
    table = quick_runs(controls=False) if args.quick else read_seed_tables(args.files)
    out = view_table(table, rule)
    print(f"Tier 2's deciding views ({args.rule} rule), seeds {sorted(table['seed'].astype(int).unique().tolist())}; "
          f"gains paired with '{BASE}' by seed, p = two-sided Wilcoxon signed-rank over the seeds")
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(out.T.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"\nrule (fixed before the numbers): PASS when no view ({', '.join(rule.views)}) loses more than {MAX_LOSS} "
          f"AUROC and the {' or the '.join(rule.transfer)} view gains >= +{MIN_GAIN} with p < {MAX_P}")
    controls = table[table["design"].str.startswith("[control]")]
    if len(controls):
        shown = {**VIEWS, **{label: INFO[label] for label in CONTROL_INFO if INFO[label] in controls}}
        means = controls.groupby("design", sort=False)[list(shown.values())].mean()
        print("\ncontrols (means over seeds)")
        print(means.set_axis(list(shown), axis=1).to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
