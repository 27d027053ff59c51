"""The inverse head (twincell.identify.head) and its TwinBench methods, on synthetic networks and features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twincell.bench import Resources, run_method
from twincell.bench.learned import TwinCellHead, TwinCellHeadPrior
from twincell.data.drugs import DrugTargets
from twincell.data.signatures import Signature
from twincell.errors import TwinCellError
from twincell.identify.head import (PRIOR_FEATURES, SIGNATURE_FEATURES, HeadInputs, InverseHead, fit_weights,
                                    held_out_rows, log_magnitude, standardise)
from twincell.model import TwinCell
from twincell.model.synthetic import simulate_responses, synthetic_interactome
from twincell.network.propagation import random_walk_with_restart, walk_transition


@pytest.fixture(scope="module")
def synthetic_operator():
    """A synthetic 60-node signed network, its untrained operator and 40 random synthetic desired changes."""
    net = synthetic_interactome(n_nodes=60, n_edges=240, n_tfs=8, seed=3)
    op = TwinCell.prior(net).operator(None)
    rng = np.random.default_rng(0)
    present = rng.random((60, 40)) < 0.5
    D = np.where(present, rng.normal(size=(60, 40)), 0.0)
    return net, op, D, present


def test_fit_weights_finds_the_feature_whose_argmax_is_the_target():
    rng = np.random.default_rng(1)
    F = standardise(rng.normal(size=(80, 50, 3)))  # synthetic features, 80 signatures x 50 candidates
    targets = [np.array([int(np.argmax(F[b, :, 1]))]) for b in range(80)]
    w = fit_weights(F, targets, l2=1e-3)
    assert w[1] > 0
    assert w[1] > 5 * np.abs(w[[0, 2]]).max()


def test_head_learns_the_planted_adjoint_feature_and_scores_its_linear_predictor(synthetic_operator):
    net, op, D, present = synthetic_operator
    inputs = HeadInputs.of(op, net)
    plain = np.asarray(op.adjoint(D))
    targets = [np.array([int(np.argmax(np.abs(plain[:, b])))]) for b in range(D.shape[1])]
    head = InverseHead.fit(inputs, D, present, targets, l2=1e-3)
    weights = head.weight_table()
    assert list(weights) == list(SIGNATURE_FEATURES)
    assert weights["adjoint"] > 0
    assert weights["adjoint"] == max(weights.values(), key=abs)

    # the score is w . f with f built independently from the operator, the walk and the footprint
    walk = random_walk_with_restart(walk_transition(net), np.abs(D))
    footprint = inputs.footprint.scores(D, present)
    raw = np.stack([log_magnitude(x) for x in (plain, walk, footprint)], axis=2).transpose(1, 0, 2)
    score, direction = head.scores(inputs, D, present)
    np.testing.assert_allclose(score, (standardise(raw) @ head.weights).T, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(direction, np.sign(plain))
    # the planted targets rank first far more often than chance (1 in 60)
    assert np.mean(score.argmax(axis=0) == [t[0] for t in targets]) > 0.5


def test_prior_variant_adds_the_disease_blind_features(synthetic_operator):
    net, op, D, present = synthetic_operator
    inputs = HeadInputs.of(op, net)
    targets = [np.array([b % 8]) for b in range(D.shape[1])]  # every target a TF (the first 8 nodes)
    head = InverseHead.fit(inputs, D, present, targets, prior=True)
    assert head.names == SIGNATURE_FEATURES + PRIOR_FEATURES
    assert head.weight_table()["is_tf"] > 0
    np.testing.assert_allclose(head.hubness, log_magnitude(np.abs(np.asarray(op.adjoint(D))).mean(axis=1,
                                                                                                  keepdims=True))[:, 0])


def test_bad_fitting_input_raises(synthetic_operator):
    net, op, D, present = synthetic_operator
    inputs = HeadInputs.of(op, net)
    with pytest.raises(TwinCellError, match="no fitting perturbation"):
        InverseHead.fit(inputs, D, present, [np.array([], dtype=int)] * D.shape[1])
    for n_lists in (D.shape[1] - 1, D.shape[1] + 1):  # one target list per response, neither fewer nor more
        with pytest.raises(TwinCellError, match=f"{n_lists} target lists for {D.shape[1]} responses"):
            InverseHead.fit(inputs, D, present, [np.array([0])] * n_lists)
    F = np.zeros((2, 5, 3))
    F[1, 2, 0] = np.nan
    with pytest.raises(TwinCellError, match="NaN"):
        fit_weights(F, [np.array([0]), np.array([1])])
    with pytest.raises(TwinCellError, match="no network target"):
        fit_weights(np.zeros((2, 5, 3)), [np.array([0]), np.array([], dtype=int)])
    with pytest.raises(TwinCellError, match="no validation perturbations"):
        held_out_rows(TwinCell.prior(net), [])


def test_head_methods_fit_on_the_models_validation_perturbations_only():
    net = synthetic_interactome(n_nodes=40, n_edges=140, seed=2)
    perturbations = [{str(g): 1} for g in net.genes]
    data = simulate_responses(TwinCell.prior(net), perturbations, [None], noise=0.1, perturbation_type="overexpression",
                              name="synthetic_head")
    drugs = DrugTargets(pd.DataFrame({"drug_id": [1], "drug": ["syn-a"], "gene": [str(net.genes[0])], "sign": [-1],
                                      "action_type": "INHIBITOR"}), pd.DataFrame({"drug_id": [1], "indication": ["i"]}))
    resources = Resources(net, drugs, seed=0, train_options={"max_epochs": 1, "validation_fraction": 0.25})
    method = TwinCellHeadPrior(resources).fit(data)
    held = set(method.model.metadata["validation_perturbations"])
    fitted = {label.split(":", 1)[1].split("@")[0] for label in method.fitting_rows.labels}
    assert fitted and fitted <= held
    trained_targets = {g for i in range(data.n_obs) if data.obs["perturbation"].iloc[i] not in held
                       for g in data.targets_of(i)}
    assert not {str(net.genes[t]) for ts in method.fitting_rows.targets for t in ts} & trained_targets
    # an over-expression's own transcript is not part of the response the head learns from (as in tier 2)
    rows = method.fitting_rows
    for k, ts in enumerate(rows.targets):
        assert not rows.present[ts, k].any() and not rows.D[ts, k].any()

    signature = pd.Series(np.linspace(-1, 1, 12), index=net.genes[5:17], name="synthetic")
    scores = run_method(method, Signature(name="synthetic", logfc=signature, method="synthetic"))
    assert np.isfinite(scores).all() and scores.nunique() > 1
    assert set(np.unique(method.target_directions(signature))) <= {-1.0, 0.0, 1.0}

    given = TwinCellHead(Resources(net, drugs, seed=0, model=method.model))
    with pytest.raises(TwinCellError, match="cannot read back the training data"):
        given.rank_targets(signature)
