"""Nulls for target scores: degree-matched z-scores, and each candidate's own shuffled-signature null.

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
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


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
    ok = sd > 0
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
        float64 array shaped like ``D``: ``D - mean(D[present])`` on present genes, 0 elsewhere.
    """
    D = np.asarray(D, float)
    mask = np.broadcast_to(present.reshape(present.shape + (1,) * (D.ndim - present.ndim)), D.shape)
    mean = np.where(mask, D, 0.0).sum(axis=0) / np.maximum(mask.sum(axis=0), 1)
    return np.where(mask, D - mean, 0.0)


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
