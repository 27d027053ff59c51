"""PROGENy pathway footprints (bundled) and the pathway projection of a desired change (``twincell_progeny``, issue 12's
eighteenth round). Projections run on synthetic matrices; the loader reads the real bundled PROGENy file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from twincell.data.bundled import read_table
from twincell.data.pathways import PROGENY_PATHWAYS, load_progeny
from twincell.identify.inverse import pathway_basis
from twincell.identify.null import project_changes, remove_common
from twincell.model import PropagationOperator


def test_load_progeny_keeps_the_bundled_weights_of_every_gene_whose_symbol_is_current():
    weights = load_progeny()
    raw = read_table("progeny", index_col=0)
    assert tuple(weights.columns) == PROGENY_PATHWAYS
    assert weights.index.is_unique and weights.index.is_monotonic_increasing
    assert len(weights) > 0.9 * len(raw)  # a few LOC / retired names do not map
    same = weights.index.intersection(raw.index)
    assert len(same) > 0.9 * len(weights)
    np.testing.assert_allclose(weights.loc[same].to_numpy(), raw.loc[same, list(PROGENY_PATHWAYS)].to_numpy())
    footprint_sizes = (weights != 0).sum()
    assert footprint_sizes.between(50, 100).all()  # the top-100 model, less the unmapped names
    assert (weights < 0).any().any() and (weights > 0).any().any()


def _synthetic_basis(seed: int = 0, n_genes: int = 40, k: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n_genes, k))


def test_project_changes_is_the_least_squares_fit_on_each_changes_own_genes():
    U = _synthetic_basis()
    rng = np.random.default_rng(1)
    D = rng.normal(size=(40, 3))
    present = rng.random((40, 3)) < 0.5
    D[~present] = 0.0
    P = project_changes(D, present, U)
    for j in range(3):
        rows = present[:, j]
        assert np.all(P[~rows, j] == 0)
        np.testing.assert_allclose(U[rows].T @ (D[rows, j] - P[rows, j]), 0.0, atol=1e-10)  # residual orthogonal
        np.testing.assert_allclose(project_changes(P[:, j], rows, U), P[:, j], atol=1e-10)  # idempotent
    np.testing.assert_allclose(remove_common(D, present, U), np.where(present, D, 0.0) - P, atol=1e-12)


def test_project_changes_keeps_a_change_with_no_more_genes_than_directions_and_drops_all_for_no_direction():
    U = _synthetic_basis(k=5)
    present = np.zeros(40, bool)
    present[[3, 7, 11]] = True
    d = np.where(present, np.arange(40.0), 0.0)
    np.testing.assert_allclose(project_changes(d, present, U), d, atol=1e-10)
    np.testing.assert_array_equal(project_changes(d, present, U[:, :0]), np.zeros(40))


def test_pathway_basis_places_progeny_on_the_operators_genes_once_per_operator():
    weights = load_progeny()
    real = list(weights.index[:6])
    genes = np.array([*real, "SYN000", "SYN001"])
    n = len(genes)
    op = PropagationOperator(genes=genes, A=sp.csr_matrix((n, n)), R=sp.identity(n, format="csr"), n_hops=2,
                             context_free=True)
    basis = pathway_basis(op)
    assert basis.shape == (n, len(PROGENY_PATHWAYS))
    np.testing.assert_allclose(basis[:6], weights.loc[real].to_numpy())
    assert np.all(basis[6:] == 0)
    assert pathway_basis(op) is basis


def test_twincell_progeny_bench_scores_are_the_adjoint_of_the_pathway_projection(monkeypatch):
    """TwinBench's ``twincell_progeny`` scores synthetic signatures as the plain adjoint of their reversals'
    projections onto the pathway footprints (here synthetic footprints on a synthetic network's SYN genes)."""
    import twincell.identify.inverse as inverse
    from twincell.bench import Resources, make_methods
    from twincell.bench.learned import desired_changes
    from twincell.bench.methods import default_method_names
    from twincell.data.drugs import DrugTargets
    from twincell.model import TwinCell
    from twincell.model.synthetic import synthetic_interactome

    net = synthetic_interactome(n_nodes=40, n_edges=140, signed_share=0.6, seed=2)
    rng = np.random.default_rng(4)
    footprints = pd.DataFrame(rng.normal(size=(25, 3)) * (rng.random((25, 3)) < 0.6),
                              index=net.genes[rng.choice(40, 25, replace=False)], columns=["P1", "P2", "P3"])
    monkeypatch.setattr(inverse, "load_progeny", lambda: footprints)
    no_drugs = DrugTargets(pd.DataFrame(columns=["drug_id", "drug", "gene", "sign", "action_type"]),
                           pd.DataFrame(columns=["drug_id", "indication"]))
    model = TwinCell.prior(net)
    (method,) = make_methods(["twincell_progeny"], Resources(net, no_drugs, seed=0, model=model))
    signatures = [pd.Series(rng.normal(0.0, 1.0, size), index=net.genes[rng.choice(40, size, replace=False)])
                  for size in (20, 30)]
    op = model.operator(None)
    D, P = desired_changes(signatures, pd.Index(op.genes.astype(str)))
    projected = project_changes(D, P, footprints.reindex(op.genes.astype(str), fill_value=0.0).to_numpy())
    assert not np.allclose(projected, D) and np.abs(projected).sum() > 0
    np.testing.assert_allclose(method.signed_scores(signatures).to_numpy(), op.adjoint(projected), rtol=1e-10,
                               atol=1e-12)
    assert not method.predicts_response and "twincell_progeny" not in default_method_names()
