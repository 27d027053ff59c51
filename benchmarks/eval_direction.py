"""Audit of TwinBench's direction conventions: tier 2's drug-free direction test, and tier 3's direction misses.

Two parts (run one or both):

* ``--tier2``: trains TwinCell once per seed on TwinBench's tier-2 split (LINCS over-expression, split by
  target gene; :func:`eval_common_directions.train_tier2`) and scores tier 2 with ``twincell``,
  ``twincell_prior`` and ``random_sign_prior``. Every held-out row over-expresses its target, so the right
  direction for reproducing the observed response is "activate" (+1): tier 2's ``direction_accuracy``. Also
  printed: ``coverage`` (share of rows where the method gives the target any direction) and the accuracy among
  those, and how often the over-expressed gene's own transcript is measured and up in the data (the sign of
  the responses themselves).
* ``--tier3``: on the cached default model, the untrained prior and the random-sign prior, with no shuffles:
  each bundled signature's strongest up and down genes (is it disease minus control?), the drug table's
  action -> sign coding, and for every approved target with a known action, per signature, the method's
  signed score and direction; then tier 3's ``direction_accuracy`` split into coverage (a direction at all)
  and accuracy when a direction is given, per action and per node class (transcription factor: a gene with
  outgoing edges in the interactome's TF layer), and the three direction metrics as TwinBench aggregates
  them. Writes ``tier3_directions.csv``. Each pair also says how the default model's training data perturbed the
  gene (``seen``: ``drug`` by a drug row, ``other`` only by an over-expression or a cytokine's receptors, ``none``),
  and the balanced accuracy is broken down by it, beside the target-blind twin (``twincell_common_response``),
  which learned no target-specific response: do the directions the model learned from drugs (in sample, tier 2's
  ``chosen_cases``) carry to the diseases at the targets it saw? Last, the druggable AUROC of the approved targets
  that drugs inhibit, ranked by |score| and by -score (the ``direction="inhibit"`` ranking users ask for), per
  method; writes ``stated_direction.csv``.

    PYTHONPATH=src python benchmarks/eval_direction.py --tier2 --seed 0 [1 2] [--quick] --out results/direction
    PYTHONPATH=src python benchmarks/eval_direction.py --tier3 --out results/direction
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from eval_common_directions import train_tier2
from scipy.stats import binomtest

from twincell.bench.diseases import approved_directions, bundled_signatures, disease_of, read_targets
from twincell.bench.exposure import perturbation_target_counts
from twincell.bench.learned import (RandomSignPrior, TwinCellCommonResponse, TwinCellMethod, TwinCellPrior,
                                    desired_changes)
from twincell.bench.methods import Method, Resources
from twincell.bench.metrics import auroc
from twincell.bench.run import TIER2_LABEL
from twincell.bench.tier2 import run_tier2
from twincell.bench.tier3 import DIRECTION_METRICS
from twincell.data.drugs import DrugTargets
from twincell.data.perturbation import PerturbationDataset
from twincell.data.training_data import load_default_training_data
from twincell.model import default_model
from twincell.network import Interactome

#: Methods of the audit, in print order; all share the ranking code of ``twincell`` (adjoint, D = -signature).
CONTROLS = (TwinCellPrior, RandomSignPrior)
#: Tier 3's further control: the default model's target-blind twin (trained on first use, then cached).
TIER3_CONTROLS = (*CONTROLS, TwinCellCommonResponse)
N_TOP = 6


def own_transcript_sign(test: PerturbationDataset) -> str:
    """How often the over-expressed gene's own transcript is measured in its response, and how often it is up."""
    X = np.asarray(test.X)
    genes = pd.Index(test.genes)
    own = []
    for i in range(test.n_obs):
        targets = [g for g, s in test.targets_of(i).items() if s > 0]
        if len(targets) == 1 and targets[0] in genes:
            own.append(X[i, genes.get_loc(targets[0])])
    own = np.asarray(own, dtype=float)
    measured = own[np.isfinite(own)]
    return (f"{len(own)} held-out rows over-express one gene that is a column of the data; its transcript is measured "
            f"in {measured.size}, "
            f"up (value > 0) in {(measured > 0).sum()} of those (median value {np.median(measured):.2f})")


