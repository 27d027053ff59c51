"""The actionable list: fragility flags (all nodes at once, or only the rows returned), drugs and the direction
check, sex-gene filter, several signatures combined, and the log base of AnnData input."""

from __future__ import annotations

import os

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from twincell.data.bundled import path, read_table
from twincell.data.genes import GeneMapper
from twincell.data.signatures import SEX_GENES, read_signature, signature_from_anndata
from twincell.errors import SignatureError, TwinCellError, UnknownGeneError
from twincell.identify import explain, identify_targets
from twincell.identify.actionable import (TARGET_COLUMNS, actionable_targets, best_walk_values, brief_targets,
                                          combine_rankings, direction_agreement, drug_annotation, drug_target_list,
                                          fragility, signature_genes_reached)
from twincell.model import PropagationOperator, TwinCell


def _synthetic_operator(n: int = 30, seed: int = 0, n_hops: int = 3, density: float = 0.08) -> PropagationOperator:
    """A random signed toy operator on synthetic genes SYN0..: sparse A, R (R0 = R without its diagonal)."""
    rng = np.random.default_rng(seed)
    A = sp.random(n, n, density=density, random_state=rng, data_rvs=lambda k: rng.normal(0, 0.6, k)).tocsr()
    A.setdiag(0)
    A.eliminate_zeros()
    R0 = sp.random(n, n, density=0.05, random_state=rng, data_rvs=lambda k: rng.normal(0, 1, k)).tocsr()
    R0.setdiag(0)
    R0.eliminate_zeros()
    R = (R0 + sp.diags(rng.normal(0, 1, n))).tocsr()
    genes = np.array([f"SYN{i}" for i in range(n)])
    return PropagationOperator(genes=genes, A=A, R=R, R0=R0, n_hops=n_hops, context_free=True)


def _synthetic_change(op: PropagationOperator, n_genes: int, seed: int = 1) -> pd.Series:
    rng = np.random.default_rng(seed)
    genes = rng.choice(op.genes, n_genes, replace=False)
    return pd.Series(rng.normal(0, 1, n_genes), index=genes)


@pytest.mark.parametrize("n_hops", [0, 1, 3])
def test_best_walk_dynamic_programme_equals_explains_top_walk(n_hops):
    op = _synthetic_operator(n_hops=n_hops)
    change = _synthetic_change(op, 12)
    d = change.reindex(op.genes).fillna(0.0).to_numpy()
    best = best_walk_values(op.A, op.R, op.readout0, d, op.n_hops)
    for i, gene in enumerate(op.genes):
        top = explain(op, str(gene), change, k=1).paths
        expected = abs(top["contribution"].iloc[0]) if len(top) else 0.0
        assert best[i] == pytest.approx(expected, rel=1e-9, abs=1e-12), gene


def _reached_by_matrix_powers(op: PropagationOperator, signature: np.ndarray) -> np.ndarray:
    """Reference: signature genes reached from every node, from boolean powers of dense matrices."""
    A = (op.A.toarray() != 0).astype(int)
    R = (op.R.toarray() != 0).astype(int)[signature]
    reach = (op.readout0.toarray() != 0).astype(int)[signature]  # genes x start nodes: hop 0 through R0 ...
    power = np.eye(len(op.genes), dtype=int)
    for _ in range(op.n_hops):  # ... then walks of 1..K hops through R
        power = (A @ power > 0).astype(int)  # power[v, i] = some walk of exactly h hops from i ends at v
        reach |= (R @ power > 0).astype(int)
    return reach.sum(axis=0)


@pytest.mark.parametrize("n_hops", [0, 1, 3])
def test_signature_genes_reached_equals_boolean_matrix_powers(n_hops):
    op = _synthetic_operator(n=40, seed=4, n_hops=n_hops)
    signature = np.array([1, 5, 7, 11, 20, 33])
    got = signature_genes_reached(op.A, op.R, op.readout0, signature, op.n_hops)
    assert got.tolist() == _reached_by_matrix_powers(op, signature).tolist()
    assert 0 < got.max() <= len(signature)


