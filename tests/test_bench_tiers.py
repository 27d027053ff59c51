"""TwinBench tiers on synthetic inputs with known answers, the report files, the figures and the CLI."""

from __future__ import annotations

import logging

import anndata as ad
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from scipy import stats  # noqa: E402

from twincell.bench import (BenchResult, Method, Resources, make_methods, run_method, summary_table,  # noqa: E402
                            write_report)
from twincell.bench.run import BenchSettings  # noqa: E402
from twincell.bench.diseases import clinical_tasks, disease_of, read_signature_files, read_targets  # noqa: E402
from twincell.bench.tier1 import run_tier1  # noqa: E402
from twincell.bench.tier2 import RecoveryCase, common_share, common_views, run_tier2, source_table  # noqa: E402
from twincell.bench.tier3 import move_to_random_genes, permute_values, run_tier3  # noqa: E402
from twincell.data.drugs import DrugTargets  # noqa: E402
from twincell.data.perturbation import PerturbationDataset  # noqa: E402
from twincell.data.signatures import Signature  # noqa: E402
from twincell.errors import DataFileError, TwinCellError  # noqa: E402
from twincell.model.synthetic import synthetic_interactome  # noqa: E402

TIDY = ["tier", "method", "disease", "signature", "metric", "value", "ci_low", "ci_high"]


@pytest.fixture(scope="module")
def net():
    return synthetic_interactome(n_nodes=60, n_edges=200, seed=3)


@pytest.fixture(scope="module")
def drugs(net):
    """Synthetic drug table over the first 30 synthetic genes."""
    genes = list(net.genes[:30])
    table = pd.DataFrame({"drug_id": range(len(genes)), "drug": [f"syn-{g}" for g in genes], "gene": genes,
                          "sign": -1, "action_type": "INHIBITOR"})
    return DrugTargets(table, pd.DataFrame({"drug_id": [0, 1], "indication": ["i1", "i2"]}))


def _signature(name: str, genes, rng: np.random.Generator, strong=()) -> Signature:
    values = pd.Series(rng.normal(scale=0.2, size=len(genes)), index=list(genes))
    values[list(strong)] = 5.0
    return Signature(name=name, logfc=values.rename("logfc"))


@pytest.fixture(scope="module")
def tier3(net, drugs):
    """Two synthetic diseases whose targets carry the largest |logFC|, plus a third without a signature."""
    rng = np.random.default_rng(0)
    g = list(net.genes)
    targets = pd.DataFrame({"disease": ["DisA"] * 3 + ["DisB"] * 3 + ["DisC"], "gene": g[:3] + g[10:13] + [g[20]]})
    sigs = [_signature("DisA_s1", g, rng, g[:3]), _signature("DisA_s2", g, rng, g[:3]),
            _signature("DisB_s1", g, rng, g[10:13])]
    tasks = clinical_tasks(sigs, targets, pd.Index(g))
    methods = make_methods(["de", "degree", "random"], Resources(net, drugs, seed=0))
    return run_tier3(methods, tasks, drugs.druggable_genes(), n_boot=50, n_shuffles=9, seed=0), tasks


def test_tier3_tidy_table_and_known_answers(tier3, net, drugs):
    res, _ = tier3
    t = res.table
    assert list(t.columns) == TIDY and set(t["tier"]) == {3}
    get = t.set_index(["method", "disease", "signature", "metric"])["value"]
    assert get["de", "DisA", "mean", "auroc"] == 1.0 and get["de", "DisA", "DisA_s1", "recall_at_10"] == 1.0
    # 9 shuffles + 1 other disease signature: the smallest possible p is 1 / 11 for one signature
    assert get["de", "DisA", "DisA_s1", "mode_collapse_p"] == pytest.approx(1 / 11)
    assert get["degree", "DisA", "DisA_s1", "mode_collapse_p"] == 1.0  # input-independent: no credit
    assert get["degree", "DisA", "mean", "mode_collapse_p_druggable"] == 1.0
    # druggable variant: negatives are only drug targets (synthetic genes 0..29)
    scores = pd.Series(net.degree("ppi").astype(float), index=net.genes)
    sub = scores[scores.index.isin(drugs.druggable_genes())]
    expected = roc_auc_score(sub.index.isin(net.genes[:3]), sub)
    assert get["degree", "DisA", "DisA_s1", "auroc_druggable"] == pytest.approx(expected)
    ci = t[(t["method"] == "random") & (t["metric"] == "auroc") & (t["signature"] == "mean")]
    assert (ci["ci_low"] <= ci["value"]).all() and (ci["value"] <= ci["ci_high"]).all()


def test_tier3_reports_diseases_without_signature(tier3):
    res, tasks = tier3
    status = res.coverage.set_index("disease")["status"]
    assert status["DisC"] == "no signature" and status["DisA"] == "scored"
    rows = res.table[res.table["disease"] == "DisC"]
    assert set(rows["signature"]) == {"no signature"} and rows["value"].isna().all()


def test_tier3_target_table_and_roc(tier3, net):
    res, _ = tier3
    tg = res.targets
    de = tg[(tg["method"] == "de") & (tg["disease"] == "DisA") & (tg["signature"] == "DisA_s1") & (tg["universe"] == "all")]
    assert sorted(de["rank"]) == [2.0, 2.0, 2.0]  # three tied best genes share the average rank
    assert (de["top_percent"] == 100 * 2 / len(net.genes)).all()
    curve = res.roc[(res.roc["method"] == "de") & (res.roc["disease"] == "DisA") & (res.roc["universe"] == "all")]
    assert curve["tpr"].iloc[-1] == 1.0 and curve["tpr"].min() >= 0


