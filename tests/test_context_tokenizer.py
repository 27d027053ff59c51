"""Geneformer rank-value tokenizer: hand-computed examples (synthetic dictionaries) and the real Kang cells."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from twincell.context import GeneformerDictionaries, RankValueTokenizer
from twincell.context.bundled import kang_control_cells
from twincell.errors import ContextError, TwinCellError

# synthetic Ensembl-shaped IDs (ENSG9...): not real genes
GENES = [f"ENSG9{i:010d}" for i in range(1, 7)]
MEDIANS = dict(zip(GENES, [2.0, 1.0, 0.5, 1.0, 4.0, 1.0]))


def synthetic_dicts(version: str = "V1", cls_id: int = 2, eos_id: int = 3) -> GeneformerDictionaries:
    specials = {"<pad>": 0, "<mask>": 1}
    if version == "V2":  # deliberately unusual ids: the tokenizer must look them up by name
        specials |= {"<cls>": cls_id, "<eos>": eos_id}
    first = max(specials.values()) + 1
    tokens = specials | {g: first + i for i, g in enumerate(GENES)}
    return GeneformerDictionaries(version, tokens, dict(MEDIANS), {}, None, source="synthetic")


def cells(x: list[list[float]], genes: list[str] = GENES) -> ad.AnnData:
    return ad.AnnData(sp.csr_matrix(np.array(x, dtype=np.float32)), var=pd.DataFrame(index=genes),
                      obs=pd.DataFrame(index=[f"c{i}" for i in range(len(x))]))


def tok(d: GeneformerDictionaries, *genes: str) -> list[int]:
    return [d.tokens[g] for g in genes]


def test_order_is_by_count_over_median_not_by_count():
    d = synthetic_dicts()
    # counts 4,1,1,3,8,0 / medians 2,1,0.5,1,4,1 -> 2,1,2,3,2,- : g4 first, then the ties g1,g3,g5 in column order, then g2
    out = RankValueTokenizer(d).tokenize(cells([[4, 1, 1, 3, 8, 0]]))
    assert out[0].tolist() == tok(d, GENES[3], GENES[0], GENES[2], GENES[4], GENES[1])
    assert out.n_genes_used == 6


def test_v1_truncates_to_input_size_without_specials():
    d = synthetic_dicts()
    out = RankValueTokenizer(d, input_size=3).tokenize(cells([[1, 2, 3, 4, 5, 6], [0, 0, 5, 0, 0, 0]]))
    # values 0.5, 2, 6, 4, 1.25, 6 -> g3, g6 (tie, column order), g4
    assert out[0].tolist() == tok(d, GENES[2], GENES[5], GENES[3])
    assert out[1].tolist() == tok(d, GENES[2])
    assert out.lengths.tolist() == [3, 1]


def test_v2_adds_cls_and_eos_looked_up_by_name_and_keeps_input_size_minus_two():
    d = synthetic_dicts("V2", cls_id=3, eos_id=2)
    t = RankValueTokenizer(d, input_size=4)
    out = t.tokenize(cells([[1, 2, 3, 4, 5, 6]]))
    assert out[0].tolist() == [3, *tok(d, GENES[2], GENES[5]), 2]
    assert t.max_genes == 2
    ids, mask = out.padded(np.array([0]), t.pad_id)
    assert ids.shape == (1, 4) and mask.tolist() == [[1, 1, 1, 1]]


def test_duplicate_ids_are_summed_and_versions_dropped():
    d = synthetic_dicts()
    genes = [f"{GENES[0]}.1", f"{GENES[0]}.2", GENES[1]]
    # g1 = 1 + 2 = 3 -> 1.5 ; g2 = 1 -> 1 ; without summing g1 (1 or 2 / 2 <= 1) would not lead
    out = RankValueTokenizer(d).tokenize(cells([[1, 2, 1]], genes))
    assert out[0].tolist() == tok(d, GENES[0], GENES[1])


def test_collapse_dictionary_maps_ids():
    base = synthetic_dicts()
    collapse = {"ENSG90000000099": GENES[1], GENES[0]: GENES[0]}
    d = GeneformerDictionaries("V1", base.tokens, base.medians, {}, collapse, "synthetic")
    out = RankValueTokenizer(d).tokenize(cells([[1, 5]], [GENES[0], "ENSG90000000099"]))
    assert out[0].tolist() == tok(d, GENES[1], GENES[0])


def test_symbols_go_through_the_gene_mapper_and_unmapped_are_reported():
    d = GeneformerDictionaries.bundled_v1()
    a = cells([[5, 1, 3]], ["GAPDH", "ACTB", "NOT_A_GENE_XYZ"])
    out = RankValueTokenizer(d).tokenize(a)
    assert out.unmapped == ["NOT_A_GENE_XYZ"]
    assert len(out[0]) == 2 and set(out[0]) <= set(d.tokens.values())


@pytest.mark.parametrize("x, msg", [([[1, -1, 0, 0, 0, 0]], "negative"), ([[0, 0, 0, 0, 0, 0]], "non-positive"),
                                    ([[np.nan, 1, 0, 0, 0, 0]], "NaN")])
def test_bad_counts_raise(x, msg):
    with pytest.raises(ContextError, match=msg):
        RankValueTokenizer(synthetic_dicts()).tokenize(cells(x))


def test_infinite_totals_name_their_cell_and_input_size_zero_and_no_x_are_refused():
    """Found by review: an infinite obs['n_counts'] was refused naming no cell ([]); input_size=0 silently became the
    default 2,048; an AnnData without X (counts in layers) gave a bare TypeError."""
    a = cells([[1, 2, 0, 0, 0, 0], [3, 0, 1, 0, 0, 0]])
    a.obs["n_counts"] = [np.inf, 4.0]
    with pytest.raises(ContextError, match="infinite or missing total count: \\['c0'\\]"):
        RankValueTokenizer(synthetic_dicts()).tokenize(a)
    with pytest.raises(TwinCellError, match="input_size must be at least 1, got 0"):
        RankValueTokenizer(synthetic_dicts(), input_size=0)
    with pytest.raises(ContextError, match="AnnData has no X"):
        RankValueTokenizer(synthetic_dicts()).tokenize(ad.AnnData(obs=a.obs, var=a.var, layers={"counts": a.X}))


def test_cells_without_vocabulary_genes_and_no_vocabulary_raise():
    d = synthetic_dicts()
    a = cells([[1, 0], [0, 3]], [GENES[0], "ENSG90000000077"])
    with pytest.raises(ContextError, match="express no Geneformer vocabulary gene"):
        RankValueTokenizer(d).tokenize(a)
    with pytest.raises(ContextError, match="none of the"):
        RankValueTokenizer(d).tokenize(cells([[1]], ["ENSG90000000077"]))


def reference_tokens(x: np.ndarray, d: GeneformerDictionaries, limit: int) -> list[list[int]]:
    """Per-cell dense loop, written from the Geneformer description (stable sort for ties)."""
    med = np.array([d.medians[g] for g in GENES])
    ids = np.array([d.tokens[g] for g in GENES])
    out = []
    for row in x:
        norm = row / row.sum() * 10_000 / med
        nz = np.flatnonzero(norm)
        order = nz[np.argsort(-norm[nz])][:limit]          # Geneformer: np.argsort(-values), unstable
        out.append(ids[order].tolist())
    return out


@pytest.mark.parametrize("version", ["V1", "V2"])
def test_chunked_sparse_tokenizer_matches_a_dense_per_cell_loop(version):
    rng = np.random.default_rng(0)
    x = rng.poisson(1.5, size=(300, len(GENES))).astype(float)
    x[x.sum(axis=1) == 0, 0] = 1
    d = synthetic_dicts(version)
    t = RankValueTokenizer(d, input_size=6 if version == "V2" else 4, chunk_size=64)
    out = t.tokenize(cells(x.tolist()))
    expected = reference_tokens(x, d, t.max_genes)
    for i, exp in enumerate(expected):
        got = out[i].tolist()
        if version == "V2":
            assert got[0] == d.tokens["<cls>"] and got[-1] == d.tokens["<eos>"]
            got = got[1:-1]
        assert got == exp


def test_real_kang_cells_give_valid_tokens_in_rank_order():
    d = GeneformerDictionaries.bundled_v1()
    kang = kang_control_cells()[:200]
    out = RankValueTokenizer(d).tokenize(kang)
    assert len(out) == kang.n_obs and out.n_genes_used > 1200
    inverse = {v: k for k, v in d.tokens.items()}
    col = {e: j for j, e in enumerate(kang.var["ensembl_id"])}
    x = kang.X.toarray()
    for i in range(kang.n_obs):
        ids = out[i]
        assert len(ids) == len(set(ids.tolist())) and ids.min() >= 2  # no specials, no repeats in V1
        genes = [inverse[int(t)] for t in ids]
        values = np.array([x[i, col[g]] / d.medians[g] for g in genes])
        assert np.all(values > 0) and np.all(np.diff(values) <= 1e-12)  # descending count / median
        in_vocab = sum(1 for e, v in zip(kang.var["ensembl_id"], x[i]) if v > 0 and e in d.tokens)
        assert len(ids) == min(in_vocab, 2048)


# -- issue 14, item 18: the official tokenizer's behaviour -------------------------------------------------------
def test_v1_ensgr_par_tokens_are_kept():
    d = GeneformerDictionaries.bundled_v1()
    par = sorted(k for k in d.tokens if str(k).startswith("ENSGR"))
    assert len(par) == 19
    genes = [par[0], par[1].lower() + ".3", "ENSG00000115415"]           # the second: lower case + version suffix
    x = ad.AnnData(sp.csr_matrix(np.array([[5.0, 3.0, 1.0]], dtype=np.float32)), var=pd.DataFrame(index=genes))
    out = RankValueTokenizer(d).tokenize(x)
    assert out.unmapped == [] and out.n_genes_used == 3                   # on main: both ENSGR IDs unmapped
    assert set(out[0].tolist()) == {int(d.tokens[par[0]]), int(d.tokens[par[1]]), int(d.tokens["ENSG00000115415"])}


def test_ties_are_ordered_as_geneformer_orders_them():
    """Synthetic cell with 40 genes of equal count and median: Geneformer's unstable argsort decides their order."""
    genes = [f"ENSG8{i:010d}" for i in range(40)]
    tokens = {"<pad>": 0, "<mask>": 1} | {g: 2 + i for i, g in enumerate(genes)}
    d = GeneformerDictionaries("V1", tokens, dict.fromkeys(genes, 1.0), {}, None, source="synthetic")
    counts = np.array([[3.0] * 37 + [5.0, 1.0, 3.0]])
    out = RankValueTokenizer(d, input_size=2048).tokenize(cells(counts.tolist(), genes))
    values = counts[0] / counts[0].sum() * 10_000 / 1.0
    official = np.array([tokens[g] for g in genes])[np.argsort(-values)]   # geneformer.tokenizer.rank_genes
    assert out[0].tolist() == official.tolist()


