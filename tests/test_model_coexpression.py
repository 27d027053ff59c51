"""The co-expression sign prior (``coexpression_sign``, :mod:`twincell.model.coexpression`).

Profiles, gene names (``SYN...``) and networks here are synthetic: genes built to co-vary or
anti-vary across synthetic profiles, with known signs that follow (or ignore) that co-expression.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import twincell.model.twincell as twincell_module
from twincell.model import TwinCell
from twincell.model.coexpression import Coexpression, calibrate, coexpression, shrink, sign_prior_values
from twincell.model.module import prior_sign
from twincell.model.synthetic import synthetic_interactome


def synthetic_profiles(n_profiles: int, n_pairs: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic profiles of ``2 n_pairs`` genes: pair k co-varies (sign +1) or anti-varies (-1) across profiles.

    Returns the table, both genes of every pair and the pair's true sign.
    """
    rng = np.random.default_rng(seed)
    truth = rng.choice([-1, 1], size=n_pairs)
    a = rng.lognormal(size=(n_profiles, n_pairs))
    b = np.exp(truth * np.log(a) + 0.5 * rng.normal(size=a.shape))  # monotone in a (or 1/a) plus noise
    genes_a = np.array([f"SYNA{k:03d}" for k in range(n_pairs)])
    genes_b = np.array([f"SYNB{k:03d}" for k in range(n_pairs)])
    table = pd.DataFrame(np.hstack([a, b]), columns=[*genes_a, *genes_b])
    return table, genes_a, genes_b, truth


def test_coexpression_recovers_the_sign_of_a_synthetic_coexpression():
    table, ga, gb, truth = synthetic_profiles(60, 40, seed=0)
    co = coexpression([table], ga, gb)
    assert (co.n == 60).all()
    assert (np.sign(co.rho) == truth).all()
    # Spearman: invariant to a monotone transform of one gene, symmetric in the pair
    logged = table.copy()
    logged[ga] = np.log(logged[ga])
    np.testing.assert_allclose(coexpression([logged], ga, gb).rho, co.rho, atol=1e-12)
    np.testing.assert_allclose(coexpression([table], gb, ga).rho, co.rho, atol=1e-12)


def test_pairs_without_data_and_platform_pooling():
    table, ga, gb, _ = synthetic_profiles(60, 5, seed=1)
    missing = np.array(["SYNX000"] * 5)
    co = coexpression([table], ga, missing)
    assert not co.has_data.any() and np.isnan(co.rho).all()
    # two platforms measuring the same pairs: n adds up, the pooled rho lies between the platforms' rho
    other, *_ = synthetic_profiles(30, 5, seed=2)
    other.columns = table.columns
    pooled = coexpression([table, other], ga, gb)
    one, two = coexpression([table], ga, gb).rho, coexpression([other], ga, gb).rho
    assert (pooled.n == 90).all()
    assert ((pooled.rho >= np.minimum(one, two) - 1e-12) & (pooled.rho <= np.maximum(one, two) + 1e-12)).all()


def test_shrinkage_pulls_correlations_over_few_profiles_harder():
    rho = np.array([0.4, 0.4, -0.3, 0.05, np.nan])
    co = Coexpression(rho, np.array([25, 2000, 2000, 2000, 0]))
    out = shrink(co)
    assert np.isnan(out[4])
    assert 0 < out[0] < out[1] <= 0.4  # same rho, fewer profiles: closer to 0
    assert np.sign(out[2]) == -1


def test_prior_follows_known_signs_and_stays_at_the_centre_without_information():
    table, ga, gb, truth = synthetic_profiles(60, 200, seed=3)
    co = coexpression([table], ga, gb)
    # known signs agree with the co-expression on the first 150 pairs; the last 50 are unsigned
    sign = np.where(np.arange(200) < 150, truth, 0)
    assert calibrate(shrink(co), sign)[1] > 0
    prior = sign_prior_values(co, sign, centre=0.0)
    assert (np.sign(prior[150:]) == truth[150:]).all()
    assert np.abs(prior[150:]).min() > 0.5 and np.abs(prior).max() <= 0.99
    # edges without data keep the centre
    no_data = Coexpression(np.full(200, np.nan), np.zeros(200, np.int64))
    np.testing.assert_allclose(sign_prior_values(no_data, sign, centre=0.37), 0.37, rtol=1e-6)
    # known signs that ignore the co-expression (alternating along rho): the prior hardly leaves the centre
    blind = np.zeros(200, np.int64)
    blind[np.argsort(co.rho)] = np.tile([1, -1], 100)
    assert np.abs(sign_prior_values(co, blind, centre=0.0)).max() < 0.05


def test_twincell_option_sets_each_unknown_edge_prior(monkeypatch):
    net = synthetic_interactome(n_nodes=30, n_edges=90, signed_share=0.5, seed=11)
    signed = net.edges[net.edges["sign"] != 0]
    # every third known sign disagrees with its synthetic co-expression, so the calibration is informative but finite
    known = {(a, b): v * (-1 if k % 3 == 0 else 1)
             for k, (a, b, v) in enumerate(signed[["source", "target", "sign"]].itertuples(index=False))}

    def synthetic_pair_coexpression(genes_a: np.ndarray, genes_b: np.ndarray) -> Coexpression:
        """Synthetic stand-in for the bundled profiles: rho = 0.6 x the (mostly) known sign; unsigned pairs
        +0.6 when the first gene's number is even, -0.6 when odd."""
        rho = [0.6 * known.get((a, b), 1 if int(a[-1]) % 2 == 0 else -1) for a, b in zip(genes_a, genes_b)]
        return Coexpression(np.array(rho, dtype=float), np.full(len(rho), 500))

    monkeypatch.setattr(twincell_module, "bundled_coexpression", synthetic_pair_coexpression)
    off = TwinCell(net, 0, context_gates=False)
    on = TwinCell(net, 0, context_gates=False, coexpression_sign=True)
    assert torch.equal(off.module.ppi.sign_centre, torch.zeros_like(off.module.ppi.sign_centre))
    layer = on.module.ppi
    centre = layer.sign_centre.numpy()
    rows = on._edge_rows["ppi"]
    sign = net.edges["sign"].to_numpy()[rows]
    pairs = list(zip(net.genes[net.src[rows]][sign == 0], net.genes[net.dst[rows]][sign == 0]))
    free = np.array([p not in known for p in pairs])  # unsigned here and in the TF layer
    even = np.array([int(a[-1]) % 2 == 0 for a, _ in pairs])
    assert (centre[free & even] > 0.05).all() and (centre[free & ~even] < -0.05).all()
    # unknown signs start at and are penalised toward their own prior; known signs are untouched
    np.testing.assert_allclose(torch.tanh(layer.theta).detach().numpy(), centre, atol=1e-6)
    assert float(layer.deviation().detach()) == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_array_equal(layer.known_sign[torch.as_tensor(sign != 0)].numpy(), sign[sign != 0])
    # with sign_prior the same co-expression moves each prior around s0 instead of 0
    both = TwinCell(net, 0, context_gates=False, coexpression_sign=True, sign_prior=True)
    np.testing.assert_allclose(both.module.ppi.sign_centre.numpy(), prior_sign(sign) + centre, atol=1e-5)
