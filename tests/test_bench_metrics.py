"""TwinBench metrics against scikit-learn / scipy on known inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import average_precision_score, ndcg_score, roc_auc_score

from twincell.bench.metrics import RankedPositives, auprc, auroc, forward_metrics, ndcg, percentile_ci
from twincell.errors import TwinCellError


def _synthetic_scores(seed: int, n: int = 300, n_pos: int = 12, n_levels: int = 15) -> tuple[pd.Series, list[str]]:
    """Integer scores (many ties) over synthetic genes, and random positives."""
    rng = np.random.default_rng(seed)
    scores = pd.Series(rng.integers(0, n_levels, n).astype(float), index=[f"g{i}" for i in range(n)])
    return scores, list(rng.choice(scores.index, n_pos, replace=False))


@pytest.mark.parametrize("seed", range(4))
def test_ranked_positives_equal_sklearn_with_ties(seed):
    scores, pos = _synthetic_scores(seed)
    labels = scores.index.isin(pos)
    m = RankedPositives.from_scores(scores, pos).metrics()
    assert m["auroc"][0] == pytest.approx(roc_auc_score(labels, scores))
    assert m["auprc"][0] == pytest.approx(average_precision_score(labels, scores))
    assert m["ndcg"][0] == pytest.approx(ndcg_score(labels[None, :].astype(float), scores.to_numpy()[None, :]))
    assert auroc(scores, pos) == pytest.approx(roc_auc_score(labels, scores))
    assert auprc(scores, pos) == pytest.approx(average_precision_score(labels, scores))
    assert ndcg(scores, pos) == pytest.approx(m["ndcg"][0])


def test_recall_at_k_is_expected_recall_under_random_tie_breaking():
    scores, pos = _synthetic_scores(7, n=60, n_pos=6, n_levels=6)
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(4000):
        order = np.lexsort((rng.permutation(len(scores)), -scores.to_numpy()))
        draws.append(np.isin(scores.index[order[:10]], pos).sum() / len(pos))
    expected = RankedPositives.from_scores(scores, pos).metrics(ks=(10,))["recall_at_10"][0]
    assert expected == pytest.approx(np.mean(draws), abs=0.01)


def test_recall_and_rank_without_ties_are_exact():
    scores = pd.Series(np.arange(10, 0, -1, dtype=float), index=list("abcdefghij"))  # a best ... j worst
    ranked = RankedPositives.from_scores(scores, ["b", "e", "i"])
    np.testing.assert_array_equal(ranked.ranks(), [2, 5, 9])
    m = ranked.metrics(ks=(1, 5))
    assert m["recall_at_1"][0] == 0 and m["recall_at_5"][0] == pytest.approx(2 / 3)
    assert m["median_rank"][0] == 5


def test_bootstrap_resample_equals_sklearn_on_the_duplicated_data():
    scores, pos = _synthetic_scores(3, n=200, n_pos=8)
    ranked = RankedPositives.from_scores(scores, pos)
    resample = np.array([[0, 0, 1, 2, 2, 2, 5, 7]])
    m = ranked.metrics(resample=resample)
    negatives = scores.drop(pos)
    picked = ranked.scores[resample[0]]
    data = pd.concat([negatives, pd.Series(picked, index=[f"p{i}" for i in range(len(picked))])])
    labels = data.index.str.startswith("p")
    assert m["auroc"][0] == pytest.approx(roc_auc_score(labels, data))
    assert m["auprc"][0] == pytest.approx(average_precision_score(labels, data))
    assert m["ndcg"][0] == pytest.approx(ndcg_score(labels[None, :].astype(float), data.to_numpy()[None, :]))


def test_negatives_can_be_restricted_to_a_universe():
    scores, pos = _synthetic_scores(5)
    universe = list(scores.index[::3])
    sub = scores[scores.index.isin(universe) | scores.index.isin(pos)]
    m = RankedPositives.from_scores(scores, pos, negatives=universe).metrics()
    assert m["auroc"][0] == pytest.approx(roc_auc_score(sub.index.isin(pos), sub))


def test_no_positive_among_candidates_is_an_error():
    with pytest.raises(TwinCellError, match="none of the true targets"):
        RankedPositives.from_scores(pd.Series([1.0, 2.0], index=["a", "b"]), ["z"])


def test_forward_metrics_on_known_inputs():
    rng = np.random.default_rng(0)
    obs = rng.normal(size=50)
    obs[:5] = np.nan
    pred = 0.5 * np.nan_to_num(obs) + rng.normal(scale=0.3, size=50)
    mean = np.full(50, 0.1)
    m = forward_metrics(obs, pred, mean)
    o, p = obs[5:], pred[5:]
    top = np.argsort(-np.abs(o))[:20]
    assert m["pearson"] == pytest.approx(stats.pearsonr(o, p).statistic)
    assert m["pearson_top20"] == pytest.approx(stats.pearsonr(o[top], p[top]).statistic)
    assert m["direction_accuracy_top20"] == pytest.approx(np.mean(np.sign(o[top]) == np.sign(p[top])))
    assert m["mse_top20"] == pytest.approx(np.mean((o[top] - p[top]) ** 2))
    assert m["l2_ratio"] == pytest.approx(np.linalg.norm(p - o) / np.linalg.norm(0.1 - o))
    assert forward_metrics(obs, mean, mean)["l2_ratio"] == pytest.approx(1.0)
    assert forward_metrics(obs, mean, mean)["pearson"] == 0.0  # constant prediction: no association, scored 0


def test_forward_metrics_reject_non_finite_predictions():
    with pytest.raises(TwinCellError, match="NaN or infinite"):
        forward_metrics(np.ones(10), np.r_[np.nan, np.ones(9)], np.zeros(10))


def test_percentile_ci():
    lo, hi = percentile_ci(np.arange(101.0))
    assert (lo, hi) == pytest.approx((2.5, 97.5))
    assert all(np.isnan(percentile_ci(np.full(5, np.nan))))


def test_auroc_columns_equal_sklearn_per_column_with_ties():
    from twincell.bench.metrics import auroc_columns

    rng = np.random.default_rng(4)
    scores = rng.integers(0, 5, size=(40, 6)).astype(float)  # many ties
    positive = np.zeros(40, bool)
    positive[[1, 5, 9]] = True
    negative = ~positive
    negative[:4] = False  # a restricted universe: genes 0-3 (but positive 1) left out
    keep = positive | negative
    expected = [roc_auc_score(positive[keep], scores[keep, j]) for j in range(6)]
    np.testing.assert_allclose(auroc_columns(scores, positive, negative), expected)


def test_hits_in_top_count_a_tied_block_in_proportion():
    from twincell.bench.metrics import hits_in_top

    scores = np.array([[3.0], [2.0], [2.0], [1.0]])
    hits = np.array([False, True, False, True])
    # top 2: gene 0 (no hit) and one of the tied genes 1, 2 (one hit of two): 0.5 expected hits
    assert hits_in_top(scores, hits, 2)[0] == 0.5
    assert hits_in_top(scores, hits, 4)[0] == 2.0 and hits_in_top(scores, hits, 10)[0] == 2.0


def test_direction_accuracy_counts_no_direction_as_a_miss():
    from twincell.bench.metrics import direction_accuracy

    known = pd.Series({"A": 1, "B": -1, "C": -1})
    assert direction_accuracy(pd.Series({"A": 1, "B": 1, "C": -1}), known) == pytest.approx(2 / 3)
    assert direction_accuracy(pd.Series({"A": 1, "B": 0}), known) == pytest.approx(1 / 3)  # C missing, B none
    assert np.isnan(direction_accuracy(pd.Series({"A": 1}), pd.Series(dtype=int)))
    # a signed strength counts by its sign (was: truncated to 0 or -2)
    assert direction_accuracy(pd.Series({"A": 0.7, "B": -2.3, "C": -0.4}), known) == 1.0
    with pytest.raises(TwinCellError, match="gene C more than one direction"):
        direction_accuracy(pd.Series([1, -1, -1, 1], index=["A", "B", "C", "C"]), known)
    with pytest.raises(TwinCellError, match="direction of gene B is not a number"):
        direction_accuracy(pd.Series({"A": 1, "B": "inhibit"}), known)


def test_direction_balanced_accuracy_averages_the_recall_of_each_known_class():
    from sklearn.metrics import balanced_accuracy_score

    from twincell.bench.metrics import direction_balanced_accuracy

    known = pd.Series({"A": 1, "B": -1, "C": -1, "D": -1})  # synthetic: one activated, three inhibited targets
    # both classes: activate 1/1, inhibit 1/3 (C has no direction, D is missing) -> (1 + 1/3) / 2
    assert direction_balanced_accuracy(pd.Series({"A": 1, "B": -1, "C": 0}), known) == pytest.approx(2 / 3)
    full = pd.Series({"A": -1, "B": -1, "C": 1, "D": -1})
    assert direction_balanced_accuracy(full, known) == pytest.approx(balanced_accuracy_score(known, full[known.index]))
    # a constant direction scores 0.5 where both classes are known, whatever the class balance
    for constant in (1, -1):
        assert direction_balanced_accuracy(pd.Series(constant, index=list("ABCD")), known) == 0.5
    # one class only: that class's recall (= direction_accuracy)
    inhibited = known[known < 0]
    assert direction_balanced_accuracy(pd.Series({"B": -1, "C": 1}), inhibited) == pytest.approx(1 / 3)
    assert np.isnan(direction_balanced_accuracy(pd.Series({"A": 1}), pd.Series(dtype=int)))


def test_direction_coverage_separates_abstentions_from_wrong_directions():
    from twincell.bench.metrics import direction_accuracy, direction_balanced_accuracy, direction_coverage

    known = pd.Series({"A": 1, "B": -1, "C": -1, "D": -1, "E": -1, "F": -1})  # synthetic known actions
    # right on every gene it answers (A, B), no direction on C, D, E, F is missing
    abstaining = pd.Series({"A": 1, "B": -1, "C": 0, "D": 0, "E": 0})
    assert direction_coverage(abstaining, known) == pytest.approx(2 / 6)
    assert direction_accuracy(abstaining, known) == pytest.approx(2 / 6)
    assert direction_balanced_accuracy(abstaining, known) == pytest.approx((1 + 1 / 5) / 2)  # below a constant's 0.5
    # wrong on every gene, but answers all: full coverage
    assert direction_coverage(-known, known) == 1.0 and direction_accuracy(-known, known) == 0.0
    assert np.isnan(direction_coverage(pd.Series({"A": 1}), pd.Series(dtype=int)))


def test_fisher_combined_p_is_scipys_and_empirical_p_has_its_floor():
    from scipy.stats import combine_pvalues

    from twincell.bench.metrics import empirical_p, fisher_combined_p

    p = [0.01, 0.2, 0.5, np.nan]
    assert fisher_combined_p(p) == pytest.approx(combine_pvalues([0.01, 0.2, 0.5], method="fisher").pvalue)
    assert empirical_p(0.9, np.full(99, 0.5)) == pytest.approx(0.01)
    assert empirical_p(0.5, np.full(99, 0.5)) == 1.0