def test_shuffles_keep_values_and_move_them(net):
    s = _signature("DisA_s1", [*net.genes[:20], "SYN_NOT_IN_NETWORK"], np.random.default_rng(1))
    moved = move_to_random_genes(s, pd.Index(net.genes), np.random.default_rng(2), 0)
    assert sorted(moved.logfc) == sorted(s.logfc) and moved.logfc.index.is_unique
    assert moved.logfc["SYN_NOT_IN_NETWORK"] == s.logfc["SYN_NOT_IN_NETWORK"]  # outside the network: kept
    assert moved.logfc.index.isin(net.genes).sum() == 20 and not set(moved.logfc.index) >= set(net.genes[:20])
    permuted = permute_values(s, np.random.default_rng(3), 0)
    assert permuted.logfc.index.equals(s.logfc.index) and sorted(permuted.logfc) == sorted(s.logfc)
    assert not permuted.logfc.equals(s.logfc)


def test_clinical_tasks_refuse_two_signatures_of_one_name_and_say_when_no_target_is_listed(net):
    rng = np.random.default_rng(1)
    g = list(net.genes)
    targets = pd.DataFrame({"disease": ["DisA"], "gene": [g[0]]})
    twins = [_signature("DisA_s1", g, rng, g[:3]), _signature("DisA_s1", g, rng, g[:3])]
    with pytest.raises(TwinCellError, match="several disease signatures are named DisA_s1"):
        clinical_tasks(twins, targets, pd.Index(g))                   # was a bare ValueError deep in the metrics
    tasks = clinical_tasks([_signature("DisB_s1", g, rng, g[:3])], targets, pd.Index(g))
    assert {t.disease: t.status for t in tasks} == {"DisA": "no signature", "DisB": "no target listed"}


def test_a_tier3_run_with_nothing_to_score_is_an_error(tmp_path):
    from twincell.bench import run_benchmark

    sig = tmp_path / "MyDis_synthetic.tsv"
    sig.write_text("gene\tlogFC\nSTAT1\t1.5\nIRF1\t1.0\nJAK2\t-0.5\n")
    targets = tmp_path / "targets.tsv"
    targets.write_text("disease\tgene_symbol\nOtherDis\tJAK1\n")
    with pytest.raises(TwinCellError, match="no disease has both a signature and an approved target") as err:
        run_benchmark((3,), ["de"], quick=True, bundled=False, signature_files=[sig], targets_file=targets)
    assert "MyDis: no target listed" in err.value.problem and "OtherDis: no signature" in err.value.problem


def test_run_benchmark_refuses_what_it_would_otherwise_ignore(tmp_path, net, caplog):
    """A model that is not one, tier 1 without a forward method, bad seeds and drug fractions: named before any data
    loads (was: a new model trained in the given one's place, mean scored against itself, bare errors)."""
    from twincell.bench import run_benchmark
    from twincell.bench.run import check_seeds

    for kwargs, message in (({"model": 42}, "model must be a TwinCell or a model folder, got int"),
                            ({"tiers": (1,), "methods": ["de"]}, "no method named predicts responses"),
                            ({"tiers": (1,), "methods": ["mean"]}, "no method named predicts responses"),
                            ({"drug_test_fraction": None}, "the drug test fraction must be in"),
                            ({"seeds": [1.7]}, "a seed must be a whole number"),
                            ({"drug_test_fraction": 1.5}, "the drug test fraction must be in")):
        with pytest.raises(TwinCellError, match=message):
            run_benchmark(**{"tiers": (1, 2), "methods": ["de"], "quick": True, **kwargs})
    with pytest.raises(TwinCellError, match="no TwinCell model|does not exist|not a"):
        run_benchmark((3,), ["twincell"], quick=True, model=tmp_path / "no_model")
    with caplog.at_level(logging.WARNING, logger="twincell.bench.run"), pytest.raises(TwinCellError):
        run_benchmark((1,), ["de"], quick=True, signature_files=["MyDis_x.tsv"], drug_test_fraction=0.5)
    assert "options are not used: they are tier 3's" in caplog.text and "drug test fraction is not used" in caplog.text
    with pytest.raises(TwinCellError, match="network must be an Interactome, got str"):
        run_benchmark((3,), ["degree"], quick=True, network="x")
    with pytest.raises(TwinCellError, match="a Method instance is needed, got str"):
        run_method("degree", pd.Series({"STAT1": 1.0}))
    assert check_seeds("0-2,5") == [0, 1, 2, 5] and check_seeds(3) == [3] and len(check_seeds(range(100))) == 100
    with pytest.raises(TwinCellError, match="101 seeds asked for"):
        check_seeds(range(101))
    with pytest.raises(TwinCellError):
        run_tier2([], None, dataset="synthetic")


def test_a_model_of_another_network_is_refused_by_tier3(service_model):
    """The service's model knows 300 genes of the default network: tier 3 on the whole network would tie the rest."""
    from twincell.bench import run_benchmark

    with pytest.raises(TwinCellError, match="trained on another network"):
        run_benchmark((3,), ["twincell"], quick=True, model=service_model)


