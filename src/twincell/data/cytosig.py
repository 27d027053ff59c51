"""Cytokine perturbations: CytoSig response signatures entering through LIANA ligand -> receptor pairs.

* ``load_ligand_receptor()``: LIANA's 4,620 consensus ligand -> receptor pairs (bundled ``liana_lr``),
  one row per (ligand, receptor complex, receptor subunit).
* ``load_cytosig()``: CytoSig's consensus responses of 43 cytokines (bundled ``cytosig``; Jiang et al.,
  Nat Methods 2021) as a :class:`~twincell.data.perturbation.PerturbationDataset`: one row per
  cytokine, values = consensus log fold changes over many public treatment experiments, context
  ``consensus`` (no single cell type). A cytokine acts from outside the cell, so its targets are the
  receptor subunits of its ligand genes (``RECEPTOR:+1``, every LIANA receptor of the ligand): the
  signal enters the interactome at the receptors and must travel receptor -> kinase -> TF to reach
  the transcriptome.
"""

from __future__ import annotations

import pandas as pd

from twincell.data.bundled import path, read_table
from twincell.data.genes import GeneMapper
from twincell.data.perturbation import PerturbationDataset, format_targets
from twincell.errors import DataFileError

DATASET = "cytosig"
CONTEXT = "consensus"
#: CytoSig's column names -> HGNC symbols of the ligand genes (nomenclature only; names already HGNC
#: symbols map to themselves). NO (nitric oxide) is not a protein and has no receptor in LIANA.
CYTOSIG_LIGANDS: dict[str, tuple[str, ...]] = {
    "Activin A": ("INHBA",), "CD40L": ("CD40LG",), "GCSF": ("CSF3",), "GMCSF": ("CSF2",), "MCSF": ("CSF1",),
    "IFN1": ("IFNA1", "IFNA2", "IFNB1"), "IFNL": ("IFNL1", "IFNL2", "IFNL3"), "IL12": ("IL12A", "IL12B"),
    "IL27": ("EBI3", "IL27"),
    "IL36": ("IL36A", "IL36B", "IL36G"), "TNFA": ("TNF",), "TRAIL": ("TNFSF10",), "TWEAK": ("TNFSF12",),
}
LR_COLUMNS = ("ligand", "receptor")


def load_ligand_receptor() -> pd.DataFrame:
    """LIANA consensus ligand -> receptor pairs (bundled ``liana_lr``), one row per receptor subunit.

    Returns
    -------
    pd.DataFrame
        ``ligand, receptor_complex, receptor`` (HGNC symbols as LIANA writes them; complexes are joined
        by ``_``, e.g. ligand ``IL12A_IL12B``, receptor complex ``IFNAR1_IFNAR2``, which gives one row
        per receptor subunit).
    """
    df = read_table("liana_lr", LR_COLUMNS)
    out = df[["ligand", "receptor"]].dropna().rename(columns={"receptor": "receptor_complex"})
    out["receptor"] = out["receptor_complex"].str.split("_")
    return out.explode("receptor").drop_duplicates(ignore_index=True)


def receptors_of(ligands: tuple[str, ...], pairs: pd.DataFrame) -> list[str]:
    """Sorted receptor subunits of a cytokine made of the genes ``ligands``.

    A LIANA ligand (complex) matches when all its subunits are among ``ligands``; a cytokine without
    such a match (e.g. IL17A, listed only as the IL17A_IL17F complex) takes the complexes that contain
    one of its genes.
    """
    subunits = pairs["ligand"].str.split("_")
    wanted = set(ligands)
    exact = subunits.map(lambda s: set(s) <= wanted)
    match = exact if exact.any() else subunits.map(lambda s: bool(wanted & set(s)))
    return sorted(set(pairs.loc[match, "receptor"]))


def load_cytosig(file: str | None = None, mapper: GeneMapper | None = None) -> PerturbationDataset:
    """CytoSig cytokine response signatures in the perturbation contract.

    Rows: one per cytokine with a LIANA receptor (type ``cytokine``, targets = its receptor subunits,
    ``+1``), context ``consensus``. Columns: response genes (symbols mapped to current HGNC), values =
    consensus log fold changes. Cytokines without a receptor and genes that do not map are listed in ``uns``.
    """
    mapper = mapper or GeneMapper.default()
    p = path(DATASET) if file is None else file
    try:
        raw = pd.read_csv(p, sep="\t", index_col=0)
    except Exception as exc:  # pandas raises many types for malformed files
        raise DataFileError(f"cannot read CytoSig table {p}: {exc}", "pass CytoSig's tab-separated signature.centroid") from exc
    if raw.empty or not all(pd.api.types.is_numeric_dtype(t) for t in raw.dtypes):
        raise DataFileError(f"CytoSig table {p} is empty or has non-numeric values",
                            "rows = genes, columns = cytokines, values = log fold changes")
    genes = mapper.map(raw.index.astype(str))
    mapped = raw[raw.index.astype(str).isin(genes.symbols)]
    mapped.index = [genes.symbols[g] for g in mapped.index.astype(str)]
    mapped = mapped.groupby(level=0).mean()
    pairs = load_ligand_receptor()
    names, targets, unmatched = [], [], []
    for name in raw.columns:
        receptors = receptors_of(CYTOSIG_LIGANDS.get(name, (name,)), pairs)
        if receptors:
            names.append(name)
            targets.append(format_targets({r: 1 for r in receptors}))
        else:
            unmatched.append(name)
    obs = pd.DataFrame({"perturbation": names, "perturbation_type": "cytokine", "targets": targets,
                        "context": CONTEXT, "dose": float("nan"), "dataset": DATASET})
    return PerturbationDataset.build(
        mapped[names].T.to_numpy(), obs, mapped.index, value_type="log_fold_change", source=DATASET,
        provenance={"origin": "PyPI CytoSig 0.0.3, CytoSig/signature.centroid (Jiang et al., Nat Methods 2021)",
                    "file": str(p), "licence": "GPL-3.0",
                    "values": "consensus log fold change of each cytokine over many public treatment experiments",
                    "targets": "receptor subunits of the cytokine's ligand genes in LIANA's consensus resource",
                    "duplicates": "response genes mapping to one symbol are averaged"},
        unmapped_genes=genes.unmapped, unmatched_perturbations=unmatched)
