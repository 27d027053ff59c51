"""The Connectivity Map's cut of a signature, its top increases and decreases (``top_changes``), and TwinBench's
``twincell_top`` design of issue 12's nineteenth round, on synthetic signatures and a synthetic network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twincell.errors import TwinCellError
from twincell.identify.null import top_changes


def test_top_changes_keeps_the_largest_increases_and_decreases_of_each_column():
    D = np.array([[3.0, 0.0], [-1.0, 2.0], [0.5, -4.0], [-2.5, 1.0], [2.0, -0.1], [0.0, 0.3]])
    present = np.ones_like(D, bool)
    present[5, 0] = False                      # a gene without a value in the first signature
    cut = top_changes(D, present, 2)
    np.testing.assert_array_equal(cut[:, 0], [3.0, -1.0, 0.0, -2.5, 2.0, 0.0])   # up: 3, 2; down: -2.5, -1
    np.testing.assert_array_equal(cut[:, 1], [0.0, 0.0, -4.0, 0.0, -0.1, 0.0] + np.array([0, 2, 0, 1, 0, 0]))
    # one column alone gives the same; a cut wider than the signature keeps every change
    np.testing.assert_array_equal(top_changes(D[:, 0], present[:, 0], 2), cut[:, 0])
    np.testing.assert_array_equal(top_changes(D, present, 10), np.where(present, D, 0.0))


def test_top_changes_equals_a_per_column_sort_on_random_signatures():
    rng = np.random.default_rng(0)
    D = rng.normal(size=(200, 4)) * (rng.random((200, 4)) < 0.7)
    present = D != 0
    cut = top_changes(D, present, 30)
    for j in range(D.shape[1]):
        up, down = np.flatnonzero(D[:, j] > 0), np.flatnonzero(D[:, j] < 0)
        kept = {*up[np.argsort(-D[up, j])[:30]], *down[np.argsort(D[down, j])[:30]]}
        assert set(np.flatnonzero(cut[:, j])) == kept
        np.testing.assert_array_equal(cut[sorted(kept), j], D[sorted(kept), j])


def test_top_changes_ignores_genes_outside_the_mask_and_checks_its_size():
    D = np.array([5.0, 1.0, -1.0])
    np.testing.assert_array_equal(top_changes(D, np.array([False, True, True]), 1), [0.0, 1.0, -1.0])
    with pytest.raises(TwinCellError, match="n_each"):
        top_changes(D, np.ones(3, bool), 0)


def test_twincell_top_bench_scores_are_the_adjoint_of_the_cut_signature():
    """TwinBench's ``twincell_top`` scores a signature as the plain adjoint of its reversal's top 150 increases and
    decreases (here 400-gene synthetic signatures on a 400-node synthetic network, so the cut bites)."""
    from twincell.bench import Resources, make_methods
    from twincell.bench.learned import desired_changes
    from twincell.bench.methods import default_method_names
    from twincell.data.drugs import DrugTargets
    from twincell.model import TwinCell
    from twincell.model.synthetic import synthetic_interactome

    net = synthetic_interactome(n_nodes=400, n_edges=1600, signed_share=0.6, seed=3)
    no_drugs = DrugTargets(pd.DataFrame(columns=["drug_id", "drug", "gene", "sign", "action_type"]),
                           pd.DataFrame(columns=["drug_id", "indication"]))
    model = TwinCell.prior(net)
    (method,) = make_methods(["twincell_top"], Resources(net, no_drugs, seed=0, model=model))
    rng = np.random.default_rng(5)
    signatures = [pd.Series(rng.normal(0.0, 1.0, size), index=net.genes[rng.choice(400, size, replace=False)])
                  for size in (380, 120)]
    op = model.operator(None)
    D, P = desired_changes(signatures, pd.Index(op.genes.astype(str)))
    cut = top_changes(D, P, 150)
    assert (cut[:, 0] != 0).sum() == 300 and (cut[:, 1] != 0).sum() == 120   # the small signature is kept whole
    np.testing.assert_allclose(method.signed_scores(signatures).to_numpy(), op.adjoint(cut), rtol=1e-10, atol=1e-12)
    assert not method.predicts_response and "twincell_top" not in default_method_names()