def test_disease_of_and_target_files(tmp_path):
    assert disease_of("SLE_GSE50772_PBMC") == "SLE" and disease_of("Lupus") == "Lupus"
    one = tmp_path / "MyDis_synthetic.tsv"
    one.write_text("gene\tlogFC\nSTAT1\t1.5\nIRF1\t1.0\n")
    for given in (one, str(one), [one]):  # one path alone is one file, not its letters
        assert [s.name for s in read_signature_files(given)] == ["MyDis_synthetic"]
    f = tmp_path / "targets.tsv"
    f.write_text("disease\tgene_symbol\nNewDisease\tEGFR\nNewDisease\tENSG00000141510\nNewDisease\tNOT_A_GENE_X\n"
                 "NewDisease\t\n\tEGFR\n")
    t = read_targets(f)
    assert set(t["gene"]) == {"EGFR", "TP53"} and t.attrs["unmapped"] == ["NOT_A_GENE_X"]
    assert t.attrs["blank_rows"] == 2                                 # counted, not dropped silently
    bad = tmp_path / "bad.tsv"
    bad.write_text("illness\tgene\nX\tEGFR\n")
    with pytest.raises(DataFileError, match="disease"):
        read_targets(bad)
    unmapped = tmp_path / "unmapped.tsv"
    unmapped.write_text("disease\tgene_symbol\tdrug\nFoo\tNOTAGENE1\tx\nFoo\tNOTAGENE2\t\n")
    with pytest.raises(DataFileError, match="no gene ID of target file .* maps to a gene .*NOTAGENE1"):
        read_targets(unmapped)                                        # was: a bare TypeError
    bundled = read_targets()
    assert set(bundled["disease"]) == {"SLE", "Parkinson", "Psoriasis", "Crohn", "UC"}


def _synthetic_overexpression(net, rng: np.random.Generator) -> PerturbationDataset:
    """Synthetic over-expression of 12 genes: each response is the gene's own large change plus noise."""
    genes = list(net.genes)
    pert = genes[:12]
    X = rng.normal(scale=0.3, size=(len(pert), len(genes)))
    for i, g in enumerate(pert):
        X[i, genes.index(g)] = 8.0
    return _overexpression_dataset(genes, pert, X)


def _overexpression_dataset(genes: list, pert: list, X: np.ndarray) -> PerturbationDataset:
    """Synthetic over-expression rows (``pert[i]:+1``, response ``X[i]`` over ``genes``) as a PerturbationDataset."""
    obs = pd.DataFrame({"perturbation": pert, "perturbation_type": "overexpression", "targets": [f"{g}:+1" for g in pert],
                        "context": "synthetic", "dose": np.nan, "dataset": "synthetic_oe"}, index=pert)
    adata = ad.AnnData(X.astype(np.float32), obs=obs, var=pd.DataFrame(index=pd.Index(genes, name="gene")))
    adata.uns.update({"value_type": "zscore", "rank_derived": False, "source": "synthetic_oe",
                      "provenance": {"origin": "synthetic"}, "unmapped_genes": [], "unmatched_perturbations": []})
    ds = PerturbationDataset(adata, validate=False)
    ds.validate(check_genes=False)  # synthetic gene names are not HGNC symbols
    return ds


def test_tier2_recovers_a_target_visible_in_its_own_response(net, drugs):
    data = _synthetic_overexpression(net, np.random.default_rng(0))
    methods = make_methods(["de", "random", "twincell_prior"], Resources(net, drugs, seed=0))
    res = run_tier2(methods, data, dataset="synthetic_oe", n_boot=50, seed=0)
    get = res.table.set_index(["signature", "method", "metric"])["value"]
    net_only, own = "synthetic_oe, network_only", "synthetic_oe, with_own_transcript"
    # the response as measured: |logFC| (de) names the over-expressed gene from its own transcript
    assert get[own, "de", "recall_at_1"] == 1.0 and get[own, "de", "median_rank"] == 1.0
    assert get[own, "de", "auroc"] == 1.0 and get[own, "de", "distance_top1"] == 0.0
    assert get[own, "de", "distance_random"] > 1 and get[net_only, "random", "recall_at_1"] < 0.5
    # network_only leaves that transcript out: the target is outside the signature, so de ranks it last
    assert get[net_only, "de", "auroc"] == 0.0 and get[net_only, "de", "median_rank"] == len(net.genes)
    cases = res.per_perturbation
    assert (cases.loc[cases["variant"] == "network_only", "n_genes"] == len(net.genes) - 1).all()
    assert (cases.loc[cases["variant"] == "with_own_transcript", "n_genes"] == len(net.genes)).all()
    # the drug operator cannot see the over-expressed gene's own transcript; the genetic self term can
    # (11 of 12 first under the in-degree normalisation, whose network terms compete with the self term)
    assert get[own, "twincell_prior", "recall_at_1"] >= 11 / 12 > get[net_only, "twincell_prior", "recall_at_1"]
    assert len(res.per_perturbation) == 2 * 3 * 12 and list(res.table.columns) == TIDY


def test_tier2_views_leave_out_the_own_transcript_and_the_free_view_the_case(net, drugs):
    """Synthetic responses = 3 x a shared response + the over-expressed gene's own +2: on the raw responses ``de``
    (|logFC|) misses some targets, where the shared part outweighs the own change; the views of ``network_only``
    (blind, specific) leave the own transcript out as it does, so ``de`` ranks every target last there; the free
    view (the shared response on every gene, one signature for all cases) ranks each target where |shared| puts it."""
    rng = np.random.default_rng(2)
    genes, pert = list(net.genes), list(net.genes[:12])
    common = pd.Series(rng.normal(size=len(genes)), index=genes)
    X = 3.0 * common.to_numpy() + rng.normal(scale=0.05, size=(len(pert), len(genes)))
    X[np.arange(len(pert)), [genes.index(g) for g in pert]] += 2.0
    res = run_tier2(make_methods(["de"], Resources(net, drugs, seed=0)), _overexpression_dataset(genes, pert, X),
                    dataset="synthetic_oe", common=common, n_boot=20, seed=0)
    get = res.table.set_index(["signature", "method", "metric"])["value"]
    assert get["synthetic_oe, with_own_transcript", "de", "recall_at_1"] < 1.0
    per = res.per_perturbation
    for view in ("network_only", "case_blind", "specific"):
        rows = per[per["variant"] == view]
        assert (rows["n_genes"] == len(genes) - 1).all() and (rows["rank"] == len(genes)).all(), view
    assert set(per["variant"]) == {"network_only", "with_own_transcript", "case_blind", "specific", "case_free"}
    free = per[per["variant"] == "case_free"].set_index("target")["rank"]
    np.testing.assert_array_equal(free[pert].to_numpy(), common.abs().rank(ascending=False)[pert].to_numpy())
    assert (res.per_perturbation["common_share"] > 0.8).all() and (res.per_perturbation["common_r"] > 0.8).all()


