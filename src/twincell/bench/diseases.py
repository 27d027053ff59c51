"""Tier-3 inputs: approved-drug targets per disease and disease signatures, bundled or from files.

A disease is named by a short key (``SLE``, ``Parkinson``, ``Psoriasis``, ``Crohn``, ``UC`` in the
bundled data). A signature file names its disease by the prefix of its file name before the first
``_`` (``SLE_GSE50772_PBMC.tsv.gz`` -> ``SLE``); a target table has a ``disease`` column and a gene
column (``gene_symbol`` or ``gene``), and optionally a ``drug`` column (the approved drug: its action
on the target gives the direction checked by ``direction_accuracy``). New diseases therefore need
only files, no code.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from twincell.data.bundled import path as bundled_path
from twincell.data.drugs import DrugTargets
from twincell.data.genes import GeneMapper
from twincell.data.signatures import Signature, list_disease_signatures, read_signature
from twincell.data.tables import read_user_table
from twincell.errors import DataFileError, TwinCellError

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
        (any gene ID kind; mapped to HGNC symbols), optionally ``drug``. Further columns are ignored.

    Returns
    -------
    DataFrame
        Unique ``disease, gene`` rows with ``drugs`` (``;``-joined approved drugs of that pair, empty
        without a ``drug`` column). ``attrs["unmapped"]`` lists gene IDs that did not map, ``attrs["blank_rows"]``
        counts rows left out for an empty disease or gene.

    Raises
    ------
    DataFileError
        If the file is missing, unreadable, lacks the columns, is empty, or none of its gene IDs maps to a gene.
    """
    p = bundled_path("approved_targets") if file is None else Path(file)
    raw = read_user_table(p, what="target file", hint="give a TSV/CSV with disease and gene_symbol columns",
                          dtype=str, keep_default_na=False)
    gene_col = next((c for c in TARGET_GENE_COLUMNS if c in raw.columns), None)
    if "disease" not in raw.columns or gene_col is None:
        raise DataFileError(f"target file {p} needs a 'disease' and a 'gene_symbol' (or 'gene') column; "
                            f"it has: {', '.join(raw.columns)}", "rename the columns")
    filled = (raw["disease"].str.strip() != "") & (raw[gene_col].str.strip() != "")
    blank_rows = int((~filled).sum())
    raw = raw[filled]
    if raw.empty:
        raise DataFileError(f"target file {p} lists no (disease, gene) pair", "add at least one row")
    mapping = GeneMapper.default().map(raw[gene_col].str.strip())
    genes = raw[gene_col].str.strip().map(mapping.symbols)
    drugs = raw["drug"].str.strip() if "drug" in raw.columns else pd.Series("", index=raw.index)
    pairs = (pd.DataFrame({"disease": raw["disease"].str.strip().to_numpy(), "gene": genes.to_numpy(),
                           "drug": drugs.to_numpy()}).dropna(subset=["gene"]))
    if pairs.empty:
        raise DataFileError(f"no gene ID of target file {p} maps to a gene (e.g. {', '.join(mapping.unmapped[:5])})",
                            "use HGNC symbols, Ensembl, Entrez or UniProt IDs in the gene column")
    out = (pairs.groupby(["disease", "gene"], as_index=False)
           .agg(drugs=("drug", lambda d: ";".join(sorted({x for x in d if x}))))
           .sort_values(["disease", "gene"]).reset_index(drop=True))
    out.attrs["unmapped"] = list(mapping.unmapped)
    out.attrs["blank_rows"] = blank_rows
    out.attrs["source"] = str(p)
    return out


def approved_directions(targets: pd.DataFrame, drugs: DrugTargets) -> pd.Series:
    """The direction in which each disease's approved drugs act on each target, where the drug table knows it.

    Parameters
    ----------
    targets
        :func:`read_targets` output (``disease, gene, drugs``).
    drugs
        Drug -> target table with action signs (:func:`twincell.data.drugs.action_sign`: inhibitor,
        antagonist, blocker, negative modulator, ... -1; agonist, activator, positive modulator, opener,
        ... +1; other or unknown actions 0).

    Returns
    -------
    Series
        (disease, gene) -> +1 (activate) / -1 (inhibit), only for pairs whose approved drugs, as
        resolved in ``drugs``, act on the gene in one direction (pairs without a drug, with unknown
        actions or with opposite actions are left out).
    """
    sign = {(d, g): int(s) for d, g, s in zip(drugs.table["drug"], drugs.table["gene"], drugs.table["sign"])}
    out = {}
    for disease, gene, names in targets[["disease", "gene", "drugs"]].itertuples(index=False):
        signs = {sign.get((resolved, gene), 0) for name in names.split(";") if name for resolved in drugs.resolve(name)}
        signs.discard(0)
        if len(signs) == 1:
            out[(disease, gene)] = signs.pop()
    return pd.Series(out, dtype=int, name="direction")


