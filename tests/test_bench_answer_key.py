"""TwinBench never lets a method see the answer it is scored on: the drug-table controls score without the case's own
drugs (a held-out drug in tier 2, the disease's approved drugs in tier 3), and tier 2's LINCS view leaves out the
over-expressed gene's own transcript (tests in test_bench_tiers.py). Synthetic network and drug table throughout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twincell.bench import Resources, make_methods
from twincell.bench.diseases import clinical_tasks, drugless_when_hidden
from twincell.bench.metrics import empirical_p, forward_metrics
from twincell.bench.run import diseases_without_value
from twincell.bench.tier2 import positive_distances, receptor_cases, run_multi_target_recovery
from twincell.bench.tier3 import run_tier3
from twincell.data.drugs import DrugTargets
from twincell.data.signatures import Signature
from twincell.errors import SignatureError
from twincell.identify.inverse import align_change
from twincell.model.synthetic import synthetic_interactome
from test_bench_cytokines import _synthetic_perturbations


@pytest.fixture(scope="module")
def net():
    return synthetic_interactome(n_nodes=60, n_edges=200, seed=3)


@pytest.fixture(scope="module")
def drugs(net):
    """Synthetic drug table: one drug per gene of the first 30 (``syn-<gene>``, one indication each), and
    ``answer-x`` hitting genes 0 and 1 (two indications): without it every druggable gene has one drug."""
    genes = list(net.genes[:30])
    rows = [(i, f"syn-{g}", g) for i, g in enumerate(genes)] + [(99, "answer-x", genes[0]), (99, "answer-x", genes[1])]
    table = pd.DataFrame(rows, columns=["drug_id", "drug", "gene"]).assign(sign=-1, action_type="INHIBITOR")
    indications = pd.DataFrame({"drug_id": [*range(30), 99, 99], "indication": [*(f"i{i}" for i in range(30)), "a", "b"]})
    return DrugTargets(table, indications)


def test_without_drugs_drops_their_pairs_and_indications(drugs, net):
    hidden = drugs.without_drugs(["Answer-X"])  # names match as everywhere: any case
    assert 99 not in set(hidden.table["drug_id"]) and 99 not in set(hidden.indications["drug_id"])
    assert hidden.n_drugs_per_gene()[net.genes[0]] == 1 and drugs.n_drugs_per_gene()[net.genes[0]] == 2
    assert drugs.without_drugs(["no such drug"]) is drugs


def test_only_the_drug_table_controls_hide_drugs(drugs, net):
    druggability, popular, degree = make_methods(["druggability", "popular_targets", "degree"], Resources(net, drugs))
    assert degree.hiding_drugs(["answer-x"]) is degree and druggability.hiding_drugs([]) is druggability
    g0 = net.genes[0]
    assert druggability.hiding_drugs(["answer-x"]).scores[g0] == 1 < druggability.scores[g0]
    assert popular.hiding_drugs(["answer-x"]).scores[g0] == 1 < popular.scores[g0]


def test_tier3_drug_controls_score_without_the_disease_s_approved_drugs(drugs, net):
    """Genes 0 and 1 are DisA's approved targets through ``answer-x``: counting that drug ranks them first (AUROC
    1); hidden, every druggable gene has one drug and the control ties them (0.5). The disease key of the known
    directions matches case-insensitively."""
    genes = list(net.genes)
    rng = np.random.default_rng(0)
    sig = Signature(name="DisA_s1", logfc=pd.Series(rng.normal(size=len(genes)), index=genes, name="logfc"))
    targets = pd.DataFrame({"disease": ["DisA", "DisA"], "gene": genes[:2], "drugs": ["answer-x", "answer-x"]})
    tasks = clinical_tasks([sig], targets, pd.Index(genes))
    assert tasks[0].drugs == ("answer-x",)
    directions = pd.Series([-1, -1], index=pd.MultiIndex.from_tuples([("disa", genes[0]), ("disa", genes[1])]))
    methods = make_methods(["druggability", "popular_targets"], Resources(net, drugs))
    res = run_tier3(methods, tasks, drugs.druggable_genes(), directions=directions, n_boot=10, n_shuffles=5)
    get = res.table[res.table["signature"] == "mean"].set_index(["method", "metric"])["value"]
    assert get["druggability", "auroc_druggable"] == 0.5 and get["popular_targets", "auroc_druggable"] == 0.5
    assert get["druggability", "direction_accuracy"] == 1.0  # "inhibit" for both: the known directions were found
    told = clinical_tasks([sig], targets.drop(columns="drugs"), pd.Index(genes))  # no drug column: nothing to hide
    res = run_tier3(methods[:1], told, drugs.druggable_genes(), n_boot=10, n_shuffles=5)
    assert res.table.query("signature == 'mean' and metric == 'auroc_druggable'")["value"].item() == 1.0


def test_drugless_when_hidden_counts_what_the_drug_controls_are_left_with(drugs, net):
    """DisA's targets (genes 0, 1) keep their ``syn-`` drug once ``answer-x`` is hidden; DisB's target gene 40 has no
    drug at all (for DisA it is a negative without a drug) and gene 41's only drug is DisB's own ``answer-y``, which
    also hits gene 42, a negative."""
    genes = list(net.genes)
    table = pd.concat([drugs.table, pd.DataFrame({"drug_id": [98, 98], "drug": ["answer-y"] * 2,
                                                  "gene": [genes[41], genes[42]], "sign": -1,
                                                  "action_type": "INHIBITOR"})], ignore_index=True)
    extended = DrugTargets(table, drugs.indications)
    sig = {d: Signature(name=f"{d}_s1", logfc=pd.Series(1.0, index=genes, name="logfc")) for d in ("DisA", "DisB")}
    targets = pd.DataFrame({"disease": ["DisA", "DisA", "DisB", "DisB"], "gene": [genes[0], genes[1], genes[40], genes[41]],
                            "drugs": ["answer-x", "answer-x", "answer-y", "answer-y"]})
    tasks = clinical_tasks(list(sig.values()), targets, pd.Index(genes))
    universe = extended.druggable_genes() | set(targets["gene"])
    counts = drugless_when_hidden(tasks, extended, universe)
    assert counts.loc["DisA"].tolist() == [2, 0, len(universe) - 2, 1]  # DisA's drugless negative: gene 40
    assert counts.loc["DisB"].tolist() == [2, 2, len(universe) - 2, 1]  # DisB's: gene 42


def test_tier2_drug_cases_hide_their_own_drug_from_the_drug_controls(drugs, net):
    genes = list(net.genes)
    X = np.random.default_rng(1).normal(size=(1, len(genes)))
    data = _synthetic_perturbations(genes, [genes[:2]], X)
    data.adata.obs["perturbation_type"] = "drug"
    data.adata.obs["perturbation"] = "answer-x"
    views, _ = receptor_cases(data, pd.Index(genes), negatives=frozenset(drugs.druggable_genes()))
    assert all(case.drugs == ("answer-x",) for _, case in views[0])
    res = run_multi_target_recovery(make_methods(["druggability"], Resources(net, drugs)), [(data, None)], frozenset(),
                                    dataset="synthetic drugs", variants={"all_targets": False},
                                    negatives=frozenset(drugs.druggable_genes()))
    assert res.per_perturbation["auroc"].item() == 0.5  # not 1.0: its own drug's pairs are hidden


def test_the_top_pick_and_the_random_pick_come_from_the_genes_a_case_scores(drugs, net):
    """``degree`` picks its highest-degree gene among the druggable negatives and positives only (the network's
    hubs outside them are neither), and ``distance_random`` averages over those genes."""
    genes = list(net.genes)
    data = _synthetic_perturbations(genes, [genes[:2]], np.random.default_rng(2).normal(size=(1, len(genes))))
    allowed = frozenset(drugs.druggable_genes())
    res = run_multi_target_recovery(make_methods(["degree"], Resources(net, drugs)), [(data, None)], frozenset(),
                                    dataset="synthetic", variants={"all_receptors": False}, negatives=allowed)
    row = res.per_perturbation.iloc[0]
    distance = positive_distances(net, [genes[:2]])[0]
    degree = net.degree("ppi").reindex(genes)
    pickable = np.isin(genes, list(allowed))
    top = pickable & (degree.to_numpy() == degree[pickable].max())
    others = pickable & ~np.isin(genes, genes[:2]) & ~np.isnan(distance)
    assert row["distance_top1"] == pytest.approx(np.nanmean(distance[top]))
    assert row["distance_random"] == pytest.approx(distance[others].mean())


def test_a_desired_change_on_other_gene_ids_is_mapped_to_symbols():
    genes = pd.Index(["STAT1", "TP53", "EGFR"])
    d, present, absent = align_change(pd.Series({"ENSG00000141510": 1.0, "egfr": -2.0, "NOT_A_GENE_X": 3.0}), genes)
    np.testing.assert_array_equal(d, [0.0, 1.0, -2.0])
    assert present.tolist() == [False, True, True] and absent == ["NOT_A_GENE_X"]
    # network symbols (or any HGNC symbols) are used as given
    d, _, absent = align_change(pd.Series({"TP53": 1.0, "MX1": 2.0}), genes)
    assert d.tolist() == [0.0, 1.0, 0.0] and absent == ["MX1"]


def test_nothing_measured_is_never_significant_and_a_constant_prediction_scores_zero():
    assert np.isnan(empirical_p(np.nan, np.array([0.1, 0.2])))
    assert empirical_p(0.9, np.array([0.1, 0.2])) == pytest.approx(1 / 3)
    obs = np.array([1.0, -2.0, 0.5, 3.0])
    metrics = forward_metrics(obs, np.zeros(4), np.full(4, 0.1))
    assert metrics["pearson"] == 0.0 and metrics["pearson_top20"] == 0.0


def test_skill_means_over_fewer_diseases_are_named():
    rows = [("m", "A", "auroc_druggable", 0.7), ("m", "B", "auroc_druggable", 0.6),
            ("m", "A", "auroc_druggable_unseen", 0.8), ("m", "B", "auroc_druggable_unseen", np.nan),
            ("m", "combined", "mode_collapse_fisher_p_druggable", 0.1)]
    table = pd.DataFrame([{"tier": 3, "method": m, "disease": d, "signature": "mean", "metric": k, "value": v}
                          for m, d, k, v in rows])
    assert diseases_without_value(table) == {"auroc_druggable_unseen": ["B"]}
    assert diseases_without_value(table[table["disease"] != "B"]) == {}


def test_network_genes_are_used_as_given_and_one_gene_under_two_ids_is_refused(net):
    """Only IDs outside the network are mapped: a synthetic network's own names stay, an unknown extra is absent."""
    genes = pd.Index(net.genes[:4])
    d, present, absent = align_change(pd.Series([1.0, 2.0, 3.0], index=[*genes[:2], "EXTRA_UNKNOWN"]), genes)
    assert d.tolist() == [1.0, 2.0, 0.0, 0.0] and absent == ["EXTRA_UNKNOWN"]
    d, _, absent = align_change(pd.Series([1.0, 2.0], index=[genes[0], "TP53"]), genes)
    assert d.tolist() == [1.0, 0.0, 0.0, 0.0] and absent == ["TP53"]
    with pytest.raises(SignatureError, match="one gene under several IDs: TP53 <- TP53, ENSG00000141510"):
        align_change(pd.Series({"TP53": 1.0, "ENSG00000141510": -2.0, "EGFR": 0.5}), pd.Index(["TP53", "EGFR"]))


def test_hiding_a_drug_hides_its_salt_forms():
    table = pd.DataFrame({"drug_id": [1, 2, 3, 4], "gene": ["NR3C1", "NR3C1", "NR3C1", "EGFR"],
                          "drug": ["prednisolone", "prednisolone acetate", "prednisolone sodium phosphate", "erlotinib"],
                          "sign": 1, "action_type": "AGONIST"})
    hidden = DrugTargets(table).without_drugs(["Prednisolone"])
    assert set(hidden.table["drug"]) == {"erlotinib"}
