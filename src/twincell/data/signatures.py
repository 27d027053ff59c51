"""Disease signatures: per-gene log fold changes (disease vs healthy) as the input of target identification.

Three ways in:

* a differential-expression table (:func:`read_signature`): limma ``topTable``, DESeq2, scanpy,
  Seurat and plain ``gene / log2fc / padj`` exports are recognised by their column names, or the
  columns are named explicitly;
* an AnnData of patient and healthy samples (:func:`signature_from_anndata`): the signature is
  computed with scanpy's ``rank_genes_groups`` (Wilcoxon rank-sum, on log-normalised data) or with
  PyDESeq2 (on raw counts), never with a hand-written test;
* a bundled signature by disease name (:func:`load_disease_signature`, :func:`list_disease_signatures`).

Every gene name goes through :class:`~twincell.data.genes.GeneMapper`; identifiers that do not map,
rows without a value and genes listed twice are reported, never dropped silently. The desired
change for target identification is the reversed signature, ``-logFC`` (healthy minus disease).
"""

from __future__ import annotations

import logging
import numbers
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from twincell.data.bundled import path as bundled_path
from twincell.data.genes import GeneMapper, row_number_problem, var_column_hint
from twincell.data.tables import read_user_table
from twincell.errors import DataFileError, SignatureError, optional_import

logger = logging.getLogger("twincell.data.signatures")

#: Recognised column names, in order of preference (compared case-insensitively).
GENE_COLUMNS = ("gene", "gene_symbol", "Gene.symbol", "symbol", "names", "gene_name", "external_gene_name",
                "Gene name", "hgnc_symbol", "GeneSymbol", "Gene", "gene_id", "Geneid", "Gene stable ID",
                "ensembl_gene_id", "gene_ids", "entrezgene_id", "ENTREZID", "ID", "primerid", "Unnamed: 0")
#: Largest |log2 fold change| accepted: 2**1000-fold is no measurement (larger values overflow the scores).
MAX_ABS_LOGFC = 1000.0
LOGFC_COLUMNS = ("logFC", "log2FoldChange", "logfoldchanges", "log2fc", "log2FC", "avg_log2FC", "lfc",
                 "log2_fold_change")
PADJ_COLUMNS = ("adj.P.Val", "padj", "pvals_adj", "p_val_adj", "FDR", "qvalue", "q_value", "adj_pval")

#: Default bundled signature per disease (name as in :func:`list_disease_signatures`).
DEFAULT_SIGNATURES = {
    "SLE": "GSE50772_PBMC",
    "Psoriasis": "ExpressionAtlas-OT2019_skin-lesional-vs-normal",
    "Crohn": "ExpressionAtlas-OT2019_terminal-ileum",
    "UC": "ExpressionAtlas-OT2019_sigmoid-colon",
    "Parkinson": "STARGEO-DOID14330_mixed",
}

#: Genes whose expression follows the donors' sex rather than their disease: the protein-coding genes of the
#: male-specific region of chromosome Y (HGNC / Ensembl chromosome Y gene list; pseudoautosomal genes, which
#: both sexes carry, are not included) and the X-inactivation transcripts XIST and TSIX. A signature whose
#: patients and controls differ in sex ratio changes these genes for that reason alone; they are left out of
#: signatures by default (:meth:`Signature.without_sex_genes`).
SEX_GENES = frozenset({
    "SRY", "RPS4Y1", "RPS4Y2", "ZFY", "AMELY", "TBL1Y", "PCDH11Y", "TSPY1", "TSPY2", "TSPY3", "TSPY4", "TSPY8",
    "TSPY10", "PRKY", "USP9Y", "DDX3Y", "UTY", "TMSB4Y", "VCY", "VCY1B", "NLGN4Y", "KDM5D", "EIF1AY", "TGIF2LY",
    "TXLNGY", "CDY1", "CDY1B", "CDY2A", "CDY2B", "DAZ1", "DAZ2", "DAZ3", "DAZ4", "BPY2", "BPY2B", "BPY2C",
    "RBMY1A1", "RBMY1B", "RBMY1D", "RBMY1E", "RBMY1F", "RBMY1J", "HSFY1", "HSFY2", "PRY", "PRY2",
    "XIST", "TSIX",
})