@pytest.mark.parametrize("n_hops", [0, 1, 3])
def test_reach_from_a_few_nodes_forwards_equals_the_all_node_pass(n_hops):
    """Synthetic operator with 150 signature genes (3 words): 70 start nodes (2 words) take the forward pass."""
    op = _synthetic_operator(n=200, seed=7, n_hops=n_hops, density=0.006)
    rng = np.random.default_rng(3)
    signature = np.sort(rng.choice(200, 150, replace=False))
    reference = _reached_by_matrix_powers(op, signature)
    for nodes in (rng.choice(200, 70, replace=False), np.array([5]), np.array([9, 9, 0])):
        got = signature_genes_reached(op.A, op.R, op.readout0, signature, op.n_hops, nodes=nodes)
        assert got.tolist() == reference[nodes].tolist()
    assert len(set(reference.tolist())) > 3  # the toy is not trivially saturated


def test_explicit_zeros_are_not_edges():
    """Entries stored with value 0 (explicit zeros) carry no walk in either pass."""
    op = _synthetic_operator(n=60, seed=2)
    A, R = op.A.copy(), op.R.copy()
    A.data[::3] = 0.0
    R.data[::4] = 0.0
    zeros = PropagationOperator(genes=op.genes, A=A, R=R, R0=op.readout0, n_hops=op.n_hops, context_free=True)
    pruned = PropagationOperator(genes=op.genes, A=_pruned(A), R=_pruned(R), R0=op.readout0, n_hops=op.n_hops,
                                 context_free=True)
    signature = np.arange(0, 60, 2)
    reference = _reached_by_matrix_powers(pruned, signature)
    assert signature_genes_reached(A, R, op.readout0, signature, op.n_hops).tolist() == reference.tolist()
    nodes = np.arange(0, 60, 7)
    assert signature_genes_reached(A, R, op.readout0, signature, op.n_hops, nodes=nodes).tolist() == \
        reference[nodes].tolist()
    assert A.nnz > _pruned(A).nnz and zeros.A is A  # the explicit zeros are still stored


def _pruned(M: sp.csr_matrix) -> sp.csr_matrix:
    M = M.copy()
    M.eliminate_zeros()
    return M


@pytest.mark.parametrize("n_hops", [0, 1, 3])
def test_best_walk_from_a_few_nodes_equals_the_all_node_pass(n_hops):
    op = _synthetic_operator(n=80, seed=5, n_hops=n_hops)
    d = _synthetic_change(op, 20).reindex(op.genes).fillna(0.0).to_numpy()
    every = best_walk_values(op.A, op.R, op.readout0, d, op.n_hops)
    nodes = np.array([3, 17, 3, 79, 0])
    assert best_walk_values(op.A, op.R, op.readout0, d, op.n_hops, nodes=nodes).tolist() == every[nodes].tolist()
    assert (every > 0).sum() > 10


def test_fragility_share_and_flags_on_a_synthetic_operator():
    op = _synthetic_operator(n=40, seed=4)
    change = _synthetic_change(op, 10)
    d = change.reindex(op.genes).fillna(0.0).to_numpy()
    flags = fragility(op, d, op.adjoint(d))
    scores = np.abs(op.adjoint(d))
    nonzero = scores > 0
    assert np.allclose(flags["top_walk_share"].to_numpy()[nonzero],
                       best_walk_values(op.A, op.R, op.readout0, d, op.n_hops)[nonzero] / scores[nonzero])
    assert flags["top_walk_share"].isna().tolist() == (~nonzero).tolist()
    expected = (flags["top_walk_share"] > 0.5) | (flags["n_signature_genes_reached"] < 3)
    assert flags["fragile"].tolist() == expected.tolist()
    nodes = np.array([39, 2, 11])
    pd.testing.assert_frame_equal(fragility(op, d, op.adjoint(d), nodes=nodes), flags.iloc[nodes])
    for bad, message in (((d[:5], op.adjoint(d)), "d must have shape \\(40,\\)"),      # was: clamped (numpy) or
                         ((d, op.adjoint(d)[:-1]), "signed_scores must have shape")):   # read out of bounds (numba)
        with pytest.raises(TwinCellError, match=message):
            fragility(op, *bad)
    with pytest.raises(TwinCellError, match="node indices must be whole numbers"):
        fragility(op, d, op.adjoint(d), nodes=[1.5])
    for outside in ([40], [-1]):
        with pytest.raises(TwinCellError, match=r"node indices must lie in 0..39"):
            fragility(op, d, op.adjoint(d), nodes=outside)


