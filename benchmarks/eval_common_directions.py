"""Tier 2 of TwinBench for the common-response score (``null="common"``) at several settings, one training.

Trains TwinCell once on the tier-2 training split (LINCS over-expression, split by target gene, the
same split, seed and epochs as ``twincell bench --tiers 2``), then scores tier 2 (recover the
over-expressed gene from its response) with ``twincell`` and ``twincell_common`` at every
``--k`` (number of common response directions removed) x column scaling (raw / unit), all on the
same trained model. Writes the tier-2 table and per-case ranks to ``--out``.

    python benchmarks/eval_common_directions.py --k 5,20 --out results/t2_common [--seed 0] [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from twincell.bench.learned import TwinCellCommon, TwinCellMethod
from twincell.bench.methods import Method, Resources
from twincell.bench.exposure import perturbation_target_counts
from twincell.bench.run import TIER2_DATASET, TIER2_LABEL, BenchSettings, _subsample
from twincell.bench.tier2 import run_tier2
from twincell.data.drugs import DrugTargets
from twincell.data.perturbation import PerturbationDataset
from twincell.data.splits import make_split
from twincell.data.training_data import load_bundled
from twincell.network import Interactome


def common_variant(base: TwinCellMethod, k: int, unit_columns: bool) -> TwinCellCommon:
    """A ``twincell_common`` ranker on ``base``'s trained model, named after its setting."""
    method = TwinCellCommon(base.resources)
    method.model = base.model
    method.n_common, method.unit_columns = k, unit_columns
    method.name = f"twincell_common_k{k}_{'unit' if unit_columns else 'raw'}"
    return method


def tier2_split(seed: int = 0, quick: bool = False,
                ) -> tuple[PerturbationDataset, PerturbationDataset, BenchSettings, Resources]:
    """TwinBench's tier-2 split and resources (same split, seed and epochs as ``twincell bench --tiers 2``).

    Returns
    -------
    train
        The training split (over-expressed genes other than the test ones).
    test
        The tier-2 test cases (held-out over-expressed genes, subsampled like TwinBench).
    settings
        TwinBench's settings used (quick sizes with ``quick``).
    resources
        The methods' resources (default network, drug universe, seed, TwinBench's training options).
    """
    settings = BenchSettings.quick() if quick else BenchSettings()
    data = load_bundled(TIER2_DATASET)
    split = make_split(data, "target", settings.test_fraction, seed)
    (train,), (test,) = split.apply([data])
    test = _subsample(test, settings.max_tier2_cases, seed)
    resources = Resources(Interactome.default(), DrugTargets.universe(), seed,
                          train_options={"max_epochs": settings.max_epochs, "patience": 1},
                          training_exposure=perturbation_target_counts([train]))
    return train, test, settings, resources


def train_tier2(seed: int = 0, quick: bool = False) -> tuple[TwinCellMethod, PerturbationDataset, BenchSettings]:
    """Train ``twincell`` once on TwinBench's tier-2 training split (:func:`tier2_split`).

    Returns
    -------
    base
        The trained ``twincell`` method (variants share its ``model``).
    test
        The tier-2 test cases (held-out over-expressed genes, subsampled like TwinBench).
    settings
        TwinBench's settings used (quick sizes with ``quick``).
    """
    train, test, settings, resources = tier2_split(seed, quick)
    start = time.perf_counter()
    base = TwinCellMethod(resources).fit(train)
    print(f"trained in {time.perf_counter() - start:.0f} s", flush=True)
    return base, test, settings


def score_tier2(methods: list[Method], test: PerturbationDataset, settings: BenchSettings, seed: int,
                out: Path) -> None:
    """Score tier 2 with ``methods``, write ``tier2.csv`` and ``tier2_cases.csv`` to ``out`` and print
    AUROC, recall@10 and median rank per method and signature variant."""
    start = time.perf_counter()
    result = run_tier2(methods, test, dataset=TIER2_LABEL, n_boot=settings.n_boot, seed=seed)
    print(f"scored in {time.perf_counter() - start:.0f} s", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out / "tier2.csv", index=False)
    result.per_perturbation.to_csv(out / "tier2_cases.csv", index=False)
    table = result.table[result.table["metric"].isin(["auroc", "recall_at_10", "median_rank"])]
    wide = table.pivot_table(index="method", columns=["signature", "metric"], values="value", sort=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(wide.round(4))


def main() -> None:
    """Parse arguments, train once, score tier 2 for every setting, write and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", default="5,20", help="comma-separated numbers of common directions")
    parser.add_argument("--scalings", default="raw,unit", help="raw and/or unit column scaling")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results/t2_common"))
    parser.add_argument("--quick", action="store_true", help="smoke run: TwinBench's quick sizes")
    args = parser.parse_args()
    base, test, settings = train_tier2(args.seed, args.quick)
    methods = [base] + [common_variant(base, int(k), scaling == "unit")
                        for scaling in args.scalings.split(",") for k in args.k.split(",")]
    score_tier2(methods, test, settings, args.seed, args.out)


if __name__ == "__main__":
    main()
