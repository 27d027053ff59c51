"""Gene identifiers: one place where every gene name entering TwinCell becomes a current HGNC symbol.

Accepted inputs (detected per identifier, or forced with ``kind=``):

* HGNC approved symbols (case-insensitive),
* Ensembl gene IDs (``ENSG...``, version suffix ignored),
* NCBI Entrez gene IDs (digits),
* UniProt accessions (through the PathLinker 2018 UniProt map),
* previous / alias symbols, resolved through real tables that link an old symbol to a stable ID:
  LINCS gene info (symbol + Entrez) and Geneformer V1's symbol -> Ensembl dictionary.

Tables are the bundled HGNC 2022 release and the sources above; an identifier that none of
them resolves is reported in :attr:`MappingResult.unmapped`, never dropped silently.
"""

from __future__ import annotations

import gzip
import pickle
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

import pandas as pd

from twincell._cache import cached_build
from twincell.data.bundled import path, read_table
from twincell.errors import DataFileError

IdKind = Literal["auto", "symbol", "ensembl", "entrez", "uniprot"]

_ENSEMBL = re.compile(r"^ENSG\d{11}(\.\d+)?$", re.IGNORECASE)
_ENTREZ = re.compile(r"^\d+(\.0+)?$")  # 7157 or, from a float column (one NaN makes it float), 7157.0
_UNIPROT = re.compile(r"^([OPQ][0-9][A-Z0-9]{3}[0-9]|[A-NR-Z][0-9]([A-Z][A-Z0-9]{2}[0-9]){1,2})(-\d+)?$")


def are_row_numbers(ids: Iterable[object]) -> bool:
    """True when ``ids`` are whole numbers (as numbers or text, ``7`` or ``7.0``) that include 0: row numbers, not
    gene IDs.

    A table's column without its gene index, or an AnnData whose ``var_names`` were reset (0, 1, 2, ..., or what a
    filter left of them), would otherwise be read as Entrez IDs (1 = A1BG, 2 = A2M, ...). 0 is no Entrez ID, so a list
    of numbers holding it is never a gene list; numbers without a 0 (e.g. 7157, 7158) are read as Entrez IDs.
    """
    if isinstance(ids, pd.RangeIndex):
        return 0 in ids
    text = [str(i).strip() for i in ids]
    return all(_ENTREZ.match(t) for t in text) and any(float(t) == 0 for t in text)


def row_number_problem(ids: Iterable[object], what: str) -> str | None:
    """The error text for ``ids`` that :func:`are_row_numbers` flags, naming ``what`` held them; None otherwise."""
    ids = ids if isinstance(ids, pd.RangeIndex) else list(ids)
    if not are_row_numbers(ids):
        return None
    return (f"{what} are row numbers ({len(ids)} of them, from 0), not genes: they would be read as Entrez IDs "
            "(1 = A1BG, 2 = A2M, ...)")


def var_column_hint(var_columns: Iterable[object]) -> str:
    """The hint of a :func:`row_number_problem` in an AnnData's genes: which ``var`` column to name instead."""
    return ("name the var column with gene symbols or Ensembl IDs (gene_col / gene_key / --var-col), or set "
            f"adata.var_names from it; var columns here: {', '.join(map(str, var_columns)) or 'none'}")


def merged_gene_ids(ids: Sequence[str], symbol_of: Sequence[str | None]) -> list[str]:
    """The symbols that several input IDs map to (their values are then summed), as ``SYMBOL: id1, id2`` lines.

    Parameters
    ----------
    ids
        Input gene IDs (a matrix's columns).
    symbol_of
        The HGNC symbol each ID maps to (None: unmapped), aligned to ``ids``.
    """
    by_symbol: dict[str, list[str]] = {}
    for gene_id, symbol in zip(ids, symbol_of):
        if symbol:
            by_symbol.setdefault(symbol, []).append(str(gene_id))
    return [f"{s}: {', '.join(i)}" for s, i in sorted(by_symbol.items()) if len(i) > 1]