@dataclass
class Signature:
    """A disease signature on HGNC symbols.

    Attributes
    ----------
    name
        Label (file stem, disease_signature name or user-given).
    logfc
        log2 fold change, disease vs healthy, indexed by HGNC symbol (one value per gene).
    padj
        Adjusted p-value per gene (same index), or None when the source has none.
    method
        How the values were obtained (``table``, ``scanpy rank_genes_groups (wilcoxon)``, ``pydeseq2``).
    source
        File path or description of the input.
    unmapped
        Input identifiers that did not map to an HGNC symbol.
    n_missing_values
        Rows left out because their log fold change was missing or infinite.
    collapsed
        Symbols that several input rows mapped to (the row with the smallest padj, else largest
        ``|logFC|``, was kept).
    missing_ids
        Identifiers of the rows left out for a missing or infinite log fold change (``n_missing_values`` of them).
    merged
        For every symbol in ``collapsed``: the input identifiers of all its rows (e.g. ``STAT1`` and ``" STAT1 "``).
    sex_genes_removed
        Genes of :data:`SEX_GENES` left out by :meth:`without_sex_genes`.
    log_base
        For signatures computed from an AnnData: the log base of the expression the fold changes were
        computed from and how it was known (e.g. ``"e (log1p of counts, applied by TwinCell)"``).
    n_rows_without_id
        Rows left out because their gene identifier was empty or missing.
    padj_max
        The adjusted p-value threshold the rows were filtered with, if any.
    padj_filtered
        Identifiers of the rows that threshold left out (adjusted p-value above it, or missing).
    """

    name: str
    logfc: pd.Series
    padj: pd.Series | None = None
    method: str = "table"
    source: str = ""
    unmapped: list[str] = field(default_factory=list)
    n_missing_values: int = 0
    collapsed: list[str] = field(default_factory=list)
    missing_ids: list[str] = field(default_factory=list)
    merged: dict[str, list[str]] = field(default_factory=dict)
    sex_genes_removed: list[str] = field(default_factory=list)
    log_base: str | None = None
    n_rows_without_id: int = 0
    padj_max: float | None = None
    padj_filtered: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.logfc)

    def desired_change(self) -> pd.Series:
        """The change target identification aims for: the reversed signature, ``-logFC`` (healthy minus disease)."""
        return (-self.logfc).rename("desired_change")

    def without_sex_genes(self) -> Signature:
        """This signature without the genes of :data:`SEX_GENES` (recorded in ``sex_genes_removed``).

        Raises
        ------
        SignatureError
            When nothing but sex-chromosome genes is left out of the signature.
        """
        removed = sorted(g for g in self.logfc.index if g in SEX_GENES)
        if len(removed) == len(self.logfc):
            raise SignatureError(f"signature {self.name} holds only sex-chromosome genes ({', '.join(removed[:10])})",
                                 "keep them with keep_sex_genes=True / --keep-sex-genes, or give a fuller signature")
        keep = ~self.logfc.index.isin(removed)
        return replace(self, logfc=self.logfc[keep], padj=None if self.padj is None else self.padj[keep],
                       sex_genes_removed=[*self.sex_genes_removed, *removed])

    def coverage(self, genes: Any) -> dict[str, Any]:
        """Signature genes found in / absent from a gene set (e.g. the interactome's nodes).

        Parameters
        ----------
        genes
            The gene set: any iterable of symbols (a ``set`` / ``frozenset`` is used as is, not copied).

        Returns
        -------
        dict
            ``found`` (int), ``absent`` (int), ``absent_genes`` (list of symbols).
        """
        universe = genes if isinstance(genes, (set, frozenset)) else set(genes)
        absent = [g for g in self.logfc.index if g not in universe]
        return {"found": len(self.logfc) - len(absent), "absent": len(absent), "absent_genes": absent}

    def summary(self) -> str:
        """One line: genes kept, unmapped identifiers, rows without a value, collapsed duplicates, and rows without a
        gene identifier or left out by ``padj_max`` when there are any."""
        up, down = int((self.logfc > 0).sum()), int((self.logfc < 0).sum())
        zero = len(self) - up - down
        extra = f", {self.n_rows_without_id} rows without a gene ID" if self.n_rows_without_id else ""
        if self.padj_max is not None:
            extra += f", {len(self.padj_filtered)} rows with padj above {self.padj_max:g} or missing left out"
        return (f"signature {self.name}: {len(self)} genes ({up} up, {down} down"
                + (f", {zero} unchanged" if zero else "") + f"; {self.method}); "
                f"{len(self.unmapped)} unmapped IDs, {self.n_missing_values} rows without a finite logFC, "
                f"{len(self.collapsed)} genes from several rows{extra}")


def _pick(columns: list[str], candidates: tuple[str, ...], given: str | None, what: str, source: str) -> str | None:
    if given is not None:
        if given not in columns:
            raise SignatureError(f"{source} has no column {given!r} (for the {what})",
                                 f"choose one of: {', '.join(columns)}")
        return given
    lower = {c.lower(): c for c in columns}
    for cand in candidates:
        if cand.lower() in lower:
            return lower[cand.lower()]
    return None


def _read_table(source: str | os.PathLike) -> pd.DataFrame:
    return read_user_table(source, what="signature file",
                           hint="give a tab- or comma-separated table with a gene and a log fold change column")


def _gene_ids(table: pd.DataFrame, gene_col: str | None, cols: list[str], label: str) -> pd.Series:
    """The gene identifier of each row: the named or recognised gene column, else a non-numeric index (row names).

    Row numbers are never gene IDs: an unnamed column or index of numbers (``Unnamed: 0`` from
    ``to_csv``, a RangeIndex) would otherwise be read as Entrez IDs (1 -> A1BG).
    """
    gcol = _pick(cols, GENE_COLUMNS, gene_col, "gene names", label)
    if gcol == "Unnamed: 0" and gene_col is None and pd.api.types.is_numeric_dtype(table[gcol]):
        gcol = None
    if gcol is not None:
        return _id_strings(table[gcol])
    index = table.index
    if not isinstance(index, pd.MultiIndex) and not pd.api.types.is_numeric_dtype(index) and not index.hasnans:
        return table.index.astype(str).to_series(index=table.index)
    raise SignatureError(f"{label} has no recognised gene column (columns: {', '.join(cols)})",
                         f"name it with gene_col / --gene-col; recognised names: {', '.join(GENE_COLUMNS[:-1])}")


