"""Do the bundled drug responses move TFs the way the network's known signs say? No training.

A signed reader of a drug's response would have to start from the signs the network knows. For every drug of the
bundled drug datasets (Tahoe-100M lines, NeurIPS PBMC types, sci-Plex) and every DrugCentral target ``g`` of known
action ``a`` (+1 activate, -1 inhibit) in the network, the script predicts the sign of a TF's activity in the drug's
response:

* **hop 0**: ``g`` is a CollecTRI TF itself: ``a``;
* **hop 1**: a directed PPI edge ``g -> h`` of known sign ``s`` into a CollecTRI TF ``h``: ``a s``;

and compares it with the sign of ``h``'s mean ulm t-value over the drug's rows (decoupler's ulm on the CollecTRI
regulons, :func:`twincell.bench.activity.ulm_activities`; every context of the drug), read raw (``activity``) and
minus the TF's mean over the dataset's drugs (``centred``). The null replaces each drug's
activities by another drug's of the same dataset (seeded permutations of the drugs within each dataset), which keeps
every TF's tendency over all drugs. Prints, per reading and hop (and per dataset), the number of pairs, the
agreement, the null's mean and 95 % range, and the permutation p (share of permutations at least as high).

    PYTHONPATH=src python benchmarks/eval_signed_paths.py [--permutations 200] [--out results/signed_paths] [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from twincell.bench.metrics import empirical_p
from twincell.bench.activity import regulon_matrix, ulm_activities
from twincell.bench.tier2_drugs import load_drug_datasets
from twincell.data.perturbation import PerturbationDataset
from twincell.network import Interactome

#: Rows scored by one ulm call (bounds the dense target x rows matrix).
CHUNK = 400
#: ``activity``: each TF's mean ulm t-value over the drug's rows; ``centred``: that minus the TF's mean over the
#: dataset's drugs (what every drug does to the TF removed).
READINGS = ("activity", "centred")


def drug_activities(data: PerturbationDataset, weights, tfs: pd.Index, targets: pd.Index) -> pd.DataFrame:
    """TF x drug mean ulm t-value over each drug's rows (NaN where no row gives the TF an activity)."""
    X = np.asarray(data.X, dtype=float)
    columns = []
    for start in range(0, data.n_obs, CHUNK):
        block = X[start:start + CHUNK]
        signatures = [pd.Series(row[np.isfinite(row)], index=data.genes[np.isfinite(row)]) for row in block]
        columns.append(ulm_activities(weights, targets, signatures))
    t = pd.DataFrame(np.hstack(columns), index=tfs, columns=data.obs["perturbation"].astype(str).to_numpy())
    return t.T.groupby(level=0).mean().T


def drug_actions(data: PerturbationDataset) -> dict[str, dict[str, int]]:
    """Drug -> {target: action} for the targets of known action (+1 / -1) the dataset lists."""
    actions: dict[str, dict[str, int]] = {}
    for i, drug in enumerate(data.obs["perturbation"].astype(str)):
        actions.setdefault(drug, {}).update({g: s for g, s in data.targets_of(i).items() if s != 0})
    return actions


def known_sign_edges(network: Interactome) -> pd.DataFrame:
    """Directed PPI edges of known sign (``source``, ``target``, ``sign``; an interactome holds one row per edge)."""
    e = network.edges
    e = e[(e["layer"] == "ppi") & (e["sign"] != 0) & e["directed"].astype(bool) & (e["source"] != e["target"])]
    return e[["source", "target", "sign"]].reset_index(drop=True)


def prediction_pairs(actions: dict[str, dict[str, int]], tfs: pd.Index, edges: pd.DataFrame) -> pd.DataFrame:
    """One row per (drug, target, TF, hop) with the predicted sign of the TF's activity."""
    into_tfs = edges[edges["target"].isin(tfs)]
    out_edges = {g: list(zip(grp["target"], grp["sign"])) for g, grp in into_tfs.groupby("source")}
    rows = []
    for drug, targets in actions.items():
        for gene, action in targets.items():
            if gene in tfs:
                rows.append((drug, gene, gene, 0, action))
            rows.extend((drug, gene, tf, 1, action * int(sign)) for tf, sign in out_edges.get(gene, []) if tf != gene)
    return pd.DataFrame(rows, columns=["drug", "target", "tf", "hop", "predicted"])


