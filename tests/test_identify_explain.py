"""Path explanations: walk contributions sum to the score, best-first search finds the true top walks,
reported walks are real interactome edges, and the figure draws them."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from twincell import pl  # noqa: E402
from twincell.data.signatures import load_disease_signature  # noqa: E402
from twincell.errors import TwinCellError, UnknownGeneError  # noqa: E402
from twincell.identify import explain, explain_many, rank_targets  # noqa: E402
from twincell.model import TwinCell  # noqa: E402
from twincell.model.synthetic import synthetic_interactome  # noqa: E402


def _all_walks(A: np.ndarray, R: np.ndarray, R0: np.ndarray, d: np.ndarray, start: int,
               K: int) -> list[tuple[tuple[int, ...], int, float]]:
    """Every walk of length <= K from ``start`` with every readout gene (exhaustive reference).

    Hop 0 reads out through ``R0`` (no own-transcript term), later hops through ``R``."""
    out = []
    frontier = [((start,), 1.0)]
    for hop in range(K + 1):
        nxt = []
        readout = R0 if hop == 0 else R
        for nodes, p in frontier:
            v = nodes[-1]
            out += [(nodes, g, p * readout[g, v] * d[g]) for g in np.flatnonzero(readout[:, v] * d)]
            if hop < K:
                nxt += [((*nodes, u), p * A[u, v]) for u in np.flatnonzero(A[:, v])]
        frontier = nxt
    return out


@pytest.fixture(scope="module")
def synthetic():
    """Synthetic network (SYN genes), untrained TwinCell with every edge signed, and a synthetic change."""
    net = synthetic_interactome(n_nodes=40, n_edges=140, seed=3)
    model = TwinCell(net, 0, n_hops=3)
    change = pd.Series(np.random.default_rng(3).normal(size=net.n_nodes), index=net.genes)
    return model, change


def test_walk_contributions_sum_to_the_score_and_search_finds_true_top(synthetic):
    model, change = synthetic
    op = model.operator(None)
    A, R, R0 = op.A.toarray(), op.R.toarray(), op.readout0.toarray()
    assert not np.allclose(R, R0)  # the direct (own-transcript) term is absent at hop 0
    d = change.reindex(op.genes).to_numpy()
    scores = op.adjoint(d)
    for start in range(0, len(op.genes), 5):
        walks = _all_walks(A, R, R0, d, start, op.n_hops)
        assert sum(c for *_, c in walks) == pytest.approx(scores[start], rel=1e-9, abs=1e-12)
        target = str(op.genes[start])
        e = explain(model, target, change, k=6)
        sign = 1.0 if e.direction == "activate" else -1.0
        assert e.score == pytest.approx(abs(scores[start]), abs=1e-12)
        expected = sorted((abs(c) for *_, c in walks), reverse=True)[:6]
        assert np.allclose(e.paths["contribution"].abs(), expected)
        assert e.covered_share == pytest.approx(e.paths["contribution"].sum() / e.score)
        reference = {(tuple(str(op.genes[v]) for v in nodes), str(op.genes[g])): sign * c for nodes, g, c in walks}
        for row in e.paths.itertuples():
            assert reference[(row.nodes, row.gene)] == pytest.approx(row.contribution)


@pytest.fixture(scope="module")
def real_explanation(interactome):
    # symmetric normalisation: multi-hop walks reach the top-5 paths of the top candidates (under the
    # default in-degree normalisation the prior's TF readouts dominate them)
    op = TwinCell.prior(interactome, normalisation="symmetric").operator(None)
    change = load_disease_signature("SLE").desired_change()
    ranking = rank_targets(op, change)
    signalling = np.asarray(abs(op.A).sum(axis=0)).ravel() > 0  # proteins with outgoing propagation edges
    candidates = ranking.loc[signalling[ranking["gene"].map(interactome.gene_index)], "gene"].head(10)
    explanations = [explain(op, g, change, k=5) for g in candidates]
    return op, change, max(explanations, key=lambda e: e.paths["hops"].max())


def test_real_explanation_paths_are_interactome_walks(interactome, real_explanation):
    op, change, e = real_explanation
    assert e.paths["hops"].max() >= 1
    edges = set(zip(interactome.edges["source"], interactome.edges["target"]))
    idx = interactome.gene_index
    for row in e.paths.itertuples():
        assert row.nodes[0] == e.target
        product = 1.0
        for a, b, s in zip(row.nodes[:-1], row.nodes[1:], row.strengths):
            assert (a, b) in edges
            assert op.A[idx[b], idx[a]] == pytest.approx(s)
            product *= s
        readout = op.readout0 if len(row.nodes) == 1 else op.R
        assert readout[idx[row.gene], idx[row.nodes[-1]]] == pytest.approx(row.readout)
        assert row.change == pytest.approx(change[row.gene])
        sign = 1.0 if e.direction == "activate" else -1.0
        assert row.contribution == pytest.approx(sign * product * row.readout * row.change)
        assert row.share == pytest.approx(row.contribution / e.score)
    assert e.covered_share == pytest.approx(e.paths["share"].sum())
    assert e.paths["contribution"].abs().is_monotonic_decreasing
    text = e.to_frame()
    assert {"target", "direction", "target_score", "path", "contribution"} <= set(text.columns)


def test_paths_figure_draws_every_protein(real_explanation):
    _, _, e = real_explanation
    ax = pl.paths(e)
    labels = {t.get_text() for t in ax.texts}
    assert set(np.concatenate([list(n) for n in e.paths["nodes"]])) <= labels
    assert {f"{g} mRNA" for g in e.paths["gene"]} <= labels  # every responding transcript, apart from its protein
    assert e.target in ax.get_title()
    plt.close(ax.figure)


def test_unknown_target(synthetic):
    model, change = synthetic
    with pytest.raises(UnknownGeneError, match="NOT_A_NODE"):
        explain(model, "NOT_A_NODE", change)


def test_explain_many_equals_one_explain_per_target(synthetic):
    model, change = synthetic
    op = model.operator(None)
    ranking = rank_targets(op, change)
    top = ranking.head(6)
    directions = ["inhibit" if w == "activate" else "activate" for w in top["direction"]]  # the other way too
    for ways in (top["direction"], directions):
        many = explain_many(op, top["gene"], change, k=4, direction=ways)
        assert [e.target for e in many] == top["gene"].tolist()
        for e, gene, way in zip(many, top["gene"], ways):
            single = explain(op, gene, change, k=4, direction=way)
            assert e.direction == single.direction == way
            assert e.score == pytest.approx(single.score)
            pd.testing.assert_frame_equal(e.paths, single.paths)
    flipped = explain_many(op, top["gene"], change, k=4, direction=directions)
    assert all(e.score == pytest.approx(-s) for e, s in zip(flipped, top["score"]))


def test_explain_many_checks_targets_and_directions_before_searching(synthetic):
    model, change = synthetic
    genes = [str(g) for g in model.genes[:2]]
    with pytest.raises(UnknownGeneError, match="SYN_NOT_A") as info:
        explain_many(model, [genes[0], "SYN_NOT_A", "SYN_NOT_B"], change)
    assert info.value.genes == ["SYN_NOT_A", "SYN_NOT_B"]
    with pytest.raises(TwinCellError, match="directions for"):
        explain_many(model, genes, change, direction=["activate"])
    with pytest.raises(TwinCellError, match="unknown direction"):
        explain_many(model, genes, change, direction="up")
    assert explain_many(model, [], change) == []
    assert [e.target for e in explain_many(model, genes[0], change, k=2)] == [genes[0]]   # one name, not its letters
    for k in (0, -1, "5", None):
        with pytest.raises(TwinCellError, match="k must be"):
            explain_many(model, genes, change, k=k)
    with pytest.raises(TwinCellError, match="direction must be"):
        explain_many(model, genes, change, direction=None)
    for targets in (None, 5, pd.DataFrame({"gene": genes})):  # a table would give its column names
        with pytest.raises(TwinCellError, match="targets must be gene symbols"):
            explain_many(model, targets, change)


def test_targets_are_mapped_like_the_change_and_a_scoreless_target_prints_so(real_explanation):
    """On the bundled network: a target given by Ensembl ID or in lower case is explained as its HGNC symbol, as the
    desired change's genes are mapped; a target with no walk to the change says so instead of "nan%"."""
    op, change, _ = real_explanation
    by_symbol = explain(op, "STAT1", change, k=3)
    for other in ("ENSG00000115415", "stat1"):
        mapped = explain(op, other, change, k=3)
        assert mapped.target == "STAT1" and mapped.score == pytest.approx(by_symbol.score)
        pd.testing.assert_frame_equal(mapped.paths, by_symbol.paths)
    one_gene = pd.Series({"STAT1": 1.0})
    ranking = rank_targets(op, one_gene)
    silent = explain(op, ranking.loc[ranking["score"] == 0, "gene"].iloc[0], one_gene, k=3)
    assert silent.paths.empty and str(silent).endswith("no walks carry a score") and "nan" not in str(silent)


