"""Tier 1's forward baselines beside ``mean``: the shrunk mean (``mean_shrunk``) and the perturbation-blind control
(``background``), on synthetic multi-context responses with a known transfer between contexts."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from test_bench_methods import synthetic_drugs, synthetic_network

from twincell.bench import METHODS, Resources, make_methods
from twincell.bench.baselines import context_transfer_factor
from twincell.data.perturbation import PerturbationDataset


def synthetic_contexts(effects: np.ndarray, noise: np.ndarray, contexts: list[str], first: int = 0,
                       ) -> PerturbationDataset:
    """Synthetic responses ``effects[p] + noise[c, p]`` of perturbations SYNP<first>.. in each context (genes SYNG0..).

    ``effects``: (n_perturbations, n_genes), shared by every context; ``noise``: (n_contexts, n_perturbations,
    n_genes), each context's own part.
    """
    n_pert, n_genes = effects.shape
    X = np.concatenate([effects + noise[i] for i in range(len(contexts))]).astype(np.float64)
    perts = [f"SYNP{first + p}" for p in range(n_pert)] * len(contexts)
    obs = pd.DataFrame({"perturbation": perts, "perturbation_type": "drug", "targets": "",
                        "context": np.repeat(contexts, n_pert), "dose": np.nan, "dataset": "synthetic_contexts"})
    obs.index = [f"{c}:{p}" for c, p in zip(obs["context"], obs["perturbation"])]
    adata = ad.AnnData(X.astype(np.float32), obs=obs, var=pd.DataFrame(index=[f"SYNG{g}" for g in range(n_genes)]))
    adata.uns.update({"value_type": "zscore", "rank_derived": False, "source": "synthetic_contexts",
                      "provenance": {"origin": "synthetic"}, "unmapped_genes": [], "unmatched_perturbations": []})
    ds = PerturbationDataset(adata, validate=False)
    ds.validate(check_genes=False)  # synthetic gene names are not HGNC symbols
    return ds


@pytest.fixture
def resources() -> Resources:
    return Resources(synthetic_network(), synthetic_drugs(), seed=0)


def test_transfer_factor_is_one_when_contexts_agree_and_absent_with_one_context():
    effects = np.random.default_rng(0).normal(size=(20, 6))
    same = synthetic_contexts(effects, np.zeros((3, 20, 6)), ["c1", "c2", "c3"])
    assert context_transfer_factor(same) == (pytest.approx(1.0), 60)
    alone = synthetic_contexts(effects, np.zeros((1, 20, 6)), ["c1"])
    assert context_transfer_factor(alone) == (1.0, 0)  # nothing measured in two contexts: the plain mean


def test_transfer_factor_recovers_the_shared_share_of_the_response():
    # shared effect variance 1, each context's own noise variance 2: the mean of the two other contexts has
    # variance 1 + 2/2 = 2 and covariance 1 with the left-out context, so the least-squares factor is 1/2
    rng = np.random.default_rng(1)
    effects, noise = rng.normal(size=(3000, 4)), rng.normal(scale=np.sqrt(2.0), size=(3, 3000, 4))
    factor, n_rows = context_transfer_factor(synthetic_contexts(effects, noise, ["c1", "c2", "c3"]))
    assert factor == pytest.approx(0.5, abs=0.03) and n_rows == 9000
    # unrelated contexts: nothing carries (the factor is clipped at 0 from a small negative or positive value)
    unrelated, _ = context_transfer_factor(synthetic_contexts(np.zeros((3000, 4)), noise, ["c1", "c2", "c3"]))
    assert unrelated == pytest.approx(0.0, abs=0.03)


def test_transfer_factor_leaves_unmeasured_entries_out():
    rng = np.random.default_rng(2)
    effects = rng.normal(size=(50, 5))
    data = synthetic_contexts(effects, np.zeros((3, 50, 5)), ["c1", "c2", "c3"])
    first_context = np.zeros(data.adata.X.shape, bool)
    first_context[:50] = rng.random((50, 5)) < 0.3
    data.adata.X[first_context] = np.nan  # unmeasured in c1 only: the other contexts always measure the entry
    factor, _ = context_transfer_factor(data)
    assert factor == pytest.approx(1.0)


def test_shrunk_mean_and_background_predictions(resources):
    rng = np.random.default_rng(3)
    effects, noise = rng.normal(size=(10, 5)), rng.normal(size=(4, 10, 5))
    data = synthetic_contexts(effects, noise, ["c1", "c2", "c3", "c4"])
    in_training = data.obs["context"].ne("c4").to_numpy()
    train, test = data.subset(in_training), data.subset(~in_training)
    mean, shrunk, background = make_methods(["mean", "mean_shrunk", "background"], resources)
    for method in (mean, shrunk, background):
        method.fit(train)
    X = np.asarray(train.X, dtype=np.float64)
    overall = X.mean(axis=0)
    per_pert = X.reshape(3, 10, 5).mean(axis=0)  # training rows: context-major, perturbations in order
    a = context_transfer_factor(train)[0]
    assert 0.0 < a < 1.0 and shrunk.factor == a and shrunk.n_factor_rows == 30
    np.testing.assert_allclose(mean.predict_response(test).to_numpy(), per_pert, rtol=1e-6)
    np.testing.assert_allclose(shrunk.predict_response(test).to_numpy(), overall + a * (per_pert - overall), rtol=1e-6)
    # background: the perturbation is ignored; a training context gets its own mean, a new one the mean of all rows
    np.testing.assert_allclose(background.predict_response(test).to_numpy(), np.tile(overall, (10, 1)), rtol=1e-6)
    seen = background.predict_response(train.subset(train.obs["context"].eq("c2").to_numpy())).to_numpy()
    np.testing.assert_allclose(seen, np.tile(X[10:20].mean(axis=0), (10, 1)), rtol=1e-6)
    assert not METHODS["background"].sees_input and METHODS["mean_shrunk"].sees_input
    assert not (METHODS["background"].ranks_targets or METHODS["mean_shrunk"].ranks_targets)
    # an unseen perturbation: the shrunk mean predicts the mean of all training rows, as the mean does
    unseen = synthetic_contexts(effects[:2] + 5.0, noise[:1, :2], ["c4"], first=10)
    np.testing.assert_allclose(shrunk.predict_response(unseen).to_numpy(), np.tile(overall, (2, 1)), rtol=1e-6)


def test_unfitted_forward_baselines_say_so(resources):
    from twincell.errors import TwinCellError

    data = synthetic_contexts(np.zeros((2, 3)), np.zeros((1, 2, 3)), ["c1"])
    for method in make_methods(["mean", "mean_shrunk", "background"], resources):
        with pytest.raises(TwinCellError, match="is not fitted"):
            method.predict_response(data)
