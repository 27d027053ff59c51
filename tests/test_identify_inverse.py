"""One-pass (adjoint) target ranking: equivalence with brute-force simulation, directions, nulls (degree-matched,
shuffle-calibrated, centred), errors, and ranking from a saved model opened without torch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import spearmanr

from twincell.data.drugs import DrugTargets
from twincell.data.signatures import load_disease_signature
from twincell.errors import ContextError, ModelFileError, SignatureError, TwinCellError
from twincell.identify import rank_targets, target_scores
from twincell.identify.inverse import align_change, simulate_scores
from twincell.identify.null import hutchinson_sq_norms
from twincell.identify.null import degree_matched_zscores, operator_degree, shuffled_changes
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
    (pd.Series({"STAT1": 1e308, "IFI6": -1e308}), r"2 values of the desired change exceed \|logFC\| 1,000"),
    (pd.Series({"IFI6": 0.0, "SYN_NOT_A_GENE": 2.5}), "every value of the desired change on its 1 gene"),
    (pd.Series({"IFI6": 0.0, "STAT1": 0.0}), "the desired change is all zero"),
    (pd.Series([1.0, -2.0, 0.5]), "are row numbers"),  # a table's column without its gene index
    (pd.Series([1.0, -2.0], index=pd.Index([0, 1])), "are row numbers"),
    (pd.Series([1.0, -2.0, 0.5], index=pd.Index([0, 3, 4])), "are row numbers"),  # what a filter left of a reset index
    (pd.Series([1.0, -2.0], index=pd.MultiIndex.from_tuples([("STAT1", "a"), ("IRF7", "b")])), "indexed by 2 levels"),
])
def test_bad_desired_change(prior_model, change, message):
    with pytest.raises(SignatureError, match=message):
        rank_targets(prior_model, change)


def test_a_range_of_entrez_ids_is_not_row_numbers(prior_model):
    """RangeIndex(7157, 7159) are Entrez IDs (TP53, TP53BP1), read as such; only 0, 1, ... are row numbers."""
    ranked = rank_targets(prior_model, pd.Series([1.0, -2.0], index=pd.RangeIndex(7157, 7159)))
    assert ranked.attrs["signature_genes_found"] == 2


def test_bad_options(prior_model, sle_change):
    for kwargs in ({"direction": "up"}, {"method": "loop"}, {"normalize": "l2"}):
        with pytest.raises(TwinCellError, match="unknown"):
            rank_targets(prior_model, sle_change, **kwargs)
    for kwargs, name in (({"normalize": "cosine", "n_probes": 0}, "n_probes"), ({"n_probes": 2.5}, "n_probes"),
                         ({"n_degree_bins": -3}, "n_degree_bins"), ({"null": "shuffle", "seed": -1}, "seed"),
                         ({"drug_targets": "x"}, "drug_targets must be a DrugTargets table")):  # was AttributeError
        with pytest.raises(TwinCellError, match=name):
            rank_targets(prior_model, sle_change, **kwargs)


@pytest.mark.parametrize("null", ["center", "shuffle", "footprint", "footprint_max"])
def test_permutation_nulls_refuse_a_change_whose_values_are_all_equal(prior_model, null):
    """A gene set with one value (or one gene) is its own only permutation: every such score would be 0."""
    with pytest.raises(SignatureError, match="all have the value 1"):
        rank_targets(prior_model, pd.Series(1.0, index=["STAT1", "IRF7", "IFI6"]), null=null)


def test_common_null_refuses_a_change_it_removes_entirely(prior_model):
    """Five genes and 20 common directions: the projection takes all of it; rounding residue is not ranked."""
    change = pd.Series([1.0, -2.0, 0.5, 3.0, -1.5], index=["STAT1", "IRF7", "IFI6", "MX1", "ISG15"])
    with pytest.raises(SignatureError, match="removed all of the change"):
        rank_targets(prior_model, change, null="common", n_common=20)


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


# ---------------------------------------------------------------- shuffle-calibrated score (null="shuffle")

def _synthetic_operator(n: int = 60, seed: int = 0) -> PropagationOperator:
    """A random signed synthetic operator (SYN genes) with separate hop-0 readout."""
    rng = np.random.default_rng(seed)
    A = sp.random(n, n, density=0.08, random_state=rng, data_rvs=lambda k: rng.uniform(-0.4, 0.4, k)).tocsr()
    R = (sp.random(n, n, density=0.1, random_state=rng, data_rvs=lambda k: rng.uniform(-1, 1, k))
         + sp.identity(n)).tocsr()
    R0 = sp.random(n, n, density=0.1, random_state=rng, data_rvs=lambda k: rng.uniform(-1, 1, k)).tocsr()
    genes = np.array([f"SYN{i:03d}" for i in range(n)])
    return PropagationOperator(genes=genes, A=A, R=R, R0=R0, n_hops=3, context_free=True)


def test_shuffle_null_is_exact_on_a_synthetic_operator():
    op = _synthetic_operator()
    rng = np.random.default_rng(1)
    genes = rng.choice(op.genes, 25, replace=False)
    change = pd.Series(rng.normal(0.5, 1.0, 25), index=genes)  # synthetic signature, skewed positive
    B, seed = 40, 7
    ranked = rank_targets(op, change, direction="activate", null="shuffle", n_null=B, seed=seed).set_index("gene")
    assert list(ranked.reset_index().columns) == ["gene", "score", "direction", "rank", "z_score", "druggable",
                                                  "alignment"]
    assert ranked.attrs["null"] == "shuffle" and ranked.attrs["n_null"] == B

    # the shuffles: permutations of the signature's values among its own genes only
    d, present, _ = align_change(change, op.genes)
    D = shuffled_changes(d, present, B, seed)
    assert D.shape == (len(op.genes), B) and not D[~present].any()
    for b in range(B):
        assert sorted(D[present, b]) == sorted(d[present])
    assert not np.allclose(D, d[:, None])

    # brute force: the dense response matrix M (genes x nodes) from forward passes of identity columns,
    # and B single adjoint passes; the batched null must equal both
    M = op.forward(np.eye(len(op.genes)))
    null_dense = M.T @ D
    null_single = np.column_stack([op.adjoint(D[:, b]) for b in range(B)])
    np.testing.assert_allclose(null_single, null_dense, rtol=1e-10, atol=1e-12)
    observed = M.T @ d
    expected = (observed - null_dense.mean(axis=1)) / null_dense.std(axis=1, ddof=1)
    np.testing.assert_allclose(ranked.loc[op.genes, "score"].to_numpy(), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ranked.loc[op.genes, "alignment"].to_numpy(), observed, rtol=1e-10, atol=1e-12)

    # the brute-force method gives the same calibrated ranking; the same seed gives the same shuffles
    simulated = rank_targets(op, change, direction="activate", method="simulate", null="shuffle", n_null=B,
                             seed=seed).set_index("gene")
    np.testing.assert_allclose(simulated.loc[op.genes, "score"], ranked.loc[op.genes, "score"], rtol=1e-9, atol=1e-12)
    again = rank_targets(op, change, direction="activate", null="shuffle", n_null=B, seed=seed)
    assert again["gene"].tolist() == ranked.index.tolist()
    other = rank_targets(op, change, direction="activate", null="shuffle", n_null=B, seed=seed + 1).set_index("gene")
    assert not np.allclose(other.loc[op.genes, "score"], ranked.loc[op.genes, "score"])


def test_node_that_scores_for_any_signature_stops_leading_once_calibrated():
    """Synthetic toy: HUB reads out on every signature gene with about the same weight, so for a
    signature whose values are mostly positive its raw alignment is large whatever the gene-to-value
    pairing; MATCH reads out with the signs of this signature's changes, which only this pairing rewards."""
    rng = np.random.default_rng(0)
    n_sig = 30
    genes = np.array(["SYN_HUB", "SYN_MATCH", *[f"SYN_G{i:02d}" for i in range(n_sig)], "SYN_OTHER"])
    n = len(genes)
    values = rng.normal(1.0, 1.0, n_sig)                         # skewed: most changes positive
    rows = np.arange(2, 2 + n_sig)
    R = sp.lil_matrix((n, n))
    R[rows, 0] = rng.uniform(0.9, 1.1, n_sig)                    # HUB: same sign on every gene
    R[rows, 1] = 0.4 * np.sign(values)                           # MATCH: this signature's pattern
    R[n - 1, n - 1] = 1.0
    op = PropagationOperator(genes=genes, A=sp.csr_matrix((n, n)), R=R.tocsr(), n_hops=2, context_free=True)
    change = pd.Series(values, index=genes[rows])

    raw = rank_targets(op, change)
    calibrated = rank_targets(op, change, null="shuffle", n_null=200, seed=0).set_index("gene")
    assert raw["gene"].iloc[0] == "SYN_HUB"                        # raw: the hub leads
    assert calibrated.index[0] == "SYN_MATCH"                      # calibrated: the signature-specific node
    assert calibrated.loc["SYN_MATCH", "score"] > 3 > 2 > abs(calibrated.loc["SYN_HUB", "score"])
    hub = calibrated.loc["SYN_HUB"]  # alignment is given in the row's (calibrated) direction
    hub_sign = 1.0 if hub["direction"] == "activate" else -1.0
    assert hub_sign * hub["alignment"] == pytest.approx(raw.set_index("gene").loc["SYN_HUB", "score"])
    assert calibrated.loc["SYN_OTHER", "score"] == 0.0             # reaches no signature gene: no null spread
    assert calibrated.loc["SYN_OTHER", "direction"] == "none"


