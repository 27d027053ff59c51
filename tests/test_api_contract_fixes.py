"""Review fixes of the API contracts: AnnData given to fit is validated, missing AnnData layers / gene columns,
exact history round trip and config.json checked against operator.npz, pl.roc_curves' unknown methods, and the
docstrings of the public functions the review named."""

from __future__ import annotations

import inspect
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from twincell import pl
from twincell.cli.main import app
from twincell.context.encode import encode_h5ad
from twincell.data.pseudobulk import from_anndata
from twincell.data.signatures import signature_from_anndata
from twincell.errors import DataFileError, ModelFileError, SignatureError, TwinCellError
from twincell.identify.explain import explain
from twincell.model import TwinCell
from twincell.model.io import open_model
from twincell.model.synthetic import simulate_responses
from twincell.network import Interactome


@pytest.fixture(scope="module")
def net():
    """A tiny network of real HGNC symbols (bare AnnData are validated with the HGNC check)."""
    edges = pd.DataFrame({"source": ["JAK1", "STAT1", "MAP2K1", "IRF1", "STAT1", "STAT1", "IRF1"],
                          "target": ["STAT1", "IRF1", "MAPK1", "SOCS1", "SOCS1", "MX1", "ISG15"],
                          "sign": 1, "layer": ["ppi"] * 5 + ["tf"] * 2})
    return Interactome.from_edges(edges)


@pytest.fixture(scope="module")
def responses(net):
    return simulate_responses(TwinCell.prior(net), [{"JAK1": -1}, {"MAP2K1": -1}, {"STAT1": 1}, {"IRF1": -1}],
                              [None], name="contract")


def test_fit_trains_on_a_valid_bare_anndata(net, responses):
    model = TwinCell(net, 0).fit(responses.adata.copy(), max_epochs=2)
    assert len(model.history) == 2 and model.datasets[0].name == "contract"
    assert model.predict_dataset(responses.adata.copy()).shape == responses.adata.shape


def _inf(a):
    a.X[0, 0] = np.inf


def _misspelt_type(a):
    a.obs["perturbation_type"] = "drgu"


def _no_value_type(a):
    del a.uns["value_type"]


def _duplicate_genes(a):
    a.var_names = [a.var_names[0], *a.var_names[:-1]]


def _sparse(a):
    a.X = sp.csr_matrix(np.nan_to_num(a.X))


@pytest.mark.parametrize(("damage", "message"), [
    (_inf, "infinite values"), (_misspelt_type, "unknown perturbation_type values"),
    (_no_value_type, r"uns lacks keys \['value_type'\]"), (_duplicate_genes, "duplicates"),
    (_sparse, "dense float32 matrix, got csr_matrix"),
])
def test_fit_and_predict_dataset_validate_a_bare_anndata(net, responses, damage, message):
    adata = responses.adata.copy()
    damage(adata)
    with pytest.raises(DataFileError, match=message):      # was: trained silently (sparse: a raw ValueError)
        TwinCell(net, 0).fit(adata, max_epochs=1)
    with pytest.raises(DataFileError, match=message):
        TwinCell(net, 0).predict_dataset(adata)


@pytest.fixture()
def counts():
    rng = np.random.default_rng(0)
    obs = pd.DataFrame({"grp": ["A"] * 3 + ["B"] * 3, "cell_line": "A549",
                        "drug": ["ctrl", "ctrl", "tram", "ctrl", "tram", "tram"]},
                       index=[f"c{i}" for i in range(6)])
    a = ad.AnnData(rng.poisson(5, (6, 4)).astype(np.float32), obs=obs,
                   var=pd.DataFrame({"symbol": ["STAT1", "IRF1", "MX1", "ISG15"]}, index=["g1", "g2", "g3", "g4"]))
    a.layers["counts"] = a.X.copy()
    return a


@pytest.mark.parametrize("read, error, gene_option", [
    (lambda a, **kw: signature_from_anndata(a, "grp", "A", "B", **kw), SignatureError, "gene_col"),
    (lambda a, **kw: from_anndata(a, "drug", "ctrl", "cell_line", **kw), DataFileError, "gene_key"),
])
def test_anndata_readers_name_a_missing_layer_and_gene_column(counts, read, error, gene_option):
    with pytest.raises(error, match="no layer 'nope'") as err:    # was: KeyError: 'nope'
        read(counts, layer="nope")
    assert "counts" in err.value.hint
    with pytest.raises(error, match="no column 'gene'") as err:
        read(counts, **{gene_option: "gene"})
    assert "symbol" in err.value.hint
    del counts.layers["counts"]
    with pytest.raises(error, match="no layer 'counts'") as err:
        read(counts, layer="counts")
    assert "it has no layers" in err.value.hint


