"""TwinBench tier 2 on drugs: one seeded response per drug, the other drugs' mean as the free view, signed targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from twincell.bench import Resources, make_methods
from twincell.bench.baselines import Degree
from twincell.bench.exposure import perturbation_target_counts
from twincell.bench.tier2 import receptor_cases, run_multi_target_recovery
from twincell.bench.tier2_drugs import (DRUG_DATASETS, DRUG_VARIANTS, drug_cases, load_drug_datasets, split_drugs,
                                        training_drug_rows)
from twincell.data.drugs import normalize_drug_name
from twincell.data.perturbation import PerturbationDataset
from twincell.data.training_data import load_bundled
from twincell.errors import TwinCellError
from twincell.network import Interactome
from test_bench_cytokines import _ablation_module, run_tier2_with_spy
from test_bench_tiers import _overexpression_dataset, drugs, net  # noqa: F401  (synthetic fixtures)


@pytest.fixture(scope="module")
def resources(net, drugs):
    """Resources over test_bench_tiers' synthetic network and synthetic drug table."""
    return Resources(net, drugs, seed=0)


def _synthetic_drugs(targets: dict[str, str], contexts: int, X: np.ndarray, genes: list) -> PerturbationDataset:
    """Synthetic drug rows: each drug of ``targets`` (drug -> ``targets`` text) in ``contexts`` contexts, drug by
    drug, responses ``X`` (one row per drug x context)."""
    names = [d for d in targets for _ in range(contexts)]
    ds = _overexpression_dataset(genes, [f"{d}@c{k % contexts}" for k, d in enumerate(names)], X)
    ds.adata.obs["perturbation"] = names
    ds.adata.obs["targets"] = [targets[d] for d in names]
    ds.adata.obs["context"] = [f"c{k % contexts}" for k in range(len(names))]
    ds.adata.obs["perturbation_type"] = "drug"
    ds.validate(check_genes=False)  # synthetic gene names are not HGNC symbols
    return ds


class _Activator(Degree):
    """Test double (synthetic): degree ranking that would activate every gene."""

    name = "synthetic_activator"
    gives_direction = True

    def fixed_directions(self, resources: Resources) -> pd.Series:
        return pd.Series(1, index=resources.network.genes)


def test_one_seeded_context_per_drug_with_a_network_target_and_the_other_drugs_mean(net):
    genes = list(net.genes)
    targets = {"d0": f"{genes[0]}:-1", "d1": f"{genes[1]}:-1;{genes[2]}:+1", "d2": f"{genes[3]}:+1",
               "d3": "NOT_IN_NETWORK:-1", "d4": ""}
    X = np.random.default_rng(0).normal(size=(15, len(genes)))
    X[12:15, :5] = np.nan  # d4 measures its first genes in no context
    data = _synthetic_drugs(targets, 3, X, genes)
    cases, common = drug_cases(data, pd.Index(genes), seed=0)
    assert list(cases.obs["perturbation"]) == ["d0", "d1", "d2"]
    again, _ = drug_cases(data, pd.Index(genes), seed=0)
    assert list(again.obs.index) == list(cases.obs.index)
    drawn = {tuple(drug_cases(data, pd.Index(genes), seed=s)[0].obs["context"]) for s in range(10)}
    assert len(drawn) > 1  # seeds draw other contexts
    for i, row in enumerate(cases.obs.index):  # each case is one of its drug's own rows, unchanged
        np.testing.assert_array_equal(np.asarray(cases.X[i]), X[list(data.obs.index).index(row)].astype(np.float32))
    # the free view: the mean of d3's and d4's rows (no target in the network), gene by gene over the rows measuring it
    others = X[9:15].astype(np.float32).astype(float)
    np.testing.assert_allclose(common.to_numpy(), np.nanmean(others, axis=0), rtol=1e-6)
    assert len(drug_cases(data, pd.Index(genes), seed=0, max_cases=2)[0].obs) == 2


def test_a_drugs_direction_is_right_when_it_matches_each_targets_action(net, resources):
    genes = list(net.genes)
    targets = {"inhibitor": f"{genes[0]}:-1;{genes[1]}:-1", "mixed": f"{genes[2]}:-1;{genes[3]}:+1",
               "agonist": f"{genes[4]}:+1"}
    data = _synthetic_drugs(targets, 1, np.random.default_rng(1).normal(size=(3, len(genes))), genes)
    res = run_multi_target_recovery([_Activator(resources)], [(data, None)], frozenset(), dataset="synthetic",
                                    variants=DRUG_VARIANTS, n_boot=20, seed=0)
    per = res.per_perturbation[res.per_perturbation["variant"] == "all_targets"].set_index("perturbation")
    # a method that activates everything gets the inhibitor's targets wrong and the agonist's right
    assert per["direction_accuracy"].to_dict() == {"inhibitor@c0": 0.0, "mixed@c0": 0.5, "agonist@c0": 1.0}
    assert (per["direction"] == 1.0).all()


