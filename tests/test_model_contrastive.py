"""The contrastive loss: its value on a toy batch, what it ignores, and the fit option (synthetic data only)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from twincell.errors import TwinCellError
from twincell.model import TwinCell
from twincell.model.synthetic import simulate_responses, synthetic_interactome
from twincell.model.training import Batch, FitConfig, contrastive_row_losses


def toy_batch(U: torch.Tensor, observed: dict[int, dict[int, float]]) -> Batch:
    """A batch over N = U.shape[0] nodes: row -> {node: observed value}."""
    col, node, value = zip(*[(c, n, v) for c, row in observed.items() for n, v in row.items()])
    return Batch(0, 0, U, torch.zeros(U.shape[1], dtype=torch.bool), torch.tensor(col), torch.tensor(node),
                 torch.tensor(value, dtype=torch.float32))


def manual(pred: np.ndarray, observed: dict[int, dict[int, float]], offset: np.ndarray, tau: float,
           same: np.ndarray) -> np.ndarray:
    """Row by row: cosine of the background-removed response with each prediction on the row's genes."""
    out = []
    for i, row in observed.items():
        genes = np.array(list(row))
        y = np.array(list(row.values())) - offset[genes]
        logits = np.array([y @ pred[genes, j] / (np.linalg.norm(y) * np.linalg.norm(pred[genes, j]))
                           for j in range(pred.shape[1])]) / tau
        out.append(np.log(np.exp(logits).sum()) - np.log(np.exp(logits[same[i]]).sum()))
    return np.array(out)


def test_contrastive_loss_is_the_cosine_softmax_over_the_batch():
    U = torch.zeros(6, 3)
    U[0, 0], U[1, 1], U[0, 2] = 1.0, 1.0, 1.0  # rows 0 and 2 perturb the same gene: both right for each other
    observed = {0: {2: 1.0, 3: -0.5, 4: 0.2}, 1: {2: -0.3, 5: 1.2}, 2: {3: 0.7, 4: 0.9, 5: -0.1}}
    pred = torch.tensor(np.random.default_rng(0).normal(size=(6, 3)), dtype=torch.float32)
    offset = torch.tensor([0.0, 0.0, 0.1, -0.2, 0.0, 0.3])
    same = np.array([[True, False, True], [False, True, False], [True, False, True]])
    got = contrastive_row_losses(pred, toy_batch(U, observed), offset, 0.5).numpy()
    np.testing.assert_allclose(got, manual(pred.numpy(), observed, offset.numpy(), 0.5, same), rtol=1e-5)
    # a prediction's size (a node's reach) changes nothing: only its direction on the measured genes counts
    scaled = pred * torch.tensor([10.0, 1.0, 0.1])
    np.testing.assert_allclose(contrastive_row_losses(scaled, toy_batch(U, observed), offset, 0.5).numpy(), got,
                               rtol=1e-5)


def test_identical_predictions_earn_nothing():
    """When every perturbation predicts the same response, each row's loss is log(B / its matches): the floor a
    response shared by all rows cannot beat."""
    U = torch.eye(4)[:, :3]
    observed = {i: {3: 1.0 + i, 2: -0.5} for i in range(3)}
    pred = torch.ones(4, 3)
    got = contrastive_row_losses(pred, toy_batch(U, observed), torch.zeros(4), 0.1).numpy()
    np.testing.assert_allclose(got, np.log(3.0), rtol=1e-6)


def test_fit_records_the_contrastive_loss_and_checks_its_settings():
    net = synthetic_interactome(n_nodes=30, n_edges=90, signed_share=0.3, seed=2)
    data = simulate_responses(TwinCell(net, 0, seed=1), [{g: 1} for g in net.genes[:20]], [None], noise=0.1, seed=3,
                              name="synthetic_contrastive")
    fit = {"max_epochs": 2, "batch_size": 10, "validation_fraction": 0.0, "patience": 2}
    off = TwinCell(net, 0, seed=0).fit(data, **fit)
    on = TwinCell(net, 0, seed=0).fit(data, contrastive_loss=0.5, **fit)
    assert (off.history["contrastive_loss"] == 0).all() and (on.history["contrastive_loss"] > 0).all()
    assert not torch.equal(off.module.ppi.theta, on.module.ppi.theta)  # the loss moves the learned signs
    for bad in ({"contrastive_loss": -1.0}, {"contrastive_temperature": 0.0}, {"contrastive_loss": float("nan")}):
        with pytest.raises(TwinCellError, match="contrastive"):
            FitConfig(**bad)
