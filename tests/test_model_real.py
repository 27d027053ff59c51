"""TwinCell on the real interactome: construction, exact operator, causal zeros, a short fit, GPU path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from twincell.errors import TwinCellError
from twincell.model import TwinCell
from twincell.model.synthetic import simulate_responses


@pytest.fixture(scope="module")
def model(interactome):
    m = TwinCell(interactome, 4, seed=0)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        m.module.gate.node_dst.normal_(generator=g)
        m.module.ppi.theta.copy_(0.1 * torch.randn(m.module.ppi.theta.shape, generator=g))
    m.contexts = {"ctx": np.array([1.0, -0.5, 0.2, 0.0], np.float32)}
    return m


def test_real_network_forward_equals_operator_and_respects_reachability(model, interactome):
    pert = {"MAP2K1": -1, "MAP2K2": -1}
    y = model.predict(pert, "ctx")
    op = model.operator("ctx")
    np.testing.assert_allclose(op.forward(model.perturbation_vector(pert)), y.to_numpy(), rtol=1e-4, atol=1e-7)
    assert op.A.shape == (interactome.n_nodes,) * 2 and op.n_hops == model.hparams["n_hops"]
    reach = np.zeros(interactome.n_nodes, bool)
    reach[interactome.node_index(pert)] = True
    ppi, tf = (interactome.adjacency("ppi") != 0), (interactome.adjacency("tf") != 0)
    x = reach.copy()
    for _ in range(model.hparams["n_hops"]):
        x = (ppi.T @ x) > 0
        reach |= x
    reach |= (tf.T @ reach) > 0
    assert (y.to_numpy()[~reach] == 0).all() and (~reach).sum() > 100


def test_short_fit_on_real_network(model, interactome):
    genes = list(interactome.genes[:: 40])
    data = simulate_responses(model, [{"MAP2K1": -1}, {"EGFR": -1}, {"JAK1": -1}, {"MTOR": -1}], ["ctx"],
                              genes=genes, name="synthetic_real")
    fitted = TwinCell(interactome, 4, seed=1).fit(data, model.contexts, max_epochs=1, validation_fraction=0.0)
    assert len(fitted.history) == 1 and fitted.history["n_examples"].iloc[0] == 4


def test_cuda_request_without_gpu_is_a_clear_error(interactome):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(TwinCellError, match="cuda"):
        TwinCell(interactome, 0, device="cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_forward_matches_cpu(model):
    pert = {"MAP2K1": -1}
    cpu = model.predict(pert, "ctx")
    gpu = model.to("cuda").predict(pert, "ctx")
    model.to("cpu")
    np.testing.assert_allclose(gpu.to_numpy(), cpu.to_numpy(), rtol=1e-4, atol=1e-6)
