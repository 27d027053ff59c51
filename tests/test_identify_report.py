"""Identification report and the ``twincell identify`` command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from twincell.cli.main import app
from twincell.data.bundled import path
from twincell.data.signatures import load_disease_signature
from twincell.context import default_encoder
from twincell.context.bundled import kang_control_cells
from twincell.errors import ContextError, DataFileError, SignatureError, TwinCellError
from twincell.identify import baseline_context, explain, identify_targets, rank_targets, write_report
from twincell.identify.actionable import TARGET_COLUMNS
from twincell.model import TwinCell


@pytest.fixture(scope="module")
def prior_dir(interactome, tmp_path_factory):
    """The TwinCell prior on the real interactome, saved as a model directory."""
    directory = tmp_path_factory.mktemp("model") / "prior"
    TwinCell.prior(interactome).save(directory)
    return directory


def test_report_files(interactome, tmp_path):
    sig = load_disease_signature("SLE")
    result = identify_targets(TwinCell.prior(interactome).operator(None), sig, n_explain=2, k=3)
    files = write_report(result, tmp_path / "out", top=10)
    (tmp_path / "out" / "notes.txt").write_text("synthetic notes kept beside the report")
    assert write_report(result, tmp_path / "out", top=10) == files      # an earlier report's folder is rewritten
    assert (tmp_path / "out" / "notes.txt").exists()                    # and nothing else in it is touched
    ranking = pd.read_csv(files["ranking"])
    assert len(ranking) == interactome.n_nodes
    assert ranking["gene"].tolist() == result.ranking["gene"].tolist()
    paths = pd.read_csv(files["paths"])
    explained = [*ranking["gene"].head(2), *ranking.loc[ranking["druggable"], "gene"].head(2)]   # proteins, drug targets
    assert list(paths["target"].unique()) == [g for g in ranking["gene"] if g in explained]    # in ranking order
    assert paths.groupby("target").size().le(3).all()
    assert list(paths.columns[:4]) == ["target", "direction", "target_score", "signature"]
    assert set(paths["signature"]) == {sig.name}  # the signature each target's walks were computed with
    targets = pd.read_csv(files["targets"], keep_default_na=False)
    assert tuple(targets.columns) == TARGET_COLUMNS
    assert targets["gene"].tolist() == ranking.loc[ranking["druggable"], "gene"].tolist()
    assert targets["overall_rank"].is_monotonic_increasing and targets["rank"].tolist() == list(range(1, len(targets) + 1))
    assert (targets["drugs"] != "").all()
    assert targets["drugs"].str.count(";").tolist() == targets["drug_actions"].str.count(";").tolist()
    run = json.loads(files["run"].read_text())
    assert {"KDM5D", "RPS4Y1", "XIST"} <= set(run["genes_left_out"][sig.name]["sex_genes"])
    assert run["network"]["fingerprint"] == interactome.fingerprint
    assert run["context"]["context"] == "context-free"
    assert run["signatures"][0]["source"].endswith("SLE_GSE50772_PBMC.tsv.gz")
    html = files["report"].read_text()
    assert html.count("data:image/svg+xml;base64,") == len(explained) == 4   # one figure per explained target
    assert "context-free edge strengths" in html
    assert "score = alignment of the predicted expression response" in html and "better direction" in html
    assert sig.name in html and ranking["gene"].iloc[0] in html
    assert "<script" not in html
    # the report opens with the signature summary, then the drug targets, then all proteins
    assert html.index("genes used") < html.index("Drug targets (") < html.index("All proteins: top")
    assert "KDM5D" in html[:html.index("Drug targets (")]
    drug_section = html[html.index("Drug targets ("):html.index("All proteins: top")]
    assert targets["gene"].iloc[0] in drug_section and targets["drugs"].iloc[0].split(";")[0] in drug_section
    assert drug_section.count('class="fragile-row"') == sum(g in run["fragile_targets"] for g in targets["gene"].head(10))


def test_a_target_that_reaches_no_signature_gene_has_no_direction(interactome):
    op = TwinCell.prior(interactome).operator(None)             # untrained: unsigned edges carry nothing
    change = load_disease_signature("SLE").desired_change()
    ranking = rank_targets(op, change)
    silent = ranking.loc[ranking["direction"] == "none", "gene"].iloc[0]
    e = explain(op, silent, change)
    assert e.score == 0 and e.direction == "none"               # was "activate", unlike the ranking


def test_no_explanation_still_writes_a_readable_paths_table(interactome, tmp_path):
    result = identify_targets(TwinCell.prior(interactome).operator(None), load_disease_signature("SLE"), n_explain=0)
    paths = pd.read_csv(write_report(result, tmp_path / "out")["paths"])        # was an empty file: EmptyDataError
    assert paths.empty and list(paths.columns)[:3] == ["target", "direction", "target_score"]
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["scoring"]["direction"] == "both" and run["scoring"]["n_explain"] == 0   # the options are recorded


def test_identify_targets_checks_its_arguments(interactome):
    op = TwinCell.prior(interactome).operator(None)
    sig = load_disease_signature("SLE")
    for wrong in (sig.desired_change(), "SLE", [sig, "SLE"]):
        with pytest.raises(SignatureError, match="takes Signature objects"):
            identify_targets(op, wrong)
    with pytest.raises(TwinCellError, match="n_explain must be at least 0"):
        identify_targets(op, sig, n_explain=-1)                  # was: every target but the last explained
    with pytest.raises(TwinCellError, match="k must be at least 1"):
        identify_targets(op, sig, k=0)


def test_signature_names_stay_distinct_and_a_failing_signature_is_named(interactome):
    """Found by review: names ['sig', 'sig', 'sig #2'] became ['sig', 'sig #2', 'sig #2'] and run.json lost one
    signature's left-out genes; with several signatures, 'none of the genes is in the network' named no signature
    and sent users to map IDs that were valid HGNC symbols."""
    from twincell.data.signatures import read_signature
    from twincell.identify.report import distinct_names

    table = pd.DataFrame({"gene": ["IFI27", "IFIT1", "FOS"], "logFC": [2.0, 1.0, -1.0]})
    sigs = [read_signature(table, name=n) for n in ("sig", "sig", "sig #2", "sig")]
    assert [s.name for s in distinct_names(sigs)] == ["sig", "sig #3", "sig #2", "sig #4"]
    op = TwinCell.prior(interactome).operator(None)
    outside = read_signature(pd.DataFrame({"gene": ["MIR21", "LINC01234"], "logFC": [1.0, -2.0]}), name="mirnas")
    with pytest.raises(SignatureError, match="signature 'mirnas' \\(.*\\): none of the 2 genes of the desired "
                                             "change is in the network") as err:
        identify_targets(op, [sigs[0], outside], n_explain=0)
    assert "non-coding RNAs, cannot be scored" in err.value.hint


def test_cli_identify_writes_ranking_paths_and_report(prior_dir, tmp_path):
    out = tmp_path / "sle"
    result = CliRunner().invoke(app, ["identify", "--disease", "SLE", "--model", str(prior_dir), "--top", "15",
                                      "--explain", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"targets.csv", "ranking.csv", "paths.csv", "run.json", "report.html"}
    assert "context-free" in result.output
    assert "sex-chromosome genes" in result.output and "KDM5D" in result.output
    top = pd.read_csv(out / "ranking.csv")["gene"].iloc[0]
    assert top in result.output
    first_target = pd.read_csv(out / "targets.csv")["gene"].iloc[0]
    assert first_target in result.output


def test_cli_identify_combines_several_signature_files(prior_dir, tmp_path):
    files = []
    for name, genes in (("synthetic_a", ["IFI27", "IFIT1", "RSAD2", "FOS"]), ("synthetic_b", ["IFI27", "MX1", "JUN"])):
        files.append(tmp_path / f"{name}.tsv")
        pd.DataFrame({"gene": genes, "logFC": np.linspace(2.0, -1.0, len(genes))}).to_csv(files[-1], sep="\t",
                                                                                           index=False)
    out = tmp_path / "two"
    result = CliRunner().invoke(app, ["identify", "--signature", str(files[0]), "--signature", str(files[1]),
                                      "--model", str(prior_dir), "--explain", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    targets = pd.read_csv(out / "targets.csv")
    assert list(targets.columns) == [*TARGET_COLUMNS, "n_signatures_agree"]
    assert [s["name"] for s in json.loads((out / "run.json").read_text())["signatures"]] == ["synthetic_a",
                                                                                            "synthetic_b"]
    # the score is the combined z-support, not an alignment, and each explanation names the signature it used
    assert "score = mean over the 2 signatures" in (out / "report.html").read_text()
    assert set(pd.read_csv(out / "paths.csv")["signature"]) <= {"synthetic_a", "synthetic_b"}


def test_a_result_built_without_explained_with_still_writes_its_walks(interactome, tmp_path):
    """IdentifyResult made by hand (no explained_with): every explanation is the title's, nothing is dropped."""
    import dataclasses

    result = identify_targets(TwinCell.prior(interactome).operator(None), load_disease_signature("SLE"),
                              n_explain=1, k=2)
    bare = dataclasses.replace(result, explained_with=[])
    paths = pd.read_csv(write_report(bare, tmp_path / "bare")["paths"])
    assert len(paths) == sum(len(e.paths) for e in result.explanations) > 0
    assert set(paths["signature"]) == {result.title}
    with pytest.raises(TwinCellError, match="one signature name per explanation"):
        write_report(dataclasses.replace(result, explained_with=["one"] * 7), tmp_path / "wrong")
    assert not (tmp_path / "wrong").exists()               # was: targets.csv and ranking.csv left, blocking the folder
    assert write_report(result, tmp_path / "wrong")["run"].exists()
    for top in (-3, 0, 2.5, "5"):                          # was: a report of all rows but 3, or a bare TypeError
        with pytest.raises(TwinCellError, match="top must be"):
            write_report(result, tmp_path / "top", top=top)


