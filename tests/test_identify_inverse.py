"""One-pass (adjoint) target ranking: equivalence with brute-force simulation, directions, null, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import spearmanr

from twincell.data.drugs import DrugTargets
from twincell.data.signatures import load_disease_signature
from twincell.errors import ContextError, SignatureError, TwinCellError
from twincell.identify import rank_targets, target_scores
from twincell.identify.inverse import align_change, hutchinson_sq_norms, simulate_scores
from twincell.identify.null import degree_matched_zscores, operator_degree
from twincell.model import PropagationOperator, TwinCell


@pytest.fixture(scope="module")
def prior_model(interactome):
    """The untrained TwinCell prior on the real interactome (known signs only, context-free)."""
    return TwinCell.prior(interactome)


@pytest.fixture(scope="module")
def dense_operator(interactome):
    """Synthetic strengths on every real PPI edge (evidence weight x known sign, +1 where unknown,
    damped to row sums 0.5) with the real CollecTRI readout plus identity: a trained-density operator."""
    ppi = interactome.layer_mask("ppi")
    sign = interactome.edges["sign"].to_numpy().astype(float)
    value = interactome.edges["weight"].to_numpy(float) * np.where(sign == 0, 1.0, sign)
    n = interactome.n_nodes
    A = sp.csr_matrix((value[ppi], (interactome.dst[ppi], interactome.src[ppi])), shape=(n, n))
    A = (sp.diags(0.5 / np.maximum(np.asarray(abs(A).sum(axis=1)).ravel(), 1.0)) @ A).tocsr()
    R = (sp.csr_matrix((value[~ppi], (interactome.dst[~ppi], interactome.src[~ppi])), shape=(n, n))
         + sp.identity(n)).tocsr()
    return PropagationOperator(genes=interactome.genes, A=A, R=R, n_hops=3, context_free=True)


@pytest.fixture(scope="module")
def sle_change():
    return load_disease_signature("SLE").desired_change()


@pytest.mark.slow
def test_adjoint_ranking_equals_brute_force_simulation_on_full_network(prior_model, sle_change):
    adjoint = rank_targets(prior_model, sle_change, method="adjoint").set_index("gene")
    simulate = rank_targets(prior_model, sle_change, method="simulate").set_index("gene").loc[adjoint.index]
    assert len(adjoint) == len(prior_model.genes)
    assert np.allclose(adjoint["score"], simulate["score"], rtol=1e-8, atol=1e-12)
    assert spearmanr(adjoint["score"], simulate["score"]).statistic > 0.999
    assert (adjoint["direction"] == simulate["direction"]).all()
    assert (adjoint["score"] > 0).sum() > 100  # the signature reaches many proteins


def test_adjoint_equals_simulation_with_every_edge_active(dense_operator, sle_change):
    d, present, _ = align_change(sle_change, dense_operator.genes)
    nodes = np.random.default_rng(0).choice(len(dense_operator.genes), 1500, replace=False)
    simulated, _ = simulate_scores(dense_operator, d, nodes, present)
    adjoint = dense_operator.adjoint(d)[nodes]
    assert np.allclose(adjoint, simulated, rtol=1e-8, atol=1e-12)
    assert spearmanr(adjoint, simulated).statistic > 0.999


def test_hutchinson_norms_match_exact_norms(dense_operator, sle_change):
    d, present, _ = align_change(sle_change, dense_operator.genes)
    nodes = np.random.default_rng(1).choice(len(dense_operator.genes), 1000, replace=False)
    scores, exact = simulate_scores(dense_operator, d, nodes, present)
    estimate = hutchinson_sq_norms(dense_operator, present, n_probes=256, seed=1)[nodes]
    reached = exact > 0
    rel = np.abs(estimate[reached] - exact[reached]) / exact[reached]
    assert np.median(rel) < 0.1
    cos_exact = scores[reached] / np.sqrt(exact[reached])
    cos_est = scores[reached] / np.sqrt(np.clip(estimate[reached], 1e-300, None))
    assert spearmanr(cos_est, cos_exact).statistic > 0.95
    ranked = rank_targets(dense_operator, sle_change, normalize="cosine", n_probes=256, seed=1).set_index("gene")
    assert ranked.attrs["normalize"] == "cosine"
    expected = np.abs(scores[reached]) / np.sqrt(estimate[reached]) / np.linalg.norm(d)
    assert np.allclose(ranked["score"][dense_operator.genes[nodes][reached]], expected)


def test_directions_and_output_contract(prior_model, sle_change):
    both = rank_targets(prior_model, sle_change)
    assert list(both.columns) == ["gene", "score", "direction", "rank", "z_score", "druggable"]
    assert (both["rank"] == np.arange(1, len(both) + 1)).all()
    assert both["score"].is_monotonic_decreasing
    signed = both.set_index("gene")["score"] * both.set_index("gene")["direction"].map(
        {"activate": 1.0, "inhibit": -1.0, "none": 0.0})
    act = rank_targets(prior_model, sle_change, direction="activate").set_index("gene")["score"]
    inh = rank_targets(prior_model, sle_change, direction="inhibit").set_index("gene")
    assert np.allclose(act[signed.index], signed)
    assert np.allclose(inh["score"][signed.index], -signed)
    assert set(inh["direction"]) == {"inhibit"}
    assert (both.loc[both["score"] == 0, "direction"] == "none").all()
    druggable = DrugTargets.universe().druggable_genes()
    assert both["druggable"].to_numpy().tolist() == [g in druggable for g in both["gene"]]
    attrs = both.attrs
    assert attrs["context_free"] is True and attrs["context"] == "context-free"
    in_net = set(prior_model.genes)
    assert attrs["signature_genes_found"] == sum(g in in_net for g in sle_change.index)
    assert attrs["signature_genes_absent"] == [g for g in sle_change.index if g not in in_net]


@pytest.mark.parametrize("direction", ["both", "inhibit", "activate"])
def test_target_scores_are_rank_targets_scores(dense_operator, sle_change, direction):
    ranking = rank_targets(dense_operator, sle_change, direction=direction)
    scores = target_scores(dense_operator, sle_change, direction=direction)
    assert list(scores.index) == list(dense_operator.genes)
    np.testing.assert_allclose(scores[ranking["gene"]].to_numpy(), ranking["score"].to_numpy())


def test_model_receives_context_and_operator_rejects_one(prior_model, sle_change):
    seen = []

    class RecordingModel:
        def operator(self, context):
            seen.append(context)
            return prior_model.operator(None)

    rank_targets(RecordingModel(), sle_change, context="A549")
    assert seen == ["A549"]
    with pytest.raises(ContextError, match="already bound"):
        rank_targets(prior_model.operator(None), sle_change, context="A549")
    with pytest.raises(TwinCellError, match="cannot score"):
        rank_targets(object(), sle_change)


@pytest.mark.parametrize(("change", "message"), [
    (pd.Series(dtype=float), "empty"),
    (pd.Series({"STAT1": 1.0, "IRF7": np.nan}), "missing or non-numeric"),
    (pd.Series([1.0, 2.0], index=["STAT1", "STAT1"]), "more than once"),
    (pd.Series({"SYN_NOT_A_GENE": 1.0}), "none of the 1 genes"),
])
def test_bad_desired_change(prior_model, change, message):
    with pytest.raises(SignatureError, match=message):
        rank_targets(prior_model, change)


def test_bad_options(prior_model, sle_change):
    for kwargs in ({"direction": "up"}, {"method": "loop"}, {"normalize": "l2"}):
        with pytest.raises(TwinCellError, match="unknown"):
            rank_targets(prior_model, sle_change, **kwargs)


def test_degree_matched_null_removes_degree_advantage():
    rng = np.random.default_rng(0)
    degree = rng.integers(1, 500, 5000)
    scores = degree * (1 + 0.1 * rng.standard_normal(5000))  # synthetic: score grows with degree only
    degree[7] = 250
    scores[7] = 750.0                                          # one planted outlier for its degree
    z = degree_matched_zscores(scores, degree, n_bins=20)
    assert z[7] == z.max() and z[7] > 5
    hubs = degree > np.quantile(degree, 0.95)
    assert abs(z[hubs].mean()) < 0.5  # hubs are not favoured once compared with their own bin


def test_operator_degree_counts_in_and_out_edges():
    A = sp.csr_matrix(np.array([[0, 1, 0], [0, 0, 0], [2, 3, 4]], dtype=float))  # A[dst, src]
    assert operator_degree(A).tolist() == [2, 2, 2]  # self loop on node 2 ignored
