"""The one data contract for perturbation responses: :class:`PerturbationDataset` (an AnnData wrapper).

Layout (see ``docs/ARCHITECTURE.md``)

* ``X``: float32, dense, shape (n_examples, n_genes); one row per (perturbation, context[, dose]); values are the
  expression change against the matched control; ``NaN`` = not measured (masked out of losses).
* ``var_names``: HGNC symbols (unique).
* ``obs``: ``perturbation`` (str), ``perturbation_type`` (``drug|knockout|knockdown|overexpression|cytokine``),
  ``targets`` (str, ``;``-joined ``GENE:+1`` / ``GENE:-1``, ``GENE:0`` when the direction is unknown; empty when
  the targets are unknown), ``context`` (str), ``dose`` (float, NaN if unknown), ``dataset`` (str). Loaders may add
  columns (plate, number of cells ...).
* ``uns``: ``value_type`` (``zscore|log_fold_change|rank_inverse_normal``), ``rank_derived`` (bool), ``source``,
  ``provenance`` (dict of strings), ``unmapped_genes``, ``unmatched_perturbations``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from twincell.data.genes import GeneMapper
from twincell.errors import DataFileError, UnknownGeneError

log = logging.getLogger(__name__)

OBS_COLUMNS = ("perturbation", "perturbation_type", "targets", "context", "dose", "dataset")
PERTURBATION_TYPES = ("drug", "knockout", "knockdown", "overexpression", "cytokine")
VALUE_TYPES = ("zscore", "log_fold_change", "rank_inverse_normal")
UNS_KEYS = ("value_type", "rank_derived", "source", "provenance", "unmapped_genes", "unmatched_perturbations")
#: Largest |value| a response may hold: z-scores, log fold changes and rank scores are far below it (the bundled
#: data reach 50); larger ones are units gone wrong (raw counts, a failed log) and overflow float32 in training.
MAX_ABS_RESPONSE = 1000.0


def _numeric_doses(dose: pd.Series) -> pd.Series:
    """Doses as floats (missing or blank -> NaN); text that is not a number (``"10 uM"``) raises DataFileError."""
    values = pd.to_numeric(dose, errors="coerce").astype(float)
    given = dose.notna() & (dose.astype(str).str.strip() != "")
    words = sorted(set(dose[given & values.isna()].astype(str)))
    if words:
        raise DataFileError(f"obs column 'dose' holds doses that are not numbers: {', '.join(words[:5])}",
                            "give doses as numbers in one unit (e.g. 10 for 10 uM) and name the unit elsewhere")
    return values


def report_left_out(ds: PerturbationDataset, loader: str, what: Mapping[str, str]) -> None:
    """Log a warning for each ``uns`` key of ``what`` (key -> what its items are) that lists items: what ``loader``
    left out or could not annotate, kept in full in the dataset's ``uns``."""
    for key, description in what.items():
        items = [str(v) for v in np.asarray(ds.uns.get(key, []), dtype=object).ravel()]
        if items:
            log.warning("%s: %d %s: %s%s (uns[%r])", loader, len(items), description, ", ".join(items[:5]),
                        " ..." if len(items) > 5 else "", key)


def format_targets(targets: Mapping[str, int]) -> str:
    """``{"MAP2K1": -1, "MAP2K2": -1}`` -> ``"MAP2K1:-1;MAP2K2:-1"`` (sorted by gene; sign 0 written ``GENE:0``)."""
    return ";".join(f"{g}:{int(s):+d}" if int(s) else f"{g}:0" for g, s in sorted(targets.items()))


def parse_targets(text: str | None) -> dict[str, int]:
    """Inverse of :func:`format_targets`; an empty string (or a missing value) gives ``{}``.

    Raises
    ------
    DataFileError
        If an entry is not ``GENE:+1``, ``GENE:-1`` or ``GENE:0``.
    """
    out: dict[str, int] = {}
    if not isinstance(text, str):
        return out
    for item in filter(None, text.split(";")):
        gene, _, sign = item.rpartition(":")
        if not gene or sign not in ("+1", "-1", "0", "1"):
            raise DataFileError(f"malformed target entry {item!r} in {text!r}",
                                "write targets as ';'-joined GENE:+1 / GENE:-1 / GENE:0")
        out[gene] = int(sign)
    return out


