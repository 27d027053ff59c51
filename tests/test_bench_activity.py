"""The TF activity baseline (decoupler's ulm over the interactome's TF layer), on synthetic regulons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from twincell.bench import Resources, make_methods, run_method
from twincell.bench.activity import TMIN, regulon_matrix, ulm_activities
from twincell.data.drugs import DrugTargets
from twincell.data.signatures import Signature
from twincell.network import Interactome


@pytest.fixture(scope="module")
def net() -> Interactome:
    """Synthetic network: TFs T1 (8 targets, 2 repressed), T2 (6 targets), T3 (3 targets, under TMIN), one PPI edge."""
    genes = [f"G{i}" for i in range(40)]
    tf = ([("T1", g, -1 if i < 2 else 1) for i, g in enumerate(genes[:8])]
          + [("T2", g, 1) for g in genes[5:11]] + [("T3", g, 1) for g in genes[20:23]])
    edges = pd.DataFrame(tf, columns=["source", "target", "sign"]).assign(layer="tf", directed=True)
    ppi = pd.DataFrame({"source": ["K1"], "target": ["T1"], "sign": [1], "layer": ["ppi"], "directed": [True]})
    return Interactome(pd.concat([edges, ppi], ignore_index=True).assign(weight=1.0, sources="synthetic"))


@pytest.fixture(scope="module")
def method(net):
    drugs = DrugTargets(pd.DataFrame({"drug_id": [0], "drug": ["syn-K1"], "gene": ["K1"], "sign": [-1],
                                      "action_type": ["INHIBITOR"]}))
    return make_methods(["tf_activity"], Resources(net, drugs, seed=0))[0]


def _regulon(net, tf: str) -> pd.Series:
    """The TF's targets -> weight (+1 / -1) in the synthetic network."""
    e = net.edges[(net.edges["layer"] == "tf") & (net.edges["source"] == tf)]
    return pd.Series(np.where(e["sign"] < 0, -1.0, 1.0), index=e["target"].to_numpy())


def _ols_t(net, tf: str, signature: pd.Series) -> float:
    """Slope t-value of statsmodels' OLS of the signature on the TF's regulon weights (0 off the regulon)."""
    x = _regulon(net, tf).reindex(signature.index, fill_value=0.0)
    return float(sm.OLS(signature.to_numpy(), sm.add_constant(x.to_numpy())).fit().tvalues[1])


def test_ulm_t_values_equal_statsmodels_ols(net):
    weights, tfs, targets = regulon_matrix(net)
    assert list(tfs) == ["T1", "T2", "T3"] and weights[tfs.get_loc("T1")].sum() == 8 - 2 * 2
    rng = np.random.default_rng(0)
    signatures = [pd.Series(rng.normal(size=n), index=[f"G{i}" for i in rng.permutation(40)[:n]]) for n in (40, 25)]
    t = ulm_activities(weights, targets, signatures)
    for j, s in enumerate(signatures):
        for i, tf in enumerate(tfs):
            if _regulon(net, tf).index.isin(s.index).sum() >= TMIN:
                assert t[i, j] == pytest.approx(_ols_t(net, tf, s), rel=1e-9)
            else:
                assert np.isnan(t[i, j])
    assert np.isnan(t[tfs.get_loc("T3")]).all()  # 3 targets < TMIN


def test_tf_activity_ranks_the_planted_regulon_first_and_reverses_it(net, method):
    """A signature that moves T1's targets as T1 would (activated targets up, repressed down) ranks T1 first,
    and to reverse it T1 is to be inhibited; non-TF genes rank last."""
    rng = np.random.default_rng(1)
    genes = [f"G{i}" for i in range(40)]
    s = pd.Series(rng.normal(scale=0.2, size=40), index=genes)
    s.iloc[2:8] += 2.0
    s.iloc[:2] -= 2.0
    scores = run_method(method, Signature(name="planted", logfc=s.rename("logfc")))
    assert scores.idxmax() == "T1"
    assert scores["K1"] == scores["G0"] == scores.min() < scores["T2"]
    directions = method.target_directions(s)
    assert directions["T1"] == -1 and "K1" not in directions.index
    flipped = method.target_directions(-s)
    assert flipped["T1"] == 1


def test_tf_activity_batched_equals_one_at_a_time(method):
    rng = np.random.default_rng(2)
    sigs = [pd.Series(rng.normal(size=30), index=[f"G{i}" for i in rng.permutation(40)[:30]]) for _ in range(4)]
    many = method.rank_targets_many(sigs)
    for j, s in enumerate(sigs):
        pd.testing.assert_series_equal(many[j], method.rank_targets(s), check_names=False)
