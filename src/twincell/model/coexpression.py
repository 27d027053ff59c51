"""A per-edge sign prior from co-expression across the bundled baseline profiles (``coexpression_sign``).

97.7 % of the interactome's signalling edges have no known sign. This module gives each of them a
prior sign learned from data that knows nothing of any disease:

1. **Co-expression.** For every edge whose two genes are both measured on a platform of
   :func:`twincell.context.bundled.reference_profiles` (Kang 2018 control PBMCs, CCLE lines, L1000
   lines), the Spearman correlation of the two genes across that platform's profiles; platforms are
   pooled by Fisher's z, weighted by ``n_p - 3`` (``n`` = profiles shared by the two genes in all).
2. **Shrinkage.** Empirical Bayes on Fisher's z: ``z_shrunk = z tau^2 / (tau^2 + 1 / (n - 3))``, with
   ``tau^2`` the variance of the true z across edges (observed variance minus the mean sampling
   variance), so a correlation over few profiles is pulled toward 0.
3. **Calibration on the known signs.** A logistic regression of ``sign == +1`` on the shrunk
   correlation over the layer's signed edges with data gives ``E[s | rho] = 2 sigmoid(a + b rho) - 1``.
   The prior of an unsigned edge is ``centre + E[s | rho] - E[s | 0]``: the layer's usual prior
   (``centre``: 0, or ``s0`` with ``sign_prior``) moved by what its co-expression says about the sign.
   Edges without co-expression data keep ``centre``. If co-expression does not predict the known signs
   (slope ``b`` ~ 0), the prior is ``centre`` everywhere: the option cannot invent signs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.stats import rankdata

#: Fewest profiles a platform must share between two genes for their correlation on it to count.
MIN_PROFILES = 20
#: Bound on |prior sign| so that ``arctanh`` (the initial logit) stays finite.
MAX_PRIOR = 0.99


@dataclass(frozen=True)
class Coexpression:
    """Pooled co-expression of gene pairs.

    Attributes
    ----------
    rho
        (E,) pooled Spearman correlation (NaN without data).
    n
        (E,) profiles shared by the two genes over all platforms (0 without data).
    """

    rho: np.ndarray
    n: np.ndarray

    @property
    def has_data(self) -> np.ndarray:
        """(E,) bool, the pair has a correlation."""
        return self.n > 0


def standardised_ranks(values: np.ndarray) -> np.ndarray:
    """Per column, ranks of the profiles (ties averaged) standardised to mean 0 and mean square 1.

    Parameters
    ----------
    values
        (P, G) expression of G genes over P profiles (no NaN).

    Returns
    -------
    np.ndarray
        (P, G) float64; a constant column (no information) is all NaN.
    """
    ranks = rankdata(values, axis=0)
    ranks -= ranks.mean(axis=0)
    sd = np.sqrt((ranks ** 2).mean(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return ranks / np.where(sd > 0, sd, np.nan)


def coexpression(platforms: list[pd.DataFrame], genes_a: np.ndarray, genes_b: np.ndarray) -> Coexpression:
    """Spearman correlation of each pair ``(genes_a[e], genes_b[e])`` pooled over platforms (module docstring).

    Parameters
    ----------
    platforms
        One (profiles x genes) table per platform, columns = gene symbols; a gene absent from a
        platform's columns (or NaN in it) is not measured there.
    genes_a, genes_b
        (E,) gene symbols of the pairs.

    Returns
    -------
    Coexpression
        Pooled correlation and the number of shared profiles per pair.
    """
    z_sum = np.zeros(len(genes_a))
    weight = np.zeros(len(genes_a))
    n = np.zeros(len(genes_a), dtype=np.int64)
    for table in platforms:
        table = table.loc[:, ~table.isna().any(axis=0)]
        if len(table) < MIN_PROFILES or table.shape[1] == 0:
            continue
        z = standardised_ranks(table.to_numpy(np.float64))
        column = pd.Index(table.columns)
        ia, ib = column.get_indexer(genes_a), column.get_indexer(genes_b)
        both = np.flatnonzero((ia >= 0) & (ib >= 0))
        rho = np.full(len(both), np.nan)
        for start in range(0, len(both), 20_000):  # (P, chunk) products keep memory bounded
            rows = both[start:start + 20_000]
            rho[start:start + len(rows)] = (z[:, ia[rows]] * z[:, ib[rows]]).mean(axis=0)
        ok = np.isfinite(rho)
        rows, rho = both[ok], np.clip(rho[ok], -0.999, 0.999)
        p = len(table)
        z_sum[rows] += (p - 3) * np.arctanh(rho)
        weight[rows] += p - 3
        n[rows] += p
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.where(weight > 0, np.tanh(z_sum / np.where(weight > 0, weight, 1.0)), np.nan)
    return Coexpression(pooled, n)


def shrink(co: Coexpression) -> np.ndarray:
    """(E,) correlations shrunk toward 0 by their sampling variance (empirical Bayes on Fisher's z; NaN kept)."""
    ok = co.has_data
    z = np.arctanh(co.rho[ok])
    se2 = 1.0 / np.maximum(co.n[ok] - 3, 1)
    tau2 = max(float(z.var() - se2.mean()), 1e-12) if len(z) > 1 else 1e-12
    out = np.full(len(co.rho), np.nan)
    out[ok] = np.tanh(z * tau2 / (tau2 + se2))
    return out


def calibrate(rho: np.ndarray, sign: np.ndarray) -> tuple[float, float]:
    """Logistic regression ``P(sign = +1 | rho) = sigmoid(a + b rho)`` over the known signs; returns ``(a, b)``.

    Parameters
    ----------
    rho
        (E,) correlations; NaN (no data) rows are left out.
    sign
        (E,) known signs +1 / -1 (0 rows are left out).

    Returns
    -------
    (a, b)
        Intercept and slope; ``(0, 0)`` when fewer than two signs of each kind have data.
    """
    from sklearn.linear_model import LogisticRegression  # on first use: keeps `import twincell.model` light

    use = np.isfinite(rho) & (sign != 0)
    y = sign[use] > 0
    if y.sum() < 2 or (~y).sum() < 2:
        return 0.0, 0.0
    fit = LogisticRegression(C=1e6).fit(rho[use, None], y)
    return float(fit.intercept_[0]), float(fit.coef_[0, 0])


def expected_sign(rho: np.ndarray, a: float, b: float) -> np.ndarray:
    """``E[s | rho] = 2 sigmoid(a + b rho) - 1`` (elementwise)."""
    return 2.0 / (1.0 + np.exp(-(a + b * rho))) - 1.0


def sign_prior_values(co: Coexpression, sign: np.ndarray, centre: float) -> np.ndarray:
    """(E,) prior sign of every edge of a layer: ``centre + E[s | rho] - E[s | 0]``, ``centre`` without data.

    Parameters
    ----------
    co
        Co-expression of the layer's edges.
    sign
        (E,) the layer's known signs (+1 / -1) used for the calibration, 0 where unknown.
    centre
        The layer's prior sign without co-expression (0, or ``s0`` with ``sign_prior``).

    Returns
    -------
    np.ndarray
        (E,) float32 in ``[-MAX_PRIOR, MAX_PRIOR]`` (known-sign edges get it too; callers use it for unsigned ones).
    """
    rho = shrink(co)
    a, b = calibrate(rho, sign)
    prior = np.full(len(sign), float(centre))
    ok = np.isfinite(rho)
    prior[ok] += expected_sign(rho[ok], a, b) - expected_sign(np.zeros(1), a, b)[0]
    return np.clip(prior, -MAX_PRIOR, MAX_PRIOR).astype(np.float32)


def platform_tables() -> list[pd.DataFrame]:
    """The bundled baseline profiles (:func:`twincell.context.bundled.reference_profiles`), one table per platform.

    Kang cells (raw UMI counts) are divided by each cell's total count first, so that a cell's size
    does not make every pair of genes look co-expressed; the bulk platforms are linear TPM / intensities.
    """
    from twincell.context.bundled import reference_profiles

    ref = reference_profiles()
    frame = pd.DataFrame(ref.X, index=ref.obs_names, columns=ref.var_names)
    tables = []
    for platform in pd.unique(ref.obs["platform"]):
        table = frame.loc[(ref.obs["platform"] == platform).to_numpy()].dropna(axis=1, how="all")
        if platform == "scrna":
            table = table.div(table.sum(axis=1).replace(0.0, np.nan), axis=0).dropna(axis=0)
        tables.append(table)
    return tables


@lru_cache(maxsize=4)
def _bundled_tables() -> tuple[pd.DataFrame, ...]:
    return tuple(platform_tables())


def bundled_coexpression(genes_a: np.ndarray, genes_b: np.ndarray) -> Coexpression:
    """:func:`coexpression` of the pairs over the bundled baseline profiles (loaded once per process)."""
    return coexpression(list(_bundled_tables()), np.asarray(genes_a), np.asarray(genes_b))