def test_common_views_replace_or_remove_the_shared_response():
    y = pd.Series([1.0, 2.0, 3.0, 4.0], index=["G1", "G2", "G3", "G4"])
    common = pd.Series([1.0, 0.0, 1.0, np.nan, 5.0], index=["G1", "G2", "G3", "G4", "G9"])
    views = dict(common_views(RecoveryCase(Signature(name="s", logfc=y.rename("logfc")), ("G2",)), common))
    pd.testing.assert_series_equal(views["case_blind"].signature.logfc, common[["G1", "G2", "G3"]].rename("logfc"))
    specific = views["specific"].signature.logfc  # y - 2 * common on G1..G3: the fit of (1, 2, 3) on (1, 0, 1)
    np.testing.assert_allclose(specific.to_numpy(), [-1.0, 2.0, 1.0])
    assert views["specific"].positives == ("G2",)
    pd.testing.assert_series_equal(views["case_free"].signature.logfc, common.dropna().rename("logfc"))  # every gene
    assert views["case_free"].positives == ("G2",)
    r, share = common_share(Signature(name="s", logfc=y.rename("logfc")), common)
    assert r == pytest.approx(0.0, abs=1e-12) and share == pytest.approx(1 - 6 / 14)  # |(-1, 2, 1)|^2 / |(1, 2, 3)|^2
    with pytest.raises(TwinCellError, match="unknown or zero"):
        common_views(RecoveryCase(Signature(name="s", logfc=y.rename("logfc")), ("G2",)), common * 0)


def test_tier2_direction_is_activate_when_the_response_is_the_over_expression_s_own_prediction(net, drugs):
    """Synthetic responses = the untrained prior's own forward prediction f_g of over-expressing g, so its adjoint
    score of g for reproducing f_g is <f_g, f_g> > 0: "activate" (+1) for all 12; the negated responses (what
    inhibiting g would do) give -<f_g, f_g>: "inhibit", a miss for all 12. de gives no direction: no row."""
    from twincell.model import TwinCell

    genes, pert = list(net.genes), list(net.genes[:12])
    op = TwinCell.prior(net).operator(None)
    F = op.forward(np.eye(len(op.genes))[:, [list(op.genes).index(g) for g in pert]]).T  # (12, N) over op.genes
    F = pd.DataFrame(F, columns=op.genes)[genes].to_numpy()
    assert (np.abs(F).sum(axis=1) > 0).all()
    methods = make_methods(["de", "twincell_prior"], Resources(net, drugs, seed=0))
    for sign, expected in ((1.0, 1.0), (-1.0, 0.0)):
        res = run_tier2(methods, _overexpression_dataset(genes, pert, sign * F), dataset="synthetic_oe", n_boot=20,
                        seed=0)
        acc = res.table[res.table["metric"] == "direction_accuracy"].set_index(["signature", "method"])["value"]
        assert acc["synthetic_oe, network_only", "twincell_prior"] == expected
        assert "de" not in acc.index.get_level_values("method")
        cases = res.per_perturbation
        prior = cases[(cases["method"] == "twincell_prior") & (cases["variant"] == "network_only")]
        assert (prior["direction"] == (1 if sign > 0 else -1)).all() and cases.loc[cases["method"] == "de", "direction"].isna().all()
        assert len(acc) == 2  # both variants score twincell_prior's direction


def test_tier1_mean_baseline_has_l2_ratio_one(net, drugs):
    data = _synthetic_overexpression(net, np.random.default_rng(1))
    train, test = data.subset(np.arange(8)), data.subset(np.arange(8, 12))
    mean, lin = make_methods(["mean", "linear"], Resources(net, drugs, seed=0))
    mean.fit(train), lin.fit(train)
    table = run_tier1([lin, mean], mean, test, dataset="synthetic_oe", n_boot=20)
    get = table.set_index(["method", "metric"])["value"]
    assert get["mean", "l2_ratio"] == pytest.approx(1.0) and get["mean", "n_rows"] == 4
    assert {"pearson", "pearson_top20", "direction_accuracy_top20", "mse_top20"} <= set(table["metric"])
    with pytest.raises(TwinCellError, match="does not predict"):
        make_methods(["de"], Resources(net, drugs))[0].predict_response(test)


def test_report_files_and_figures(tier3, tmp_path):
    res, _ = tier3
    result = BenchResult(res.table, res.targets, res.roc, res.coverage, facts={"seed": "0"})
    files = write_report(result, tmp_path)
    csv = pd.read_csv(files["table"])
    assert list(csv.columns) == TIDY and len(csv) == len(res.table)
    md = files["markdown"].read_text()
    assert "| method |" in md and "DisC" in md and "no signature" in md and "roc_DisA.png" in md
    assert (tmp_path / "roc_DisA.png").stat().st_size > 0 and files["metric_table"].exists()
    assert "<table" in files["html"].read_text()
    summary = summary_table(res.table)
    assert list(summary.index) == ["de", "degree", "random"] and "T3 auroc_druggable" in summary.columns


