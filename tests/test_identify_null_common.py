"""The common-response score (``null="common"``): the operator's common response directions (top left
singular vectors of its response matrix) removed from the desired change on its own genes, then the
exact adjoint. Everything here runs on synthetic operators (SYN genes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from twincell.errors import SignatureError, TwinCellError
from twincell.identify import rank_targets, target_scores
from twincell.identify.inverse import common_basis
from twincell.identify.null import common_directions, randomized_left_singular, remove_common, hutchinson_sq_norms
from twincell.model import PropagationOperator

N_GENES = 80


def _synthetic_operator(seed: int = 0) -> PropagationOperator:
    """A random signed synthetic operator (SYN genes) with a few strong synthetic hubs."""
    rng = np.random.default_rng(seed)
    n = N_GENES
    A = sp.random(n, n, density=0.06, random_state=rng, data_rvs=lambda k: rng.uniform(-0.4, 0.4, k)).tolil()
    for hub in range(3):  # synthetic hubs with wide, strong out-edges: a shared response pattern
        A[rng.choice(n, 30, replace=False), hub] = rng.uniform(0.5, 1.0, 30)
    R = (sp.random(n, n, density=0.1, random_state=rng, data_rvs=lambda k: rng.uniform(-1, 1, k))
         + sp.identity(n)).tocsr()
    genes = np.array([f"SYN{i:03d}" for i in range(n)])
    return PropagationOperator(genes=genes, A=A.tocsr(), R=R, n_hops=3, context_free=True)


def _dense_response(op: PropagationOperator) -> np.ndarray:
    """M (genes x nodes) by forward-simulating every identity column."""
    return np.asarray(op.forward(np.eye(len(op.genes))), dtype=float)


def _signature(op: PropagationOperator, n: int = 30, seed: int = 1) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(rng.normal(size=n), index=rng.choice(op.genes, n, replace=False))


def test_common_directions_are_the_dense_svd_up_to_sign():
    op = _synthetic_operator()
    M = _dense_response(op)
    U_dense, s_dense, _ = np.linalg.svd(M)
    k = 5
    U = common_directions(op, k)
    assert U.shape == (N_GENES, k)
    np.testing.assert_allclose(U.T @ U, np.eye(k), atol=1e-10)
    np.testing.assert_allclose(np.abs(np.sum(U * U_dense[:, :k], axis=0)), 1.0, atol=1e-5)  # randomized: 6 power steps
    _, s = randomized_left_singular(lambda X: M @ X, lambda Y: M.T @ Y, N_GENES, k)
    np.testing.assert_allclose(s, s_dense[:k], rtol=1e-6)
    assert common_basis(op, k, unit_columns=False) is common_basis(op, k, unit_columns=False)  # kept per operator
    np.testing.assert_array_equal(common_basis(op, k, unit_columns=False), U)


def test_unit_columns_are_the_svd_of_the_column_normalised_response():
    op = _synthetic_operator()
    M = _dense_response(op)
    norms = np.sqrt(hutchinson_sq_norms(op, n_probes=64))
    np.testing.assert_allclose(norms, np.linalg.norm(M, axis=0), rtol=0.5)  # a probe estimate
    U_dense = np.linalg.svd(M / norms, full_matrices=False)[0]
    U = common_directions(op, 4, unit_columns=True)
    np.testing.assert_allclose(np.abs(np.sum(U * U_dense[:, :4], axis=0)), 1.0, atol=1e-4)
    assert np.abs(np.sum(U * common_directions(op, 4)[:, :4], axis=0)).min() < 0.999  # a different basis


def test_projection_removes_exactly_the_common_part_on_the_signature_genes():
    op = _synthetic_operator()
    change = _signature(op)
    present = np.isin(op.genes, change.index)
    d = pd.Series(0.0, index=op.genes).add(change, fill_value=0.0).reindex(op.genes).to_numpy()
    U = common_directions(op, 6)
    d_new = remove_common(d, present, U)
    assert np.all(d_new[~present] == 0.0)                                     # genes not measured get no value
    np.testing.assert_allclose(U[present].T @ d_new[present], 0.0, atol=1e-10)  # orthogonal to U_k on S
    removed = d[present] - d_new[present]                                     # what was removed lies in span(U_S)
    x = np.linalg.lstsq(U[present], removed, rcond=None)[0]
    np.testing.assert_allclose(U[present] @ x, removed, atol=1e-10)
    # the score is the alignment of d' with every node's response, and the alignment column stays exact
    M = _dense_response(op)
    ranked = rank_targets(op, change, direction="activate", null="common", n_common=6,
                          unit_columns=False).set_index("gene")
    np.testing.assert_allclose(ranked.loc[op.genes, "score"], M.T @ d_new, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ranked.loc[op.genes, "alignment"], M.T @ d, rtol=1e-8, atol=1e-10)
    assert ranked.attrs["null"] == "common" and ranked.attrs["n_common"] == 6


def test_zero_common_directions_is_todays_score():
    op = _synthetic_operator()
    change = _signature(op)
    plain = rank_targets(op, change)
    common = rank_targets(op, change, null="common", n_common=0)
    pd.testing.assert_frame_equal(common[list(plain.columns)], plain)
    pd.testing.assert_series_equal(target_scores(op, change, null="common", n_common=0), target_scores(op, change))


def test_batched_changes_equal_one_by_one():
    op = _synthetic_operator()
    changes = [_signature(op, n, seed) for n, seed in ((30, 1), (12, 2), (50, 3))]
    genes = pd.Index(op.genes)
    D = np.column_stack([c.reindex(genes, fill_value=0.0).to_numpy() for c in changes])
    present = np.column_stack([genes.isin(c.index) for c in changes])
    U = common_directions(op, 5, unit_columns=True)
    batched = remove_common(D, present, U)
    for j in range(len(changes)):
        np.testing.assert_array_equal(batched[:, j], remove_common(D[:, j], present[:, j], U))
        np.testing.assert_allclose(op.adjoint(batched)[:, j],
                                   target_scores(op, changes[j], direction="activate", null="common", n_common=5,
                                                 unit_columns=True).to_numpy(), rtol=1e-10, atol=1e-12)


def test_a_signature_inside_the_common_directions_is_removed_entirely():
    """Nothing is left, exactly (no rounding residue): the bench's batched form scores 0 for every node, and the
    user-facing ranking refuses the signature instead of ranking nothing."""
    op = _synthetic_operator()
    U = common_directions(op, 3)
    change = pd.Series(U[:, 0] + 2 * U[:, 2], index=op.genes)  # synthetic: lies in span(U_3) on all genes
    d = change.to_numpy()[:, None]
    assert not remove_common(np.hstack([d, d + 1.0]), np.ones((len(d), 2), bool), U)[:, 0].any()
    with pytest.raises(SignatureError, match="removed all of the change"):
        target_scores(op, change, null="common", n_common=3, unit_columns=False)


def test_common_null_options_are_checked():
    op = _synthetic_operator()
    change = _signature(op)
    for kwargs, message in (({"null": "common", "n_common": -1}, "n_common"),
                            ({"null": "common", "n_common": 2.5}, "n_common"),
                            ({"null": "common", "n_common": True}, "n_common"),
                            ({"null": "common", "n_common": 10_000}, "n_common"),
                            ({"null": "common", "normalize": "cosine"}, "null='common' were both given")):
        with pytest.raises(TwinCellError, match=message):
            rank_targets(op, change, **kwargs)
    with pytest.raises(TwinCellError, match="n_common"):
        target_scores(op, change, null="common", n_common=-3)
    with pytest.raises(TwinCellError, match=f"need a network of more than {N_GENES} genes"):
        rank_targets(op, change, null="common", n_common=N_GENES)
    U = common_directions(op, N_GENES - 5)  # fewer than 10 columns left to oversample
    assert U.shape == (N_GENES, N_GENES - 5)
    np.testing.assert_allclose(U.T @ U, np.eye(N_GENES - 5), atol=1e-8)


def test_twincell_common_bench_scores_are_identify_common_scores():
    """TwinBench's ``twincell_common`` ranks exactly as ``rank_targets(..., null="common")``: signatures of
    different gene sets, each projected on its own genes, in one batched adjoint."""
    from twincell.bench import Resources, make_methods, run_method
    from twincell.bench.methods import run_method_many
    from twincell.data.drugs import DrugTargets
    from twincell.data.signatures import Signature
    from twincell.model import TwinCell
    from twincell.model.synthetic import synthetic_interactome

    net = synthetic_interactome(n_nodes=40, n_edges=140, signed_share=0.6, seed=1)
    drugs = DrugTargets(pd.DataFrame({"drug_id": [1], "drug": ["syn-a"], "gene": [net.genes[0]], "sign": [-1],
                                      "action_type": "INHIBITOR"}),
                        pd.DataFrame({"drug_id": [1], "indication": ["i1"]}))
    res = Resources(net, drugs, seed=0, model=TwinCell.prior(net))
    raw, common = make_methods(["twincell", "twincell_common"], res)
    assert common.null == "common" and common.needs_training and not common.predicts_response
    common.n_common = 3  # synthetic signatures of 10-14 genes: keep some of each
    rng = np.random.default_rng(4)
    sigs = [Signature(name=f"synthetic{i}", logfc=pd.Series(rng.normal(1.0, 1.0, 10 + 2 * i),
                                                            index=net.genes[rng.choice(40, 10 + 2 * i, replace=False)]))
            for i in range(3)]
    many = run_method_many(common, sigs)
    for s in sigs:
        ranking = rank_targets(res.model, -s.logfc, null="common", n_common=3,
                               unit_columns=common.unit_columns).set_index("gene")
        np.testing.assert_allclose(many[s.name].to_numpy(), ranking["score"].reindex(net.genes).to_numpy(),
                                   rtol=1e-9, atol=1e-12)
        assert not np.allclose(many[s.name].to_numpy(), run_method(raw, s).to_numpy())