@pytest.mark.parametrize("direction", ["both", "inhibit"])
def test_target_scores_with_shuffle_null_are_rank_targets_scores(direction):
    op = _synthetic_operator(seed=2)
    change = pd.Series(np.random.default_rng(2).normal(size=20), index=op.genes[:20])
    ranking = rank_targets(op, change, direction=direction, null="shuffle", n_null=30, seed=3)
    scores = target_scores(op, change, direction=direction, null="shuffle", n_null=30, seed=3)
    np.testing.assert_allclose(scores[ranking["gene"]].to_numpy(), ranking["score"].to_numpy())
    assert (ranking["score"] >= 0).all() or direction != "both"


def test_shuffle_null_options_are_checked():
    op = _synthetic_operator()
    change = pd.Series([1.0, -2.0, 0.5], index=op.genes[:3])
    for kwargs, message in (({"null": "permute"}, "unknown null"), ({"null": "shuffle", "n_null": 1}, "n_null"),
                            ({"null": "shuffle", "normalize": "cosine"}, "both given")):
        with pytest.raises(TwinCellError, match=message):
            rank_targets(op, change, **kwargs)
    with pytest.raises(TwinCellError, match="n_null"):
        target_scores(op, change, null="shuffle", n_null=0)


# ---------------------------------------------------------------- centred score (null="center")

