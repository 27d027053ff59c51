"""benchmarks/eval_direction.py's tier-3 helpers: balanced accuracy by group, and how training perturbed a gene."""

from __future__ import annotations

import pandas as pd
import pytest

from twincell.data.perturbation import parse_targets
from twincell.data.training_data import load_default_training_data
from benchmark_scripts import load_script


@pytest.fixture(scope="module")
def script():
    """The script, imported from its file."""
    return load_script("eval_direction")


def test_balanced_accuracy_is_the_mean_of_the_two_actions_shares_with_no_direction_a_miss(script):
    # synthetic pairs: group a has 3 inhibited pairs (2 right, 1 without a direction) and 1 activated pair (wrong)
    rows = [("m", "a", -1, -1), ("m", "a", -1, -1), ("m", "a", -1, 0), ("m", "a", 1, -1),
            ("m", "b", -1, -1), ("m", "b", 1, 1), ("m", "b", 1, 1)]
    table = pd.DataFrame(rows, columns=["method", "seen", "known", "predicted"])
    out = script.balanced_by(table, ["method", "seen"])
    a, b = out.loc[("m", "a")], out.loc[("m", "b")]
    assert (a["pairs_inhibit"], a["pairs_activate"]) == (3, 1)
    assert a["right_inhibit"] == pytest.approx(0.667) and a["right_activate"] == 0.0
    assert a["balanced"] == pytest.approx(0.333)
    assert b["balanced"] == 1.0
    constant = table.assign(predicted=-1)  # "inhibit everything" scores 0.5 wherever both actions occur
    assert (script.balanced_by(constant, ["method", "seen"])["balanced"] == 0.5).all()


def test_training_perturbation_kind_labels_drug_targets_before_other_perturbations(script):
    kind = script.training_perturbation_kind()
    data = load_default_training_data()
    by_drugs = {g for d in data if (d.obs["perturbation_type"] == "drug").all()
                for t in d.obs["targets"] for g, s in parse_targets(t).items() if s != 0}
    assert by_drugs and {g for g, k in kind.items() if k == "drug"} == by_drugs
    assert set(kind.values()) == {"drug", "other"}
    assert kind["IFNAR1"] == "other"  # type I interferon's receptor: perturbed through CytoSig's IFN1 alone


def test_stated_direction_aurocs_rank_inhibited_targets_by_size_and_by_minus_score(script):
    """Synthetic scores: SYNA is the disease's inhibited target, SYNB its activated one (left out), SYNF is no drug
    target. When the score says "activate SYNA" the |score| ranking still puts it first, the "inhibit" ranking last."""
    known = pd.Series({("SLE", "SYNA"): -1, ("SLE", "SYNB"): 1})
    druggable = {"SYNA", "SYNB", "SYNC", "SYND", "SYNE"}
    genes = ["SYNA", "SYNB", "SYNC", "SYND", "SYNE", "SYNF"]
    scores = pd.DataFrame({"SLE_right": [-3.0, 5.0, 2.0, -1.0, 0.5, 10.0],
                           "SLE_wrong": [3.0, 5.0, 2.0, -1.0, 0.5, 10.0]}, index=genes)
    out = script.stated_direction_aurocs(scores, known, druggable).set_index("signature")
    assert (out["n_positives"] == 1).all() and (out["disease"] == "sle").all()
    assert out.loc["SLE_right", "both"] == 1.0 and out.loc["SLE_right", "inhibit"] == 1.0
    assert out.loc["SLE_wrong", "both"] == 1.0 and out.loc["SLE_wrong", "inhibit"] == 0.0
