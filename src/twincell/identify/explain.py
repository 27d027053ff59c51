"""Why a target scores: its top signalling walks to the responding genes.

For the linear propagation ``M = R0 + R (A + ... + A^K)`` the score of activating node ``i`` is

    s_i = sum over walks i = v_0 -> v_1 -> ... -> v_h (h <= K) and genes g of
          A[v_1, v_0] ... A[v_h, v_{h-1}] * R_h[g, v_h] * d_g,

the product of signed, context-gated edge strengths along the walk, times the readout of the
walk's end node on gene ``g`` (``R_0 = R0`` for the target itself, ``R`` after one hop or more),
times the desired change of ``g``. :func:`explain` finds the ``k``
walks with the largest ``|contribution|`` by best-first (A*) search without enumerating walks: a
partial walk ending at ``v`` after ``h`` hops with product ``p`` can at best reach
``|p| * B_{K-h}(v)``, where ``B_0(v) = max_g |R[g, v] d_g|`` and
``B_r(v) = max(B_0(v), max_u |A[u, v]| B_{r-1}(u))`` (exact maxima, computed with ``K`` sparse
passes). Popping partial and complete walks from one heap ordered by that bound returns complete
walks in order of decreasing ``|contribution|``.

Everything but the search itself depends only on the operator and the desired change (CSC copy of
``A``, the readout products ``R diag(d)``, the bounds ``B``, the adjoint scores), so
:func:`explain_many` builds it once (:class:`WalkSearch`) for all explained targets.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from twincell.data.genes import GeneMapper
from twincell.errors import TwinCellError, UnknownGeneError, check_count
from twincell.identify import kernels
from twincell.identify.inverse import Direction, align_change, ranking_setup, resolve_operator

logger = logging.getLogger("twincell.identify")

PATH_COLUMNS = ("rank", "path", "nodes", "gene", "hops", "strengths", "readout", "change", "contribution", "share")
#: Columns of :meth:`Explanation.to_frame` (``paths.csv``): the target, its direction and score, then :data:`PATH_COLUMNS`.
PATHS_CSV_COLUMNS = ("target", "direction", "target_score", *PATH_COLUMNS)


@dataclass
class Explanation:
    """Top signalling walks behind one target's score.

    Attributes
    ----------
    target
        The perturbed gene.
    direction
        ``activate`` or ``inhibit`` (``none`` when asked for ``both`` and the score is 0: the target reaches no
        signature gene, as :func:`~twincell.identify.rank_targets` says); contributions and score are for this
        direction (positive =
        moves the cell towards the desired change).
    score
        The target's alignment score ``<d, M u>`` in that direction.
    paths
        One row per walk, best first: ``rank``, ``path`` (text: ``->`` activating edge, ``-|``
        inhibiting edge, ``=>`` readout onto the responding gene's transcript, which is the
        last protein's own transcript when ``gene`` equals it), ``nodes`` (tuple of the
        walk's proteins), ``gene`` (responding gene), ``hops``, ``strengths`` (tuple of signed
        edge strengths ``A[next, prev]``), ``readout`` (``R0[gene, target]`` for a 0-hop walk, the direct
        term; ``R[gene, last node]`` otherwise), ``change`` (desired
        change of ``gene``), ``contribution`` (product of all, times the direction's sign), ``share``
        (contribution / score).
    covered_share
        Sum of the listed contributions divided by the score (can exceed 1 or be negative when
        walks cancel).
    context_free
        Whether the context-free edge strengths were used.
    n_hops
        Longest walk length K of the propagation.
    complete
        False when the search stopped at its expansion limit before finding ``k`` walks.
    """

    target: str
    direction: str
    score: float
    paths: pd.DataFrame
    covered_share: float
    context_free: bool
    n_hops: int
    complete: bool = True

    def to_frame(self) -> pd.DataFrame:
        """The paths table with the target, its direction and score on every row (for CSV export)."""
        out = self.paths.copy()
        out.insert(0, "target", self.target)
        out.insert(1, "direction", self.direction)
        out.insert(2, "target_score", self.score)
        for col in ("nodes", "strengths"):
            out[col] = out[col].map(lambda t: ";".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in t))
        return out

    def __str__(self) -> str:
        if self.paths.empty or not np.isfinite(self.covered_share):
            return f"{self.target} ({self.direction}, score {self.score:.4g}): no walks carry a score"
        head = (f"{self.target} ({self.direction}, score {self.score:.4g}): top {len(self.paths)} walks cover "
                f"{self.covered_share:.1%} of the score")
        lines = [f"  {r.contribution:+.4g}  {r.path}" for r in self.paths.itertuples()]
        return "\n".join([head, *lines])


def reach_bounds(A: sp.spmatrix, terminal_abs: sp.spmatrix, n_hops: int) -> np.ndarray:
    """Largest ``|contribution|`` reachable from each node within ``r`` more hops, for r = 0..K.

    Parameters
    ----------
    A
        N x N propagation matrix, ``A[dst, src]`` (CSC is used as is, other formats are converted).
    terminal_abs
        N x N matrix ``|R[g, v] d_g|`` (genes x nodes).
    n_hops
        K.

    Returns
    -------
    np.ndarray
        (K + 1, N) array ``B[r, v]`` (:meth:`AbsColumns.levels` from the column maxima of ``terminal_abs``).
    """
    return AbsColumns.of(A).levels(terminal_abs.max(axis=0).toarray().ravel(), n_hops)


class AbsColumns:
    """``|M|`` column by column: the CSC arrays of the max-product passes, built once per matrix and reused.

    Entries stored as explicit zeros are dropped; indices are kept as ``intp`` (a gather with 32-bit indices
    converts them on every call).

    Parameters
    ----------
    M
        (n_rows, n_cols) sparse matrix, any format; never modified.

    Attributes
    ----------
    indptr, indices, data
        Canonical CSC arrays of ``|M|`` (``indices`` as ``intp``).
    shape
        ``M.shape``.
    """

    def __init__(self, M: sp.spmatrix) -> None:
        csc = _canonical(M, "csc")
        if not csc.data.all():
            csc = csc.copy()  # _canonical may hand back M itself
            csc.eliminate_zeros()
        self.shape = csc.shape
        self.indptr = csc.indptr.astype(np.intp)
        self.indices = csc.indices.astype(np.intp)
        self.data = np.abs(csc.data).astype(np.float64)
        self._nonempty = np.flatnonzero(np.diff(self.indptr) > 0)
        self._starts = self.indptr[self._nonempty]

    @classmethod
    def of(cls, M: sp.spmatrix | AbsColumns) -> AbsColumns:
        """``M`` itself when it already is an :class:`AbsColumns`, else its arrays."""
        return M if isinstance(M, AbsColumns) else cls(M)

    def column_entries(self, columns: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Where the entries of ``columns`` (default: all) lie in :attr:`indices` / :attr:`data`.

        Returns
        -------
        indptr
            (len(columns) + 1,) offsets of each column's entries in ``positions``.
        positions
            Positions of those entries, column after column (None for all columns: :attr:`indices` itself).
        """
        if columns is None:
            return self.indptr, None
        columns = np.asarray(columns, dtype=np.intp)
        lengths = self.indptr[columns + 1] - self.indptr[columns]
        indptr = np.zeros(len(columns) + 1, dtype=np.intp)
        np.cumsum(lengths, out=indptr[1:])
        return indptr, np.repeat(self.indptr[columns] - indptr[:-1], lengths) + np.arange(indptr[-1])

    def _all(self, columns: np.ndarray | None) -> np.ndarray:
        """``columns``, or every column when None (the compiled kernels take them explicitly)."""
        return np.arange(self.shape[1]) if columns is None else columns

    def column_max(self, weight: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        """``max_g |M[g, v]| weight[g]`` per column v (0 for an empty column); ``weight`` >= 0, (n_rows,).

        Returns (n_cols,), or (len(columns),) for the ``columns`` given (a gather of their entries only). By the
        compiled kernel when :func:`twincell.identify.kernels.enabled` (the same values).
        """
        if kernels.enabled():
            return kernels.column_max(kernels.packed(self), weight, self._all(columns))
        indptr, positions = self.column_entries(columns)
        out = np.zeros(len(indptr) - 1)
        nonempty = self._nonempty if columns is None else np.flatnonzero(np.diff(indptr) > 0)
        if nonempty.size:
            rows = self.indices if positions is None else self.indices[positions]
            values = np.take(np.asarray(weight, dtype=np.float64), rows, mode="clip")  # in range: no checked copy
            values *= self.data if positions is None else self.data[positions]
            out[nonempty] = np.maximum.reduceat(values, indptr[nonempty])
        return out

    def scatter_max(self, weight: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """``max_v |M[g, v]| weight[v]`` per row g over the ``columns`` v given (0 where none reaches g), (n_rows,).

        The transpose-side twin of :meth:`column_max` (same products, same maxima), pushed from a few columns:
        its cost is their entries only. By the compiled kernel when :func:`twincell.identify.kernels.enabled`.
        """
        if kernels.enabled():
            return kernels.scatter_max(kernels.packed(self), weight, columns, self.shape[0])
        indptr, positions = self.column_entries(columns)
        out = np.zeros(self.shape[0])
        values = np.repeat(np.asarray(weight, dtype=np.float64)[columns], np.diff(indptr))
        values *= self.data[positions]
        np.maximum.at(out, self.indices[positions], values)
        return out

    def column_or(self, bits: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        """Bit sets OR-ed along the sparsity pattern: result column v = OR of ``bits[:, g]`` over the rows g of
        column v of ``M`` (zero for an empty column).

        ``bits`` is (W, n_rows) uint64 (word-major: one contiguous row per 64-bit word); returns (W, n_cols), or
        (W, len(columns)). Each word is one gather and one ``bitwise_or.reduceat`` over the entries; by the
        compiled kernel when :func:`twincell.identify.kernels.enabled` (the same bits).
        """
        if kernels.enabled():
            return kernels.column_or(kernels.packed(self), bits, self._all(columns))
        indptr, positions = self.column_entries(columns)
        out = np.zeros((bits.shape[0], len(indptr) - 1), dtype=bits.dtype)
        nonempty = self._nonempty if columns is None else np.flatnonzero(np.diff(indptr) > 0)
        if nonempty.size:
            rows = self.indices if positions is None else self.indices[positions]
            starts = indptr[nonempty]
            for word, row in zip(out, bits):
                word[nonempty] = np.bitwise_or.reduceat(np.take(row, rows, mode="clip"), starts)
        return out

    def levels(self, terminal: np.ndarray, n_hops: int,
               step: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """Max-product dynamic programme over this matrix ``|A|`` (``A[dst, src]``): ``B[0] = terminal``,
        ``B[r, v] = max(terminal[v], max_u |A[u, v]| B[r - 1, u])``, the best product of at most r edge strengths
        from ``v`` times a terminal value.

        Parameters
        ----------
        terminal
            (N,) non-negative value of ending a walk at each node.
        n_hops
            K.
        step
            ``max_u |A[u, v]| b[u]`` for a level ``b``: default :meth:`column_max` (one ``maximum.reduceat``
            over every column); a caller holding the transposed arrays may push from few nodes instead.

        Returns
        -------
        np.ndarray
            (K + 1, N) array ``B[r, v]``.
        """
        step = self.column_max if step is None else step
        bounds = np.zeros((n_hops + 1, self.shape[1]))
        bounds[0] = terminal
        for r in range(1, n_hops + 1):
            np.maximum(bounds[0], step(bounds[r - 1]), out=bounds[r])
        return bounds


def _canonical(M: sp.spmatrix, fmt: str) -> sp.spmatrix:
    """``M`` in format ``fmt`` (``csr`` or ``csc``) with sorted, summed indices; never changes ``M`` itself."""
    out = M.asformat(fmt)
    if not out.has_canonical_format:
        out = out.copy()
        out.sum_duplicates()
    return out


def _entry(M: sp.csr_matrix, row: int, col: int) -> float:
    """``M[row, col]`` of a canonical CSR matrix, read from its arrays (scipy's scalar indexing is ~50 us)."""
    lo, hi = M.indptr[row], M.indptr[row + 1]
    at = lo + np.searchsorted(M.indices[lo:hi], col)
    return float(M.data[at]) if at < hi and M.indices[at] == col else 0.0


class WalkSearch:
    """Best-first search of a node's top walks for one operator and one desired change.

    Built once (canonical CSR and CSC copies of ``A``, CSR readouts, readout products ``R diag(d)`` and
    ``R0 diag(d)``, the reach bounds), then :meth:`top` searches from any start node.

    Parameters
    ----------
    A, R
        Propagation (``A[dst, src]``) and readout (``R[gene, node]``) matrices, N x N.
    d
        (N,) desired change.
    n_hops
        Longest walk length K.
    R0
        Readout of the start node itself (hop 0); None means ``R``.
    """

    def __init__(self, A: sp.spmatrix, R: sp.spmatrix, d: np.ndarray, n_hops: int,
                 R0: sp.spmatrix | None = None) -> None:
        self.A = _canonical(A, "csr")
        self.A_csc = _canonical(self.A, "csc")
        self.readout = _canonical(R, "csr")
        self.readout0 = self.readout if R0 is None else _canonical(R0, "csr")
        self.n_hops = int(n_hops)
        self.terminal = sp.csc_matrix(sp.diags(d) @ sp.csc_matrix(R))
        self.terminal.eliminate_zeros()
        self.terminal0 = self.terminal if R0 is None else sp.csc_matrix(sp.diags(d) @ sp.csc_matrix(R0))
        self.terminal0.eliminate_zeros()
        self.bounds = reach_bounds(self.A_csc, abs(self.terminal).maximum(abs(self.terminal0)), self.n_hops)

    def top(self, start: int, k: int, max_expansions: int = 500_000,
            ) -> tuple[list[tuple[tuple[int, ...], int, float]], bool]:
        """The ``k`` walks from node ``start`` with the largest ``|contribution|``.

        Parameters
        ----------
        start
            Node index of the perturbed protein.
        k
            Number of walks.
        max_expansions
            Safety limit on partial walks expanded.

        Returns
        -------
        walks
            ``(nodes, gene, contribution)`` per walk, by decreasing ``|contribution|`` (activation sign).
        complete
            False when the expansion limit was hit first.
        """
        bounds, n_hops = self.bounds, self.n_hops
        counter = itertools.count()
        # heap items: (-bound, tie, kind, nodes, gene, product); kind 0 = complete walk, 1 = partial walk
        heap: list[tuple[float, int, int, tuple[int, ...], int, float]] = []
        if bounds[n_hops, start] > 0:
            heap.append((-bounds[n_hops, start], next(counter), 1, (start,), -1, 1.0))
        walks: list[tuple[tuple[int, ...], int, float]] = []
        expansions = 0
        while heap and len(walks) < k:
            _, _, kind, nodes, gene, product = heapq.heappop(heap)
            if kind == 0:
                walks.append((nodes, gene, product))
                continue
            expansions += 1
            if expansions > max_expansions:
                logger.warning("walk search stopped after %d expansions with %d of %d walks",
                               max_expansions, len(walks), k)
                return walks, False
            v = nodes[-1]
            term = self.terminal0 if len(nodes) == 1 else self.terminal
            lo, hi = term.indptr[v], term.indptr[v + 1]
            for g, t in zip(term.indices[lo:hi], term.data[lo:hi]):
                heapq.heappush(heap, (-abs(product * t), next(counter), 0, nodes, int(g), product * t))
            remaining = n_hops - (len(nodes) - 1)
            if remaining == 0:
                continue
            lo, hi = self.A_csc.indptr[v], self.A_csc.indptr[v + 1]
            for u, a in zip(self.A_csc.indices[lo:hi], self.A_csc.data[lo:hi]):
                bound = abs(product * a) * bounds[remaining - 1, u]
                if bound > 0:
                    heapq.heappush(heap, (-bound, next(counter), 1, (*nodes, int(u)), -1, product * float(a)))
        return walks, True


def _path_text(names: list[str], strengths: list[float], gene: str) -> str:
    text = names[0]
    for name, a in zip(names[1:], strengths):
        text += (" -> " if a > 0 else " -| ") + name
    return f"{text} => {gene}"


def explain(model_or_operator: Any, target: str, desired_change: pd.Series, context: str | np.ndarray | None = None,
            k: int = 5, direction: Direction = "both") -> Explanation:
    """The top-``k`` signalling walks from ``target`` to the genes that respond, and their share of its score.

    :func:`explain_many` for one target.

    Parameters
    ----------
    model_or_operator
        A model with ``.operator(context)`` or a propagation operator.
    target
        The perturbed protein: an HGNC symbol, or another ID mapped to one (as in :func:`explain_many`).
    desired_change
        Desired expression change per gene (as for :func:`~twincell.identify.rank_targets`).
    context
        Context id or vector; None uses the context-free edge strengths.
    k
        Number of walks.
    direction
        Direction of the perturbation: ``activate``, ``inhibit`` or ``both`` (its best one).

    Returns
    -------
    Explanation
        Walks with their contributions and the covered share of the score.

    Raises
    ------
    UnknownGeneError
        When ``target`` is not a node of the network.
    """
    return explain_many(model_or_operator, [target], desired_change, context, k, direction)[0]


def explain_many(model_or_operator: Any, targets: Sequence[str], desired_change: pd.Series,
                 context: str | np.ndarray | None = None, k: int = 5,
                 direction: Direction | Sequence[Direction] = "both") -> list[Explanation]:
    """:func:`explain` for several targets with one shared setup (operator, adjoint, walk-search bounds).

    Parameters
    ----------
    model_or_operator
        A model with ``.operator(context)`` or a propagation operator.
    targets
        The perturbed proteins: HGNC symbols, or other IDs (Ensembl, Entrez, any case) mapped to them as the desired
        change's genes are (each explanation names the symbol).
    desired_change
        Desired expression change per gene (as for :func:`~twincell.identify.rank_targets`).
    context
        Context id or vector; None uses the context-free edge strengths.
    k
        Walks per target.
    direction
        One direction for all targets, or one per target (``both``, ``activate``, ``inhibit``;
        e.g. the ranking's ``direction`` column, where ``none`` counts as ``both``).

    Returns
    -------
    list[Explanation]
        One explanation per target, in the order given.

    Raises
    ------
    UnknownGeneError
        Naming every target that is not a node of the network (before any search runs).
    """
    if isinstance(targets, pd.DataFrame) or not isinstance(targets, (str, Iterable)):
        raise TwinCellError(f"targets must be gene symbols (a str or a list of them), got {type(targets).__name__}",
                            "e.g. ranking['gene'].head(5) for the best five of a ranking")
    targets = [targets] if isinstance(targets, str) else [str(t) for t in targets]
    k = check_count(k, "k")
    if not isinstance(direction, Iterable):
        raise TwinCellError(f"direction must be 'both', 'activate' or 'inhibit' (or one per target), got {direction!r}",
                            "use 'both', 'activate' or 'inhibit'")
    directions = [direction] * len(targets) if isinstance(direction, str) else [str(x) for x in direction]
    if len(directions) != len(targets):
        raise TwinCellError(f"{len(directions)} directions for {len(targets)} targets",
                            "give one direction, or one per target")
    unknown_ways = sorted(set(directions) - {"both", "activate", "inhibit", "none"})
    if unknown_ways:
        raise TwinCellError(f"unknown direction(s) {unknown_ways}", "use 'both', 'activate' or 'inhibit'")
    op = resolve_operator(model_or_operator, context)
    index = ranking_setup(op).gene_index
    pos = index.get_indexer(targets)
    if (pos < 0).any():  # other IDs (Ensembl, Entrez, any case) as the desired change takes them
        symbol_of = GeneMapper.default().map([t for t, p in zip(targets, pos) if p < 0]).symbols
        targets = [symbol_of.get(t, t) if p < 0 else t for t, p in zip(targets, pos)]
        pos = index.get_indexer(targets)
    if (pos < 0).any():
        unknown = [t for t, p in zip(targets, pos) if p < 0]
        raise UnknownGeneError(unknown, f"target(s) {', '.join(map(repr, unknown))} not in the network",
                               "use HGNC symbols of proteins in the interactome")
    d, _, _ = align_change(desired_change, index)
    signed_all = np.asarray(op.adjoint(d))
    search = WalkSearch(op.A, op.R, d, int(op.n_hops), R0=op.readout0)
    return [_explanation(op, search, d, target, int(i), float(signed_all[i]), k, way)
            for target, i, way in zip(targets, pos, directions)]


def _explanation(op: Any, search: WalkSearch, d: np.ndarray, target: str, i: int, signed: float, k: int,
                 direction: str) -> Explanation:
    """One target's explanation from a shared :class:`WalkSearch` (see :func:`explain_many`)."""
    if direction not in ("activate", "inhibit"):  # "both" / "none": the score's own sign, "none" when it has none
        direction = "inhibit" if signed < 0 else "activate" if signed > 0 else "none"
    sign = -1.0 if direction == "inhibit" else 1.0
    score = sign * signed
    A, R, R0 = search.A, search.readout, search.readout0
    walks, complete = search.top(i, k)
    rows = []
    for rank, (nodes, g, contribution) in enumerate(walks, start=1):
        names = [str(op.genes[v]) for v in nodes]
        strengths = tuple(_entry(A, b, a) for a, b in zip(nodes[:-1], nodes[1:]))
        gene = str(op.genes[g])
        rows.append({"rank": rank, "path": _path_text(names, list(strengths), gene), "nodes": tuple(names),
                     "gene": gene, "hops": len(nodes) - 1, "strengths": strengths,
                     "readout": _entry(R0 if len(nodes) == 1 else R, g, nodes[-1]),
                     "change": float(d[g]), "contribution": sign * contribution,
                     "share": sign * contribution / score if score else np.nan})
    paths = pd.DataFrame(rows, columns=list(PATH_COLUMNS))
    covered = float(paths["contribution"].sum() / score) if score else float("nan")
    return Explanation(target=target, direction=direction, score=score, paths=paths, covered_share=covered,
                       context_free=bool(op.context_free), n_hops=int(op.n_hops), complete=complete)