def test_pooled_groups_each_keep_their_own_free_view(net, resources):
    genes = list(net.genes)
    rng = np.random.default_rng(2)
    groups, commons = [], []
    for k in range(2):
        targets = {f"g{k}d{j}": f"{genes[5 * k + j]}:-1;{genes[20 + j]}:-1" for j in range(3)}
        common = pd.Series(rng.normal(size=len(genes)), index=genes)
        groups.append((_synthetic_drugs(targets, 1, rng.normal(size=(3, len(genes))), genes), common))
        commons.append(common)
    seen = frozenset({genes[20]})
    res = run_multi_target_recovery(make_methods(["de"], resources), groups, seen, dataset="synthetic",
                                    variants=DRUG_VARIANTS, n_boot=20, seed=0)
    per = res.per_perturbation
    assert list(dict.fromkeys(per["variant"])) == [*DRUG_VARIANTS, "case_blind", "specific", "case_free"]
    free = per[per["variant"] == "case_free"].set_index("perturbation")
    for k, common in enumerate(commons):  # de ranks by |logFC|: the free view of group k, by |its common| alone
        for j in range(3):
            labels = np.isin(genes, [genes[5 * k + j], genes[20 + j]])
            assert free.loc[f"g{k}d{j}@c0", "auroc"] == pytest.approx(roc_auc_score(labels, common.abs()))
    unseen = per[per["variant"] == "unseen_targets"].set_index("perturbation")
    assert unseen.loc["g0d0@c0", "target"] == genes[0] and unseen.loc["g1d1@c0", "target"] == f"{genes[6]};{genes[21]}"
    assert set(res.table["signature"]) == {f"synthetic, {v}" for v in [*DRUG_VARIANTS, "case_blind", "specific",
                                                                         "case_free"]}


def test_one_case_per_drug_whatever_its_spelling_and_none_for_a_drug_of_unknown_action(net):
    """Two spellings of one synthetic drug are one case; a drug whose only network target has sign 0 (a modulator's)
    is no case and stays out of the free view's mean, like every drug with a network target; a sign-0 target of a
    case is neither positive nor negative."""
    genes = list(net.genes)
    targets = {"dx": f"{genes[0]}:-1", "dx citrate": f"{genes[0]}:-1", "dmod": f"{genes[1]}:0",
               "dmix": f"{genes[2]}:-1;{genes[3]}:0", "dfree": "NOT_IN_NETWORK:-1"}
    X = np.random.default_rng(5).normal(size=(5, len(genes)))
    data = _synthetic_drugs(targets, 1, X, genes)
    cases, common = drug_cases(data, pd.Index(genes), seed=0)
    assert len(cases.obs) == 2 and set(cases.obs["perturbation"]) - {"dx", "dx citrate"} == {"dmix"}
    np.testing.assert_allclose(common.to_numpy(), X[4].astype(np.float32), rtol=1e-6)  # dfree's row alone
    views, _ = receptor_cases(cases, pd.Index(genes), negatives=frozenset(genes))
    mix = next(v for v in views if v[0][1].positives == (genes[2],))
    assert genes[3] in mix[0][1].ignored and mix[0][1].directions == (-1,)


def test_bundled_drug_cases_are_the_drugs_with_a_network_target():
    network = Interactome.default()
    data = load_bundled("signatures_sciplex")
    cases, common = drug_cases(data, pd.Index(network.genes), seed=0)
    genes = set(network.genes)
    with_target = {p for i, p in enumerate(data.obs["perturbation"]) if set(data.targets_of(i)) & genes}
    signed = {p for i, p in enumerate(data.obs["perturbation"])
              if any(s != 0 and g in genes for g, s in data.targets_of(i).items())}
    assert sorted(cases.obs["perturbation"]) == sorted(signed) and len(signed) >= 3
    others = data.subset(~data.obs["perturbation"].isin(with_target).to_numpy())
    pd.testing.assert_series_equal(common, others.mean_response())
    assert common.notna().sum() > 10_000  # a dense response: thousands of genes, unlike a LINCS consensus row


