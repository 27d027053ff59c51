"""Loaders of the bundled CytoSig cytokine signatures and LIANA ligand -> receptor pairs (real data)."""

from __future__ import annotations

import numpy as np
import pytest

from twincell.data.bundled import path
from twincell.data.cytosig import CYTOSIG_LIGANDS, load_cytosig, load_ligand_receptor, receptors_of


@pytest.fixture(scope="module")
def pairs():
    return load_ligand_receptor()


@pytest.fixture(scope="module")
def cytosig():
    return load_cytosig()


def test_ligand_receptor_pairs_split_receptor_complexes(pairs):
    assert list(pairs.columns) == ["ligand", "receptor_complex", "receptor"]
    assert pairs[["ligand", "receptor_complex"]].drop_duplicates().shape[0] == 4620
    ifn = pairs[pairs["receptor_complex"] == "IFNAR1_IFNAR2"]
    assert {"IFNAR1", "IFNAR2"} <= set(ifn["receptor"]) and "IFNA1" in set(ifn["ligand"])
    assert path("liana_lr").stat().st_size < 20e6


def test_receptors_of_matches_ligand_complexes(pairs):
    assert {"IL12RB1", "IL12RB2"} <= set(receptors_of(CYTOSIG_LIGANDS["IL12"], pairs))
    assert "IL23R" not in receptors_of(CYTOSIG_LIGANDS["IL12"], pairs)  # IL12B_IL23A is IL-23, not IL-12
    assert receptors_of(("IL17A",), pairs) == ["IL17RA", "IL17RC"]  # only listed as the IL17A_IL17F complex
    assert receptors_of(("NOT_A_LIGAND",), pairs) == []


def test_cytosig_dataset_contract(cytosig):
    cytosig.validate()
    assert cytosig.uns["value_type"] == "log_fold_change" and not cytosig.uns["rank_derived"]
    assert cytosig.n_obs == 42 and list(cytosig.uns["unmatched_perturbations"]) == ["NO"]
    assert set(cytosig.obs["perturbation_type"]) == {"cytokine"} and set(cytosig.obs["context"]) == {"consensus"}
    by_name = cytosig.obs.set_index("perturbation")["targets"]
    assert by_name["IFNG"].startswith("IFNGR1:+1;IFNGR2:+1")
    assert "TNFRSF1A:+1" in by_name["TNFA"] and "IL6R:+1" in by_name["IL6"]
    X = np.asarray(cytosig.X)
    assert X.shape[1] > 4800 and np.isfinite(X).all()
    # values are CytoSig's own: IFNG's signature raises the interferon-gamma response genes
    genes = list(cytosig.genes)
    ifng = X[list(by_name.index).index("IFNG")]
    assert ifng[genes.index("IRF1")] > 3.0 and ifng[genes.index("STAT1")] > 2.0
