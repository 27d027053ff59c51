"""Bundled perturbation loaders checked against the raw files: LINCS, Tahoe / NeurIPS / sci-Plex ranks, Kang."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtri

from twincell.data.bundled import path
from twincell.data.genes import GeneMapper
from twincell.data.lincs import load_lincs_overexpression
from twincell.data.ranked import load_ranked_signatures, rank_to_score
from twincell.data.training_data import load_bundled, load_kang2018
from twincell.errors import DataFileError


@pytest.fixture(scope="module")
def lincs():
    return load_lincs_overexpression()


@pytest.fixture(scope="module")
def tahoe():
    return load_ranked_signatures("signatures_tahoe")


@pytest.fixture(scope="module")
def sciplex():
    return load_ranked_signatures("signatures_sciplex")


def test_lincs_against_raw(lincs):
    raw = pd.read_csv(path("lincs_overexpression"), sep="\t", dtype={"perturbagen": str, "entrez_gene_id": str})
    assert raw["perturbagen"].nunique() == 2088
    assert lincs.n_obs + len(lincs.uns["unmatched_perturbations"]) == 2088
    assert int((~np.isnan(lincs.X)).sum()) <= len(raw)
    assert lincs.uns["value_type"] == "zscore" and not lincs.uns["rank_derived"]
    assert set(lincs.obs["context"]) == {"consensus"}
    assert set(lincs.obs["perturbation_type"]) == {"overexpression"}
    # first raw row: over-expressing Entrez 2 (A2M) lowers CDC20 (Entrez 991) with z = -4.687
    a2m = np.flatnonzero(lincs.obs["perturbation"].to_numpy() == "A2M")[0]
    assert lincs.targets_of(a2m) == {"A2M": 1}
    assert lincs.adata[a2m, "CDC20"].X[0, 0] == pytest.approx(-4.687)
    assert lincs.adata[a2m, "GFOD1"].X[0, 0] == pytest.approx(4.551)
    # not-significant genes are missing, never zero
    assert not (lincs.X == 0).any()
    # every response gene the mapper resolves is a column
    mapped = GeneMapper.default().map(raw["entrez_gene_id"], kind="entrez")
    assert set(mapped.symbols.values()) == set(lincs.genes)
    assert sorted(lincs.uns["unmapped_genes"]) == sorted(mapped.unmapped)


def test_rank_transform():
    s = rank_to_score(np.array([1, 50, 100]), np.array([100, 100, 100]))
    assert s[0] == pytest.approx(ndtri(0.995)) and s[0] > 0 > s[2] and s[0] == pytest.approx(-s[2])
    assert s[1] == pytest.approx(ndtri(0.505))
    with pytest.raises(DataFileError):
        rank_to_score(np.array([0]), np.array([10]))


def test_tahoe_signatures_against_raw(tahoe):
    index = pd.read_csv(path("signatures_index"), sep="\t")
    assert tahoe.n_obs == int((index["dataset"] == "tahoe100m").sum()) == 4838
    assert tahoe.obs["context"].nunique() == 44 and tahoe.obs["perturbation"].nunique() == 110
    assert tahoe.uns["rank_derived"] and tahoe.uns["value_type"] == "rank_inverse_normal"
    # truncated lists: at most 1,500 stored values per row, the rest NaN
    measured = (~np.isnan(tahoe.X)).sum(axis=1)
    assert measured.max() <= 1500
    # per list, the measured values are the distinct mapped symbols of the stored ranks
    raw = pd.read_parquet(path("signatures_tahoe"), filters=[("context", "==", "A498")],
                          columns=["context", "perturbation", "rank", "n_ranked", "gene"])
    symbols = GeneMapper.default().map(raw["gene"].astype(str).unique()).symbols
    expected = (raw.assign(sym=raw["gene"].astype(str).map(symbols),
                           perturbation=raw["perturbation"].astype(str).str.strip())
                .groupby("perturbation")["sym"].nunique())
    a498 = (tahoe.obs["context"] == "A498").to_numpy()
    got = pd.Series(measured[a498], index=tahoe.obs.loc[a498, "perturbation"].to_numpy())
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False, check_index_type=False)
    # a known row: the rank-1 gene of the first stored Tahoe list gets the top score
    first = raw[raw["rank"] == 1].iloc[0]
    sym = GeneMapper.default().map([first["gene"]]).symbols[first["gene"]]
    row = np.flatnonzero((tahoe.obs["context"] == "A498").to_numpy()
                         & (tahoe.obs["perturbation"] == first["perturbation"]).to_numpy())[0]
    assert tahoe.adata[row, sym].X[0, 0] == pytest.approx(rank_to_score(1, first["n_ranked"]), rel=1e-5)
    # trametinib pushes DUSP6 and SPRY4 down in every Tahoe line where they are stored
    # (DUSP6 is absent from one line's stored list, SPRY4 from none)
    tram = tahoe.obs["perturbation"].to_numpy() == "Trametinib"
    assert tram.sum() == 44
    for gene, n_lines in (("DUSP6", 43), ("SPRY4", 44)):
        values = tahoe.adata[tram, gene].X.ravel()
        assert (~np.isnan(values)).sum() == n_lines
        assert (values[~np.isnan(values)] < -1.5).all()
    assert tahoe.targets_of(np.flatnonzero(tram)[0]) == {"MAP2K1": -1, "MAP2K2": -1}


def test_tahoe_unmatched_drugs_have_no_targets(tahoe):
    unmatched = set(tahoe.uns["unmatched_perturbations"])
    assert "Baicalin" in unmatched
    has_targets = tahoe.obs["targets"] != ""
    assert not set(tahoe.obs.loc[has_targets, "perturbation"]) & unmatched
    assert set(tahoe.obs.loc[~has_targets, "perturbation"]) == unmatched


def test_sciplex_maps_ensembl_ids(sciplex):
    assert sciplex.n_obs == 69 and set(sciplex.obs["context"]) == {"A549", "K562", "MCF7"}
    assert not any(g.startswith("ENSG") for g in sciplex.genes)
    assert all(g.startswith("ENSG") for g in sciplex.uns["unmapped_genes"])
    # complete lists: every stored gene with a symbol has a value, scores symmetric around 0
    row = sciplex.X[0]
    assert np.nanmax(row) == pytest.approx(-np.nanmin(row), rel=0.05)
    assert sciplex.targets_of(np.flatnonzero(sciplex.obs["perturbation"] == "Trametinib (GSK1120212)")[0]) == {
        "MAP2K1": -1, "MAP2K2": -1}


def test_cache_round_trip(tmp_path, monkeypatch, python_environ):
    monkeypatch.setenv("TWINCELL_CACHE", str(tmp_path))
    built = load_bundled("signatures_sciplex")
    files = list((tmp_path / "perturbations").glob("signatures_sciplex-*.h5ad"))
    assert len(files) == 1
    cached = load_bundled("signatures_sciplex")
    np.testing.assert_array_equal(cached.X, built.X)
    assert cached.obs["targets"].tolist() == built.obs["targets"].tolist()
    with pytest.raises(DataFileError, match="unknown bundled"):
        load_bundled("nope")


def test_kang2018_ifn_beta_raises_isgs_in_every_cell_type():
    ds = load_kang2018()
    assert ds.n_obs == 5 and ds.obs["context"].nunique() == 5
    assert set(ds.obs["n_replicates"]) == {2}
    assert ds.targets_of(0) == {"IFNAR1": 1, "IFNAR2": 1}
    for gene in ("ISG15", "IFI6", "MX1", "IFIT1"):
        assert (ds.adata[:, gene].X > 1.0).all(), gene


def test_a_lincs_table_with_a_z_score_that_is_no_number_is_named(tmp_path):
    from twincell.data.lincs import read_lincs_table
    from twincell.errors import DataFileError

    table = tmp_path / "lincs.tsv"
    table.write_text("perturbagen\tentrez_gene_id\tz_score\nEGFR\t1956\t1.5\nEGFR\t3716\tabc\n")   # synthetic
    with pytest.raises(DataFileError, match="1 z-score\\(s\\) that are not numbers \\(e.g. 'abc' on line 3\\)"):
        read_lincs_table(str(table))                                  # was: a bare ValueError much later
