"""Per-seed ablation tables: reading them and pairing designs by seed (the tier-2 evaluation scripts' shared part).

Each ``benchmarks/ablation_model.py --tiers12-only --seed S`` run writes one ``ablation.csv`` (design x metric,
with a ``seed`` column on the designs' rows; the controls' rows carry none).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon


def read_seed_tables(files: Sequence[Path]) -> pd.DataFrame:
    """Rows of every ``ablation.csv`` in ``files``, one per design and seed.

    The controls' rows take their run's seed; a (design, seed) seen twice keeps its last file's row.

    Raises
    ------
    SystemExit
        When a file is missing or a table has no ``seed`` column (not a ``--tiers12-only`` run).
    """
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        raise SystemExit(f"no such ablation table: {', '.join(missing)} (run benchmarks/ablation_model.py "
                         "--tiers12-only --seed S --out DIR first; each run writes DIR/ablation.csv)")
    tables = [pd.read_csv(f) for f in files]
    if any("seed" not in t.columns for t in tables):
        raise SystemExit("every run must be a --tiers12-only run (its table has a seed column)")
    runs = pd.concat([t.assign(seed=t["seed"].dropna().iloc[0]) for t in tables], ignore_index=True)
    return runs.drop_duplicates(["design", "seed"], keep="last")


def paired_gain(runs: pd.DataFrame, design: str, reference: str, column: str) -> tuple[float, int, int, float]:
    """Paired difference of ``column`` between ``design`` and ``reference``, matched by seed.

    Returns
    -------
    tuple
        Mean gain, number of seeds with a positive gain, number of paired seeds, two-sided Wilcoxon signed-rank
        p (NaN when no seed pairs or every difference is 0, e.g. for the reference itself).
    """
    wide = runs.pivot(index="seed", columns="design", values=column)[[design, reference]].dropna()
    diff = (wide[design] - wide[reference]).to_numpy()
    p = wilcoxon(diff).pvalue if len(diff) and (diff != 0).any() else np.nan
    return float(diff.mean()), int((diff > 0).sum()), len(diff), float(p)


#: Designs and seeds of the ``--quick`` smoke run: the reference and one design, two seeds (a pairing).
QUICK_DESIGNS, QUICK_SEEDS = "chosen,inverse_loss", (0, 1)


def quick_runs(controls: bool) -> pd.DataFrame:
    """Smoke run for the evaluation scripts' ``--quick``: :func:`read_seed_tables` of ``ablation_model.py --quick
    --tiers12-only`` runs (1 epoch, quick TwinBench) of :data:`QUICK_DESIGNS` on each of :data:`QUICK_SEEDS`, made
    in a temporary folder (with the controls when ``controls``)."""
    script = Path(__file__).with_name("ablation_model.py")
    flags = [] if controls else ["--no-controls"]
    with tempfile.TemporaryDirectory() as tmp:
        files = [Path(tmp) / f"abl_seed{seed}" / "ablation.csv" for seed in QUICK_SEEDS]
        for seed, file in zip(QUICK_SEEDS, files):
            subprocess.run([sys.executable, str(script), "--quick", "--tiers12-only", "--designs", QUICK_DESIGNS,
                            *flags, "--seed", str(seed), "--out", str(file.parent)], check=True,
                           stdout=subprocess.DEVNULL)
        return read_seed_tables(files)
