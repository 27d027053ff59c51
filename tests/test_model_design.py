"""The design options of issue 12: shared edge parameters, in-degree normalisation, modulating gates, training.

Networks and responses here are synthetic (``SYN0001`` ...), simulated from known TwinCell models.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from twincell.model import TwinCell
from twincell.model.features import edge_features, feature_names, node_classes
from twincell.model.synthetic import simulate_responses, synthetic_interactome
from twincell.model.training import DatasetHeads, FitConfig, Trainer, prepare_rows, split_validation

DIM = 3


@pytest.fixture(scope="module")
def net():
    return synthetic_interactome(n_nodes=40, n_edges=120, signed_share=0.3, seed=7)


def shared_truth(net, seed: int = 3) -> TwinCell:
    """A synthetic ground truth whose strengths and unknown signs are functions of the edge features only."""
    model = TwinCell(net, 0, context_gates=False, edge_model="shared", seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (model.module.ppi, model.module.tf):
            layer.phi_w.copy_(0.6 * torch.randn(layer.phi_w.shape, generator=g))
            layer.phi_s.copy_(2.0 * torch.randn(layer.phi_s.shape, generator=g))
        model.module.direct.copy_(0.5 + 0.1 * torch.randn(net.n_nodes, generator=g))
    return model


def test_edge_features_layout(net):
    classes = node_classes(net)
    assert classes.shape == (net.n_nodes, 3)
    # the synthetic network's first 6 nodes are its TFs; no synthetic name is a LIANA ligand or receptor
    assert classes[:6, 0].all() and not classes[6:, 0].any() and not classes[:, 1:].any()
    ppi = net.layer_mask("ppi")
    f = edge_features(net.src[ppi], net.dst[ppi], net.edges["weight"].to_numpy()[ppi],
                      net.edges["directed"].to_numpy()[ppi], classes)
    assert f.shape == (int(ppi.sum()), len(feature_names()))
    names = feature_names()
    np.testing.assert_array_equal(f[:, names.index("bias")], 1.0)
    np.testing.assert_allclose(f[:, names.index("log_evidence")], np.log(net.edges["weight"].to_numpy()[ppi]), rtol=1e-6)
    np.testing.assert_array_equal(f[:, names.index("src_tf x dst_tf")], classes[net.src[ppi], 0] * classes[net.dst[ppi], 0])


def test_shared_edge_parameters_reproduce_a_known_toy_network(net):
    """A network whose strengths and signs follow its edge features is recovered by the shared model from
    single-gene perturbations, far better than by one free parameter per edge (same data, same fit)."""
    truth = shared_truth(net)
    data = simulate_responses(truth, [{g: 1} for g in net.genes], [None], noise=0.01, seed=1, name="synthetic_shared")
    true_e = truth.edge_table()
    ppi = (true_e["layer"] == "ppi").to_numpy()
    r = {}
    for edge_model in ("shared", "free"):
        model = TwinCell(net, 0, context_gates=False, edge_model=edge_model, seed=0)
        model.fit(data, max_epochs=80, lr=0.05, batch_size=len(net.genes), validation_fraction=0.0, l1=1e-2,
                  patience=80)
        fit_e = model.edge_table()
        r[edge_model] = np.corrcoef(true_e["strength"][ppi], fit_e["strength"][ppi])[0, 1]  # signed strengths
        if edge_model == "shared":
            assert sum(p.numel() for n, p in model.module.named_parameters() if "phi" in n) == 4 * len(feature_names())
            assert float(model.module.ppi.delta.detach().abs().mean()) < 0.1  # the shared coefficients carry the fit
    r_prior = np.corrcoef(true_e["strength"][ppi], TwinCell.prior(net).edge_table()["strength"][ppi])[0, 1]
    assert r["shared"] > 0.8 > r_prior
    assert r["shared"] > r["free"] + 0.2


def test_in_degree_normalisation_gives_each_node_unit_input(net):
    model = TwinCell(net, 0, context_gates=False, normalisation="in_degree")
    layer = model.module.ppi
    incoming = np.bincount(layer.edges.dst_np, weights=(layer.norm * layer.w0).numpy(), minlength=net.n_nodes)
    has_input = np.bincount(layer.edges.dst_np, minlength=net.n_nodes) > 0
    np.testing.assert_allclose(incoming[has_input], 1.0, rtol=1e-5)
    symmetric = TwinCell(net, 0, context_gates=False, normalisation="symmetric").module.ppi
    assert not np.allclose(np.bincount(symmetric.edges.dst_np, weights=(symmetric.norm * symmetric.w0).numpy(),
                                       minlength=net.n_nodes)[has_input], 1.0)


def test_no_context_state_is_the_documented_one(net):
    """Modulating gates: no context means every gate is exactly 1, i.e. the context-free network."""
    model = TwinCell(net, DIM, gate_mode="modulate", seed=1)
    free = TwinCell(net, 0, context_gates=False, seed=1)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model.module.gate.node_dst.normal_(generator=g)
        model.module.gate.node_src.normal_(generator=g)
        free.module.load_state_dict({k: v for k, v in model.module.state_dict().items() if not k.startswith("gate.")})
    values = model.module.edge_values(None)
    assert torch.equal(values["gate_ppi"], torch.ones_like(values["gate_ppi"]))
    assert (model.operator(None).A != free.operator(None).A).nnz == 0
    # a context modulates within the bound and never closes an edge
    gates = model.module.edge_values(torch.randn(DIM, generator=g))["gate_ppi"]
    gates = gates.detach()
    assert float(gates.min()) > 0.5 - 1e-6 and float(gates.max()) < 1.5 + 1e-6 and not torch.allclose(gates, values["gate_ppi"])
    assert model.module.gate_entropy(values) is None


def test_switch_gates_without_context_sit_at_sigmoid_bias(net):
    model = TwinCell(net, DIM, gate_mode="switch", seed=1)
    gates = model.module.edge_values(None)["gate_tf"]
    torch.testing.assert_close(gates, torch.full_like(gates, float(torch.sigmoid(model.module.gate.bias.detach()))))


def test_target_split_holds_out_whole_target_genes(net):
    perts = [{a: 1, b: -1} for a, b in zip(net.genes[:-1], net.genes[1:])] + [{g: 1} for g in net.genes]
    data = simulate_responses(shared_truth(net), perts, [None], name="synthetic_split")
    rows, _ = prepare_rows([data], ["mean"], net.gene_index)
    val = split_validation(rows, 0.25, np.random.default_rng(0), by="target")
    targets = [set(rows.tgt_node[rows.tgt_ptr[i]:rows.tgt_ptr[i + 1]]) for i in range(len(rows))]
    seen_in_training = set().union(*(t for t, v in zip(targets, val) if not v))
    held = set().union(*(t for t, v in zip(targets, val) if v)) - seen_in_training
    assert 0 < val.sum() < len(rows) and held
    assert all(t & held for t, v in zip(targets, val) if v)  # every validation row perturbs a never-trained gene


def test_residual_loss_makes_the_background_worth_nothing(net):
    """With residual losses, predicting nothing but each dataset's background scores exactly 1."""
    data = simulate_responses(shared_truth(net), [{g: 1} for g in net.genes], [None], seed=2, name="synthetic_background")
    data.adata.X = data.adata.X + 2.0  # a response shared by every perturbation: the background
    rows, infos = prepare_rows([data], ["mean"], net.gene_index)
    losses = {}
    for residual in (True, False):
        model = TwinCell(net, 0, context_gates=False, seed=0)
        with torch.no_grad():
            model.module.log_gain.fill_(-30.0)  # the causal part predicts ~0: only the background is left
        heads = DatasetHeads(infos, 1, net.n_nodes)
        trainer = Trainer(model.module, heads, rows, infos, None, FitConfig(validation_fraction=0.0,
                                                                            residual_loss=residual))
        losses[residual] = trainer.evaluate(np.arange(len(rows)))["loss"]
    assert losses[True] == pytest.approx(1.0, abs=1e-4)
    assert losses[False] < 0.5  # without removing it, the shared response alone looks like a good fit


def test_a_model_saved_before_the_design_options_loads_with_its_old_behaviour(net, tmp_path):
    """A config without the new hyper-parameters is a model trained with the old maths (symmetric, switch)."""
    import json

    old = TwinCell(net, DIM, seed=0, normalisation="symmetric", gate_mode="switch", n_hops=3, damping=0.5)
    old.contexts = {"ctxA": np.ones(DIM, np.float32)}
    directory = old.save(tmp_path / "old")
    config = json.loads((directory / "config.json").read_text())
    for key in ("normalisation", "edge_model", "correction_penalty", "gate_mode", "gate_bound"):
        del config["hparams"][key]
    (directory / "config.json").write_text(json.dumps(config))
    loaded = TwinCell.load(directory)
    assert loaded.hparams["normalisation"] == "symmetric" and loaded.hparams["gate_mode"] == "switch"
    assert (loaded.operator("ctxA").A != old.operator("ctxA").A).nnz == 0
