"""TwinBench method registry, the shared run_method entry, and each baseline on a case with a known answer."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from twincell.bench import METHODS, Method, Resources, list_methods, make_methods, register_method, run_method
from twincell.bench.methods import check_method_names, prepare_signature
from twincell.data.drugs import DrugTargets
from twincell.data.perturbation import PerturbationDataset
from twincell.data.signatures import Signature
from twincell.errors import SignatureError, TwinCellError
from twincell.network import Interactome

EXPECTED = {"twincell", "twincell_prior", "linear", "network_propagation", "de", "degree", "druggability",
            "popular_targets", "random", "mean", "training_exposure", "random_sign_prior", "twincell_calibrated",
            "twincell_centered", "twincell_common_response", "twincell_reach", "twincell_share", "twincell_blend", "tf_activity",
            "neighbourhood", "connectivity", "connectivity_drugs", "connectivity_drugs_centred",
            "connectivity_drugs_partners", "mean_shrunk", "background"}


def synthetic_network() -> Interactome:
    """Synthetic graph: hub SYNH linked to S1..S5; seed SYNA linked to SYNB, SYNC; SYNC - SYND - SYNE chain."""
    pairs = [("SYNH", f"SYNS{i}") for i in range(1, 6)] + [("SYNA", "SYNB"), ("SYNA", "SYNC"), ("SYNC", "SYND"),
                                                           ("SYND", "SYNE"), ("SYNE", "SYNH")]
    rows = [(a, b) for a, b in pairs] + [(b, a) for a, b in pairs]
    edges = pd.DataFrame(rows, columns=["source", "target"]).assign(
        weight=1.0, sign=0, directed=False, layer="ppi", sources="synthetic")
    return Interactome(edges)


def synthetic_drugs() -> DrugTargets:
    """Synthetic drug table: SYNB hit by 3 drugs, SYNS1 by 1; drug 1 has 4 indications, drug 4 has 1."""
    table = pd.DataFrame({"drug_id": [1, 2, 3, 4], "drug": ["syn-a", "syn-b", "syn-c", "syn-d"],
                          "gene": ["SYNB", "SYNB", "SYNB", "SYNS1"], "sign": [-1, -1, 1, -1], "action_type": "INHIBITOR"})
    indications = pd.DataFrame({"drug_id": [1, 1, 1, 1, 4], "indication": ["i1", "i2", "i3", "i4", "i1"]})
    return DrugTargets(table, indications)


@pytest.fixture
def resources() -> Resources:
    return Resources(synthetic_network(), synthetic_drugs(), seed=0)


def sig(values: dict[str, float], name: str = "synthetic") -> Signature:
    return Signature(name=name, logfc=pd.Series(values, dtype=float, name="logfc"))


def test_registry_lists_every_method_once():
    table = list_methods()
    assert EXPECTED <= set(table["name"]) and table["name"].is_unique
    assert {"name", "description", "needs_training", "sees_input", "tiers", "reference"} <= set(table.columns)
    controls = table.set_index("name").loc[["degree", "druggability", "popular_targets", "random"], "sees_input"]
    assert not controls.any()
    assert table.set_index("name").loc["mean", "tiers"] == "1"


def test_register_method_rejects_taken_names_and_missing_metadata():
    class Impostor(Method):
        name = "degree"
        description = "not the degree control"

    class Nameless(Method):
        description = "no name"

    with pytest.raises(TwinCellError, match="already registered"):
        register_method(Impostor)
    with pytest.raises(TwinCellError, match="no name"):
        register_method(Nameless)
    assert METHODS["degree"].__name__ == "Degree"


def test_make_methods_names_unknown_methods(resources):
    with pytest.raises(TwinCellError, match="unknown method.*nope"):
        make_methods(["de", "nope"], resources)


def test_method_names_are_read_once_each_and_a_string_as_a_list():
    assert check_method_names("degree, de") == ["degree", "de"]
    with pytest.raises(TwinCellError, match="method\\(s\\) named twice: degree"):
        check_method_names(["degree", "de", "degree"])
    with pytest.raises(TwinCellError, match="seed must be at least 0"):
        Resources(synthetic_network(), synthetic_drugs(), seed=-1)


def test_tier3_inputs_are_checked_before_tiers_1_and_2_run(monkeypatch, tmp_path):
    """A missing signature file, or no method that ranks targets, stops the run before any tier trains."""
    from twincell.bench import run

    def no_tier_may_run(*args, **kwargs):
        raise AssertionError("tiers 1-2 ran before tier 3's inputs were checked")

    monkeypatch.setattr(run, "_run_seed", no_tier_may_run)
    with pytest.raises(TwinCellError, match="does not exist"):
        run.run_benchmark(tiers=[1, 2, 3], methods=["degree"], signature_files=[tmp_path / "SLE_missing.tsv"])
    with pytest.raises(TwinCellError, match="no method named ranks targets"):
        run.run_benchmark(tiers=[1, 3], methods=["mean"])


def test_run_method_scores_every_candidate_and_puts_unscored_genes_last(resources):
    (de,) = make_methods(["de"], resources)
    scores = run_method(de, sig({"SYNB": -2.0, "SYND": 1.0, "NOT_A_NODE": 5.0}))
    assert list(scores.index) == list(resources.network.genes) and scores.name == "de"
    assert scores.idxmax() == "SYNB"
    unscored = scores.drop(["SYNB", "SYND"])
    assert unscored.nunique() == 1 and unscored.iloc[0] < scores["SYND"]


def test_run_method_validates_method_output(resources):
    class Broken(Method):
        name = "synthetic_broken"
        description = "returns a list"

        def rank_targets(self, signature, context=None):
            return [1, 2, 3]

    with pytest.raises(TwinCellError, match="not a numeric Series"):
        run_method(Broken(resources), sig({"SYNA": 1.0}))


def test_prepare_signature_maps_ids_and_rejects_bad_input():
    s = prepare_signature(pd.Series({"ENSG00000141510": 1.5, "egfr": -2.0}, name="mixed"))
    assert s.logfc.to_dict() == {"TP53": 1.5, "EGFR": -2.0}
    with pytest.raises(SignatureError, match="one gene under several IDs: TP53 <- ENSG00000141510, tp53"):
        prepare_signature(pd.Series({"ENSG00000141510": 1.5, "tp53": 0.5, "EGFR": -2.0}, name="mixed"))
    with pytest.raises(SignatureError, match="missing or non-numeric"):
        prepare_signature(pd.Series({"EGFR": np.nan, "TP53": 1.0}))
    with pytest.raises(SignatureError, match="empty"):
        prepare_signature(pd.Series(dtype=float))
    with pytest.raises(SignatureError, match="all zero"):
        prepare_signature(pd.Series({"EGFR": 0.0}))
    with pytest.raises(SignatureError, match="must be a pandas Series"):
        prepare_signature({"EGFR": 1.0})
    with pytest.raises(SignatureError, match="more than once: EGFR"):
        prepare_signature(pd.Series([1.0, 2.0], index=["EGFR", "EGFR"]))


@pytest.mark.parametrize("values, message", [({"EGFR": np.nan, "TP53": 1.0}, "missing or non-numeric"),
                                             ({"EGFR": 0.0}, "all zero"), ({"EGFR": 5000.0}, "exceed")])
def test_a_read_signature_gets_the_same_checks_as_a_series(values, message):
    """A :class:`Signature` built by hand is checked like a raw Series: no method sees NaN, zeros or absurd values."""
    logfc = pd.Series(values, name="logfc")
    with pytest.raises(SignatureError, match=message):
        prepare_signature(Signature(name="hand-made", logfc=logfc))
    with pytest.raises(SignatureError, match=message):
        prepare_signature(logfc)


def test_network_propagation_ranks_the_seeds_neighbours_first(resources):
    (rwr,) = make_methods(["network_propagation"], resources)
    order = list(run_method(rwr, sig({"SYNA": 1.0})).sort_values(ascending=False).index)
    assert order[0] == "SYNA"
    assert set(order[1:3]) == {"SYNB", "SYNC"}
    assert order.index("SYND") < order.index("SYNE") < order.index("SYNS1")


def test_network_propagation_needs_a_seed_in_the_network(resources):
    (rwr,) = make_methods(["network_propagation"], resources)
    with pytest.raises(TwinCellError, match="no changed gene"):
        run_method(rwr, sig({"ELSEWHERE": 1.0}))


def test_neighbourhood_is_the_mean_change_of_the_measured_neighbours(resources):
    (local,) = make_methods(["neighbourhood"], resources)
    scores = run_method(local, sig({"SYNA": -2.0, "SYND": 1.0, "SYNS1": 0.5, "SYNS2": 0.0}))
    # SYNC's measured neighbours: SYNA (|-2|) and SYND (1); SYNH's: SYNS1 (0.5), SYNS2 (0, measured); its own
    # change never counts (SYNA's only measured neighbour is none: SYNB and SYNC are not in the signature)
    assert scores["SYNC"] == pytest.approx(1.5) and scores["SYNH"] == pytest.approx(0.25)
    assert scores["SYNB"] == pytest.approx(2.0) and scores["SYNE"] == pytest.approx(1.0)
    assert scores["SYNA"] == 0.0 and scores["SYNS3"] == pytest.approx(0.0)
    with pytest.raises(TwinCellError, match="no gene of signature"):
        run_method(local, sig({"ELSEWHERE": 1.0}))


def test_de_ranks_by_absolute_change(resources):
    (de,) = make_methods(["de"], resources)
    scores = run_method(de, sig({"SYNA": 0.5, "SYNB": -3.0, "SYNC": 1.0}))
    assert list(scores.sort_values(ascending=False).index[:3]) == ["SYNB", "SYNC", "SYNA"]


def test_controls_ignore_the_signature(resources):
    degree, drug, popular = make_methods(["degree", "druggability", "popular_targets"], resources)
    for method in (degree, drug, popular):
        a, b = run_method(method, sig({"SYNA": 1.0})), run_method(method, sig({"SYNE": -4.0}))
        pd.testing.assert_series_equal(a, b)
    assert run_method(degree, sig({"SYNA": 1.0})).idxmax() == "SYNH"
    drug_scores = run_method(drug, sig({"SYNA": 1.0}))
    assert drug_scores["SYNB"] > drug_scores["SYNS1"] > drug_scores["SYNA"]  # 3 drugs > 1 drug > none
    pop = run_method(popular, sig({"SYNA": 1.0}))
    assert pop["SYNB"] == 4 and pop["SYNS1"] == 1 and pop["SYNA"] < 1


def test_disease_blind_directions_of_the_druggability_and_popular_targets_controls(resources):
    drug, popular, degree = make_methods(["druggability", "popular_targets", "degree"], resources)
    genes = pd.Index(resources.network.genes)
    for method in (drug, popular):
        a, b = method.target_directions(sig({"SYNA": 1.0}).logfc), method.target_directions(sig({"SYNE": -4.0}).logfc)
        pd.testing.assert_series_equal(a, b)
        assert a.index.equals(genes)
    assert (drug.target_directions(sig({"SYNA": 1.0}).logfc) == -1).all()  # inhibit everything
    turned = popular.target_directions(sig({"SYNA": 1.0}).logfc)
    assert turned["SYNB"] == -1 and turned["SYNS1"] == -1 and turned["SYNA"] == -1  # 2 of 3 inhibit; 1 of 1; none
    with pytest.raises(TwinCellError, match="gives no direction"):
        degree.target_directions(sig({"SYNA": 1.0}).logfc)


def test_popular_targets_majority_direction_counts_distinct_drugs_and_breaks_ties_to_inhibit():
    table = pd.DataFrame({"drug_id": [1, 2, 3, 4, 5, 6], "drug": [f"syn-{i}" for i in range(6)],
                          "gene": ["SYNA", "SYNA", "SYNB", "SYNB", "SYNC", "SYND"], "sign": [1, 1, 1, -1, 0, 1],
                          "action_type": "synthetic"})  # SYNA 2 agonists; SYNB tie; SYNC unknown; SYND 1 agonist
    popular = METHODS["popular_targets"](Resources(synthetic_network(), DrugTargets(table), seed=0))
    turned = popular.target_directions(sig({"SYNA": 1.0}).logfc)
    assert turned[["SYNA", "SYNB", "SYNC", "SYND", "SYNE"]].tolist() == [1, -1, -1, 1, -1]


def test_popular_targets_directions_follow_the_bundled_drug_table(interactome):
    drugs = DrugTargets.universe()
    popular = METHODS["popular_targets"](Resources(interactome, drugs, seed=0))
    turned = popular.target_directions(pd.Series({"STAT1": 1.0}))
    actions = drugs.per_gene()["drug_actions"]
    # glucocorticoids are NR3C1 agonists; JAK inhibitors inhibit JAK1
    assert "agonist" in actions["NR3C1"] and turned["NR3C1"] == 1
    assert "inhibitor" in actions["JAK1"] and turned["JAK1"] == -1
    assert set(turned.unique()) == {-1, 1} and (turned == 1).sum() < (turned == -1).sum()


def test_random_is_fresh_per_call_but_seeded(resources):
    r1, r2 = METHODS["random"](resources), METHODS["random"](resources)
    a1, a2 = run_method(r1, sig({"SYNA": 1.0})), run_method(r1, sig({"SYNA": 1.0}))
    assert not a1.equals(a2)
    pd.testing.assert_series_equal(a1, run_method(r2, sig({"SYNA": 1.0})))


def synthetic_linear_data(n_genes: int = 40, rank: int = 3, seed: int = 0) -> tuple[PerturbationDataset, np.ndarray]:
    """Synthetic over-expression of every gene with response G W G[target] (a low-rank bilinear truth)."""
    rng = np.random.default_rng(seed)
    genes = [f"SYN{i:04d}" for i in range(n_genes)]
    G = rng.normal(size=(n_genes, rank))
    W = rng.normal(size=(rank, rank))
    X = (G @ W @ G.T).T  # row t = response to perturbing gene t
    obs = pd.DataFrame({"perturbation": genes, "perturbation_type": "overexpression",
                        "targets": [f"{g}:+1" for g in genes], "context": "synthetic", "dose": np.nan,
                        "dataset": "synthetic_linear"})
    adata = ad.AnnData(X.astype(np.float32), obs=obs.set_index(obs["perturbation"].rename(None)),
                       var=pd.DataFrame(index=pd.Index(genes, name="gene")))
    adata.uns.update({"value_type": "zscore", "rank_derived": False, "source": "synthetic_linear",
                      "provenance": {"origin": "synthetic"}, "unmapped_genes": [], "unmatched_perturbations": []})
    ds = PerturbationDataset(adata, validate=False)
    ds.validate(check_genes=False)  # synthetic gene names are not HGNC symbols
    return ds, X


def test_linear_baseline_predicts_unseen_perturbations_and_its_inverse_matches_its_forward(resources):
    data, X = synthetic_linear_data()
    train, test = data.subset(np.arange(30)), data.subset(np.arange(30, 40))
    (lin,) = make_methods(["linear"], resources)
    assert not lin.is_fitted
    lin.fit(train)
    pred = lin.predict_response(test).to_numpy()
    r = [np.corrcoef(p, o)[0, 1] for p, o in zip(pred, X[30:])]
    assert np.median(r) > 0.9
    d = pd.Series(X[35], index=data.genes)
    scores = lin.rank_targets(d)
    brute = np.abs(lin.predict_response(data).to_numpy() @ d.to_numpy() - lin.b.to_numpy() @ d.to_numpy())
    np.testing.assert_allclose(scores.reindex(data.genes).to_numpy(), brute, rtol=1e-8, atol=1e-8)


def test_mean_baseline_uses_the_perturbations_own_mean_when_seen(resources):
    data, X = synthetic_linear_data(n_genes=6)
    (mean,) = make_methods(["mean"], resources)
    mean.fit(data.subset(np.arange(4)))
    pred = mean.predict_response(data).to_numpy()
    np.testing.assert_allclose(pred[2], X[2], rtol=1e-5)  # float32 storage
    np.testing.assert_allclose(pred[5], X[:4].mean(axis=0), rtol=1e-5)
    with pytest.raises(TwinCellError, match="does not rank"):
        mean.rank_targets(pd.Series({"SYN0001": 1.0}))


def test_twincell_prior_ranks_like_identify_on_the_untrained_operator():
    from twincell.identify import rank_targets
    from twincell.model import TwinCell
    from twincell.model.synthetic import synthetic_interactome

    net = synthetic_interactome(n_nodes=30, n_edges=90, seed=1)
    res = Resources(net, synthetic_drugs(), seed=0)
    prior, trained = make_methods(["twincell_prior", "twincell"], Resources(net, synthetic_drugs(), seed=0,
                                                                           model=TwinCell.prior(net)))
    signature = pd.Series(np.linspace(-1, 1, 10), index=net.genes[10:20])
    scores = run_method(prior, sig(signature.to_dict()))
    expected = rank_targets(TwinCell.prior(net), -signature, direction="both", drug_targets=res.drugs)
    pd.testing.assert_series_equal(scores.sort_index(), expected.set_index("gene")["score"].sort_index(),
                                   check_names=False)
    assert trained.is_fitted and prior.predicts_response


def test_rank_targets_many_equals_one_signature_at_a_time():
    from twincell.bench.methods import run_method_many
    from twincell.model import TwinCell
    from twincell.model.synthetic import synthetic_interactome

    net = synthetic_interactome(n_nodes=30, n_edges=90, signed_share=0.3, seed=1)
    res = Resources(net, synthetic_drugs(), seed=0, model=TwinCell.prior(net))
    rng = np.random.default_rng(0)
    sigs = [sig(dict(zip(net.genes[rng.choice(30, 8, replace=False)], rng.normal(size=8))), name=f"synthetic{i}")
            for i in range(4)]
    data, _ = synthetic_linear_data(n_genes=30)
    for method in make_methods(["twincell", "random_sign_prior", "network_propagation", "de", "degree", "linear"], res):
        if method.name == "linear":
            method.fit(data)
        many = run_method_many(method, sigs)
        assert list(many.columns) == [s.name for s in sigs]
        for s in sigs:
            np.testing.assert_allclose(many[s.name].to_numpy(), run_method(method, s).to_numpy(), rtol=1e-10, atol=1e-12)


def test_random_sign_prior_opens_the_unsigned_edges_with_seeded_signs():
    from twincell.model import TwinCell
    from twincell.model.synthetic import synthetic_interactome

    net = synthetic_interactome(n_nodes=30, n_edges=90, signed_share=0.3, seed=1)
    (a,) = make_methods(["random_sign_prior"], Resources(net, synthetic_drugs(), seed=0))
    (b,) = make_methods(["random_sign_prior"], Resources(net, synthetic_drugs(), seed=0))
    (c,) = make_methods(["random_sign_prior"], Resources(net, synthetic_drugs(), seed=1))
    prior = TwinCell.prior(net).operator().A
    A = a.model.operator().A
    unsigned = (net.edges["sign"].to_numpy() == 0) & net.layer_mask("ppi")
    assert unsigned.any() and A.nnz == prior.nnz + unsigned.sum()  # every unsigned PPI edge now transmits
    signs = np.sign(A[net.dst[unsigned], net.src[unsigned]].A1)
    assert set(signs) == {-1.0, 1.0}
    assert (A != b.model.operator().A).nnz == 0 and (A != c.model.operator().A).nnz > 0
    known = ~unsigned & net.layer_mask("ppi")
    np.testing.assert_array_equal(np.sign(A[net.dst[known], net.src[known]].A1), net.edges["sign"].to_numpy()[known])
    direction = a.target_directions(pd.Series({net.genes[3]: 1.0}))
    assert set(np.unique(direction)) <= {-1.0, 0.0, 1.0} and (direction != 0).any()


def test_training_exposure_counts_the_examples_that_perturbed_each_gene(resources):
    from twincell.bench.exposure import perturbation_target_counts

    data, _ = synthetic_linear_data(n_genes=4)
    data.obs["targets"] = ["SYN0000:+1;SYN0001:-1", "SYN0000:-1", "SYN0002:0", ""]
    counts = perturbation_target_counts([data, data])
    assert counts.to_dict() == {"SYN0000": 4, "SYN0001": 2}  # sign 0 is no perturbation; two datasets add up
    res = Resources(resources.network, resources.drugs, training_exposure=pd.Series({"SYNB": 3, "SYNA": 1}))
    (control,) = make_methods(["training_exposure"], res)
    scores = run_method(control, sig({"SYNE": 1.0}))
    assert scores["SYNB"] == 3 and scores["SYNA"] == 1 and (scores.drop(["SYNA", "SYNB"]) < 1).all()


def test_twincell_calibrated_scores_are_identify_shuffle_calibrated_scores():
    """The bench variant ranks exactly as ``rank_targets(..., null="shuffle")`` with the same shuffles and seed."""
    from twincell.bench.methods import run_method_many
    from twincell.identify import rank_targets
    from twincell.model import TwinCell
    from twincell.model.synthetic import synthetic_interactome

    net = synthetic_interactome(n_nodes=30, n_edges=90, signed_share=0.6, seed=1)
    res = Resources(net, synthetic_drugs(), seed=0, model=TwinCell.prior(net))
    raw, calibrated = make_methods(["twincell", "twincell_calibrated"], res)
    rng = np.random.default_rng(3)
    sigs = [sig(dict(zip(net.genes[rng.choice(30, 10, replace=False)], rng.normal(size=10))), name=f"synthetic{i}")
            for i in range(3)]
    many = run_method_many(calibrated, sigs)
    for s in sigs:
        ranking = rank_targets(res.model, -s.logfc, null="shuffle", n_null=calibrated.n_null, seed=0).set_index("gene")
        np.testing.assert_allclose(many[s.name].to_numpy(), ranking["score"].reindex(net.genes).to_numpy(),
                                   rtol=1e-9, atol=1e-12)
        assert not np.allclose(many[s.name].to_numpy(), run_method(raw, s).to_numpy())


def test_twincell_centered_scores_are_identify_centred_scores():
    """The bench variant ranks exactly as ``rank_targets(..., null="center")``, signatures of different
    gene sets centred each on its own genes in one batched adjoint, with and without the own transcript."""
    from twincell.bench.methods import run_method_many
    from twincell.identify import rank_targets
    from twincell.model import TwinCell
    from twincell.model.synthetic import synthetic_interactome

    net = synthetic_interactome(n_nodes=30, n_edges=90, signed_share=0.6, seed=1)
    res = Resources(net, synthetic_drugs(), seed=0, model=TwinCell.prior(net))
    raw, centred = make_methods(["twincell", "twincell_centered"], res)
    assert centred.null == "center" and centred.needs_training
    rng = np.random.default_rng(4)
    sigs = [sig(dict(zip(net.genes[rng.choice(30, 6 + 2 * i, replace=False)], rng.normal(1.0, 1.0, 6 + 2 * i))),
                name=f"synthetic{i}") for i in range(3)]
    many = run_method_many(centred, sigs)
    for s in sigs:
        ranking = rank_targets(res.model, -s.logfc, null="center").set_index("gene")
        np.testing.assert_allclose(many[s.name].to_numpy(), ranking["score"].reindex(net.genes).to_numpy(),
                                   rtol=1e-9, atol=1e-12)
        assert not np.allclose(many[s.name].to_numpy(), run_method(raw, s).to_numpy())
    own = centred.own_transcript_variant()
    self_weight = float(res.model.module.self_weight.detach())
    assert self_weight != 0.0  # the self term is exercised
    signed = own.signed_scores([sigs[0].logfc])[0]
    reference = rank_targets(res.model, -sigs[0].logfc, direction="activate", null="center").set_index("gene")
    centred_change = (-sigs[0].logfc - (-sigs[0].logfc).mean()).reindex(net.genes, fill_value=0.0)
    np.testing.assert_allclose(signed.to_numpy(), reference["score"].reindex(net.genes).to_numpy()
                               + self_weight * centred_change.to_numpy(), rtol=1e-9, atol=1e-12)


def test_twincell_reach_scores_are_twincell_scores_over_reach():
    """``twincell_reach`` is ``twincell``'s signed adjoint score divided node by node by the operator's reach plus
    the median reach, for every signature of a batch; its |score| order differs from the plain one."""
    from twincell.identify.null import reach
    from twincell.model import TwinCell
    from twincell.model.synthetic import synthetic_interactome

    net = synthetic_interactome(n_nodes=30, n_edges=90, signed_share=0.6, seed=1)
    res = Resources(net, synthetic_drugs(), seed=0, model=TwinCell.prior(net))
    raw, scaled = make_methods(["twincell", "twincell_reach"], res)
    rng = np.random.default_rng(5)
    sigs = [pd.Series(rng.normal(size=8), index=net.genes[rng.choice(30, 8, replace=False)]) for _ in range(3)]
    r = reach(res.model.operator(None))
    expected = raw.signed_scores(sigs).to_numpy() / (r + np.median(r[r > 0]))[:, None]
    np.testing.assert_allclose(scaled.signed_scores(sigs).to_numpy(), expected, rtol=1e-12)
    assert not (scaled.rank_targets(sigs[0]).rank().to_numpy() == raw.rank_targets(sigs[0]).rank().to_numpy()).all()


def test_twincell_share_is_the_unsigned_adjoint_of_the_changes_over_reach_signed_by_the_alignment():
    """``twincell_share``: size = unsigned adjoint of |d| / (reach + median reach), sign = ``twincell``'s score."""
    from twincell.bench.learned import desired_changes
    from twincell.identify.null import reach, unsigned_adjoint
    from twincell.model import TwinCell
    from twincell.model.synthetic import synthetic_interactome

    net = synthetic_interactome(n_nodes=30, n_edges=90, signed_share=0.6, seed=1)
    res = Resources(net, synthetic_drugs(), seed=0, model=TwinCell.prior(net))
    raw, share = make_methods(["twincell", "twincell_share"], res)
    rng = np.random.default_rng(6)
    sigs = [pd.Series(rng.normal(size=8), index=net.genes[rng.choice(30, 8, replace=False)]) for _ in range(3)]
    op = res.model.operator(None)
    D, _ = desired_changes(sigs, pd.Index(op.genes.astype(str)))
    r = reach(op)
    size = unsigned_adjoint(op, np.abs(D)) / (r + np.median(r[r > 0]))[:, None]
    expected = np.sign(raw.signed_scores(sigs).to_numpy()) * size
    np.testing.assert_allclose(share.signed_scores(sigs).to_numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(np.sign(share.signed_scores(sigs).to_numpy()), np.sign(raw.signed_scores(sigs).to_numpy()))


def test_twincell_blend_is_the_mean_of_the_plain_and_share_ranks_signed_by_the_alignment():
    from scipy.stats import rankdata

    from twincell.model import TwinCell
    from twincell.model.synthetic import synthetic_interactome

    net = synthetic_interactome(n_nodes=30, n_edges=90, signed_share=0.6, seed=1)
    res = Resources(net, synthetic_drugs(), seed=0, model=TwinCell.prior(net))
    raw, share, blend = make_methods(["twincell", "twincell_share", "twincell_blend"], res)
    rng = np.random.default_rng(7)
    sigs = [pd.Series(rng.normal(size=8), index=net.genes[rng.choice(30, 8, replace=False)]) for _ in range(3)]
    plain, shared = raw.signed_scores(sigs).to_numpy(), share.signed_scores(sigs).to_numpy()
    expected = np.sign(plain) * (rankdata(np.abs(plain), axis=0) + rankdata(np.abs(shared), axis=0)) / 2
    np.testing.assert_allclose(blend.signed_scores(sigs).to_numpy(), expected)


def test_designs_that_failed_their_rule_run_only_when_named():
    """Issue 12's failed score designs, and the forward predictions a design replaced (round 20's ablation), stay
    registered (runnable by name) but out of a default TwinBench run, so a default run does not score them on tier 3;
    everything else runs by default."""
    from twincell.bench.methods import default_method_names

    failed = {"twincell_reach", "twincell_share", "twincell_blend", "twincell_footprint_share",
              "twincell_prior_footprint", "twincell_known_direction", "twincell_progeny", "twincell_top",
              "twincell_joint_shrinkage", "connectivity_drugs_centred", "connectivity_drugs_partners"}
    table = list_methods().set_index("name")
    assert not table.loc[sorted(failed), "in_default_run"].any()
    assert set(default_method_names()) == set(METHODS) - failed
    assert {"twincell", "tf_activity", "twincell_common_response"} <= set(default_method_names())


def test_connectivity_reverses_with_the_measured_responses_of_the_perturbed_genes(resources):
    """Synthetic training rows: SYNA over-expressed twice (responses y and 0.5 y), SYNB knocked down once (response
    z orthogonal to y), SYNC and SYND together by one activating drug (response y + z). A signature equal to y is
    reversed by inhibiting SYNA (cosine -1 on both of its rows) and its signed score is exactly the mean of the rows'
    signed cosines; genes no row perturbed get no score."""
    genes = [f"SYN{g}" for g in "VWXYZ"]
    y, z = np.array([1.0, -1.0, 0.0, 0.0, 2.0]), np.array([1.0, 1.0, 0.0, 0.0, 0.0])
    X = np.vstack([y, 0.5 * y, z, y + z])
    obs = pd.DataFrame({"perturbation": ["oe_a1", "oe_a2", "kd_b", "drug_cd"],
                        "perturbation_type": ["overexpression", "overexpression", "knockdown", "drug"],
                        "targets": ["SYNA:+1", "SYNA:+1", "SYNB:-1", "SYNC:+1;SYND:+1"],
                        "context": "ctx", "dose": np.nan, "dataset": "synthetic"}, index=[f"r{i}" for i in range(4)])
    adata = ad.AnnData(X=X.astype(np.float32), obs=obs, var=pd.DataFrame(index=pd.Index(genes, name="gene")))
    adata.uns.update({"value_type": "zscore", "rank_derived": False, "source": "synthetic",
                      "provenance": {"origin": "synthetic"}, "unmapped_genes": [], "unmatched_perturbations": []})
    data = PerturbationDataset(adata, validate=False)
    data.validate(check_genes=False)  # synthetic gene names are not HGNC symbols
    (conn,) = make_methods(["connectivity"], resources)
    assert not conn.is_fitted and conn.gives_direction and conn.sees_input
    conn.fit(data)
    signature = pd.Series(y, index=genes)
    signed = conn.signed_scores([signature])[0]
    assert set(signed.index) == {"SYNA", "SYNB", "SYNC", "SYND"}
    cos = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)  # noqa: E731
    np.testing.assert_allclose(signed["SYNA"], -1.0)
    np.testing.assert_allclose(signed["SYNB"], -1.0 * cos(-y, z), atol=1e-12)  # orthogonal: 0
    np.testing.assert_allclose(signed[["SYNC", "SYND"]], cos(-y, y + z))
    assert conn.target_directions(signature)["SYNA"] == -1
    assert conn.rank_targets(signature).idxmax() == "SYNA"
    # on a signature measuring two genes only, cosines use those genes alone
    part = pd.Series({"SYNV": 1.0, "SYNW": 1.0})
    # knocking SYNB down raised V and W, so activating it reverses their rise
    np.testing.assert_allclose(conn.signed_scores([part])[0]["SYNB"], 1.0)
    scores = run_method(conn, sig({"SYNV": 1.0, "SYNW": -1.0}))  # every network gene, unperturbed ones last
    assert scores.idxmax() == "SYNA"
    np.testing.assert_allclose(scores[["SYNC", "SYND"]], 1 / np.sqrt(2))
    unperturbed = scores.drop(["SYNA", "SYNB", "SYNC", "SYND"])
    assert scores["SYNB"] == 0.0 and (unperturbed == scores.min()).all() and scores.min() < 0.0


