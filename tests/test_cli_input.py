"""CLI input checks (issue 14): option values refused before the model loads, every --context form accepted.

The model is the small synthetic-context ``service_model`` fixture; the signature is a synthetic table
on real genes of its network.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from twincell.cli import identify as identify_cli
from twincell.cli.main import app
from twincell.context import ContextRegistry
from twincell.errors import ContextError, TwinCellError
from twincell.identify import resolve_context

runner = CliRunner()


@pytest.fixture()
def no_model_load(monkeypatch):
    def refuse(_):
        raise AssertionError("the model was loaded before the options were checked")
    monkeypatch.setattr(identify_cli, "open_model", refuse)


@pytest.mark.parametrize(("args", "option"), [
    (["--top", "-5"], "--top"), (["--top", "0"], "--top"),
    (["--explain", "-1"], "--explain"), (["--explain", "100000"], "--explain"),
    (["--paths", "0"], "--paths"),
    (["--direction", "sideways"], "--direction"), (["--normalize", "l2"], "--normalize"),
    (["--padj-max", "5"], "--padj-max"),
])
def test_identify_options_are_checked_before_the_model_loads(no_model_load, tmp_path, args, option):
    res = runner.invoke(app, ["identify", "--disease", "SLE", "--out", str(tmp_path), *args])
    assert res.exit_code == 2, res.output
    assert option in res.output


def _write_signature(path) -> str:
    path.write_text("gene\tlogFC\nSTAT1\t1.5\nIFI6\t2.0\nJAK1\t-0.5\n")
    return str(path)


@pytest.mark.parametrize(("args", "message"), [
    (["--disease", "SLE", "--gene-col", "nope"], "--gene-col only with --signature"),
    (["--disease", "SLE", "--layer", "counts", "--de", "deseq2"], "--layer, --de only with --h5ad"),
    (["--signature", "SIG", "--signature", "SIG"], "names the same file more than once"),
])
def test_identify_refuses_options_its_input_would_ignore(no_model_load, tmp_path, args, message):
    sig = _write_signature(tmp_path / "synthetic_sig.tsv")
    res = runner.invoke(app, ["identify", *[sig if a == "SIG" else a for a in args], "--out", str(tmp_path / "o")])
    assert isinstance(res.exception, TwinCellError) and message in res.exception.problem   # `twincell` exits 2


def test_identify_out_is_checked_before_the_model_loads(no_model_load, tmp_path):
    (tmp_path / "a_file").write_text("synthetic")
    res = runner.invoke(app, ["identify", "--disease", "SLE", "--out", str(tmp_path / "a_file")])
    assert isinstance(res.exception, TwinCellError) and "is a file, not a folder" in res.exception.problem  # was a bare traceback
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "targets.csv").write_text("my own synthetic table")
    (mine / "notes.txt").write_text("synthetic notes")
    res = runner.invoke(app, ["identify", "--disease", "SLE", "--out", str(mine)])
    assert isinstance(res.exception, TwinCellError) and "already holds targets.csv" in res.exception.problem
    assert (mine / "targets.csv").read_text() == "my own synthetic table"   # was silently replaced


def test_network_paths_k_must_be_positive(tmp_path):
    f = tmp_path / "synthetic_edges.tsv"
    f.write_text("source\ttarget\tweight\nJAK1\tSTAT1\t0.9\n")
    res = runner.invoke(app, ["network", "paths", "JAK1", "STAT1", "--k", "-3", "--network", str(f)])
    assert res.exit_code == 2 and "--k" in res.output


def test_edge_table_delimiter_is_sniffed(tmp_path):
    f = tmp_path / "synthetic_edges.csv"                                 # tab-separated data in a .csv
    f.write_text("source\ttarget\tweight\tsign\nJAK1\tSTAT1\t0.9\t1\nSTAT1\tIRF1\t0.8\t1\n")
    res = runner.invoke(app, ["network", "paths", "JAK1", "IRF1", "--network", str(f)])
    assert res.exit_code == 0, res.output
    assert "JAK1 -> STAT1 -> IRF1" in res.output


@pytest.fixture(scope="module")
def saved_model(service_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic_model")
    service_model.save(folder / "model")
    sig = folder / "synthetic_signature.tsv"
    genes = [str(g) for g in service_model.genes[:40]]
    rows = pd.DataFrame({"gene": genes + [f" {genes[0]} ", genes[1]], "logFC": [*np.linspace(-2, 2, len(genes)), 0.5,
                                                                          np.nan]})
    rows.to_csv(sig, sep="\t", index=False)                             # a merged and a NaN row
    return folder / "model", sig


def _identify(saved_model, out, *args):
    model_dir, sig = saved_model
    return runner.invoke(app, ["identify", "--model", str(model_dir), "--signature", str(sig), "--out", str(out),
                               "--explain", "0", "--top", "5", *args])


def test_identify_context_from_an_encoded_registry(saved_model, service_model, tmp_path):
    reg = ContextRegistry("synthetic-encoder", service_model.context_dim)
    reg.add("patients", service_model.contexts["synthetic_ctx_b"], source="synthetic")
    reg.save(tmp_path / "patients.npz")
    by_file = _identify(saved_model, tmp_path / "a", "--context", str(tmp_path / "patients.npz"))
    assert by_file.exit_code == 0, by_file.output                        # on main: "unknown context"
    by_id = _identify(saved_model, tmp_path / "b", "--context", "synthetic_ctx_b")
    assert by_id.exit_code == 0, by_id.output
    a, b = (pd.read_csv(tmp_path / d / "ranking.csv") for d in ("a", "b"))
    pd.testing.assert_frame_equal(a, b)                                  # the same vector, the same ranking


def test_identify_context_ignores_case_and_unknown_points_to_context_list(saved_model, tmp_path):
    res = _identify(saved_model, tmp_path / "c", "--context", "SYNTHETIC_CTX_A")
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert "1 rows without a finite logFC, 1 genes from several rows" in flat      # item 4: printed ...
    summary = next(iter(json.loads((tmp_path / "c" / "run.json").read_text())["genes_left_out"].values()))
    assert len(summary["rows_without_logfc"]) == 1 and len(summary["merged_rows"]) == 1   # ... and listed in run.json
    res = _identify(saved_model, tmp_path / "d", "--context", "synthetic_ctx_q")
    assert isinstance(res.exception, ContextError)                       # `twincell` prints it, exit code 2
    assert "twincell context list" in res.exception.hint and "synthetic_ctx_a" in res.exception.hint


def test_resolve_context_registry_checks(service_model, tmp_path):
    reg = ContextRegistry("synthetic-encoder", service_model.context_dim)
    for name in ("One", "Two"):
        reg.add(name, np.ones(service_model.context_dim), source="synthetic")
    reg.save(tmp_path / "two.npz")
    with pytest.raises(ContextError, match="holds 2 contexts"):
        resolve_context(str(tmp_path / "two.npz"), service_model)
    np.testing.assert_array_equal(resolve_context(f"{tmp_path / 'two.npz'}:two", service_model),
                                  np.ones(service_model.context_dim, np.float32))
    wrong = ContextRegistry("synthetic-encoder", service_model.context_dim + 1)
    wrong.add("x", np.ones(service_model.context_dim + 1), source="synthetic")
    wrong.save(tmp_path / "wrong.npz")
    with pytest.raises(ContextError, match="dim"):
        resolve_context(str(tmp_path / "wrong.npz"), service_model)


def test_commands_check_ports_paths_and_values_before_the_work(tmp_path, monkeypatch):
    """Review findings: these exited 1 with a traceback (or only after the whole run), or silently did nothing."""
    import socket

    from twincell.errors import TwinCellError
    from twincell.model import TwinCell
    from twincell.model.synthetic import synthetic_interactome
    from twincell.network import Interactome
    from twincell.service.server import check_bindable

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(TwinCellError, match="cannot serve on 127.0.0.1"):
            check_bindable("127.0.0.1", taken.getsockname()[1])
    with pytest.raises(TwinCellError, match="outside 1-65535"):
        check_bindable("127.0.0.1", 70_000)                       # was served on 70000 - 65536 = 4464
    with pytest.raises(TwinCellError, match="cannot resolve --host"):
        check_bindable("not a host", 8000)
    with pytest.raises(TwinCellError, match="min_weight must lie in \\[0, 1\\)"):
        Interactome.build(min_weight=5)                            # was every PPI edge dropped, exit 0
    with pytest.raises(TwinCellError, match="is a directory, not a file"):
        Interactome.from_edges(pd.DataFrame({"source": ["JAK1"], "target": ["STAT1"]})).save(tmp_path)
    assert not list(tmp_path.glob(".*.tmp*"))                      # and no temporary file is left behind
    net = synthetic_interactome(n_nodes=10, n_edges=20, seed=1)
    with pytest.raises(TwinCellError, match="unknown device 'foo'"):
        TwinCell(net, 2, device="foo")
    with pytest.raises(TwinCellError, match="learning rate must be a positive number"):
        TwinCell(net, 2).fit(object(), lr=-1.0)
    res = runner.invoke(app, ["train", "--out", str(tmp_path / "m"), "--resume"])
    assert isinstance(res.exception, TwinCellError) and "--resume needs --checkpoint" in res.exception.problem
    (tmp_path / "a_file").write_text("synthetic")
    res = runner.invoke(app, ["bench", "--quick", "--tiers", "1", "--methods", "random", "--out", str(tmp_path / "a_file")])
    assert isinstance(res.exception, TwinCellError) and "is a file" in res.exception.problem
    for methods in ("random,", ""):
        res = runner.invoke(app, ["bench", "--quick", "--tiers", "1", "--methods", methods, "--out", str(tmp_path / "b")])
        assert isinstance(res.exception, TwinCellError) and "empty name" in res.exception.problem
    # a misspelt method is named before --model is read (the model folder here does not even exist)
    res = runner.invoke(app, ["bench", "--tiers", "3", "--methods", "twincel", "--model", str(tmp_path / "no_model"),
                              "--out", str(tmp_path / "c")])
    assert isinstance(res.exception, TwinCellError) and "unknown method(s): twincel" in res.exception.problem


def test_signature_p_values_out_of_range_and_the_summary_counts(tmp_path, caplog):
    from twincell.data.signatures import read_signature
    from twincell.errors import SignatureError

    table = pd.DataFrame({"gene": ["STAT1", "IFI6", "JAK1", "MX1"], "logFC": [1.5, 0.0, -0.5, 2.0],
                          "padj": [0.01, 0.2, -1.0, 3.0]})   # synthetic: two p-values outside [0, 1]
    with pytest.raises(SignatureError, match="column 'padj' .* is not adjusted p-values: 2 value"):
        read_signature(table, padj_max=0.05)
    with pytest.raises(SignatureError, match="2 value"):
        read_signature(table.rename(columns={"padj": "q"}), padj_col="q")
    sig = read_signature(table)   # auto-detected: not used, said so
    assert sig.padj is None and "is not used" in caplog.text
    assert "(2 up, 1 down, 1 unchanged;" in sig.summary()


def test_two_signature_files_of_one_name_keep_their_own_provenance(saved_model, tmp_path):
    model_dir, sig = saved_model
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "sig.tsv").write_text(sig.read_text())
    res = runner.invoke(app, ["identify", "--model", str(model_dir), "--signature", str(tmp_path / "a" / "sig.tsv"),
                              "--signature", str(tmp_path / "b" / "sig.tsv"), "--out", str(tmp_path / "o"),
                              "--explain", "0", "--top", "5"])
    assert res.exit_code == 0, res.output
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert set(run["genes_left_out"]) == {"sig", "sig #2"}


def test_unwritable_out_fails_before_the_work(no_model_load, tmp_path):
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "target")
    res = runner.invoke(app, ["identify", "--disease", "SLE", "--out", str(tmp_path / "dangling")])
    assert isinstance(res.exception, TwinCellError) and "cannot write the report" in res.exception.problem


def test_outputs_never_replace_other_files_and_ignored_options_are_refused(tmp_path, monkeypatch):
    from twincell.context.encode import make_encoder
    from twincell.errors import DataFileError
    from twincell.network import Interactome

    precious = tmp_path / "precious.npz"
    precious.write_text("synthetic user notes")
    with pytest.raises(DataFileError, match="is not a context registry"):
        ContextRegistry("synthetic-encoder", 2).save(precious)
    assert precious.read_text() == "synthetic user notes"
    net = Interactome.from_edges(pd.DataFrame({"source": ["STAT1"], "target": ["IRF1"]}))
    mine = tmp_path / "mine.parquet"
    mine.write_text("synthetic")
    with pytest.raises(DataFileError, match="not a TwinCell interactome"):
        net.save(mine)
    with pytest.raises(DataFileError, match="saved as parquet"):
        net.save(tmp_path / "net.tsv")
    net.save(tmp_path / "net.parquet")
    net.save(tmp_path / "net.parquet")   # an earlier network is replaced
    monkeypatch.delenv("TWINCELL_GENEFORMER_DIR", raising=False)
    with pytest.raises(ContextError, match="Geneformer options \\(pooling\\)"):
        make_encoder(None, pooling="mean")


def test_a_log_base_that_would_be_ignored_and_log_normalised_contexts_are_refused():
    import anndata as ad

    from twincell.context.expression import ExpressionEncoder
    from twincell.data.signatures import signature_from_anndata
    from twincell.errors import SignatureError

    rng = np.random.default_rng(0)   # synthetic counts: 8 samples x 3 genes, two groups
    counts = ad.AnnData(rng.poisson(5, (8, 3)).astype(np.float32),
                        obs=pd.DataFrame({"condition": ["d"] * 4 + ["h"] * 4}, index=[f"c{i}" for i in range(8)]),
                        var=pd.DataFrame(index=["EGFR", "STAT1", "JUN"]))
    for method in ("wilcoxon", "deseq2"):
        with pytest.raises(SignatureError, match="log_base=2 would be ignored"):
            signature_from_anndata(counts, "condition", "d", "h", method=method, log_base=2)
    with pytest.raises(SignatureError, match="log base 'foo' is not understood"):
        signature_from_anndata(counts, "condition", "d", "h", log_base="foo")
    logged = counts.copy()
    logged.X = np.log1p(logged.X)
    logged.uns["log1p"] = {"base": None}
    with pytest.raises(ContextError, match="log-normalised"):
        ExpressionEncoder.default().encode(logged)
    restored = logged.copy()   # scanpy's mark kept, the counts put back into X: read as counts
    restored.X = counts.X.copy()
    assert ExpressionEncoder.default().encode(restored).shape[0] == 8


def test_a_failed_out_check_or_later_error_leaves_no_folder_behind(no_model_load, tmp_path):
    out = tmp_path / "new" / "report"
    res = runner.invoke(app, ["identify", "--h5ad", str(tmp_path / "x.h5ad"), "--out", str(out)])
    assert isinstance(res.exception, TwinCellError) and not (tmp_path / "new").exists()


def test_deseq2_lists_genes_without_any_count():
    """Synthetic counts with one all-zero gene: PyDESeq2's path dropped it without a word (the Wilcoxon path keeps it)."""
    import anndata as ad

    from twincell.data.signatures import signature_from_anndata

    rng = np.random.default_rng(1)
    X = rng.poisson(20, (8, 4)).astype(np.float32)
    X[:, 3] = 0
    counts = ad.AnnData(X, obs=pd.DataFrame({"condition": ["d"] * 4 + ["h"] * 4}, index=[f"c{i}" for i in range(8)]),
                        var=pd.DataFrame(index=["EGFR", "STAT1", "JUN", "ACTB"]))
    sig = signature_from_anndata(counts, "condition", "d", "h", method="deseq2")
    assert "ACTB" not in sig.logfc.index and "ACTB" in sig.missing_ids
