"""TwinBench over several seeds (issue 12): per-seed rows, seeds.csv statistics, one seed as before, --seeds parsing.

Runs the bundled data with ``quick=True`` settings and two methods (TwinCell, degree), as the other bench tests do.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import twincell.bench  # noqa: E402
from twincell.bench import run_benchmark, write_report  # noqa: E402
from twincell.bench.run import CYTOKINE_LABEL, DRUG_LABEL, RESULT_COLUMNS, SEED_STATISTICS, TIER2_LABEL, parse_seeds  # noqa: E402
from twincell.bench.tier2 import VARIANTS  # noqa: E402
from twincell.cli.main import run  # noqa: E402
from twincell.errors import TwinCellError  # noqa: E402

METHODS = ["twincell", "degree"]
T2 = f"{TIER2_LABEL}, {VARIANTS[0]}"


@pytest.fixture(scope="module")
def two_seeds():
    return run_benchmark((1, 2), METHODS, quick=True, seeds=[0, 1])


@pytest.fixture(scope="module")
def seed_one():
    return run_benchmark((1, 2), METHODS, quick=True, seed=1)


def test_two_seeds_give_each_seeds_rows(two_seeds, seed_one):
    table = two_seeds.table
    assert list(table.columns) == list(RESULT_COLUMNS)
    assert list(dict.fromkeys(table["seed"])) == [0, 1]
    per_seed = table.groupby("seed").size()
    assert per_seed[0] == per_seed[1] == len(seed_one.table)
    assert set(two_seeds.tier2_cases["seed"]) == {0, 1}
    # the seeds draw different held-out perturbations, so their tier-2 AUROCs differ
    auroc = table[(table["signature"] == T2) & (table["metric"] == "auroc") & (table["method"] == "degree")]
    assert auroc["value"].nunique() == 2


def test_one_seed_of_several_is_that_seed_run_alone(two_seeds, seed_one):
    """Seed 1's rows of the two-seed run equal a run with ``seed=1`` (TwinCell training agrees to ~1e-9)."""
    mine = two_seeds.table[two_seeds.table["seed"] == 1].reset_index(drop=True)
    alone = seed_one.table
    assert (alone["seed"] == 1).all()
    cols = ["tier", "method", "disease", "signature", "metric"]
    pd.testing.assert_frame_equal(mine[cols], alone[cols])
    np.testing.assert_allclose(mine[["value", "ci_low", "ci_high"]].to_numpy(float),
                               alone[["value", "ci_low", "ci_high"]].to_numpy(float), rtol=1e-6, atol=1e-9)
    degree = (alone["method"] == "degree").to_numpy()
    np.testing.assert_array_equal(mine.loc[degree, "value"].to_numpy(float), alone.loc[degree, "value"].to_numpy(float))
    assert seed_one.facts["seed"] == "1" and "tier 2 cases" in seed_one.facts
    observed = seed_one.tier2_cases[seed_one.tier2_cases["variant"] == VARIANTS[0]].drop_duplicates("perturbation")
    n_genes = observed["n_genes"]  # the facts count the observed responses' genes, not the case-free view's
    assert (f"{len(observed)} perturbations (measured genes: median {n_genes.median():.0f}, "
            f"{int((n_genes >= 30).sum())} with >= 30)") in seed_one.facts["tier 2 cases"]


def test_case_gain_table_is_observed_minus_blind_over_the_seeds(two_seeds, tmp_path):
    gains = pd.read_csv(write_report(two_seeds, tmp_path)["case_gain"], index_col=0)
    assert list(gains.index) == METHODS
    table = two_seeds.table
    first = {"T2": "network_only", "T2-cyto": "all_receptors", "T2-drug": "all_targets"}
    for dataset, prefix in ((TIER2_LABEL, "T2"), (CYTOKINE_LABEL, "T2-cyto"), (DRUG_LABEL, "T2-drug")):
        for method in METHODS:
            observed, blind = (table[(table["method"] == method) & (table["metric"] == "auroc")
                                     & (table["signature"] == f"{dataset}, {variant}")]["value"].mean()
                               for variant in (first[prefix], "case_blind"))
            assert gains.loc[method, f"{prefix} case gain"] == pytest.approx(observed - blind)
            assert gains.loc[method, f"{prefix}-blind auroc"] == pytest.approx(blind)
    # degree ranks every case alike: reading the case can earn it nothing
    assert (gains.loc["degree", ["T2 case gain", "T2-cyto case gain", "T2-drug case gain"]] == 0).all()
    assert "Tier 2: where the skill comes from" in (tmp_path / "report.md").read_text()


