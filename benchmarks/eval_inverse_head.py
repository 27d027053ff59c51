"""Tier 2 of TwinBench for the inverse head (``twincell_head``, ``twincell_head_prior``) over seeds, paired.

Per seed (a seed = the held-out genes of the tier-2 split + the model's initial weights and validation split),
trains TwinCell once on the tier-2 training split (:func:`eval_common_directions.tier2_split`, as
``twincell bench --tiers 2``), fits both heads on the model's validation perturbations of that split
(:meth:`twincell.bench.learned._TwinCellHead.fit_head`; never on test rows), prints their fitted weights,
then ranks every tier-2 test case (recover the over-expressed gene from its response, ``network_only``:
the response without the gene's own transcript, the drug operator) with ``twincell``, both heads, ``network_propagation`` and
``degree``, one batched call per method. Per seed and method: mean AUROC, median rank and mean recall@10
over the cases (TwinBench's tier-2 units). Then paired mean / sd over seeds of each method's difference to
``twincell`` with a Wilcoxon signed-rank p, and the keep rule: a head is kept only if its paired mean AUROC
gain is >= +0.01 with p < 0.05 and its recall@10 is not lower.

Per-seed rows are appended to ``--out``/per_seed.csv (and the weights to weights.csv) as each seed finishes; a seed
run again replaces its earlier rows in the report.

    PYTHONPATH=src python benchmarks/eval_inverse_head.py --seeds 0-9 --out results/t2_head [--quick]
    PYTHONPATH=src python benchmarks/eval_inverse_head.py --summary-only --out results/t2_head

With ``--sle`` it trains nothing: on the cached default model (as tier 3 scores it) it fits both heads on that
model's validation rows of its bundled training data, prints which rows (per dataset) and the weights, then
SLE's top 15 druggable genes with direction for ``twincell`` and both heads and the ranks of the interferon
cascade (IFNAR1, JAK1, TYK2, STAT1) among all genes.

    PYTHONPATH=src python benchmarks/eval_inverse_head.py --sle
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from eval_common_directions import tier2_split
from scipy.stats import wilcoxon

from twincell.bench.baselines import Degree, NetworkPropagation
from twincell.bench.learned import TwinCellHead, TwinCellHeadPrior, TwinCellMethod, _TwinCellHead
from twincell.bench.methods import Method, Resources, run_method_many
from twincell.bench.metrics import RankedPositives
from twincell.bench.run import parse_seeds
from twincell.bench.tier2 import recovery_cases, without_genes
from twincell.data.drugs import DrugTargets
from twincell.data.perturbation import PerturbationDataset
from twincell.data.signatures import load_disease_signature
from twincell.model.default import default_model
from twincell.network import Interactome

METRICS = ("auroc", "median_rank", "recall_at_10")
BASE = "twincell"
#: SLE's interferon cascade whose ranks ``--sle`` prints.
CASCADE = ("IFNAR1", "JAK1", "TYK2", "STAT1")
#: Signatures per batched ranking call (bounds the head's (B, N, p) feature array).
CHUNK = 50


def fitted_heads(base: TwinCellMethod, train: PerturbationDataset) -> list[_TwinCellHead]:
    """``twincell_head`` and ``twincell_head_prior`` on ``base``'s trained model, fitted on its validation rows of
    ``train``."""
    heads = []
    for cls in (TwinCellHead, TwinCellHeadPrior):
        head = cls(base.resources)
        head.model = base.model
        head.fit_head([train])
        heads.append(head)
    return heads


def case_metrics(method: Method, test: PerturbationDataset) -> pd.DataFrame:
    """Rank, AUROC and recall@10 of the true target for every tier-2 case (columns ``case, rank, auroc,
    recall_at_10``), from batched rankings over the network's genes."""
    candidates = pd.Index(method.resources.network.genes)
    cases = [(without_genes(sig, [target]), target) for sig, target in recovery_cases(test, candidates)[0]]
    rows = []
    for start in range(0, len(cases), CHUNK):
        chunk = cases[start:start + CHUNK]
        scores = run_method_many(method, [sig for sig, _ in chunk], candidates=candidates)
        for (sig, target), column in zip(chunk, scores.columns):
            m = RankedPositives.from_scores(scores[column], [target]).metrics((10,))
            rows.append({"case": sig.name, "rank": float(m["median_rank"][0]), "auroc": float(m["auroc"][0]),
                         "recall_at_10": float(m["recall_at_10"][0])})
    return pd.DataFrame(rows)


