"""ExpressionEncoder, ContextRegistry, the bundled contexts, the end-to-end encoders and the CLI."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from twincell.cli.main import app
from twincell.context import (ContextRegistry, ExpressionEncoder, GeneformerEncoder, default_encoder,
                              encode_contexts, rank_value_scores)
from twincell.context.bundled import kang_control_cells
from twincell.context.encode import encode_h5ad
from twincell.data.bundled import path
from twincell.errors import ContextError, DataFileError

REAL_GENES = ["GAPDH", "ACTB", "CD3E", "CD19", "LYZ", "MS4A1", "NKG7", "CD14", "IL7R", "CCR7", "S100A8", "FCGR3A"]


@pytest.fixture(scope="module")
def registry() -> ContextRegistry:
    return ContextRegistry.default()


def synthetic_reference(seed: int = 0) -> ad.AnnData:
    """Two synthetic platforms over real gene symbols, with different gene sets and scales."""
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 50.0, size=(40, len(REAL_GENES)))
    x[:20, -3:] = np.nan  # platform A does not measure the last three genes
    x[20:] *= 7.0
    obs = pd.DataFrame({"platform": ["A"] * 20 + ["B"] * 20}, index=[f"s{i}" for i in range(40)])
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=REAL_GENES))


def test_rank_value_scores_by_hand():
    v = np.array([[3.0, np.nan, 1.0, 0.0], [1.0, 2.0, 2.0, 5.0]])
    s = rank_value_scores(v)
    np.testing.assert_allclose(s[0], [1.0, np.nan, 1 - 1 / 3, 0.0])
    np.testing.assert_allclose(s[1], [1 - 3 / 4, 1 - 1.5 / 4, 1 - 1.5 / 4, 1.0])


def test_expression_encoder_fit_encode_and_reference_mean_is_zero(tmp_path):
    ref = synthetic_reference()
    enc = ExpressionEncoder(dim=4).fit(ref)
    emb = enc.encode(ref)
    assert emb.shape == (40, 4) and enc.name == f"expression-pca-{enc.fingerprint()}" and enc.dim == 4
    for plat in ("A", "B"):  # each platform is centred, so the balanced mean is the zero (default) vector
        np.testing.assert_allclose(emb[ref.obs["platform"] == plat].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(emb.std(axis=0), 1.0, rtol=0.05)
    # rescaling a profile (counts vs CPM) leaves its ranks and embedding unchanged
    scaled = ref.copy()
    scaled.X = scaled.X * 13.0
    np.testing.assert_allclose(enc.encode(scaled), emb, atol=1e-5)
    enc.save(tmp_path / "enc.npz")
    loaded = ExpressionEncoder.load(tmp_path / "enc.npz")
    np.testing.assert_allclose(loaded.encode(ref), emb, atol=1e-6)
    assert loaded.name == enc.name and loaded.fingerprint() == enc.fingerprint()


def test_two_fits_get_two_names_and_their_contexts_never_merge(tmp_path):
    """A fit on other references is another encoder: its registry cannot be merged into one of the default's."""
    ref = synthetic_reference()
    a, b = ExpressionEncoder(dim=4).fit(ref), ExpressionEncoder(dim=4).fit(synthetic_reference(seed=1))
    assert a.name != b.name and a.fingerprint() == ExpressionEncoder(dim=4).fit(ref).fingerprint()
    moved = ExpressionEncoder(dim=4).fit(ref)
    moved.platforms["A"]["mean"] = moved.platforms["A"]["mean"] + 1.0   # platform statistics count too
    assert moved.fingerprint() != a.fingerprint()
    ra, rb = (encode_contexts(ref, "platform", e) for e in (a, b))
    with pytest.raises(ContextError, match="cannot merge"):
        ra.update(rb)
    assert default_encoder().name == "expression-pca"                  # the bundled fit keeps the plain name
    keyed = ref.copy()
    keyed.var["sym"] = keyed.var_names.astype(str)
    keyed.var_names = [f"row{i}" for i in range(keyed.n_vars)]
    enc = ExpressionEncoder(dim=4, gene_key="sym").fit(keyed)
    enc.save(tmp_path / "keyed.npz")
    np.testing.assert_allclose(ExpressionEncoder.load(tmp_path / "keyed.npz").encode(keyed), enc.encode(keyed),
                               atol=1e-6)                             # was: gene_key lost, every gene unmatched