def test_negatives_restrict_every_variant_and_view_to_the_given_genes(net, resources):
    genes = list(net.genes)
    rng = np.random.default_rng(3)
    targets = {"d0": f"{genes[0]}:-1;{genes[1]}:-1", "d1": f"{genes[2]}:-1"}
    common = pd.Series(rng.normal(size=len(genes)), index=genes)
    data = _synthetic_drugs(targets, 1, rng.normal(size=(2, len(genes))), genes)
    druggable = frozenset(genes[:30])  # the synthetic drug table's genes
    res = run_multi_target_recovery(make_methods(["de"], resources), [(data, common)], frozenset({genes[1]}),
                                    dataset="synthetic", variants=DRUG_VARIANTS, negatives=druggable, n_boot=20, seed=0)
    per = res.per_perturbation.set_index(["variant", "perturbation"])
    among = np.isin(genes, list(druggable))
    for i, (drug, t) in enumerate((("d0", genes[0:2]), ("d1", genes[2:3]))):
        y = np.abs(np.asarray(data.X[i], dtype=float))  # de ranks by |response|
        labels = np.isin(genes, t)
        assert per.loc[("all_targets", f"{drug}@c0"), "auroc"] == pytest.approx(roc_auc_score(labels[among], y[among]))
        free = per.loc[("case_free", f"{drug}@c0"), "auroc"]
        assert free == pytest.approx(roc_auc_score(labels[among], common.abs().to_numpy()[among]))
    # unseen: the seen target leaves the positives and the negatives; the rest stays among the druggable genes
    keep = among & ~np.isin(genes, [genes[1]])
    y0 = np.abs(np.asarray(data.X[0], dtype=float))
    assert per.loc[("unseen_targets", "d0@c0"), "auroc"] == pytest.approx(
        roc_auc_score(np.isin(genes, [genes[0]])[keep], y0[keep]))


def test_drug_split_is_by_name_seeded_disjoint_and_complete():
    genes = pd.Index(Interactome.default().genes)
    datasets = load_drug_datasets()
    held, training = split_drugs(datasets, genes, 0.5, seed=0)
    assert split_drugs(datasets, genes, 0.5, seed=0) == (held, training)
    assert split_drugs(datasets, genes, 0.5, seed=1)[0] != held
    everything, none = split_drugs(datasets, genes, 1.0, seed=0)
    assert none == frozenset() and held | training == everything and not held & training
    spellings: dict[str, set[str]] = {}
    for name in everything:
        spellings.setdefault(normalize_drug_name(name), set()).add(name)
    assert any(len(names) > 1 for names in spellings.values())  # e.g. Tofacitinib, Tofacitinib citrate
    assert all(names <= held or names <= training for names in spellings.values())
    n_held = len({normalize_drug_name(name) for name in held})
    assert abs(n_held - (len(spellings) - n_held)) <= 1
    for data in datasets:  # every drug with a network target, pooled over the datasets by name
        wanted = set(genes)
        with_target = {p for i, p in enumerate(data.obs["perturbation"]) if any(
            s != 0 and g in wanted for g, s in data.targets_of(i).items())}
        assert with_target <= everything
    rows = training_drug_rows(datasets, training)
    assert rows and all(set(d.obs["perturbation"]) <= training for d in rows)
    assert sum(d.n_obs for d in rows) == sum(int(load_bundled(n).obs["perturbation"].isin(training).sum())
                                             for n in DRUG_DATASETS)  # every context of a training drug
    assert training_drug_rows(datasets, frozenset()) == []
    with pytest.raises(TwinCellError, match="drug test fraction"):
        split_drugs(datasets, genes, 0.0, seed=0)


def test_drug_cases_keep_only_the_given_drugs(net):
    genes = list(net.genes)
    targets = {"d0": f"{genes[0]}:-1", "d1": f"{genes[1]}:-1", "d2": f"{genes[2]}:+1", "d3": "NOT_IN_NETWORK:-1"}
    data = _synthetic_drugs(targets, 2, np.random.default_rng(4).normal(size=(8, len(genes))), genes)
    cases, common = drug_cases(data, pd.Index(genes), seed=0, drugs={"d0", "d2", "d3"})
    assert list(cases.obs["perturbation"]) == ["d0", "d2"]  # d3 has no network target, d1 is a training drug
    pd.testing.assert_series_equal(common, drug_cases(data, pd.Index(genes), seed=0)[1])  # the free view is unchanged