def test_connectivity_drugs_reads_only_the_training_drugs_bundled_responses(interactome):
    """On real bundled drug responses: trained on two Tahoe-only drugs, ``connectivity_drugs`` scores exactly what
    ``connectivity`` scores when fitted on those drugs' Tahoe rows (a signature on genes every drug dataset measures);
    with no training drug it ranks nothing."""
    from twincell.bench.tier2_drugs import load_drug_datasets

    datasets = load_drug_datasets()
    names = [set(d.obs["perturbation"].astype(str)) for d in datasets]
    signed = {str(p) for i, p in enumerate(datasets[0].obs["perturbation"])
              if any(a != 0 for a in datasets[0].targets_of(i).values())}
    only_tahoe = sorted(signed - names[1] - names[2])[:2]
    drugs = DrugTargets.universe()
    (none,) = make_methods(["connectivity_drugs"], Resources(interactome, drugs, seed=0))
    assert none.trains_on_drugs and none.fit(None).perturbed.empty
    shared = sorted(set.intersection(*(set(map(str, d.genes)) for d in datasets)))[:300]
    signature = pd.Series(np.random.default_rng(0).normal(size=len(shared)), index=shared)
    assert run_method(none, sig(signature.to_dict())).nunique() == 1  # every candidate ties: nothing to rank
    (conn,) = make_methods(["connectivity"], Resources(interactome, drugs, seed=0))
    conn.fit(datasets[0].subset(datasets[0].obs["perturbation"].astype(str).isin(only_tahoe).to_numpy()))
    expected = conn.signed_scores([signature])[0]
    assert len(expected) >= 1
    # the rows come from the datasets the tier passes (Resources.drug_datasets), or are loaded when it passes none
    for shared in (tuple(datasets), ()):
        (conn_drugs,) = make_methods(["connectivity_drugs"], Resources(
            interactome, drugs, seed=0, training_drugs=frozenset(only_tahoe), drug_datasets=shared))
        conn_drugs.fit(None)
        pd.testing.assert_series_equal(conn_drugs.signed_scores([signature])[0], expected, rtol=1e-12)
    # a case's own drug is the answer: scored without its responses, by any of its names; other names hide nothing
    hiding = conn_drugs.hiding_drugs([only_tahoe[0].upper()])
    assert hiding is not conn_drugs and hiding.resources.training_drugs == frozenset(only_tahoe[1:])
    assert conn_drugs.hiding_drugs(["no such drug"]) is conn_drugs and conn_drugs.hiding_drugs([]) is conn_drugs
    (alone,) = make_methods(["connectivity_drugs"], Resources(interactome, drugs, seed=0,
                                                             training_drugs=frozenset(only_tahoe[1:])))
    pd.testing.assert_series_equal(hiding.signed_scores([signature])[0], alone.fit().signed_scores([signature])[0])