def test_brief_targets_keeps_max_drugs_and_counts_the_rest():
    targets = pd.DataFrame({"gene": ["SYN_A"], "rank": [1], "overall_rank": [3], "direction": ["inhibit"],
                            "drugs": ["a;b;c"], "drug_actions": ["inhibitor;inhibitor;agonist"],
                            "direction_agrees": [True], "top_walk_share": [0.2]})
    assert brief_targets(targets, max_drugs=2)["drugs"].tolist() == ["a (inhibitor), b (inhibitor) +1"]
    assert brief_targets(targets, max_drugs=0)["drugs"].tolist() == ["+3"]
    assert brief_targets(targets, max_drugs=3)["drugs"].tolist() == ["a (inhibitor), b (inhibitor), c (agonist)"]
    with pytest.raises(TwinCellError, match="max_drugs must be at least 0"):
        brief_targets(targets, max_drugs=-1)


def test_drug_target_list_refuses_a_ranking_of_another_network():
    """A ranking row whose gene the operator lacks is named, not read as the last node (kernels on or off)."""
    op = _synthetic_operator(n=40, seed=4)
    change = _synthetic_change(op, 10)
    ranking = pd.DataFrame({"gene": ["EGFR", *op.genes], "score": 1.0, "direction": "inhibit", "rank": 1,
                            "z_score": 0.0})
    with pytest.raises(UnknownGeneError, match=r"1 gene\(s\) of the ranking are not nodes of the model's network: EGFR"):
        drug_target_list(op, change, ranking)
    with pytest.raises(TwinCellError, match="rank_targets table"):
        drug_target_list(op, change, {"gene": list(op.genes)})


def test_drug_target_list_refuses_a_ranking_of_another_context_or_change():
    """Its scores come from the ranking and its flags from the context and change given now: a ranking whose attrs
    name another context, or another number of its change's genes, would mix two runs in one table."""
    from twincell.errors import ContextError
    from twincell.identify import rank_targets

    op = _synthetic_operator(n=40, seed=4)
    change = _synthetic_change(op, 10)
    ranking = rank_targets(op, change)
    assert list(drug_target_list(op, change, ranking).columns) == list(TARGET_COLUMNS)
    with pytest.raises(SignatureError, match="made from 10 genes of its desired change in the network, the desired "
                                             "change given here has 5"):
        drug_target_list(op, change.iloc[:5], ranking)
    elsewhere = ranking.copy()
    elsewhere.attrs = {**ranking.attrs, "context": "A549"}
    with pytest.raises(ContextError, match="made in context 'A549', the drug targets are asked in 'context-free'"):
        drug_target_list(op, change, elsewhere)
    bare = pd.DataFrame(ranking)
    bare.attrs = {}
    assert list(drug_target_list(op, change, bare).columns) == list(TARGET_COLUMNS)  # no attrs: nothing to compare
    # found by review: the same genes with other values passed (only the gene count was compared), and the flags of
    # 10x the change were read against the ranking's scores (NR3C1's top_walk_share 0.42 -> 4.22)
    with pytest.raises(SignatureError, match="made from another desired change \\(other values on the same genes\\)"):
        drug_target_list(op, 10 * change, ranking)
    for missing in ("z_score", "rank"):                                     # was: a bare KeyError
        with pytest.raises(TwinCellError, match=f"the ranking lacks the column\\(s\\) {missing}"):
            drug_target_list(op, change, ranking.drop(columns=[missing]))
        with pytest.raises(TwinCellError, match=f"lacks the column\\(s\\) {missing}"):
            actionable_targets(ranking.drop(columns=[missing]), pd.DataFrame())