def test_plot_functions_return_axes(tier3):
    from matplotlib.axes import Axes

    from twincell.pl.bench import metric_table, roc_curves

    res, _ = tier3
    assert isinstance(roc_curves(res.roc, "DisA"), Axes)
    assert isinstance(metric_table(summary_table(res.table), lower_is_better=["T3 mode_collapse_fisher_p_druggable"]), Axes)
    with pytest.raises(ValueError, match="no ROC curve"):
        roc_curves(res.roc, "Unknown")


def test_cli_lists_methods_and_checks_tiers_and_out_before_the_run(tmp_path):
    from typer.testing import CliRunner

    from twincell.bench.run import check_tiers
    from twincell.cli.main import app

    out = CliRunner().invoke(app, ["bench", "--list-methods"])
    assert out.exit_code == 0 and "TwinBench methods" in out.output and "degree" in out.output
    assert check_tiers("1, 3") == [1, 3] and check_tiers(3) == [3] and check_tiers((3, 1, 3)) == [1, 3]
    for wrong, message in (("one", "comma-separated"), (1.9, "got float"), ([1.9], "among 1, 2, 3"), ([None], "among"),
                           ([True], "among"), ([4], "among"), ([], "among"), ("", "among")):
        with pytest.raises(TwinCellError, match=message):
            check_tiers(wrong)
    (tmp_path / "afile").write_text("x")
    blocked = CliRunner().invoke(app, ["bench", "--tiers", "3", "--methods", "degree", "--out",
                                       str(tmp_path / "afile" / "sub")])
    assert isinstance(blocked.exception, TwinCellError)  # at once, not after the run
    assert "is a file, not a folder" in str(blocked.exception)
    assert not (tmp_path / "afile" / "sub").exists()


def test_a_seed_with_tier_2_left_out_gives_an_empty_table(monkeypatch, net, drugs):
    """Tiers 2 and 3 with only drug-trained methods and every drug a case: tier 2 scores nothing (its facts say why)
    and the seed's table is empty instead of a bare "No objects to concatenate"."""
    from twincell.bench import run

    monkeypatch.setattr(run, "_run_perturbation_tiers", lambda *args: ([], pd.DataFrame()))
    table, cases = run._run_seed([2], ["connectivity_drugs"], net, drugs, run.BenchSettings.quick(), 0, {}, {})
    assert table.empty and list(table.columns) == list(run.TABLE_COLUMNS) and cases.empty


def test_report_warns_of_files_an_earlier_run_left(tier3, tmp_path, caplog):
    """A folder reused for a run that writes fewer files: the earlier run's ROC figure and seeds table are kept and
    named, not silently left beside the new results."""
    import logging

    res, _ = tier3
    (tmp_path / "roc_OldDisease.png").write_bytes(b"old")
    (tmp_path / "seeds.csv").write_text("old")
    (tmp_path / "notes.txt").write_text("mine")
    with caplog.at_level(logging.WARNING, logger="twincell.bench.report"):
        write_report(BenchResult(res.table, res.targets, res.roc, res.coverage, facts={"seed": "0"}), tmp_path)
    assert "did not write: roc_OldDisease.png, seeds.csv" in caplog.text and "notes.txt" not in caplog.text
    assert (tmp_path / "roc_OldDisease.png").read_bytes() == b"old"


def _synthetic_diseases(net, n_diseases: int, rng: np.random.Generator):
    """Synthetic diseases, one signature each over all genes, three targets each among the drug targets 0..29."""
    g = list(net.genes)
    rows, sigs = [], []
    for i in range(n_diseases):
        targets = list(rng.choice(g[:30], size=3, replace=False))
        rows += [(f"Syn{i}", t) for t in targets]
        sigs.append(_signature(f"Syn{i}_s1", g, rng, targets))
    return clinical_tasks(sigs, pd.DataFrame(rows, columns=["disease", "gene"]), pd.Index(g))


def test_a_ranking_that_ignores_the_signature_gains_nothing_and_has_uniform_p_values(net, drugs):
    tasks = _synthetic_diseases(net, 20, np.random.default_rng(5))
    methods = make_methods(["random", "degree", "de"], Resources(net, drugs, seed=0))
    t = run_tier3(methods, tasks, drugs.druggable_genes(), n_boot=10, n_shuffles=19, seed=0).table
    per_disease = t[(t["signature"] == "mean") & (t["disease"] != "combined")]
    get = per_disease.set_index(["method", "disease", "metric"])["value"]
    # a fixed ranking (degree): every shuffle ranks the same, so the gains are exactly 0 and p = 1
    assert (get.loc["degree"].xs("signature_gain_druggable", level="metric") == 0).all()
    assert (get.loc["degree"].xs("geneset_gain_druggable", level="metric") == 0).all()
    assert (get.loc["degree"].xs("mode_collapse_p_druggable", level="metric") == 1).all()
    # a fresh random ranking per call: gains centre on 0 and the p-values are uniform
    gains = get.loc["random"].xs("signature_gain_druggable", level="metric")
    assert abs(gains.mean()) < 3 * gains.std() / np.sqrt(len(gains))
    p = get.loc["random"].xs("mode_collapse_p_druggable", level="metric").to_numpy()
    assert stats.kstest(p, "uniform").pvalue > 0.01 and 0.3 < p.mean() < 0.7
    # the signature-driven method (targets carry the largest changes) gains and is significant everywhere
    assert (get.loc["de"].xs("signature_gain_druggable", level="metric") > 0.3).all()
    assert (get.loc["de"].xs("mode_collapse_p_druggable", level="metric") <= 0.05).all()


