"""The fallback context encoder: a fixed PCA projection of rank-value-encoded baseline expression.

``ExpressionEncoder`` (name ``expression-pca``) needs no model weights. Per profile (a cell or a bulk sample):

1. genes -> HGNC symbols (GeneMapper); input columns with the same symbol are summed;
2. expression on a linear scale (counts, CPM, TPM) is divided by Geneformer's corpus gene median
   (the bundled V1 median dictionary) -- the scaling Geneformer's tokenizer uses -- and genes are ranked,
   descending, among the genes the profile's *platform* measures;
3. rank-value score = ``1 - (rank - 1) / n_measured`` for an expressed gene (1 = top), 0 for an unexpressed one;
4. each gene's score is standardised with the mean and standard deviation of its platform's reference
   profiles (RNA-seq, L1000 and single-cell scores are not comparable gene by gene otherwise); genes a
   platform does not measure get 0;
5. the standardised profile is projected on the top ``dim`` principal axes of the reference profiles
   (a PCA in which every platform carries the same total weight), each axis scaled to unit variance.

The reference mean therefore encodes to the zero vector, the documented default for contexts
without baseline expression.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import anndata as ad
import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata
from sklearn.utils.extmath import randomized_svd

from twincell.context._npz import open_versioned_npz, write_npz
from twincell.context.dictionaries import medians_by_symbol
from twincell.data.genes import GeneMapper, row_number_problem, var_column_hint
from twincell.data.pseudobulk import check_anndata_keys
from twincell.data.signatures import whole_numbers
from twincell.errors import ContextError

log = logging.getLogger(__name__)

_CHUNK = 2048
#: Share of a platform's reference genes below which a profile's ranks rest on too few of them (encode warns).
LOW_COVERAGE = 0.5
_LINEAR_HINT = "give linear-scale expression (counts, CPM or TPM), not log-transformed or scaled values"
_FORMAT = 1


def rank_value_scores(values: np.ndarray) -> np.ndarray:
    """Rank-value score of each gene within each profile.

    Parameters
    ----------
    values
        (n_profiles, n_genes) median-scaled expression (non-negative); ``NaN`` = gene not measured.

    Returns
    -------
    numpy.ndarray
        Same shape: ``1 - (rank - 1) / n_measured`` for expressed genes (rank 1 = highest, ties averaged),
        0 for unexpressed genes, ``NaN`` where not measured.
    """
    ranks = rankdata(-values, axis=1, nan_policy="omit")
    n_measured = np.maximum((~np.isnan(values)).sum(axis=1, keepdims=True), 1)
    scores = 1.0 - (ranks - 1.0) / n_measured
    scores[values == 0] = 0.0
    return scores


class ExpressionEncoder:
    """Context encoder without model weights: PCA of rank-value-encoded, platform-standardised expression.

    Parameters
    ----------
    dim
        Number of principal axes kept (the embedding size).
    medians
        Gene symbol -> corpus gene median; default: Geneformer V1's medians mapped to HGNC symbols.
    default_platform
        Platform whose reference statistics :meth:`encode` uses when neither the call nor ``obs`` names one;
        default: the first platform seen by :meth:`fit`.
    gene_key
        ``var`` column with gene IDs; default ``var_names``.

    Attributes
    ----------
    name
        The encoder's identity, saved with every context it encodes: ``expression-pca`` for the fit on TwinCell's
        bundled references (:meth:`default`), ``expression-pca-<fingerprint>`` for any other fit (its
        :meth:`fingerprint`), so that contexts of two different fits are never mixed.

    Examples
    --------
    >>> enc = ExpressionEncoder.default()          # fitted on the bundled references
    >>> emb = enc.encode(adata, platform="scrna")  # (n_obs, 16)
    """

    name = "expression-pca"  # the bundled fit's; fit() names any other by its fingerprint

    def __init__(self, dim: int = 16, medians: Mapping[str, float] | None = None,
                 default_platform: str | None = None, gene_key: str | None = None) -> None:
        if dim < 1:
            raise ContextError(f"dim must be positive, got {dim}", "use e.g. dim=16")
        self._dim = int(dim)
        self.medians = dict(medians) if medians is not None else None
        self.default_platform = default_platform
        self.gene_key = gene_key
        self.genes: np.ndarray | None = None
        self.platforms: dict[str, dict[str, np.ndarray]] = {}
        self.center: np.ndarray | None = None
        self.components: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.explained_variance_ratio: np.ndarray | None = None

    @property
    def dim(self) -> int:
        """Embedding size."""
        return self._dim

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`load`) has set the projection."""
        return self.components is not None

    def __repr__(self) -> str:
        state = f"{len(self.genes)} genes, platforms {sorted(self.platforms)}" if self.is_fitted else "not fitted"
        return f"ExpressionEncoder({self.name}, dim={self.dim}, {state})"

    @classmethod
    def default(cls) -> ExpressionEncoder:
        """The encoder fitted on TwinCell's bundled reference profiles (cached; see :func:`twincell.context.bundled`)."""
        from twincell.context.bundled import default_encoder

        return default_encoder()

    # -- fitting -----------------------------------------------------------------------------------------------
    def fit(self, adata: ad.AnnData, platform_key: str = "platform") -> ExpressionEncoder:
        """Learn the per-platform gene statistics and the principal axes from reference profiles.

        Parameters
        ----------
        adata
            Reference profiles x genes, linear-scale expression (counts, CPM, TPM); ``NaN`` = not measured.
        platform_key
            ``obs`` column naming each profile's platform (all profiles form one platform when absent).

        Returns
        -------
        ExpressionEncoder
            ``self``, fitted.

        Raises
        ------
        ContextError
            No ``X`` or no profile, no gene with a Geneformer median, fewer genes than ``dim``, or too few profiles.
        """
        check_anndata_keys(adata, error=ContextError)
        if adata.n_obs == 0:
            raise ContextError("no reference profile to fit on (the AnnData has 0 rows)", "fit on reference profiles")
        medians = self.medians if self.medians is not None else medians_by_symbol()
        symbols = hgnc_symbols(adata, self.gene_key)
        panel = [s for s in dict.fromkeys(s for s in symbols if s) if s in medians]
        if not panel:
            raise ContextError("no reference gene maps to a symbol with a Geneformer gene median",
                               "give HGNC symbols or Ensembl IDs as gene names")
        if len(panel) < self.dim:  # the principal axes live in the panel's space
            raise ContextError(f"{len(panel)} reference genes cannot give {self.dim} principal axes",
                               f"fit on more genes, or lower dim (at most {len(panel)})")
        self.medians = {g: float(medians[g]) for g in panel}
        self.genes = np.asarray(panel)
        labels = _platform_labels(adata, platform_key, None)
        self.default_platform = self.default_platform or labels[0]
        agg = _aggregation(symbols, self.genes)
        median_vec = np.array([self.medians[g] for g in panel])
        blocks, weights = [], []
        self.platforms = {}
        for plat in dict.fromkeys(labels):
            rows = np.flatnonzero(labels == plat)
            values = _median_scaled(_values(adata, rows), agg, median_vec)
            measured = ~np.all(np.isnan(values), axis=0)
            scores = np.full_like(values, np.nan)
            scores[:, measured] = rank_value_scores(values[:, measured])
            mean, std = np.zeros(len(panel)), np.full(len(panel), np.inf)
            mean[measured] = np.nanmean(scores[:, measured], axis=0)
            std[measured] = np.nanstd(scores[:, measured], axis=0)
            std[~(std > 1e-12)] = np.inf  # constant genes carry no information: z = 0
            self.platforms[plat] = {"measured": measured, "mean": mean, "std": std}
            blocks.append(self._standardise(scores, plat))
            weights.append(np.full(len(rows), 1.0 / len(rows)))
            log.info("expression-pca reference platform %s: %d profiles, %d genes", plat, len(rows), int(measured.sum()))
        z = np.vstack(blocks)
        w = np.concatenate(weights) / len(blocks)  # each platform carries the same total weight
        if z.shape[0] <= self.dim:
            raise ContextError(f"{z.shape[0]} reference profiles cannot give {self.dim} principal axes",
                               "fit on more profiles or lower dim")
        self._fit_pca(z, w)
        self.name = f"{ExpressionEncoder.name}-{self.fingerprint()}"
        return self

    def fingerprint(self) -> str:
        """8-hex-digit hash of what the fit learned (genes, medians, platform statistics, principal axes): two fits
        encode alike exactly when their fingerprints agree."""
        if not self.is_fitted:
            raise ContextError("an unfitted ExpressionEncoder has no fingerprint", "call fit first")
        h = hashlib.sha1("\t".join(self.genes.astype(str)).encode())
        labels = ["medians", "center", "components", "scale",
                  *(f"{plat}:{key}" for plat, stats in self.platforms.items() for key in stats)]
        arrays = [np.array([self.medians[g] for g in self.genes]), self.center, self.components, self.scale,
                  *(v for stats in self.platforms.values() for v in stats.values())]
        for label, a in zip(labels, arrays, strict=True):
            h.update(label.encode() + np.asarray(a, dtype=np.float64).tobytes())
        return h.hexdigest()[:8]

    def _fit_pca(self, z: np.ndarray, w: np.ndarray) -> None:
        center = w @ z
        centred = np.sqrt(w)[:, None] * (z - center)  # weighted PCA = SVD of the row-scaled, centred matrix
        _, sing, comps = randomized_svd(centred, self.dim, n_oversamples=20, n_iter=10, random_state=0)
        flip = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])  # deterministic signs
        comps *= flip[:, None]
        if np.any(sing < 1e-12):
            raise ContextError("the reference profiles span fewer than dim independent directions", "lower dim")
        self.center = center
        self.components = comps
        self.scale = sing  # weights sum to 1, so sing**2 is each axis' weighted variance
        self.explained_variance_ratio = sing**2 / np.sum(centred**2)

    def _standardise(self, scores: np.ndarray, platform: str) -> np.ndarray:
        stats = self.platforms[platform]
        z = (scores - stats["mean"]) / stats["std"]
        return np.nan_to_num(z, nan=0.0)

    # -- encoding ----------------------------------------------------------------------------------------------
    def _read(self, adata: ad.AnnData, platform: str | None, platform_key: str,
              ) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
        """Each profile's platform, the input-column -> panel-gene aggregation and the panel genes present."""
        if not self.is_fitted:
            raise ContextError("the ExpressionEncoder is not fitted",
                               "call fit(reference) or use ExpressionEncoder.default()")
        if platform is None and platform_key not in adata.obs.columns:
            platform = self.default_platform
        labels = _platform_labels(adata, platform_key, platform)
        unknown = sorted(set(labels) - set(self.platforms))
        if unknown:
            raise ContextError(f"unknown platform(s) {unknown}", f"fitted platforms: {sorted(self.platforms)}")
        agg = _aggregation(hgnc_symbols(adata, self.gene_key), self.genes)
        return labels, agg, np.asarray(agg.sum(axis=0)).ravel() > 0

    def coverage(self, adata: ad.AnnData, platform: str | None = None, platform_key: str = "platform",
                 ) -> dict[str, tuple[int, int]]:
        """Per platform the profiles of ``adata`` use (as :meth:`encode` picks them): (reference genes present in
        ``adata``, reference genes of the platform). :meth:`encode` warns below :data:`LOW_COVERAGE`."""
        labels, _, present = self._read(adata, platform, platform_key)
        return {plat: (int((self.platforms[plat]["measured"] & present).sum()),
                       int(self.platforms[plat]["measured"].sum())) for plat in dict.fromkeys(labels)}

    def encode(self, adata: ad.AnnData, platform: str | None = None, platform_key: str = "platform") -> np.ndarray:
        """Embed each profile of ``adata``.

        Parameters
        ----------
        adata
            Profiles x genes (cells or bulk samples), linear-scale expression (raw counts, CPM, TPM; not log). In a
            dense matrix ``NaN`` marks a gene not measured in that profile (left out of its ranks, as in :meth:`fit`,
            not read as 0); a sparse matrix cannot mark one and must hold finite values.
        platform
            Reference platform whose gene set and statistics standardise the profiles (e.g. ``scrna``,
            ``rnaseq``, ``l1000`` for the default encoder); default: ``obs[platform_key]`` when present,
            else :attr:`default_platform`.
        platform_key
            ``obs`` column with a platform per profile.

        Returns
        -------
        numpy.ndarray
            (n_obs, dim) float32 embeddings.

        Raises
        ------
        ContextError
            If the encoder is not fitted, the AnnData has no ``X``, the expression is log-normalised (``uns["log1p"]``),
            a platform is unknown, no platform gene is present, a profile expresses none of them, or values are negative.
        """
        check_anndata_keys(adata, error=ContextError)
        if "log1p" in adata.uns and not whole_numbers(adata.X):  # scanpy's mark, and X is not counts (put back)
            raise ContextError("the expression is log-normalised (adata.uns['log1p'] is set and X holds fractions); "
                               "the encoder reads raw counts or linear-scale expression",
                               "pass the raw counts in X (e.g. adata.raw.to_adata() or a copy with X = a counts layer)")
        labels, agg, present = self._read(adata, platform, platform_key)
        median_vec = np.array([self.medians[g] for g in self.genes])
        out = np.empty((adata.n_obs, self.dim), dtype=np.float32)
        for plat in dict.fromkeys(labels):
            stats = self.platforms[plat]
            genes = stats["measured"] & present
            if not genes.any():
                raise ContextError(f"none of the {int(stats['measured'].sum())} genes of platform {plat!r} is in the AnnData",
                                   "check the gene names (HGNC symbols or Ensembl IDs) or choose another platform")
            coverage = genes.sum() / stats["measured"].sum()
            (log.warning if coverage < LOW_COVERAGE else log.info)(
                "expression-pca: platform %s, %d of %d reference genes present (%.0f%%)",
                plat, int(genes.sum()), int(stats["measured"].sum()), 100 * coverage)
            rows_all = np.flatnonzero(labels == plat)
            for start in range(0, len(rows_all), _CHUNK):
                rows = rows_all[start:start + _CHUNK]
                values = _median_scaled(_values(adata, rows), agg, median_vec)
                empty = ~(values[:, genes] > 0).any(axis=1)
                if empty.any():
                    raise ContextError(f"{int(empty.sum())} profile(s) express none of the {int(genes.sum())} reference "
                                       f"genes of platform {plat!r} present (e.g. {adata.obs_names[rows[empty][0]]}): "
                                       "there is nothing to rank", "give linear-scale expression (counts, CPM, TPM) "
                                       "of the profile's genes, not zeros")
                scores = np.full_like(values, np.nan)
                scores[:, genes] = rank_value_scores(values[:, genes])
                z = self._standardise(scores, plat)
                out[rows] = ((z - self.center) @ self.components.T) / self.scale
        return out

    # -- persistence -------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted encoder to one ``.npz`` file (no pickles) and return it: ``path`` with ``.npz`` added
        when it has another suffix (numpy's rule), its folder made when missing."""
        if not self.is_fitted:
            raise ContextError("cannot save an unfitted ExpressionEncoder", "call fit first")
        arrays = {"format": np.array(_FORMAT), "dim": np.array(self.dim), "genes": self.genes.astype(str),
                  "medians": np.array([self.medians[g] for g in self.genes]), "center": self.center,
                  "components": self.components, "scale": self.scale, "evr": self.explained_variance_ratio,
                  "default_platform": np.array(self.default_platform), "name": np.array(self.name),
                  "gene_key": np.array(self.gene_key or ""),
                  "platform_names": np.array(list(self.platforms), dtype=str)}
        for i, stats in enumerate(self.platforms.values()):
            for k, v in stats.items():
                arrays[f"platform{i}_{k}"] = v
        return write_npz(path, "ExpressionEncoder file", arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ExpressionEncoder:
        """Read an encoder written by :meth:`save`.

        Raises
        ------
        DataFileError
            If the file is missing, corrupt or of another format version.
        """
        with open_versioned_npz(path, _FORMAT, "ExpressionEncoder file", "re-fit and save the encoder") as f:
            genes = f["genes"]
            enc = cls(int(f["dim"]), dict(zip(genes.tolist(), f["medians"].tolist())), str(f["default_platform"]),
                      (str(f["gene_key"]) or None) if "gene_key" in f else None)
            enc.name = str(f["name"]) if "name" in f else cls.name  # files written before names held fingerprints
            enc.genes = genes
            enc.center, enc.components, enc.scale = f["center"], f["components"], f["scale"]
            enc.explained_variance_ratio = f["evr"]
            enc.platforms = {str(p): {k: f[f"platform{i}_{k}"] for k in ("measured", "mean", "std")}
                             for i, p in enumerate(f["platform_names"])}
        return enc


#: ``var`` columns that hold gene symbols in common AnnData files (CELLxGENE's ``feature_name``, scanpy's 10x readers'
#: ``gene_symbols``, Kang 2018's ``symbol_orig``), read for the genes whose IDs do not map (:func:`hgnc_symbols`).
SYMBOL_COLUMNS: tuple[str, ...] = ("feature_name", "gene_symbols", "gene_symbol", "gene_name", "symbol", "symbol_orig")


def hgnc_symbols(adata: ad.AnnData, gene_key: str | None = None) -> list[str | None]:
    """HGNC symbol of each ``var`` entry (``None`` where unmapped; the unmapped ones are logged).

    IDs come from ``var[gene_key]``, else ``var_names``; when ``gene_key`` is not given and ``var`` has an
    ``ensembl_id`` column, its Ensembl IDs are used first and ``var_names`` only where they do not map (never when
    ``var_names`` are row numbers: a gene whose Ensembl ID does not map is then unmapped). Without ``gene_key``, a
    gene still unmapped is then looked up in the symbol columns ``var`` has among :data:`SYMBOL_COLUMNS`, in that
    order (a retired Ensembl ID beside its symbol: Kang 2018's CCL5, TXNIP, RBM8A, NCOA4, LILRA3).
    """
    if gene_key is not None and gene_key not in adata.var.columns:
        raise ContextError(f"var column {gene_key!r} not found", f"available: {list(adata.var.columns)}")
    mapper = GeneMapper.default()
    ids = [str(g) for g in (adata.var[gene_key] if gene_key else adata.var_names)]
    problem = row_number_problem(ids, f"the expression's {'var[' + repr(gene_key) + ']' if gene_key else 'var_names'}")
    if problem and not (gene_key is None and "ensembl_id" in adata.var.columns):
        raise ContextError(problem, var_column_hint(adata.var.columns))
    result = mapper.map(ids)
    symbols = [None] * len(ids) if problem else [result.symbols.get(i) for i in ids]  # row numbers are no IDs
    if gene_key is None and "ensembl_id" in adata.var.columns:
        by_ensembl = mapper.to_symbols(adata.var["ensembl_id"].astype(str), kind="ensembl")
        symbols = [e or s for e, s in zip(by_ensembl, symbols)]
    for column in (c for c in SYMBOL_COLUMNS if gene_key is None and c in adata.var.columns):
        if None not in symbols:
            break
        by_column = mapper.to_symbols(adata.var[column].astype(str), kind="symbol")
        symbols = [s or c for s, c in zip(symbols, by_column)]
    unmapped = [i for i, s in zip(ids, symbols) if s is None]
    if unmapped:
        log.info("expression-pca: %d of %d genes have no HGNC symbol (e.g. %s)", len(unmapped), len(ids), unmapped[:5])
    return symbols


def _aggregation(symbols: list[str | None], genes: np.ndarray) -> sp.csr_matrix:
    """(n_vars, n_panel) 0/1 matrix summing input columns into panel genes."""
    index = {g: j for j, g in enumerate(genes)}
    pairs = [(i, index[s]) for i, s in enumerate(symbols) if s in index]
    rows, cols = (np.array(x, dtype=np.int64) for x in zip(*pairs)) if pairs else (np.zeros(0, np.int64),) * 2
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(symbols), len(genes)))