def test_a_change_no_protein_reaches_is_refused_and_non_finite_flags_inputs_too():
    """Found by review: a change on genes no walk reaches gave an all-zero ranking in name order (the nulls refused
    it); fragility counted a NaN of ``d`` as a gene reached and flagged nothing."""
    from twincell.identify import rank_targets

    n = 4
    readout = sp.csr_matrix(([1.0], ([1], [0])), shape=(n, n))      # only SYN0 -> SYN1's transcript
    op = PropagationOperator(genes=np.array([f"SYN{i}" for i in range(n)]), A=sp.csr_matrix((n, n)), R=readout,
                             R0=readout, n_hops=2, context_free=True)
    with pytest.raises(SignatureError, match="no protein's walks of at most 2 hops reach the 2 network gene\\(s\\) "
                                             "of the desired change \\(SYN2, SYN3\\)"):
        rank_targets(op, pd.Series({"SYN2": 1.0, "SYN3": -1.0}))
    assert rank_targets(op, pd.Series({"SYN1": 1.0}))["gene"].iloc[0] == "SYN0"
    d = np.array([0.0, 1.0, np.nan, 0.0])
    with pytest.raises(TwinCellError, match="d holds NaN or infinite values"):
        fragility(op, d, np.zeros(n))


@pytest.mark.parametrize(("direction", "score", "expected"), [("inhibit", 2.0, "inhibit"), ("inhibit", -2.0, "activate"),
                                                              ("activate", -0.1, "inhibit"), ("inhibit", 0.0, "none"),
                                                              ("none", 0.0, "none")])
def test_a_negative_score_of_a_one_sided_ranking_helps_the_other_way(direction, score, expected):
    """Found by review: with direction="inhibit" every row says inhibit, and rows whose negative score says inhibiting
    moves the cells away still 'agreed' with an inhibitor (242 of 293 such rows)."""
    from twincell.identify.actionable import helpful_direction

    assert helpful_direction(direction, score) == expected
    ranking = pd.DataFrame({"gene": ["JAK1"], "rank": [1], "score": [score], "direction": [direction],
                            "z_score": [0.0]})
    flags = pd.DataFrame({"top_walk_share": [0.1], "n_signature_genes_reached": [5], "fragile": [False]},
                         index=pd.Index(["JAK1"], name="gene"))
    signs = drug_annotation().loc["JAK1", "signs"]                            # JAK1's drugs inhibit it
    assert actionable_targets(ranking, flags)["direction_agrees"].iloc[0] == direction_agreement(expected, signs)


@pytest.mark.slow
def test_drug_target_list_of_the_top_rows_equals_the_all_node_reference_on_the_default_model():
    """Default model, SLE signature: the flags of the returned rows (forward pass from them) equal those of the
    all-node pass (backward gene bit sets), and ``top`` only cuts the list."""
    from twincell.data.signatures import load_disease_signature
    from twincell.identify import rank_targets
    from twincell.identify.actionable import drug_target_list
    from twincell.identify.inverse import align_change
    from twincell.model import open_default_model

    op = open_default_model().operator(None)
    change = load_disease_signature("SLE").desired_change()
    ranking = rank_targets(op, change)
    d, _, _ = align_change(change, op.genes)
    reference = actionable_targets(ranking, fragility(op, d, op.adjoint(d)))
    for top in (1, 50, 200):
        got = drug_target_list(op, change, ranking, top=top)
        pd.testing.assert_frame_equal(got, reference.head(top))
        assert got.attrs["fragile"] == [g for g in reference["gene"].head(top) if g in reference.attrs["fragile"]]
    everything = drug_target_list(op, change, ranking)
    pd.testing.assert_frame_equal(everything, reference)
    assert len(everything) > 200 and reference["n_signature_genes_reached"].between(0, (d != 0).sum()).all()


@pytest.mark.parametrize(("direction", "signs", "expected"), [
    ("inhibit", [-1], "agrees"), ("activate", [1], "agrees"), ("inhibit", [1], "conflict"),
    ("activate", [-1, -1], "conflict"), ("inhibit", [1, -1], "agrees"), ("activate", [0, 0], "unknown"),
    ("inhibit", [], "unknown"), ("inhibit", [0, 1], "conflict"), ("none", [1], "unknown"),
])
def test_direction_agreement_hand_made_cases(direction, signs, expected):
    assert direction_agreement(direction, signs) == expected


