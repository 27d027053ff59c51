"""TF activity baseline: decoupler's univariate linear model (ulm) over the interactome's TF layer.

For each transcription factor with a regulon (its CollecTRI edges in the interactome's ``tf`` layer, weight =
the edge's sign, +1 activation / -1 repression) the signature's values over all of its genes are regressed on
the regulon weights (0 for a gene outside the regulon) with an intercept; the TF's activity is the slope's
t-value, ``t = r sqrt((n - 2) / (1 - r^2))`` with ``r`` the Pearson correlation of weights and values over the
``n`` signature genes. This is decoupler's ``ulm`` (Badia-i-Mompel et al. 2022), the field's default way to read
TF activities from one signature; a TF with fewer than :data:`TMIN` targets among the signature's genes gets no
activity (decoupler's ``tmin``).

It reads the case and nothing else (no training, no network position beyond the regulons), so its tier-2 case
gain says how much a TF's own footprint in a response can tell, and its tier-3 scores what a signature-driven
TF ranking does on the clinical task. It ranks TFs only (|t|); every other gene ranks last. Its direction
reverses the signature: a TF active in the disease (t > 0) is to be inhibited.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from twincell.bench.methods import Method, Resources, register_method
from twincell.network import Interactome

#: Minimum number of a TF's targets among the signature's genes for the TF to get an activity (decoupler's tmin).
TMIN = 5


def regulon_matrix(network: Interactome) -> tuple[sp.csr_matrix, pd.Index, pd.Index]:
    """The TF layer as a signed weight matrix.

    Returns
    -------
    weights
        (n_tfs, n_targets) CSR, entry = the edge's sign (+1 / -1; an unsigned edge counts +1), summed over
        duplicate edges.
    tfs, targets
        Row and column gene names.
    """
    edges = network.edges[network.layer_mask("tf")]
    tfs, tf_codes = np.unique(edges["source"].to_numpy(), return_inverse=True)
    targets, target_codes = np.unique(edges["target"].to_numpy(), return_inverse=True)
    signs = np.where(edges["sign"].to_numpy() < 0, -1.0, 1.0)
    weights = sp.csr_matrix((signs, (tf_codes, target_codes)), shape=(len(tfs), len(targets)))
    weights.sum_duplicates()
    return weights, pd.Index(tfs), pd.Index(targets)


def ulm_activities(weights: sp.csr_matrix, targets: pd.Index, signatures: Sequence[pd.Series],
                   tmin: int = TMIN) -> np.ndarray:
    """ulm t-values of every regulon for every signature.

    Parameters
    ----------
    weights
        (n_tfs, n_targets) regulon weights (:func:`regulon_matrix`).
    targets
        Gene names of ``weights``' columns.
    signatures
        Gene -> finite value each; every gene of a signature enters the regression (weight 0 outside a regulon).
    tmin
        TFs with fewer targets among a signature's genes get NaN for it.

    Returns
    -------
    np.ndarray
        (n_tfs, n_signatures) t-values; NaN where the TF has fewer than ``tmin`` targets among the signature's
        genes or the fit is undefined (constant values, or every gene in the regulon).
    """
    values = np.column_stack([s.reindex(targets).to_numpy(dtype=float) for s in signatures])
    measured = np.isfinite(values)
    filled = np.where(measured, values, 0.0)
    n = np.array([len(s) for s in signatures], dtype=float)
    mean = np.array([float(s.mean()) for s in signatures])
    ss_y = np.array([float(((s - s.mean()) ** 2).sum()) for s in signatures])
    sum_x = weights @ measured.astype(float)
    sum_xx = weights.multiply(weights) @ measured.astype(float)
    count = abs(weights).sign() @ measured.astype(float)
    s_xy = weights @ filled - sum_x * mean
    s_xx = sum_xx - sum_x**2 / n
    with np.errstate(divide="ignore", invalid="ignore"):
        r = s_xy / np.sqrt(s_xx * ss_y)
        t = r * np.sqrt((n - 2) / ((1 - r) * (1 + r)))
    t[(count < tmin) | ~np.isfinite(t)] = np.nan
    return t


@register_method
class TFActivity(Method):
    """Ranks TFs by |ulm activity| of the signature on their CollecTRI regulons (:func:`ulm_activities`)."""

    name = "tf_activity"
    description = "TF activity of the signature: ulm t-value on each CollecTRI regulon (TFs only, |t|)"
    reference = "Badia-i-Mompel et al. 2022, Bioinform Adv (decoupler ulm); Müller-Dott et al. 2023, NAR (CollecTRI)"
    gives_direction = True

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.weights, self.tfs, self.targets = regulon_matrix(resources.network)

    def activities(self, signatures: Sequence[pd.Series]) -> pd.DataFrame:
        """TF x signature ulm t-values (NaN: too few targets measured), columns 0..B-1."""
        return pd.DataFrame(ulm_activities(self.weights, self.targets, signatures), index=self.tfs)

    def rank_targets(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """|t| of every TF with an activity; other genes are left out (they rank last)."""
        return self.rank_targets_many([signature], context)[0]

    def rank_targets_many(self, signatures: Sequence[pd.Series], context: str | None = None) -> pd.DataFrame:
        """|t| per TF and signature (genes x signatures), one sparse product for all signatures."""
        return self.activities(signatures).abs()

    def target_directions(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """-sign(t) per TF with an activity: a TF active in the signature (t > 0) is inhibited to reverse it."""
        t = self.activities([signature])[0].dropna()
        return (-np.sign(t)).astype(int).rename("direction")
