"""The design options of issue 12: shared edge parameters, in-degree normalisation, modulating gates, training.

Networks and responses here are synthetic (``SYN0001`` ...), simulated from known TwinCell models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from twincell.errors import TwinCellError
from twincell.model import TwinCell
from twincell.model.features import EMBEDDING_DIM, edge_features, feature_names, network_embedding, node_classes
from twincell.model.synthetic import simulate_responses, synthetic_interactome
from twincell.model.training import DatasetHeads, FitConfig, Trainer, prepare_rows, split_validation
from twincell.network import Interactome

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


def two_modules(size: int = 12) -> Interactome:
    """Synthetic: two cliques of ``size`` nodes (``SYN0001..``, ``SYN0013..``) joined by one edge, plus one isolated
    TF edge (``SYN0025 -> SYN0026``)."""
    genes = [f"SYN{i:04d}" for i in range(1, 2 * size + 3)]
    rows = [(genes[m * size + i], genes[m * size + j]) for m in (0, 1) for i in range(size) for j in range(size) if i != j]
    rows.append((genes[0], genes[size]))
    edges = pd.DataFrame(rows, columns=["source", "target"]).assign(weight=1.0, sign=0, directed=True, layer="ppi",
                                                                     sources="synthetic")
    tf = pd.DataFrame({"source": [genes[-2]], "target": [genes[-1]], "weight": 1.0, "sign": 1, "directed": True,
                       "layer": "tf", "sources": "synthetic"})
    return Interactome(pd.concat([edges, tf], ignore_index=True), {"sources": ["synthetic"]})


def test_network_embedding_separates_the_modules_of_a_known_network():
    """On two cliques joined by one edge, the embedding's first vector puts the two cliques on opposite sides and the
    isolated pair near neither; it is the same on every call, standardised and clipped."""
    net = two_modules()
    e = network_embedding(net, dim=3)
    assert e.shape == (net.n_nodes, 3) and e.dtype == np.float32
    first = e[:, 0]
    assert (np.sign(first[:12]) == np.sign(first[0])).all() and (np.sign(first[12:24]) == -np.sign(first[0])).all()
    assert np.abs(first[24:]).max() < np.abs(first[:24]).min()
    np.testing.assert_array_equal(e, network_embedding(net, dim=3))
    assert np.abs(e).max() <= 1.0
    with pytest.raises(TwinCellError, match="needs more"):
        network_embedding(net, dim=net.n_nodes)


def test_embedding_features_are_each_end_and_their_product(net):
    e = network_embedding(net)
    ppi = net.layer_mask("ppi")
    src, dst = net.src[ppi], net.dst[ppi]
    f = edge_features(src, dst, net.edges["weight"].to_numpy()[ppi], net.edges["directed"].to_numpy()[ppi],
                      node_classes(net), e)
    names = feature_names(EMBEDDING_DIM)
    assert f.shape == (len(src), len(feature_names()) + 3 * EMBEDDING_DIM) and f.shape[1] == len(names)
    np.testing.assert_array_equal(f[:, names.index("src_emb0")], e[src, 0])
    np.testing.assert_array_equal(f[:, names.index("dst_emb7")], e[dst, 7])
    np.testing.assert_allclose(f[:, names.index("emb_product3")], e[src, 3] * e[dst, 3], rtol=1e-6)


def test_node_embedding_needs_a_shared_edge_model(net):
    with pytest.raises(TwinCellError, match="only a shared edge model uses"):
        TwinCell(net, 0, node_embedding="network")
    with pytest.raises(TwinCellError, match="node_embedding must be one of"):
        TwinCell(net, 0, edge_model="shared", node_embedding="geneformer")


def embedding_truth(net, seed: int) -> TwinCell:
    """A synthetic ground truth whose strengths and unknown signs are functions of the embedding features only."""
    model = TwinCell(net, 0, context_gates=False, edge_model="shared", node_embedding="network", seed=seed)
    embedded = [i for i, name in enumerate(feature_names(EMBEDDING_DIM)) if "emb" in name]
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (model.module.ppi, model.module.tf):
            layer.phi_w[embedded] = 0.3 * torch.randn(len(embedded), generator=g)
            layer.phi_s[embedded] = torch.randn(len(embedded), generator=g)
        model.module.direct.fill_(0.5)
    return model


def test_embedding_features_reproduce_a_network_that_follows_them(net, tmp_path):
    """Networks whose strengths and signs follow the two ends' embedding positions (three random truths) are
    recovered from single-gene perturbations by the shared model with the embedding (mean Pearson of the signed PPI
    strengths > 0.9), better than by the same model without it, on each truth; a model with the embedding survives save / load."""
    r: dict[str, list[float]] = {"network": [], "none": []}
    for seed in (11, 12, 13):
        truth = embedding_truth(net, seed)
        data = simulate_responses(truth, [{g: 1} for g in net.genes], [None], noise=0.01, seed=1,
                                  name="synthetic_embedded")
        true_e = truth.edge_table()
        ppi = (true_e["layer"] == "ppi").to_numpy()
        for embedding in r:
            model = TwinCell(net, 0, context_gates=False, edge_model="shared", node_embedding=embedding, seed=0)
            model.fit(data, max_epochs=80, lr=0.05, batch_size=len(net.genes), validation_fraction=0.0, l1=1e-2,
                      patience=80)
            r[embedding].append(np.corrcoef(true_e["strength"][ppi], model.edge_table()["strength"][ppi])[0, 1])
    assert np.mean(r["network"]) > 0.9 and all(a > b for a, b in zip(r["network"], r["none"]))
    embedded = TwinCell(net, 0, edge_model="shared", node_embedding="network", seed=0)
    reloaded = TwinCell.load(embedded.save(tmp_path / "with_embedding"))
    assert reloaded.hparams["node_embedding"] == "network"
    np.testing.assert_array_equal(reloaded.module.ppi.features.numpy(), embedded.module.ppi.features.numpy())


def strength_recovery(net, edge_models: tuple[str, ...]) -> tuple[dict[str, float], dict[str, TwinCell], np.ndarray]:
    """Fit each edge model to single-gene perturbations of :func:`shared_truth` on ``net``.

    Returns the Pearson correlation of each fitted model's signed PPI strengths with the truth's, the fitted
    models, and the truth's (E_ppi,) signed strengths.
    """
    truth = shared_truth(net)
    data = simulate_responses(truth, [{g: 1} for g in net.genes], [None], noise=0.01, seed=1, name="synthetic_shared")
    true_e = truth.edge_table()
    ppi = (true_e["layer"] == "ppi").to_numpy()
    r, models = {}, {}
    for edge_model in edge_models:
        model = models[edge_model] = TwinCell(net, 0, context_gates=False, edge_model=edge_model, seed=0)
        model.fit(data, max_epochs=80, lr=0.05, batch_size=len(net.genes), validation_fraction=0.0, l1=1e-2,
                  patience=80)
        r[edge_model] = np.corrcoef(true_e["strength"][ppi], model.edge_table()["strength"][ppi])[0, 1]
    return r, models, true_e["strength"].to_numpy()[ppi]


def test_shared_edge_parameters_reproduce_a_known_toy_network(net):
    """A network whose strengths and signs follow its edge features is recovered by the shared model from
    single-gene perturbations, far better than by one free parameter per edge (same data, same fit)."""
    r, models, truth = strength_recovery(net, ("shared", "free"))
    shared = models["shared"].module
    assert sum(p.numel() for n, p in shared.named_parameters() if "phi" in n) == 4 * len(feature_names())
    assert float(shared.ppi.delta.detach().abs().mean()) < 0.1  # the shared coefficients carry the fit
    prior = TwinCell.prior(net).edge_table()
    r_prior = np.corrcoef(truth, prior["strength"][(prior["layer"] == "ppi").to_numpy()])[0, 1]
    assert r["shared"] > 0.8 > r_prior
    assert r["shared"] > r["free"] + 0.2


def test_shared_strengths_keep_per_edge_signs_closed_at_the_start(net):
    """``shared_strength`` shares the strengths (``phi_w``) but not the signs: no ``phi_s``, every unsigned edge
    starts closed as in the free model, and on a network with every sign known it recovers strengths that follow
    the edge features as the fully shared model does."""
    model = TwinCell(net, 0, context_gates=False, edge_model="shared_strength", seed=0)
    names = {n for n, _ in model.module.named_parameters()}
    assert {"ppi.phi_w", "ppi.delta", "ppi.theta"} <= names and not any("phi_s" in n for n in names)
    assert (model.operator(None).A != TwinCell(net, 0, context_gates=False, seed=0).operator(None).A).nnz == 0
    signed = synthetic_interactome(n_nodes=40, n_edges=120, signed_share=1.0, seed=7)
    r, _, _ = strength_recovery(signed, ("shared_strength", "free"))
    assert r["shared_strength"] > 0.8 and r["shared_strength"] > r["free"] + 0.1


def receiver_truth(net, seed: int = 5) -> TwinCell:
    """A synthetic ground truth whose unsigned edges take the sign of their receiving node (+-0.96, random)."""
    model = TwinCell(net, 0, context_gates=False, receiver_sign=True, seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.module.ppi.theta_node.copy_(2.0 * torch.sign(torch.randn(net.n_nodes, generator=g)))
        model.module.direct.fill_(0.5)
    return model


def test_receiver_signs_transfer_to_genes_never_perturbed(net, tmp_path):
    """Unsigned edges whose sign belongs to the receiving node: trained on perturbations of half the genes, the
    receiver-sign model predicts the responses to the other half better than one free sign per edge (relative
    error under 3/4 of the free model's), and gets the signs of the unsigned edges leaving those genes right."""
    truth = receiver_truth(net)
    genes = list(net.genes)
    train = simulate_responses(truth, [{g: 1} for g in genes[::2]], [None], noise=0.01, seed=1, name="synthetic_train")
    held = [{g: 1} for g in genes[1::2]]
    expected = np.array([truth.predict(p, None).to_numpy() for p in held])
    true_e = truth.edge_table()
    leaving_held = ((true_e["layer"] == "ppi") & (true_e["prior_sign"] == 0) & true_e["source"].isin(genes[1::2])).to_numpy()
    error, agree = {}, {}
    for receiver in (True, False):
        model = TwinCell(net, 0, context_gates=False, receiver_sign=receiver, seed=0)
        model.fit(train, max_epochs=80, lr=0.05, batch_size=len(genes), validation_fraction=0.0, l1=1e-2, patience=80)
        predicted = np.array([model.predict(p, None).to_numpy() for p in held])
        error[receiver] = np.linalg.norm(predicted - expected) / np.linalg.norm(expected)
        fitted_sign = model.edge_table()["sign"].to_numpy()[leaving_held]
        agree[receiver] = np.mean(np.sign(fitted_sign) == np.sign(true_e["sign"].to_numpy()[leaving_held]))
        if receiver:  # the shared logits carry the fit, the per-edge corrections stay small
            layer = model.module.ppi
            correction = float((layer.theta - layer.theta_centre).detach().abs().mean())
            assert correction < 0.1 * float(layer.theta_node.detach().abs().mean())
            loaded = TwinCell.load(model.save(tmp_path / "receiver"))
            assert loaded.hparams["receiver_sign"] and (loaded.operator(None).A != model.operator(None).A).nnz == 0
    assert error[True] < 0.75 * error[False] and agree[True] > 0.9 > agree[False]


def test_frozen_signalling_learns_the_readout_alone(net):
    """``learn_signalling=False``: after fitting, the signalling edges are exactly the prior's, the readout moved."""
    data = simulate_responses(shared_truth(net), [{g: 1} for g in net.genes], [None], noise=0.01, seed=1,
                              name="synthetic_frozen")
    model = TwinCell(net, 0, context_gates=False, learn_signalling=False, seed=0)
    before = model.edge_table()
    model.fit(data, max_epochs=5, lr=0.05, batch_size=len(net.genes), validation_fraction=0.0)
    after = model.edge_table()
    ppi = (before["layer"] == "ppi").to_numpy()
    np.testing.assert_array_equal(after["weight"][ppi], before["weight"][ppi])
    np.testing.assert_array_equal(after["sign"][ppi], before["sign"][ppi])
    assert not np.allclose(after["weight"][~ppi], before["weight"][~ppi])


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


def test_selection_on_the_inverse_task_keeps_the_epoch_that_ranks_targets_best(net):
    """``select_on="inverse_auroc"``: the weights kept are the epoch with the best validation inverse AUROC (not the
    lowest loss), and they reproduce that AUROC; bad settings are refused with a clear error."""
    data = simulate_responses(shared_truth(net), [{g: 1} for g in net.genes] + [{g: -1} for g in net.genes], [None],
                              noise=0.5, seed=3, name="synthetic_selection")
    rows, infos = prepare_rows([data], ["mean"], net.gene_index)
    model = TwinCell(net, 0, context_gates=False, seed=0)
    heads = DatasetHeads(infos, 1, net.n_nodes)
    config = FitConfig(max_epochs=8, patience=8, lr=0.2, batch_size=8, validation_fraction=0.3,
                       causal_shrinkage=False, background_rows="training", select_on="inverse_auroc")  # the
    # background the epochs were scored with (the default refits it over every row after training)
    trainer = Trainer(model.module, heads, rows, infos, None, config)
    history = trainer.fit()
    best = history["inverse_auroc_val"].to_numpy()
    assert trainer.evaluate(trainer.val_idx)["inverse_auroc"] == pytest.approx(best.max(), abs=1e-9)
    assert history["kept"].sum() == 1 and history["kept"].idxmax() == history["inverse_auroc_val"].idxmax()
    assert history["val_loss"].idxmin() != history["inverse_auroc_val"].idxmax()  # the two criteria differ here
    with pytest.raises(TwinCellError, match="select_on must be one of"):
        FitConfig(select_on="auroc")
    with pytest.raises(TwinCellError, match="needs validation rows"):
        FitConfig(select_on="inverse_auroc", validation_fraction=0.0)
