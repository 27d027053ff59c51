"""from_anndata: a user's screen -> perturbation contract (SYNTHETIC small AnnData checked by hand, backed h5ad)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from twincell.data.pseudobulk import from_anndata
from twincell.errors import DataFileError, UnknownGeneError


def synthetic_screen(sparse: bool = True) -> ad.AnnData:
    """SYNTHETIC counts: 2 contexts x 2 donors x (control, knockout-X), 3 cells per group, real gene symbols."""
    rng = np.random.default_rng(1)
    obs = pd.DataFrame([(p, c, d) for c in ("T", "B") for d in ("d1", "d2") for p in ("ctrl", "KO") for _ in range(3)],
                       columns=["guide", "cell_type", "donor"])
    X = rng.poisson(5, size=(len(obs), 4)).astype(np.float32)
    X[(obs["guide"] == "KO").to_numpy(), 0] = 0  # the knocked-out gene has no counts
    var = pd.DataFrame(index=["EGFR", "ENSG00000133703", "MYC", "JUN"])  # mixed IDs: ENSG00000133703 is KRAS
    obs.index = [f"cell{i}" for i in range(len(obs))]
    return ad.AnnData(sp.csr_matrix(X) if sparse else X, obs=obs, var=var)


def expected_delta(a: ad.AnnData, ctx: str, donor: str) -> np.ndarray:
    X = a.X.toarray() if sp.issparse(a.X) else a.X
    sel = (a.obs["cell_type"] == ctx).to_numpy() & (a.obs["donor"] == donor).to_numpy()
    t = X[sel & (a.obs["guide"] == "KO").to_numpy()].sum(0)
    c = X[sel & (a.obs["guide"] == "ctrl").to_numpy()].sum(0)
    return np.log1p(t / t.sum() * 1e4) - np.log1p(c / c.sum() * 1e4)


@pytest.mark.parametrize("sparse", [True, False])
def test_per_replicate_values(sparse):
    a = synthetic_screen(sparse)
    ds = from_anndata(a, "guide", "ctrl", "cell_type", "donor", perturbation_type="knockout",
                      targets={"KO": {"EGFR": -1}}, combine_replicates=False, chunk_size=5)
    assert ds.n_obs == 4 and list(ds.genes) == ["EGFR", "JUN", "KRAS", "MYC"]
    for i in range(ds.n_obs):
        exp = expected_delta(a, ds.obs["context"].iloc[i], ds.obs["replicate"].iloc[i])
        np.testing.assert_allclose(ds.adata[i, ["EGFR", "KRAS", "MYC", "JUN"]].X.ravel(), exp, rtol=1e-5)
    assert (ds.adata[:, "EGFR"].X < -1).all()
    assert ds.targets_of(0) == {"EGFR": -1} and set(ds.obs["perturbation_type"]) == {"knockout"}


def test_replicates_averaged_and_backed(tmp_path):
    a = synthetic_screen()
    ds = from_anndata(a, "guide", "ctrl", "cell_type", "donor")
    assert ds.n_obs == 2 and set(ds.obs["n_replicates"]) == {2}
    t_row = np.flatnonzero(ds.obs["context"] == "T")[0]
    mean = (expected_delta(a, "T", "d1") + expected_delta(a, "T", "d2")) / 2
    np.testing.assert_allclose(ds.adata[t_row, ["EGFR", "KRAS", "MYC", "JUN"]].X.ravel(), mean, rtol=1e-5)
    f = tmp_path / "screen.h5ad"
    with ad.settings.override(allow_write_nullable_strings=True):  # pandas 3's default string columns
        a.write_h5ad(f)
    backed = from_anndata(ad.read_h5ad(f, backed="r"), "guide", "ctrl", "cell_type", "donor", chunk_size=4)
    np.testing.assert_allclose(backed.X, ds.X, rtol=1e-6)


def test_without_replicates_pools_controls():
    a = synthetic_screen()
    ds = from_anndata(a, "guide", "ctrl", "cell_type")
    assert ds.n_obs == 2 and ds.uns["provenance"]["replicates"] == "none"


def test_errors():
    a = synthetic_screen()
    with pytest.raises(DataFileError, match="lacks columns"):
        from_anndata(a, "sgRNA", "ctrl", "cell_type")
    with pytest.raises(DataFileError, match="no cell has guide == 'NT'"):
        from_anndata(a, "guide", "NT", "cell_type")
    with pytest.raises(DataFileError, match="perturbation_type"):
        from_anndata(a, "guide", "ctrl", "cell_type", perturbation_type="virus")
    neg = a.copy()
    neg.X = neg.X.toarray() - 10
    with pytest.raises(DataFileError, match="negative"):
        from_anndata(neg, "guide", "ctrl", "cell_type")
    with pytest.raises(UnknownGeneError):
        from_anndata(a, "guide", "ctrl", "cell_type", targets={"KO": {"NOT_A_GENE_1": -1}})
    only_ctrl_in_b = a[~((a.obs["cell_type"] == "T") & (a.obs["guide"] == "ctrl")).to_numpy()].copy()
    ds = from_anndata(only_ctrl_in_b, "guide", "ctrl", "cell_type")
    assert set(ds.obs["context"]) == {"B"} and list(ds.uns["dropped_groups"]) == ["KO/T"]


def test_user_mistakes_in_doses_targets_and_min_cells_are_named():
    """Found by review: these gave a silent NaN dose, a bare ValueError/AttributeError or a bare TypeError."""
    a = synthetic_screen()
    a.obs["dose"] = "10uM"
    with pytest.raises(DataFileError, match="doses that are not numbers: 10uM"):
        from_anndata(a, "guide", "ctrl", "cell_type", dose_key="dose")
    for targets in ({"KO": {"EGFR": "inhibit"}}, {"KO": ["EGFR"]}, {"KO": {"EGFR": True}}):
        with pytest.raises(DataFileError, match="must map each gene to \\+1"):
            from_anndata(a, "guide", "ctrl", "cell_type", targets=targets)
    with pytest.raises(DataFileError, match="min_cells=7 leaves no control group \\(the largest group has 6 cells\\)"):
        from_anndata(a, "guide", "ctrl", "cell_type", min_cells=7)
    a.obs["dose"] = 10.0
    assert (from_anndata(a, "guide", "ctrl", "cell_type", dose_key="dose").obs["dose"] == 10.0).all()
    with pytest.raises(DataFileError, match="give EGFR both signs"):       # was: silently EGFR:+1
        from_anndata(a, "guide", "ctrl", "cell_type", targets={"KO": {"EGFR": -1, "ENSG00000146648": 1}})


def test_a_group_without_counts_is_listed_not_turned_into_nan():
    """Synthetic: every count of the knockout in context B set to 0 (was: a NaN row, then an error naming row ids)."""
    a = synthetic_screen(sparse=False)
    a.X[((a.obs["guide"] == "KO") & (a.obs["cell_type"] == "B")).to_numpy()] = 0
    ds = from_anndata(a, "guide", "ctrl", "cell_type", replicate_key="donor", combine_replicates=False)
    assert set(ds.obs["context"]) == {"T"} and np.isfinite(ds.X).all()
    assert sum("B" in str(g) for g in ds.uns["dropped_groups"]) == 2   # both donors' groups, named


def test_row_number_genes_non_counts_and_merged_genes():
    a = synthetic_screen(sparse=False)
    reset = a.copy()
    reset.var_names = [str(i) for i in range(a.n_vars)]  # var_names reset: 0..3 would read as Entrez 1 = A1BG, ...
    with pytest.raises(DataFileError, match="are row numbers"):
        from_anndata(reset, "guide", "ctrl", "cell_type")
    for value, message in ((np.inf, "NaN, infinite or negative"), (0.5, "not whole numbers")):
        bad = a.copy()
        bad.X[0, 1] = value
        with pytest.raises(DataFileError, match=message):
            from_anndata(bad, "guide", "ctrl", "cell_type")
    merged = a.copy()
    merged.var_names = ["EGFR", "ENSG00000146648.16", "MYC", "JUN"]  # EGFR twice: summed, and said so
    ds = from_anndata(merged, "guide", "ctrl", "cell_type")
    assert list(ds.genes) == ["EGFR", "JUN", "MYC"]
    assert list(ds.uns["merged_genes"]) == ["EGFR: EGFR, ENSG00000146648.16"]


def test_per_replicate_rows_can_be_written(tmp_path):
    ds = from_anndata(synthetic_screen(), "guide", "ctrl", "cell_type", "donor", combine_replicates=False)
    assert ds.obs["n_cells"].dtype.kind == "i"
    ds.write(tmp_path / "screen.h5ad")
    assert ad.read_h5ad(tmp_path / "screen.h5ad").obs["n_control_cells"].tolist() == ds.obs["n_control_cells"].tolist()


def test_one_dose_written_two_ways_is_one_group_and_left_out_groups_are_warned(caplog):
    """Found by review: doses "10" and "10.0" made two rows of one dose, half the cells each; groups left out (too few
    cells, no control) and unmapped genes went to ``uns`` without a word."""
    a = synthetic_screen(sparse=False)
    a.obs["dose"] = np.where(np.arange(a.n_obs) % 2 == 0, "10", "10.0")
    ds = from_anndata(a, "guide", "ctrl", "cell_type", dose_key="dose")
    assert len(ds.obs) == 2 and (ds.obs["dose"] == 10.0).all() and (ds.obs["n_cells"] == 6).all()
    b = synthetic_screen(sparse=False)
    b.var_names = ["EGFR", "ENSG00000133703", "MYC", "NOT_A_GENE_SYNTHETIC"]
    b.obs["guide"] = b.obs["guide"].astype(str)
    b.obs.loc[b.obs.index[(b.obs["cell_type"] == "B").to_numpy()], "guide"] = "KO"   # context B: no control cells
    with caplog.at_level("WARNING", logger="twincell.data.perturbation"):
        ds = from_anndata(b, "guide", "ctrl", "cell_type", targets={"KO": {"EGFR": -1}, "KO2": {"MYC": -1}})
    assert set(ds.obs["context"]) == {"T"}
    for words in ("1 groups have fewer than min_cells=1 cells or no control cells of the same cell_type and were "
                  "left out: KO/B", "1 genes map to no HGNC symbol and were left out (3 kept): NOT_A_GENE_SYNTHETIC",
                  "1 perturbations named in targets have no treated group: KO2"):
        assert words in caplog.text