def test_expression_encoder_errors():
    ref = synthetic_reference()
    with pytest.raises(ContextError, match="not fitted"):
        ExpressionEncoder().encode(ref)
    enc = ExpressionEncoder(dim=3).fit(ref)
    with pytest.raises(ContextError, match="unknown platform"):
        enc.encode(ref, platform="nanopore")
    neg = ref.copy()
    neg.X = np.abs(np.nan_to_num(neg.X)) * -1
    with pytest.raises(ContextError, match="negative"):
        enc.encode(neg, platform="B")
    other = ad.AnnData(np.ones((2, 2)), var=pd.DataFrame(index=["TP53", "EGFR"]))
    with pytest.raises(ContextError, match="none of the"):
        enc.encode(other, platform="A")
    with pytest.raises(ContextError, match="principal axes"):
        ExpressionEncoder(dim=50).fit(ref)


def test_expression_encoder_refuses_what_it_cannot_fit_and_saves_where_it_says(tmp_path):
    """Found by review: dim above the gene count gave an encoder whose every encode failed (bare ValueError); no
    profile, a bare IndexError; counts only in layers (X None), a bare TypeError; save into a missing folder, a bare
    FileNotFoundError; save("enc") wrote enc.npz and returned None."""
    ref = synthetic_reference()
    small = ref[:, :5].copy()
    with pytest.raises(ContextError, match="5 reference genes cannot give 16 principal axes"):
        ExpressionEncoder().fit(small)
    with pytest.raises(ContextError, match="no reference profile"):
        ExpressionEncoder(dim=2).fit(ref[:0].copy())
    no_x = ad.AnnData(obs=ref.obs, var=ref.var, layers={"counts": ref.X})
    with pytest.raises(ContextError, match="AnnData has no X") as err:
        ExpressionEncoder(dim=2).fit(no_x)
    assert "its layers: counts; pass layer=" in err.value.hint
    enc = ExpressionEncoder(dim=3).fit(ref)
    with pytest.raises(ContextError, match="AnnData has no X"):
        enc.encode(no_x)
    written = enc.save(tmp_path / "new_folder" / "enc")
    assert written == tmp_path / "new_folder" / "enc.npz"
    np.testing.assert_array_equal(ExpressionEncoder.load(written).encode(ref), enc.encode(ref))
    reg = ContextRegistry(enc.name, 3)
    reg.add("synthetic_a", np.ones(3), "synthetic")
    assert ContextRegistry.load(reg.save(tmp_path / "other" / "ctx")).ids == ["synthetic_a"]


def test_registry_basics_and_errors(tmp_path):
    reg = ContextRegistry("synthetic-encoder", 3)
    reg.add("ctx_a", [1, 2, 3], "synthetic")
    reg.add("ctx_b", None, "none", note="no baseline")
    assert reg.ids == ["ctx_a", "ctx_b"] and reg.dim == 3 and "ctx_a" in reg
    assert reg.info("ctx_b")["has_baseline"] is False and not reg.vector("ctx_b").any()
    assert reg.matrix(["ctx_b", "ctx_a"]).shape == (2, 3)
    with pytest.raises(ContextError, match="ctx_a") as err:
        reg.vector("ctx_c")
    assert "ctx_a, ctx_b" in err.value.hint
    with pytest.raises(ContextError, match="size 2"):
        reg.add("ctx_c", [1, 2], "synthetic")
    with pytest.raises(ContextError, match="NaN"):
        reg.add("ctx_c", [1, np.nan, 2], "synthetic")
    with pytest.raises(ContextError, match="already"):
        reg.add("ctx_a", [0, 0, 0], "synthetic")
    with pytest.raises(ContextError, match="cannot merge"):
        reg.update(ContextRegistry("another-encoder", 3))
    reg.save(tmp_path / "reg.npz")
    back = ContextRegistry.load(tmp_path / "reg.npz")
    assert back.encoder_name == "synthetic-encoder" and back.ids == reg.ids
    np.testing.assert_array_equal(back.matrix(), reg.matrix())
    pd.testing.assert_frame_equal(back.to_frame(), reg.to_frame())
    (tmp_path / "bad.npz").write_bytes(b"not a registry")
    with pytest.raises(DataFileError):
        ContextRegistry.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "future.npz", format=np.array(99))
    with pytest.raises(DataFileError, match="context registry format 99, expected 1") as err:
        ContextRegistry.load(tmp_path / "future.npz")
    assert err.value.hint == "re-create the file with this TwinCell version"
    np.savez(tmp_path / "pickled.npz", format=np.array(1), ids=np.array([{"synthetic": 1}], dtype=object))
    with pytest.raises(DataFileError, match="not an .npz archive written by TwinCell") as err:
        ContextRegistry.load(tmp_path / "pickled.npz")
    assert "allow_pickle" not in err.value.problem


