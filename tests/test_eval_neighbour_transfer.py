"""benchmarks/eval_neighbour_transfer.py on a synthetic network (SYN genes) and synthetic responses."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from twincell.data.perturbation import PerturbationDataset
from twincell.network import Interactome
from twincell.network.propagation import symmetric_weights
from benchmark_scripts import load_script


@pytest.fixture(scope="module")
def script():
    """The script, imported from its file."""
    return load_script("eval_neighbour_transfer")


@pytest.fixture(scope="module")
def network() -> Interactome:
    """PPI SYNA -> SYNB and SYNC - SYNB (undirected); SYND -> SYNA is a TF -> target edge, not a PPI partner."""
    rows = [("SYNA", "SYNB", 1, True, "ppi"), ("SYNC", "SYNB", 0, False, "ppi"), ("SYND", "SYNA", 1, True, "tf"),
            ("SYNX", "SYNY", 0, False, "ppi")]
    edges = pd.DataFrame(rows, columns=["source", "target", "sign", "directed", "layer"]).assign(
        weight=1.0, sources="synthetic")
    return Interactome(edges)


def _dataset(X: np.ndarray, perturbations: list[str], targets: list[str], contexts: list[str],
             missing: str = "synthetic: unmeasured") -> PerturbationDataset:
    """A synthetic dataset on SYN genes (not HGNC symbols, so built without the contract's gene check)."""
    obs = pd.DataFrame({"perturbation": perturbations, "perturbation_type": "overexpression", "targets": targets,
                        "context": contexts, "dose": np.nan, "dataset": "synthetic"},
                       index=[f"synthetic:{i}" for i in range(len(perturbations))])
    adata = ad.AnnData(X.astype(np.float32), obs=obs, var=pd.DataFrame(index=["SYNA", "SYNB", "SYNC", "SYNG"]))
    adata.uns["provenance"] = {"missing": missing}
    return PerturbationDataset(adata, validate=False)


def test_partners_are_disjoint_target_sets_joined_by_a_ppi_edge(script, network):
    """B partners A (directed edge, either way) and C (undirected); a drug on {SYNA, SYNX} shares A's target, so it
    partners B and SYNY's unit but not A; SYND's only edge is a TF edge."""
    X = np.zeros((6, 4))
    data = _dataset(X, ["A", "B", "C", "D", "drug", "Y"],
                    ["SYNA:+1", "SYNB:+1", "SYNC:+1", "SYND:+1", "SYNA:-1;SYNX:-1", "SYNY:+1"], ["c"] * 6)
    units = script.dataset_units(data, network)
    partners = script.partner_matrix(units, symmetric_weights(network, "ppi")).toarray().astype(bool)
    got = {(units.labels[i], units.labels[j]) for i, j in zip(*np.nonzero(partners))}
    assert got == {("A", "B"), ("B", "A"), ("B", "C"), ("C", "B"), ("B", "drug"), ("drug", "B"),
                   ("drug", "Y"), ("Y", "drug")}


def test_units_average_rows_mask_own_transcripts_and_read_unlisted_entries(script, network):
    """Two rows of A in one context are averaged; A's own transcript (column SYNA) is missing; a perturbation with no
    network target is no unit; with ``unlisted_zero`` a measured unit's NaN reads 0, an unmeasured one stays NaN."""
    X = np.array([[9.0, 1.0, np.nan, 2.0], [7.0, 3.0, np.nan, np.nan], [1.0, 9.0, 5.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    data = _dataset(X, ["A", "A", "B", "none"], ["SYNA:+1", "SYNA:+1", "SYNB:+1", "SYNQ:+1"], ["c", "c", "d", "c"],
                    missing="genes not significant for a perturbagen are NaN")
    assert script.unlisted_is_zero(data)
    units = script.dataset_units(data, network)
    assert list(units.labels) == ["A", "B"]
    np.testing.assert_array_equal(units.responses["c"][0], [np.nan, 2.0, np.nan, 2.0])
    assert np.isnan(units.responses["c"][1]).all()  # B was not measured in context c
    zero = script.dataset_units(data, network, unlisted_zero=True)
    np.testing.assert_array_equal(zero.responses["c"][0], [np.nan, 2.0, 0.0, 1.0])  # unlisted 0 enters the mean
    assert np.isnan(zero.responses["c"][1]).all()
    np.testing.assert_array_equal(zero.responses["d"][1], [1.0, np.nan, 5.0, 1.0])


#: Four units whose target sets share nothing (each only its own).
NOTHING_SHARED = np.eye(4, dtype=bool)


def _units(script, Y: np.ndarray, own: np.ndarray):
    """Four units in one context on synthetic genes; no target matrix is needed by ``transfer``."""
    return script.Units("synthetic", np.array(["u0", "u1", "u2", "u3"], dtype=object), sp.csr_matrix((4, 1)),
                        {"c": Y}, own)


def test_transfer_is_one_when_partners_respond_alike_and_own_transcripts_are_masked(script):
    """u0 reads u1, u2 and u3 read each other, with equal responses, so the prediction (the partner's response minus
    the leave-one-out background) equals the observation: r = 1 (u1 reads no one). Responses come masked at their own
    transcripts (NaN); the observation is also masked where its label's own mask says, whatever response it carries
    (u0's last entry, 50 there, is left out)."""
    v, w = np.array([1.0, -2.0, 0.5, 3.0, 0.0]), np.array([-1.0, 0.0, 2.0, 1.0, -3.0])
    Y = np.vstack([v, v, w, w])
    own = np.zeros_like(Y, dtype=bool)
    own[[0, 1, 2, 3], [0, 1, 2, 3]] = True
    Y[own] = np.nan
    own[0, 4] = True
    Y[0, 4] = 50.0
    partners = sp.csr_matrix(np.array([[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=float))
    units = _units(script, Y, own)
    pooled, median, n_read = script.transfer(units, partners, np.arange(4), np.ones(4, bool), NOTHING_SHARED)
    assert pooled == pytest.approx(1.0) and median == pytest.approx(1.0) and n_read == 3
    # responses swapped across the pairs (u0 carries u2's): the observation no longer matches its partner's
    swapped, _, _ = script.transfer(units, partners, np.array([2, 1, 0, 3]), np.ones(4, bool), NOTHING_SHARED)
    assert swapped < 0.9


def test_transfer_background_leaves_the_unit_out(script):
    """u0's observation is read minus the mean of u1-u3 alone; its prediction is u1 minus that same mean."""
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(4, 30))
    own = np.zeros_like(Y, dtype=bool)
    partners = sp.csr_matrix(np.array([[0, 1, 0, 0]] + [[0, 0, 0, 0]] * 3, dtype=float))
    pooled, _, n_read = script.transfer(_units(script, Y, own), partners, np.arange(4), np.ones(4, bool),
                                        NOTHING_SHARED)
    background = Y[1:].mean(axis=0)
    assert n_read == 1
    assert pooled == pytest.approx(np.corrcoef(Y[1] - background, Y[0] - background)[0, 1])


def test_the_null_leaves_out_partners_whose_responses_share_a_target(script):
    """Observed partners share no target; under a permutation, a pair whose responses come from units that share one
    (u0 and u2 here) is left out as well: u0 then has no partner to read."""
    Y = np.random.default_rng(1).normal(size=(4, 20))
    partners = sp.csr_matrix(np.array([[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=float))
    shared = NOTHING_SHARED.copy()
    shared[0, 2] = shared[2, 0] = True
    units = _units(script, Y, np.zeros_like(Y, dtype=bool))
    swap = np.array([0, 2, 1, 3])  # label u1 carries u2's response, which shares a target with u0's
    _, _, n_read = script.transfer(units, partners, swap, np.ones(4, bool), shared)
    assert n_read == 2  # u2 and u3 read each other; u0's only partner is out
    assert script.transfer(units, partners, swap, np.ones(4, bool), NOTHING_SHARED)[2] == 3


def test_a_dataset_without_network_targets_has_no_units(script, network):
    data = _dataset(np.ones((2, 4)), ["x", "y"], ["SYNQ:+1", ""], ["c", "c"])
    units = script.dataset_units(data, network)
    assert len(units.labels) == 0 and units.targets.shape == (0, network.n_nodes)


def test_permutations_stay_within_degree_bins(script):
    bins = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    for order in script.permutations(bins, 20, seed=3):
        assert sorted(order) == list(range(9))
        np.testing.assert_array_equal(bins[order], bins)
