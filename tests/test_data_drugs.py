"""DrugCentral drug -> target table: signs, name normalisation, matching, per-gene summaries."""

from __future__ import annotations

import pandas as pd
import pytest

from twincell.data.bundled import path
from twincell.data.drugs import DrugTargets, action_sign, build_drug_targets, normalize_drug_name
from twincell.errors import DataFileError, TwinCellError


@pytest.fixture(scope="module")
def drugs() -> DrugTargets:
    return DrugTargets.default()


def test_action_signs():
    assert action_sign("INHIBITOR") == -1
    assert action_sign("antibody binding") == -1
    assert action_sign("PARTIAL AGONIST") == 1
    assert action_sign("MODULATOR") == 0
    assert action_sign(None) == 0


@pytest.mark.parametrize("raw, norm", [
    ("Tofacitinib citrate", "tofacitinib"), ("Trametinib (GSK1120212)", "trametinib"),
    ("Quisinostat (JNJ-26481585) 2HCl", "quisinostat"), ("Pitavastatin Calcium", "pitavastatin"),
    ("Selinexor ", "selinexor"), ("Ropivacaine hydrochloride monohydrate", "ropivacaine")])
def test_normalize_drug_name(raw, norm):
    assert normalize_drug_name(raw) == norm


def test_known_targets_with_signs(drugs):
    assert drugs.targets("Trametinib (GSK1120212)") == {"MAP2K1": -1, "MAP2K2": -1}
    assert drugs.targets("TOFACITINIB CITRATE") == drugs.targets("tofacitinib")
    assert set(drugs.targets("tofacitinib")) == {"JAK1", "JAK2", "JAK3", "TYK2"}
    # a multi-subunit receptor row gives every subunit the agonist sign
    assert drugs.targets("interferon beta-1a") == {"IFNAR1": 1, "IFNAR2": 1}


def test_lithium_salts_keep_their_active_moiety(drugs):
    """Lithium was dropped as a counter-ion: "lithium carbonate" normalised to "carbonate" (so calcium carbonate got
    lithium's targets), "lithium citrate" and "Lithium" (PharmacotherapyDB's name) to nothing."""
    assert normalize_drug_name("Lithium carbonate") == normalize_drug_name("lithium citrate") == "lithium"
    assert drugs.resolve("Lithium") == drugs.resolve("lithium sulfate") == ["lithium carbonate", "lithium citrate"]
    assert drugs.resolve("lithium citrate") == ["lithium citrate"]  # an exact name still wins
    assert drugs.targets("Lithium") == {"GSK3A": -1, "GSK3B": -1, "IMPA1": -1}
    assert drugs.resolve("calcium carbonate") == []
    hidden = drugs.without_drugs(["lithium carbonate"])  # hiding one salt hides the other
    assert not {"lithium carbonate", "lithium citrate"} & set(hidden.drugs)
    assert len(hidden.drugs) == len(drugs.drugs) - 2


def test_a_name_of_salt_words_alone_is_its_own_parent():
    """Synthetic table: "calcium carbonate" and "potassium chloride" are different drugs; each normalises to itself,
    so hiding one hides neither the other nor a lithium salt (an empty parent name grouped them all)."""
    from twincell.data.drugs import DrugTargets

    assert normalize_drug_name("Calcium carbonate") == "calcium carbonate"
    table = pd.DataFrame({"drug_id": [1, 2, 3],
                          "drug": ["calcium carbonate", "potassium chloride", "lithium carbonate"],
                          "gene": ["SYNA", "SYNB", "SYNC"], "sign": [-1, -1, -1], "action_type": "INHIBITOR"})
    kept = DrugTargets(table).without_drugs(["calcium carbonate"])
    assert sorted(kept.drugs) == ["lithium carbonate", "potassium chloride"]


def test_unknown_drug_is_a_clear_error(drugs):
    with pytest.raises(TwinCellError, match="not in the DrugCentral"):
        drugs.targets("not-a-drug-xyz")


def test_match_reports_unmatched(drugs):
    matched, unmatched = drugs.match(["Trametinib", "Dabrafenib", "g(+)-JQ1", "Trametinib"])
    assert set(matched) == {"Trametinib", "Dabrafenib"} and unmatched == ["g(+)-JQ1"]
    assert matched["Dabrafenib"]["BRAF"] == -1