def test_default_registry_covers_every_bundled_dataset_context(registry):
    index = pd.read_csv(path("signatures_index"), sep="\t")
    needed = set(index["context"].astype(str)) | {"consensus"}
    assert needed <= set(registry.ids)
    assert registry.encoder_name == "expression-pca" and registry.dim == 16
    no_baseline = {i for i in registry.ids if not registry.info(i)["has_baseline"]}
    assert no_baseline == {"A_427", "COLO205", "C_33A", "MIAPACA_2", "HEPG2_C3A", "HTERT_HPNE", "NK_cells", "consensus"}
    for i in no_baseline:
        assert not registry.vector(i).any() and registry.info(i)["note"]
    assert "no NK cells" in registry.info("NK_cells")["note"]
    base = registry.matrix(sorted(set(registry.ids) - no_baseline))
    assert np.all(np.isfinite(base)) and 0.2 < base.std() < 3.0
    assert registry.info("A549")["source"] == "ccle_basal + l1000_basal" and registry.info("A549")["n_profiles"] == 2


def test_default_registry_separates_immune_types_as_the_biology_says(registry):
    d = {(a, b): float(np.linalg.norm(registry.vector(a) - registry.vector(b)))
         for a in ("T_cells", "CD4 T cells", "CD8 T cells", "B_cells", "Myeloid_cells", "CD14+ Monocytes")
         for b in ("T_cells", "Myeloid_cells")}
    assert d[("CD4 T cells", "T_cells")] < d[("B_cells", "T_cells")] < d[("Myeloid_cells", "T_cells")]
    assert d[("CD14+ Monocytes", "Myeloid_cells")] < d[("CD14+ Monocytes", "T_cells")]
    assert np.allclose(registry.vector("HT_29"), registry.vector("HT29"))  # the same line under two datasets' ids


def test_kang_context_ids_are_the_files_cell_types(registry):
    types = set(kang_control_cells().obs["context"])
    assert types == {"B cells", "CD4 T cells", "CD8 T cells", "CD14+ Monocytes", "FCGR3A+ Monocytes"}
    assert types <= set(registry.ids)
    np.testing.assert_allclose(registry.vector("B cells"), registry.vector("B_cells"))  # NeurIPS id, same Kang cells