def tier2_directions(seeds: list[int], quick: bool, out: Path) -> pd.DataFrame:
    """Tier 2 with direction for twincell and the two untrained controls, one training per seed.

    Returns
    -------
    DataFrame
        One row per seed, method and variant: ``auroc``, ``direction_accuracy``, ``coverage`` (share of rows
        with a non-zero direction), ``accuracy_when_given`` and ``n`` (held-out rows).
    """
    rows = []
    for seed in seeds:
        base, test, settings = train_tier2(seed, quick)
        print(f"seed {seed}: {own_transcript_sign(test)}", flush=True)
        methods: list[Method] = [base, *(cls(base.resources) for cls in CONTROLS)]
        result = run_tier2(methods, test, dataset=TIER2_LABEL, n_boot=settings.n_boot, seed=seed)
        out.mkdir(parents=True, exist_ok=True)
        result.per_perturbation.to_csv(out / f"tier2_cases_seed{seed}.csv", index=False)
        auroc = result.table[result.table["metric"] == "auroc"].set_index(["method", "signature"])["value"]
        for (variant, method), g in result.per_perturbation.groupby(["variant", "method"], sort=False):
            given = g["direction"] != 0
            rows.append({"seed": seed, "method": method, "variant": variant,
                         "auroc": auroc[method, f"{TIER2_LABEL}, {variant}"],
                         "direction_accuracy": g["direction_accuracy"].mean(), "coverage": given.mean(),
                         "accuracy_when_given": (g.loc[given, "direction"] == 1).mean(), "n": len(g)})
    return pd.DataFrame(rows)


def signature_orientation(n_top: int = N_TOP) -> pd.DataFrame:
    """Each bundled signature's ``n_top`` largest and smallest log fold changes (disease minus control if up
    genes are the disease's known hallmarks; the provenance of each file is in datasets/SOURCES.md)."""
    rows = []
    for s in bundled_signatures():
        v = s.logfc.sort_values()
        rows.append({"signature": s.name, "n_up": int((v > 0).sum()), "n_down": int((v < 0).sum()),
                     "top_up": ", ".join(v.index[::-1][:n_top]), "top_down": ", ".join(v.index[:n_top])})
    return pd.DataFrame(rows)


def action_coding(drugs: DrugTargets) -> pd.DataFrame:
    """Every DrugCentral action type in the drug table with the sign it is coded as and its row count."""
    actions = drugs.table.assign(action_type=drugs.table["action_type"].str.split(";")).explode("action_type")
    return (actions.groupby(["action_type", "sign"]).size().rename("rows").reset_index()
            .sort_values(["sign", "rows"], ascending=[True, False]))