def test_a_drug_split_scores_only_held_out_drugs_and_counts_training_drug_targets_as_seen():
    network = Interactome.default()
    datasets = load_drug_datasets()
    held, training = split_drugs(datasets, pd.Index(network.genes), 0.5, seed=0)
    res, seen = run_tier2_with_spy(drug_test_fraction=0.5)
    assert seen and all(r.training_drugs == training for r in seen)
    # the ablation's in-sample designs (chosen_cases*) train on exactly the held-out drugs, the others on the rest
    ablation = _ablation_module()
    assert ablation.drug_names(datasets, seen[0], "cases") == held
    assert ablation.drug_names(datasets, seen[0], "training") == training
    per = res.tier2_cases
    drug_rows = per[per["variant"].isin(list(DRUG_VARIANTS))]
    assert {p.split("@")[0] for p in drug_rows["perturbation"]} <= held
    # a training drug's rows that perturb one of the held-out LINCS targets are not trained on (nor counted as seen)
    held_genes = seen[0].held_out_genes
    assert held_genes and all(r.held_out_genes == held_genes for r in seen)
    trained_rows = training_drug_rows(datasets, training, held_genes)
    trained_targets = set(perturbation_target_counts(trained_rows).index)
    assert not trained_targets & held_genes
    assert sum(d.n_obs for d in trained_rows) < sum(d.n_obs for d in training_drug_rows(datasets, training))
    unseen = drug_rows[drug_rows["variant"] == "unseen_targets"]
    listed = {g for t in unseen["target"] for g in str(t).split(";")}
    assert trained_targets and not listed & trained_targets
    assert "43 drugs held out, 43 training drugs" in res.facts["tier 2 drugs"]
    # half of the 86 bundled drugs with a signed network target (90 spellings: tofacitinib, trametinib, topotecan
    # and belinostat have two each)
    assert {len(held), len(training)} == {43, 47}
    # every case names the dataset its row came from, and the per-source table pools exactly those rows
    drugs_of = {d.uns["source"]: set(d.obs["perturbation"]) for d in datasets}
    assert set(drug_rows["source"]) <= set(DRUG_DATASETS) and len(set(drug_rows["source"])) > 1
    assert all(p.split("@")[0] in drugs_of[src] for p, src in zip(drug_rows["perturbation"], drug_rows["source"]))
    assert set(per.loc[per["variant"] == "network_only", "source"]) == {"lincs_overexpression"}
    assert set(per.loc[per["variant"] == "all_receptors", "source"]) == {"cytosig"}
    sources = res.tier2_sources().set_index(["method", "source", "variant"])
    for (method, source), rows in drug_rows[drug_rows["variant"] == "all_targets"].groupby(["method", "source"]):
        row = sources.loc[(method, source, "all_targets")]
        assert row["cases"] == len(rows) and row["auroc"] == pytest.approx(rows["auroc"].mean())


def test_tier2_leaves_out_a_drug_trained_method_that_has_no_training_drug(resources):
    """With every drug a tier-2 case, ``connectivity_drugs`` would rank nothing and score chance: tier 2 leaves it out
    and its facts say why; with training drugs it stays; alone, it is a clear error."""
    from twincell.bench.run import _tier2_rankers
    methods = make_methods(["connectivity_drugs", "degree"], resources)
    facts: dict[str, str] = {}
    kept = _tier2_rankers(methods, ["connectivity_drugs", "degree"], frozenset(), facts, only_tier=True)
    assert [m.name for m in kept] == ["degree"]
    assert facts["tier 2 not scored"].startswith("connectivity_drugs: every drug is a tier-2 case")
    facts = {}
    kept = _tier2_rankers(methods, ["connectivity_drugs", "degree"], frozenset({"d0"}), facts, only_tier=True)
    assert [m.name for m in kept] == ["connectivity_drugs", "degree"] and facts == {}
    assert _tier2_rankers(methods, ["connectivity_drugs"], frozenset(), {}, only_tier=False) == []  # tier 1 or 3 runs
    with pytest.raises(TwinCellError, match="no method can be scored on tier 2") as err:
        _tier2_rankers(methods, ["connectivity_drugs"], frozenset(), {}, only_tier=True)
    assert "--drug-test-fraction" in err.value.hint
    with pytest.raises(TwinCellError, match="none of them ranks targets"):
        _tier2_rankers(methods, ["mean"], frozenset(), {}, only_tier=True)