def _values(adata: ad.AnnData, rows: np.ndarray) -> np.ndarray | sp.csr_matrix:
    x = adata.X[rows]
    return sp.csr_matrix(x, dtype=np.float64) if sp.issparse(x) else np.asarray(x, dtype=np.float64)


def _median_scaled(x: np.ndarray | sp.csr_matrix, agg: sp.csr_matrix, medians: np.ndarray) -> np.ndarray:
    """Sum input columns into panel genes (NaN where no input column was measured) and divide by the gene medians."""
    if sp.issparse(x):
        if x.nnz and (not np.all(np.isfinite(x.data)) or x.data.min() < 0):
            raise ContextError("expression holds negative or non-finite values", _LINEAR_HINT)
        values = np.asarray((x @ agg).todense())
        values[:, np.asarray(agg.sum(axis=0)).ravel() == 0] = np.nan
    else:
        missing = np.isnan(x)
        if np.any(np.isinf(x)) or np.any(x[~missing] < 0):
            raise ContextError("expression holds negative or infinite values", _LINEAR_HINT)
        values = np.where(missing, 0.0, x) @ agg
        measured = (~missing).astype(np.float64) @ agg
        values = np.asarray(values)
        values[np.asarray(measured) == 0] = np.nan
    return values / medians


def _platform_labels(adata: ad.AnnData, key: str, forced: str | None) -> np.ndarray:
    if forced is not None:
        return np.full(adata.n_obs, forced, dtype=object)
    if key in adata.obs.columns:
        labels = adata.obs[key]
        if labels.isna().any():
            raise ContextError(f"obs[{key!r}] has missing values", "name a platform for every profile")
        return labels.astype(str).to_numpy(dtype=object)
    return np.full(adata.n_obs, "default", dtype=object)