def test_seeds_csv_is_the_spread_of_the_per_seed_values(two_seeds, tmp_path):
    files = write_report(two_seeds, tmp_path)
    seeds = pd.read_csv(files["seeds"])
    assert list(seeds.columns) == ["method", "metric", *SEED_STATISTICS]
    assert set(pd.read_csv(files["table"])["seed"]) == {0, 1}
    table = two_seeds.table
    for method, metric, dataset, column in (("twincell", "auroc", T2, "T2 auroc"),
                                            ("degree", "recall_at_10", T2, "T2 recall_at_10"),
                                            ("twincell", "l2_ratio", TIER2_LABEL, "T1-perturbation l2_ratio")):
        values = table[(table["method"] == method) & (table["metric"] == metric)
                       & (table["signature"] == dataset)].sort_values("seed")["value"].to_numpy(float)
        row = seeds[(seeds["method"] == method) & (seeds["metric"] == column)].iloc[0]
        assert len(values) == 2 and row["n"] == 2
        assert row["mean"] == pytest.approx(values.mean())
        assert row["sd"] == pytest.approx(values.std(ddof=1))
        assert (row["min"], row["max"]) == pytest.approx((values.min(), values.max()))
        assert two_seeds.summary().loc[method, column] == pytest.approx(values.mean())
    assert not seeds["metric"].str.startswith("T3").any()
    md = files["markdown"].read_text()
    assert "Tiers 1-2 over 2 seeds (0, 1)" in md and "seed 0" in md


@pytest.mark.parametrize(("text", "seeds"), [("0-4", [0, 1, 2, 3, 4]), ("0,3,7", [0, 3, 7]),
                                             (" 7 ", [7]), ("0-2, 9", [0, 1, 2, 9]), ("5,2", [5, 2])])
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(("text", "message"), [("3-1", "backwards"), ("x", "not a seed"), ("", "not a seed"),
                                               ("1,,2", "not a seed"), ("-1", "not a seed"), ("0-2,2", "more than once"),
                                               ("0-999999999", "1000000000 seeds asked for; one run takes at most 100"),
                                               ("0-99,100", "101 seeds")])
def test_parse_seeds_refuses(text, message):
    with pytest.raises(TwinCellError, match=message) as err:
        parse_seeds(text)
    assert "--seeds 0-4" in err.value.hint


def test_run_benchmark_refuses_seed_with_seeds_and_no_seed():
    with pytest.raises(TwinCellError, match="not both"):
        run_benchmark((2,), ["degree"], seed=1, seeds=[0, 1])
    with pytest.raises(TwinCellError, match="no seed"):
        run_benchmark((2,), ["degree"], seeds=[])


def _cli(monkeypatch, capsys, args: list[str]) -> tuple[int, str]:
    """Run the ``twincell`` console entry point with ``args``; its exit code and printed output."""
    monkeypatch.setattr("sys.argv", ["twincell", *args])
    with pytest.raises(SystemExit) as stop:
        run()
    out = capsys.readouterr()
    return stop.value.code, out.out + out.err


def test_cli_passes_seed_ranges_and_refuses_bad_ones(monkeypatch, capsys, tmp_path):
    calls = []

    def record(tiers, methods, **kwargs):
        calls.append(kwargs)
        raise TwinCellError("recorded", "synthetic stop after the arguments were recorded")

    bench = ["bench", "--tiers", "1,2", "--out", str(tmp_path)]
    with monkeypatch.context() as patch:
        patch.setattr(twincell.bench, "run_benchmark", record)
        for args, seeds, seed in ((["--seeds", "0-4"], [0, 1, 2, 3, 4], None),
                                  (["--seeds", "0,3,7"], [0, 3, 7], None), (["--seed", "3"], None, 3), ([], None, None)):
            code, output = _cli(patch, capsys, [*bench, *args])
            assert code == 2 and "recorded" in output
            assert (calls[-1]["seeds"], calls[-1]["seed"]) == (seeds, seed)
        for args in (["--seeds", "3-1"], ["--seeds", "x"], ["--seeds", ""]):
            code, output = _cli(patch, capsys, [*bench, *args])
            assert code == 2 and "--seeds" in output and "hint" in output and "Traceback" not in output
        assert len(calls) == 4
    code, output = _cli(monkeypatch, capsys, [*bench, "--seed", "1", "--seeds", "0-2"])
    assert code == 2 and "not both" in output and "Traceback" not in output