def run_seed(seed: int, quick: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train, fit both heads and score tier 2 for one seed.

    Returns
    -------
    summary
        ``seed, method, auroc, median_rank, recall_at_10`` (one row per method).
    weights
        ``seed, method, feature, weight, n_fit_rows`` of both heads.
    """
    train, test, _, resources = tier2_split(seed, quick)
    start = time.perf_counter()
    base = TwinCellMethod(resources).fit(train)
    heads = fitted_heads(base, train)
    print(f"seed {seed}: trained and fitted the heads in {time.perf_counter() - start:.0f} s", flush=True)
    weights = pd.DataFrame([{"seed": seed, "method": h.name, "feature": f, "weight": w, "n_fit_rows": h.head.n_rows}
                            for h in heads for f, w in h.head.weight_table().items()])
    summary = []
    for method in (base, *heads, NetworkPropagation(resources), Degree(resources)):
        per_case = case_metrics(method, test)
        summary.append({"seed": seed, "method": method.name, "auroc": per_case["auroc"].mean(),
                        "median_rank": per_case["rank"].median(), "recall_at_10": per_case["recall_at_10"].mean()})
    return pd.DataFrame(summary), weights


def paired_report(per_seed: pd.DataFrame, weights: pd.DataFrame) -> None:
    """Print the per-seed table, paired mean / sd differences to ``twincell`` with Wilcoxon p, the heads' mean
    weights and the keep verdict of each head."""
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_rows", 200):
        print(per_seed.pivot_table(index="seed", columns="method", values=list(METRICS), sort=False).round(3))
        rows = []
        for name, group in per_seed.groupby("method", sort=False):
            row = {"method": name, "n_seeds": len(group)}
            for metric in METRICS:
                paired = group.set_index("seed")[metric] - per_seed[per_seed["method"] == BASE].set_index("seed")[metric]
                row[f"{metric}_mean"] = group[metric].mean()
                row[f"{metric}_sd"] = group[metric].std(ddof=1)
                row[f"d_{metric}_mean"] = paired.mean()
                row[f"d_{metric}_sd"] = paired.std(ddof=1)
                row[f"d_{metric}_p"] = (wilcoxon(paired.to_numpy()).pvalue
                                        if name != BASE and (paired != 0).any() else np.nan)
            rows.append(row)
        table = pd.DataFrame(rows).set_index("method")
        print(table.round(4).T)
        print(weights.groupby(["method", "feature"], sort=False)["weight"].agg(["mean", "std", "min", "max"]).round(3))
    for name in ("twincell_head", "twincell_head_prior"):
        if name in table.index:
            r = table.loc[name]
            keep = r["d_auroc_mean"] >= 0.01 and r["d_auroc_p"] < 0.05 and r["d_recall_at_10_mean"] >= 0
            print(f"{name}: paired AUROC gain {r['d_auroc_mean']:+.4f} (p = {r['d_auroc_p']:.3g}), recall@10 "
                  f"{r['d_recall_at_10_mean']:+.4f}: {'KEEP' if keep else 'DROP'}")


def sle_check(seed: int = 0) -> None:
    """Fit both heads on the default model's validation rows (as tier 3 does), print the rows and weights, then
    SLE's top 15 druggable genes and the interferon cascade's ranks for ``twincell`` and both heads."""
    resources = Resources(Interactome.default(), DrugTargets.universe(), seed, model=default_model())
    druggable = set(resources.drugs.n_drugs_per_gene().index)
    signature = load_disease_signature("SLE").logfc
    for method in (TwinCellMethod(resources), TwinCellHead(resources), TwinCellHeadPrior(resources)):
        scores = method.rank_targets(signature).sort_values(ascending=False)
        if isinstance(method, _TwinCellHead):
            rows = method.fitting_rows
            per_dataset = pd.Series([label.split(":")[0] for label in rows.labels]).value_counts().to_dict()
            print(f"{method.name}: fitted on {len(rows.labels)} of {rows.n_available} usable validation rows "
                  f"{per_dataset}; weights {({k: round(v, 3) for k, v in method.head.weight_table().items()})}")
        directions = method.target_directions(signature)
        top = [g for g in scores.index if g in druggable][:15]
        ranks = scores.rank(ascending=False, method="min")
        print(f"{method.name}: SLE top 15 druggable: " + ", ".join(
            f"{g} ({'+' if directions[g] > 0 else '-'})" for g in top))
        print(f"{method.name}: ranks " + ", ".join(f"{g} {int(ranks[g])}" for g in CASCADE))


def main() -> None:
    """Parse arguments, run every seed (appending to the CSVs), print the paired report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder of the CSVs (default results/t2_head, results/t2_head_quick with --quick)")
    parser.add_argument("--quick", action="store_true", help="smoke run: TwinBench's quick sizes")
    parser.add_argument("--summary-only", action="store_true", help="only print the report of the CSVs in --out")
    parser.add_argument("--sle", action="store_true", help="only the heads on the default model and SLE's top targets")
    args = parser.parse_args()
    if args.sle:
        sle_check()
        return
    out = args.out or Path("results/t2_head_quick" if args.quick else "results/t2_head")  # never mix the two sizes
    out.mkdir(parents=True, exist_ok=True)
    files = {"summary": out / "per_seed.csv", "weights": out / "weights.csv"}
    if not args.summary_only:
        for seed in parse_seeds(args.seeds):
            for key, frame in zip(("summary", "weights"), run_seed(seed, args.quick)):
                frame.to_csv(files[key], mode="a", header=not files[key].exists(), index=False)
    # a seed run again replaces its earlier rows (appended rows would count it twice in the paired test)
    paired_report(pd.read_csv(files["summary"]).drop_duplicates(["seed", "method"], keep="last"),
                  pd.read_csv(files["weights"]).drop_duplicates(["seed", "method", "feature"], keep="last"))


if __name__ == "__main__":
    main()
