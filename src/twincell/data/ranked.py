"""Context-resolved drug signatures stored as ranked gene lists (montilab/sigrecon), as PerturbationDatasets.

Bundled: ``signatures_tahoe`` (Tahoe-100M, 110 drugs x 44 cancer cell lines), ``signatures_neurips`` (Open
Problems NeurIPS 2023 PBMC, 135 compounds x B / T / NK / myeloid cells) and ``signatures_sciplex`` (sci-Plex 3,
23 drugs x A549 / K562 / MCF7), indexed by ``signatures_index``.

The files hold ranks (1 = most up-regulated ... ``n_ranked`` = most down-regulated), not effect sizes. They are
turned into signed scores by one transform, the inverse-normal score of the rank::

    score = Phi^-1(1 - (rank - 0.5) / n_ranked)

so rank 1 gets the largest positive score, the last rank the most negative and the middle of the list ~0
(``value_type = "rank_inverse_normal"``, ``rank_derived = True``). Tahoe lists are truncated (only the top and
bottom 750 ranks stored): the unstored middle is ``NaN`` (not measured), never 0. Genes are mapped to HGNC
symbols through :class:`~twincell.data.genes.GeneMapper` (sci-Plex Ensembl IDs, Tahoe's leftover Ensembl IDs);
when two source IDs give one symbol within a signature, the score of larger magnitude (the more extreme rank)
is kept. Drug names map to targets through :class:`~twincell.data.drugs.DrugTargets`; unmatched drugs keep an
empty ``targets`` and are listed in ``uns["unmatched_perturbations"]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtri

from twincell.data.bundled import CATALOG, path
from twincell.data.drugs import DrugTargets
from twincell.data.genes import GeneMapper
from twincell.data.perturbation import PerturbationDataset, format_targets, matrix_from_long
from twincell.errors import DataFileError

RANKED_DATASETS = ("signatures_tahoe", "signatures_neurips", "signatures_sciplex")
RANKED_COLUMNS = ("dataset", "context", "perturbation", "rank", "n_ranked", "gene", "truncated")
TRANSFORM = "score = Phi^-1(1 - (rank - 0.5) / n_ranked): rank 1 most up (positive), rank n_ranked most down"


def rank_to_score(rank: np.ndarray, n_ranked: np.ndarray) -> np.ndarray:
    """Inverse-normal score of 1-based ranks in lists of length ``n_ranked`` (rank 1 -> largest positive)."""
    rank = np.asarray(rank, dtype=np.float64)
    n = np.asarray(n_ranked, dtype=np.float64)
    if np.any(rank < 1) or np.any(rank > n):
        raise DataFileError("ranks must lie in 1..n_ranked", "check the rank and n_ranked columns")
    return ndtri(1.0 - (rank - 0.5) / n)


def read_ranked_table(name_or_file: str) -> pd.DataFrame:
    """Read one ranked-signature parquet file (bundled name or path); checks its columns and values."""
    p = path(name_or_file) if name_or_file in RANKED_DATASETS else name_or_file
    try:
        df = pd.read_parquet(p, columns=list(RANKED_COLUMNS))
    except Exception as exc:  # pyarrow raises many types for malformed files
        raise DataFileError(f"cannot read ranked signatures {p}: {exc}",
                            f"pass a parquet file with columns {list(RANKED_COLUMNS)}") from exc
    if df.empty:
        raise DataFileError(f"ranked signature file {p} holds no rows", "pass a non-empty file")
    bad = df[["rank", "n_ranked", "gene", "context", "perturbation"]].isna().any(axis=1)
    if bad.any():
        raise DataFileError(f"{p}: {int(bad.sum())} rows have a missing rank, n_ranked, gene, context or perturbation",
                            "drop or fix those rows")
    return df


def load_ranked_signatures(name: str, *, mapper: GeneMapper | None = None,
                           drugs: DrugTargets | None = None) -> PerturbationDataset:
    """One bundled ranked-signature set (``signatures_tahoe`` / ``_neurips`` / ``_sciplex``) in the contract.

    Rows: (drug, context); columns: HGNC symbols; values: inverse-normal rank scores (see module docstring).
    ``obs`` adds ``n_ranked`` and ``truncated``.
    """
    if name not in RANKED_DATASETS:
        raise DataFileError(f"unknown ranked signature set {name!r}", f"choose one of {RANKED_DATASETS}")
    mapper = mapper or GeneMapper.default()
    drugs = drugs or DrugTargets.default()
    raw = read_ranked_table(name)
    categories = pd.Series(raw["gene"].cat.categories.astype(str))
    mapping = mapper.map(categories)
    symbol_codes, symbols = pd.factorize(categories.map(mapping.symbols))
    long = pd.DataFrame({
        "context": raw["context"], "perturbation": raw["perturbation"],
        "gene": pd.Categorical.from_codes(np.where(raw["gene"].cat.codes >= 0,
                                                   symbol_codes[raw["gene"].cat.codes], -1), categories=symbols),
        "value": rank_to_score(raw["rank"], raw["n_ranked"]),
        "n_ranked": raw["n_ranked"], "truncated": raw["truncated"]})
    rows, genes, X, n_dup = matrix_from_long(long, ["context", "perturbation"], row_values=["n_ranked", "truncated"])
    rows["perturbation"] = rows["perturbation"].astype(str).str.strip()
    matched, unmatched = drugs.match(rows["perturbation"].unique())
    entry = next(d for d in CATALOG if d.name == name)
    obs = pd.DataFrame({
        "perturbation": rows["perturbation"], "perturbation_type": "drug",
        "targets": rows["perturbation"].map(lambda p: format_targets(matched.get(p, {}))),
        "context": rows["context"], "dose": np.nan, "dataset": name,
        "n_ranked": rows["n_ranked"].astype(int), "truncated": rows["truncated"].astype(bool)})
    return PerturbationDataset.build(
        X, obs, genes, value_type="rank_inverse_normal", rank_derived=True, source=name,
        provenance={"origin": entry.origin, "licence": entry.licence, "file": str(path(name)),
                    "transform": TRANSFORM,
                    "missing": "genes not in a stored list are NaN (Tahoe keeps only the top and bottom 750 ranks)",
                    "duplicates": f"{n_dup} duplicate (signature, symbol) entries resolved by the larger |score|",
                    "targets": "DrugCentral 2016 via twincell.data.drugs (names normalised for case and salt forms)",
                    "dose": "highest dose per drug and context in the source; value not stored (NaN)"},
        unmapped_genes=mapping.unmapped, unmatched_perturbations=unmatched)
