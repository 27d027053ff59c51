"""Degree-matched null for target scores.

A hub reaches many genes within a few hops, so its raw alignment with any signature tends to be
large. The null compares each gene's score with the scores, under the same desired change, of the
genes whose degree in the propagation graph is similar: genes are put into quantile bins of degree
(in + out non-zero edges of the operator's ``A``) and each score is z-scored against its own bin.
One pass over the scores already computed; no re-simulation.
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
    a = sp.csr_matrix(A, copy=True)
    a.setdiag(0)
    a.eliminate_zeros()
    nz = a != 0
    return np.asarray(nz.sum(axis=0)).ravel() + np.asarray(nz.sum(axis=1)).ravel()


def degree_bins(degree: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """Quantile bin of each node's degree (ties stay in one bin, so low degrees may share a bin).

    Returns
    -------
    np.ndarray
        (N,) bin codes 0..n_bins-1 (fewer bins when degrees have many ties).
    """
    return pd.qcut(np.asarray(degree, float), q=n_bins, labels=False, duplicates="drop").astype(np.int64)


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
    scores = np.asarray(scores, float)
    frame = pd.DataFrame({"s": scores, "bin": degree_bins(degree, n_bins)})
    grouped = frame.groupby("bin")["s"]
    mean = grouped.transform("mean").to_numpy()
    sd = grouped.transform("std", ddof=0).to_numpy()
    z = np.zeros_like(scores)
    ok = sd > 0
    z[ok] = (scores[ok] - mean[ok]) / sd[ok]
    return z