def test_end_to_end_both_encoders_on_real_kang_cells(tmp_path, registry):
    """A real AnnData (Kang control cells, raw counts) encoded by the ExpressionEncoder and by a tiny random Geneformer."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    kang = kang_control_cells()
    rows = np.concatenate([np.flatnonzero(kang.obs["context"] == c)[:15] for c in ("B cells", "CD4 T cells", "CD14+ Monocytes")])
    adata = kang[rows].copy()

    expr = encode_contexts(adata, "context", default_encoder(), source="synthetic test subset")
    assert expr.encoder_name == "expression-pca" and expr.dim == 16 and len(expr) == 3
    # the same cells as in the bundled context: close to it (a subset of its cells)
    assert np.linalg.norm(expr.vector("B cells") - registry.vector("B cells")) < np.linalg.norm(
        expr.vector("B cells") - registry.vector("CD14+ Monocytes"))

    # tiny random-weight V1-shaped model (real V1 dictionaries, bundled): checks the plumbing, not biology
    cfg = transformers.BertConfig(vocab_size=25_426, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=2048, hidden_act="relu", pad_token_id=0)
    torch.manual_seed(0)
    transformers.BertForMaskedLM(cfg).save_pretrained(tmp_path / "model")
    gf = GeneformerEncoder(tmp_path / "model", batch_size=16)
    assert gf.version == "V1" and gf.dictionaries.source.startswith("bundled")
    gfreg = encode_contexts(adata, "context", gf)
    assert gfreg.encoder_name == "geneformer-V1-2L:model" and gfreg.dim == 16 and gfreg.ids == expr.ids
    assert np.all(np.isfinite(gfreg.matrix()))
    # context = mean over its cells' embeddings
    cells = gf.encode(adata)
    np.testing.assert_allclose(gfreg.vector("B cells"), cells[adata.obs["context"] == "B cells"].mean(axis=0),
                               rtol=1e-5, atol=1e-6)


def test_encode_contexts_rejects_missing_key():
    a = ad.AnnData(sp.csr_matrix(np.ones((2, 2))), var=pd.DataFrame(index=["GAPDH", "ACTB"]))
    with pytest.raises(ContextError, match="no column"):
        encode_contexts(a, "tissue", default_encoder())


def test_cli_list_and_encode(tmp_path, monkeypatch, python_environ):
    monkeypatch.delenv("TWINCELL_GENEFORMER_DIR", raising=False)
    runner = CliRunner()
    res = runner.invoke(app, ["context", "list"])
    assert res.exit_code == 0, res.output
    assert "NK_cells" in res.output and "expression-pca" in res.output
    kang = kang_control_cells()[:60].copy()
    with ad.settings.override(allow_write_nullable_strings=True):  # pandas 3's default string columns
        kang.write_h5ad(tmp_path / "cells.h5ad")
    res = runner.invoke(app, ["context", "encode", "--h5ad", str(tmp_path / "cells.h5ad"), "--key", "context",
                              "--out", str(tmp_path / "ctx.npz")])
    assert res.exit_code == 0, res.output
    reg = ContextRegistry.load(tmp_path / "ctx.npz")
    assert reg.encoder_name == "expression-pca" and set(reg.ids) == set(kang.obs["context"])


def test_row_number_var_names_are_refused_and_var_col_names_the_genes(tmp_path, python_environ, monkeypatch):
    """var_names reset to 0..n-1 (the symbols kept in a column) would be read as Entrez IDs: refused, with the
    column named by --var-col the contexts are the same as from the original file."""
    monkeypatch.delenv("TWINCELL_GENEFORMER_DIR", raising=False)
    kang = kang_control_cells()[:60].copy()
    kang.var = pd.DataFrame({"gene_symbol": kang.var_names.astype(str)}, index=kang.var_names)  # symbols only
    reset = kang.copy()
    reset.var_names = [str(i) for i in range(reset.n_vars)]
    with pytest.raises(ContextError, match="row numbers"):
        encode_contexts(reset, "context", default_encoder())
    with ad.settings.override(allow_write_nullable_strings=True):  # pandas 3's default string columns
        reset.write_h5ad(tmp_path / "reset.h5ad")
        kang.write_h5ad(tmp_path / "cells.h5ad")
    runner = CliRunner()
    res = runner.invoke(app, ["context", "encode", "--h5ad", str(tmp_path / "reset.h5ad"), "--key", "context",
                              "--out", str(tmp_path / "bad.npz")])
    assert isinstance(res.exception, ContextError) and "row numbers" in res.exception.problem  # exit 2 in `twincell`
    assert "--var-col" in res.exception.hint
    for name, extra in (("reset", ["--var-col", "gene_symbol"]), ("cells", [])):
        res = runner.invoke(app, ["context", "encode", "--h5ad", str(tmp_path / f"{name}.h5ad"), "--key", "context",
                                  "--out", str(tmp_path / f"{name}.npz"), *extra])
        assert res.exit_code == 0, res.output
    np.testing.assert_allclose(ContextRegistry.load(tmp_path / "reset.npz").matrix(),
                               ContextRegistry.load(tmp_path / "cells.npz").matrix(), rtol=1e-5, atol=1e-6)


def test_var_col_is_read_over_an_ensembl_column_and_its_repeated_genes_are_summed(tmp_path):
    """Synthetic split of real Kang counts: 30 genes' counts halved over two columns each, named by a symbol column,
    beside an ensembl_id column that maps nothing: the contexts equal the unsplit cells' (was: ensembl_id read,
    repeated genes renamed X-1 and lost)."""
    kang = kang_control_cells()[:60].copy()
    x = np.asarray(kang.X.todense() if sp.issparse(kang.X) else kang.X, dtype=np.float32)
    split = ad.AnnData(np.hstack([x[:, 30:], x[:, :30] / 2, x[:, :30] / 2]), obs=kang.obs[["context"]].copy(),
                       var=pd.DataFrame({"symbol": [*kang.var_names[30:], *kang.var_names[:30], *kang.var_names[:30]],
                                         "ensembl_id": "ENSG_SYNTHETIC"}, index=[f"g{i}" for i in range(kang.n_vars + 30)]))
    split.write_h5ad(tmp_path / "split.h5ad")
    whole = ad.AnnData(x, obs=kang.obs[["context"]].copy(), var=pd.DataFrame(index=kang.var_names.astype(str)))
    np.testing.assert_allclose(encode_h5ad(tmp_path / "split.h5ad", "context", default_encoder(), var_col="symbol",
                                           platform="scrna").matrix(),
                               encode_contexts(whole, "context", default_encoder(), platform="scrna").matrix(),
                               atol=1e-5)


def test_filter_pass_losses_are_named_and_the_saved_file_is_the_one_reported(tmp_path, caplog):
    """Review findings: a context whose cells all fail filter_pass vanished without a word, and `--out ctx` wrote
    ctx.npz while reporting ctx."""
    adata = kang_control_cells()
    rows = np.concatenate([np.flatnonzero(adata.obs["context"] == c)[:10] for c in ("B cells", "CD14+ Monocytes")])
    adata = adata[rows].copy()
    adata.obs["filter_pass"] = (adata.obs["context"] != "B cells").astype(int).to_numpy()
    reg = encode_contexts(adata, "context", default_encoder())
    assert reg.ids == ["CD14+ Monocytes"]
    assert "10 of 20 profiles fail obs['filter_pass']" in caplog.text and "not encoded: B cells" in caplog.text
    adata.obs["filter_pass"] = 0
    with pytest.raises(ContextError, match="no cell has obs\\['filter_pass'\\] == 1"):
        encode_contexts(adata, "context", default_encoder())
    assert reg.save(tmp_path / "ctx") == tmp_path / "ctx.npz" and ContextRegistry.load(tmp_path / "ctx.npz").ids
    with pytest.raises(DataFileError, match="is a directory"):
        reg.save(tmp_path)


def test_row_number_var_names_are_never_read_beside_an_ensembl_column():
    """var_names reset to row numbers with an ``ensembl_id`` column: the Ensembl IDs map, and a gene whose Ensembl ID
    does not map stays unmapped instead of falling back to its row number read as an Entrez ID (2 = A2M)."""
    from twincell.context.expression import hgnc_symbols

    a = ad.AnnData(np.ones((2, 4), np.float32))
    a.var_names = [str(i) for i in range(4)]
    a.var["ensembl_id"] = ["ENSG00000141510", "ENSG00000146648", "ENSG00000000000", "ENSG00000136997"]
    assert hgnc_symbols(a) == ["TP53", "EGFR", None, "MYC"]


def test_genes_whose_ids_do_not_map_are_looked_up_in_a_symbol_column():
    """Kang 2018's shape: a retired Ensembl ID (ENSG00000000000 here) and a ``SYMBOL_ENSG...`` var name map through
    the ``symbol_orig`` column; CELLxGENE's ``feature_name`` is read the same way; a named ``gene_key`` is read alone."""
    from twincell.context.expression import hgnc_symbols

    a = ad.AnnData(np.ones((2, 3), np.float32))
    a.var_names = ["TP53", "TXNIP_ENSG00000000000", "NOT_A_GENE"]
    a.var["ensembl_id"] = ["ENSG00000141510", "ENSG00000000000", "ENSG00000000001"]
    a.var["symbol_orig"] = ["TP53", "TXNIP", "nan"]
    assert hgnc_symbols(a) == ["TP53", "TXNIP", None]
    assert hgnc_symbols(a, gene_key="ensembl_id") == ["TP53", None, None]
    b = ad.AnnData(np.ones((2, 2), np.float32))
    b.var_names = ["ENSG00000000000", "ENSG00000146648"]
    b.var["feature_name"] = ["MYC", "EGFR"]
    assert hgnc_symbols(b) == ["MYC", "EGFR"]


def test_tokenizer_names_a_missing_layer():
    from twincell.context.dictionaries import GeneformerDictionaries
    from twincell.context.tokenizer import RankValueTokenizer

    a = ad.AnnData(np.ones((2, 3), np.float32), var=pd.DataFrame(index=["TP53", "EGFR", "MYC"]))
    with pytest.raises(ContextError, match="counts"):
        RankValueTokenizer(GeneformerDictionaries.bundled_v1()).tokenize(a, layer="counts")


def test_read_expression_names_a_directory(tmp_path):
    from twincell.context.encode import read_expression

    with pytest.raises(DataFileError, match="is a directory, not an .h5ad file"):
        read_expression(tmp_path)
    with pytest.raises(DataFileError, match="does not exist"):
        read_expression(tmp_path / "missing.h5ad")