def bundled_signatures() -> list[Signature]:
    """Every bundled disease signature, named by its file stem (``<Disease>_<study>``)."""
    folder = bundled_path("disease_signatures")
    return [read_signature(folder / f, name=f.removesuffix(".tsv.gz")) for f in list_disease_signatures()["file"]]


def read_signature_files(files: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Signature]:
    """User signature files (any format :func:`~twincell.data.signatures.read_signature` reads), named by file stem;
    one path may be given alone."""
    return [read_signature(f) for f in ([files] if isinstance(files, (str, os.PathLike)) else files)]


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
    drugs
        The disease's approved drugs named by the target table (its ``drugs`` column; empty without one): the
        answer, hidden from the methods that rank from the drug table
        (:meth:`~twincell.bench.methods.Method.hiding_drugs`).
    """

    disease: str
    signatures: tuple[Signature, ...]
    targets: tuple[str, ...]
    targets_absent: tuple[str, ...]
    drugs: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """``scored``, ``no signature``, ``no target listed`` or ``no target in network``."""
        if not self.signatures:
            return "no signature"
        if not self.targets:
            return "no target in network" if self.targets_absent else "no target listed"
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
        ``disease, gene`` table, optionally with ``drugs`` (:func:`read_targets`).
    candidates
        Candidate genes (the network's genes).

    Raises
    ------
    TwinCellError
        If two signatures have the same name (their scores would be mixed).
    """
    seen = pd.Series([s.name for s in signatures], dtype=object)
    twice = sorted(set(seen[seen.duplicated()]))
    if twice:
        raise TwinCellError(f"several disease signatures are named {', '.join(twice)}",
                            "give each signature file its own name (<Disease>_<study>.tsv): the name is the file stem")
    names: dict[str, str] = {}
    for d in list(targets["disease"]) + [disease_of(s.name) for s in signatures]:
        names.setdefault(d.lower(), d)
    tasks = []
    for key in sorted(names):
        rows = targets[targets["disease"].str.lower() == key]
        genes = sorted(set(rows["gene"]))
        drugs = sorted({d for joined in rows.get("drugs", ()) for d in str(joined).split(";") if d})
        sigs = tuple(s for s in signatures if disease_of(s.name).lower() == key)
        tasks.append(ClinicalTask(names[key], sigs, tuple(g for g in genes if g in candidates),
                                  tuple(g for g in genes if g not in candidates), tuple(drugs)))
    return tasks


def drugless_when_hidden(tasks: Sequence[ClinicalTask], drugs: DrugTargets, universe: Iterable[str]) -> pd.DataFrame:
    """What the drug-table controls are left with on tier 3: per scored disease, how many of its approved targets (and
    of the other druggable genes it is ranked against) have no drug once its approved drugs are hidden
    (:meth:`~twincell.data.drugs.DrugTargets.without_drugs`, as the controls score it).

    Parameters
    ----------
    tasks
        Tier 3's diseases; only ``scored`` ones are counted.
    drugs
        The drug table.
    universe
        The druggable genes tier 3 ranks (positives included).

    Returns
    -------
    DataFrame
        Indexed by disease: ``targets`` (approved targets in the universe), ``targets_without_drug``, ``negatives``
        (the universe's other genes), ``negatives_without_drug``.
    """
    universe = set(universe)
    rows = {}
    for task in tasks:
        if task.status != "scored":
            continue
        left = drugs.without_drugs(task.drugs).druggable_genes()
        positives = universe & set(task.targets)
        negatives = universe - positives
        rows[task.disease] = {"targets": len(positives), "targets_without_drug": len(positives - left),
                              "negatives": len(negatives), "negatives_without_drug": len(negatives - left)}
    return pd.DataFrame.from_dict(rows, orient="index",
                                  columns=["targets", "targets_without_drug", "negatives", "negatives_without_drug"])
