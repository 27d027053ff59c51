"""Design options of issue 12, second session: the sign prior of unsigned edges, per-class attenuation
and the causal shrinkage of each dataset's prediction.

Networks and responses here are synthetic (``SYN0001`` ...), simulated from known TwinCell models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from twincell.model import TwinCell
from twincell.model.features import NODE_CLASS_NAMES, node_class_index, node_classes
from twincell.model.module import prior_sign
from twincell.model.synthetic import simulate_responses, synthetic_interactome
from twincell.data.perturbation import parse_targets
from twincell.errors import TwinCellError
from twincell.model.training import (DatasetHeads, FitConfig, Trainer, prepare_rows, shrinkage_factor,
                                     shrinkage_factors)


@pytest.fixture(scope="module")
def net():
    return synthetic_interactome(n_nodes=40, n_edges=120, signed_share=0.3, seed=7)


def ppi_signs(net) -> np.ndarray:
    return net.edges["sign"].to_numpy()[net.layer_mask("ppi")]


def test_prior_sign_is_the_mean_known_sign():
    assert prior_sign(np.array([1, 1, 1, -1, 0, 0, 0])) == pytest.approx(0.5)
    assert prior_sign(np.array([0, 0])) == 0.0


def test_sign_prior_starts_unsigned_edges_at_the_mean_known_sign(net):
    """Unsigned edges start at s0 (and cost nothing there) instead of 0, so the untrained model propagates over them."""
    s0 = prior_sign(ppi_signs(net))
    assert 0 < s0 < 1  # the synthetic network's known signs are 70 % activating
    with_prior = TwinCell(net, 0, context_gates=False, sign_prior=True)
    without = TwinCell(net, 0, context_gates=False)
    table = with_prior.edge_table()
    ppi = (table["layer"] == "ppi").to_numpy()
    unsigned = ppi & (table["prior_sign"] == 0).to_numpy()
    np.testing.assert_allclose(table.loc[unsigned, "sign"], s0, rtol=1e-5)
    np.testing.assert_array_equal(table.loc[ppi & ~unsigned, "sign"], table.loc[ppi & ~unsigned, "prior_sign"])
    assert float(with_prior.module.l1_deviation().detach()) == pytest.approx(0.0, abs=1e-6)
    assert with_prior.operator(None).A.nnz == int(ppi.sum())  # every PPI edge transmits
    assert without.operator(None).A.nnz == int((ppi & ~unsigned).sum())  # only the signed ones
    # the penalty pulls a learned sign toward s0, not toward 0
    with torch.no_grad():
        with_prior.module.ppi.theta.zero_()
    assert float(with_prior.module.ppi.deviation().detach()) == pytest.approx(s0, rel=1e-5)


def test_node_class_index_takes_one_class_per_node():
    multi_hot = np.array([[1, 0, 1], [0, 1, 1], [0, 1, 0], [0, 0, 0]], np.float32)  # columns: tf, ligand, receptor
    assert [NODE_CLASS_NAMES[k] for k in node_class_index(multi_hot)] == ["tf", "receptor", "ligand", "other"]


def test_class_attenuation_scales_the_edges_into_each_class(net):
    """At the start every class passes signals unchanged; a class's factor scales exactly the edges into its nodes."""
    plain = TwinCell(net, 0, context_gates=False, sign_prior=True)
    model = TwinCell(net, 0, context_gates=False, sign_prior=True, class_attenuation=True)
    before = model.module.edge_values(None)["A"].detach()
    torch.testing.assert_close(before, plain.module.edge_values(None)["A"].detach())
    tf_class = NODE_CLASS_NAMES.index("tf")
    with torch.no_grad():
        model.module.class_logit[tf_class] = -1.0
    after = model.module.edge_values(None)["A"].detach()
    into_tf = torch.as_tensor(node_class_index(node_classes(net))[model.module.ppi.edges.dst_np] == tf_class)
    assert into_tf.any() and (~into_tf).any()
    torch.testing.assert_close(after[into_tf], before[into_tf] * 2 * torch.sigmoid(torch.tensor(-1.0)))
    torch.testing.assert_close(after[~into_tf], before[~into_tf])
    # the factors are trained: the data loss has a gradient on them
    U = torch.zeros(net.n_nodes, 1)
    U[10, 0] = 1.0
    Y, _ = model.module(U)
    Y.pow(2).sum().backward()
    assert model.module.class_logit.grad is not None and model.module.class_logit.grad.abs().sum() > 0


