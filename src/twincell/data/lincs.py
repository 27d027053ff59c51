"""LINCS L1000 over-expression consensus signatures (bundled ``lincs_overexpression``) as a PerturbationDataset.

Source: dhimmel/lincs consensus signatures (``dysreg-overexpression.tsv``): for each of 2,088 over-expressed
genes (perturbagen = Entrez ID), the response genes that passed a Bonferroni cut, with their consensus
moderated z-score across cell lines. Genes that did not pass the cut were not published, so they are
``NaN`` (not measured), never 0. One context, ``consensus``.
"""

from __future__ import annotations

import pandas as pd

from twincell.data.bundled import path
from twincell.data.genes import GeneMapper
from twincell.data.perturbation import PerturbationDataset, format_targets, matrix_from_long
from twincell.errors import DataFileError

LINCS_COLUMNS = ("perturbagen", "entrez_gene_id", "z_score")
DATASET = "lincs_overexpression"


def read_lincs_table(file: str | None = None) -> pd.DataFrame:
    """Read the raw consensus table (default: the bundled file); checks its columns."""
    p = path(DATASET) if file is None else file
    try:
        df = pd.read_csv(p, sep="\t", dtype={"perturbagen": str, "entrez_gene_id": str})
    except Exception as exc:  # pandas raises many types for malformed files
        raise DataFileError(f"cannot read LINCS table {p}: {exc}", "pass a tab-separated dysreg table") from exc
    missing = [c for c in LINCS_COLUMNS if c not in df.columns]
    if missing:
        raise DataFileError(f"LINCS table {p} lacks columns {missing}", f"it needs {list(LINCS_COLUMNS)}")
    values = pd.to_numeric(df["z_score"], errors="coerce")
    text = df.index[values.isna() & df["z_score"].notna()]
    if len(text):
        raise DataFileError(f"LINCS table {p} has {len(text)} z-score(s) that are not numbers (e.g. "
                            f"{df.loc[text[0], 'z_score']!r} on line {text[0] + 2})", "fix or drop those rows")
    df["z_score"] = values
    if df["z_score"].isna().any():
        raise DataFileError(f"LINCS table {p} has {int(df['z_score'].isna().sum())} rows without a z-score",
                            "drop or fix those rows")
    return df


def load_lincs_overexpression(file: str | None = None, mapper: GeneMapper | None = None) -> PerturbationDataset:
    """LINCS L1000 over-expression consensus signatures in the perturbation contract.

    Rows: one per over-expressed gene (its HGNC symbol; target ``GENE:+1``), context ``consensus``.
    Columns: response genes (Entrez -> HGNC symbol), values = consensus z-scores, ``NaN`` where not significant.
    Perturbagens or response genes whose Entrez ID does not map are dropped and listed in ``uns``.
    """
    mapper = mapper or GeneMapper.default()
    raw = read_lincs_table(file)
    pert = mapper.map(raw["perturbagen"], kind="entrez")
    resp = mapper.map(raw["entrez_gene_id"], kind="entrez")
    long = pd.DataFrame({"perturbation": raw["perturbagen"].map(pert.symbols),
                         "gene": raw["entrez_gene_id"].map(resp.symbols), "value": raw["z_score"]}).dropna()
    rows, genes, X, n_dup = matrix_from_long(long, ["perturbation"])
    obs = pd.DataFrame({
        "perturbation": rows["perturbation"], "perturbation_type": "overexpression",
        "targets": [format_targets({p: 1}) for p in rows["perturbation"]], "context": "consensus",
        "dose": float("nan"), "dataset": DATASET,
        "n_significant": (~pd.isna(X)).sum(axis=1)})
    return PerturbationDataset.build(
        X, obs, genes, value_type="zscore", source=DATASET,
        provenance={"origin": "dhimmel/lincs @726793b data/consensi/signif/dysreg-overexpression.tsv",
                    "file": str(path(DATASET) if file is None else file), "licence": "CC0 (dhimmel); LINCS data public",
                    "values": "consensus moderated z-score across cell lines; only Bonferroni-significant genes stored",
                    "missing": "genes not significant for a perturbagen are NaN",
                    "duplicates": f"{n_dup} duplicate (perturbagen, symbol) entries resolved by the largest |z|",
                    "perturbagens_unmapped": str(len(pert.unmapped))},
        unmapped_genes=resp.unmapped, unmatched_perturbations=pert.unmapped)
