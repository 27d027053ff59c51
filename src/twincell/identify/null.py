"""Nulls for target scores: degree-matched z-scores, shuffled-signature and centred nulls, common directions, footprint.

**Degree-matched z-scores.** A hub reaches many genes within a few hops, so its raw alignment with
any signature tends to be large. Each gene's score is compared with the scores, under the same
desired change, of the genes whose degree in the propagation graph is similar: genes are put into
quantile bins of degree (in + out non-zero edges of the operator's ``A``) and each score is z-scored
against its own bin. One pass over the scores already computed; no re-simulation.

**Shuffled-signature calibration.** A node can score high for *any* signature (it reaches many
genes with one sign, and the signature's values are skewed one way). Its score is then calibrated
against its own null: ``B`` seeded permutations of the signature's values among the signature's own
genes (absent genes stay 0), scored for all N candidates in one batched adjoint over the (N x B)
matrix of shuffled changes, and ``z_i = (s_i - mean_b s_ib) / sd_b s_ib``. A score the signature's
gene-to-value pairing does not earn gets ``z`` near 0.

**Centred change.** The part of an alignment that every permutation of the values shares is its
exact expectation over all permutations of the values among the signature's genes ``S``:
``E_pi[s_i] = mean_S(d) * sum_{g in S} (M e_i)_g``. By linearity it is the alignment of the constant
change ``mean_S(d)`` on ``S``, so the alignment minus it is the alignment of the centred change
``d - mean_S(d)`` on ``S`` (0 elsewhere): one adjoint pass, no shuffles, magnitudes kept.

**Common response directions removed.** Almost every node's response ``M e_c`` (M = the operator,
genes x nodes) shares a few gene profiles (the pattern of the hubs and TFs), so any signature aligns
with them about equally and ``|<M e_c, d>|`` mostly measures the node's reach. Those profiles are
the top-``k`` left singular vectors ``U_k`` (genes x k) of ``M`` (or of ``M`` with every column scaled
to unit norm, so that a few huge responses do not define them), from a seeded randomized SVD
(:func:`common_directions`, forward / adjoint passes only). The desired
change restricted to its genes ``S`` loses its least-squares projection onto ``U_k[S]``
(:func:`remove_common`): ``d'_S = d_S - U_S U_S^+ d_S``, 0 off ``S``; the score is the exact adjoint
of ``d'``. ``k = 0`` leaves ``d`` unchanged.

**Pathway projection.** :func:`project_changes` keeps only the part of the change that a few given gene profiles
explain: ``p_S = U_S U_S^+ d_S`` on the change's genes ``S``, 0 off ``S``. With PROGENy's 14 pathway footprints as
``U`` (:func:`twincell.data.pathways.load_progeny`) that is the change as the pathways' activities (decoupler's
``mlm`` estimate) explain it; the score is the exact adjoint of ``p`` (TwinBench's ``twincell_progeny``).

**Footprint score.** The adjoint is ``R0^T d + sum_{k=1..K} (A^T)^k R^T d``; its readout stage
``y = R^T d`` is, for a TF, the weighted sum of its targets' changes (its activity footprint). Under
uniform permutations of ``d``'s values among the ``n`` present genes ``S``, the linear statistic
``y_i = sum_{t in S} R[t, i] d_t`` has mean ``n rbar_i dbar`` and variance
``(1 / (n - 1)) sum_S (R[t, i] - rbar_i)^2 sum_S (d_t - dbar)^2`` (``rbar_i``, ``dbar`` the means over
``S``), so its exact permutation z-score needs two extra sparse products, ``R^T 1_S`` and
``(R o R)^T 1_S`` (:func:`readout_zscores`). :class:`Footprint` z-scores the hop-0 readout ``R0^T d``
and the readout ``R^T d`` that way and propagates the second upstream with the operator's own
``A^T`` recursion: a node scores by its reach into the nodes whose footprint the signature moves,
not into every transcript.

**Footprint-share score.** :meth:`Footprint.share_scores` carries the footprints' sizes ``|z|`` upstream by ``|A|^T``
(as the footprint score with ``magnitude``) and divides by the node's reach into the footprints the change defines
(:func:`readout_zscores_defined`), plus the median of that reach: the ``|A|``-weighted mean size of the footprints a
node reaches. Signs are used where the readout knows them (a footprint is large only when its genes move as its
weights' signs say) and only sizes upstream, where most PPI signs are unknown.

**Reach-scaled score.** A node's alignment ``(M^T d)_i`` grows with how much of the transcriptome its perturbation
moves at all, whatever ``d`` says. :func:`reach` bounds that per node, ``r_i = sum_{k<=K} ((|A|^T)^k |R|^T 1)_i``
(>= ``sum_g |M_gi|`` over every gene the operator reads out; one unsigned adjoint pass, the same for every
signature), and :func:`reach_scaled` divides each alignment by ``r_i + median(r > 0)``: for a node of large reach,
the share of its influence that lands on the signature, for one of small reach about its alignment (the median
keeps nodes that reach almost nothing from leading on one gene). The share score (TwinBench's ``twincell_share``)
divides the same way the unsigned adjoint of ``|d|`` (:func:`unsigned_adjoint`): which genes change, weighted by how
much, through the learned edge strengths, as network propagation reads a signature.

**Strongest-path footprint score.** The footprint sums ``z`` over every walk, so an upstream node's
score and its null spread are both its reach. :meth:`Footprint.max_path_scores` keeps only the
strongest single walk: ``max(|z0_g|, max_{walk g -> i, 1..K hops} prod |A| * |z_i|)``, the max-product
programme of the drug list (:meth:`twincell.identify.explain.AbsColumns.levels`) with ``|z|`` as the
terminal value, signed by the footprint score.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from twincell.errors import TwinCellError, check_count

if TYPE_CHECKING:
    from twincell.identify.explain import AbsColumns


def operator_degree(A: sp.spmatrix) -> np.ndarray:
    """In + out degree of every node of a propagation matrix (non-zero off-diagonal entries).

    Parameters
    ----------
    A
        Sparse N x N matrix, ``A[dst, src]``.

    Returns
    -------
    np.ndarray
        (N,) integer degrees.
    """
    a = sp.coo_matrix(A)
    keep = (a.row != a.col) & (a.data != 0)
    n = A.shape[0]
    return np.bincount(a.row[keep], minlength=n) + np.bincount(a.col[keep], minlength=n)


def degree_bins(degree: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """Quantile bin of each node's degree (ties stay in one bin, so low degrees may share a bin).

    Returns
    -------
    np.ndarray
        (N,) bin codes 0..n_bins-1 (fewer bins when degrees have many ties; one bin, 0, when all
        degrees are equal).
    """
    codes = pd.qcut(np.asarray(degree, float), q=n_bins, labels=False, duplicates="drop")
    return np.nan_to_num(np.asarray(codes, float), nan=0.0).astype(np.int64)


def binned_zscores(scores: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """z-score of each score against the scores of the nodes in the same bin.

    Parameters
    ----------
    scores
        (N,) scores.
    bins
        (N,) non-negative integer bin codes (e.g. :func:`degree_bins`).

    Returns
    -------
    np.ndarray
        (N,) ``(score - bin mean) / bin standard deviation`` (population sd); 0 where a bin has no spread.
    """
    scores = np.asarray(scores, float)
    count = np.bincount(bins)
    safe = np.maximum(count, 1)
    mean = np.bincount(bins, weights=scores) / safe
    centred = scores - mean[bins]
    sd = np.sqrt(np.bincount(bins, weights=centred * centred) / safe)[bins]
    z = np.zeros_like(scores)
    scale = np.maximum(np.abs(mean[bins]), np.abs(scores))
    ok = sd > 1e-12 * scale  # equal scores leave a rounding remainder of their mean: no spread, not z = +-1
    z[ok] = centred[ok] / sd[ok]
    return z


def degree_matched_zscores(scores: np.ndarray, degree: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """z-score of each score against the scores of the nodes in the same degree bin.

    Parameters
    ----------
    scores
        (N,) target scores (one direction or best direction).
    degree
        (N,) node degrees in the propagation graph.
    n_bins
        Number of degree quantile bins (each holds about N / n_bins nodes).

    Returns
    -------
    np.ndarray
        (N,) ``(score - bin mean) / bin standard deviation``; 0 where a bin has no spread.
    """
    return binned_zscores(scores, degree_bins(degree, n_bins))


def shuffled_changes(d: np.ndarray, present: np.ndarray, n_null: int, seed: int = 0) -> np.ndarray:
    """``n_null`` seeded permutations of a desired change's values among its own genes.

    Parameters
    ----------
    d
        (N,) desired change on the operator's gene order (0 where a gene has no value).
    present
        (N,) bool mask of the genes that have a value; only their values are permuted, among themselves.
    n_null
        Number of permutations B.
    seed
        Seed of the permutations (the same seed gives the same B columns).

    Returns
    -------
    np.ndarray
        (N, B) float64 matrix; column b is ``d`` with the present genes' values permuted.
    """
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(present)
    D = np.zeros((len(d), n_null))
    D[idx] = rng.permuted(np.repeat(np.asarray(d, float)[idx, None], n_null, axis=1), axis=0)
    return D


def _mask_like(present: np.ndarray, D: np.ndarray) -> np.ndarray:
    """The gene mask(s) ``present`` ((G,), or (G, B) one per column) broadcast to ``D``'s shape ((G,) or (G, B))."""
    return np.broadcast_to(present.reshape(present.shape + (1,) * (D.ndim - present.ndim)), D.shape)