def test_gains_are_auroc_minus_shuffled_auroc_and_combined_p_is_fishers(tier3):
    res, _ = tier3
    t = res.table
    get = t.set_index(["method", "disease", "signature", "metric"])
    for kind, gain in (("", "signature"), ("_geneset", "geneset")):
        shuffled = get.loc[("de", "DisA", "DisA_s1", f"auroc_druggable{kind}_shuffled")]
        g = get.loc[("de", "DisA", "DisA_s1", f"{gain}_gain_druggable")]
        observed = get.loc[("de", "DisA", "DisA_s1", "auroc_druggable"), "value"]
        assert g["value"] == pytest.approx(observed - shuffled["value"])
        assert g["ci_low"] == pytest.approx(observed - shuffled["ci_high"])
    for method in ("de", "degree", "random"):
        p = [get.loc[(method, d, "mean", "mode_collapse_p_druggable"), "value"] for d in ("DisA", "DisB")]
        combined = get.loc[(method, "combined", "mean", "mode_collapse_fisher_p_druggable"), "value"]
        assert combined == pytest.approx(stats.combine_pvalues(p, method="fisher").pvalue)
        n_sig = get.loc[(method, "combined", "mean", "mode_collapse_n_significant_druggable"), "value"]
        assert n_sig == sum(v < 0.05 for v in p)