def detect_kind(identifier: str) -> IdKind:
    """Guess the identifier type of one gene ID (``ensembl``, ``entrez``, ``uniprot`` or ``symbol``)."""
    s = identifier.strip()
    if _ENSEMBL.match(s):
        return "ensembl"
    if _ENTREZ.match(s):
        return "entrez"
    if _UNIPROT.match(s):
        return "uniprot"
    return "symbol"


@dataclass
class MappingResult:
    """Outcome of mapping identifiers to HGNC symbols.

    Attributes
    ----------
    symbols
        Input identifier -> current HGNC symbol, for the identifiers that mapped (input order).
    unmapped
        Identifiers that no table resolved.
    via
        Input identifier -> how it was resolved (``symbol``, ``alias``, ``ensembl``, ``entrez``, ``uniprot``).
    """

    symbols: dict[str, str]
    unmapped: list[str]
    via: dict[str, str] = field(default_factory=dict)

    @property
    def n_mapped(self) -> int:
        """Number of identifiers that mapped."""
        return len(self.symbols)

    def summary(self) -> str:
        """One line: how many mapped and the first few that did not."""
        head = ", ".join(self.unmapped[:10]) + (" ..." if len(self.unmapped) > 10 else "")
        msg = f"{self.n_mapped} of {self.n_mapped + len(self.unmapped)} gene IDs mapped to HGNC symbols"
        return msg + (f"; unmapped: {head}" if self.unmapped else "")


class GeneMapper:
    """Maps UniProt, Entrez, Ensembl and alias/previous symbols to current HGNC symbols.

    Build it once with :meth:`default` (cached); all look-ups are dictionary hits.
    """

    def __init__(self, hgnc: pd.DataFrame, aliases: dict[str, str], uniprot: dict[str, str]) -> None:
        required = {"symbol", "entrez", "ensembl"}
        if not required <= set(hgnc.columns):
            raise DataFileError(f"HGNC table lacks columns {sorted(required - set(hgnc.columns))}",
                                "pass a table with symbol, entrez and ensembl columns")
        self.hgnc = hgnc
        self._symbol = {s.upper(): s for s in hgnc["symbol"]}
        self._entrez = {str(e): s for e, s in zip(hgnc["entrez"], hgnc["symbol"]) if e}
        self._ensembl = {str(e).upper(): s for e, s in zip(hgnc["ensembl"], hgnc["symbol"]) if e}
        self._alias = {a.upper(): s for a, s in aliases.items() if a.upper() not in self._symbol}
        self._uniprot = dict(uniprot)

    @classmethod
    def default(cls) -> GeneMapper:
        """The mapper built from the bundled tables (built once per process)."""
        return _default_mapper()

    @cached_property
    def symbols(self) -> frozenset[str]:
        """All current HGNC approved symbols (built once per mapper)."""
        return frozenset(self._symbol.values())

    def ensembl_of(self, symbols: Iterable[str]) -> dict[str, str]:
        """Current symbol -> Ensembl gene ID, for the symbols that have one."""
        inv = {s: e for e, s in self._ensembl.items()}
        return {s: inv[s] for s in symbols if s in inv}

    def _one(self, identifier: str, kind: IdKind) -> tuple[str | None, str]:
        s = str(identifier).strip()
        if kind == "auto" and s.upper() in self._symbol:
            # a current symbol wins over ID patterns: B3GNT9 or H2BC21 look like UniProt accessions
            return self._symbol[s.upper()], "symbol"
        k = detect_kind(s) if kind == "auto" else kind
        if k == "uniprot" and kind == "auto" and s.upper() in self._alias and s.split("-")[0] not in self._uniprot:
            # so does a previous symbol (H2AFY2, H2AC25, H2BC26) that is no accession of the UniProt table
            return self._alias[s.upper()], "alias"
        if k == "ensembl":
            return self._ensembl.get(s.split(".")[0].upper()), "ensembl"
        if k == "entrez":
            return self._entrez.get(s.split(".")[0]), "entrez"
        if k == "uniprot":
            sym = self._uniprot.get(s.split("-")[0])
            if sym is None:
                return None, "uniprot"
            hit, _ = self._one(sym, "symbol")
            return hit, "uniprot"
        up = s.upper()
        if up in self._symbol:
            return self._symbol[up], "symbol"
        if up in self._alias:
            return self._alias[up], "alias"
        return None, "symbol"

    def map(self, identifiers: Iterable[str], kind: IdKind = "auto") -> MappingResult:
        """Map identifiers to current HGNC symbols.

        Parameters
        ----------
        identifiers
            Gene IDs of any supported kind; mixed kinds are allowed with ``kind="auto"``.
        kind
            Force one identifier type instead of detecting it per ID.

        Returns
        -------
        MappingResult
            Mapped identifiers (input order, duplicates kept once) and the unmapped ones.
        """
        symbols: dict[str, str] = {}
        via: dict[str, str] = {}
        unmapped: list[str] = []
        for ident in dict.fromkeys(str(i) for i in identifiers):
            hit, how = self._one(ident, kind)
            if hit is None:
                unmapped.append(ident)
            else:
                symbols[ident] = hit
                via[ident] = how
        return MappingResult(symbols, unmapped, via)

    def to_symbols(self, identifiers: Iterable[str], kind: IdKind = "auto") -> list[str | None]:
        """Element-wise mapping (``None`` where unmapped), aligned with the input."""
        ids = [str(i) for i in identifiers]
        res = self.map(ids, kind)
        return [res.symbols.get(i) for i in ids]


