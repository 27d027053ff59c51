"""The inverse loss (issue 12): the torch adjoint, the loss, its gradient and its effect on training.

Networks, contexts and responses here are synthetic (``SYN0001`` ...), simulated from known TwinCell models.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from twincell.data.perturbation import PerturbationDataset
from twincell.errors import TwinCellError
from twincell.model import TwinCell
from twincell.model.module import EdgeSet, edge_spmm_t
from twincell.model.synthetic import simulate_responses, synthetic_interactome
from twincell.model.training import (
    FitConfig, build_batch, inverse_row_losses, observed_residual, prepare_rows, target_ranks,
)

DIM = 3
SYNTHETIC_CONTEXTS = {"synthetic_ctxA": np.array([1.0, -0.5, 0.3], np.float32),
                      "synthetic_ctxB": np.array([-0.8, 0.9, -1.2], np.float32)}


@pytest.fixture(scope="module")
def net():
    return synthetic_interactome(n_nodes=40, n_edges=120, signed_share=0.5, seed=11)


@pytest.fixture(scope="module")
def data(net):
    truth = TwinCell(net, 0, context_gates=False, seed=5)
    with torch.no_grad():
        theta = truth.module.ppi.theta
        theta.copy_(2.0 * torch.randn(theta.shape, generator=torch.Generator().manual_seed(5)))  # synthetic signs
    perts = [{g: 1 if i % 3 else -1} for i, g in enumerate(net.genes)]
    return simulate_responses(truth, perts, [None], noise=0.1, seed=2, name="synthetic_inverse")


@pytest.fixture(scope="module")
def trained(net, data):
    """A gated model trained a few epochs on synthetic responses in two synthetic contexts."""
    adata = data.adata.copy()
    adata.obs["context"] = np.where(np.arange(adata.n_obs) % 2, "synthetic_ctxA", "synthetic_ctxB")
    contextual = PerturbationDataset(adata, validate=False)  # synthetic gene names are not HGNC symbols
    model = TwinCell(net, DIM, gate_mode="modulate", seed=0)
    return model.fit(contextual, SYNTHETIC_CONTEXTS, max_epochs=5, lr=0.05, batch_size=16, validation_fraction=0.2,
                     patience=5, inverse_loss=0.3)


def test_transposed_product_equals_dense_transpose_with_gradients():
    rng = np.random.default_rng(0)
    n = 7
    pairs = sorted({(int(i), int(j)) for i, j in rng.integers(0, n, (25, 2)) if i != j}, key=lambda p: (p[1], p[0]))
    src, dst = np.array(pairs).T
    edges = EdgeSet(src, dst, n)
    values = torch.randn(len(src), dtype=torch.float64, requires_grad=True)
    Y = torch.randn(n, 3, dtype=torch.float64, requires_grad=True)
    out = edge_spmm_t(edges, values, Y)
    dense = torch.zeros(n, n, dtype=torch.float64).index_put((torch.as_tensor(dst), torch.as_tensor(src)), values)
    ref = dense.T @ Y
    torch.testing.assert_close(out, ref)
    weights = torch.randn(n, 3, dtype=torch.float64)
    g_sparse = torch.autograd.grad((out * weights).sum(), (values, Y))
    g_dense = torch.autograd.grad((ref * weights).sum(), (values, Y))
    for a, b in zip(g_sparse, g_dense):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("context", [None, "synthetic_ctxA"])
def test_torch_adjoint_equals_the_operator_adjoint_of_the_trained_model(trained, net, context):
    D = np.random.default_rng(3).standard_normal((net.n_nodes, 4))
    op = trained.operator(context)
    c, _ = trained._context_tensor(context)
    m = trained.module
    with torch.no_grad():
        got = m.adjoint(torch.as_tensor(D, dtype=torch.float32), m.edge_values(c)).numpy()
    want = op.adjoint(D)
    assert np.abs(want).max() > 1e-3  # a non-trivial map
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_inverse_loss_matches_its_formula_and_ranks_count_ties():
    scores = torch.tensor([[3.0, 0.0], [-4.0, 1.0], [0.0, -1.0], [1.0, 2.0]])
    U = torch.zeros(4, 2)
    U[1, 0] = -1.0  # row 0: target 1, inhibited, aligned (s = -4)
    U[2, 1] = 1.0   # row 1: target 2, activated, anti-aligned (s = -1)
    U[3, 1] = 1.0   # row 1: second target 3, aligned (s = 2)
    tau = 2.0
    losses = inverse_row_losses(scores, U, tau).numpy()
    s = scores.numpy()
    norm = np.linalg.norm(s, axis=0)
    logits0 = tau * np.abs(s[:, 0]) / norm[0]
    want0 = -(logits0[1] - np.log(np.exp(logits0).sum()))
    logits1 = tau * np.abs(s[:, 1]) / norm[1]
    logits1[2] = -logits1[2]  # the wrong direction turns the target's logit negative
    want1 = -np.mean([logits1[k] - np.log(np.exp(logits1).sum()) for k in (2, 3)])
    np.testing.assert_allclose(losses, [want0, want1], rtol=1e-6)
    rank, auroc = target_ranks(scores, U)  # by |s|, direction ignored (tier 2's rule)
    np.testing.assert_array_equal(rank, [1, 2, 1])
    np.testing.assert_allclose(auroc, [1.0, 1.5 / 3, 1.0])  # row 1, target 2: one node below, one tie (half)


def test_inverse_loss_gradient_is_finite_and_reaches_every_learned_part(trained, net, data):
    m = trained.module
    rows, _ = prepare_rows([data], ["mean"], net.gene_index)
    batch = build_batch(rows, np.arange(12), net.n_nodes, torch.device("cpu"))
    offset = torch.full((net.n_nodes,), 0.05)  # a synthetic background
    m.zero_grad()
    values = m.edge_values(torch.as_tensor(SYNTHETIC_CONTEXTS["synthetic_ctxA"]))
    loss = inverse_row_losses(m.adjoint(observed_residual(batch, offset), values), batch.U, 10.0).mean()
    loss.backward()
    for name, p in (("edge strengths", m.ppi.omega), ("learned signs", m.ppi.theta), ("readout", m.tf.omega),
                    ("direct term", m.direct), ("gates", m.gate.node_dst)):
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert float(p.grad.abs().max()) > 0, name
    assert float(m.log_gain.grad.abs()) < 1e-4 * float(m.ppi.omega.grad.abs().max())  # scale-free: ||s|| divides


def test_training_with_the_inverse_loss_lowers_it_and_records_the_validation_ranks(net, data):
    model = TwinCell(net, 0, context_gates=False, seed=0)
    model.fit(data, max_epochs=6, lr=0.05, batch_size=8, validation_fraction=0.2, patience=6,
              inverse_loss=1.0, inverse_temperature=10.0)
    h = model.history
    assert h["inverse_loss"].iloc[-1] < h["inverse_loss"].iloc[0]
    assert h["inverse_auroc_val"].between(0, 1).all() and (h["inverse_rank_val"] >= 1).all()
    # one single-gene perturbation per gene: every validation target is a gene no training row perturbs
    np.testing.assert_allclose(h["inverse_auroc_unseen_val"], h["inverse_auroc_val"])
    assert model.metadata["fit"]["inverse_loss"] == 1.0
    off = TwinCell(net, 0, context_gates=False, seed=0).fit(data, max_epochs=1, validation_fraction=0.2)
    assert off.metadata["fit"]["inverse_loss"] == 0.0 and (off.history["inverse_loss"] == 0).all()


@pytest.mark.parametrize("option", [{"inverse_loss": -0.1}, {"inverse_loss": float("nan")},
                                    {"inverse_temperature": 0.0}])
def test_invalid_inverse_loss_settings_are_user_errors(option):
    with pytest.raises(TwinCellError) as err:
        FitConfig(**option)
    assert err.value.hint