def _p_values(column: pd.Series) -> pd.Series:
    """P-values as numbers; printed bounds such as R's ``< 2.2e-16`` (``format.pval``) or ``> 0.99`` count as their
    bound, and trailing significance stars (``1e-5 ***``) are dropped."""
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    text = (column.astype("string").str.strip().str.replace(r"^[<>]\s*=?\s*", "", regex=True)
            .str.replace(r"\s*\*+$", "", regex=True))
    return pd.to_numeric(text, errors="coerce")


def _id_strings(ids: pd.Series) -> pd.Series:
    """Gene identifiers as text: a missing one is ``""``, and whole numbers of a float column (Entrez IDs of a column
    that pandas read as float because one was missing) lose their ``.0``."""
    if pd.api.types.is_float_dtype(ids):
        return ids.map(lambda v: "" if pd.isna(v) else str(int(v)) if float(v).is_integer() else str(v))
    return ids.map(lambda v: "" if pd.isna(v) else str(v))


def check_magnitudes(ids: pd.Series | pd.Index, logfc: pd.Series, what: str) -> None:
    """Refuse absurd log fold changes (above :data:`MAX_ABS_LOGFC`), naming a few of them.

    Parameters
    ----------
    ids, logfc
        Gene identifiers and their values, aligned by position.
    what
        Where the values come from, for the message (e.g. ``"column 'logFC' of de.tsv"``).

    Raises
    ------
    SignatureError
        If any |value| exceeds :data:`MAX_ABS_LOGFC`.
    """
    huge = (logfc.abs() > MAX_ABS_LOGFC).to_numpy()
    if huge.any():
        examples = ", ".join(f"{i}: {v:.3g}" for i, v in zip(np.asarray(ids)[huge][:3], logfc.to_numpy()[huge][:3]))
        raise SignatureError(f"{int(huge.sum())} values of {what} exceed |logFC| {MAX_ABS_LOGFC:,.0f} (e.g. {examples})",
                             "give log2 fold changes (not raw ratios or statistics); fix or drop these rows")


def check_change(values: Any, what: str) -> pd.Series:
    """The checks every signature entry point shares: ``values`` as a float Series (gene -> change).

    Parameters
    ----------
    values
        Gene -> change (a log fold change, z-score or desired change).
    what
        How to name the values in messages (e.g. ``"the desired change"``, ``"signature 'SLE'"``).

    Returns
    -------
    pd.Series
        The values as float, same index.

    Raises
    ------
    SignatureError
        Not a pandas Series, empty, indexed by several levels or by row numbers (0, 1, 2, ...: a table's column
        without its gene index), missing / non-numeric / infinite values (naming the genes), a gene listed twice, values above
        :data:`MAX_ABS_LOGFC`, or only zeros.
    """
    if not isinstance(values, pd.Series):
        raise SignatureError(f"{what} must be a pandas Series indexed by gene, got {type(values).__name__}",
                             "pass a Series gene -> change, e.g. read_signature(...).desired_change()")
    if values.empty:
        raise SignatureError(f"{what} is empty", "give at least one gene with a change")
    if values.index.nlevels > 1:
        raise SignatureError(f"{what} is indexed by {values.index.nlevels} levels ({list(values.index.names)})",
                             "index the values by one gene ID column, e.g. values.droplevel(...) or "
                             "table.set_index('gene')['logFC']")
    problem = row_number_problem(values.index, f"the index of {what}")
    if problem:
        raise SignatureError(problem, "index the values by their gene column, e.g. table.set_index('gene')['logFC']")
    change = pd.to_numeric(values, errors="coerce").astype(float)
    bad = change.index[~np.isfinite(change.to_numpy())]
    if len(bad):
        raise SignatureError(f"{what} has {len(bad)} missing or non-numeric value(s), e.g. {', '.join(map(str, bad[:10]))}",
                             "drop those genes or fill in their change")
    twice = change.index[change.index.duplicated()].unique()
    if len(twice):
        raise SignatureError(f"{what} lists genes more than once: {', '.join(map(str, twice[:10]))}",
                             "keep one value per gene")
    check_magnitudes(change.index, change, what)
    if not (change != 0).any():
        raise SignatureError(f"{what} is all zero", "a signature needs at least one changed gene")
    return change