def signed_score_tables(network: Interactome, drugs: DrugTargets) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Method name -> (signed scores, hop-0 part), nodes x bundled signatures, for the default model and the controls.

    ``hop0`` is the part of each score from the node's own readout (``R0^T d``, no propagation).
    """
    signatures = bundled_signatures()
    resources = Resources(network, drugs, 0, model=default_model())
    tables = {}
    for cls in (TwinCellMethod, *TIER3_CONTROLS):
        method = cls(resources)
        scores = method.signed_scores([s.logfc for s in signatures])
        scores.columns = [s.name for s in signatures]
        op = method.model.operator(None)
        D, _ = desired_changes([s.logfc for s in signatures], scores.index)
        hop0 = pd.DataFrame(np.asarray(getattr(op, "readout0", op.R).T @ D), index=scores.index, columns=scores.columns)
        tables[method.name] = (scores, hop0)
    return tables


def tier3_directions(network: Interactome, drugs: DrugTargets,
                     tables: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> pd.DataFrame:
    """Signed score and direction of each method for every approved target with a known action, per signature.

    Parameters
    ----------
    tables
        :func:`signed_score_tables`.

    Returns
    -------
    DataFrame
        ``method, disease, gene, known, signature, score, hop0, predicted, tf, seen, drugs``: ``known`` is the
        approved drugs' direction (+1 activate, -1 inhibit), ``predicted`` the sign of ``score`` (0: no direction),
        ``hop0`` the part of ``score`` from the gene's own readout, ``tf`` whether the gene has outgoing
        transcriptional (TF-layer) edges, ``seen`` how the default model's training data perturbed it
        (:func:`training_perturbation_kind`).
    """
    targets = read_targets()
    known = approved_directions(targets, drugs)
    drug_names = targets.set_index(["disease", "gene"])["drugs"]
    tfs = set(np.asarray(network.genes)[network.tf_mask])
    seen = training_perturbation_kind()
    rows = []
    for method, (scores, hop0) in tables.items():
        for (disease, gene), direction in known.items():
            for name in scores.columns:
                if disease_of(name).lower() != disease.lower():
                    continue
                value = float(scores.at[gene, name]) if gene in scores.index else np.nan
                rows.append({"method": method, "disease": disease, "gene": gene, "known": int(direction),
                             "signature": name, "score": value,
                             "hop0": float(hop0.at[gene, name]) if gene in hop0.index else np.nan,
                             "predicted": int(np.sign(np.nan_to_num(value))),
                             "tf": gene in tfs, "seen": seen.get(gene, "none"), "drugs": drug_names[disease, gene]})
    return pd.DataFrame(rows)


def stated_direction_aurocs(scores: pd.DataFrame, known: pd.Series, druggable: set[str]) -> pd.DataFrame:
    """Druggable AUROC of the inhibited approved targets ranked by |score| and by -score (``direction="inhibit"``).

    Parameters
    ----------
    scores
        Signed scores, nodes x signatures (positive: activate).
    known
        (disease, gene) -> approved drugs' direction (+1 / -1; :func:`approved_directions`).
    druggable
        The druggable universe: candidates are its genes among the nodes, less the disease's activated targets.

    Returns
    -------
    DataFrame
        Per signature: ``disease, signature, n_positives, both, inhibit`` (NaN without a positive).
    """
    rows = []
    for name in scores.columns:
        disease = disease_of(name).lower()
        actions = known[[d.lower() == disease for d in known.index.get_level_values(0)]].droplevel(0)
        pool = scores.index[scores.index.isin(list(druggable)) & ~scores.index.isin(actions[actions > 0].index)]
        positives = pool.intersection(actions[actions < 0].index)
        signed = scores.loc[pool, name]
        defined = 0 < len(positives) < len(pool)
        both, inhibit = ((auroc(v, positives) if defined else np.nan) for v in (signed.abs(), -signed))
        rows.append({"disease": disease, "signature": name, "n_positives": len(positives), "both": both,
                     "inhibit": inhibit})
    return pd.DataFrame(rows)


def training_perturbation_kind() -> dict[str, str]:
    """Gene -> ``drug`` if a drug row of the default model's training data perturbs it, else ``other`` if an
    over-expression or a cytokine's receptor subunits do (genes absent: never perturbed)."""
    data = load_default_training_data()
    is_drug = [bool((d.obs["perturbation_type"] == "drug").all()) for d in data]
    kind = dict.fromkeys(perturbation_target_counts([d for d, x in zip(data, is_drug) if not x]).index, "other")
    return kind | dict.fromkeys(perturbation_target_counts([d for d, x in zip(data, is_drug) if x]).index, "drug")