def test_drug_names_and_actions_match_drugcentral_rows():
    raw = read_table("drugcentral_targets", sep="\t", dtype=str, keep_default_na=False)
    annotation = drug_annotation()
    for gene in ("JAK1", "JAK2", "BTK", "NR3C1", "PPARG"):
        rows = raw[raw["GENE"].str.split("|").map(lambda genes, g=gene: g in genes)]
        expected = {(d.lower(), a.lower()) for d, a in zip(rows["DRUG_NAME"], rows["ACTION_TYPE"]) if a}
        drugs = annotation.loc[gene, "drugs"].split(";")
        actions = annotation.loc[gene, "drug_actions"].split(";")
        assert len(drugs) == len(actions)
        listed = {(d.lower(), a) for d, a in zip(drugs, actions) if a != "unknown"}
        assert listed == expected, gene
    assert "ruxolitinib" in annotation.loc["JAK1", "drugs"].split(";")
    # approved-target table (DrugBank's cyclosporine), listed under DrugCentral's name of the same drug
    assert "ciclosporin" in annotation.loc["CAMLG", "drugs"].split(";")


def test_actionable_targets_keeps_drug_targets_in_rank_order():
    ranking = pd.DataFrame({"gene": ["STAT1", "JAK1", "CAMLG", "RARA"], "score": [4.0, 3.0, 2.0, 1.0],
                            "direction": ["inhibit", "inhibit", "inhibit", "inhibit"], "rank": [1, 2, 3, 4],
                            "z_score": [3.0, 2.0, 1.5, 1.0], "druggable": [False, True, True, True]})
    flags = pd.DataFrame({"top_walk_share": [0.1, 0.2, 0.9, 0.3], "n_signature_genes_reached": [50, 40, 30, 2],
                          "fragile": [False, False, True, True]}, index=pd.Index(ranking["gene"], name="gene"))
    targets = actionable_targets(ranking, flags)
    assert tuple(targets.columns) == TARGET_COLUMNS
    assert targets["gene"].tolist() == ["JAK1", "CAMLG", "RARA"]
    assert targets["rank"].tolist() == [1, 2, 3] and targets["overall_rank"].tolist() == [2, 3, 4]
    assert targets.set_index("gene")["direction_agrees"].to_dict() == {
        "JAK1": "agrees", "CAMLG": "unknown", "RARA": "conflict"}  # JAK inhibitors; no action; RAR agonists
    assert targets.attrs["fragile"] == ["CAMLG", "RARA"]


