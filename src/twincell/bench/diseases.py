"""Tier-3 inputs: approved-drug targets per disease and disease signatures, bundled or from files.

A disease is named by a short key (``SLE``, ``Parkinson``, ``Psoriasis``, ``Crohn``, ``UC`` in the
bundled data). A signature file names its disease by the prefix of its file name before the first
``_`` (``SLE_GSE50772_PBMC.tsv.gz`` -> ``SLE``); a target table has a ``disease`` column and a gene
column (``gene_symbol`` or ``gene``). New diseases therefore need only files, no code.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from twincell.data.bundled import path as bundled_path
from twincell.data.genes import GeneMapper
from twincell.data.signatures import Signature, list_disease_signatures, read_signature
from twincell.data.tables import read_user_table
from twincell.errors import DataFileError

TARGET_GENE_COLUMNS = ("gene_symbol", "gene")


def disease_of(signature_name: str) -> str:
    """Disease key of a signature: its name's prefix before the first ``_`` (the whole name if none)."""
    return signature_name.split("_", 1)[0]


def read_targets(file: str | os.PathLike | None = None) -> pd.DataFrame:
    """Approved-drug targets per disease, from the bundled ``approved_targets`` table or a user file.

    Parameters
    ----------
    file
        TSV/CSV (optionally ``.gz``) with a ``disease`` column and a ``gene_symbol`` or ``gene`` column
        (any gene ID kind; mapped to HGNC symbols). Further columns (drug, source) are ignored.

    Returns
    -------
    DataFrame
        Unique ``disease, gene`` rows. ``attrs["unmapped"]`` lists gene IDs that did not map.

    Raises
    ------
    DataFileError
        If the file is missing, unreadable, lacks the columns, or is empty.
    """
    p = bundled_path("approved_targets") if file is None else Path(file)
    raw = read_user_table(p, what="target file", hint="give a TSV/CSV with disease and gene_symbol columns",
                          dtype=str, keep_default_na=False)
    gene_col = next((c for c in TARGET_GENE_COLUMNS if c in raw.columns), None)
    if "disease" not in raw.columns or gene_col is None:
        raise DataFileError(f"target file {p} needs a 'disease' and a 'gene_symbol' (or 'gene') column; "
                            f"it has: {', '.join(raw.columns)}", "rename the columns")
    raw = raw[(raw["disease"].str.strip() != "") & (raw[gene_col].str.strip() != "")]
    if raw.empty:
        raise DataFileError(f"target file {p} lists no (disease, gene) pair", "add at least one row")
    mapping = GeneMapper.default().map(raw[gene_col].str.strip())
    genes = raw[gene_col].str.strip().map(mapping.symbols)
    out = (pd.DataFrame({"disease": raw["disease"].str.strip().to_numpy(), "gene": genes.to_numpy()})
           .dropna().drop_duplicates().sort_values(["disease", "gene"]).reset_index(drop=True))
    out.attrs["unmapped"] = list(mapping.unmapped)
    out.attrs["source"] = str(p)
    return out


def bundled_signatures() -> list[Signature]:
    """Every bundled disease signature, named by its file stem (``<Disease>_<study>``)."""
    folder = bundled_path("disease_signatures")
    return [read_signature(folder / f, name=f.removesuffix(".tsv.gz")) for f in list_disease_signatures()["file"]]


def read_signature_files(files: Iterable[str | os.PathLike]) -> list[Signature]:
    """User signature files (any format :func:`~twincell.data.signatures.read_signature` reads), named by file stem."""
    return [read_signature(f) for f in files]


@dataclass(frozen=True)
class ClinicalTask:
    """One disease of tier 3: its signatures and its approved targets.

    Attributes
    ----------
    disease
        Disease key.
    signatures
        The disease's signatures (may be empty: reported as "no signature").
    targets
        Approved targets that are candidate genes (the positives).
    targets_absent
        Approved targets that are not candidates (reported, cannot be ranked).
    """

    disease: str
    signatures: tuple[Signature, ...]
    targets: tuple[str, ...]
    targets_absent: tuple[str, ...]

    @property
    def status(self) -> str:
        """``scored``, ``no signature`` or ``no target in network``."""
        if not self.signatures:
            return "no signature"
        if not self.targets:
            return "no target in network"
        return "scored"


def clinical_tasks(signatures: Sequence[Signature], targets: pd.DataFrame, candidates: pd.Index) -> list[ClinicalTask]:
    """Group signatures and targets by disease (case-insensitive keys).

    Every disease with targets or signatures gets a task, so a disease without a signature, or a
    signature without targets, is reported rather than skipped.

    Parameters
    ----------
    signatures
        Disease signatures; the disease is the name's prefix (:func:`disease_of`).
    targets
        ``disease, gene`` table (:func:`read_targets`).
    candidates
        Candidate genes (the network's genes).
    """
    names: dict[str, str] = {}
    for d in list(targets["disease"]) + [disease_of(s.name) for s in signatures]:
        names.setdefault(d.lower(), d)
    tasks = []
    for key in sorted(names):
        genes = sorted(set(targets.loc[targets["disease"].str.lower() == key, "gene"]))
        sigs = tuple(s for s in signatures if disease_of(s.name).lower() == key)
        tasks.append(ClinicalTask(names[key], sigs, tuple(g for g in genes if g in candidates),
                                  tuple(g for g in genes if g not in candidates)))
    return tasks