def signature_from_series(values: Any, name: str) -> Signature:
    """A Series gene ID -> change as a :class:`Signature` on HGNC symbols.

    The checks of :func:`check_change`, then the gene IDs (symbols, Ensembl, Entrez, UniProt, aliases; any case)
    mapped by :func:`read_signature`, which lists the unmapped ones on the result. TwinBench's path from a Series to
    symbols (:func:`twincell.bench.methods.prepare_signature`); the library's ranking maps only the IDs outside the
    network (:func:`twincell.identify.inverse.align_change`). Both refuse one gene under several IDs.

    Parameters
    ----------
    values
        Gene ID -> change.
    name
        The signature's name (messages call it ``signature '<name>'``).

    Raises
    ------
    SignatureError
        As :func:`check_change`, when no ID maps to a gene, or when several IDs map to one gene (which value to use
        is the caller's choice).
    """
    change = check_change(values, f"signature {name!r}")
    table = pd.DataFrame({"gene": change.index.astype(str), "logfc": change.to_numpy()})
    signature = read_signature(table, gene_col="gene", logfc_col="logfc", name=name)
    if signature.merged:
        raise SignatureError(f"signature {name!r} names one gene under several IDs: "
                             + "; ".join(f"{g} <- {', '.join(ids)}" for g, ids in list(signature.merged.items())[:5]),
                             "keep one value per gene")
    return signature