class PerturbationDataset:
    """Pseudobulk perturbation responses in one validated AnnData.

    Parameters
    ----------
    adata
        AnnData in the layout of this module's docstring.
    validate
        Run :meth:`validate` (default).
    """

    def __init__(self, adata: ad.AnnData, *, validate: bool = True) -> None:
        self.adata = adata
        if validate:
            self.validate()

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(cls, X: np.ndarray, obs: pd.DataFrame, genes: Sequence[str], *, value_type: str, source: str,
              provenance: Mapping[str, str], rank_derived: bool = False, unmapped_genes: Iterable[str] = (),
              unmatched_perturbations: Iterable[str] = (), uns: Mapping[str, object] | None = None,
              ) -> PerturbationDataset:
        """Assemble and validate a dataset from a matrix, an obs table and gene symbols.

        Parameters
        ----------
        X
            (n_examples, n_genes) responses; cast to float32.
        obs
            Must hold the columns of :data:`OBS_COLUMNS`; extra columns are kept.
        genes
            HGNC symbols, one per column of ``X``.
        value_type, source, provenance, rank_derived, unmapped_genes, unmatched_perturbations
            The ``uns`` entries of the contract.
        uns
            Further ``uns`` entries (e.g. the transform applied).
        """
        obs = obs.reset_index(drop=True).copy()
        missing = [c for c in OBS_COLUMNS if c not in obs.columns]
        if missing:
            raise DataFileError(f"perturbation obs table lacks columns {missing}",
                                f"provide all of {list(OBS_COLUMNS)}")
        for col in ("perturbation", "perturbation_type", "targets", "context", "dataset"):  # IDs as text (101 -> "101")
            obs[col] = [None if pd.isna(v) else str(v) for v in obs[col]]
        obs["dose"] = _numeric_doses(obs["dose"])
        obs.index = [f"{d}:{i}" for i, d in enumerate(obs["dataset"])]
        adata = ad.AnnData(np.ascontiguousarray(X, dtype=np.float32), obs=obs,
                           var=pd.DataFrame(index=pd.Index([str(g) for g in genes], name="gene")))
        adata.uns.update({
            "value_type": value_type, "rank_derived": bool(rank_derived), "source": source,
            "provenance": {str(k): str(v) for k, v in provenance.items()},
            "unmapped_genes": np.asarray(sorted(set(map(str, unmapped_genes))), dtype=object),
            "unmatched_perturbations": np.asarray(sorted(set(map(str, unmatched_perturbations))), dtype=object),
        })
        adata.uns.update(dict(uns or {}))
        return cls(adata)

    # ------------------------------------------------------------------ accessors
    @property
    def X(self) -> np.ndarray:
        """(n_examples, n_genes) float32 responses, NaN = not measured."""
        return self.adata.X

    @property
    def obs(self) -> pd.DataFrame:
        """One row per example (see :data:`OBS_COLUMNS`)."""
        return self.adata.obs

    @property
    def uns(self) -> dict:
        """Dataset-level annotations (see :data:`UNS_KEYS`)."""
        return self.adata.uns

    @property
    def genes(self) -> np.ndarray:
        """Column genes (HGNC symbols)."""
        return self.adata.var_names.to_numpy()

    @property
    def n_obs(self) -> int:
        """Number of examples (rows)."""
        return self.adata.n_obs

    def __len__(self) -> int:
        return self.adata.n_obs

    def __repr__(self) -> str:
        u = self.uns
        return (f"PerturbationDataset({u.get('source')!r}: {self.n_obs} examples x {self.adata.n_vars} genes, "
                f"{self.obs['perturbation'].nunique()} perturbations, {self.obs['context'].nunique()} contexts, "
                f"{u.get('value_type')})")

    def targets_of(self, i: int) -> dict[str, int]:
        """Target gene -> sign of example ``i`` (empty when unknown)."""
        return parse_targets(self.obs["targets"].iloc[i])

    # ------------------------------------------------------------------ checks
    def validate(self, check_genes: bool = True) -> None:
        """Check the contract; raise a clear error naming the first problems.

        Parameters
        ----------
        check_genes
            Also require column and target genes to be current HGNC symbols.

        Raises
        ------
        DataFileError
            Empty dataset, missing obs columns or uns keys, bad types (of X, dose or the uns keys), unknown
            perturbation types, empty perturbation / context ids, infinite values, values above
            :data:`MAX_ABS_RESPONSE` or rows without any measured value.
        UnknownGeneError
            Column or target genes that are not HGNC symbols.
        """
        a = self.adata
        src = a.uns.get("source", "perturbation dataset")
        if a.n_obs == 0 or a.n_vars == 0:
            raise DataFileError(f"{src} is empty ({a.n_obs} examples x {a.n_vars} genes)",
                                "check the filters that built it: no example or no gene is left")
        missing = [c for c in OBS_COLUMNS if c not in a.obs.columns]
        if missing:
            raise DataFileError(f"{src}: obs lacks columns {missing}", f"provide all of {list(OBS_COLUMNS)}")
        missing_uns = [k for k in UNS_KEYS if k not in a.uns]
        if missing_uns:
            raise DataFileError(f"{src}: uns lacks keys {missing_uns}", f"provide all of {list(UNS_KEYS)}")
        kinds = {"source": str, "provenance": Mapping, "rank_derived": (bool, np.bool_)}
        wrong = [f"{k} is {type(a.uns[k]).__name__}" for k, kind in kinds.items() if not isinstance(a.uns[k], kind)]
        wrong += [f"{k} is {type(a.uns[k]).__name__}" for k in ("unmapped_genes", "unmatched_perturbations")
                  if isinstance(a.uns[k], (str, bytes, Mapping)) or not np.iterable(a.uns[k])]
        if wrong:
            raise DataFileError(f"{src}: uns keys of the wrong type ({'; '.join(wrong)})",
                                "uns['source'] is a string, uns['provenance'] a dict of strings, uns['rank_derived'] a "
                                "bool, uns['unmapped_genes'] and uns['unmatched_perturbations'] lists of strings")
        if a.uns["value_type"] not in VALUE_TYPES:
            raise DataFileError(f"{src}: value_type {a.uns['value_type']!r} is not one of {VALUE_TYPES}",
                                "state what the values are: zscore, log_fold_change or rank_inverse_normal")
        if not isinstance(a.X, np.ndarray) or a.X.dtype != np.float32 or a.X.ndim != 2:
            raise DataFileError(f"{src}: X must be a dense float32 matrix, got {type(a.X).__name__}"
                                f" {getattr(a.X, 'dtype', '')}",
                                "convert with adata.X = adata.X.toarray().astype(np.float32) for a sparse matrix, "
                                "np.asarray(adata.X, dtype=np.float32) otherwise")
        if a.var_names.has_duplicates or (a.var_names == "").any():
            dup = a.var_names[a.var_names.duplicated()].unique().tolist()[:10]
            raise DataFileError(f"{src}: gene columns must be unique non-empty symbols (duplicates: {dup})",
                                "collapse duplicate genes before building the dataset")
        for col in ("perturbation", "context", "dataset"):
            bad = a.obs[col].isna() | (a.obs[col].astype(str).str.strip() == "")
            if bad.any():
                raise DataFileError(f"{src}: {int(bad.sum())} examples have an empty or NaN {col!r} "
                                    f"(first: {a.obs_names[bad.to_numpy()][0]})", f"give every example a {col} id")
        bad_type = sorted(set(a.obs["perturbation_type"].astype(str)) - set(PERTURBATION_TYPES))
        if bad_type:
            raise DataFileError(f"{src}: unknown perturbation_type values {bad_type}",
                                f"use one of {PERTURBATION_TYPES}")
        if not pd.api.types.is_float_dtype(a.obs["dose"]):
            raise DataFileError(f"{src}: obs 'dose' must be float (NaN if unknown)", "convert dose to float")
        if np.isinf(a.X).any():
            raise DataFileError(f"{src}: X holds infinite values", "replace them before building the dataset")
        huge = np.abs(np.nan_to_num(a.X)) > MAX_ABS_RESPONSE
        if huge.any():
            rows = a.obs_names[huge.any(axis=1)].tolist()
            raise DataFileError(f"{src}: {int(huge.sum())} values exceed |{MAX_ABS_RESPONSE:,.0f}| (largest "
                                f"{float(np.nanmax(np.abs(a.X))):.3g}; examples {rows[:5]})",
                                "give responses as z-scores, log fold changes or rank scores, not raw counts or "
                                "intensities")
        empty_rows = np.isnan(a.X).all(axis=1)
        if empty_rows.any():
            names = a.obs_names[empty_rows].tolist()[:5]
            raise DataFileError(f"{src}: {int(empty_rows.sum())} examples have no measured value (all NaN): {names}",
                                "drop examples without any measured gene")
        target_genes = set()
        for text in a.obs["targets"].unique():
            target_genes.update(parse_targets(text))
        if check_genes:
            known = GeneMapper.default().symbols
            unknown = [g for g in a.var_names if g not in known] + sorted(target_genes - known)
            if unknown:
                raise UnknownGeneError(unknown, f"{src}: {len(unknown)} genes are not HGNC symbols: {unknown[:10]}",
                                       "map gene IDs with twincell.data.genes.GeneMapper before building the dataset")

    # ------------------------------------------------------------------ transforms
    def subset(self, mask: np.ndarray | Sequence[bool] | Sequence[int]) -> PerturbationDataset:
        """The examples selected by a boolean mask or integer positions (a copy)."""
        return PerturbationDataset(self.adata[np.asarray(mask)].copy(), validate=False)

    def perturbs(self, genes: Collection[str], signed: bool = True) -> np.ndarray:
        """(n_obs,) bool: whether each row perturbs one of ``genes`` (a non-zero sign on it; with ``signed=False`` a
        target of any sign, e.g. a drug's target of unknown action)."""
        wanted = set(genes)
        return np.array([any((s != 0 or not signed) and g in wanted for g, s in self.targets_of(i).items())
                         for i in range(self.n_obs)], dtype=bool)

    def without_targets(self, genes: Collection[str]) -> PerturbationDataset:
        """The rows that perturb none of ``genes`` (:meth:`perturbs`; a copy, or ``self`` when ``genes`` is empty)."""
        return self.subset(~self.perturbs(genes)) if len(genes) else self

    def mean_response(self) -> pd.Series:
        """Each gene's mean response over the rows that measure it, indexed by gene (NaN where no row does)."""
        X = np.asarray(self.X, dtype=np.float64)
        n = (~np.isnan(X)).sum(axis=0)
        mean = np.divide(np.nansum(X, axis=0), n, out=np.full(X.shape[1], np.nan), where=n > 0)
        return pd.Series(mean, index=pd.Index(self.genes, name="gene"), name="mean_response")

    def common_response(self) -> PerturbationDataset:
        """A target-blind copy: each row's values replaced by its context's mean response.

        Gene by gene, every row gets the mean of that gene over the rows of its context that measure it
        (:meth:`mean_response` of the context: the response every perturbation of the context shares, which a
        model's per-dataset, per-context background can predict); genes the row does not measure stay NaN.
        Perturbations, targets and contexts are kept, so a model trained on the copy sees the same inputs with
        responses that say nothing about which gene was perturbed (TwinBench's ``twincell_common_response``
        control). ``uns["provenance"]["common_response"]`` records it.
        """
        out = self.subset(np.arange(self.n_obs))
        X = np.asarray(out.X, dtype=np.float64)
        common = np.full_like(X, np.nan)
        for rows in out.obs.groupby("context", sort=False, observed=True).indices.values():
            mean = self.subset(rows).mean_response().to_numpy()
            common[rows] = np.where(np.isnan(X[rows]), np.nan, mean)
        out.adata.X = common.astype(np.float32)
        out.adata.uns["provenance"] = {**self.uns["provenance"],
                                       "common_response": "each row replaced by its context's mean response per gene"}
        return out

    def select_genes(self, genes: Iterable[str]) -> PerturbationDataset:
        """Keep only the columns in ``genes`` (a copy); examples left without a measured value are dropped."""
        wanted = set(genes)
        keep = np.array([g in wanted for g in self.adata.var_names])
        sub = self.adata[:, keep].copy()
        has_value = ~np.isnan(sub.X).all(axis=1)
        return PerturbationDataset(sub[has_value].copy())

    @classmethod
    def concat(cls, datasets: Sequence[PerturbationDataset]) -> PerturbationDataset:
        """Stack datasets of the same ``value_type`` row-wise over the union of genes (NaN where a gene is absent).

        Raises
        ------
        DataFileError
            If the list is empty or mixes value types.
        """
        if not datasets:
            raise DataFileError("nothing to concatenate", "pass at least one PerturbationDataset")
        types = sorted({d.uns["value_type"] for d in datasets})
        if len(types) > 1:
            raise DataFileError(f"cannot concatenate datasets with different value types {types}",
                                "keep them as separate datasets (the model takes a list)")
        genes = list(dict.fromkeys(g for d in datasets for g in d.adata.var_names))
        blocks = [d.adata.to_df().reindex(columns=genes).to_numpy(np.float32) for d in datasets]
        obs = pd.concat([d.obs for d in datasets], ignore_index=True)
        return cls.build(
            np.vstack(blocks), obs, genes, value_type=types[0], source="+".join(str(d.uns["source"]) for d in datasets),
            provenance={str(d.uns["source"]): "; ".join(f"{k}={v}" for k, v in d.uns["provenance"].items())
                        for d in datasets},
            rank_derived=any(bool(d.uns["rank_derived"]) for d in datasets),
            unmapped_genes=[g for d in datasets for g in d.uns["unmapped_genes"]],
            unmatched_perturbations=[p for d in datasets for p in d.uns["unmatched_perturbations"]])

    # ------------------------------------------------------------------ files
    def write(self, file: str | os.PathLike) -> Path:
        """Write the dataset to an ``.h5ad`` file (lzf-compressed); returns the path.

        Pandas' string arrays (the default string dtype from pandas 3 on) are written as anndata's
        nullable strings, which anndata >= 0.11 reads back.
        """
        out = Path(file)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            with ad.settings.override(allow_write_nullable_strings=True):
                self.adata.write_h5ad(out, compression="lzf")
        except Exception as exc:  # h5py / anndata raise many types (an obs column of lists, a full disk)
            raise DataFileError(f"cannot write the perturbation dataset to {out}: {exc}",
                                "give a writable .h5ad path; extra obs columns must hold text or numbers") from exc
        return out

    @classmethod
    def read(cls, file: str | os.PathLike) -> PerturbationDataset:
        """Read and validate a dataset written by :meth:`write`.

        Raises
        ------
        DataFileError
            If the file is missing, unreadable or breaks the contract.
        """
        p = Path(file)
        if not p.exists():
            raise DataFileError(f"perturbation dataset file {p} does not exist", "check the path")
        try:
            adata = ad.read_h5ad(p)
        except Exception as exc:  # h5py / anndata raise many types for corrupt files
            raise DataFileError(f"cannot read {p} as h5ad: {exc}", "write it with PerturbationDataset.write") from exc
        if not isinstance(adata.X, np.ndarray):
            adata.X = np.asarray(adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X, dtype=np.float32)
        return cls(adata)