def test_cli_identify_with_a_missing_layer_is_a_twincell_error(counts, tmp_path):
    counts.write_h5ad(tmp_path / "x.h5ad")
    res = CliRunner().invoke(app, ["identify", "--h5ad", str(tmp_path / "x.h5ad"), "--groupby", "grp",
                                   "--disease-group", "A", "--control-group", "B", "--layer", "nope",
                                   "--out", str(tmp_path / "o")])
    assert isinstance(res.exception, SignatureError), res.output          # `twincell` exits 2; was KeyError: 'nope'
    assert "no layer 'nope'" in res.exception.problem and "counts" in res.exception.hint


@pytest.fixture(scope="module")
def saved(net, responses, tmp_path_factory):
    model = TwinCell(net, 0).fit(responses, max_epochs=3)
    return model, model.save(tmp_path_factory.mktemp("m") / "model")


def test_history_reads_back_exactly(saved):
    model, directory = saved
    assert model.history["val_loss"].isna().all()                          # NaN is written as null
    pd.testing.assert_frame_equal(TwinCell.load(directory).history, model.history, check_exact=True)


def _edited(directory, tmp_path, **hparams):
    copy = TwinCell.load(directory).save(tmp_path / "edited")
    config = json.loads((copy / "config.json").read_text())
    config["hparams"].update(hparams)
    (copy / "config.json").write_text(json.dumps(config))
    return copy


@pytest.mark.parametrize(("hparams", "message"), [
    ({"n_hops": 2}, "n_hops is 4 in operator.npz but 2 in config.json"),
    ({"damping": 0.5}, "damping is 0.8 in operator.npz but 0.5 in config.json"),
])
def test_config_edited_against_the_saved_operator_is_refused(saved, tmp_path, hparams, message):
    edited = _edited(saved[1], tmp_path, **hparams)
    with pytest.raises(ModelFileError, match=message):                     # was: loaded, operators disagreed
        TwinCell.load(edited)
    with pytest.raises(ModelFileError, match=message):
        open_model(edited).operator(None)
    assert open_model(saved[1]).operator(None).n_hops == TwinCell.load(saved[1]).operator(None).n_hops


def test_roc_curves_names_unknown_methods():
    roc = pd.DataFrame({"universe": "druggable", "method": ["twincell"] * 2 + ["degree"] * 2, "disease": "SLE",
                        "fpr": [0.0, 1.0] * 2, "tpr": [0.0, 1.0] * 2})
    with pytest.raises(TwinCellError, match="method\\(s\\) nosuch for disease 'SLE'") as err:  # was: empty curve
        pl.roc_curves(roc, "SLE", methods=["twincell", "nosuch"])
    assert err.value.hint == "methods in the table: twincell, degree"
    assert len(pl.roc_curves(roc, "SLE", methods=["degree"]).get_lines()) == 2   # the curve and the diagonal
    assert len(pl.roc_curves(roc, methods="degree").get_lines()) == 2   # the first disease; one method as a string
    with pytest.raises(TwinCellError, match="universe 'all'") as err:
        pl.roc_curves(roc, universe="all")
    assert "universes: druggable" in err.value.hint


def test_metric_table_reads_one_lower_is_better_name_whole():
    summary = pd.DataFrame({"mean_rank": [3.0, 10.0], "auroc": [0.7, 0.5]}, index=["synthetic_a", "synthetic_b"])
    darkest = pl.metric_table(summary, lower_is_better="mean_rank").images[0].get_array()
    assert darkest[0, 0] > darkest[1, 0]   # the lower rank is the better one, drawn darker
    with pytest.raises(TwinCellError, match="does not have: mean rank"):
        pl.metric_table(summary, lower_is_better=["mean rank"])


@pytest.mark.parametrize("fn", [explain, encode_h5ad, TwinCell.fit, TwinCell.predict_dataset, pl.training_curves])
def test_named_functions_document_every_parameter(fn):
    doc = inspect.getdoc(fn)
    assert "Parameters\n----------" in doc and "Returns\n-------" in doc
    documented = doc.split("Parameters\n----------")[1].split("Returns\n-------")[0]
    headers = {name.lstrip("*") for line in documented.splitlines() if line and not line[0].isspace()
               for name in line.split(", ")}
    missing = [p for p in inspect.signature(fn).parameters if p != "self" and p not in headers]
    assert not missing, f"{fn.__qualname__}: {missing} not in the Parameters section"