#: Bundled tables behind :meth:`GeneMapper.default`.
MAPPER_TABLES = ("hgnc", "lincs_geneinfo", "geneformer_v1_names", "pathlinker_uniprot")


@lru_cache(maxsize=1)
def _default_mapper() -> GeneMapper:
    return cached_build("gene-mapper", mapper_sources(), _build_default_mapper)


def mapper_sources() -> list[str | Path]:
    """The files the default mapper is built from (this module and its bundled tables): its cache key."""
    return [__file__, *(path(name) for name in MAPPER_TABLES)]


def _build_default_mapper() -> GeneMapper:
    raw = read_table("hgnc", sep="\t", dtype=str, keep_default_na=False)
    hgnc = raw.rename(columns={"Approved symbol": "symbol", "NCBI Gene ID": "entrez", "Ensembl gene ID": "ensembl"})
    lincs = read_table("lincs_geneinfo", sep="\t", dtype=str, keep_default_na=False)
    with gzip.open(path("geneformer_v1_names"), "rb") as fh:
        name_to_ensembl: dict[str, str] = pickle.load(fh)
    # HGNC 2022 leaves some IDs empty (e.g. MET has no Entrez ID there): fill them from LINCS gene info
    # (Entrez) and Geneformer's symbol -> Ensembl table when these name the same approved symbol and
    # the ID is not already another symbol's.
    lincs_entrez = dict(zip(lincs["gene_symbol"], lincs["gene_id"]))
    for col, extra in (("entrez", lincs_entrez), ("ensembl", name_to_ensembl)):
        fill = hgnc["symbol"].map(lambda sym, extra=extra: str(extra.get(sym) or ""))
        fill = fill.where((hgnc[col] == "") & ~fill.isin(set(hgnc[col])) & ~fill.duplicated(keep=False), "")
        hgnc[col] = hgnc[col].where(hgnc[col] != "", fill)
    entrez_to_symbol = {e: s for e, s in zip(hgnc["entrez"], hgnc["symbol"]) if e}
    ensembl_to_symbol = {e: s for e, s in zip(hgnc["ensembl"], hgnc["symbol"]) if e}

    aliases: dict[str, str] = {}
    for old, entrez in zip(lincs["gene_symbol"], lincs["gene_id"]):
        new = entrez_to_symbol.get(entrez)
        if new and old and old != new:
            aliases.setdefault(old, new)
    for old, ens in name_to_ensembl.items():
        new = ensembl_to_symbol.get(str(ens))
        if new and old != new:
            aliases.setdefault(old, new)

    uni = read_table("pathlinker_uniprot", sep="\t", header=None, names=["uniprot", "symbol"], dtype=str)
    uniprot = dict(zip(uni["uniprot"], uni["symbol"]))
    return GeneMapper(hgnc[["symbol", "entrez", "ensembl"]], aliases, uniprot)