def test_center_null_is_the_alignment_minus_its_mean_over_all_permutations():
    """Exact enumeration: a 5-gene synthetic signature has 120 permutations of its values among its genes."""
    import itertools

    op = _synthetic_operator(seed=4)
    change = pd.Series([2.0, -1.0, 0.5, 3.0, 1.5], index=op.genes[[3, 11, 20, 37, 52]])  # synthetic, skewed
    d, present, _ = align_change(change, op.genes)
    M = op.forward(np.eye(len(op.genes)))  # dense response matrix (genes x nodes), brute force
    idx = np.flatnonzero(present)
    permuted = np.zeros((len(op.genes), 120))
    permuted[idx] = np.array(list(itertools.permutations(d[idx]))).T
    alignment = M.T @ d
    expected = alignment - (M.T @ permuted).mean(axis=1)
    assert np.abs(expected).max() > 0.1 and not np.allclose(expected, alignment)

    for method in ("adjoint", "simulate"):
        ranked = rank_targets(op, change, direction="activate", method=method, null="center").set_index("gene")
        np.testing.assert_allclose(ranked.loc[op.genes, "score"].to_numpy(), expected, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ranked.loc[op.genes, "alignment"].to_numpy(), alignment, rtol=1e-9, atol=1e-12)
        assert ranked.attrs["null"] == "center" and ranked.attrs["n_null"] == 0
    both = rank_targets(op, change, null="center").set_index("gene")
    np.testing.assert_allclose(both.loc[op.genes, "score"].to_numpy(), np.abs(expected), rtol=1e-9, atol=1e-12)
    inhibit = both["direction"] == "inhibit"  # alignment is given in the row's (centred) direction
    np.testing.assert_allclose(both.loc[inhibit, "alignment"].to_numpy(), -alignment[op.genes.searchsorted(
        both.index[inhibit])], rtol=1e-9, atol=1e-12)
    scores = target_scores(op, change, direction="inhibit", null="center")
    np.testing.assert_allclose(scores[op.genes].to_numpy(), -expected, rtol=1e-9, atol=1e-12)