def read_signature(source: str | os.PathLike | pd.DataFrame, *, gene_col: str | None = None,
                   logfc_col: str | None = None, padj_col: str | None = None, padj_max: float | None = None,
                   name: str | None = None, method: str = "table", mapper: GeneMapper | None = None) -> Signature:
    """Read a differential-expression table (disease vs healthy) into a :class:`Signature`.

    Parameters
    ----------
    source
        Path to a TSV/CSV file (optionally ``.gz``) or a DataFrame.
    gene_col, logfc_col, padj_col
        Column names; when None they are recognised from :data:`GENE_COLUMNS`, :data:`LOGFC_COLUMNS`,
        :data:`PADJ_COLUMNS` (limma ``Gene.symbol/logFC/adj.P.Val``, DESeq2 ``log2FoldChange/padj``,
        scanpy ``names/logfoldchanges/pvals_adj``, ``gene_symbol/log2fc/padj``, Seurat ``avg_log2FC/p_val_adj``).
        A table without a recognised gene column uses its index when that holds names (R row names);
        row numbers are never read as gene IDs.
    padj_max
        Keep only genes with adjusted p-value <= ``padj_max`` (default: keep all).
    name
        Label of the signature (default: the file stem).
    method
        How the table was made (recorded on the signature).
    mapper
        Gene mapper (default: :meth:`GeneMapper.default`).

    Raises
    ------
    SignatureError
        No gene or log fold change column, a non-numeric one or one holding text that is no number (``abc``,
        ``#DIV/0!``, a quoted decimal comma; empty cells, ``NA`` and ``inf`` count as missing), gene IDs that are row
        numbers, an empty table, all values missing or zero, values above :data:`MAX_ABS_LOGFC`, no identifier
        mapping to an HGNC symbol, or an adjusted p-value
        column the user named (or filters on) with values outside [0, 1] (an auto-detected one is then not used).
    DataFileError
        An unreadable file (see :func:`twincell.data.tables.read_user_table`).
    """
    if not isinstance(source, (str, os.PathLike, pd.DataFrame)):
        raise SignatureError(f"read_signature reads a file path or a DataFrame, got {type(source).__name__}",
                             "for a Series of log fold changes indexed by gene: "
                             "read_signature(series.rename('logFC').rename_axis('gene').reset_index())")
    if padj_max is not None and (isinstance(padj_max, bool) or not isinstance(padj_max, numbers.Real)
                                 or not 0 <= padj_max <= 1):
        raise SignatureError(f"padj_max must be a number between 0 and 1, got {padj_max!r}", "e.g. padj_max=0.05")
    label = (str(source) if not isinstance(source, pd.DataFrame)
             else f"signature {name!r}" if name else "the signature table")
    table = source.copy() if isinstance(source, pd.DataFrame) else _read_table(source)
    if name is None:
        name = "signature" if isinstance(source, pd.DataFrame) else Path(source).name.split(".")[0]
    if table.empty:
        raise SignatureError(f"{label} is empty", "give at least one gene with a log fold change")
    cols = [str(c) for c in table.columns]
    table.columns = cols
    lcol = _pick(cols, LOGFC_COLUMNS, logfc_col, "log fold change", label)
    pcol = _pick(cols, PADJ_COLUMNS, padj_col, "adjusted p-value", label)
    if lcol is None:
        raise SignatureError(f"{label} has no recognised log fold change column (columns: {', '.join(cols)})",
                             f"name it with logfc_col / --logfc-col; recognised names: {', '.join(LOGFC_COLUMNS)}")
    genes = _gene_ids(table, gene_col, cols, label)
    problem = row_number_problem(genes[genes.str.strip() != ""], f"the gene IDs of {label}")
    if problem:
        raise SignatureError(problem, "point gene_col / --gene-col at the gene column")
    logfc = pd.to_numeric(table[lcol], errors="coerce")
    text = logfc.isna() & table[lcol].notna() & ~table[lcol].astype(str).str.strip().str.upper().isin(MISSING_WORDS)
    if text.all():
        raise SignatureError(f"column {lcol!r} of {label} holds no numbers",
                             "point logfc_col at the log fold change column")
    if text.any():  # "abc", "#DIV/0!", a quoted decimal comma: a malformed table, not a missing value
        bad = [f"{g}: {v!r}" for g, v in zip(genes[text].iloc[:3], table[lcol][text].iloc[:3])]
        raise SignatureError(f"column {lcol!r} of {label} holds {int(text.sum())} value(s) that are not numbers "
                             f"({'; '.join(bad)})", "fix those cells (decimal points, no formulas), or leave them "
                                                    "empty / NA to count them as missing")
    padj = _p_values(table[pcol]) if pcol is not None else None
    outside = padj[(padj < 0) | (padj > 1)] if padj is not None else pd.Series(dtype=float)
    if len(outside):
        problem = (f"column {pcol!r} of {label} is not adjusted p-values: {len(outside)} value(s) outside [0, 1], "
                   f"e.g. {', '.join(f'{v:g}' for v in outside.iloc[:3])}")
        if padj_col is not None or padj_max is not None:  # the user chose the column, or filters on it
            raise SignatureError(problem, "name the adjusted p-value column with padj_col / --padj-col")
        logger.warning("%s; it is not used (name the right one with padj_col / --padj-col)", problem)
        padj = None
    has_id = (genes.str.strip() != "").to_numpy()
    if not has_id.any():
        raise SignatureError(f"every gene identifier of {label} is empty", "point gene_col at the gene column")
    if not has_id.all():
        logger.warning("%s: %d rows without a gene identifier were left out", label, int((~has_id).sum()))
    keep = logfc.notna().to_numpy() & np.isfinite(logfc.to_numpy(float, na_value=np.nan)) & has_id
    n_missing = int((~keep & has_id).sum())
    if not keep.any():
        raise SignatureError(f"all {len(table)} log fold changes in {label} are missing",
                             f"fill in column {lcol!r}")
    missing_ids = genes[~keep & has_id].tolist()
    if n_missing:
        logger.warning("%s: %d rows without a finite log fold change were left out (%s)", label, n_missing,
                       ", ".join(missing_ids[:10]) + (" ..." if n_missing > 10 else ""))
    check_magnitudes(genes[keep], logfc[keep], f"column {lcol!r} of {label}")
    kept = logfc[keep]
    if len(kept) >= 3 and kept.between(0, 1).all():
        logger.warning("%s: every value of column %r lies between 0 and 1: is it a p-value column rather than log "
                       "fold changes? (a signature's log fold changes go both ways; name the right one with "
                       "logfc_col / --logfc-col)", label, lcol)
    padj_filtered: list[str] = []
    if padj_max is not None:
        if padj is None:
            raise SignatureError(f"{label} has no adjusted p-value column to filter on",
                                 "name it with padj_col or drop padj_max")
        passed = (padj <= padj_max).to_numpy()
        padj_filtered = genes[keep & ~passed].tolist()
        keep &= passed
        if not keep.any():
            raise SignatureError(f"no gene of {label} has adjusted p-value <= {padj_max}", "raise padj_max")
        logger.info("%s: %d rows with adjusted p-value above %g or missing were left out (padj_max)", label,
                    len(padj_filtered), padj_max)
    ids, values = genes.to_numpy()[keep], logfc.to_numpy(float)[keep]
    pvalues = padj.to_numpy(float)[keep] if padj is not None else np.full(len(ids), np.nan)
    mapping = (mapper or GeneMapper.default()).map(ids)
    if not mapping.symbols:
        raise SignatureError(f"none of the {len(set(ids))} gene identifiers of {label} maps to an HGNC symbol "
                             f"(e.g. {', '.join(mapping.unmapped[:5])})",
                             "use HGNC symbols, Ensembl, Entrez or UniProt IDs, or set gene_col to the gene column")
    symbols = [mapping.symbols.get(i) for i in ids]
    mapped = np.array([g is not None for g in symbols], dtype=bool)
    if not (values[mapped] != 0).any():
        raise SignatureError(f"every gene of {label} that maps to an HGNC symbol has log fold change 0: "
                             "there is nothing to reverse", "check that the column holds the disease-vs-healthy log fold changes")
    # the most significant row of each gene first: padj ascending (missing last), then |logFC| descending; stable
    order = np.flatnonzero(mapped)
    order = order[np.lexsort((-np.abs(values[order]), pvalues[order]))]
    rows: dict[str, list[int]] = {}
    for i in order:
        rows.setdefault(symbols[i], []).append(i)
    merged = {g: [str(ids[i]) for i in rows_of] for g, rows_of in rows.items() if len(rows_of) > 1}
    first = np.array([rows_of[0] for rows_of in rows.values()], dtype=np.int64)
    index = pd.Index(list(rows), dtype=object, name="gene")
    if mapping.unmapped:
        logger.warning("%s: %s", label, mapping.summary())
    if merged:
        logger.warning("%s: %d genes came from several rows (the most significant row kept): %s", label, len(merged),
                       "; ".join(f"{g} <- {ids}" for g, ids in list(merged.items())[:5]))
    return Signature(name=name, logfc=pd.Series(values[first], index=index, name="logfc"),
                     padj=pd.Series(pvalues[first], index=index, name="padj") if padj is not None else None,
                     method=method,
                     source=label, unmapped=list(mapping.unmapped), n_missing_values=n_missing,
                     collapsed=list(merged), missing_ids=missing_ids, merged=merged,
                     n_rows_without_id=int((~has_id).sum()), padj_max=padj_max,
                     padj_filtered=padj_filtered)