def matrix_from_long(long: pd.DataFrame, row_keys: Sequence[str], gene: str = "gene", value: str = "value",
                     row_values: Sequence[str] = ()) -> tuple[pd.DataFrame, list[str], np.ndarray, int]:
    """Pivot a long table (one row per example x gene) into a dense NaN-filled matrix.

    Rows with a missing key or gene are ignored. Duplicate genes within one example (two source IDs mapped
    to one symbol) keep the value of largest magnitude (the most extreme measurement).

    Parameters
    ----------
    long
        The long table (categorical columns are handled without string copies).
    row_keys
        Columns whose combination defines an example.
    gene, value
        Gene and value columns.
    row_values
        Columns constant within an example, copied (first value) into ``rows``.

    Returns
    -------
    rows, genes, X, n_duplicates
        ``rows``: one row per example, sorted by ``row_keys``, with ``row_keys`` and ``row_values`` columns;
        ``genes``: sorted column genes; ``X``: float32 (len(rows), len(genes)); ``n_duplicates``: duplicate
        entries resolved.
    """
    key_codes, key_uniques = [], []
    for k in row_keys:
        c, u = pd.factorize(long[k], sort=True)
        key_codes.append(c)
        key_uniques.append(np.asarray(u, dtype=object))
    col_id, genes = pd.factorize(long[gene], sort=True)
    values = long[value].to_numpy(np.float32)
    ok = (col_id >= 0) & ~np.isnan(values) & np.all([c >= 0 for c in key_codes], axis=0)
    combined = np.ravel_multi_index([c[ok] for c in key_codes], [len(u) for u in key_uniques])
    row_id, row_uniques = pd.factorize(combined, sort=True)
    pair = row_id.astype(np.int64) * len(genes) + col_id[ok]
    vals = values[ok]
    order = np.lexsort((-np.abs(vals), pair))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pair[order][1:] != pair[order][:-1]
    keep = order[first]
    X = np.full((len(row_uniques), len(genes)), np.nan, dtype=np.float32)
    X.reshape(-1)[pair[keep]] = vals[keep]
    parts = np.unravel_index(row_uniques, [len(u) for u in key_uniques])
    rows = pd.DataFrame({k: u[p] for k, u, p in zip(row_keys, key_uniques, parts)})
    if row_values:
        first_pos = pd.Series(np.flatnonzero(ok)).groupby(row_id).first().to_numpy()
        for col in row_values:
            rows[col] = long[col].to_numpy()[first_pos]
    return rows, [str(g) for g in genes], X, int(len(order) - len(keep))