def test_combine_rankings_on_a_synthetic_toy():
    genes = np.array(["SYN_A", "SYN_B", "SYN_C", "SYN_D"])

    def ranking(z, directions):
        return pd.DataFrame({"gene": genes, "z_score": z, "direction": directions, "druggable": False})

    first = ranking([3.0, 1.0, 2.0, -1.0], ["inhibit", "activate", "activate", "inhibit"])
    second = ranking([1.0, 2.0, -0.5, 0.5], ["inhibit", "inhibit", "activate", "activate"])
    combined = combine_rankings([first, second], degree=np.ones(4), genes=genes, n_degree_bins=1).set_index("gene")
    # signed non-negative supports: A (-3, -1), B (+1, -2), C (+2, 0), D (0, +0.5)
    assert combined.loc["SYN_A", "score"] == pytest.approx(2.0)
    assert combined.loc["SYN_A", "direction"] == "inhibit" and combined.loc["SYN_A", "n_signatures_agree"] == 2
    assert combined.loc["SYN_B", "score"] == pytest.approx(0.5) and combined.loc["SYN_B", "direction"] == "inhibit"
    assert combined.loc["SYN_B", "n_signatures_agree"] == 1
    assert combined.loc["SYN_C", "score"] == pytest.approx(1.0) and combined.loc["SYN_C", "n_signatures_agree"] == 1
    assert combined.loc["SYN_D", "direction"] == "activate" and combined.loc["SYN_D", "score"] == pytest.approx(0.25)
    assert combined.index.tolist() == ["SYN_A", "SYN_C", "SYN_B", "SYN_D"]
    assert combined["rank"].tolist() == [1, 2, 3, 4]
    with pytest.raises(TwinCellError, match="no ranking to combine"):
        combine_rankings([], degree=np.ones(4), genes=genes)
    other = first.assign(gene=[g.lower() for g in genes])  # another gene set: refused, not counted as no support
    with pytest.raises(TwinCellError, match="ranking 2 does not rank exactly the operator's 4 genes"):
        combine_rankings([first, other], degree=np.ones(4), genes=genes)
    one_sided = first.copy()
    one_sided.attrs["direction"] = "inhibit"
    for rankings, degree, message in (([first, 3], np.ones(4), "ranking 2 is a int, not a table"),
                                      ([first, first.drop(columns="z_score")], np.ones(4), "lacks column\\(s\\) z_score"),
                                      ([first, one_sided], np.ones(4), "ranked with direction 'inhibit'"),
                                      ([first, second], np.ones(3), "degree has 3 values for 4 genes")):
        with pytest.raises(TwinCellError, match=message):                # were bare pandas / numpy errors
            combine_rankings(rankings, degree=degree, genes=genes)


def test_equal_scores_in_a_degree_bin_have_no_spread():
    """Synthetic: equal non-zero scores leave a rounding remainder of their mean (was: z = +-1 for the whole bin)."""
    from twincell.identify.null import binned_zscores

    np.testing.assert_array_equal(binned_zscores(np.array([0.1, 0.1, 0.1, 5.0, 6.0]), np.array([0, 0, 0, 1, 1])),
                                  [0.0, 0.0, 0.0, -1.0, 1.0])
    np.testing.assert_array_equal(binned_zscores(np.full(3, 0.7), np.zeros(3, int)), np.zeros(3))


def test_sex_genes_are_real_hgnc_symbols():
    mapping = GeneMapper.default().map(sorted(SEX_GENES), kind="symbol")
    assert not mapping.unmapped
    assert all(mapping.symbols[g] == g for g in SEX_GENES)


@pytest.fixture(scope="module")
def prior_operator(interactome):
    return TwinCell.prior(interactome).operator(None)


def test_sex_genes_are_left_out_of_a_signature_with_kdm5d(prior_operator, tmp_path):
    table = pd.DataFrame({"gene": ["KDM5D", "XIST", "RPS4Y1", "STAT1", "IFI27", "IFIT1"],
                          "logFC": [-2.8, 2.9, -3.7, 1.5, 3.0, 2.0]})
    sig = read_signature(table, name="synthetic_sle_like")
    result = identify_targets(prior_operator, sig, n_explain=0)
    assert result.signatures[0]["sex_genes_removed"] == ["KDM5D", "RPS4Y1", "XIST"]
    assert result.signatures[0]["n_genes"] == 3
    assert result.provenance["genes_left_out"]["synthetic_sle_like"]["sex_genes"] == ["KDM5D", "RPS4Y1", "XIST"]
    kept = identify_targets(prior_operator, sig, n_explain=0, keep_sex_genes=True)
    assert kept.signatures[0]["n_genes"] == 6 and kept.signatures[0]["sex_genes_removed"] == []
    with pytest.raises(SignatureError, match="only sex-chromosome genes"):
        read_signature(table.head(3)).without_sex_genes()


def test_identify_several_signatures_reports_agreement(prior_operator, tmp_path):
    sle = read_signature(pd.DataFrame({"gene": ["IFI27", "IFIT1", "RSAD2", "FOS"], "logFC": [3.0, 2.0, 2.5, -1.0]}),
                         name="synthetic_one")
    other = read_signature(pd.DataFrame({"gene": ["IFI27", "MX1", "ISG15", "JUN"], "logFC": [2.0, 1.5, 2.0, -0.5]}),
                           name="synthetic_two")
    result = identify_targets(prior_operator, [sle, other], n_explain=1, k=2)
    assert "n_signatures_agree" in result.ranking and "n_signatures_agree" in result.targets
    assert result.targets["n_signatures_agree"].between(0, 2).all()
    assert (result.ranking["n_signatures_agree"] == 2).any()
    assert [s["name"] for s in result.provenance["signatures"]] == ["synthetic_one", "synthetic_two"]
    with pytest.raises(SignatureError, match="direction 'both'"):
        identify_targets(prior_operator, [sle, other], direction="inhibit")


