"""Optional compiled kernels for the edge passes of the drug-target list (the service's hot loops).

The fragility flags of :mod:`twincell.identify.actionable` take a maximum of products, or an OR of bit sets,
along the columns of ``|A|``, ``|R|``, ``|R0|`` (464k entries for ``A``). numpy needs a gather, a product and a
``reduceat``, with their temporaries, for each; a compiled kernel reads every entry once and keeps nothing but
the result (a pass over ``A``: 1.5 -> 0.6 ms; an OR pass of one 64-bit word: 0.8 -> 0.45 ms).

They are compiled with numba, an optional dependency (the ``fast`` extra), and only when :func:`enable` is
called: ``twincell serve`` does it in each worker at startup; the library and the CLI never import numba on
their own (its import and compilation cost more than a single call saves). Without :func:`enable`, or without
numba, :class:`~twincell.identify.explain.AbsColumns` (whose ``column_max``, ``scatter_max`` and ``column_or``
dispatch here when :func:`enabled`, for every caller: the drug-target list, explain's search bounds, the
strongest-walk footprint) runs the numpy code the kernels replace. Both give the same values bit for bit: the products
are the same IEEE operations (no fast-math), and maxima and ORs do not depend on the order.

The adjoint pass is not here: a fused compiled adjoint (one mat-vec per hop with the running total in the same
loop) took 2.16 ms against scipy's 2.20 ms on the default model (4 hops over 464k entries, memory-bound either way).
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

_COMPILED: dict[str, Callable[..., Any]] = {}
_LOCK = threading.Lock()


def enable() -> bool:
    """Compile the kernels (numba, ``cache=True``: later processes load them from numba's cache) and use them.

    Returns
    -------
    bool
        True when the kernels are in use, False when numba is not installed (the numpy code stays in use).
    """
    with _LOCK:
        if _COMPILED:
            return True
        try:
            import numba
        except ImportError:
            return False
        try:
            compiled = _compile(numba)
            _warm(compiled)
        except Exception as exc:  # e.g. no writable cache directory, an unsupported platform: keep numpy, say so
            warnings.warn(f"the compiled kernels could not be built ({type(exc).__name__}: {exc}); the numpy code "
                          "stays in use (same results, slower)", RuntimeWarning, stacklevel=2)
            return False
        _COMPILED.update(compiled)
        return True


def _warm(compiled: dict[str, Callable[..., Any]]) -> None:
    """Compile (or load from numba's cache) every kernel for the argument types the callers pass, on a synthetic
    2 x 2 matrix, so that no request pays for it."""
    matrix = _pack(np.array([0, 1, 2]), np.array([1, 0]), np.array([0.5, 2.0]))
    columns, weight = np.arange(2), np.ones(2)
    compiled["column_max"](*matrix, weight, columns)
    compiled["scatter_max"](*matrix, weight, columns, 2)
    compiled["column_or"](matrix.indptr, matrix.indices, np.ones((1, 2), dtype=np.uint64), columns)


def disable() -> None:
    """Go back to the numpy code (the compiled kernels stay in numba's cache for a later :func:`enable`).

    For tests and benchmarks that compare both: not while other threads rank (a pass that has just checked
    :func:`enabled` would find no kernel).
    """
    with _LOCK:
        _COMPILED.clear()


def enabled() -> bool:
    """Whether the compiled kernels are in use."""
    return bool(_COMPILED)


class Packed(NamedTuple):
    """A compressed sparse matrix's arrays as the kernels read them: unsigned offsets and indices (no negative-index
    checks in the compiled loops; 32-bit indices, half the bytes streamed per entry) and float64 entries."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray


def _pack(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> Packed:
    """:class:`Packed` copies of compressed sparse arrays (``indptr`` (n + 1,), ``indices`` and ``data`` (nnz,))."""
    small = len(indices) == 0 or int(indices.max()) <= np.iinfo(np.uint32).max
    index_type = np.uint32 if small else np.uint64
    return Packed(np.asarray(indptr, dtype=np.uint64), np.asarray(indices, dtype=index_type),
                  np.asarray(data, dtype=np.float64))


_PACKED: weakref.WeakKeyDictionary[Any, Packed] = weakref.WeakKeyDictionary()


def packed(columns: Any) -> Packed:
    """The :class:`Packed` arrays of an object with ``indptr``, ``indices`` and ``data`` (e.g.
    :class:`~twincell.identify.explain.AbsColumns`), built on first use and kept while the object lives
    (thread-safe: built once)."""
    with _LOCK:
        entry = _PACKED.get(columns)
        if entry is None:
            entry = _PACKED[columns] = _pack(columns.indptr, columns.indices, columns.data)
        return entry


def _positions(columns: np.ndarray) -> np.ndarray:
    """Column numbers as ``intp``, as the kernels take them."""
    return np.asarray(columns, dtype=np.intp)


def column_max(M: Packed, weight: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``max_e data[e] * weight[indices[e]]`` over the entries of each of ``columns`` of a CSC matrix ``M`` with
    non-negative entries (0 for an empty column); ``weight`` (n_rows,) non-negative float64.

    Returns (len(columns),) float64. Compiled kernels only (:func:`enabled`).
    """
    return _COMPILED["column_max"](*M, np.ascontiguousarray(weight, dtype=np.float64), _positions(columns))


def scatter_max(M: Packed, weight: np.ndarray, columns: np.ndarray, n_rows: int) -> np.ndarray:
    """(n_rows,) ``max_v data[e] * weight[v]`` over the entries e of the ``columns`` v of a CSC matrix ``M``, per
    row ``indices[e]`` (0 where none). Compiled kernels only (:func:`enabled`)."""
    return _COMPILED["scatter_max"](*M, np.ascontiguousarray(weight, dtype=np.float64), _positions(columns), n_rows)


def column_or(M: Packed, bits: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """(W, len(columns)) uint64: OR of ``bits[:, indices[e]]`` over the entries e of each of ``columns`` of a CSC
    matrix ``M``; ``bits`` is (W, n_rows) uint64. Compiled kernels only (:func:`enabled`)."""
    return _COMPILED["column_or"](M.indptr, M.indices, np.ascontiguousarray(bits), _positions(columns))


def _compile(numba: Any) -> dict[str, Callable[..., Any]]:
    """The kernels, compiled by ``numba`` on their first call (``cache=True``). Offsets and indices are unsigned
    (:class:`Packed`), column numbers signed; all entries are non-negative where a maximum is taken, so a column's
    maximum starts from 0.0 (as numpy's over the same products, which are >= 0)."""
    jit = numba.njit(cache=True, nogil=True)

    @jit
    def column_max(indptr, indices, data, weight, columns):
        out = np.zeros(len(columns))
        for j in range(len(columns)):
            v = columns[j]
            best = 0.0
            for e in range(indptr[v], indptr[v + 1]):
                value = data[e] * weight[indices[e]]
                if value > best:
                    best = value
            out[j] = best
        return out

    @jit
    def scatter_max(indptr, indices, data, weight, columns, n_rows):
        out = np.zeros(n_rows)
        for v in columns:
            for e in range(indptr[v], indptr[v + 1]):
                value = data[e] * weight[v]
                g = indices[e]
                if value > out[g]:
                    out[g] = value
        return out

    @jit
    def column_or(indptr, indices, bits, columns):
        out = np.zeros((bits.shape[0], len(columns)), dtype=np.uint64)
        for w in range(bits.shape[0]):  # one pass per 64-bit word, along its contiguous row
            row = bits[w]
            for j in range(len(columns)):
                v = columns[j]
                acc = np.uint64(0)
                for e in range(indptr[v], indptr[v + 1]):
                    acc |= row[indices[e]]
                out[w, j] = acc
        return out

    return {"column_max": column_max, "scatter_max": scatter_max, "column_or": column_or}