def test_a_foreign_run_json_is_refused_by_name(tmp_path):
    from twincell.identify.report import check_report_dir

    (tmp_path / "run.json").write_text(json.dumps({"files": {"a": ["run.json"]}}))   # synthetic, not a report's
    (tmp_path / "targets.csv").write_text("gene\n")
    with pytest.raises(TwinCellError, match="not written by an earlier twincell report"):   # was: bare TypeError
        check_report_dir(tmp_path)


def test_a_combined_ranking_says_it_is_no_adjoint_alignment(interactome):
    op = TwinCell.prior(interactome).operator(None)
    sle = load_disease_signature("SLE")
    result = identify_targets(op, [sle, load_disease_signature("UC")], n_explain=0)
    attrs = result.ranking.attrs
    assert attrs["method"] == "combined" and attrs["direction"] == "both"
    alone = [rank_targets(op, s.without_sex_genes().desired_change()).attrs for s in (sle, load_disease_signature("UC"))]
    assert attrs["signature_genes_found"] == [a["signature_genes_found"] for a in alone]
    assert attrs["change_key"] == [a["change_key"] for a in alone]   # each signature's key, none said to be the whole


def test_run_records_what_the_context_was_made_from_and_a_one_sided_score(interactome, tmp_path):
    op = TwinCell.prior(interactome).operator(None)
    result = identify_targets(op, load_disease_signature("SLE"), n_explain=1, k=2, direction="inhibit",
                              context_source="synthetic_contexts.npz:patient_1")
    assert result.provenance["context"]["source"] == "synthetic_contexts.npz:patient_1"
    assert result.facts["context"].endswith("from synthetic_contexts.npz:patient_1")
    assert "when the gene is inhibited: positive moves the cells towards" in result.facts["score"]
    write_report(result, tmp_path / "one")
    assert json.loads((tmp_path / "one" / "run.json").read_text())["context"]["source"].endswith(":patient_1")


