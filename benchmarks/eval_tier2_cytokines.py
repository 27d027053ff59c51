"""Tier 2's cytokine dataset over seeds: each design's receptor recovery, paired with ``chosen``, and the rule.

Reads the ``ablation.csv`` of one ``benchmarks/ablation_model.py --tiers12-only`` run per seed (controls
included) and prints, per design, the mean over seeds of ``T2-cyto auroc`` / ``recall_at_10`` (every
receptor subunit of a held-out cytokine is a positive) and ``T2-cyto-unseen`` (only subunits no training row
perturbed), the paired difference to ``chosen`` per seed (mean, seeds higher / seeds, two-sided Wilcoxon
signed-rank p), the paired LINCS ``T2 auroc`` difference, and the lead's rule, registered before any number
on this dataset was seen: a design *passes the cytokine tier* when its paired mean ``T2-cyto auroc`` gain
over ``chosen`` is >= +0.01 with p < 0.1 and its LINCS ``T2 auroc`` is not lower by more than 0.01. The
same rule is also shown, for information only, on ``T2-cyto-unseen``. Then the controls' means over seeds.

    for S in 0 1 2 3 4; do OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/ablation_model.py \\
        --designs chosen,sign_prior,shared_chosen,shared_inverse_tuned,inverse_loss --tiers12-only \\
        --seed $S --out results/abl_seed$S; done
    PYTHONPATH=src python benchmarks/eval_tier2_cytokines.py --runs 'results/abl_seed*'
    PYTHONPATH=src python benchmarks/eval_tier2_cytokines.py --quick   # smoke run on a quick 2-seed ablation
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import pandas as pd
from _seed_runs import paired_gain, quick_runs, read_seed_tables

REFERENCE = "chosen"
CONTROL = "[control] "
#: The cytokine datasets' columns (all receptors; receptors no training row perturbed) and LINCS tier 2's.
CYTO, CYTO_UNSEEN, LINCS = "T2-cyto", "T2-cyto-unseen", "T2"
#: The pre-registered rule: minimum paired mean AUROC gain, its p-value bound, largest allowed LINCS loss.
MIN_GAIN, MAX_P, MAX_LINCS_LOSS = 0.01, 0.1, 0.01


def read_runs(pattern: str) -> pd.DataFrame:
    """Every ``ablation.csv`` under the folders matching ``pattern``, one row per design and seed.

    Raises
    ------
    SystemExit
        When no folder matches or a table has no ``seed`` column (not a ``--tiers12-only`` run).
    """
    files = sorted(Path(d) / "ablation.csv" for d in glob.glob(pattern) if (Path(d) / "ablation.csv").exists())
    if not files:
        raise SystemExit(f"no ablation.csv under {pattern!r}: run benchmarks/ablation_model.py --tiers12-only first")
    return read_seed_tables(files)


def paired(runs: pd.DataFrame, design: str, column: str) -> dict[str, float | str]:
    """Paired difference of ``column`` between ``design`` and :data:`REFERENCE` over their common seeds
    (:func:`_seed_runs.paired_gain`): mean gain, seeds higher / seeds, Wilcoxon p."""
    gain, up, n, p = paired_gain(runs, design, REFERENCE, column)
    return {"gain": gain, "higher": f"{up}/{n}", "p": p}


def design_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per design: means over seeds, paired gains vs :data:`REFERENCE` and the rule's verdict on both variants."""
    rows = []
    designs = [d for d in dict.fromkeys(runs["design"]) if not d.startswith(CONTROL)]
    for design in designs:
        mine = runs[runs["design"] == design]
        row: dict[str, float | str] = {"design": design, "seeds": len(mine)}
        for prefix in (CYTO, CYTO_UNSEEN):
            row[f"{prefix} auroc"] = mine[f"{prefix} auroc"].mean()
            row[f"{prefix} recall@10"] = mine[f"{prefix} recall_at_10"].mean()
            row[f"{prefix} median rank"] = mine[f"{prefix} median_rank"].mean()
        row[f"{LINCS} auroc"] = mine[f"{LINCS} auroc"].mean()
        if design != REFERENCE:
            lincs = paired(runs, design, f"{LINCS} auroc")["gain"]
            row["LINCS T2 auroc vs chosen"] = lincs
            for prefix in (CYTO, CYTO_UNSEEN):
                p = paired(runs, design, f"{prefix} auroc")
                row.update({f"{prefix} gain": p["gain"], f"{prefix} higher": p["higher"], f"{prefix} p": p["p"]})
                passes = p["gain"] >= MIN_GAIN and p["p"] < MAX_P and lincs >= -MAX_LINCS_LOSS
                row[f"passes ({prefix})"] = "yes" if passes else "no"
        rows.append(row)
    return pd.DataFrame(rows).set_index("design")


def control_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The controls' means over seeds on the cytokine datasets and LINCS tier 2."""
    controls = runs[runs["design"].str.startswith(CONTROL)]
    columns = [f"{p} {m}" for p in (CYTO, CYTO_UNSEEN) for m in ("auroc", "recall_at_10", "median_rank")]
    columns.append(f"{LINCS} auroc")
    return controls.groupby("design", sort=False)[columns].agg("mean").assign(seeds=controls.groupby("design").size())


def main() -> None:
    """Read the runs, print the design and control tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="results/abl_seed*", help="glob of the per-seed --out folders")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: read a quick ablation run made first (2 designs, 2 seeds, controls)")
    args = parser.parse_args()
    runs = quick_runs(controls=True) if args.quick else read_runs(args.runs)
    seeds = ", ".join(map(str, sorted(runs["seed"].astype(int).unique())))
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.precision", 3):
        print(f"Tier 2, held-out cytokines: designs over seeds {seeds} (means; paired vs {REFERENCE}: mean gain, "
              f"seeds higher, Wilcoxon p)")
        print(design_table(runs).T.to_string())
        print(f"\nrule (registered before the numbers): passes when the paired mean {CYTO} auroc gain >= "
              f"+{MIN_GAIN} with p < {MAX_P} and the LINCS T2 auroc is not lower by more than {MAX_LINCS_LOSS}; "
              f"'passes ({CYTO_UNSEEN})' applies the same rule to the unseen receptors, for information only")
        controls = control_table(runs)
        print("\ncontrols (means over seeds)")
        print(controls.to_string() if len(controls) else "none in these runs (run ablation_model.py without --no-controls)")


if __name__ == "__main__":
    main()
