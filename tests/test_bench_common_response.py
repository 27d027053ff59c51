"""The target-blind control: common responses, the ``twincell_common_response`` method and a given model's twin.

All networks and responses here are synthetic (``SYN...`` genes simulated from a random TwinCell).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import twincell.bench.learned as learned
from twincell.bench import METHODS, Resources
from twincell.bench.learned import TwinCellCommonResponse, common_response_twin
from twincell.data.drugs import DrugTargets
from twincell.data.perturbation import PerturbationDataset
from twincell.errors import TwinCellError
from twincell.model import TwinCell
from twincell.model.synthetic import simulate_responses, synthetic_interactome

FIT = {"max_epochs": 3, "batch_size": 16, "lr": 0.05, "validation_fraction": 0.2, "patience": 3}


@pytest.fixture(scope="module")
def net():
    return synthetic_interactome(n_nodes=30, n_edges=90, signed_share=0.3, seed=11)


def synthetic_data(net, name: str = "synthetic_common") -> PerturbationDataset:
    """Single-gene perturbations of a random synthetic model in two contexts, a few values missing."""
    truth = TwinCell(net, 2, seed=4)
    truth.contexts = {"ctxA": np.array([1.0, 0.0], np.float32), "ctxB": np.array([0.0, 1.0], np.float32)}
    data = simulate_responses(truth, [{g: 1} for g in net.genes[:20]], ["ctxA", "ctxB"], noise=0.1, seed=2,
                              name=name)
    X = data.adata.X.copy()
    X[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
    data.adata.X = X
    return data


def drugs() -> DrugTargets:
    return DrugTargets(pd.DataFrame({"drug_id": [1], "drug": ["syn-a"], "gene": ["SYN0001"], "sign": [-1],
                                     "action_type": "INHIBITOR"}), pd.DataFrame({"drug_id": [1], "indication": ["i1"]}))


def test_common_response_is_each_contexts_mean_per_gene(net):
    data = synthetic_data(net)
    common = data.common_response()
    X, C = data.X.astype(float), common.X.astype(float)
    np.testing.assert_array_equal(np.isnan(C), np.isnan(X))  # what a row does not measure stays unmeasured
    for context in ("ctxA", "ctxB"):
        rows = (data.obs["context"] == context).to_numpy()
        expected = np.broadcast_to(np.nanmean(X[rows], axis=0), X[rows].shape)
        np.testing.assert_allclose(C[rows], np.where(np.isnan(X[rows]), np.nan, expected), rtol=1e-6)
    pd.testing.assert_frame_equal(common.obs, data.obs)  # same perturbations, targets, contexts
    assert "common_response" in common.uns["provenance"] and "common_response" not in data.uns["provenance"]
    assert not np.allclose(np.nan_to_num(C), np.nan_to_num(X))  # the input is left as it was


def fitted_weights(model: TwinCell) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.module.state_dict().items()}


def assert_same_weights(a: TwinCell, b: TwinCell) -> None:
    wa, wb = fitted_weights(a), fitted_weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], msg=k)


def test_control_trains_twincell_on_the_common_responses(net):
    data = synthetic_data(net)
    control = METHODS["twincell_common_response"](Resources(net, drugs(), seed=3, train_options=FIT))
    assert not control.is_fitted
    control.fit(data)
    direct = TwinCell(net, 0, seed=3).fit([data.common_response()], **FIT)
    assert_same_weights(control.model, direct)
    plain = METHODS["twincell"](Resources(net, drugs(), seed=3, train_options=FIT)).fit(data)
    assert not torch.equal(fitted_weights(plain.model)["ppi.theta"], fitted_weights(control.model)["ppi.theta"])


def test_twin_of_a_given_model_is_trained_once_on_its_datasets_common_responses(net, tmp_path, monkeypatch):
    monkeypatch.setenv("TWINCELL_CACHE", str(tmp_path))
    data = synthetic_data(net, name="cytosig")  # named like a bundled dataset; load_bundled is patched to give it
    monkeypatch.setattr(learned, "load_bundled", lambda name: data if name == "cytosig" else None)
    model = TwinCell(net, 0, seed=5).fit([data], **FIT)
    control = TwinCellCommonResponse(Resources(net, drugs(), seed=0, model=model))
    assert control.is_fitted and control.model is None  # the twin trains on first use
    scores = control.rank_targets(pd.Series({"SYN0025": 1.0, "SYN0026": -1.0}))
    assert scores.index.equals(pd.Index(net.genes)) and (scores > 0).any()
    direct = TwinCell(net, 0, seed=5).fit([data.common_response()], **FIT)
    assert_same_weights(control.model, direct)
    assert control.model.metadata["fit"] == model.metadata["fit"]
    cached = list(tmp_path.glob("control-common-response-*"))
    assert len(cached) == 1
    monkeypatch.setattr(learned, "load_bundled", lambda name: pytest.fail("the cached twin must not retrain"))
    assert_same_weights(common_response_twin(model), direct)


def test_twin_needs_a_model_trained_on_bundled_data(net):
    model = TwinCell(net, 0, seed=5).fit([synthetic_data(net)], **FIT)
    with pytest.raises(TwinCellError, match="synthetic_common"):
        common_response_twin(model)
    with pytest.raises(TwinCellError, match="nothing recorded"):
        common_response_twin(TwinCell(net, 0))


def test_twincell_and_its_scores_share_one_trained_model_per_split(net):
    data = synthetic_data(net)
    res = Resources(net, drugs(), seed=3, train_options=FIT)
    plain, share, head = (METHODS[n](res).fit(data) for n in ("twincell", "twincell_share", "twincell_head"))
    assert share.model is plain.model and head.model is plain.model  # trained once
    assert_same_weights(plain.model, TwinCell(net, 0, seed=3).fit([data], **FIT))  # as a fresh training gives
    other_seed = METHODS["twincell"](Resources(net, drugs(), seed=4, train_options=FIT)).fit(data)
    other_split = METHODS["twincell"](res).fit(data.subset(np.arange(data.n_obs)))
    control = METHODS["twincell_common_response"](res).fit(data)
    assert len({id(plain.model), id(other_seed.model), id(other_split.model), id(control.model)}) == 4
