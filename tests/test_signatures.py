"""Disease signatures: table formats, gene mapping, bundled signatures, AnnData -> signature, clear errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from twincell.data.bundled import path
from twincell.data.signatures import (
    DEFAULT_SIGNATURES, list_disease_signatures, load_disease_signature, read_signature, signature_from_anndata,
)
from twincell.errors import DataFileError, SignatureError

GENES = ["STAT1", "IRF7", "TNF", "IL6"]
LOGFC = [1.5, 2.0, -0.5, -1.25]
PADJ = [1e-5, 1e-8, 0.02, 0.3]


@pytest.mark.parametrize("columns", [
    ("Gene.symbol", "logFC", "adj.P.Val"),           # limma topTable
    ("gene_symbol", "log2fc", "padj"),                # plain export
    ("names", "logfoldchanges", "pvals_adj"),        # scanpy rank_genes_groups_df
    ("gene", "avg_log2FC", "p_val_adj"),             # Seurat FindMarkers (+ gene column)
])
def test_recognised_column_names(columns):
    g, l, p = columns
    sig = read_signature(pd.DataFrame({g: GENES, l: LOGFC, p: PADJ, "other": 0}))
    assert sig.logfc.to_dict() == dict(zip(GENES, LOGFC))
    assert sig.padj.to_dict() == dict(zip(GENES, PADJ))
    assert sig.desired_change().to_dict() == {g_: -v for g_, v in zip(GENES, LOGFC)}


def test_deseq2_csv_with_row_names(tmp_path):
    f = tmp_path / "deseq2_results.csv"
    pd.DataFrame({"baseMean": 10.0, "log2FoldChange": LOGFC, "lfcSE": 0.1, "padj": PADJ}, index=GENES).to_csv(f)
    sig = read_signature(f)
    assert sig.name == "deseq2_results"
    assert sig.logfc.to_dict() == dict(zip(GENES, LOGFC))


def test_columns_named_by_flags_and_padj_filter():
    table = pd.DataFrame({"id": GENES, "effect": LOGFC, "q": PADJ})
    sig = read_signature(table, gene_col="id", logfc_col="effect", padj_col="q", padj_max=0.05)
    assert list(sig.logfc.index) == ["IRF7", "STAT1", "TNF"]  # sorted by padj, IL6 (0.3) filtered out
    assert sig.padj_filtered == ["IL6"] and sig.padj_max == 0.05
    assert "1 rows with padj above 0.05 or missing left out" in sig.summary()
    with_nan = table.assign(q=[1e-5, 1e-8, np.nan, 0.3])
    assert read_signature(with_nan, gene_col="id", logfc_col="effect", padj_col="q", padj_max=0.05).padj_filtered \
        == ["TNF", "IL6"]                                      # a missing padj is counted, not lost silently
    with pytest.raises(SignatureError, match="no column 'nope'"):
        read_signature(table, gene_col="nope", logfc_col="effect")
    printed = table.assign(q=["< 2.2e-16", "<2.2e-16", "0.01 **", "> 0.99"])  # as R and spreadsheets print them
    kept = read_signature(printed, gene_col="id", logfc_col="effect", padj_col="q", padj_max=0.05)
    assert kept.padj_filtered == ["IL6"] and kept.padj.to_dict() == {"STAT1": 2.2e-16, "IRF7": 2.2e-16, "TNF": 0.01}


def test_ids_are_mapped_unmapped_reported_and_duplicates_collapsed():
    table = pd.DataFrame({
        "gene": ["ENSG00000115415", "6772", "stat1", "NOT_A_GENE_XYZ", "IL6"],  # STAT1 thrice (Ensembl, Entrez, case)
        "logFC": [1.0, 2.0, 3.0, 4.0, float("nan")],
        "padj": [0.01, 0.001, 0.5, 0.01, 0.01],
    })
    sig = read_signature(table)
    assert sig.logfc.to_dict() == {"STAT1": 2.0}       # the STAT1 row with the smallest padj
    assert sig.collapsed == ["STAT1"]
    assert sig.unmapped == ["NOT_A_GENE_XYZ"]
    assert sig.n_missing_values == 1                    # IL6 had no value
    cov = sig.coverage(["STAT1", "TNF"])
    assert (cov["found"], cov["absent"]) == (1, 0)


@pytest.mark.parametrize(("table", "message"), [
    (pd.DataFrame({"gene": [], "logFC": []}), "is empty"),
    (pd.DataFrame({"gene": GENES, "logFC": np.nan}), "missing"),
    (pd.DataFrame({"gene": ["xx_not_gene", "yy_not_gene"], "logFC": [1.0, 2.0]}), "maps to an HGNC symbol"),
    (pd.DataFrame({"gene": GENES, "score": LOGFC}), "no recognised log fold change column"),
    (pd.DataFrame({"gene": GENES, "logFC": ["up", "up", "down", "down"]}), "holds no numbers"),
])
def test_bad_signatures_raise_clear_errors(table, message):
    with pytest.raises(SignatureError, match=message) as info:
        read_signature(table)
    assert info.value.hint


def test_entrez_ids_read_as_float_and_rows_without_an_id(tmp_path):
    """A column of Entrez IDs with one missing value is read by pandas as float (6772.0): the IDs still map, and the
    row without an ID is counted, not listed as an unmapped gene called 'nan'."""
    f = tmp_path / "synthetic_entrez.csv"
    f.write_text("entrezgene_id,log2FoldChange\n6772,1.5\n10410,2.0\nNA,0.7\n4599,-1.1\n")
    sig = read_signature(f)
    assert sorted(sig.logfc.index) == ["IFITM3", "MX1", "STAT1"] and sig.unmapped == []
    assert sig.n_rows_without_id == 1 and "1 rows without a gene ID" in sig.summary()


def test_read_signature_names_a_wrong_source_or_threshold(caplog):
    with pytest.raises(SignatureError, match="reads a file path or a DataFrame, got Series"):
        read_signature(pd.Series({"STAT1": 1.0}))
    table = pd.DataFrame({"gene": GENES, "logFC": LOGFC, "padj": PADJ})
    for wrong in ("0.05", 5, True):
        with pytest.raises(SignatureError, match="padj_max must be a number between 0 and 1"):
            read_signature(table, padj_max=wrong)
    read_signature(pd.DataFrame({"gene": GENES, "pvalue": PADJ}), logfc_col="pvalue")
    assert "is it a p-value column rather than log fold changes" in caplog.text


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        read_signature(tmp_path / "absent.tsv")


def test_bundled_signatures_listed_and_loadable_by_disease():
    table = list_disease_signatures()
    assert set(table["disease"]) == set(DEFAULT_SIGNATURES)
    assert table.groupby("disease")["default"].sum().eq(1).all()
    files = sorted(f.name for f in path("disease_signatures").glob("*.tsv.gz"))
    assert sorted(table["file"]) == files
    sle = load_disease_signature("sle")
    assert sle.name == "SLE_GSE50772_PBMC"
    row = table.set_index("file").loc["SLE_GSE50772_PBMC.tsv.gz"]
    assert len(sle) + len(sle.unmapped) + len(sle.collapsed) == row["n_genes"]
    assert load_disease_signature("SLE", "ExpressionAtlas-OT2019_blood-inferred").name.startswith("SLE_Expression")
    with pytest.raises(SignatureError, match="no bundled signature for disease"):
        load_disease_signature("scurvy")
    with pytest.raises(SignatureError, match="choose one of"):
        load_disease_signature("SLE", "GSE0")


@pytest.fixture(scope="module")
def kang():
    """Kang et al. 2018 PBMC: real IFN-beta stimulated and control cells, raw UMI counts."""
    return ad.read_h5ad(path("kang2018"))


def test_signature_from_anndata_wilcoxon_finds_interferon_response(kang):
    sig = signature_from_anndata(kang, "condition", disease="stim", healthy="ctrl", gene_col="ensembl_id")
    assert "wilcoxon" in sig.method
    top_up = set(sig.logfc[sig.padj < 0.01].sort_values().tail(30).index)
    assert {"ISG15", "IFIT1", "IFIT3", "RSAD2"} & top_up  # interferon-stimulated genes lead the stimulated side
    assert sig.logfc["IFIT1"] > 2


def test_signature_from_anndata_deseq2_on_pseudobulk(kang):
    key = kang.obs["sample_id"].astype(str) + "|" + kang.obs["cell_type"].astype(str)
    isg = kang.var["gene_symbol"].isin(["ISG15", "IFIT1", "IFIT3", "MX1", "ACTB", "GAPDH"]).to_numpy()
    total = np.asarray(kang.X.sum(axis=0)).ravel()
    keep = isg | (total >= np.sort(total)[-150])  # the 150 most-counted genes keep PyDESeq2 fast
    counts = pd.DataFrame(kang.X[:, keep].toarray()).groupby(key.to_numpy()).sum()
    obs = pd.DataFrame({"condition": ["stim" if k.startswith("stim") else "ctrl" for k in counts.index]},
                       index=counts.index)
    bulk = ad.AnnData(counts.to_numpy(np.float32), obs=obs, var=kang.var.loc[keep])
    sig = signature_from_anndata(bulk, "condition", "stim", "ctrl", method="deseq2", gene_col="ensembl_id")
    assert "pydeseq2" in sig.method
    assert sig.logfc["ISG15"] > 2 and sig.padj["ISG15"] < 1e-3
    with pytest.raises(SignatureError, match="raw non-negative integer counts"):
        signature_from_anndata(ad.AnnData(np.log1p(bulk.X) + 0.5, obs=obs, var=bulk.var), "condition", "stim", "ctrl",
                               method="deseq2", gene_col="ensembl_id")


def test_anndata_input_errors(kang):
    with pytest.raises(SignatureError, match="no column 'disease_state'"):
        signature_from_anndata(kang, "disease_state", "SLE", "healthy")
    with pytest.raises(SignatureError, match="has 0 sample"):
        signature_from_anndata(kang, "condition", "SLE", "ctrl")
    with pytest.raises(SignatureError, match="the same group"):          # was an AttributeError
        signature_from_anndata(kang, "condition", "ctrl", "ctrl")
    coded = kang.copy()  # groups coded 1 / 0 in an integer column, named by integers
    coded.obs["stimulated"] = (coded.obs["condition"].astype(str) != "ctrl").astype(int)
    ints = signature_from_anndata(coded, "stimulated", 1, 0)
    texts = signature_from_anndata(coded, "stimulated", "1", "0")
    pd.testing.assert_series_equal(ints.logfc, texts.logfc)


def test_the_count_check_is_whole_numbers_within_rounding():
    """Synthetic matrices: the count check of signatures from an AnnData is :func:`whole_numbers` with numpy's
    rounding tolerance (DESeq2's path rounds the counts) on stored, non-negative values; ``whole_numbers`` alone
    stays exact (context encoding and pseudobulk ask whether values are counts exactly)."""
    import scipy.sparse as sp

    from twincell.data.signatures import _is_count_matrix, whole_numbers

    near = np.array([[1.0, 2.0 + 1e-9], [0.0, 3.0]])
    for X in (near, sp.csr_matrix(near)):
        assert not whole_numbers(X) and whole_numbers(X, tolerant=True) and _is_count_matrix(X)
    assert whole_numbers(np.round(near)) and not whole_numbers(near + 0.5, tolerant=True)
    assert not _is_count_matrix(-np.round(near)) and not _is_count_matrix(np.empty((0, 2)))
    assert not _is_count_matrix(near + 0.5) and not _is_count_matrix(np.array([[1.0, np.nan]]))
