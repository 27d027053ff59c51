"""Gene identifier mapping on the bundled HGNC, LINCS, Geneformer and PathLinker tables."""

from __future__ import annotations

import pandas as pd
import pytest

from twincell.data.genes import GeneMapper, detect_kind


@pytest.fixture(scope="module")
def mapper() -> GeneMapper:
    return GeneMapper.default()


@pytest.mark.parametrize(("ident", "symbol", "via"), [
    ("STAT1", "STAT1", "symbol"),
    ("stat1", "STAT1", "symbol"),
    ("6772", "STAT1", "entrez"),
    ("6772.0", "STAT1", "entrez"),    # from a float column (one NaN makes a column of Entrez IDs float)
    ("ENSG00000115415", "STAT1", "ensembl"),
    ("ENSG00000115415.19", "STAT1", "ensembl"),
    ("P42224", "STAT1", "uniprot"),
    ("AARS", "AARS1", "alias"),       # previous symbol, via LINCS gene info (Entrez 16)
    ("SEPT9", "SEPTIN9", "alias"),    # previous symbol
    ("C10orf99", "C10orf99", "symbol"),
    ("B3GNT9", "B3GNT9", "symbol"),    # a symbol shaped like a UniProt accession
    ("H2BC21", "H2BC21", "symbol"),
    ("H2AFY2", "MACROH2A2", "alias"),  # previous symbols shaped like UniProt accessions (were unmapped)
    ("H2AC25", "H2AW", "alias"),
    ("H2BC26", "H2BU1", "alias"),
])
def test_known_identifiers_map_to_current_symbols(mapper, ident, symbol, via):
    res = mapper.map([ident])
    assert res.symbols == {ident: symbol}
    assert res.via[ident] == via
    assert not res.unmapped


def test_an_accession_of_the_uniprot_table_stays_one_when_it_is_also_a_previous_symbol():
    """Synthetic tables: a previous symbol shaped like an accession maps as a symbol only when the UniProt table
    does not know it as an accession."""
    hgnc = pd.DataFrame({"symbol": ["GENEA", "GENEB"], "entrez": ["1", "2"], "ensembl": ["", ""]})
    mapper = GeneMapper(hgnc, {"P11111": "GENEA", "Q22222": "GENEA"}, {"P11111": "GENEB"})
    res = mapper.map(["P11111", "Q22222", "p11111"])
    assert res.symbols == {"P11111": "GENEB", "Q22222": "GENEA", "p11111": "GENEA"}
    assert res.via == {"P11111": "uniprot", "Q22222": "alias", "p11111": "alias"}


def test_unmapped_identifiers_are_reported_not_dropped(mapper):
    res = mapper.map(["STAT1", "NOT_A_GENE", "99999999", "ENSG99999999999"])
    assert list(res.symbols) == ["STAT1"]
    assert res.unmapped == ["NOT_A_GENE", "99999999", "ENSG99999999999"]
    assert "NOT_A_GENE" in res.summary()
    assert mapper.to_symbols(["NOT_A_GENE", "6772"]) == [None, "STAT1"]


def test_forced_kind_does_not_guess(mapper):
    assert mapper.map(["6772"], kind="symbol").unmapped == ["6772"]


def test_detect_kind():
    assert detect_kind("ENSG00000115415") == "ensembl"
    assert detect_kind("6772") == "entrez" and detect_kind("6772.0") == "entrez" and detect_kind("6772.5") != "entrez"
    assert detect_kind("P42224") == "uniprot"
    assert detect_kind("TNFRSF13B") == "symbol"
