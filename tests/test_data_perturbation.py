"""PerturbationDataset contract: construction, validation errors, concat, subset, h5ad round trip, splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twincell.data.perturbation import PerturbationDataset, format_targets, matrix_from_long, parse_targets
from twincell.data.splits import make_split
from twincell.errors import DataFileError, UnknownGeneError


def synthetic_dataset(n: int = 6, value_type: str = "zscore", name: str = "synthetic") -> PerturbationDataset:
    """A SYNTHETIC dataset: random values, real gene symbols, made-up perturbation ids."""
    rng = np.random.default_rng(0)
    genes = ["EGFR", "MAP2K1", "DUSP6", "SPRY4", "JUN"]
    obs = pd.DataFrame({
        "perturbation": [f"p{i % 3}" for i in range(n)], "perturbation_type": "drug",
        "targets": [format_targets({genes[i % 3]: -1}) for i in range(n)],
        "context": [f"c{i % 2}" for i in range(n)], "dose": 1.0, "dataset": name})
    return PerturbationDataset.build(rng.normal(size=(n, len(genes))), obs, genes, value_type=value_type,
                                     source=name, provenance={"origin": "synthetic test data"})


def test_targets_round_trip():
    t = {"MAP2K2": -1, "MAP2K1": -1, "IFNAR1": 1, "EGFR": 0}
    text = format_targets(t)
    assert text == "EGFR:0;IFNAR1:+1;MAP2K1:-1;MAP2K2:-1"
    assert parse_targets(text) == t and parse_targets("") == {}
    with pytest.raises(DataFileError, match="malformed target"):
        parse_targets("EGFR+1")


def test_build_follows_contract():
    ds = synthetic_dataset()
    assert ds.X.dtype == np.float32 and ds.X.shape == (6, 5)
    assert list(ds.obs.columns[:6]) == ["perturbation", "perturbation_type", "targets", "context", "dose", "dataset"]
    assert ds.targets_of(1) == {"MAP2K1": -1}
    required = {"value_type", "rank_derived", "source", "provenance", "unmapped_genes", "unmatched_perturbations"}
    assert required <= set(ds.uns)


@pytest.mark.parametrize("breaker, message", [
    (lambda a: a.obs.drop(columns=["context"], inplace=True), "lacks columns"),
    (lambda a: setattr(a, "obs", a.obs.assign(perturbation_type="magic")), "unknown perturbation_type"),
    (lambda a: setattr(a, "obs", a.obs.assign(context=["", "c", "c", "c", "c", "c"])), "empty or NaN 'context'"),
    (lambda a: a.X.__setitem__((0, slice(None)), np.nan), "no measured value"),
    (lambda a: a.X.__setitem__((0, 0), np.inf), "infinite"),
    (lambda a: a.uns.__setitem__("value_type", "counts"), "value_type"),
    (lambda a: a.uns.pop("provenance"), "uns lacks keys"),
    (lambda a: a.X.__setitem__((2, 1), 1e30), r"1 values exceed \|1,000\| \(largest 1e\+30"),  # overflows float32 loss
    (lambda a: a.uns.__setitem__("provenance", "from the lab"), "provenance is str"),
    (lambda a: a.uns.__setitem__("unmapped_genes", "GENE1"), "unmapped_genes is str"),
])
def test_validation_errors(breaker, message):
    ds = synthetic_dataset()
    breaker(ds.adata)
    with pytest.raises(DataFileError, match=message):
        ds.validate()


def test_unknown_genes_are_named():
    ds = synthetic_dataset()
    ds.adata.var_names = ["EGFR", "MAP2K1", "DUSP6", "SPRY4", "NOT_A_GENE_1"]
    with pytest.raises(UnknownGeneError) as err:
        ds.validate()
    assert err.value.genes == ["NOT_A_GENE_1"]


def test_empty_dataset_is_an_error():
    with pytest.raises(DataFileError, match="empty"):
        synthetic_dataset().subset(np.zeros(6, dtype=bool)).validate()


def test_concat_subset_and_round_trip(tmp_path):
    a = synthetic_dataset(name="a")
    b = synthetic_dataset(4, name="b")
    b.adata.var_names = ["EGFR", "MAP2K1", "DUSP6", "SPRY4", "FOS"]
    both = PerturbationDataset.concat([a, b])
    assert both.n_obs == 10 and set(both.genes) == {"EGFR", "MAP2K1", "DUSP6", "SPRY4", "JUN", "FOS"}
    assert np.isnan(both.adata[:6, "FOS"].X).all() and np.isnan(both.adata[6:, "JUN"].X).all()
    np.testing.assert_array_equal(both.adata[6:, "EGFR"].X, b.adata[:, "EGFR"].X)
    with pytest.raises(DataFileError, match="different value types"):
        PerturbationDataset.concat([a, synthetic_dataset(value_type="log_fold_change")])
    sub = both.subset(both.obs["dataset"].to_numpy() == "b")
    assert sub.n_obs == 4
    f = both.write(tmp_path / "ds.h5ad")
    back = PerturbationDataset.read(f)
    np.testing.assert_array_equal(back.X, both.X)
    assert back.obs["targets"].tolist() == both.obs["targets"].tolist()
    assert back.uns["value_type"] == "zscore"
    with pytest.raises(DataFileError, match="does not exist"):
        PerturbationDataset.read(tmp_path / "missing.h5ad")


def test_round_trip_with_pandas_string_arrays(tmp_path):
    """pandas 3 makes string columns and indexes StringArrays by default; anndata refuses to write
    those unless told to, which broke ``write`` (seen on a machine with pandas 3)."""
    ds = synthetic_dataset()
    ds.adata.obs_names = pd.Index(ds.adata.obs_names.astype(str), dtype="string")
    ds.adata.obs["dataset"] = ds.adata.obs["dataset"].astype("string")
    back = PerturbationDataset.read(ds.write(tmp_path / "strings.h5ad"))
    assert back.adata.obs_names.tolist() == ds.adata.obs_names.tolist()
    assert back.obs["dataset"].tolist() == ds.obs["dataset"].tolist()
    np.testing.assert_array_equal(back.X, ds.X)


def test_build_keeps_ids_as_text_and_names_doses_and_write_problems(tmp_path):
    """Found by review: numeric perturbation / context IDs passed validation and then broke ``write`` deep in h5py; a
    dose such as "10 uM" became NaN without a word; an unwritable obs column gave a bare TypeError."""
    genes = ["EGFR", "KRAS"]
    obs = pd.DataFrame({"perturbation": [101, 102], "perturbation_type": "drug", "targets": ["EGFR:-1", ""],
                        "context": [7, 8], "dose": [1.0, " "], "dataset": "synthetic"})
    ds = PerturbationDataset.build(np.ones((2, 2)), obs, genes, value_type="zscore", source="synthetic", provenance={})
    assert ds.obs["perturbation"].tolist() == ["101", "102"] and ds.obs["context"].tolist() == ["7", "8"]
    assert ds.obs["dose"].iloc[0] == 1.0 and np.isnan(ds.obs["dose"].iloc[1])              # a blank dose is missing
    back = PerturbationDataset.read(ds.write(tmp_path / "numeric_ids.h5ad"))
    assert back.obs["perturbation"].tolist() == ["101", "102"]
    with pytest.raises(DataFileError, match="doses that are not numbers: 1,5, 10 uM"):
        PerturbationDataset.build(np.ones((2, 2)), obs.assign(dose=["10 uM", "1,5"]), genes, value_type="zscore",
                                  source="synthetic", provenance={})
    ds.adata.obs["wells"] = [["A1", "A2"], ["B1"]]                                          # lists: not writable
    with pytest.raises(DataFileError, match="cannot write the perturbation dataset to .*lists.h5ad"):
        ds.write(tmp_path / "lists.h5ad")


def test_matrix_from_long_keeps_most_extreme_duplicate():
    long = pd.DataFrame({"sig": ["s1", "s1", "s1", "s2"], "gene": ["A", "A", "B", "A"],
                         "value": [0.5, -2.0, 1.0, 3.0]})
    rows, genes, X, n_dup = matrix_from_long(long, ["sig"])
    assert rows["sig"].tolist() == ["s1", "s2"] and genes == ["A", "B"] and n_dup == 1
    np.testing.assert_array_equal(X, np.array([[-2.0, 1.0], [3.0, np.nan]], dtype=np.float32))


@pytest.mark.parametrize("kind", ["context", "perturbation", "target"])
def test_splits_are_disjoint_and_seeded(kind):
    ds = [synthetic_dataset(12, name="a"), synthetic_dataset(9, name="b")]
    split = make_split(ds, kind, test_fraction=0.4, seed=3)
    assert split.held_out and make_split(ds, kind, 0.4, seed=3).held_out == split.held_out
    train, test = split.apply(ds)
    assert sum(d.n_obs for d in train) + sum(d.n_obs for d in test) == 21
    col = {"context": "context", "perturbation": "perturbation"}.get(kind)
    if col:
        train_ids = set().union(*(set(d.obs[col]) for d in train))
        test_ids = set().union(*(set(d.obs[col]) for d in test))
    else:
        train_ids = {g for d in train for i in range(d.n_obs) for g in d.targets_of(i)}
        test_ids = set(split.held_out)
    assert train_ids and not train_ids & test_ids


def test_split_errors():
    ds = synthetic_dataset()
    with pytest.raises(DataFileError, match="unknown split kind"):
        make_split(ds, "donor")  # type: ignore[arg-type]
    with pytest.raises(DataFileError, match="test_fraction"):
        make_split(ds, "context", test_fraction=1.5)
    with pytest.raises(DataFileError, match="at least two"):
        make_split(ds.subset(ds.obs["context"].to_numpy() == "c0"), "context")