def test_reach_bounds_and_entries_equal_dense_reference():
    """The per-column (reduceat) reach bounds and the CSR entry reads equal a dense computation, on a synthetic
    sparse matrix with an empty column, negative values and a duplicate entry."""
    import scipy.sparse as sp

    from twincell.identify.explain import _entry, reach_bounds

    rng = np.random.default_rng(5)
    dense = rng.normal(size=(30, 30)) * (rng.random((30, 30)) < 0.15)
    dense[:, 7] = 0.0
    rows, cols = np.nonzero(dense)  # row-major order, as CSR stores them
    rows, cols, data = np.append(rows, 2), np.append(cols, 3), np.append(dense[rows, cols], 0.25)
    order = np.argsort(rows, kind="stable")  # the appended entry repeats (2, 3) or adds it, unsorted
    A = sp.csr_matrix((data[order], cols[order], np.append(0, np.cumsum(np.bincount(rows, minlength=30)))),
                      shape=dense.shape)
    assert not A.has_canonical_format
    dense = A.toarray()  # sums duplicates
    terminal = np.abs(rng.normal(size=(30, 30)) * (rng.random((30, 30)) < 0.2))
    K = 3
    expected = np.zeros((K + 1, 30))
    expected[0] = terminal.max(axis=0)
    for r in range(1, K + 1):
        expected[r] = np.maximum(expected[0], (np.abs(dense) * expected[r - 1][:, None]).max(axis=0))
    np.testing.assert_array_equal(reach_bounds(A, sp.csr_matrix(terminal), K), expected)
    assert not A.has_canonical_format  # the caller's matrix is left as it was
    canonical = A.copy()
    canonical.sum_duplicates()
    assert [_entry(canonical, i, j) for i in range(30) for j in range(30)] == dense.ravel().tolist()