def test_shrinkage_factor_is_the_clipped_least_squares_scale():
    rng = np.random.default_rng(0)
    causal = rng.standard_normal(5000)  # synthetic causal predictions
    assert shrinkage_factor(causal, 0.35 * causal + 0.05 * rng.standard_normal(5000)) == pytest.approx(0.35, abs=0.01)
    assert shrinkage_factor(causal, -causal) == 0.0  # a causal part that hurts is switched off
    assert shrinkage_factor(causal, 3.0 * causal) == 1.0  # never amplified
    assert shrinkage_factor(np.zeros(10), causal[:10]) == 1.0


def test_causal_shrinkage_recovers_a_known_shrink_factor(net):
    """A model whose causal part is 2.5 times too large gets alpha = 0.4 on its validation rows."""
    truth = TwinCell(net, 0, context_gates=False, sign_prior=True, seed=2)
    data = simulate_responses(truth, [{g: 1} for g in net.genes], [None], name="synthetic_shrink")
    data.adata.X = data.adata.X + 2.0  # a response shared by every perturbation: the background
    rows, infos = prepare_rows([data], ["mean"], net.gene_index)
    model = TwinCell(net, 0, context_gates=False, sign_prior=True, seed=2)
    with torch.no_grad():
        model.module.log_gain.add_(float(np.log(2.5)))
    heads = DatasetHeads(infos, 1, net.n_nodes)
    trainer = Trainer(model.module, heads, rows, infos, None, FitConfig(validation_fraction=0.5, causal_shrinkage=True))
    heads.background.fill_(2.0)  # the exact background, so that the residual is the true causal response
    alpha = trainer.fit_shrinkage()
    assert alpha == pytest.approx(np.array([[0.4, 0.4]]), abs=1e-4)  # "joint": one factor for both parts
    assert float(heads.causal_factor(0)) == pytest.approx(0.4, abs=1e-4)


def test_shrinkage_factors_fit_the_two_parts_together():
    rng = np.random.default_rng(1)
    network, own = rng.standard_normal(4000), np.where(rng.random(4000) < 0.1, 3.0, 0.0)  # synthetic parts
    residual = 0.3 * network + 0.8 * own + 0.05 * rng.standard_normal(4000)
    assert shrinkage_factors(network, own, residual) == pytest.approx((0.3, 0.8), abs=0.01)
    assert shrinkage_factors(network, own, -network + 2.0 * own) == pytest.approx((0.0, 1.0))  # bounded to [0, 1]
    assert shrinkage_factors(network, np.zeros(4000), residual) == (shrinkage_factor(network, residual), 1.0)
    assert shrinkage_factors(np.zeros(4000), own, residual)[0] == 1.0


def test_fit_config_reads_the_old_boolean_shrinkage_and_refuses_unknown_modes():
    assert FitConfig(causal_shrinkage=True).causal_shrinkage == "joint"
    assert FitConfig(causal_shrinkage=False).causal_shrinkage == "none"
    with pytest.raises(TwinCellError, match="causal_shrinkage"):
        FitConfig(causal_shrinkage="both")
    with pytest.raises(TwinCellError, match="background_rows"):
        FitConfig(background_rows="validation")