class _ExposureCopy(Method):
    """A synthetic method whose ranking is the resources' training exposure, whatever the signature."""

    name = "synthetic_exposure_copy"
    description = "synthetic: ranks by the training exposure"

    def rank_targets(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        return self.resources.training_exposure.astype(float)


def test_a_ranking_equal_to_training_exposure_scores_what_the_control_scores(net, drugs):
    g = list(net.genes)
    exposure = pd.Series({g[0]: 5, g[1]: 3, g[12]: 2, g[25]: 1})  # synthetic training exposure
    tasks = _synthetic_diseases(net, 4, np.random.default_rng(6))
    resources = Resources(net, drugs, seed=0, training_exposure=exposure)
    methods = [*make_methods(["training_exposure"], resources), _ExposureCopy(resources)]
    t = run_tier3(methods, tasks, drugs.druggable_genes(), exposed=set(exposure.index), n_boot=20, n_shuffles=9,
                  seed=0).table
    wide = t.pivot_table(index=["disease", "signature", "metric"], columns="method", values="value", dropna=False)
    pd.testing.assert_series_equal(wide["training_exposure"], wide["synthetic_exposure_copy"], check_names=False)
    # among genes never perturbed in training every gene ties at the floor: AUROC 0.5 exactly
    unseen = wide.xs("auroc_druggable_unseen", level="metric")["training_exposure"].dropna()
    assert len(unseen) and (unseen == 0.5).all()


def test_no_unseen_negative_leaves_the_unseen_auroc_out_instead_of_stopping_tier3(net, drugs):
    """Every druggable gene perturbed in training (synthetic exposure): no negative is left among the unseen genes,
    so auroc_druggable_unseen is NaN and the rest of tier 3 is scored (was: the whole run stopped)."""
    tasks = _synthetic_diseases(net, 3, np.random.default_rng(7))
    exposed = set(drugs.druggable_genes()) - set(tasks[0].targets)   # Syn0: no unseen negative; the rest: no target
    t = run_tier3(make_methods(["degree"], Resources(net, drugs, seed=0)), tasks, drugs.druggable_genes(),
                  exposed=exposed, n_boot=10, n_shuffles=5, seed=0).table
    assert t.loc[t["metric"] == "auroc_druggable_unseen", "value"].isna().all()
    assert t.loc[t["metric"] == "auroc_druggable", "value"].notna().all()


def test_bench_settings_are_checked():
    for bad in ({"n_shuffles": 0}, {"n_boot": -1}, {"test_fraction": 1.0}, {"max_epochs": 0}):
        with pytest.raises(TwinCellError):                            # was: a bare ValueError deep in tier 3
            BenchSettings(**bad)


class _ToyDirections(Method):
    """A synthetic method that ranks by |change| and says: activate SYN-A, inhibit SYN-B and SYN-C."""

    name = "synthetic_directions"
    description = "synthetic: fixed directions"
    gives_direction = True

    def rank_targets(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        return signature.abs()

    def target_directions(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        genes = self.resources.network.genes
        return pd.Series({genes[0]: 1, genes[1]: -1, genes[2]: -1})


def test_direction_accuracy_on_a_three_target_toy(net, drugs):
    g = list(net.genes)
    targets = pd.DataFrame({"disease": "Toy", "gene": g[:3]})
    signature = _signature("Toy_s1", g, np.random.default_rng(7), g[:3])
    tasks = clinical_tasks([signature], targets, pd.Index(g))
    known = pd.Series({("Toy", g[0]): 1, ("Toy", g[1]): 1, ("Toy", g[2]): -1})  # the drugs activate, activate, inhibit
    resources = Resources(net, drugs, seed=0)
    methods = [_ToyDirections(resources), *make_methods(["de"], resources)]
    t = run_tier3(methods, tasks, drugs.druggable_genes(), directions=known, n_boot=10, n_shuffles=5, seed=0).table
    acc = t[t["metric"] == "direction_accuracy"].set_index(["method", "signature"])["value"]
    assert acc["synthetic_directions", "Toy_s1"] == pytest.approx(2 / 3) and acc["synthetic_directions", "mean"] == acc[
        "synthetic_directions", "Toy_s1"]
    assert "de" not in acc.index.get_level_values(0)  # de gives no direction: no row
    coverage = t[t["metric"] == "direction_coverage"].set_index(["method", "signature"])["value"]
    assert coverage["synthetic_directions", "Toy_s1"] == 1.0 and "de" not in coverage.index.get_level_values(0)
    top = t[(t["metric"] == "druggable_in_top_50") & (t["method"] == "de")].set_index("signature")["value"]
    by_hand = signature.logfc.abs().nlargest(50).index.isin(g[:30]).sum()  # drug targets: synthetic genes 0..29
    assert top["Toy_s1"] == by_hand and 20 <= by_hand < 30


def test_disease_blind_direction_controls_sit_beside_the_methods_in_the_skill_table(net):
    from twincell.bench.run import skill_table

    g = list(net.genes)
    # synthetic drug table: two agonists of gene 0, inhibitors of genes 1..9
    table = pd.DataFrame({"drug_id": range(11), "drug": [f"syn-{i}" for i in range(11)], "gene": [g[0], *g[:10]],
                          "sign": [1, 1] + [-1] * 9, "action_type": "synthetic"})
    drugs = DrugTargets(table, pd.DataFrame({"drug_id": [0], "indication": ["i1"]}))
    targets = pd.DataFrame({"disease": "Toy", "gene": g[:3]})
    tasks = clinical_tasks([_signature("Toy_s1", g, np.random.default_rng(7), g[:3])], targets, pd.Index(g))
    known = pd.Series({("Toy", g[0]): 1, ("Toy", g[1]): -1, ("Toy", g[2]): -1})
    methods = make_methods(["de", "druggability", "popular_targets"], Resources(net, drugs, seed=0))
    t = run_tier3(methods, tasks, drugs.druggable_genes(), directions=known, n_boot=10, n_shuffles=5, seed=0).table
    skill = skill_table(t)
    assert skill.loc["druggability", "direction_accuracy"] == pytest.approx(2 / 3)  # inhibit everything
    assert skill.loc["druggability", "direction_balanced_accuracy"] == 0.5
    assert skill.loc["popular_targets", ["direction_accuracy", "direction_balanced_accuracy"]].tolist() == [1.0, 1.0]
    assert skill.loc["de", ["direction_accuracy", "direction_balanced_accuracy"]].isna().all()


def test_skill_table_has_one_row_per_method(tier3):
    from twincell.bench.run import SKILL_METRICS, skill_table

    res, _ = tier3
    skill = skill_table(res.table)
    assert list(skill.index) == ["de", "degree", "random"] and list(skill.columns) == list(SKILL_METRICS)
    assert skill.loc["degree", "signature_gain_druggable"] == 0 and skill["direction_accuracy"].isna().all()
    assert skill["direction_balanced_accuracy"].isna().all() and "direction_balanced_accuracy" in SKILL_METRICS


def test_tier2_by_target_class_equals_the_metrics_of_each_subset(net, drugs):
    """Synthetic over-expression of 12 genes, 6 of them TFs of the synthetic network (sources of its tf layer): the
    per-class rows are the all-target metrics recomputed by hand on each subset of the per-perturbation table."""
    data = _synthetic_overexpression(net, np.random.default_rng(1))
    methods = make_methods(["de", "twincell_prior"], Resources(net, drugs, seed=0))
    res = run_tier2(methods, data, dataset="synthetic_oe", n_boot=50, seed=0)
    cases = res.per_perturbation
    tfs = set(net.edges.loc[net.layer_mask("tf"), "source"])
    assert (cases["target_class"] == "tf").equals(cases["target"].isin(tfs))
    assert 0 < cases["target"].isin(tfs).sum() < len(cases)
    table = res.table.set_index(["signature", "method", "metric"])
    for (variant, method), group in cases.groupby(["variant", "method"]):
        sig = f"synthetic_oe, {variant}"
        for stratum, subset in (("tf", group[group["target_class"] == "tf"]), ("non_tf", group[group["target_class"] != "tf"])):
            expected = {"auroc": subset["auroc"].mean(), "recall_at_10": subset["recall_at_10"].mean(),
                        "median_rank": subset["rank"].median()}
            if method == "twincell_prior":
                expected["direction_accuracy"] = subset["direction_accuracy"].mean()
            for metric, value in expected.items():
                row = table.loc[(sig, method, f"{metric}_{stratum}")]
                assert row["value"] == pytest.approx(value)
                assert row["ci_low"] <= row["value"] <= row["ci_high"]
        assert table.loc[(sig, method, "auroc"), "value"] == pytest.approx(group["auroc"].mean())
    assert ("synthetic_oe, network_only", "de", "direction_accuracy_tf") not in table.index
    # the two subsets score differently, so swapped or unsplit strata would fail the comparisons above
    prior = cases[(cases["method"] == "twincell_prior") & (cases["variant"] == "network_only")]
    assert prior.groupby(prior["target_class"] == "tf")["auroc"].mean().nunique() == 2


def test_tier2_without_tf_targets_has_no_tf_rows(net, drugs):
    """Synthetic over-expression of non-TF genes only: the empty TF stratum gives no row, not a crash."""
    tfs = set(net.edges.loc[net.layer_mask("tf"), "source"])
    genes = list(net.genes)
    pert = [g for g in genes if g not in tfs][:8]
    X = np.random.default_rng(2).normal(scale=0.3, size=(len(pert), len(genes)))
    res = run_tier2(make_methods(["de"], Resources(net, drugs, seed=0)), _overexpression_dataset(genes, pert, X),
                    dataset="synthetic_oe", n_boot=20, seed=0)
    metrics = set(res.table["metric"])
    assert not any(m.endswith("_tf") and not m.endswith("_non_tf") for m in metrics)
    get = res.table.set_index(["signature", "method", "metric"])["value"]
    assert get["synthetic_oe, network_only", "de", "auroc_non_tf"] == get["synthetic_oe, network_only", "de", "auroc"]
    assert set(res.per_perturbation["target_class"]) <= {"receptor", "ligand", "other"}


def test_tier2_rich_and_sparse_strata_split_the_cases_by_their_measured_genes(net, drugs):
    """Synthetic over-expression of 12 genes, 5 of them measured on only 15 genes (the target among them): ``n_genes``
    counts each response's measured genes, and the ``_rich`` / ``_sparse`` rows are the metrics of the cases with at
    least RICH_GENES measured genes and of the others, recomputed by hand; the blind view keeps its case's stratum."""
    from twincell.bench.tier2 import RICH_GENES

    rng = np.random.default_rng(4)
    genes = list(net.genes)
    pert = genes[:12]
    X = rng.normal(scale=0.3, size=(len(pert), len(genes)))
    X[np.arange(12), np.arange(12)] = 8.0
    for i in range(5):
        drop = rng.choice([j for j in range(len(genes)) if j != i], size=len(genes) - 15, replace=False)
        X[i, drop] = np.nan
    data = _overexpression_dataset(genes, pert, X)
    assert len(genes) >= RICH_GENES > 15
    res = run_tier2(make_methods(["de", "twincell_prior"], Resources(net, drugs, seed=0)), data,
                    dataset="synthetic_oe", common=pd.Series(rng.normal(size=len(genes)), index=genes), n_boot=20, seed=0)
    cases = res.per_perturbation
    observed = cases[cases["variant"] == "network_only"]  # the own transcript left out: 14 and all genes but one
    assert (observed.groupby("perturbation")["n_genes"].first().sort_values().to_numpy()
            == [14] * 5 + [len(genes) - 1] * 7).all()
    table = res.table.set_index(["signature", "method", "metric"])["value"]
    rich_names = set(observed.loc[observed["n_genes"] >= RICH_GENES, "perturbation"])
    for (variant, method), group in cases.groupby(["variant", "method"]):
        rich = group["perturbation"].isin(rich_names)
        assert table[f"synthetic_oe, {variant}", method, "auroc_rich"] == pytest.approx(group.loc[rich, "auroc"].mean())
        assert table[f"synthetic_oe, {variant}", method, "auroc_sparse"] == pytest.approx(group.loc[~rich, "auroc"].mean())
    # with their own transcript the 15-gene cases show their target, the others too: de finds every target there,
    # so both strata score 1; without it (network_only) de ranks every target last
    assert table["synthetic_oe, with_own_transcript", "de", "auroc_sparse"] == 1.0
    assert table["synthetic_oe, network_only", "de", "auroc_sparse"] < 0.5


def test_tier2_case_free_view_takes_away_the_gene_set_that_the_blind_view_keeps(net, drugs):
    """Synthetic responses measured on 15 genes each, the over-expressed gene among them (as LINCS keeps only its
    significant genes): the blind view keeps the case's gene set without the target's own transcript (14 genes,
    the training mean's values), so ``de`` ranks the target among the unmeasured genes, tied below those 14, while
    free (the training mean on all genes) ranks it where |mean| puts it, the same for every case; the case gain
    table's gene-set gain is blind - free."""
    from twincell.bench.run import case_gain_table

    rng = np.random.default_rng(5)
    genes, pert = list(net.genes), list(net.genes[:10])
    X = np.full((len(pert), len(genes)), np.nan)
    for i in range(len(pert)):
        keep = [i, *rng.choice([j for j in range(len(genes)) if j != i], size=14, replace=False)]
        X[i, keep] = rng.normal(size=15)
    common = pd.Series(rng.normal(size=len(genes)), index=genes)
    res = run_tier2(make_methods(["de", "degree"], Resources(net, drugs, seed=0)), _overexpression_dataset(genes, pert, X),
                    dataset="synthetic_oe", common=common, n_boot=20, seed=0)
    per = res.per_perturbation[res.per_perturbation["method"] == "de"].set_index(["variant", "target"])
    assert (per.loc["case_blind", "rank"] == 14 + (len(genes) - 14 + 1) / 2).all()  # the middle of the unmeasured tie
    np.testing.assert_array_equal(per.loc["case_free", "rank"][pert].to_numpy(),
                                  common.abs().rank(ascending=False)[pert].to_numpy())
    assert (per.loc["case_free", "n_genes"] == len(genes)).all() and (per.loc["case_blind", "n_genes"] == 14).all()
    table = res.table.assign(seed=0)
    table["signature"] = table["signature"].str.replace("synthetic_oe", "lincs_overexpression (held-out targets)")
    gains = case_gain_table(table)
    blind, free = (per.loc[v, "auroc"].mean() for v in ("case_blind", "case_free"))
    assert gains.loc["de", "T2 gene-set gain"] == pytest.approx(blind - free)
    assert gains.loc["degree", ["T2 gene-set gain", "T2 case gain"]].tolist() == [0, 0]  # it reads nothing


def test_source_table_pools_each_source_s_cases_over_seeds():
    per = pd.DataFrame({"variant": ["all_targets"] * 5 + ["case_free"],
                        "method": ["a", "a", "a", "b", "a", "a"],
                        "source": ["tahoe", "tahoe", "sciplex", "tahoe", "tahoe", "tahoe"],
                        "auroc": [0.2, 0.6, 0.9, 0.5, 1.0, 0.3], "recall_at_10": [0, 1, 1, 0, 1, 0],
                        "seed": [0, 0, 0, 0, 1, 0]})
    table = source_table(per)
    assert list(map(tuple, table[["method", "source", "variant"]].to_numpy())) == [
        ("a", "tahoe", "all_targets"), ("a", "sciplex", "all_targets"), ("b", "tahoe", "all_targets"),
        ("a", "tahoe", "case_free")]  # first-seen order
    first = table.iloc[0]
    assert first["cases"] == 3 and first["auroc"] == pytest.approx(0.6) and first["recall_at_10"] == pytest.approx(2 / 3)
    assert table["cases"].sum() == len(per)
