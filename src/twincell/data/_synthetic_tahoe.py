"""SYNTHETIC Tahoe-100M directories in the exact published schema, for tests and benchmarks only.

The layout, column names, Arrow types, the CLS marker at element 0, the ``DMSO_TF`` control, the
``Trametinib (DMSO_TF solvate)`` trap, a trailing-space name in ``drugname_drugconc``, a null SMILES, plate
sorting and 1,000-row row groups follow the published schema's fixture recipe (``tahoe100m_schema.md`` section 12,
kept with the team's reference notes; summarised in docs/data.md, *Tahoe-100M*). Gene tokens carry real HGNC
symbols / Ensembl IDs (so that mapping is exercised) plus one deliberately unmappable ID; every count is
random (Poisson) and means nothing biologically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from twincell.data.genes import GeneMapper

SYNTHETIC_UNMAPPED_ENSEMBL = "ENSG00000000000"  # not a gene: checks that unmapped tokens are reported
CELL_LINES = (("CVCL_0023", "A549"), ("CVCL_0004", "K-562"), ("CVCL_0031", "MCF7"))
# (drug, name inside drugname_drugconc, targets, moa-broad, smiles): targets as listed by real annotations.
DRUGS = (
    ("Trametinib (DMSO_TF solvate)", "Trametinib (DMSO_TF solvate)", "MAP2K1, MAP2K2", "inhibitor/antagonist", "C"),
    ("Erdafitinib", "Erdafitinib ", "FGFR1|FGFR2|FGFR3|FGFR4", "inhibitor/antagonist", "CC"),
    ("Infigratinib", "Infigratinib", "FGFR1, FGFR2, FGFR3", "inhibitor/antagonist", None),
)


def synthetic_gene_table(n_genes: int) -> pd.DataFrame:
    """``gene_metadata`` rows: tokens 3.., real HGNC genes in ascending Ensembl order, last one unmappable."""
    hgnc = GeneMapper.default().hgnc
    real = hgnc[hgnc["ensembl"].str.startswith("ENSG")].sort_values("ensembl").iloc[: n_genes - 1]
    ens = [*real["ensembl"], SYNTHETIC_UNMAPPED_ENSEMBL]
    sym = [*real["symbol"], SYNTHETIC_UNMAPPED_ENSEMBL]
    order = np.argsort(ens)
    return pd.DataFrame({"gene_symbol": np.asarray(sym)[order], "ensembl_id": np.asarray(ens)[order],
                         "token_id": np.arange(3, 3 + n_genes, dtype=np.int64)})


def synthetic_samples(plates: tuple[str, ...]) -> pd.DataFrame:
    """``sample_metadata``: per plate two DMSO_TF wells and one well per drug (dose 0.05 on odd plates, else 5.0)."""
    rows = []
    k = 1000
    for p_i, plate in enumerate(plates):
        dose = 0.05 if p_i % 2 == 0 else 5.0
        wells = [("DMSO_TF", "DMSO_TF", 0.0)] * 2 + [(d, inner, dose) for d, inner, *_ in DRUGS]
        for drug, inner, dz in wells:
            k += 1
            rows.append({"sample": f"smp_{k}", "plate": plate, "mean_gene_count": 0.0, "mean_tscp_count": 0.0,
                         "mean_mread_count": 0.0, "mean_pcnt_mito": 0.0, "drug": drug,
                         "drugname_drugconc": repr([(inner, dz, "uM")])})
    return pd.DataFrame(rows)


def _expression_table(rng: np.random.Generator, n_cells: int, wells: pd.DataFrame, genes: pd.DataFrame,
                      detect: float) -> pa.Table:
    """One shard's cells: random well and cell line, Bernoulli-detected genes with Poisson counts >= 1."""
    n_genes = len(genes)
    w = rng.integers(0, len(wells), n_cells)
    line = rng.integers(0, len(CELL_LINES), n_cells)
    mask = rng.random((n_cells, n_genes)) < detect
    r, c = np.nonzero(mask)
    rate = 1.0 + 3.0 * ((c * (w[r] + 1) + line[r]) % 5)
    counts = rng.poisson(rate) + 1
    lengths = mask.sum(axis=1) + 1
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
    tok = np.empty(offsets[-1], dtype=np.int64)
    val = np.empty(offsets[-1], dtype=np.float32)
    tok[offsets[:-1]], val[offsets[:-1]] = 1, -2.0
    body = np.ones(offsets[-1], dtype=bool)
    body[offsets[:-1]] = False
    tok[body] = genes["token_id"].to_numpy()[c]
    val[body] = counts
    drug = wells["drug"].to_numpy()[w]
    return pa.table({
        "genes": pa.ListArray.from_arrays(pa.array(offsets), pa.array(tok, pa.int64())),
        "expressions": pa.ListArray.from_arrays(pa.array(offsets), pa.array(val, pa.float32())),
        "drug": pa.array(drug, pa.string()),
        "sample": pa.array(wells["sample"].to_numpy()[w], pa.string()),
        "BARCODE_SUB_LIB_ID": pa.array([f"{i % 96:02d}_{i % 97:03d}_{i % 98:03d}-lib_1105" for i in range(n_cells)],
                                       pa.string()),
        "cell_line_id": pa.array(np.array([c for c, _ in CELL_LINES])[line], pa.string()),
        "moa-fine": pa.array(np.where(drug == "DMSO_TF", "unclear", "kinase inhibitor"), pa.string()),
        "canonical_smiles": pa.array(np.full(n_cells, "C"), pa.string()),
        "pubchem_cid": pa.array(np.full(n_cells, "1923.0"), pa.string()),
        "plate": pa.array(wells["plate"].to_numpy()[w], pa.string()),
    })


