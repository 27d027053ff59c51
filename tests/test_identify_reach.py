"""The reach-scaled scores (``null = "reach"``, ``"share"``): the unsigned adjoint, each node's reach, the division."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from twincell.identify.null import reach, reach_scaled, unsigned_adjoint


class _Operator:
    """A tiny synthetic operator ``M = R (I + A + A^2)`` (4 nodes, 3 genes) with a dense reference adjoint."""

    def __init__(self, A: np.ndarray, R: np.ndarray) -> None:
        self.A, self.R, self.n_hops = sp.csr_matrix(A), sp.csr_matrix(R), 2
        self.genes = np.array(["a", "b", "c", "d"])
        self.M = R @ (np.eye(4) + A + A @ A)

    def adjoint(self, D: np.ndarray) -> np.ndarray:
        return self.M.T @ D


A = np.array([[0.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.4, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.3, 0.0]])
R = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.8, 0.0, 0.2], [0.0, 0.0, 0.0, 1.0]])


def test_reach_is_the_adjoint_of_ones_when_nothing_is_negative():
    op = _Operator(A, R)
    np.testing.assert_allclose(reach(op), op.adjoint(np.ones(3)))
    np.testing.assert_allclose(reach(op), np.abs(op.M).sum(axis=0))  # sum_g |M_gi| exactly


def test_reach_bounds_the_absolute_response_of_a_signed_operator():
    signed = _Operator(A * np.array([[1, -1, 1, 1]]), R * np.array([[1, 1, 1, -1]]))
    np.testing.assert_allclose(reach(signed), reach(_Operator(A, R)))  # the signs do not change the reach
    assert (reach(signed) >= np.abs(signed.M).sum(axis=0) - 1e-12).all()
    assert (np.abs(signed.M).sum(axis=0) < reach(signed) - 1e-9).any()  # a bound, not always attained


def test_reach_scaled_divides_by_reach_plus_its_positive_median():
    r = np.array([0.0, 1.0, 3.0, 10.0])
    scores = np.array([2.0, -4.0, 6.0, 20.0])
    np.testing.assert_allclose(reach_scaled(scores, r), scores / (r + 3.0))
    both = reach_scaled(np.column_stack([scores, -scores]), r)
    np.testing.assert_allclose(both, np.column_stack([scores, -scores]) / (r + 3.0)[:, None])
    assert reach_scaled(scores, np.zeros(4)) == pytest.approx(scores)  # nothing reaches anything: offset 1


def test_unsigned_adjoint_is_the_absolute_operator_applied_to_a_non_negative_change():
    signed = _Operator(A * np.array([[1, -1, 1, 1]]), R * np.array([[1, 1, 1, -1]]))
    d = np.array([2.0, 0.0, 0.5])
    np.testing.assert_allclose(unsigned_adjoint(signed, d), _Operator(A, R).adjoint(d))
    D = np.column_stack([d, np.ones(3)])
    np.testing.assert_allclose(unsigned_adjoint(signed, D)[:, 1], reach(signed))  # batched; ones give the reach


def test_the_hop0_readout_is_the_operators_own_r0():
    """A TwinCell operator reads out hop 0 through R0 (its direct term skips hop 0): the reach and the unsigned adjoint
    of a non-negative synthetic operator with R0 != R equal sum_g |M_gi| D_g exactly (was: + |direct_i| |d_i|)."""
    from twincell.model import TwinCell
    from twincell.model.synthetic import synthetic_interactome

    op = TwinCell.prior(synthetic_interactome(40, 120, seed=1)).operator(None)
    A, R, R0 = abs(op.A), abs(op.R), abs(op.readout0)
    assert (R - R0).nnz > 0                                          # the direct term: R0 differs from R
    M = R0.toarray() + R.toarray() @ sum(np.linalg.matrix_power(A.toarray(), k) for k in range(1, op.n_hops + 1))
    positive = type("Positive", (), {"A": A, "R": R, "readout0": R0, "n_hops": op.n_hops, "genes": op.genes})()
    D = np.zeros(len(op.genes))
    D[[3, 7]] = 1.0
    np.testing.assert_allclose(unsigned_adjoint(positive, D), M.T @ D, atol=1e-12)
    np.testing.assert_allclose(reach(positive), M.sum(axis=0), atol=1e-12)