def test_cli_identify_from_signature_file(prior_dir, tmp_path):
    table = tmp_path / "limma.tsv"
    pd.DataFrame({"Gene.symbol": ["IFI27", "CXCL8", "FOS"], "logFC": [2.0, 3.0, 1.0],
                  "adj.P.Val": [1e-4, 1e-6, 1e-3]}).to_csv(table, sep="\t", index=False)
    result = CliRunner().invoke(app, ["identify", "--signature", str(table), "--model", str(prior_dir),
                                      "--explain", "1", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "3 genes" in result.output


def test_cli_identify_needs_exactly_one_signature(tmp_path):
    result = CliRunner().invoke(app, ["identify", "--out", str(tmp_path)])
    assert isinstance(result.exception, SignatureError)
    assert "exactly one of --signature" in result.exception.problem
    both = CliRunner().invoke(app, ["identify", "--disease", "SLE", "--h5ad", "x.h5ad", "--out", str(tmp_path)])
    assert isinstance(both.exception, SignatureError)


def test_baseline_expression_becomes_the_models_context_vector():
    encoder = default_encoder()
    cells = kang_control_cells()  # real control PBMCs (Kang et al. 2018)

    class GatedModel:
        metadata = {"context_encoder": encoder.name}
        context_dim = encoder.dim

    vector = baseline_context(cells, GatedModel(), encoder)
    assert vector.shape == (encoder.dim,)
    assert np.allclose(vector, encoder.encode(cells).mean(axis=0), atol=1e-5)

    class OtherModel:
        metadata = {"context_encoder": "geneformer-V1-6L"}
        context_dim = 256

    with pytest.raises(ContextError, match="geneformer-V1-6L"):
        baseline_context(cells, OtherModel(), encoder)
    with pytest.raises(ContextError, match="no cells or samples"):
        baseline_context(cells[:0], GatedModel(), encoder)


def test_cli_identify_from_h5ad(prior_dir, tmp_path):
    out = tmp_path / "kang"
    result = CliRunner().invoke(app, ["identify", "--h5ad", str(path("kang2018")), "--groupby", "condition",
                                      "--disease-group", "stim", "--control-group", "ctrl", "--var-col",
                                      "ensembl_id", "--model", str(prior_dir), "--explain", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    run = json.loads((out / "run.json").read_text())
    assert run["signatures"][0]["method"].startswith("scanpy rank_genes_groups (wilcoxon")
    assert run["signatures"][0]["log_base"].startswith("e (log1p of counts")
    assert run["model"]["directory"] == str(prior_dir)
    assert run["signatures"][0]["source"] == str(path("kang2018"))
    assert run["signatures"][0]["name"] == "kang2018_ifnb_pbmc_sc:stim_vs_ctrl"
    targets = pd.read_csv(out / "targets.csv")
    assert tuple(targets.columns) == TARGET_COLUMNS and len(targets) > 0
    assert "log base e" in result.output


def test_cli_h5ad_needs_its_groups(tmp_path):
    result = CliRunner().invoke(app, ["identify", "--h5ad", str(path("kang2018")), "--out", str(tmp_path)])
    assert isinstance(result.exception, SignatureError)
    assert "--groupby" in result.exception.problem
    broken = tmp_path / "broken.h5ad"
    broken.write_text("not an h5ad file")
    result = CliRunner().invoke(app, ["identify", "--h5ad", str(broken), "--groupby", "condition", "--disease-group",
                                      "stim", "--control-group", "ctrl", "--out", str(tmp_path)])
    assert isinstance(result.exception, DataFileError) and "cannot read" in result.exception.problem
