"""`PropagationOperator`: the linear map of a TwinCell model in one context, as plain scipy matrices.

The operator is what the inverse ranking (`twincell.identify`) needs: a forward map from a
perturbation on proteins to a transcriptome change, and its exact transpose (the adjoint), both
computed with ``n_hops`` sparse mat-vecs and never a dense N x N matrix.

    forward(U) = R0 @ U + R @ (A U + A^2 U + ... + A^K U)
    adjoint(D) = R0^T D + (A^T + ... + (A^T)^K) @ R^T D

with ``A[dst, src]`` the signed, context-gated, damped strength of edge ``src -> dst``,
``R[gene, node]`` the readout (TF -> target edges plus each node's direct term) and ``R0`` the
readout of the perturbed proteins themselves (hop 0: TF edges only, no own-transcript term;
``R0 = R`` when not given). The model's
self term for genetic perturbations (an over-expressed gene's own transcript) is *not* part of the
operator: drugs do not change their target's transcript.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from twincell.errors import ModelFileError, TwinCellError

_MATRICES = ("A", "R", "R0")


@dataclass(frozen=True)
class PropagationOperator:
    """Linear propagation + readout of a TwinCell model in one context.

    Attributes
    ----------
    genes
        (N,) node names (HGNC symbols), the interactome's node order; rows of ``forward`` output.
    A
        (N, N) CSR, ``A[dst, src]`` = signed, context-gated, damped strength of edge ``src -> dst``.
    R
        (N, N) CSR readout, ``R[gene, node]`` = effect of node activity on the gene's transcript.
    n_hops
        Number of propagation steps K (walks of length 0..K are summed).
    R0
        (N, N) CSR readout of hop 0 (the perturbed nodes themselves); None means ``R``.
    context_free
        True when no gate was applied for a context: ``context=None`` (``z = 0``: every modulating gate exactly 1,
        switch gates at ``sigmoid(beta)``), the prior model, or any context of a model without gates.
    context
        Context id the operator was built for (``None`` for the mean / no context, ``"<vector>"``
        for a raw embedding).
    """

    genes: np.ndarray
    A: sp.csr_matrix
    R: sp.csr_matrix
    n_hops: int
    context_free: bool
    context: str | None = None
    meta: dict = field(default_factory=dict)
    R0: sp.csr_matrix | None = None

    def __post_init__(self) -> None:
        n = len(self.genes)
        shapes = [self.A.shape, self.R.shape] + ([] if self.R0 is None else [self.R0.shape])
        if any(shape != (n, n) for shape in shapes):
            raise TwinCellError(f"operator matrices must be {n} x {n} (got {shapes})",
                                "build the operator with TwinCell.operator()")

    @property
    def readout0(self) -> sp.csr_matrix:
        """Readout of hop 0 (``R0``, or ``R`` when the operator has no separate one)."""
        return self.R if self.R0 is None else self.R0

    @property
    def n_nodes(self) -> int:
        """Number of nodes N."""
        return len(self.genes)

    def _check(self, M: np.ndarray, what: str) -> np.ndarray:
        try:
            M = np.asarray(M, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TwinCellError(f"{what} must be numbers, got {type(M).__name__}", "index vectors by operator.genes"
                                ) from exc
        if M.ndim not in (1, 2) or M.shape[0] != self.n_nodes:
            raise TwinCellError(f"{what} must have shape (N,) or (N, B) with N = {self.n_nodes}, got {M.shape}",
                                "index vectors by operator.genes")
        if not np.isfinite(M).all():
            raise TwinCellError(f"{what} contains NaN or infinite values", "fill or drop them first")
        return M

    def propagate(self, U: np.ndarray) -> np.ndarray:
        """Node states ``sum_{k=0..K} A^k U`` for U of shape (N,) or (N, B)."""
        x = self._check(U, "perturbation U")
        total = x.copy()
        for _ in range(self.n_hops):
            x = self.A @ x
            total += x
        return total

    def forward(self, U: np.ndarray) -> np.ndarray:
        """Transcriptome change ``R0 U + R sum_{k=1..K} A^k U``; same shape as U."""
        U = self._check(U, "perturbation U")
        return self.readout0 @ U + self.R @ (self.propagate(U) - U)

    def adjoint(self, D: np.ndarray) -> np.ndarray:
        """Exact transpose of :meth:`forward`: ``R0^T D + (sum_{k=1..K} A^k)^T R^T D``, D (N,) or (N, B).

        ``adjoint(d)[i]`` is the alignment ``<d, forward(e_i)>`` of perturbing node i (+1) with ``d``.
        """
        D = self._check(D, "desired change D")
        y = self.R.T @ D
        total = np.zeros_like(y)
        for _ in range(self.n_hops):
            y = self._A_transposed @ y
            total += y
        return self.readout0.T @ D + total

    @cached_property
    def _A_transposed(self) -> sp.csr_matrix:
        """``A^T`` as CSR, built on the first adjoint and kept (the operator is immutable)."""
        return self.A.T.tocsr()

    def save(self, file: str | os.PathLike) -> Path:
        """Write the operator's arrays to one uncompressed ``.npz`` (CSR arrays of ``A``, ``R``, ``R0``,
        gene names, settings), so that :meth:`load` restores it without rebuilding anything."""
        arrays: dict[str, np.ndarray] = {"genes": np.asarray(self.genes).astype(str)}
        for name in _MATRICES:
            M = getattr(self, name)
            if M is None:
                continue
            M = sp.csr_matrix(M)
            arrays.update({f"{name}_data": M.data, f"{name}_indices": M.indices, f"{name}_indptr": M.indptr})
        settings = {"n_hops": int(self.n_hops), "context_free": bool(self.context_free), "context": self.context,
                    "meta": self.meta}
        arrays["settings"] = np.array(json.dumps(settings, default=str))
        file = Path(file)
        with open(file, "wb") as f:
            np.savez(f, **arrays)
        return file

    @classmethod
    def load(cls, file: str | os.PathLike) -> PropagationOperator:
        """Read an operator written by :meth:`save` (plain array reads, no model, no torch).

        Raises
        ------
        ModelFileError
            When the file is missing, unreadable or lacks an array.
        """
        try:
            with np.load(file, allow_pickle=False) as z:
                genes = z["genes"]
                n_genes = len(genes)
                mats = {name: sp.csr_matrix((z[f"{name}_data"], z[f"{name}_indices"], z[f"{name}_indptr"]),
                                            shape=(n_genes, n_genes))
                        for name in _MATRICES if f"{name}_data" in z.files}
                settings = json.loads(str(z["settings"]))
            return cls(genes=genes, A=mats["A"], R=mats["R"], R0=mats.get("R0"), n_hops=int(settings["n_hops"]),
                       context_free=bool(settings["context_free"]), context=settings["context"],
                       meta=dict(settings["meta"]))
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise ModelFileError(f"the stored operator {file} is unreadable: {exc}",
                                 "re-save the model, or train it again") from exc

    def describe(self) -> dict:
        """Sizes and settings: nodes, non-zero propagation / readout entries, hops, context."""
        return {"n_nodes": self.n_nodes, "propagation_nnz": int(self.A.nnz), "readout_nnz": int(self.R.nnz),
                "hop0_readout_nnz": int(self.readout0.nnz),
                "n_hops": int(self.n_hops), "context_free": bool(self.context_free), "context": self.context,
                **self.meta}
