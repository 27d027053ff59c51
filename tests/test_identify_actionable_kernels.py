"""The drug-target list's optional compiled kernels (numba, :mod:`twincell.identify.kernels`) and the numpy code they
replace: both against dense references, bit for bit, on synthetic matrices and operators and on the service's
model; the numpy code when numba is absent; the kernels on in a serving process. Tests marked with the
``kernel_mode`` fixture run once per mode (the compiled one is skipped when numba is not installed)."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from test_identify_actionable import _synthetic_change, _synthetic_operator
from test_identify_actionable_arrays import _synthetic_messy_matrix

from twincell.identify import kernels, rank_targets
from twincell.identify.actionable import (actionable_targets, best_walk_values, drug_target_list, fragility,
                                          signature_genes_reached)
from twincell.identify.explain import AbsColumns
from twincell.identify.inverse import align_change


@pytest.fixture(params=["numpy", "compiled"])
def kernel_mode(request: pytest.FixtureRequest) -> str:
    """The numpy code, or the compiled kernels (skipped without numba); back to numpy afterwards."""
    if request.param == "compiled":
        pytest.importorskip("numba")
        assert kernels.enable() and kernels.enabled()
    else:
        kernels.disable()
    yield request.param
    kernels.disable()


def _dense_best_walks(op, d: np.ndarray) -> np.ndarray:
    """Best single-walk |contribution| from every node, by the max-product programme on dense matrices."""
    A, R, R0 = (np.abs(M.toarray()) for M in (op.A, op.R, op.readout0))
    absd = np.abs(d)
    hop0 = (R0 * absd[:, None]).max(axis=0)
    if op.n_hops == 0:
        return hop0
    terminal = (R * absd[:, None]).max(axis=0)
    bound = terminal
    for _ in range(op.n_hops - 1):
        bound = np.maximum(terminal, (A * bound[:, None]).max(axis=0))
    return np.maximum(hop0, (A * bound[:, None]).max(axis=0))


def _dense_reach(op, signature: np.ndarray) -> np.ndarray:
    """Signature genes reached from every node within K hops, by boolean matrix powers on dense matrices."""
    A, R, R0 = ((M.toarray() != 0).astype(int) for M in (op.A, op.R, op.readout0))
    reached = R0.copy()
    walk = np.eye(len(op.genes), dtype=int)
    for _ in range(op.n_hops):
        walk = (A @ walk > 0).astype(int)
        reached |= (R @ walk > 0).astype(int)
    return reached[signature].sum(axis=0)


@pytest.mark.parametrize("n_hops", [0, 1, 3, 4])
def test_fragility_passes_equal_dense_references(kernel_mode, n_hops):
    """Best walks and signature genes reached, for every node and for a few (repeated, unsorted) nodes, equal dense
    references exactly, in either mode."""
    op = _synthetic_operator(n=120, seed=5, n_hops=n_hops, density=0.04)
    d, _, _ = align_change(_synthetic_change(op, 25), op.genes)
    signature = np.flatnonzero(d)
    best, reach = _dense_best_walks(op, d), _dense_reach(op, signature)
    nodes = np.array([17, 3, 17, 119, 0, 64])
    assert best_walk_values(op.A, op.R, op.readout0, d, n_hops).tolist() == best.tolist()
    assert best_walk_values(op.A, op.R, op.readout0, d, n_hops, nodes).tolist() == best[nodes].tolist()
    assert signature_genes_reached(op.A, op.R, op.readout0, signature, n_hops).tolist() == reach.tolist()
    assert signature_genes_reached(op.A, op.R, op.readout0, signature, n_hops, nodes).tolist() == reach[nodes].tolist()


def test_kernels_equal_the_numpy_passes_on_a_synthetic_messy_matrix():
    """Column maxima, scattered maxima and OR-ed bit sets (one and several words), on all columns, a subset with a
    repeated column, and no column, are the numpy passes' values bit for bit (duplicates summed, explicit zeros
    and empty columns carry nothing)."""
    pytest.importorskip("numba")
    assert kernels.enable()
    try:
        M = _synthetic_messy_matrix(n=80, seed=4)
        cols, rows = AbsColumns(M), AbsColumns(sp.csr_matrix(M).T)
        packed_cols, packed_rows = kernels.packed(cols), kernels.packed(rows)
        assert kernels.packed(cols) is packed_cols and packed_cols.indices.dtype == np.uint32
        rng = np.random.default_rng(3)
        weight = rng.random(80) * (rng.random(80) < 0.5)
        every, subset, none = np.arange(80), np.array([9, 2, 9, 79, 0]), np.array([], dtype=np.intp)
        for columns in (every, subset, none):
            assert (kernels.column_max(packed_cols, weight, columns).tolist()
                    == cols.column_max(weight, None if columns is every else columns).tolist())
        support = np.flatnonzero(weight)
        assert kernels.scatter_max(packed_rows, weight, support, 80).tolist() == rows.scatter_max(weight, support).tolist()
        for words in (1, 3):
            bits = rng.integers(0, 2**63, size=(words, 80), dtype=np.uint64)
            assert np.array_equal(kernels.column_or(packed_cols, bits, every), cols.column_or(bits))
            assert np.array_equal(kernels.column_or(packed_cols, bits, subset), cols.column_or(bits, subset))
    finally:
        kernels.disable()


@pytest.mark.parametrize("options", [{}, {"direction": "inhibit"}, {"null": "center"}, {"normalize": "cosine"}])
def test_drug_target_list_equals_the_all_node_reference_in_either_mode(kernel_mode, service_model, options):
    """On the service's model: the list of the top rows equals, exactly, the all-node numpy reference."""
    desired = -pd.Series({"STAT1": 1.5, "IRF1": 1.0, "JAK2": 0.4, "IL10": -0.5, "SOCS3": 0.8, "CXCL10": 1.2})
    ranking = rank_targets(service_model, desired, context="synthetic_ctx_a", **options)
    got = drug_target_list(service_model, desired, ranking, context="synthetic_ctx_a", top=30)
    op = service_model.operator("synthetic_ctx_a")
    d, _, _ = align_change(desired, op.genes)
    kernels.disable()  # the reference: numpy passes over every node
    expected = actionable_targets(ranking, fragility(op, d, op.adjoint(d))).head(30)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got.attrs["fragile"] == [g for g in expected["gene"] if g in expected.attrs["fragile"]]