def agreement(pairs: pd.DataFrame, activity: pd.Series, drug_of: dict[str, str] | None = None) -> tuple[int, int]:
    """Number of pairs whose TF activity (``activity``: indexed by (TF, drug), a stacked TF x drug frame; in
    ``drug_of[drug]``'s response, default the drug's own) has the predicted sign, and the number of pairs with a
    non-zero activity there."""
    drugs = pairs["drug"] if drug_of is None else pairs["drug"].map(drug_of)
    observed = np.sign(activity.reindex(list(zip(pairs["tf"], drugs))).to_numpy())
    scored = np.isfinite(observed) & (observed != 0)
    return int((observed[scored] == pairs["predicted"].to_numpy()[scored]).sum()), int(scored.sum())


def summary_row(label: str, hop: int, drugs: int, observed: tuple[int, int], null: np.ndarray) -> dict:
    """One table row: agreement of ``observed`` (agreeing, scored) against the null's (P, 2) counts; the p-value is
    TwinBench's one-sided empirical p (floor 1 / (P + 1)), NaN when no pair was scored."""
    share = observed[0] / observed[1] if observed[1] else np.nan
    null_share = null[:, 0] / np.maximum(null[:, 1], 1)
    return {"dataset": label, "hop": hop, "pairs": observed[1], "drugs": drugs, "agreement": share,
            "null_mean": null_share.mean(), "null_low": np.percentile(null_share, 2.5),
            "null_high": np.percentile(null_share, 97.5), "p": empirical_p(share, null_share)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--permutations", type=int, default=200, help="drug permutations of the null (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="folder for signed_paths.csv and signed_pairs.csv")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 permutations")
    args = parser.parse_args()
    if args.quick:
        args.permutations = min(args.permutations, 20)
    network = Interactome.default()
    weights, tfs, targets = regulon_matrix(network)
    edges = known_sign_edges(network)
    rng = np.random.default_rng(args.seed)
    rows, all_pairs = [], []
    pooled = {(reading, hop): [np.zeros(2, int), np.zeros((args.permutations, 2), int), 0]
              for reading in READINGS for hop in (0, 1)}
    for data in load_drug_datasets():
        name = str(data.uns["source"])
        raw = drug_activities(data, weights, tfs, targets)
        readings = {"activity": raw.stack(), "centred": raw.sub(raw.mean(axis=1), axis=0).stack()}
        pairs = prediction_pairs(drug_actions(data), tfs, edges)
        pairs = pairs[pairs["drug"].isin(raw.columns)].assign(dataset=name)
        drugs = raw.columns.to_numpy()
        nulls = [dict(zip(drugs, rng.permutation(drugs))) for _ in range(args.permutations)]
        keys = list(zip(pairs["tf"], pairs["drug"]))
        all_pairs.append(pairs.assign(t=readings["activity"].reindex(keys).to_numpy(),
                                      t_centred=readings["centred"].reindex(keys).to_numpy()))
        for reading, activity in readings.items():
            for hop in (0, 1):
                sub = pairs[pairs["hop"] == hop]
                observed = np.array(agreement(sub, activity))
                null = np.array([agreement(sub, activity, p) for p in nulls])
                row = summary_row(name, hop, sub["drug"].nunique(), tuple(observed), null)
                rows.append({"reading": reading, **row})
                total = pooled[reading, hop]
                total[0] += observed
                total[1] += null
                total[2] += sub["drug"].nunique()
    rows += [{"reading": reading, **summary_row("all", hop, drugs, tuple(observed), null)}
             for (reading, hop), (observed, null, drugs) in pooled.items()]
    pairs = pd.concat(all_pairs, ignore_index=True)
    table = pd.DataFrame(rows)
    table["excess"] = table["agreement"] - table["null_mean"]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(f"{len(edges):,} known-sign directed PPI edges; {len(tfs):,} CollecTRI TFs; "
              f"{args.permutations} permutations")
        print(table.round(3).to_string(index=False))
        strong = pairs[pairs["t"].abs() > 2]
        for hop in (0, 1):
            s = strong[strong["hop"] == hop]
            print(f"hop {hop}, |mean t| > 2: {len(s)} pairs, agreement "
                  f"{(np.sign(s['t']) == s['predicted']).mean() if len(s) else float('nan'):.3f}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "signed_paths.csv", index=False)
        pairs.to_csv(args.out / "signed_pairs.csv", index=False)
        print(f"wrote {args.out / 'signed_paths.csv'}, {args.out / 'signed_pairs.csv'}")


if __name__ == "__main__":
    main()
