"""TwinBench tier 2 on held-out cytokines: the split, what training sees, and multi-positive receptor recovery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from twincell.bench import Resources, make_methods, run_benchmark
from twincell.bench.baselines import Degree
from twincell.bench.methods import METHODS, run_method
from twincell.bench.run import CYTOKINE_LABEL, BenchResult, split_cytokines, summary_table
from twincell.bench.tier2 import observed_response, run_receptor_recovery, run_tier2
from twincell.data.perturbation import PerturbationDataset
from benchmark_scripts import load_script
from test_bench_tiers import _overexpression_dataset, drugs, net  # noqa: F401  (synthetic fixtures)

PER_CASE = ["auroc", "recall_at_1", "recall_at_10", "recall_at_100", "ndcg", "rank", "distance_top1",
            "distance_random", "direction", "direction_accuracy"]


@pytest.fixture(scope="module")
def resources(net, drugs):
    """Resources over test_bench_tiers' synthetic network and synthetic drug table."""
    return Resources(net, drugs, seed=0)


def _synthetic_perturbations(genes: list, targets: list[list[str]], X: np.ndarray) -> PerturbationDataset:
    """Synthetic cytokine rows ``syn<i>`` whose targets are ``targets[i]`` (all ``+1``), response ``X[i]``."""
    ds = _overexpression_dataset(genes, [f"syn{i}" for i in range(len(targets))], X)
    ds.adata.obs["targets"] = [";".join(f"{g}:+1" for g in t) for t in targets]
    ds.adata.obs["perturbation_type"] = "cytokine"
    ds.validate(check_genes=False)  # synthetic gene names are not HGNC symbols
    return ds


def test_cytokine_split_is_seeded_deterministic_and_disjoint():
    split, train, test = split_cytokines(0)
    again, _, _ = split_cytokines(0)
    other, _, _ = split_cytokines(1)
    train_names, test_names = set(train.obs["perturbation"]), set(test.obs["perturbation"])
    assert split.held_out == again.held_out and split.held_out != other.held_out
    assert test_names == set(split.held_out) and not train_names & test_names
    n = train.n_obs + test.n_obs
    assert len(train_names | test_names) == n and test.n_obs == round(n / 3)


