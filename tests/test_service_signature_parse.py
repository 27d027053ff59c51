"""The signature a request carries, parsed as the library parses it: rows collapsed per HGNC symbol (the most
significant row kept) exactly as a pandas formulation of the rule does, on synthetic tables with duplicated
symbols, ties, missing p-values and unmappable identifiers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twincell.data.genes import GeneMapper
from twincell.data.signatures import read_signature
from twincell.service.app import signature_from_mapping

SYMBOLS = ["STAT1", "IRF1", "JAK2", "IL10", "SOCS3", "CXCL10", "TP53", "EGFR"]


def _synthetic_table(seed: int, with_padj: bool) -> pd.DataFrame:
    """Synthetic DE table: symbols in several spellings (case, spaces), an unmappable ID, tied values."""
    rng = np.random.default_rng(seed)
    ids = [*SYMBOLS, *(s.lower() for s in SYMBOLS[:4]), *(f" {s} " for s in SYMBOLS[2:6]), "NOT_A_GENE_1", "STAT1"]
    logfc = np.round(rng.normal(0, 1, len(ids)), 1)  # rounded: ties in |logFC|
    logfc[rng.random(len(ids)) < 0.2] = 0.0
    table = pd.DataFrame({"gene": ids, "logFC": logfc})
    if with_padj:
        padj = np.round(rng.random(len(ids)), 1)
        padj[rng.random(len(ids)) < 0.3] = np.nan
        table["padj"] = padj
    return table.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _collapsed_by_pandas(table: pd.DataFrame) -> tuple[pd.Series, dict[str, list[str]]]:
    """Reference: sort by padj (missing last) then |logFC| descending, stable; keep each symbol's first row."""
    mapping = GeneMapper.default().map(table["gene"])
    frame = pd.DataFrame({"id": table["gene"], "logfc": table["logFC"],
                          "padj": table["padj"] if "padj" in table else np.nan})
    frame["gene"] = frame["id"].map(mapping.symbols)
    frame = frame.dropna(subset=["gene"])
    frame["abs"] = frame["logfc"].abs()
    frame = frame.sort_values(["padj", "abs"], ascending=[True, False], na_position="last", kind="stable")
    repeated = frame["gene"].duplicated(keep=False)
    merged = {g: ids.tolist() for g, ids in frame.loc[repeated].groupby("gene", sort=False)["id"]}
    kept = frame.drop_duplicates("gene").set_index("gene")["logfc"].rename("logfc")
    return kept, merged


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("with_padj", [True, False])
def test_read_signature_collapses_rows_as_the_pandas_rule(seed, with_padj):
    table = _synthetic_table(seed, with_padj)
    sig = read_signature(table)
    kept, merged = _collapsed_by_pandas(table)
    kept.index = kept.index.astype(object)  # pandas 3 infers its str dtype for the reference; the values must match
    pd.testing.assert_series_equal(sig.logfc, kept, check_exact=True)
    assert sig.merged == merged and sig.collapsed == list(merged)
    assert sig.unmapped == ["NOT_A_GENE_1"] and len(merged) >= 4
    if with_padj:
        pd.testing.assert_index_equal(sig.padj.index, kept.index)


def test_request_mapping_parses_as_the_table():
    """A JSON gene -> logFC mapping gives the signature of the same two-column table (sex genes left out)."""
    mapping = {"STAT1": 1.0, " STAT1 ": -2.0, "stat1": 2.0, "IRF1": 0.5, "XIST": 3.0, "NOT_A_GENE_1": 1.0}
    sig = signature_from_mapping(mapping)
    assert sig.logfc.to_dict() == {"STAT1": -2.0, "IRF1": 0.5}  # |-2.0| ties |2.0|: the first row in input order
    assert sig.merged == {"STAT1": [" STAT1 ", "stat1", "STAT1"]}
    assert sig.sex_genes_removed == ["XIST"] and sig.unmapped == ["NOT_A_GENE_1"]