def _drug_rows(X: np.ndarray, targets: list[str], contexts: list[str]) -> PerturbationDataset:
    """Synthetic drug rows on genes SYNV-SYNZ (not HGNC symbols: validated without the gene check)."""
    obs = pd.DataFrame({"perturbation": [f"drug{i}" for i in range(len(targets))], "perturbation_type": "drug",
                        "targets": targets, "context": contexts, "dose": np.nan, "dataset": "synthetic"},
                       index=[f"r{i}" for i in range(len(targets))])
    adata = ad.AnnData(X=X.astype(np.float32), obs=obs,
                       var=pd.DataFrame(index=pd.Index([f"SYN{g}" for g in "VWXYZ"], name="gene")))
    adata.uns.update({"value_type": "zscore", "rank_derived": False, "source": "synthetic",
                      "provenance": {"origin": "synthetic"}, "unmapped_genes": [], "unmatched_perturbations": []})
    data = PerturbationDataset(adata, validate=False)
    data.validate(check_genes=False)
    return data


def test_connectivity_drugs_centred_reads_each_row_minus_its_contexts_mean(resources):
    """Two contexts whose drugs share a large response (m1, m2): centred, a row is scored by what it does beyond its
    context's mean drug row, so the signature y picks SYNA's drug though both contexts' raw rows resemble it; NaN
    entries stay unmeasured and do not enter a context's mean."""
    from twincell.bench.baselines import Connectivity, ConnectivityDrugsCentred

    y, m1, m2 = np.array([1.0, -1.0, 0.0, 0.0, 0.0]), np.array([0.0, 0.0, 5.0, 5.0, 1.0]), np.array([0, 0, 3.0, -2, 4])
    X = np.vstack([m1 + y, m1 - y, m2 + 0.5 * y, m2 - 0.5 * y])
    X[3, 4] = np.nan
    data = _drug_rows(X, ["SYNA:-1", "SYNB:-1", "SYNA:-1", "SYNC:-1"], ["c1", "c1", "c2", "c2"])
    plain, centred = Connectivity(resources).fit(data), ConnectivityDrugsCentred(resources)._keep([data])
    rows = centred.responses.toarray()
    np.testing.assert_allclose(rows[:2], np.vstack([y, -y]))
    np.testing.assert_allclose(rows[2], [0.5, -0.5, 0.0, 0.0, 0.0])  # SYNZ: only row 2 measures it in c2
    assert rows[3, 4] == 0.0
    signature = pd.Series(y, index=[f"SYN{g}" for g in "VWXYZ"])
    got = centred.signed_scores([signature])[0]
    np.testing.assert_allclose(got[["SYNA", "SYNB"]], [1.0, -1.0])  # inhibiting SYNA gave y: reverse by activating
    assert abs(plain.signed_scores([signature])[0]["SYNA"]) < 0.5  # the raw rows are mostly their contexts' mean