def balanced_by(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group of ``by``: pairs per action, the share right per action ("no direction" a miss) and their mean, the
    balanced accuracy (pooled over pairs; a constant direction scores 0.5)."""
    t = table.assign(right=table["predicted"] == table["known"])
    acc = t.pivot_table(index=by, columns="known", values="right", aggfunc="mean", sort=False)
    pairs = t.pivot_table(index=by, columns="known", values="right", aggfunc="size", sort=False)
    out = pd.DataFrame({"pairs_inhibit": pairs.get(-1), "pairs_activate": pairs.get(1),
                        "right_inhibit": acc.get(-1), "right_activate": acc.get(1)})
    return out.assign(balanced=out[["right_inhibit", "right_activate"]].mean(axis=1, skipna=False)).round(3)


def direction_breakdown(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Pairs, coverage (share with a direction), accuracy (0 = miss) and accuracy when a direction is given."""
    t = table.assign(right=table["predicted"] == table["known"], given=table["predicted"] != 0)
    g = t.groupby(by)
    return pd.DataFrame({"pairs": g.size(), "coverage": g["given"].mean(), "accuracy": g["right"].mean(),
                         "accuracy_when_given": t[t["given"]].groupby(by)["right"].mean()}).round(3)


def hop0_share(table: pd.DataFrame) -> pd.DataFrame:
    """For the transcription factors that approved drugs activate: per method, the pairs with a non-zero score,
    the median share ``|hop0| / |score|`` of their score from their own readout, and how often ``hop0`` has the
    score's sign."""
    t = table[(table["known"] == 1) & table["tf"] & (table["score"] != 0)]
    t = t.assign(share=(t["hop0"].abs() / t["score"].abs()), same=np.sign(t["hop0"]) == np.sign(t["score"]))
    g = t.groupby("method", sort=False)
    return pd.DataFrame({"pairs": g.size(), "median_hop0_share": g["share"].median(),
                         "same_sign": g["same"].mean()}).round(3)


def pooled_tier2(table: pd.DataFrame) -> pd.DataFrame:
    """Tier 2 pooled over the seeds, per method and variant: rows given a direction, how many of those say
    "activate" (the right answer for an over-expression), and the one-sided binomial p of that many or more
    under a coin flip (an inverted sign convention would put the share below 0.5 instead)."""
    t = table.assign(given=(table["coverage"] * table["n"]).round().astype(int))
    t = t.assign(activate=(t["accuracy_when_given"].fillna(0) * t["given"]).round().astype(int))
    pooled = t.groupby(["method", "variant"], sort=False)[["given", "activate"]].sum()
    p = [binomtest(int(a), int(n), alternative="greater").pvalue if n else np.nan
         for a, n in zip(pooled["activate"], pooled["given"])]
    return pooled.assign(share=(pooled["activate"] / pooled["given"]).round(3), p_binomial=p)


def twinbench_means(table: pd.DataFrame) -> pd.DataFrame:
    """Tier 3's direction metrics as TwinBench aggregates them: per method, the mean over diseases of each
    disease's mean over its signatures (:data:`twincell.bench.tier3.DIRECTION_METRICS`)."""
    rows = []
    for (method, disease, signature), g in table.groupby(["method", "disease", "signature"], sort=False):
        predicted, known = g.set_index("gene")["predicted"], g.set_index("gene")["known"]
        rows.append({"method": method, "disease": disease,
                     **{name: fn(predicted, known) for name, fn in DIRECTION_METRICS.items()}})
    per_disease = pd.DataFrame(rows).groupby(["method", "disease"], sort=False).mean()
    return per_disease.groupby(level="method", sort=False).mean().round(3)


def main() -> None:
    """Parse arguments and run the parts asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier2", action="store_true", help="tier 2 direction accuracy, one training per seed")
    parser.add_argument("--tier3", action="store_true", help="tier 3 direction audit on the cached default model")
    parser.add_argument("--seed", type=int, nargs="+", default=[0])
    parser.add_argument("--quick", action="store_true", help="tier 2 at TwinBench's quick sizes (smoke run)")
    parser.add_argument("--out", type=Path, default=Path("results/direction"))
    args = parser.parse_args()
    if not (args.tier2 or args.tier3):
        if not args.quick:
            parser.error("give --tier2 and/or --tier3")
        args.tier2 = True  # --quick alone (make bench's smoke run): tier 2 at the quick sizes
    pd.set_option("display.width", 250)
    pd.set_option("display.max_rows", 400)
    pd.set_option("display.max_colwidth", 90)
    if args.tier2:
        table = tier2_directions(args.seed, args.quick, args.out)
        table.to_csv(args.out / "tier2_directions.csv", index=False)
        print(table.round(3).to_string(index=False))
        print(table.groupby(["method", "variant"], sort=False)[["auroc", "direction_accuracy", "coverage"]]
              .agg(["mean", "min", "max"]).round(3))
        print("pooled over the seeds: rows given a direction, and those saying activate")
        print(pooled_tier2(table).to_string())
    if args.tier3:
        network, drugs = Interactome.default(), DrugTargets.universe()
        print(signature_orientation().to_string(index=False))
        print(action_coding(drugs).to_string(index=False))
        tables = signed_score_tables(network, drugs)
        table = tier3_directions(network, drugs, tables)
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "tier3_directions.csv", index=False)
        wide = table.pivot_table(index=["disease", "gene", "known", "tf", "signature"], columns="method",
                                 values="score", sort=False)
        print(wide.to_string(float_format=lambda v: f"{v:+.2e}"))
        for by in (["method", "known"], ["method", "known", "tf"], ["method", "disease", "known"]):
            print(direction_breakdown(table, by).to_string())
        print("balanced direction accuracy by how training perturbed the gene (pairs pooled over signatures)")
        print(balanced_by(table, ["method", "seen"]).to_string())
        print("transcription factors that drugs activate: share of the score from their own readout (hop 0)")
        print(hop0_share(table).to_string())
        print("as TwinBench reports them (mean over diseases of the mean over signatures):")
        print(twinbench_means(table).to_string())
        known, druggable = approved_directions(read_targets(), drugs), drugs.druggable_genes()
        stated = pd.concat([stated_direction_aurocs(scores, known, druggable).assign(method=name)
                            for name, (scores, _) in tables.items()])
        stated.to_csv(args.out / "stated_direction.csv", index=False)
        print("inhibited approved targets among drug targets: AUROC of |score| (both) and of -score (inhibit),")
        print("mean over diseases of the mean over signatures")
        means = stated.groupby(["method", "disease"], sort=False)[["both", "inhibit"]].mean()
        print(means.groupby(level="method", sort=False).mean().assign(
            inhibit_minus_both=lambda t: t["inhibit"] - t["both"]).round(3).to_string())


if __name__ == "__main__":
    main()