def _check_expression(X: Any, where: str, has_raw: bool) -> None:
    """Refuse missing, infinite or negative expression values, which no fold change here reads correctly.

    NaN or infinity is a gap the data do not explain: counts with a few NaN would otherwise pass for log data of
    unknown base. Negative values are scaled or centred data (``sc.pp.scale``), or log values below 1 (log-CPM with a
    small prior count); scanpy's fold changes undo the log as ``base ** x - 1``, which is negative there, so
    neither gives a log fold change. Counts are never negative.
    """
    values = stored_values(X)
    bad = int(values.size - np.count_nonzero(np.isfinite(values)))
    negative = int(np.count_nonzero(values < 0))
    raw = (" This AnnData has a .raw: if it holds the counts, store them as a layer "
           "(adata.layers['counts'] = adata.raw.X) and pass layer='counts' / --layer counts.") if has_raw else ""
    if bad:
        raise SignatureError(f"the expression ({where}) has {bad} missing or infinite value(s)",
                             "pass raw counts or log-normalised expression without gaps (another layer, or fill / "
                             "drop those genes)" + raw)
    if negative:
        raise SignatureError(f"the expression ({where}) has {negative} negative value(s): scaled or centred data "
                             "(e.g. sc.pp.scale) or log values below 1 (log-CPM) give no fold changes here",
                             "pass raw counts or log1p-style expression such as log2(CPM + 1) (another layer); for "
                             "log-CPM, take the fold changes from limma / edgeR and pass them as a signature table"
                             + raw)


def stored_values(X: Any) -> np.ndarray:
    """The values an expression matrix stores: a sparse matrix's non-zeros, a dense one's every entry."""
    return np.asarray(X.data if hasattr(X, "data") and not isinstance(X, np.ndarray) else X)


def whole_numbers(X: Any, *, tolerant: bool = False) -> bool:
    """True when every stored value of ``X`` (dense or sparse) is a whole number, as raw counts are: exactly, or
    (``tolerant``) within :func:`numpy.allclose`'s default tolerances of the nearest whole number."""
    values = stored_values(X)
    rounded = np.round(values)
    return bool(np.allclose(values, rounded) if tolerant else np.array_equal(values, rounded))


def _is_count_matrix(X: Any) -> bool:
    """True when ``X`` stores values, none negative and all whole numbers within rounding: counts (DESeq2's path
    rounds them)."""
    values = stored_values(X)
    return bool(values.size) and bool((values >= 0).all()) and whole_numbers(values, tolerant=True)


def parse_log_base(value: str | float | None) -> float | None:
    """A log base from user input: ``"2"``, ``"10"``, ``"e"`` (natural, returned as None) or a number > 1.

    Raises
    ------
    SignatureError
        When the value is not ``e`` or a number greater than 1.
    """
    if value is None or str(value).strip().lower() in ("e", "ln", "natural"):
        return None
    try:
        base = float(value)
    except (TypeError, ValueError):
        base = float("nan")
    if not base > 1:
        raise SignatureError(f"log base {value!r} is not understood", "give 2, 10 or e (natural log)")
    return base


def _base_label(base: float | None) -> str:
    return "e" if base is None else f"{base:g}"