def centered_change(D: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Desired change(s) minus their mean over their own genes (0 elsewhere).

    Its alignment with any response equals the change's alignment minus that alignment's exact
    expectation over all permutations of the values among the present genes.

    Parameters
    ----------
    D
        (N,) desired change on the operator's gene order (0 where a gene has no value), or (N, B)
        several changes.
    present
        (N,) bool mask of the genes that have a value, or (N, B) one mask per column of ``D``.

    Returns
    -------
    np.ndarray
        float64 array shaped like ``D``: ``D - mean(D[present])`` on present genes, 0 elsewhere; exactly 0 for a
        change whose values are all equal (one gene, or a gene set with one value: :func:`numerical_zero`).
    """
    D = np.asarray(D, float)
    mask = _mask_like(present, D)
    mean = np.where(mask, D, 0.0).sum(axis=0) / np.maximum(mask.sum(axis=0), 1)
    return numerical_zero(np.where(mask, D - mean, 0.0), D)


#: A change left with at most this share of its norm after a null removed its common part is nothing: rounding.
RESIDUE = 1e-9


def numerical_zero(adjusted: np.ndarray, original: np.ndarray) -> np.ndarray:
    """``adjusted`` with each column set to exactly 0 where its norm is at most ``RESIDUE`` times ``original``'s.

    What a null removes can be all of a change (a constant change centred, a change on fewer genes than the common
    directions projected out); floating point then leaves residue of about 1e-14 of its size, whose ranking would
    be noise with a direction. Shapes (G,) or (G, B), like each other.
    """
    norm = np.linalg.norm(adjusted, axis=0)
    return np.where(norm <= RESIDUE * np.linalg.norm(original, axis=0), 0.0, adjusted)


def top_changes(D: np.ndarray, present: np.ndarray, n_each: int) -> np.ndarray:
    """Desired change(s) cut to their ``n_each`` largest increases and ``n_each`` largest decreases.

    The Connectivity Map queries with a signature's top 150 up and top 150 down genes (Lamb et al. 2006; Subramanian
    et al. 2017); this is that cut of a dense signature, on its own genes.

    Parameters
    ----------
    D
        (N,) desired change on the operator's gene order (0 where a gene has no value), or (N, B) several changes.
    present
        (N,) bool mask of the genes that have a value, or (N, B) one mask per column of ``D``.
    n_each
        Genes kept on each side (positive and negative changes), per column; ties at the cut are broken by gene
        order.

    Returns
    -------
    np.ndarray
        float64 array shaped like ``D``: ``D`` on the kept genes, 0 elsewhere (a column with fewer than ``n_each``
        changes of a sign keeps all of them).
    """
    n_each = check_count(n_each, "n_each")
    D = np.asarray(D, float)
    mask = _mask_like(present, D)
    keep = np.zeros(D.shape, bool)
    for sign in (1.0, -1.0):
        size = np.where(mask & (sign * D > 0), sign * D, 0.0)
        order = np.argsort(-size, axis=0, kind="stable")[:n_each]
        chosen = np.take_along_axis(size, order, axis=0) > 0
        np.put_along_axis(keep, order, np.take_along_axis(keep, order, axis=0) | chosen, axis=0)
    return np.where(keep, D, 0.0)


def calibrate(observed: np.ndarray, null_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each node's observed score as a z-score against its own null scores.

    Parameters
    ----------
    observed
        (N,) observed (signed) alignments.
    null_scores
        (N, B) the same alignments under B shuffled changes.

    Returns
    -------
    z
        (N,) ``(observed - null mean) / null sd`` (sd with ddof=1); 0 where the null has no spread
        beyond rounding (sd at most 1e-12 of the largest null score: a node whose score no shuffle
        changes, e.g. one that reaches no signature gene or reads out equally on all of them).
    mean, sd
        (N,) the null mean and standard deviation.
    """
    mean = null_scores.mean(axis=1)
    sd = null_scores.std(axis=1, ddof=1)
    z = np.zeros_like(mean)
    ok = sd > 1e-12 * np.maximum(np.abs(null_scores).max(axis=1), 1e-300)
    z[ok] = (np.asarray(observed, float)[ok] - mean[ok]) / sd[ok]
    return z, mean, sd