def test_connectivity_drugs_partners_votes_for_the_targets_ppi_partners(resources):
    """On the synthetic network (SYNA - SYNB, SYNA - SYNC, SYNC - SYND, ...): a drug inhibiting SYNA votes for SYNA,
    SYNB and SYNC with its sign; a drug inhibiting SYNB and activating SYNC votes nothing for SYNA (the two cancel)."""
    from twincell.bench.baselines import ConnectivityDrugsPartners

    method = ConnectivityDrugsPartners(resources)
    votes = method._with_partners([{"SYNA": -1}, {"SYNB": -1, "SYNC": 1}, {"SYNQ": 1}])
    assert votes[0] == {"SYNA": -1, "SYNB": -1, "SYNC": -1}
    assert votes[1] == {"SYNB": -1, "SYNC": 1, "SYND": 1}
    assert votes[2] == {"SYNQ": 1}  # a target outside the network votes for itself alone
    y = np.array([1.0, -1.0, 0.0, 0.0, 0.0])
    data = _drug_rows(np.vstack([y, -y, y]), ["SYNA:-1", "SYNC:-1", "SYNE:+1"], ["c", "c", "c"])
    method._keep([data])
    assert set(method.perturbed) == {"SYNA", "SYNB", "SYNC", "SYND", "SYNE", "SYNH"}
    signed = method.signed_scores([pd.Series(y, index=[f"SYN{g}" for g in "VWXYZ"])])[0]
    # SYNB hears only SYNA's drug; SYNA hears its own drug and SYNC's (opposite responses, same sign): they cancel
    assert signed["SYNB"] > 0 and signed["SYNA"] == pytest.approx(0.0, abs=1e-12)