def test_center_null_removes_the_hub_that_scores_for_any_signature():
    """A synthetic node reading out on every signature gene with the same weight aligns with every
    permutation alike: its centred score is 0 whatever its raw alignment."""
    genes = np.array(["SYN_HUB", "SYN_A", "SYN_B", "SYN_C"])
    R = sp.csr_matrix(np.array([[0, 0, 0, 0], [1.0, 1, 0, 0], [1.0, 0, 0, 0], [1.0, 0, 0, 0]]))
    op = PropagationOperator(genes=genes, A=sp.csr_matrix((4, 4)), R=R, n_hops=1, context_free=True)
    change = pd.Series([3.0, 1.0, 2.0], index=genes[1:])  # synthetic, all positive
    raw = rank_targets(op, change).set_index("gene")
    centred = rank_targets(op, change, null="center").set_index("gene")
    assert raw.index[0] == "SYN_HUB" and raw.loc["SYN_HUB", "score"] == pytest.approx(6.0)
    assert centred.loc["SYN_HUB", "score"] == pytest.approx(0.0, abs=1e-12)
    assert centred.index[0] == "SYN_A" and centred.loc["SYN_A", "score"] == pytest.approx(1.0)
    assert centred.loc["SYN_HUB", "alignment"] == pytest.approx(6.0)


def test_center_null_options_are_checked():
    op = _synthetic_operator()
    change = pd.Series([1.0, -2.0, 0.5], index=op.genes[:3])
    with pytest.raises(TwinCellError, match="'center'"):
        rank_targets(op, change, null="centre")
    with pytest.raises(TwinCellError, match="null='center' were both given"):
        rank_targets(op, change, null="center", normalize="cosine")
    with pytest.raises(TwinCellError, match="unknown null"):
        target_scores(op, change, null="centered")


# ---------------------------------------------------------------- a saved model opened without torch

def test_opened_model_serves_the_stored_operator_without_torch(tmp_path):
    from twincell.model.io import OPERATOR_FILE, open_model
    from twincell.model.synthetic import synthetic_interactome

    model = TwinCell(synthetic_interactome(n_nodes=50, n_edges=160, seed=5), 0, n_hops=3)
    model.save(tmp_path / "m")
    opened = open_model(tmp_path / "m")
    stored, built = opened.operator(None), model.operator(None)
    for name in ("A", "R", "R0"):
        assert (getattr(stored, name) != getattr(built, name)).nnz == 0
    assert stored.genes.tolist() == built.genes.tolist() and stored.n_hops == built.n_hops
    change = pd.Series(np.random.default_rng(5).normal(size=20), index=model.genes[:20])
    pd.testing.assert_frame_equal(rank_targets(opened, change), rank_targets(model, change))
    assert opened.context_dim == model.context_dim and opened.metadata == model.metadata

    script = (f"import sys; from twincell.model.io import open_model; import pandas as pd\n"
              f"from twincell.identify import rank_targets\n"
              f"m = open_model({str(tmp_path / 'm')!r})\n"
              f"r = rank_targets(m, pd.Series({{{str(model.genes[0])!r}: 1.0}}))\n"
              f"assert len(r) == {len(model.genes)}\n"
              f"print('torch' in sys.modules)")
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.strip() == "False"

    (tmp_path / "m" / OPERATOR_FILE).write_bytes(b"corrupt")
    with pytest.raises(ModelFileError, match="corrupt"):
        open_model(tmp_path / "m")


def test_ranking_order_breaks_ties_by_gene_name():
    rng = np.random.default_rng(4)
    score = rng.choice([0.0, 0.5, 1.0, 2.0], 500) + np.where(rng.random(500) < 0.5, rng.random(500), 0.0)
    name_rank = rng.permutation(500)  # synthetic node order that is not alphabetical
    from twincell.identify.inverse import _best_first

    assert _best_first(score, name_rank).tolist() == np.lexsort((name_rank, -score)).tolist()
    distinct = rng.random(500)
    assert _best_first(distinct, name_rank).tolist() == np.argsort(-distinct).tolist()