def test_without_numba_the_numpy_code_stays_in_use(monkeypatch):
    """``enable`` reports False and nothing changes when numba cannot be imported."""
    kernels.disable()
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba -> ImportError
    assert kernels.enable() is False and not kernels.enabled()


def test_a_serving_process_turns_the_kernels_on_when_numba_is_installed(service_model):
    """``prepare_worker`` (each worker of ``twincell serve``) enables the kernels when numba imports and warms the
    context-free operator's arrays either way."""
    from twincell.service.server import prepare_worker

    try:
        import numba  # noqa: F401
        installed = True
    except ImportError:
        installed = False
    try:
        assert prepare_worker(service_model) is service_model
        assert kernels.enabled() is installed
    finally:
        kernels.disable()


def test_kernels_that_cannot_be_built_leave_the_numpy_code_with_a_warning(monkeypatch):
    """A failure while compiling (e.g. no writable cache directory) is reported and the numpy code stays in use."""
    pytest.importorskip("numba")
    kernels.disable()

    def broken(numba):
        raise RuntimeError("cannot cache function: no locator available (synthetic failure)")

    monkeypatch.setattr(kernels, "_compile", broken)
    with pytest.warns(RuntimeWarning, match="numpy code stays in use"):
        assert kernels.enable() is False
    assert not kernels.enabled()