def signature_from_anndata(adata: Any, groupby: str, disease: str, healthy: str, *,
                           method: Literal["wilcoxon", "deseq2"] = "wilcoxon", gene_col: str | None = None,
                           layer: str | None = None, name: str | None = None, log_base: str | float | None = None,
                           mapper: GeneMapper | None = None) -> Signature:
    """Compute a disease signature from an AnnData of patient and healthy samples.

    Parameters
    ----------
    adata
        Samples (or cells) x genes. Gene names are ``adata.var_names`` or ``adata.var[gene_col]``.
    groupby
        Column of ``adata.obs`` with the group of each sample.
    disease, healthy
        The two groups compared (fold change = disease vs healthy).
    method
        ``wilcoxon``: scanpy ``rank_genes_groups(method="wilcoxon")`` with Benjamini-Hochberg
        adjusted p-values, on log-normalised data; raw counts are first normalised to 10,000 per
        sample and ``log1p``-transformed (scanpy ``normalize_total`` + ``log1p``).
        ``deseq2``: PyDESeq2 (design ``~ groupby``, Wald test, BH) on raw integer counts.
    layer
        Use ``adata.layers[layer]`` instead of ``adata.X``.
    log_base
        Log base of log-normalised (non-count) data for ``wilcoxon`` (``2`` for log2 microarray or log2(CPM + 1)
        data, ``e`` for scanpy's ``log1p``). scanpy un-logs group means before taking the log2 fold change, so a
        wrong base scales every fold change (log2 data read as natural log inflates them 1.44x). When None it is
        read from ``adata.uns["log1p"]["base"]`` (set by scanpy's ``log1p``); raw counts need none, and a base
        given with raw counts or ``deseq2`` is refused (it would be ignored). The base used is recorded in
        :attr:`Signature.log_base`.
    name
        Label of the signature.
    mapper
        Gene mapper (default: :meth:`GeneMapper.default`).

    Raises
    ------
    SignatureError
        Unknown column, layer or groups, the same group twice, too few samples, non-count data given to ``deseq2``,
        or log-normalised data whose log base is neither given nor recorded in ``adata.uns``.
    """
    import anndata as ad

    from twincell.data.pseudobulk import check_anndata_keys

    check_anndata_keys(adata, layer=layer, var_column=gene_col, error=SignatureError)
    if groupby not in adata.obs.columns:
        raise SignatureError(f"AnnData obs has no column {groupby!r}",
                             f"choose one of: {', '.join(map(str, adata.obs.columns))}")
    if str(disease) == str(healthy):
        raise SignatureError(f"disease and healthy are the same group ({disease!r})",
                             "compare two different groups of obs[groupby], e.g. disease='SLE', healthy='control'")
    groups = adata.obs[groupby].astype(str)
    disease, healthy = str(disease), str(healthy)  # labels compare as text, as the groups do (0/1 columns too)
    for g in (disease, healthy):
        n = int((groups == g).sum())
        if n < 2:
            raise SignatureError(f"group {g!r} of obs[{groupby!r}] has {n} sample(s)",
                                 f"need at least 2 per group; groups present: {', '.join(sorted(groups.unique()))}")
    sub = adata[groups.isin([disease, healthy]).to_numpy()]
    X = sub.layers[layer] if layer is not None else sub.X
    _check_expression(X, f"layer {layer!r}" if layer is not None else "X", adata.raw is not None)
    var_names = (sub.var[gene_col] if gene_col is not None else sub.var_names).astype(str).to_numpy()
    where = f"var[{gene_col!r}]" if gene_col else "var_names"
    problem = row_number_problem(var_names, f"the AnnData's {where}")
    if problem:
        raise SignatureError(problem, var_column_hint(adata.var.columns))
    if log_base is not None:  # a base that would be ignored is refused, not dropped silently
        parse_log_base(log_base)
        unused = ("DESeq2 reads raw counts" if method == "deseq2"
                  else "the expression is raw counts, which TwinCell log-normalises itself (natural log)"
                  if _is_count_matrix(X) else None)
        if unused:
            raise SignatureError(f"log_base={log_base!r} would be ignored: {unused}", "drop log_base / --log-base")
    work = ad.AnnData(X=X.copy(), obs=pd.DataFrame({"group": groups[groups.isin([disease, healthy])].to_numpy()},
                                                    index=sub.obs_names.astype(str)))
    work.var_names = pd.Index(np.arange(len(var_names)).astype(str))  # unique keys; gene names restored below
    if method == "wilcoxon":
        recorded = adata.uns.get("log1p") if hasattr(adata, "uns") else None
        table, base_used = _wilcoxon_table(work, disease, healthy, log_base, recorded)
        how = "scanpy rank_genes_groups (wilcoxon, BH)"
    elif method == "deseq2":
        table = _deseq2_table(work, disease, healthy)
        how, base_used = "pydeseq2 (Wald, BH)", "none (DESeq2 log2 fold change of raw counts)"
    else:
        raise SignatureError(f"unknown method {method!r}", "use 'wilcoxon' or 'deseq2'")
    table["gene"] = var_names[table["gene"].astype(int).to_numpy()]
    sig = read_signature(table, gene_col="gene", logfc_col="logfc", padj_col="padj",
                         name=name or f"{disease}_vs_{healthy}", method=how, mapper=mapper)
    return replace(sig, log_base=base_used)


def signature_from_h5ad(source: str | os.PathLike, groupby: str, disease: str, healthy: str,
                        **options: Any) -> Signature:
    """:func:`signature_from_anndata` on an ``.h5ad`` file, named ``<file stem>:<disease>_vs_<healthy>``.

    Parameters
    ----------
    source
        Path of the ``.h5ad`` file.
    groupby, disease, healthy
        As for :func:`signature_from_anndata`.
    **options
        Passed on to :func:`signature_from_anndata` (``method``, ``layer``, ``gene_col``, ``log_base``).

    Raises
    ------
    DataFileError
        When the file is missing or cannot be read as h5ad.
    """
    import anndata as ad

    p = Path(source)
    if not p.exists():
        raise DataFileError(f"AnnData file {p} does not exist", "check the path")
    try:
        adata = ad.read_h5ad(p)
    except Exception as exc:  # h5py/anndata raise many types for a malformed file
        raise DataFileError(f"cannot read {p} as h5ad: {exc}", "write the file with anndata (adata.write_h5ad)") from exc
    options.setdefault("name", f"{p.name.split('.')[0]}:{disease}_vs_{healthy}")
    sig = signature_from_anndata(adata, groupby, disease, healthy, **options)
    return replace(sig, source=str(p))