def test_filter_pass_keeps_only_passing_cells():
    d = synthetic_dicts()
    x = cells([[1, 2, 0, 0, 0, 0], [0, 0, 3, 1, 0, 0], [5, 0, 0, 0, 0, 1]])
    x.obs["filter_pass"] = [1, 0, 1]
    out = RankValueTokenizer(d).tokenize(x)
    assert out.obs_names.tolist() == ["c0", "c2"] and len(out) == 2
    x.obs["filter_pass"] = 0
    with pytest.raises(ContextError, match="filter_pass"):
        RankValueTokenizer(d).tokenize(x)


def test_encode_contexts_honours_filter_pass():
    from twincell.context import encode_contexts

    class SumEncoder:
        """Synthetic encoder: a profile's embedding is its total count."""

        name, dim = "synthetic-sum", 1

        def fit(self, adata):
            return self

        def encode(self, adata):
            return np.asarray(adata.X.sum(axis=1), dtype=np.float32).reshape(-1, 1)

    x = cells([[1, 0, 0, 0, 0, 0], [100, 0, 0, 0, 0, 0], [3, 0, 0, 0, 0, 0]])
    x.obs["context"] = "ctx"
    x.obs["filter_pass"] = [1, 0, 1]
    reg = encode_contexts(x, "context", SumEncoder())
    assert reg.vector("ctx").tolist() == [2.0] and reg.info("ctx")["n_profiles"] == 2
