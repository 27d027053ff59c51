"""The fast paths of the drug-target list against their references: per-operator arrays (built once, also under
concurrent requests), max-product steps pushed or pulled, bit passes on column subsets, the scores taken from the
ranking instead of a second adjoint pass, and the best-first order of tied scores."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from test_identify_actionable import _synthetic_operator

from twincell.identify import rank_targets
from twincell.identify.actionable import (WalkArrays, _first_drug_targets, _max_product_step, actionable_targets,
                                          drug_target_list, fragility, walk_arrays)
from twincell.identify.explain import AbsColumns
from twincell.identify.inverse import _best_first, align_change, ranking_setup


def _synthetic_messy_matrix(n: int = 50, seed: int = 0) -> sp.coo_matrix:
    """Synthetic signed COO matrix with duplicated entries (summed by scipy) and explicit zeros."""
    rng = np.random.default_rng(seed)
    k = 4 * n
    rows, cols = rng.integers(0, n, k), rng.integers(0, n, k)
    data = rng.normal(0, 1, k)
    data[::7] = 0.0
    rows[1::9], cols[1::9] = rows[::9][: len(rows[1::9])], cols[::9][: len(cols[1::9])]  # duplicates
    return sp.coo_matrix((data, (rows, cols)), shape=(n, n))


def test_abs_columns_equal_dense_references():
    """Column maxima (all columns or a subset, repeated columns included), scattered maxima and OR-ed bit sets
    equal dense computations; duplicates are summed and explicit zeros carry nothing."""
    M = _synthetic_messy_matrix()
    dense = np.abs(M.toarray())
    cols = AbsColumns(M)
    rng = np.random.default_rng(1)
    weight = rng.random(50) * (rng.random(50) < 0.6)
    reference = (dense * weight[:, None]).max(axis=0)
    assert cols.column_max(weight).tolist() == reference.tolist()
    subset = np.array([7, 3, 7, 49, 0])
    assert cols.column_max(weight, subset).tolist() == reference[subset].tolist()
    rows = AbsColumns(sp.csr_matrix(M).T)  # column g lists the v with M[g, v] != 0
    support = np.flatnonzero(weight)
    assert rows.scatter_max(weight, support).tolist() == reference.tolist()
    bits = rng.integers(0, 2**62, size=(2, 50)).astype(np.uint64)
    pattern = dense != 0
    expected = np.array([[np.bitwise_or.reduce(word[pattern[:, v]]) if pattern[:, v].any() else 0
                          for v in range(50)] for word in bits], dtype=np.uint64)
    assert (cols.column_or(bits) == expected).all()
    assert (cols.column_or(bits, subset) == expected[:, subset]).all()
    assert len(cols.indices) == int(pattern.sum()) and (cols.data > 0).all()


@pytest.mark.parametrize("fraction", [0.0, 0.02, 0.3, 1.0])
def test_max_product_step_pushed_or_pulled_equals_dense(fraction):
    """A step from a few nodes with a value (pushed along their in-edges) and from most nodes (pulled along every
    column) give the dense maximum, bit for bit."""
    op = _synthetic_operator(n=300, seed=3, density=0.02)
    arrays = WalkArrays(op.A, op.R, op.readout0)
    rng = np.random.default_rng(2)
    bound = rng.random(300) * (rng.random(300) < fraction)
    expected = (np.abs(op.A.toarray()) * bound[:, None]).max(axis=0)
    assert _max_product_step(arrays, bound).tolist() == expected.tolist()
    assert arrays.A.column_max(bound).tolist() == expected.tolist()


def test_walk_arrays_are_built_once_per_operator_also_under_concurrent_calls():
    op = _synthetic_operator(n=60, seed=8)
    with ThreadPoolExecutor(8) as pool:
        built = list(pool.map(lambda _: walk_arrays(op), range(16)))
    assert all(b is built[0] for b in built)
    other = _synthetic_operator(n=60, seed=9)
    assert walk_arrays(other) is not built[0]
    calls = []
    lock = threading.Lock()

    def slow_build() -> str:
        with lock:
            calls.append(1)
        time.sleep(0.05)
        return "built"

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: ranking_setup(op).derived("synthetic_slow", slow_build), range(8)))
    assert got == ["built"] * 8 and len(calls) == 1


@pytest.mark.parametrize("options", [
    {}, {"direction": "inhibit"}, {"direction": "activate"}, {"null": "center"}, {"null": "shuffle", "n_null": 8},
    {"normalize": "cosine"}, {"method": "simulate"},
])
def test_drug_target_list_from_the_rankings_scores_equals_the_recomputed_list(service_model, options):
    """A ranking by the adjoint carries |score| (``score``, or ``alignment`` with a null): the list made from it
    equals, exactly, the all-node reference with a fresh adjoint pass; a cosine or simulated ranking is not read
    as one."""
    desired = -pd.Series({"STAT1": 1.5, "IRF1": 1.0, "JAK2": 0.4, "IL10": -0.5, "SOCS3": 0.8, "CXCL10": 1.2})
    ranking = rank_targets(service_model, desired, context="synthetic_ctx_a", **options)
    got = drug_target_list(service_model, desired, ranking, context="synthetic_ctx_a", top=30)
    op = service_model.operator("synthetic_ctx_a")
    d, _, _ = align_change(desired, op.genes)
    expected = actionable_targets(ranking, fragility(op, d, op.adjoint(d))).head(30)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got.attrs["fragile"] == [g for g in expected["gene"] if g in expected.attrs["fragile"]]
    assert len(got) >= 5


def test_best_first_puts_tied_scores_in_name_order():
    """Against one lexsort (score descending, then name rank), on synthetic scores with many ties."""
    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(1, 400))
        score = np.round(rng.normal(0, 1, n), int(rng.integers(0, 3)))
        score[rng.random(n) < 0.3] = 0.0
        name_rank = rng.permutation(n)
        assert _best_first(score, name_rank).tolist() == np.lexsort((name_rank, -score)).tolist()


def test_first_drug_targets_equal_a_full_scan_when_the_window_must_grow():
    """The scan starts with ``16 * top`` rows and grows while too few drug targets are found: the positions equal
    those of a scan of every row, for drug targets dense, sparse (past several windows) and fewer than ``top``."""
    rng = np.random.default_rng(0)
    genes = pd.Series([f"G{i}" for i in range(5_000)])
    for density in (0.5, 0.01, 0.001):
        drug_genes = pd.Index(genes[rng.random(len(genes)) < density].tolist() + ["NOT_RANKED"])
        every = np.flatnonzero(genes.isin(drug_genes).to_numpy())
        for top in (1, 3, 10, 50, 200, None):
            assert _first_drug_targets(genes, drug_genes, top).tolist() == every[:top].tolist()
