"""TwinBench metrics: target-ranking metrics, their bootstrap, and forward-prediction metrics.

Ranking metrics take a score per candidate gene (higher = better target) and a set of positives
(the true targets). Point estimates use scikit-learn (:func:`auroc`, :func:`auprc`, :func:`ndcg`);
:class:`RankedPositives` gives the same numbers from where each positive lands among the negatives,
which makes the bootstrap over positives and the one-positive case (tier 2) cheap. Ties count as
scikit-learn counts them: a tied block shares its threshold (AUROC, AUPRC) or its averaged
discount (nDCG), and recall@k is the expected recall when ties are broken uniformly at random.

Forward metrics compare a predicted with an observed expression change, in the units the
perturbation-prediction literature reports (Pearson on all genes and on the top-20 DE genes,
direction accuracy, MSE on the top-20 DE genes, L2 error relative to the mean-response baseline).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score, mean_squared_error, ndcg_score, recall_score, roc_auc_score

from twincell.errors import TwinCellError

RANK_KS: tuple[int, ...] = (10, 50, 100)
N_TOP_DE = 20


# --------------------------------------------------------------------------- ranking: point estimates
def _labels(scores: pd.Series, positives: Iterable[str]) -> np.ndarray:
    return np.asarray(scores.index.isin(list(positives)))


def auroc(scores: pd.Series, positives: Iterable[str]) -> float:
    """Area under the ROC curve of ``scores`` (gene -> score) for the ``positives`` (sklearn ``roc_auc_score``)."""
    return float(roc_auc_score(_labels(scores, positives), scores.to_numpy(float)))


def auprc(scores: pd.Series, positives: Iterable[str]) -> float:
    """Average precision (area under the precision-recall curve; sklearn ``average_precision_score``)."""
    return float(average_precision_score(_labels(scores, positives), scores.to_numpy(float)))


def ndcg(scores: pd.Series, positives: Iterable[str]) -> float:
    """Normalised discounted cumulative gain over the whole ranking, binary relevance (sklearn ``ndcg_score``)."""
    return float(ndcg_score(_labels(scores, positives)[None, :].astype(float), scores.to_numpy(float)[None, :]))


# --------------------------------------------------------------------------- ranking: from positive ranks
@dataclass(frozen=True)
class RankedPositives:
    """Where each positive lands in one scored candidate list.

    Every ranking metric of a binary relevance list follows from, per positive, its score and the
    number of negatives scored above it and tied with it; resampling positives (the bootstrap)
    then needs no re-sorting of the negatives.

    Attributes
    ----------
    genes
        Positive genes present among the candidates, shape (m,).
    scores
        Their scores, shape (m,).
    neg_above, neg_tied
        Number of negatives scored strictly higher / exactly equal, shape (m,).
    n_neg
        Number of negatives.
    """

    genes: np.ndarray
    scores: np.ndarray
    neg_above: np.ndarray
    neg_tied: np.ndarray
    n_neg: int

    @classmethod
    def from_scores(cls, scores: pd.Series, positives: Iterable[str],
                    negatives: Iterable[str] | None = None) -> RankedPositives:
        """Locate ``positives`` in ``scores`` (gene -> score over all candidates).

        Parameters
        ----------
        scores
            Score of every candidate gene (higher = ranked first); must be finite.
        positives
            True targets; those absent from ``scores.index`` are ignored (callers report them).
        negatives
            Genes counted as negatives; default every candidate that is not a positive.

        Raises
        ------
        TwinCellError
            If no positive is among the candidates or no negative is left.
        """
        pos_mask = _labels(scores, positives)
        if not pos_mask.any():
            raise TwinCellError("none of the true targets is among the ranked candidates",
                                "check that the targets are HGNC symbols of genes in the network")
        neg_mask = ~pos_mask
        if negatives is not None:
            neg_mask &= scores.index.isin(list(negatives))
        neg = np.sort(scores.to_numpy(float)[neg_mask])
        if neg.size == 0:
            raise TwinCellError("no negative candidates are left", "use a larger candidate universe")
        pos_scores = scores.to_numpy(float)[pos_mask]
        left = np.searchsorted(neg, pos_scores, side="left")
        right = np.searchsorted(neg, pos_scores, side="right")
        return cls(genes=scores.index.to_numpy()[pos_mask], scores=pos_scores,
                   neg_above=neg.size - right, neg_tied=right - left, n_neg=int(neg.size))

    @property
    def n_pos(self) -> int:
        """Number of positives among the candidates."""
        return len(self.genes)

    def ranks(self) -> np.ndarray:
        """Average rank (1 = best) of each positive among all positives and negatives, shape (m,)."""
        above, tied_others = self._above_tied(np.arange(self.n_pos)[None, :])
        return (above + 1 + tied_others / 2)[0]

    def _above_tied(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Items strictly above and tied (excluding itself) for each sampled positive, shapes (B, m)."""
        s = self.scores[idx]
        pos_above = (s[:, None, :] > s[:, :, None]).sum(axis=2)
        pos_tied = (s[:, None, :] == s[:, :, None]).sum(axis=2) - 1
        return self.neg_above[idx] + pos_above, self.neg_tied[idx] + pos_tied

    def metrics(self, ks: Sequence[int] = RANK_KS, resample: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """AUROC, AUPRC, nDCG, recall@k and median rank for each (re)sample of the positives.

        Parameters
        ----------
        ks
            Cut-offs for ``recall_at_<k>``.
        resample
            Integer array (B, m) of positive indices (one bootstrap sample per row); default the
            positives as they are (B = 1).

        Returns
        -------
        dict
            Metric name -> array of shape (B,). Equal to scikit-learn's values for B = 1.
        """
        idx = np.arange(self.n_pos)[None, :] if resample is None else np.asarray(resample)
        above, tied_others = self._above_tied(idx)
        tied = tied_others + 1
        m = idx.shape[1]
        n_total = self.n_neg + m
        neg_below = self.n_neg - self.neg_above[idx] - self.neg_tied[idx]
        out = {"auroc": ((neg_below + 0.5 * self.neg_tied[idx]) / self.n_neg).mean(axis=1)}
        pos_at_or_above = above - self.neg_above[idx] + tied - self.neg_tied[idx]
        out["auprc"] = (pos_at_or_above / (above + tied)).mean(axis=1)
        cum_discount = np.r_[0.0, np.cumsum(1.0 / np.log2(np.arange(2, n_total + 2)))]
        dcg = ((cum_discount[above + tied] - cum_discount[above]) / tied).sum(axis=1)
        out["ndcg"] = dcg / cum_discount[m]
        for k in ks:
            out[f"recall_at_{k}"] = np.clip((k - above) / tied, 0.0, 1.0).mean(axis=1)
        out["median_rank"] = np.median(above + (tied + 1) / 2, axis=1)
        return out


# --------------------------------------------------------------------------- ranking: many score columns at once
def auroc_columns(scores: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """AUROC of every column of a score matrix (the shuffle nulls), ties counted as scikit-learn counts them.

    Parameters
    ----------
    scores
        (G, B) scores, one column per ranking (higher = better).
    positive, negative
        (G,) boolean masks of the positives and the negatives (other genes are left out).

    Returns
    -------
    np.ndarray
        (B,) AUROC per column: the Mann-Whitney U of the positives' average ranks over ``n_pos * n_neg``.
    """
    keep = positive | negative
    ranks = stats.rankdata(scores[keep], axis=0)
    pos = positive[keep]
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return (ranks[pos].sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def hits_in_top(scores: np.ndarray, hits: np.ndarray, k: int) -> np.ndarray:
    """Expected number of ``hits`` among the top ``k`` of each column when ties are broken at random.

    Parameters
    ----------
    scores
        (G, B) scores (higher = better).
    hits
        (G,) boolean mask of the genes that count (e.g. drug targets).
    k
        Cut-off.

    Returns
    -------
    np.ndarray
        (B,) counts: genes above the k-th score count fully, the block tied at it in proportion.
    """
    k = min(k, scores.shape[0])
    kth = -np.partition(-scores, k - 1, axis=0)[k - 1]
    above, tied = scores > kth, scores == kth
    n_above, n_tied = above.sum(axis=0), tied.sum(axis=0)
    return (above & hits[:, None]).sum(axis=0) + (tied & hits[:, None]).sum(axis=0) * (k - n_above) / n_tied


def direction_accuracy(predicted: pd.Series, known: pd.Series) -> float:
    """Share of the genes with a known direction whose predicted direction matches.

    Parameters
    ----------
    predicted
        Gene -> predicted direction (+1 activate, -1 inhibit, 0 none: never a match).
    known
        Gene -> the approved drug's direction (+1 / -1).

    Returns
    -------
    float
        Matches / len(known); NaN when ``known`` is empty.
    """
    guess = _predicted_for(predicted, known)
    return np.nan if guess is None else float((guess == known.to_numpy(int)).mean())


def direction_balanced_accuracy(predicted: pd.Series, known: pd.Series) -> float:
    """Class-balanced direction accuracy: the mean over the known classes of the share predicted correctly.

    scikit-learn's ``balanced_accuracy_score`` semantics (macro recall over the classes present in
    ``known``), with "no direction" (0, or a gene missing from ``predicted``) a miss for either class.
    A constant direction scores 0.5 wherever both classes are known, so this metric does not reward
    following the majority action (most approved drugs inhibit). When ``known`` holds one class only,
    the value is that class's recall, i.e. :func:`direction_accuracy`.

    Parameters
    ----------
    predicted
        Gene -> predicted direction (+1 activate, -1 inhibit, 0 none).
    known
        Gene -> the approved drug's direction (+1 / -1).

    Returns
    -------
    float
        Mean recall over the classes (+1, -1) present in ``known``, in [0, 1]; NaN when ``known`` is empty.
    """
    guess = _predicted_for(predicted, known)
    if guess is None:
        return np.nan
    truth = known.to_numpy(int)
    return float(recall_score(truth, guess, labels=np.unique(truth), average="macro"))


def direction_coverage(predicted: pd.Series, known: pd.Series) -> float:
    """Share of the genes with a known direction (``known``, as for :func:`direction_accuracy`) to which the
    method gives any direction (+1 or -1 in ``predicted``); NaN when ``known`` is empty.

    :func:`direction_accuracy` and :func:`direction_balanced_accuracy` count "no direction" (0, e.g. a
    gene whose signal cannot reach the signature) as a miss for either class, so a method that is
    always right when it answers but answers for a third of the genes scores about 0.33 on both:
    below a constant's 0.5. This metric tells those misses apart from wrong directions.
    """
    guess = _predicted_for(predicted, known)
    return np.nan if guess is None else float((guess != 0).mean())


def _predicted_for(predicted: pd.Series, known: pd.Series) -> np.ndarray | None:
    """Predicted directions (signs: +1, -1, 0 where none) of the genes of ``known``, in its order, shape
    (len(known),); None when ``known`` is empty. A signed strength counts by its sign.

    Raises
    ------
    TwinCellError
        If ``predicted`` gives a gene two directions or a direction that is not a number.
    """
    if known.empty:
        return None
    twice = predicted.index[predicted.index.duplicated()]
    if len(twice):
        raise TwinCellError(f"the predicted directions give gene {twice[0]} more than one direction",
                            "return one direction per gene (+1 activate, -1 inhibit, 0 none)")
    values = pd.to_numeric(predicted.reindex(known.index), errors="coerce")
    bad = values.index[values.isna() & predicted.reindex(known.index).notna()]
    if len(bad):
        raise TwinCellError(f"the predicted direction of gene {bad[0]} is not a number",
                            "return +1 (activate), -1 (inhibit) or 0 (none) per gene")
    return np.sign(values.fillna(0.0).to_numpy(float)).astype(int)


def empirical_p(observed: float, null: np.ndarray) -> float:
    """One-sided empirical p-value ``(1 + #{null >= observed}) / (1 + #null)`` (floor ``1 / (1 + #null)``); NaN when
    ``observed`` is not finite (nothing was measured, so nothing is significant)."""
    if not np.isfinite(observed):
        return np.nan
    null = np.asarray(null, dtype=float)
    return float((1 + np.sum(null >= observed - 1e-12)) / (1 + len(null)))


def fisher_combined_p(pvalues: Sequence[float]) -> float:
    """Fisher's combination of independent p-values (``scipy.stats.combine_pvalues``); NaNs are left out."""
    p = np.asarray(pvalues, dtype=float)
    p = p[np.isfinite(p)]
    return float(stats.combine_pvalues(p, method="fisher").pvalue) if p.size else np.nan


def percentile_ci(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``samples`` (NaNs ignored; NaN when all are NaN)."""
    samples = np.asarray(samples, dtype=float)
    if not np.isfinite(samples).any():
        return np.nan, np.nan
    lo, hi = np.nanpercentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


# --------------------------------------------------------------------------- forward prediction
FORWARD_METRICS: tuple[str, ...] = ("pearson", "pearson_top20", "direction_accuracy_top20", "mse_top20", "l2_ratio")


def forward_metrics(observed: np.ndarray, predicted: np.ndarray, mean_prediction: np.ndarray) -> dict[str, float]:
    """Forward-prediction metrics of one perturbation's response.

    Parameters
    ----------
    observed, predicted, mean_prediction
        Expression change per gene, shape (G,); ``NaN`` in ``observed`` marks unmeasured genes, which
        are left out. ``mean_prediction`` is the mean-response baseline's prediction.

    Returns
    -------
    dict
        ``pearson`` (all measured genes), ``pearson_top20`` / ``direction_accuracy_top20`` / ``mse_top20``
        (the 20 genes with the largest observed |change|), and ``l2_ratio`` = ||predicted - observed||
        / ||mean_prediction - observed|| (below 1 beats the mean baseline). Correlations are 0 for a constant
        prediction and NaN for a constant observation (:func:`_pearson`).
    """
    mask = np.isfinite(observed)
    obs, pred, base = observed[mask], predicted[mask], mean_prediction[mask]
    if obs.size < 3:
        raise TwinCellError(f"a perturbation has only {obs.size} measured genes",
                            "forward metrics need at least 3 measured genes per perturbation")
    if not np.isfinite(pred).all():
        raise TwinCellError("a method predicted NaN or infinite changes", "check the method's predict_response")
    top = np.argsort(-np.abs(obs), kind="stable")[:N_TOP_DE]
    base_err = np.linalg.norm(base - obs)
    return {
        "pearson": _pearson(obs, pred),
        "pearson_top20": _pearson(obs[top], pred[top]),
        "direction_accuracy_top20": float(np.mean(np.sign(pred[top]) == np.sign(obs[top]))),
        "mse_top20": float(mean_squared_error(obs[top], pred[top])),
        "l2_ratio": float(np.linalg.norm(pred - obs) / base_err) if base_err > 0 else np.nan,
    }


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r of the observed ``x`` and the predicted ``y``: 0 for a constant prediction (it carries no
    association, and scoring it 0 keeps the row in every method's mean), NaN for a constant observation."""
    if np.ptp(x) == 0:
        return np.nan
    if np.ptp(y) == 0:
        return 0.0
    return float(stats.pearsonr(x, y).statistic)