def write_synthetic_tahoe(root: str | Path, *, n_cells: int = 4000, n_shards: int = 2, n_genes: int = 40,
                          detect: float = 0.3, plates: tuple[str, ...] = ("plate1", "plate2"), seed: int = 0,
                          row_group_size: int = 1000, chunk_cells: int = 200_000) -> Path:
    """Write a SYNTHETIC Tahoe-100M directory (``data/`` shards sorted by plate + ``metadata/``); returns ``root``.

    Cells are spread evenly over the plates; shard ``i`` holds a contiguous run of cells. Each shard is
    written in chunks of ``chunk_cells`` so that millions of cells fit in memory. Files use pyarrow's
    defaults (snappy, dictionary encoding, statistics): the compression of the real shards is not
    documented, and their size (~3 KB per cell) fits dictionary-encoded lists.
    """
    root = Path(root)
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    genes = synthetic_gene_table(n_genes)
    samples = synthetic_samples(plates)
    genes.to_parquet(root / "metadata" / "gene_metadata.parquet", index=False)
    samples.to_parquet(root / "metadata" / "sample_metadata.parquet", index=False)
    pd.DataFrame([{"drug": d, "targets": t, "moa-broad": m, "moa-fine": "kinase inhibitor", "human-approved": "yes",
                   "clinical-trials": "yes", "gpt-notes-approval": "synthetic", "canonical_smiles": s,
                   "pubchem_cid": 1923.0} for d, _, t, m, s in DRUGS]).to_parquet(
        root / "metadata" / "drug_metadata.parquet", index=False)
    lines = [*CELL_LINES, ("CVCL_0030", "HeLa")]  # the last line has no cells, as in the real table
    pd.DataFrame([{"cell_name": n, "Cell_ID_DepMap": "", "Cell_ID_Cellosaur": c, "Organ": "", "Driver_Gene_Symbol": g,
                   "Driver_VarZyg": "", "Driver_VarType": "", "Driver_ProtEffect_or_CdnaEffect": "",
                   "Driver_Mech_InferDM": "", "Driver_GeneType_DM": ""} for c, n in lines for g in ("TP53", "KRAS")]
                 ).to_parquet(root / "metadata" / "cell_line_metadata.parquet", index=False)
    plate_of_cell = np.repeat(np.arange(len(plates)), np.diff(np.linspace(0, n_cells, len(plates) + 1).astype(int)))
    bounds = np.linspace(0, n_cells, n_shards + 1).astype(int)
    for s in range(n_shards):
        name = root / "data" / f"train-{s:05d}-of-{n_shards:05d}.parquet"
        writer = None
        for start in range(bounds[s], bounds[s + 1], chunk_cells):
            stop = min(start + chunk_cells, bounds[s + 1])
            table = pa.concat_tables([  # one write per chunk: a row group can straddle two plates, as in Tahoe
                _expression_table(rng, int((plate_of_cell[start:stop] == p).sum()),
                                  samples[samples["plate"] == plates[p]], genes, detect)
                for p in np.unique(plate_of_cell[start:stop])])
            writer = writer or pq.ParquetWriter(name, table.schema)
            writer.write_table(table, row_group_size=row_group_size)
        if writer is not None:
            writer.close()
    return root
