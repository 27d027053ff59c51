"""The model's lifecycle under user mistakes: missing targets after a file round trip, clashing dataset names, context
ids in another case, bad perturbations and options, resumed trainings, devices, datasets that train nothing.

Every model here is trained on synthetic responses of a synthetic network.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

from twincell.data.perturbation import PerturbationDataset
from twincell.errors import ContextError, ModelFileError, TwinCellError
from twincell.model import TwinCell
from twincell.model.synthetic import simulate_responses, synthetic_interactome

DIM = 4


@pytest.fixture(scope="module")
def net():
    return synthetic_interactome(30, 80, 4, 5, seed=0)


@pytest.fixture(scope="module")
def contexts():
    return {c: np.random.default_rng(i).normal(size=DIM).astype(np.float32) for i, c in enumerate(("A", "B"))}


@pytest.fixture(scope="module")
def data(net, contexts):
    truth = TwinCell(net, DIM, seed=1)
    truth.contexts = dict(contexts)
    return simulate_responses(truth, [{g: -1} for g in net.genes[:20]], ["A", "B"], noise=0.1, name="synA")


@pytest.fixture(scope="module")
def model(net, contexts, data):
    return TwinCell(net, DIM).fit(data, contexts, max_epochs=2)


def test_a_missing_target_written_to_h5ad_means_targets_unknown(net, contexts, data, model, tmp_path):
    adata = data.adata.copy()
    targets = adata.obs["targets"].astype(object)
    targets.iloc[0] = None
    adata.obs["targets"] = targets
    PerturbationDataset(adata, validate=False).write(tmp_path / "d.h5ad")  # anndata stores None as NaN
    read = PerturbationDataset(ad.read_h5ad(tmp_path / "d.h5ad"), validate=False)
    fitted = TwinCell(net, DIM).fit(read, contexts, max_epochs=1)
    assert fitted.datasets[0].n_rows_used == data.n_obs - 1
    pred = model.predict_dataset(read)
    np.testing.assert_array_equal(np.isnan(pred[0]), np.isnan(model.predict_dataset(data)[0]))  # background only
    read.adata.obs["targets"] = read.obs["targets"].astype(object).where(np.arange(read.n_obs) != 1, pd.NA)
    assert np.isfinite(model.predict_dataset(read)[2]).any()


def test_two_datasets_with_one_name_are_refused(net, contexts, data):
    with pytest.raises(TwinCellError, match="two training datasets share the name 'synA'"):
        TwinCell(net, DIM).fit([data, data], contexts, max_epochs=1)


def test_a_context_id_in_another_case_gets_its_own_background(model, data):
    lower = PerturbationDataset(data.adata.copy(), validate=False)
    lower.adata.obs["context"] = lower.obs["context"].astype(str).str.lower()
    np.testing.assert_allclose(model.predict_dataset(lower), model.predict_dataset(data))


def test_predict_refuses_unknown_types_and_malformed_perturbations(model, net):
    gene = net.genes[0]
    genetic = model.predict({gene: -1}, "A", perturbation_type="knockout")[gene]
    assert abs(genetic - model.predict({gene: -1}, "A")[gene]) > 0.5  # the genetic self term
    with pytest.raises(TwinCellError, match="unknown perturbation type 'Knockout'"):
        model.predict({gene: -1}, "A", perturbation_type="Knockout")
    with pytest.raises(TwinCellError, match="mapping, not a list"):
        model.predict([gene], "A")
    with pytest.raises(TwinCellError, match="finite numbers"):
        model.predict({gene: "x"}, "A")


def test_resume_keeps_a_finished_run_and_refuses_changed_settings(net, contexts, data, tmp_path):
    ckpt = tmp_path / "ck.pt"
    kw = dict(max_epochs=40, patience=1, seed=5, lr=0.05, checkpoint=ckpt)
    first = TwinCell(net, DIM).fit(data, contexts, **kw)
    assert len(first.history) < 40  # stopped early
    again = TwinCell(net, DIM).fit(data, contexts, resume=True, **kw)
    assert list(again.history["epoch"]) == list(first.history["epoch"])
    np.testing.assert_allclose(again.predict_dataset(data), first.predict_dataset(data))
    with pytest.raises(TwinCellError, match=r"other fit settings: lr=0.05 \(now 0.001\)"):
        TwinCell(net, DIM).fit(data, contexts, resume=True, **{**kw, "lr": 0.001})


def test_load_on_a_missing_device_names_the_device_not_the_files(model, tmp_path):
    model.save(tmp_path / "m")
    with pytest.raises(TwinCellError, match="unknown device 'tpu0'") as err:
        TwinCell.load(tmp_path / "m", device="tpu0")
    assert not isinstance(err.value, ModelFileError)
    if not torch.cuda.is_available():
        with pytest.raises(TwinCellError, match="no CUDA GPU") as err:
            TwinCell.load(tmp_path / "m", device="cuda")
        assert not isinstance(err.value, ModelFileError)


@pytest.mark.parametrize("options, message", [
    ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"max_epochs": 2.5}, "max_epochs must be a whole number"),
    ({"validation_fraction": float("nan")}, "validation_fraction must be a share in"),
    ({"validation_fraction": 1.0}, "validation_fraction must be a share in"),
    ({"l1": -1.0}, "l1 must be a finite weight >= 0"),
    ({"time_budget_s": 0}, "time_budget_s must be a number of seconds > 0"),
    ({"l1": "0.1"}, "l1 must be a finite weight >= 0, got '0.1'"),                       # was: a bare TypeError
    ({"inverse_temperature": None}, "inverse_temperature must be a finite number > 0"),
    ({"lr": True}, "the learning rate must be a positive number, got True"),          # was: accepted as 1
    ({"validation_split": "gene"}, "validation_split must be one of"),
])
def test_fit_options_out_of_range_are_named(net, contexts, data, options, message):
    with pytest.raises(TwinCellError, match=message):
        TwinCell(net, DIM).fit(data, contexts, **options)


def test_a_nan_context_vector_is_named(net, contexts, data):
    bad = {**contexts, "A": np.array([np.nan, 0, 0, 0], np.float32)}
    with pytest.raises(ContextError, match="1 context vector\\(s\\) hold NaN or infinite values: A"):
        TwinCell(net, DIM).fit(data, bad)


@pytest.mark.parametrize("hparams, message", [
    ({"normalisation": "foo"}, "normalisation must be one of"),
    ({"damping": float("nan")}, "damping must be a number in \\(0, 1\\]"),
    ({"damping": 1.5}, "damping must be a number in \\(0, 1\\]"),
    ({"n_hops": -1}, "n_hops must be at least 1"),
    ({"n_hops": 2.7}, "n_hops must be a whole number"),
    ({"gate_bound": 0}, "gate_bound must be a number in \\(0, 1\\)"),
    ({"sign_prior": "yes"}, "sign_prior must be True or False"),
])
def test_hyper_parameters_out_of_range_are_named(net, hparams, message):
    with pytest.raises(TwinCellError, match=message):
        TwinCell(net, 0, **hparams)


def test_a_dataset_that_trains_nothing_is_refused(net, contexts, data):
    outside = PerturbationDataset(data.adata.copy(), validate=False)
    outside.adata.uns["source"] = "outside"
    outside.adata.obs["targets"] = "NOTINNET:-1"
    with pytest.raises(TwinCellError, match="dataset 'outside': none of its 40 rows has a target among the network"):
        TwinCell(net, DIM).fit([outside, data], contexts, max_epochs=1)
    unmeasured = PerturbationDataset(data.adata.copy(), validate=False)
    unmeasured.adata.uns["source"] = "unmeasured"
    unmeasured.adata.X = np.full(unmeasured.adata.shape, np.nan, np.float32)
    with pytest.raises(TwinCellError, match="dataset 'unmeasured': none of its 40 rows with a target in the network "
                                            "has a finite value at a network gene"):   # was: blamed the targets
        TwinCell(net, DIM).fit([unmeasured, data], contexts, max_epochs=1)


def test_a_failed_fit_leaves_a_trained_model_as_it_was(net, contexts, data, monkeypatch):
    """Synthetic: a second fit on other contexts that fails on an option must not move the gates' normalisation or
    replace the dataset heads (was: predictions moved and the cached operator no longer matched predict)."""
    model = TwinCell(net, DIM).fit(data, contexts, max_epochs=2)
    before_dataset, before = model.predict_dataset(data), model.predict({net.genes[0]: -1}, "A")
    heads = model.heads
    shifted = {c: v + 5.0 for c, v in contexts.items()}
    for options in ({"patience": 0}, {"validation_split": "gene"}, {"select_on": "inverse_auroc",
                                                                     "validation_fraction": 0.0}):
        with pytest.raises(TwinCellError):
            model.fit(data, shifted, max_epochs=1, **options)
    assert model.heads is heads
    np.testing.assert_array_equal(model.predict_dataset(data), before_dataset)
    import twincell.model.twincell as twincell_module

    class Failing(twincell_module.Trainer):  # synthetic: training runs, moves the weights, then fails
        def fit(self, *args, **kwargs):
            super().fit(*args, **kwargs)
            raise TwinCellError("synthetic failure after training", "none")

    monkeypatch.setattr(twincell_module, "Trainer", Failing)
    with pytest.raises(TwinCellError, match="synthetic failure after training"):
        model.fit(data, shifted, max_epochs=1)
    assert model.heads is heads
    np.testing.assert_array_equal(model.predict_dataset(data), before_dataset)
    np.testing.assert_array_equal(model.predict({net.genes[0]: -1}, "A"), before)
    u = model.perturbation_vector({net.genes[0]: -1})
    np.testing.assert_allclose(model.operator("A").forward(u), before, atol=1e-6)


def test_a_model_without_gates_still_refuses_an_unknown_context(net, contexts, data):
    model = TwinCell(net, DIM, context_gates=False).fit(data, contexts, max_epochs=1)
    with pytest.raises(ContextError, match="NOT_A_CONTEXT"):
        model.predict({net.genes[0]: -1}, "NOT_A_CONTEXT")
    with pytest.raises(ContextError, match="shape \\(4,\\)"):
        model.operator(np.ones(7, np.float32))
    np.testing.assert_array_equal(model.predict({net.genes[0]: -1}, "a"), model.predict({net.genes[0]: -1}, None))


def test_train_default_model_names_its_callers_mistakes(net, contexts, data, tmp_path):
    from twincell.model.default import train_default_model

    for kwargs, message in (({"hparams": {"seed": 3}}, "hparams names seed, an argument of train_default_model"),
                            ({"max_epoch": 1}, "unknown fit option\\(s\\) max_epoch"),
                            ({"checkpoint": None, "fit_extra": 1}, "unknown fit option\\(s\\) fit_extra")):
        with pytest.raises(TwinCellError, match=message):
            train_default_model(tmp_path / "m", datasets=[data], contexts=contexts, interactome=net, **kwargs)
    with pytest.raises(ContextError, match="no context vectors given"):
        train_default_model(tmp_path / "m", datasets=[data], contexts={}, interactome=net)
    assert not (tmp_path / "m").exists()


def test_model_maths_edge_cases_are_refused_or_kept_finite(net, contexts, data):
    """Synthetic: every known sign +1 made the sign prior atanh(1) = inf (unlearnable signs, NaN penalty); a gate bound
    of 1.5 let a context flip edges; a repeated edge, a scalar perturbation and text gave bare errors."""
    from twincell.model.module import prior_sign
    from twincell.network import Interactome

    assert prior_sign(np.array([1, 1, 0])) == pytest.approx(0.99)
    one_sign = Interactome(net.edges.assign(sign=np.where(net.edges["sign"] != 0, 1, 0)))
    for hparams in ({}, {"receiver_sign": True}, {"edge_model": "shared"}):
        m = TwinCell(one_sign, DIM, sign_prior=True, **hparams)
        assert torch.isfinite(m.module.ppi.theta).all() and torch.isfinite(m.module.l1_deviation())
    with pytest.raises(TwinCellError, match="gate_bound must be a number in \\(0, 1\\)"):
        TwinCell(net, DIM, gate_bound=1.5)
    with pytest.raises(TwinCellError, match="lists 1 edge\\(s\\) more than once"):
        Interactome(pd.concat([net.edges, net.edges.head(1)]))
    op = TwinCell(net, DIM).operator(None)
    for bad in (5.0, None, "abc"):
        with pytest.raises(TwinCellError):
            op.forward(bad)


def test_a_gate_free_model_shares_one_operator_over_its_contexts(net, contexts, data):
    model = TwinCell(net, DIM, context_gates=False).fit(data, contexts, max_epochs=1)
    a, b = model.operator("A"), model.operator("B")
    assert a.A is b.A and a.context == "A" and b.context == "B" and a.context_free
