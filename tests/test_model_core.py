"""TwinCell maths: gradients, the causal constraint, torch forward == operator, exact adjoint, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from twincell.errors import ContextError, TwinCellError, UnknownGeneError
from twincell.model import PropagationOperator, TwinCell
from twincell.model.module import EdgeSet, edge_spmm, sparse_input_spmm
from twincell.model.synthetic import synthetic_interactome

DIM = 4


@pytest.fixture(scope="module")
def net():
    return synthetic_interactome(n_nodes=50, n_edges=140, signed_share=0.6, seed=2)


def randomised(net, seed=0, gated=True, **hparams) -> TwinCell:
    """A model with random (non-prior) weights, learned signs, direct terms and gates."""
    model = TwinCell(net, DIM if gated else 0, seed=seed, context_gates=gated, **hparams)
    g = torch.Generator().manual_seed(seed)
    m = model.module
    with torch.no_grad():
        for layer in (m.ppi, m.tf):
            layer.omega.add_(0.5 * torch.randn(layer.omega.shape, generator=g))
            layer.theta.copy_(torch.randn(layer.theta.shape, generator=g))
        m.direct.copy_(torch.randn(m.direct.shape, generator=g))
        if gated:
            m.gate.node_dst.normal_(generator=g)
            m.gate.node_src.normal_(generator=g)
    rng = np.random.default_rng(seed)
    model.contexts = {c: rng.standard_normal(DIM).astype(np.float32) for c in ("ctxA", "ctxB")}
    return model


def test_edge_spmm_gradients_match_dense():
    rng = np.random.default_rng(0)
    n, pairs = 30, sorted({(int(i), int(j)) for i, j in rng.integers(0, 30, (120, 2)) if i != j})
    src, dst = np.array(pairs).T
    order = np.lexsort((src, dst))
    edges = EdgeSet(src[order], dst[order], n)
    vals = torch.randn(edges.n_edges, dtype=torch.float64, requires_grad=True)
    X = torch.randn(n, 5, dtype=torch.float64, requires_grad=True)
    edge_spmm(edges, vals, X).pow(2).sum().backward()
    g_vals, g_X = vals.grad.clone(), X.grad.clone()
    vals.grad = X.grad = None
    dense = torch.zeros(n, n, dtype=torch.float64).index_put((edges.dst, edges.src), vals)
    (dense @ X).pow(2).sum().backward()
    assert torch.allclose(g_vals, vals.grad) and torch.allclose(g_X, X.grad)
    U = torch.zeros(n, 3, dtype=torch.float64)
    U[[1, 4, 4], [0, 1, 2]] = torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64)
    assert torch.allclose(sparse_input_spmm(edges, vals, U), edge_spmm(edges, vals, U))


@pytest.mark.parametrize("gate_mode", ["switch", "modulate"])
def test_gradients_flow_to_edge_weights_signs_and_gates(net, gate_mode):
    model = TwinCell(net, DIM, seed=0, gate_mode=gate_mode)
    U = torch.zeros(net.n_nodes, 6)
    U[np.arange(6) * 7, np.arange(6)] = 1.0
    Y, _ = model.module(U, torch.randn(DIM))
    Y.pow(2).sum().backward()
    m = model.module
    for name, p in [("ppi weights", m.ppi.omega), ("tf weights", m.tf.omega), ("learned signs", m.ppi.theta),
                    ("gate dst", m.gate.node_dst), ("gate src", m.gate.node_src), ("direct readout", m.direct),
                    *([("gate bias", m.gate.bias)] if gate_mode == "switch" else [])]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def reachable(net, sources: list[int], hops: int) -> np.ndarray:
    """Nodes whose transcript a perturbation of ``sources`` can change: <= hops ppi steps, then tf or direct."""
    ppi = (net.adjacency("ppi") != 0).astype(np.int64)
    tf = (net.adjacency("tf") != 0).astype(np.int64)
    x = np.zeros(net.n_nodes, bool)
    x[sources] = True
    reach = x.copy()
    for _ in range(hops):
        x = (ppi.T @ x.astype(np.int64)) > 0
        reach |= x
    return reach | ((tf.T @ reach.astype(np.int64)) > 0)


def test_causal_constraint_holds_exactly(net):
    model = randomised(net, seed=1, n_hops=2)  # few enough hops that some genes stay unreachable
    for seed in range(5):
        genes = np.random.default_rng(seed).choice(net.genes, 2, replace=False)
        y = model.predict({genes[0]: -1, genes[1]: 1}, "ctxA").to_numpy()
        can = reachable(net, [net.gene_index[g] for g in genes], model.hparams["n_hops"])
        assert np.all(y[~can] == 0.0)
        assert np.count_nonzero(y[can]) > 0
        assert (~can).sum() > 0


def test_torch_forward_equals_operator(net):
    model = randomised(net, seed=2)
    for ctx in ("ctxA", "ctxB", None):
        op = model.operator(ctx)
        assert isinstance(op, PropagationOperator) and op.n_hops == model.hparams["n_hops"]
        pert = {net.genes[3]: -1.0, net.genes[10]: 1.0}
        expected = model.predict(pert, ctx).to_numpy()
        np.testing.assert_allclose(op.forward(model.perturbation_vector(pert)), expected, rtol=1e-5, atol=1e-6)
    U = np.random.default_rng(0).standard_normal((net.n_nodes, 3))
    assert op.forward(U).shape == (net.n_nodes, 3)
    assert not np.allclose(model.operator("ctxA").A.toarray(), model.operator("ctxB").A.toarray())


def test_adjoint_is_the_exact_transpose(net):
    op = randomised(net, seed=3).operator("ctxA")
    rng = np.random.default_rng(1)
    U, D = rng.standard_normal((net.n_nodes, 4)), rng.standard_normal((net.n_nodes, 2))
    np.testing.assert_allclose(op.forward(U).T @ D, U.T @ op.adjoint(D), rtol=1e-10)
    M = op.forward(np.eye(net.n_nodes))
    np.testing.assert_allclose(op.adjoint(np.eye(net.n_nodes)), M.T, atol=1e-12)


def test_operator_describe_and_shape_errors(net):
    op = randomised(net).operator("ctxA")
    d = op.describe()
    assert d["n_nodes"] == net.n_nodes and d["context"] == "ctxA" and not d["context_free"]
    with pytest.raises(TwinCellError, match="shape"):
        op.forward(np.ones(3))
    with pytest.raises(TwinCellError, match="NaN"):
        op.adjoint(np.full(net.n_nodes, np.nan))


def test_prior_uses_evidence_weights_and_known_signs_only(net):
    prior = TwinCell.prior(net)
    op = prior.operator("any-context")
    assert op.context_free and not prior.gated
    e = prior.edge_table()
    ppi = e[e["layer"] == "ppi"]
    np.testing.assert_allclose(ppi["weight"], ppi["prior_weight"], rtol=1e-5)
    np.testing.assert_array_equal(ppi["sign"], ppi["prior_sign"])
    A = op.A.tocoo()
    assert A.nnz == int((ppi["prior_sign"] != 0).sum())
    assert sp.issparse(op.R)


def test_self_term_only_for_genetic_perturbations(net):
    model = randomised(net, seed=4)
    g = net.genes[5]
    drug = model.predict({g: 1}, "ctxA")
    oe = model.predict({g: 1}, "ctxA", perturbation_type="overexpression")
    diff = (oe - drug).abs()
    assert diff[g] == pytest.approx(float(model.module.self_weight.detach()), rel=1e-5)
    assert diff.drop(g).max() == 0.0


def test_clear_errors_for_bad_perturbations_and_contexts(net):
    model = randomised(net)
    with pytest.raises(UnknownGeneError) as err:
        model.predict({"NOT_A_GENE": -1, net.genes[0]: 1, "ALSO_MISSING": 1}, "ctxA")
    assert err.value.genes == ["NOT_A_GENE", "ALSO_MISSING"]
    with pytest.raises(TwinCellError, match="empty"):
        model.predict({}, "ctxA")
    with pytest.raises(TwinCellError, match="finite"):
        model.predict({net.genes[0]: float("nan")}, "ctxA")
    with pytest.raises(ContextError, match="unknown context"):
        model.predict({net.genes[0]: 1}, "no-such-context")
    with pytest.raises(ContextError, match="shape"):
        model.operator(np.zeros(DIM + 1))
    with pytest.raises(TwinCellError, match="hyper-parameters"):
        TwinCell(net, DIM, n_hop=3)