def hutchinson_sq_norms(operator: Any, present: np.ndarray | None = None, n_probes: int = 128,
                        seed: int = 0) -> np.ndarray:
    """Estimate every node's squared response norm over the ``present`` genes (default: all) from random probes.

    ``||P M e_i||^2 = E_z[(M^T P z)_i^2]`` for Rademacher ``z``; the mean over ``n_probes`` probes is
    computed with one batched adjoint pass (no loop over nodes).

    Returns
    -------
    np.ndarray
        (N,) unbiased estimates (relative standard error about ``sqrt(2 / n_probes)`` or less).
    """
    rng = np.random.default_rng(seed)
    Z = rng.choice(np.array([-1.0, 1.0], dtype=operator.A.dtype), size=(len(operator.genes), n_probes))
    if present is not None:
        Z[~present] = 0.0
    return np.square(np.asarray(operator.adjoint(Z), dtype=float)).mean(axis=1)


def _orthonormal(Y: np.ndarray) -> np.ndarray:
    return np.linalg.qr(Y)[0]


def randomized_left_singular(forward: Any, adjoint: Any, n_cols: int, k: int, n_oversample: int = 10,
                             n_iter: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` left singular vectors and values of a linear map given only by its products (Halko et al. 2011).

    Parameters
    ----------
    forward, adjoint
        ``forward(X)`` = ``M @ X`` for X (n_cols, b); ``adjoint(Y)`` = ``M.T @ Y`` for Y (n_rows, b).
    n_cols
        Number of columns of ``M``.
    k
        Number of singular vectors (>= 1).
    n_oversample, n_iter
        Extra random directions and power iterations (each one forward and one adjoint pass of
        ``k + n_oversample`` columns, re-orthonormalised).
    seed
        Seed of the random start.

    Returns
    -------
    U
        (n_rows, k) orthonormal left singular vectors, each signed so that its largest entry is positive.
    s
        (k,) singular values, decreasing.
    """
    rng = np.random.default_rng(seed)
    Q = _orthonormal(np.asarray(forward(rng.standard_normal((n_cols, k + n_oversample))), dtype=float))
    for _ in range(n_iter):
        Q = _orthonormal(np.asarray(forward(_orthonormal(np.asarray(adjoint(Q), dtype=float))), dtype=float))
    B = np.asarray(adjoint(Q), dtype=float).T  # (k + p, n_cols) = Q^T M
    Ub, s, _ = np.linalg.svd(B, full_matrices=False)
    U = Q @ Ub[:, :k]
    peak = U[np.argmax(np.abs(U), axis=0), np.arange(k)]
    return U * np.where(peak < 0, -1.0, 1.0), s[:k]


def common_directions(operator: Any, n_common: int, unit_columns: bool = False, seed: int = 0) -> np.ndarray:
    """The operator's common response directions: top ``n_common`` left singular vectors of ``M``.

    ``M`` (genes x nodes) is the operator's response matrix, ``M e_c = operator.forward(e_c)``; with
    ``unit_columns`` every column is first divided by its norm (estimated, :func:`hutchinson_sq_norms`, 64 probes;
    nodes that move no gene are left out), so that every node's response counts equally. Computed
    with :func:`randomized_left_singular` from forward / adjoint passes (about 1 s for k = 20 on the
    default model; :func:`twincell.identify.inverse.common_basis` keeps them per operator).

    Parameters
    ----------
    operator
        A propagation operator (``genes``, ``forward``, ``adjoint``).
    n_common
        Number of directions k (0 gives a (G, 0) array).
    unit_columns
        Scale every node's response to unit norm before the SVD.
    seed
        Seed of the randomized SVD and of the norm probes.

    Returns
    -------
    np.ndarray
        (G, k) orthonormal columns on the operator's gene order.

    Raises
    ------
    TwinCellError
        ``n_common`` is not below the operator's number of genes.
    """
    n = len(operator.genes)
    if n_common >= n:
        raise TwinCellError(f"n_common={n_common} common directions need a network of more than {n_common} genes; "
                            f"this one has {n}", f"use n_common below {n} (e.g. 20)")
    if n_common == 0:
        return np.zeros((n, 0))
    scale = np.ones(n)
    if unit_columns:
        norms = np.sqrt(np.clip(hutchinson_sq_norms(operator, n_probes=64, seed=seed), 0.0, None))
        scale = np.divide(1.0, norms, out=np.zeros(n), where=norms > 0)
    U, _ = randomized_left_singular(lambda X: operator.forward(scale[:, None] * X),
                                    lambda Y: scale[:, None] * np.asarray(operator.adjoint(Y), dtype=float),
                                    n, int(n_common), n_oversample=min(10, n - int(n_common)), seed=seed)
    return U


def project_changes(D: np.ndarray, present: np.ndarray, U: np.ndarray) -> np.ndarray:
    """Least-squares projection of desired change(s) onto the columns of ``U``, on their own genes.

    For each column ``d`` with genes ``S`` (its ``present`` mask): ``p_S = U_S x`` with ``x = argmin ||d_S - U_S x||``
    (``U_S`` = rows ``S`` of ``U``; the minimum-norm ``x`` when it is not unique), and ``p = 0`` off ``S``. With
    ``|S| <= rank(U_S)`` the projection is ``d_S`` itself.

    Parameters
    ----------
    D
        (G,) desired change on the operator's gene order (0 where a gene has no value), or (G, B).
    present
        (G,) bool mask of the genes that have a value, or (G, B) one mask per column of ``D``.
    U
        (G, k) directions (e.g. :func:`common_directions`, or pathway footprints); k = 0 projects onto nothing.

    Returns
    -------
    np.ndarray
        float64 array shaped like ``D``.
    """
    D = np.asarray(D, float)
    cols = D.reshape(len(D), -1)
    masks = _mask_like(present, D).reshape(cols.shape)
    out = np.zeros_like(cols)
    if U.shape[1]:
        shared, group = np.unique(masks.T, axis=0, return_inverse=True)  # columns with one mask: one solve
        for k, mask in enumerate(shared):
            rows, js = np.flatnonzero(mask), np.flatnonzero(group.ravel() == k)
            out[np.ix_(rows, js)] = U[rows] @ np.linalg.lstsq(U[rows], cols[np.ix_(rows, js)], rcond=None)[0]
    return out.reshape(D.shape)


def remove_common(D: np.ndarray, present: np.ndarray, U: np.ndarray) -> np.ndarray:
    """Desired change(s) minus their least-squares projection onto the common directions, on their own genes.

    For each column ``d`` with genes ``S`` (its ``present`` mask): ``d'_S = d_S - U_S x`` with
    ``x = argmin ||d_S - U_S x||`` (:func:`project_changes`), and ``d' = 0`` off ``S``, so genes
    the signature did not measure get no value. ``d'_S`` is orthogonal to every column of ``U_S``.
    With ``|S| <= rank(U_S)`` nothing is left: ``d' = 0`` exactly (:func:`numerical_zero`).

    Parameters
    ----------
    D
        (G,) desired change on the operator's gene order (0 where a gene has no value), or (G, B).
    present
        (G,) bool mask of the genes that have a value, or (G, B) one mask per column of ``D``.
    U
        (G, k) common directions (:func:`common_directions`); k = 0 returns ``D`` (off ``S`` zeroed).

    Returns
    -------
    np.ndarray
        float64 array shaped like ``D``.
    """
    D = np.asarray(D, float)
    return numerical_zero(np.where(_mask_like(present, D), D, 0.0) - project_changes(D, present, U), D)


def readout_zscores(R: sp.csr_matrix, R_sq: sp.csr_matrix, D: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Exact permutation z-score of every node's readout ``R^T d`` over the change's own genes.

    For node ``i`` and the ``n`` present genes ``S``, ``y_i = sum_S R[t, i] d_t`` has, over all
    permutations of the values among ``S``, mean ``sum_S R[t, i] * dbar`` and variance
    ``(sum_S R[t, i]^2 - (sum_S R[t, i])^2 / n) * sum_S (d_t - dbar)^2 / (n - 1)``.

    Parameters
    ----------
    R
        (G, N) readout, ``R[gene, node]``.
    R_sq
        (G, N) its element-wise square (``R.multiply(R)``), passed in so that it is built once per operator.
    D
        (G,) desired change on the operator's gene order (0 where a gene has no value), or (G, B).
    present
        (G,) bool mask of the genes that have a value, or (G, B) one mask per column of ``D``.

    Returns
    -------
    np.ndarray
        (N,) or (N, B) float64 z-scores ``(y_i - mean_i) / sd_i``; 0 where the null has no spread beyond
        rounding (a node reading out on no present gene or equally on all of them, fewer than two present
        genes, or a constant change).
    """
    return readout_zscores_defined(R, R_sq, D, present)[0]


def readout_zscores_defined(R: sp.csr_matrix, R_sq: sp.csr_matrix, D: np.ndarray,
                            present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`readout_zscores` and where they are defined.

    Returns
    -------
    tuple of np.ndarray
        The (N,) or (N, B) z-scores and a float mask of the same shape, 1.0 where the node's null has a spread (its
        readout covers present genes unequally, at least two genes are present and the change is not constant), else
        0.0. The mask depends on which genes are present and on the change only through whether it is constant, so a
        permutation of the values among the present genes leaves it unchanged.
    """
    D = np.asarray(D, float)
    cols = D.reshape(len(D), -1)
    P = _mask_like(present, D).reshape(cols.shape).astype(float)
    n = P.sum(axis=0)
    dm = np.where(P > 0, cols, 0.0)
    dbar = dm.sum(axis=0) / np.maximum(n, 1.0)
    ss_d = np.where(P > 0, (cols - dbar) ** 2, 0.0).sum(axis=0)
    s1 = np.asarray(R.T @ P, dtype=float)
    s2 = np.asarray(R_sq.T @ P, dtype=float)
    ss_r = s2 - s1 * s1 / np.maximum(n, 1.0)
    var = ss_r * (ss_d / np.maximum(n - 1.0, 1.0))
    ok = (ss_r > 1e-10 * s2) & (ss_d > 1e-12 * np.maximum((dm * dm).sum(axis=0), 1e-300)) & (n >= 2)
    z = np.zeros_like(s1)
    centred = np.asarray(R.T @ dm, dtype=float) - s1 * dbar
    z[ok] = centred[ok] / np.sqrt(var[ok])
    shape = (R.shape[1],) + D.shape[1:]
    return z.reshape(shape), ok.astype(float).reshape(shape)


@dataclass(frozen=True)
class Footprint:
    """An operator's matrices for the footprint score (:meth:`scores`), built once per operator.

    Attributes
    ----------
    A_T, abs_A_T
        (N, N) CSR ``A^T`` and ``|A|^T`` (upstream propagation, signed and unsigned).
    R, R_sq
        (G, N) readout of hops 1..K and its element-wise square.
    R0, R0_sq
        (G, N) readout of hop 0 (the perturbed node itself) and its element-wise square.
    n_hops
        Number of propagation steps K.
    abs_A
        ``|A|`` by columns for the strongest-path score (:meth:`max_path_scores`), built on first use.
    """

    A_T: sp.csr_matrix
    abs_A_T: sp.csr_matrix
    R: sp.csr_matrix
    R_sq: sp.csr_matrix
    R0: sp.csr_matrix
    R0_sq: sp.csr_matrix
    n_hops: int

    @classmethod
    def of(cls, operator: Any, self_weight: float = 0.0) -> Footprint:
        """The footprint matrices of ``operator`` (``A``, ``R``, ``n_hops`` and ``readout0`` when it has one,
        else ``R``); ``self_weight`` adds a genetic perturbation's own transcript to the hop-0 readout."""
        A_T = sp.csr_matrix(operator.A.T)
        R = sp.csr_matrix(operator.R)
        R0 = sp.csr_matrix(getattr(operator, "readout0", operator.R))
        if self_weight:
            R0 = sp.csr_matrix(R0 + self_weight * sp.identity(R0.shape[0], format="csr"))
        return cls(A_T=A_T, abs_A_T=abs(A_T), R=R, R_sq=R.multiply(R).tocsr(), R0=R0,
                   R0_sq=R0.multiply(R0).tocsr(), n_hops=int(operator.n_hops))

    def scores(self, D: np.ndarray, present: np.ndarray, magnitude: bool = False) -> np.ndarray:
        """Footprint score of activating every node for the desired change(s) ``D``.

        ``z0 + sum_{k=1..K} (A^T)^k z`` with ``z0``, ``z`` the permutation z-scores of ``R0^T d`` and
        ``R^T d`` (:func:`readout_zscores`). With ``magnitude`` the size is ``|z0| + sum_k (|A|^T)^k |z|``
        (reach into moved footprints whatever their signs) and the sign is the signed score's.

        Parameters
        ----------
        D, present
            (G,) or (G, B) desired change(s) and their gene masks (as :func:`readout_zscores`).
        magnitude
            Use the unsigned propagation for the size (the signed score still gives the direction).

        Returns
        -------
        np.ndarray
            (N,) or (N, B) signed scores (positive: activating the node moves the cell towards ``d``).
        """
        z0, z, _, _ = self._zscores(D, present)
        signed = self._signed(z0, z)
        if not magnitude:
            return signed
        return np.sign(signed) * self._size(z0, z)

    def share_scores(self, D: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Footprint-share score: the ``|A|``-weighted mean size of the footprints a node reaches.

        Size ``(|z0| + sum_{k=1..K} (|A|^T)^k |z|) / (r + median(r > 0))`` with the footprint reach
        ``r = m0 + sum_{k=1..K} (|A|^T)^k m`` (``m0``, ``m`` the masks of the nodes whose z-score the change defines,
        :func:`readout_zscores_defined`; the median per column, as :func:`reach_scaled`), sign the signed footprint
        score's (:meth:`scores`). A permutation of the values among the present genes moves the numerator only.
        ``D``, ``present`` and the (N,) or (N, B) signed result are as in :meth:`scores`.
        """
        z0, z, m0, m = self._zscores(D, present)
        return np.sign(self._signed(z0, z)) * reach_scaled(self._size(z0, z), m0 + self._upstream(self.abs_A_T, m))

    def null_scores(self, null: str, D: np.ndarray, present: np.ndarray, magnitude: bool = False) -> np.ndarray:
        """The score of one footprint null: ``"footprint"`` (:meth:`scores`, with ``magnitude``), ``"footprint_max"``
        (:meth:`max_path_scores`) or ``"footprint_share"`` (:meth:`share_scores`); (N,) or (N, B) signed scores."""
        if null == "footprint":
            return self.scores(D, present, magnitude)
        return self.max_path_scores(D, present) if null == "footprint_max" else self.share_scores(D, present)

    def _zscores(self, D: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``z0``, ``z`` (the permutation z-scores of ``R0^T d`` and ``R^T d``) and the masks ``m0``, ``m`` of where
        they are defined (:func:`readout_zscores_defined`)."""
        z0, m0 = readout_zscores_defined(self.R0, self.R0_sq, D, present)
        z, m = readout_zscores_defined(self.R, self.R_sq, D, present)
        return z0, z, m0, m

    def _signed(self, z0: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The signed footprint score ``z0 + sum_{k=1..K} (A^T)^k z``."""
        return z0 + self._upstream(self.A_T, z)

    def _size(self, z0: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The unsigned footprint size ``|z0| + sum_{k=1..K} (|A|^T)^k |z|``."""
        return np.abs(z0) + self._upstream(self.abs_A_T, np.abs(z))

    def _upstream(self, A_T: sp.csr_matrix, z: np.ndarray) -> np.ndarray:
        """``sum_{k=1..K} (A_T)^k z`` (:func:`propagate_upstream`)."""
        return propagate_upstream(A_T, z, self.n_hops)

    @cached_property
    def abs_R(self) -> sp.csr_matrix:
        """``|R|`` (G, N), for :meth:`unsigned_adjoint`, built on first use."""
        return abs(self.R)

    @cached_property
    def abs_R0(self) -> sp.csr_matrix:
        """``|R0|`` (G, N), the hop-0 readout of :meth:`unsigned_adjoint`, built on first use."""
        return abs(self.R0)

    def unsigned_adjoint(self, D: np.ndarray) -> np.ndarray:
        """``|R0|^T D + sum_{k=1..K} (|A|^T)^k |R|^T D`` for (G,) or (G, B) ``D``: see :func:`unsigned_adjoint`; the
        unsigned matrices are this object's, built once per operator."""
        D = np.asarray(D, dtype=float)
        return propagate_upstream(self.abs_A_T, self.abs_R.T @ D, self.n_hops, total=self.abs_R0.T @ D)

    def reach(self) -> np.ndarray:
        """(N,) unsigned reach of every node over all readout genes: :meth:`unsigned_adjoint` of 1 (see :func:`reach`)."""
        return self.unsigned_adjoint(np.ones(self.R.shape[0]))

    @cached_property
    def abs_A(self) -> AbsColumns:
        """:class:`~twincell.identify.explain.AbsColumns` of ``|A|`` (``A[dst, src]``), built on first use."""
        from twincell.identify.explain import AbsColumns  # explain imports inverse, which imports this module

        return AbsColumns(self.A_T.T)

    def max_path_scores(self, D: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Strongest-path footprint score of activating every node for the desired change(s) ``D``.

        Size ``max(|z0_g|, max_{i, walk g -> ... -> i of 1..K hops} prod |A| * |z_i|)``: the single walk of
        largest ``|A|``-product times the readout z-score where it ends (``z0``, ``z`` as in :meth:`scores`),
        by the max-product programme ``B_0 = |z|``, ``B_r(v) = max(|z_v|, max_u |A[u, v]| B_{r-1}(u))``
        (:meth:`~twincell.identify.explain.AbsColumns.levels`, K - 1 levels) and one last step from every
        node. The sign is the signed footprint score's (:meth:`scores`): exact, and 0 where that is 0.

        Parameters
        ----------
        D, present
            (G,) or (G, B) desired change(s) and their gene masks (as :func:`readout_zscores`).

        Returns
        -------
        np.ndarray
            (N,) or (N, B) signed scores (positive: activating the node moves the cell towards ``d``).
        """
        z0, z, _, _ = self._zscores(D, present)
        signed = self._signed(z0, z)
        abs_z = np.abs(z).reshape(len(z), -1)
        size = np.abs(z0).reshape(abs_z.shape).copy()
        if self.n_hops > 0:
            for b in range(abs_z.shape[1]):
                bound = self.abs_A.levels(abs_z[:, b], self.n_hops - 1)[-1]
                np.maximum(size[:, b], self.abs_A.column_max(bound), out=size[:, b])
        return np.sign(signed) * size.reshape(signed.shape)


def propagate_upstream(A_T: sp.spmatrix, z: np.ndarray, n_hops: int, total: np.ndarray | None = None) -> np.ndarray:
    """``total + sum_{k=1..n_hops} (A_T)^k z`` (``total`` zeros when None; it is added to in place), for (N,) or
    (N, B) ``z``: the upstream recursion of the adjoint, one sparse product per hop."""
    total = np.zeros_like(z) if total is None else total
    for _ in range(n_hops):
        z = A_T @ z
        total += z
    return total


def unsigned_adjoint(operator: Any, D: np.ndarray) -> np.ndarray:
    """``|R0|^T D + sum_{k=1..K} (|A|^T)^k |R|^T D``: the adjoint with every edge and readout weight made positive
    (the hop-0 readout ``R0`` as the operator's own: a node's direct term on its own transcript starts at hop 1).

    ``D`` is (G,) or (G, B) on the operator's gene order; returns (N,) or (N, B). With ``D >= 0`` it bounds
    ``sum_g |(M e_i)_g| D_g`` from above, and equals it when ``A``, ``R`` and ``R0`` have no negative entries. Builds
    the operator's :class:`Footprint`; to reuse its unsigned matrices call :meth:`Footprint.unsigned_adjoint`.
    """
    return Footprint.of(operator).unsigned_adjoint(D)


def reach(operator: Any) -> np.ndarray:
    """(N,) unsigned reach of every node over all the operator's readout genes: :func:`unsigned_adjoint` of 1.

    An upper bound of ``sum_g |(M e_i)_g|``, equal to it when ``A``, ``R`` and ``R0`` have no negative entries.
    """
    return Footprint.of(operator).reach()


def reach_scaled(scores: np.ndarray, node_reach: np.ndarray) -> np.ndarray:
    """Scores (N,) or (N, B) divided node by node by ``reach + median(reach > 0)`` (:func:`reach`).

    ``node_reach`` is (N,), one reach for every column, or (N, B), one per column with its own median; a column
    without a positive reach is offset by 1.
    """
    reach_cols = np.asarray(node_reach, float).reshape(len(node_reach), -1)
    offsets = np.array([np.median(col[col > 0]) if (col > 0).any() else 1.0 for col in reach_cols.T])
    scale = reach_cols + offsets
    if np.ndim(node_reach) == 1:
        scale = scale[:, 0] if np.ndim(scores) == 1 else scale
    return scores / scale
