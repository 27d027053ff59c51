"""Random walk with restart (personalised PageRank) over the interactome.

On the symmetrised, evidence-weighted interactome with column-stochastic transition matrix
:math:`T`, the stationary visiting probability solves :math:`p = (1 - r) T p + r s`, where the
restart vector :math:`s` holds the seed genes' weights (normalised to sum 1) and :math:`r` is the
restart probability; solved by power iteration for many restart vectors at once. Used by the
``network_propagation`` baseline of TwinBench and as a feature of the inverse head
(:mod:`twincell.identify.head`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from twincell.errors import TwinCellError
from twincell.network.interactome import Interactome


def symmetric_weights(network: Interactome, layer: str | None = None) -> sp.csr_matrix:
    """The symmetrised, evidence-weighted network, (N, N) CSR: ``max(A, A^T)`` of :meth:`Interactome.adjacency`
    (both layers, or ``layer`` alone: ``"ppi"`` gives each protein's direct partners, either direction)."""
    a = network.adjacency(layer)
    return a.maximum(a.T).tocsr()


def walk_transition(network: Interactome) -> sp.csr_matrix:
    """Column-stochastic transition matrix of the symmetrised, evidence-weighted network
    (:func:`symmetric_weights`), (N, N) CSR.

    ``T[i, j]`` = probability of stepping from node ``j`` to node ``i``; isolated nodes have an empty column.
    """
    w = symmetric_weights(network)
    strength = np.asarray(w.sum(axis=0)).ravel()
    return (w @ sp.diags(1.0 / np.where(strength > 0, strength, 1.0))).tocsr()


def random_walk_with_restart(transition: sp.csr_matrix, seeds: np.ndarray, restart: float = 0.5,
                             tol: float = 1e-10, max_iter: int = 200) -> np.ndarray:
    """Visiting probabilities of a random walk with restart, one column per restart vector.

    Parameters
    ----------
    transition
        (N, N) column-stochastic transition matrix (:func:`walk_transition`).
    seeds
        (N, B) non-negative seed weights (e.g. a signature's |change| on the network's genes).
    restart
        Restart probability ``r``.
    tol, max_iter
        Power iteration stops when every column's L1 change is below ``tol``, or after ``max_iter`` steps.

    Returns
    -------
    np.ndarray
        (N, B) visiting probabilities (each column sums to at most 1).

    Raises
    ------
    TwinCellError
        Naming the first column (0-based) without a positive seed weight.
    """
    total = seeds.sum(axis=0)
    if (total <= 0).any():
        raise TwinCellError(f"restart vector {int(np.argmax(total <= 0))} has no positive seed weight",
                            "network propagation needs seed genes that are network nodes with a non-zero change")
    S = seeds / total
    P = S.copy()
    for _ in range(max_iter):
        nxt = (1 - restart) * (transition @ P) + restart * S
        done = np.abs(nxt - P).sum(axis=0).max() < tol
        P = nxt
        if done:
            break
    return P