def test_split_shrinkage_keeps_a_right_self_term_when_the_network_part_is_too_large(net):
    """Over-expression rows of a model whose network part is 2.5 times too large and whose self term is right:
    "split" gives the network part 0.4 and the self term 1; "joint" must compromise on one factor between them."""
    truth = TwinCell(net, 0, context_gates=False, sign_prior=True, seed=2)
    data = simulate_responses(truth, [{g: 1} for g in net.genes], [None], perturbation_type="overexpression",
                              name="synthetic_split")
    rows, infos = prepare_rows([data], ["mean"], net.gene_index)
    model = TwinCell(net, 0, context_gates=False, sign_prior=True, seed=2)
    with torch.no_grad():
        model.module.log_gain.add_(float(np.log(2.5)))
        model.module.self_weight.copy_(truth.module.self_weight)  # the network part scales with the gain, not this
    alphas = {}
    for mode in ("split", "joint"):
        heads = DatasetHeads(infos, 1, net.n_nodes)
        trainer = Trainer(model.module, heads, rows, infos, None,
                          FitConfig(validation_fraction=0.5, causal_shrinkage=mode))
        heads.background.zero_()  # the exact background (the truth has none)
        alphas[mode] = trainer.fit_shrinkage()[0]
    assert alphas["split"] == pytest.approx([0.4, 1.0], abs=1e-3)
    assert alphas["joint"][0] == alphas["joint"][1] and 0.4 + 1e-3 < alphas["joint"][0] < 1.0 - 1e-3


def test_fit_with_causal_shrinkage_scales_only_the_causal_part(net, tmp_path):
    """predict_dataset = background + alpha * causal part; alpha is kept by save / load; the operator ignores it."""
    truth = TwinCell(net, 0, context_gates=False, sign_prior=True, seed=4)
    data = simulate_responses(truth, [{g: 1} for g in net.genes], [None], noise=0.5, seed=1, name="synthetic_fit")
    model = TwinCell(net, 0, context_gates=False, seed=4)
    reference = TwinCell(net, 0, context_gates=False, seed=4)
    model.fit(data, max_epochs=2, validation_fraction=0.3)  # causal shrinkage is the default
    reference.fit(data, max_epochs=2, validation_fraction=0.3, causal_shrinkage=False)
    alpha = model.metadata["causal_shrinkage"]["synthetic_fit"]
    assert 0.0 <= alpha <= 1.0 and alpha == pytest.approx(float(model.heads.causal_factor(0)))
    assert reference.metadata["causal_shrinkage"]["synthetic_fit"] == 1.0  # off: the causal part unshrunk
    causal = model.predict_dataset(data, background=False)
    background = model.heads.offset(0, 0).numpy().astype(np.float64)[model.interactome.node_index(list(data.genes))]
    np.testing.assert_allclose(model.predict_dataset(data), background + alpha * causal, rtol=1e-5, atol=1e-6)
    # an example without a target in the network has no causal part: its prediction is the background
    data.adata.obs["targets"] = data.adata.obs["targets"].astype(str)
    data.adata.obs.iloc[0, data.adata.obs.columns.get_loc("targets")] = ""
    np.testing.assert_allclose(model.predict_dataset(data)[0], background, rtol=1e-5, atol=1e-6)
    assert np.isnan(model.predict_dataset(data, background=False)[0]).all()
    assert (model.operator(None).A != reference.operator(None).A).nnz == 0  # same training, rankings untouched
    loaded = TwinCell.load(model.save(tmp_path / "m"))
    assert float(loaded.heads.causal_factor(0)) == pytest.approx(alpha)


