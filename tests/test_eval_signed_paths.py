"""benchmarks/eval_signed_paths.py on a synthetic network (SYN genes) and synthetic TF activities."""

from __future__ import annotations

import pandas as pd
import pytest

from twincell.network import Interactome
from benchmark_scripts import load_script


@pytest.fixture(scope="module")
def script():
    """The script, imported from its file."""
    return load_script("eval_signed_paths")


def _network() -> Interactome:
    """SYNK activates TF SYNT1 and inhibits TF SYNT2; SYNK - SYNX is unsigned; SYNY -> SYNT1 is undirected."""
    rows = [("SYNK", "SYNT1", 1, True, "ppi"), ("SYNK", "SYNT2", -1, True, "ppi"), ("SYNK", "SYNX", 0, True, "ppi"),
            ("SYNY", "SYNT1", 1, False, "ppi"),
            ("SYNT1", "SYNG1", 1, True, "tf"), ("SYNT2", "SYNG2", 1, True, "tf")]
    edges = pd.DataFrame(rows, columns=["source", "target", "sign", "directed", "layer"]).assign(
        weight=1.0, sources="synthetic")
    return Interactome(edges)


def test_known_sign_edges_keep_signed_directed_ppi_edges(script):
    edges = script.known_sign_edges(_network())
    assert set(zip(edges["source"], edges["target"], edges["sign"])) == {("SYNK", "SYNT1", 1), ("SYNK", "SYNT2", -1)}


def test_predictions_and_agreement_with_a_drug_permutation(script):
    """Inhibiting SYNK predicts SYNT1 down (hop 1, -1 x +1) and SYNT2 up (-1 x -1); a drug on TF SYNT1 predicts its
    own activity (hop 0). Agreement counts only pairs with a non-zero activity, in the mapped drug's response."""
    tfs = pd.Index(["SYNT1", "SYNT2"])
    edges = script.known_sign_edges(_network())
    pairs = script.prediction_pairs({"syn-inhibitor": {"SYNK": -1}, "syn-agonist": {"SYNT1": 1}}, tfs, edges)
    got = {(r.drug, r.tf, r.hop, r.predicted) for r in pairs.itertuples()}
    assert got == {("syn-inhibitor", "SYNT1", 1, -1), ("syn-inhibitor", "SYNT2", 1, 1), ("syn-agonist", "SYNT1", 0, 1)}
    activity = pd.DataFrame({"syn-inhibitor": [-2.0, 0.0], "syn-agonist": [1.5, 3.0]}, index=tfs).stack()
    assert script.agreement(pairs, activity) == (2, 2)  # SYNT2 has no activity under the inhibitor
    swapped = {"syn-inhibitor": "syn-agonist", "syn-agonist": "syn-inhibitor"}
    assert script.agreement(pairs, activity, swapped) == (1, 3)  # only SYNT2 up under the agonist's response agrees