def test_gene_summaries_against_raw_table(drugs):
    raw = pd.read_csv(path("drugcentral_targets"), sep="\t")
    assert {"MAP2K1", "NR3C1", "JAK1"} <= drugs.druggable_genes()
    n = drugs.n_drugs_per_gene()
    direct = raw[raw["GENE"] == "MAP2K1"]["DRUG_ID"].nunique()
    assert n["MAP2K1"] == direct
    ind = drugs.indication_counts_per_gene()
    assert set(ind.index) == drugs.druggable_genes()
    assert ind.is_monotonic_decreasing and ind.iloc[0] > 50
    # non-human targets are left out and counted; their gene names are reported as unmapped
    assert drugs.n_nonhuman_rows > 0 and "gyrA" in drugs.unmapped_genes


def test_sign_conflicts_and_bad_tables():
    raw = pd.DataFrame({"DRUG_ID": ["1", "1", "2", "2"], "DRUG_NAME": ["syn-a", "syn-a", "syn-b", "syn-b"],
                        "GENE": ["EGFR", "EGFR", "EGFR", "EGFR"], "UNIPROT": ["", "", "", ""],
                        "ACTION_TYPE": ["INHIBITOR", "AGONIST", "MODULATOR", "BLOCKER"]})
    dt = build_drug_targets(raw)
    assert dt.targets("syn-a") == {"EGFR": 0}  # opposite signs -> unknown direction
    assert dt.targets("syn-b") == {"EGFR": -1}  # non-zero wins over 0
    with pytest.raises(DataFileError, match="lacks columns"):
        build_drug_targets(raw.drop(columns=["ACTION_TYPE"]))


def test_universe_adds_approved_targets_that_drugcentral_lacks():
    """CAMLG (cyclosporine, SLE; DrugBank via PharmacotherapyDB) is not a DrugCentral 2016 target but is in the universe,
    as a target of DrugCentral's ciclosporin (the same drug under its INN), not of a second drug."""
    from twincell.data.drugs import APPROVED_ACTION, read_approved_targets

    central, universe = DrugTargets.default(), DrugTargets.universe()
    assert "CAMLG" not in central.druggable_genes()
    assert "CAMLG" in universe.druggable_genes()
    assert central.druggable_genes() <= universe.druggable_genes()
    assert set(read_approved_targets()["gene"]) <= universe.druggable_genes()
    row = universe.table[universe.table["gene"] == "CAMLG"].iloc[0]
    assert row["drug"] == "ciclosporin" and row["action_type"] == APPROVED_ACTION and row["sign"] == 0
    per_gene = universe.per_gene()
    assert per_gene.loc["CAMLG", "drug_actions"] == "unknown"
    drugs = per_gene.loc["JAK1", "drugs"].split(";")
    actions = per_gene.loc["JAK1", "drug_actions"].split(";")
    assert dict(zip(drugs, actions))["tofacitinib"] == "inhibitor"  # DrugCentral 2016: tofacitinib INHIBITOR JAK1
    assert "severe recalcitrant psoriasis" in universe.indications_per_gene()["CAMLG"]  # ciclosporin's, DrugCentral's


def test_approved_drug_names_resolve_to_drugcentral_under_their_other_names():
    """The approved-target table's USAN / common names find DrugCentral's INN entries: one drug, its action known,
    hidden together (TwinBench hides a disease's drugs by name)."""
    from twincell.data.drugs import DRUG_NAME_SYNONYMS, read_approved_targets

    central, universe = DrugTargets.default(), DrugTargets.universe()
    for name, inn in DRUG_NAME_SYNONYMS.items():
        assert central.resolve(name) == [inn] and central.resolve(name.upper()) == [inn]
        assert name not in universe.drugs  # no second copy under the approved table's spelling
    approved = {n.lower() for n in read_approved_targets()["drug"]}
    assert set(DRUG_NAME_SYNONYMS) <= approved
    assert central.targets("hydroxyurea") == {"RRM1": -1, "RRM2": -1}  # hydroxycarbamide: INHIBITOR
    hidden = universe.without_drugs(["cyclosporine"])
    assert "ciclosporin" not in hidden.drugs and "PPIA" not in hidden.druggable_genes()