def test_split_shrinkage_and_background_over_every_row_change_only_forward_predictions(net, tmp_path):
    """predict_dataset = background over every row + alpha_net * network part + alpha_self * self term (the default);
    the operator is the one-factor, training-row model's (same training), and both factors survive save / load."""
    truth = TwinCell(net, 0, context_gates=False, sign_prior=True, seed=4)
    data = simulate_responses(truth, [{g: 1} for g in net.genes], [None], noise=0.5, seed=1,
                              perturbation_type="overexpression", name="synthetic_split_fit")
    model = TwinCell(net, 0, context_gates=False, seed=4)
    reference = TwinCell(net, 0, context_gates=False, seed=4)
    model.fit(data, max_epochs=2, validation_fraction=0.3)  # "split" and "all" are the defaults
    reference.fit(data, max_epochs=2, validation_fraction=0.3, causal_shrinkage="joint", background_rows="training")
    a_net = model.metadata["causal_shrinkage"]["synthetic_split_fit"]
    a_self = model.metadata["self_shrinkage"]["synthetic_split_fit"]
    assert reference.metadata["self_shrinkage"] == reference.metadata["causal_shrinkage"]
    nodes = model.interactome.node_index(list(data.genes))
    background = model.heads.offset(0, 0).numpy().astype(np.float64)[nodes]
    np.testing.assert_allclose(background, np.nanmean(np.asarray(data.X, float), axis=0), rtol=1e-5, atol=1e-6)
    causal = model.predict_dataset(data, background=False)
    own = np.zeros_like(causal)
    rows = np.arange(data.n_obs)
    target_columns = [list(data.genes).index(next(iter(parse_targets(t)))) for t in data.obs["targets"]]
    own[rows, target_columns] = float(model.module.self_weight.detach())  # each row over-expresses one gene (+1)
    np.testing.assert_allclose(model.predict_dataset(data), background + a_net * (causal - own) + a_self * own,
                               rtol=1e-5, atol=1e-5)
    assert (model.operator(None).A != reference.operator(None).A).nnz == 0
    loaded = TwinCell.load(model.save(tmp_path / "m"))
    assert (float(loaded.heads.causal_factor(0)), float(loaded.heads.self_factor(0))) == pytest.approx((a_net, a_self))
    np.testing.assert_allclose(loaded.predict_dataset(data), model.predict_dataset(data), rtol=1e-6, atol=1e-6)


def test_sign_prior_and_class_attenuation_survive_save_and_load(net, tmp_path):
    model = TwinCell(net, 0, context_gates=False, sign_prior=True, class_attenuation=True, seed=3)
    with torch.no_grad():
        model.module.class_logit.copy_(torch.tensor([-0.5, 0.3, 0.0, 0.8]))
        model.module.ppi.theta.add_(0.1)
    loaded = TwinCell.load(model.save(tmp_path / "m"))
    assert loaded.hparams["sign_prior"] and loaded.hparams["class_attenuation"]
    assert abs(loaded.operator(None).A - model.operator(None).A).max() < 1e-12


def test_genes_outside_the_network_are_predicted_by_their_background(net, tmp_path):
    """A measured gene that is not a node enters the background only: predicted as its training mean, never a loss."""
    import anndata as ad

    from twincell.data.perturbation import PerturbationDataset

    truth = TwinCell(net, 0, context_gates=False, sign_prior=True, seed=5)
    data = simulate_responses(truth, [{g: 1} for g in net.genes], [None], noise=0.2, seed=3, name="synthetic_offnet")
    a = data.adata
    genes = pd.Index([*a.var_names, "SYNTHETIC_OFF_NETWORK"], name="gene")
    wide = ad.AnnData(np.hstack([a.X, np.full((a.n_obs, 1), 3.0, np.float32)]), obs=a.obs.copy(),
                      var=pd.DataFrame(index=genes), uns=dict(a.uns))
    with_extra = PerturbationDataset(wide, validate=False)
    models = {}
    for key, ds in (("with", with_extra), ("without", data)):
        models[key] = TwinCell(net, 0, context_gates=False, seed=5).fit(ds, max_epochs=2, validation_fraction=0.3)
    model = models["with"]
    assert model.metadata["background_genes"] == ["SYNTHETIC_OFF_NETWORK"]
    # the extra column changes no loss, so training is the same
    assert abs(model.operator(None).A - models["without"].operator(None).A).max() < 1e-6
    pred = model.predict_dataset(with_extra)
    np.testing.assert_allclose(pred[:, -1], 3.0, rtol=1e-6)
    assert np.isnan(model.predict_dataset(with_extra, background=False)[:, -1]).all()
    np.testing.assert_allclose(TwinCell.load(model.save(tmp_path / "m")).predict_dataset(with_extra), pred, rtol=1e-5)