def _wilcoxon_table(work: Any, disease: str, healthy: str, log_base: str | float | None,
                    recorded: Any) -> tuple[pd.DataFrame, str]:
    """scanpy Wilcoxon table and a description of the log base the fold changes assumed."""
    sc = optional_import("scanpy", "de", "a signature by scanpy's Wilcoxon test")

    if _is_count_matrix(work.X):
        sc.pp.normalize_total(work, target_sum=1e4)
        sc.pp.log1p(work)
        base_used = "e (log1p of counts normalised to 10,000, applied by TwinCell)"
    elif log_base is not None:
        base = parse_log_base(log_base)
        work.uns["log1p"] = {"base": base}
        base_used = f"{_base_label(base)} (given)"
    elif isinstance(recorded, dict):
        base = recorded.get("base")
        work.uns["log1p"] = {"base": base}
        base_used = f"{_base_label(base)} (from adata.uns['log1p'])"
    else:
        raise SignatureError("the expression is log-normalised (not counts) and its log base is unknown: scanpy's "
                             "fold changes depend on it (log2 data read as natural log inflate them 1.44x)",
                             "give the base: log_base= / --log-base 2 (log2 microarray or log2(CPM + 1) data) or e "
                             "(scanpy log1p); or pass raw counts")
    sc.tl.rank_genes_groups(work, "group", groups=[disease], reference=healthy, method="wilcoxon",
                            corr_method="benjamini-hochberg")
    res = sc.get.rank_genes_groups_df(work, group=disease)
    return pd.DataFrame({"gene": res["names"], "logfc": res["logfoldchanges"], "padj": res["pvals_adj"]}), base_used


def _deseq2_table(work: Any, disease: str, healthy: str) -> pd.DataFrame:
    DeseqDataSet = optional_import("pydeseq2.dds", "de", "a signature by PyDESeq2").DeseqDataSet
    DeseqStats = optional_import("pydeseq2.ds", "de", "a signature by PyDESeq2").DeseqStats

    if not _is_count_matrix(work.X):
        raise SignatureError("method 'deseq2' needs raw non-negative integer counts, the data are not counts",
                             "pass the raw count layer (layer=...) or use method='wilcoxon' on log-normalised data")
    X = work.X.toarray() if hasattr(work.X, "toarray") else np.asarray(work.X)
    counts = pd.DataFrame(np.round(X).astype(np.int64), index=work.obs_names, columns=work.var_names)
    silent = counts.columns[counts.sum(axis=0) == 0]  # no count in any cell: DESeq2 cannot test them
    counts = counts.loc[:, counts.sum(axis=0) > 0]
    dds = DeseqDataSet(counts=counts, metadata=work.obs[["group"]], design="~group", quiet=True)
    dds.deseq2()
    stats = DeseqStats(dds, contrast=["group", disease, healthy], quiet=True)
    stats.summary()
    res = stats.results_df
    tested = pd.DataFrame({"gene": res.index, "logfc": res["log2FoldChange"].to_numpy(),
                           "padj": res["padj"].to_numpy()})
    # genes without counts come back without a fold change: the signature counts and lists them as missing
    return pd.concat([tested, pd.DataFrame({"gene": silent, "logfc": np.nan, "padj": np.nan})], ignore_index=True)


#: Text that means "no value" in a fold-change column (counted as missing, not refused as malformed).
MISSING_WORDS = frozenset({"", "NA", "N/A", "NAN", "NULL", "NONE", "-", "INF", "-INF", "+INF"})


def list_disease_signatures() -> pd.DataFrame:
    """The bundled disease signatures.

    Returns
    -------
    pd.DataFrame
        ``disease, signature, file, n_genes, default`` (one row per file; ``default`` marks the one
        :func:`load_disease_signature` returns for the disease).
    """
    folder = bundled_path("disease_signatures")
    rows = []
    for f in sorted(folder.glob("*.tsv.gz")):
        disease, sig = f.name.removesuffix(".tsv.gz").split("_", 1)
        n_genes = len(pd.read_csv(f, sep="\t", usecols=[0]))
        rows.append({"disease": disease, "signature": sig, "file": f.name, "n_genes": n_genes,
                     "default": DEFAULT_SIGNATURES.get(disease) == sig})
    return pd.DataFrame(rows)


def load_disease_signature(disease: str, signature: str | None = None, *, padj_max: float | None = None) -> Signature:
    """Load a bundled disease signature by disease name (case-insensitive).

    Parameters
    ----------
    disease
        ``SLE``, ``Psoriasis``, ``Crohn``, ``UC`` or ``Parkinson``.
    signature
        Which of the disease's signatures (see :func:`list_disease_signatures`); default: the
        disease's default (SLE: the GSE50772 PBMC signature).
    padj_max
        Keep only genes with adjusted p-value <= ``padj_max``.

    Raises
    ------
    SignatureError
        Unknown disease or signature name.
    """
    folder = bundled_path("disease_signatures")
    stems = {f.name.removesuffix(".tsv.gz"): f for f in folder.glob("*.tsv.gz")}
    diseases = {s.split("_", 1)[0].lower(): s.split("_", 1)[0] for s in stems}
    key = diseases.get(disease.strip().lower())
    if key is None:
        raise SignatureError(f"no bundled signature for disease {disease!r}",
                             f"choose one of: {', '.join(sorted(set(diseases.values())))}, or give a signature file")
    sig = signature or DEFAULT_SIGNATURES[key]
    stem = f"{key}_{sig}"
    if stem not in stems:
        options = sorted(s.split("_", 1)[1] for s in stems if s.startswith(key + "_"))
        raise SignatureError(f"no bundled {key} signature named {sig!r}", f"choose one of: {', '.join(options)}")
    return read_signature(stems[stem], padj_max=padj_max, name=stem)