@pytest.fixture(scope="module")
def kang():
    """Kang et al. 2018 PBMC: real IFN-beta stimulated and control cells, raw UMI counts."""
    return ad.read_h5ad(path("kang2018"))


def test_log_base_is_detected_given_or_asked_for(kang):
    counts = signature_from_anndata(kang, "condition", "stim", "ctrl", gene_col="ensembl_id")
    reset = kang.copy()
    reset.var_names = [str(i) for i in range(reset.n_vars)]  # a reset index: row numbers, not Entrez IDs
    with pytest.raises(SignatureError, match="row numbers"):
        signature_from_anndata(reset, "condition", "stim", "ctrl")
    assert counts.log_base.startswith("e (log1p of counts")
    X = kang.X.toarray()
    log2 = ad.AnnData(np.log2(X / X.sum(axis=1, keepdims=True) * 1e4 + 1), obs=kang.obs, var=kang.var)
    with pytest.raises(SignatureError, match="log base is unknown"):
        signature_from_anndata(log2, "condition", "stim", "ctrl", gene_col="ensembl_id")
    given = signature_from_anndata(log2, "condition", "stim", "ctrl", gene_col="ensembl_id", log_base="2")
    assert given.log_base == "2 (given)"
    assert given.logfc["IFIT1"] == pytest.approx(counts.logfc["IFIT1"], rel=1e-3)
    wrong = signature_from_anndata(log2, "condition", "stim", "ctrl", gene_col="ensembl_id", log_base="e")
    moderate = given.logfc[given.logfc.abs().between(0.5, 3)].index
    ratio = (wrong.logfc[moderate] / given.logfc[moderate]).median()
    assert ratio > 1.05  # log2 data read as natural log inflate fold changes (up to 1.44x for large values)
    log2.uns["log1p"] = {"base": 2}
    recorded = signature_from_anndata(log2, "condition", "stim", "ctrl", gene_col="ensembl_id")
    assert recorded.log_base == "2 (from adata.uns['log1p'])"
    with pytest.raises(SignatureError, match="not understood"):
        signature_from_anndata(log2, "condition", "stim", "ctrl", gene_col="ensembl_id", log_base="ten")


def test_gaps_and_negative_expression_are_named_not_read_as_log_data(kang):
    """Counts with a few NaN (or scaled data) would pass for log-normalised data of unknown base; they are named, and
    a .raw holding the counts is pointed to."""
    X = kang.X.toarray()
    gaps = X.copy()
    gaps[:2, :5] = np.nan
    with pytest.raises(SignatureError, match="10 missing or infinite value"):
        signature_from_anndata(ad.AnnData(gaps, obs=kang.obs, var=kang.var), "condition", "stim", "ctrl",
                               gene_col="ensembl_id")
    scaled = ad.AnnData((X - X.mean(axis=0)) / (X.std(axis=0) + 1e-9), obs=kang.obs, var=kang.var)
    scaled.raw = kang
    with pytest.raises(SignatureError, match="negative value") as info:
        signature_from_anndata(scaled, "condition", "stim", "ctrl", gene_col="ensembl_id", method="deseq2")
    assert "adata.raw" in info.value.hint
    # voom-style log2 of normalised counts goes negative below 1 (here counts per 100 of these small cells; log-CPM of
    # bulk data): scanpy's fold change would undo the log as 2**x - 1 < 0, so it is refused even with its base
    log_cpm = ad.AnnData(np.log2((X + 0.5) / (X.sum(axis=1, keepdims=True) + 1) * 100), obs=kang.obs, var=kang.var)
    with pytest.raises(SignatureError, match="log values below 1") as info:
        signature_from_anndata(log_cpm, "condition", "stim", "ctrl", gene_col="ensembl_id", log_base="2")
    assert "limma / edgeR" in info.value.hint