class _SyntheticSpy(Degree):
    """Degree ranking that records the resources it ranks with (test double, synthetic)."""

    name = "synthetic_spy"
    seen: list[Resources] = []

    def rank_targets(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        _SyntheticSpy.seen.append(self.resources)
        return super().rank_targets(signature, context)


def run_tier2_with_spy(**options) -> tuple[BenchResult, list[Resources]]:
    """A quick seed-0 tier-2 TwinBench run of :class:`_SyntheticSpy` alone, and the resources it ranked with."""
    _SyntheticSpy.seen = []
    METHODS[_SyntheticSpy.name] = _SyntheticSpy
    try:
        return run_benchmark((2,), [_SyntheticSpy.name], quick=True, seed=0, **options), _SyntheticSpy.seen
    finally:
        del METHODS[_SyntheticSpy.name]


def _ablation_module():
    """benchmarks/ablation_model.py, imported from its file."""
    return load_script("ablation_model")


def test_held_out_cytokines_are_scored_and_never_reach_training():
    split, _, _ = split_cytokines(0)
    res, seen = run_tier2_with_spy()
    held = frozenset(split.held_out)
    assert seen and all(r.held_out == held and not r.training_drugs for r in seen)  # by default no drug is trained on
    cases = res.tier2_cases
    cyto = cases[cases["variant"].isin(["all_receptors", "unseen_receptors"])]
    assert {p.split("@")[0] for p in cyto["perturbation"]} == held
    assert {p.split("@")[0] for p in cyto.loc[cyto["variant"] == "all_receptors", "perturbation"]} == held
    assert {"T2-cyto auroc", "T2-cyto recall_at_10", "T2-cyto-unseen auroc", "T2-cyto-blind auroc",
            "T2-cyto-specific auroc", "T2-blind auroc", "T2-specific auroc"} <= set(summary_table(res.table).columns)
    blind = cases[cases["variant"] == "case_blind"]
    assert {p.split("@")[0] for p in blind["perturbation"]} >= held and blind["common_share"].between(0, 1).all()
    assert set(res.table["signature"]) >= {f"{CYTOKINE_LABEL}, all_receptors", f"{CYTOKINE_LABEL}, unseen_receptors"}
    # what an ablation design trains on inside tiers 1-2: CytoSig without the held-out cytokines
    training = _ablation_module().training_cytokines(held, frozenset())
    assert not held & set(training.obs["perturbation"]) and training.n_obs + len(held) == len(split.test_masks[0])
    # ... and without the cytokines that enter through one of tier 2's held-out LINCS target genes
    receptors = {g for i in range(training.n_obs) for g in training.targets_of(i)}
    gene = sorted(receptors)[0]
    without = _ablation_module().training_cytokines(held, frozenset({gene}))
    assert 0 < without.n_obs < training.n_obs
    assert not any(gene in without.targets_of(i) for i in range(without.n_obs))


def test_multi_positive_auroc_and_recall_equal_their_definitions_on_synthetic_cytokines(net, resources):
    genes = list(net.genes)
    rng = np.random.default_rng(0)
    targets = [genes[0:3], genes[5:9], genes[20:22]]
    X = rng.normal(size=(3, len(genes)))
    data = _synthetic_perturbations(genes, targets, X)
    seen = frozenset({genes[0], genes[5], genes[6]})
    methods = make_methods(["de", "network_propagation"], resources)
    res = run_receptor_recovery(methods, data, seen, dataset="synthetic_cytokines", n_boot=20, seed=0)
    per = res.per_perturbation.set_index(["variant", "method", "perturbation"])
    candidates = pd.Index(genes)
    for method in methods:
        for i, t in enumerate(targets):
            scores = run_method(method, observed_response(data, i), candidates=candidates)
            labels = scores.index.isin(t)
            row = per.loc[("all_receptors", method.name, f"syn{i}@synthetic")]
            assert row["auroc"] == pytest.approx(roc_auc_score(labels, scores))
            if method.name == "de":  # |response| of every gene: continuous, no ties
                top10 = scores.sort_values(ascending=False).index[:10]
                assert row["recall_at_10"] == pytest.approx(np.isin(t, top10).mean())
            # unseen receptors: the seen ones are neither positives nor negatives
            keep = ~scores.index.isin(seen & set(t))
            unseen = per.loc[("unseen_receptors", method.name, f"syn{i}@synthetic")]
            assert unseen["auroc"] == pytest.approx(roc_auc_score(labels[keep], scores[keep]))
            assert unseen["target"] == ";".join(sorted(set(t) - seen))


def test_blind_cytokine_view_ranks_every_case_by_the_training_mean_alone(net, resources):
    genes = list(net.genes)
    rng = np.random.default_rng(1)
    targets = [genes[0:3], genes[5:9], genes[20:22]]
    data = _synthetic_perturbations(genes, targets, rng.normal(size=(3, len(genes))))
    common = pd.Series(rng.normal(size=len(genes)), index=genes)
    res = run_receptor_recovery(make_methods(["de"], resources), data, frozenset(), dataset="synthetic",
                                common=common, n_boot=20, seed=0)
    per = res.per_perturbation
    assert list(dict.fromkeys(per["variant"])) == ["all_receptors", "unseen_receptors", "case_blind", "specific",
                                                   "case_free"]
    free = per[per["variant"] == "case_free"].set_index("perturbation")
    pd.testing.assert_series_equal(free["auroc"], per[per["variant"] == "case_blind"].set_index("perturbation")["auroc"])
    blind = per[per["variant"] == "case_blind"].set_index("perturbation")
    for i, t in enumerate(targets):  # de ranks by |logFC|: blind, by |common| whatever the case
        assert blind.loc[f"syn{i}@synthetic", "auroc"] == pytest.approx(roc_auc_score(np.isin(genes, t), common.abs()))
        assert blind.loc[f"syn{i}@synthetic", "target"] == ";".join(sorted(t))


def test_one_positive_receptor_recovery_equals_tier2_lincs_definitions(net, resources):
    """With one target per row the multi-positive scoring gives tier 2's single-target values (LINCS unchanged). The
    targets' own transcripts are unmeasured, so tier 2's ``network_only`` (which leaves them out) ranks the same
    responses as the multi-positive scoring."""
    genes = list(net.genes)
    rng = np.random.default_rng(1)
    pert = genes[:8]
    X = rng.normal(scale=0.3, size=(len(pert), len(genes)))
    X[np.arange(8), np.arange(8)] = np.nan
    data = _synthetic_perturbations(genes, [[g] for g in pert], X)
    methods = make_methods(["de", "network_propagation", "twincell_prior"], resources)
    single = run_tier2(methods, data, dataset="synthetic", n_boot=20, seed=0)
    multi = run_receptor_recovery(methods, data, frozenset(), dataset="synthetic", n_boot=20, seed=0)
    a = single.per_perturbation[single.per_perturbation["variant"] == "network_only"].reset_index(drop=True)
    b = multi.per_perturbation[multi.per_perturbation["variant"] == "all_receptors"].reset_index(drop=True)
    pd.testing.assert_frame_equal(a[PER_CASE], b[PER_CASE])
    assert (a["recall_at_10"] == (a["rank"] <= 10)).all()
    ta = single.table[single.table["signature"] == "synthetic, network_only"].drop(columns="signature")
    ta = ta[~ta["metric"].str.endswith(("_tf", "_rich", "_sparse"))]  # LINCS's stratum rows (by class, by genes) aside
    tb = multi.table[multi.table["signature"] == "synthetic, all_receptors"].drop(columns="signature")
    pd.testing.assert_frame_equal(ta.reset_index(drop=True), tb.reset_index(drop=True))