def test_service_returns_the_drug_targets_of_its_ranking(service_model):
    from fastapi.testclient import TestClient

    from twincell.identify import rank_targets
    from twincell.identify.actionable import drug_target_list
    from twincell.service import create_app

    signature = {"STAT1": 1.5, "IRF1": 1.0, "JAK2": 0.4, "IL10": -0.5}
    body = TestClient(create_app(service_model), base_url="http://localhost").post(
        "/v1/targets", json={"signature": signature, "context": "synthetic_ctx_a", "top": 5}).json()
    desired = -pd.Series(signature)
    ranking = rank_targets(service_model, desired, context="synthetic_ctx_a")
    expected = drug_target_list(service_model, desired, ranking, context="synthetic_ctx_a").head(5)
    got = pd.DataFrame(body["drug_targets"])
    assert len(got) == 5
    assert got["gene"].tolist() == expected["gene"].tolist()
    assert got["drugs"].tolist() == expected["drugs"].tolist()
    assert got["fragile"].tolist() == expected["gene"].isin(expected.attrs["fragile"]).tolist()
    assert np.allclose(got["top_walk_share"].astype(float), expected["top_walk_share"], equal_nan=True)
    assert got["n_signature_genes_reached"].tolist() == expected["n_signature_genes_reached"].tolist()


def test_drug_target_list_top_must_be_positive(service_model):
    from twincell.identify import rank_targets
    from twincell.identify.actionable import drug_target_list

    desired = pd.Series({"STAT1": -1.0, "IRF1": -0.5})
    ranking = rank_targets(service_model, desired)
    with pytest.raises(TwinCellError, match="top must be at least 1"):
        drug_target_list(service_model, desired, ranking, top=0)


def test_page_shows_drug_targets_first_and_downloads_them(live_service):
    """The web page in headless Chromium: the drug-target table precedes all proteins, and its CSV downloads."""
    from test_service_browser import CHROMIUM, CHROMIUM_ARGS, PASTED

    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (run scripts/ensure_chromium.sh as root)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        tab = browser.new_page(accept_downloads=True)
        tab.goto(live_service + "/")
        tab.fill("#signature-text", PASTED)
        tab.fill("#top", "6")
        tab.click("#rank")
        tab.wait_for_selector("#drug-targets tbody tr", timeout=30_000)
        html = tab.content()
        assert html.index('id="drug-targets"') < html.index('id="targets"')
        genes = [r.get_attribute("data-gene") for r in tab.query_selector_all("#drug-targets tbody tr")]
        with tab.expect_download() as info:
            tab.click("#download-drug-targets")
        table = pd.read_csv(info.value.path(), keep_default_na=False)
        with tab.expect_download() as info:
            tab.click("#download-targets")
        ranking = pd.read_csv(info.value.path())
        browser.close()
    assert tuple(table.columns) == TARGET_COLUMNS and table["gene"].tolist() == genes and len(genes) == 6
    assert len(ranking) == 6 and list(ranking.columns) == ["gene", "score", "direction", "rank", "z_score", "druggable"]


@pytest.mark.slow
def test_combined_signatures_explain_each_target_with_a_signature_that_supports_it_on_the_default_model():
    """Default model, UC's three bundled signatures combined: every explained target is explained by the signature
    that supports its combined direction most, so its walks' score in that direction is never negative (the
    signature of largest |support| was used before, and could oppose it: NR1I2 'inhibit' explained at -98.6)."""
    from twincell.data.signatures import list_disease_signatures, load_disease_signature
    from twincell.identify import identify_targets
    from twincell.model import open_default_model

    names = list_disease_signatures().query("disease == 'UC'")["signature"]
    result = identify_targets(open_default_model().operator(None), [load_disease_signature("UC", s) for s in names],
                              n_explain=500, k=2)
    assert len(result.explanations) > 500 and all(e.score >= 0 for e in result.explanations)
