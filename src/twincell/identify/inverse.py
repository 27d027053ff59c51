"""One-pass inverse: rank every protein by how well perturbing it produces a desired change.

For a linear propagation operator ``M = R (I + A + ... + A^K)`` (genes x nodes), perturbing node
``i`` by ``+1`` changes expression by ``M e_i``; its alignment with the desired change ``d`` is
``<d, M e_i> = (M^T d)_i``. One adjoint pass (``operator.adjoint(d)``) therefore scores all N
candidates at once: ``s > 0`` means activating the node moves the cell towards ``d``, ``s < 0``
means inhibiting it does. ``method="simulate"`` is the brute-force reference that forward-simulates
every candidate (in batches of identity columns) and takes the same inner products.

A normalised score (cosine between ``d`` and the response, over the signature's genes) needs each
candidate's response norm ``||M e_i||``; it is estimated for all N nodes at once from random sign
probes (Hutchinson): ``||P M e_i||^2 = E[(M^T P z)_i^2]`` for Rademacher ``z`` and the 0/1 mask
``P`` of signature genes. The default score is the exact, unnormalised alignment.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from twincell._progress import track
from twincell.data.drugs import DrugTargets
from twincell.errors import ContextError, SignatureError, TwinCellError
from twincell.identify.null import degree_matched_zscores, operator_degree

logger = logging.getLogger("twincell.identify")

Direction = Literal["both", "inhibit", "activate"]
Method = Literal["adjoint", "simulate"]
Normalize = Literal["none", "cosine"]
RANKING_COLUMNS = ("gene", "score", "direction", "rank", "z_score", "druggable")


@runtime_checkable
class OperatorLike(Protocol):
    """What identification needs from a :class:`twincell.model.PropagationOperator`."""

    genes: np.ndarray
    A: sp.csr_matrix
    R: sp.csr_matrix
    n_hops: int
    context_free: bool

    def forward(self, U: np.ndarray) -> np.ndarray:
        """``R @ sum_{k<=K} A^k U`` for U (N,) or (N, B)."""

    def adjoint(self, D: np.ndarray) -> np.ndarray:
        """``(sum_{k<=K} A^k)^T R^T D`` for D (N,) or (N, B)."""


def resolve_operator(model_or_operator: Any, context: str | np.ndarray | None = None) -> OperatorLike:
    """The propagation operator to score with.

    Parameters
    ----------
    model_or_operator
        A model (anything with ``.operator(context)``, e.g. :class:`twincell.model.TwinCell`) or a
        :class:`~twincell.model.PropagationOperator` already bound to one context.
    context
        Context id, context vector, or None for the model's context-free edge strengths.

    Raises
    ------
    ContextError
        When a context is given together with an operator (an operator is bound to its context).
    TwinCellError
        When the object is neither a model nor an operator.
    """
    if callable(getattr(model_or_operator, "operator", None)):
        return model_or_operator.operator(context)
    if isinstance(model_or_operator, OperatorLike):
        if context is not None:
            raise ContextError("a context was given together with a propagation operator, which is already bound "
                               "to one context",
                               "pass the model instead, or build the operator with model.operator(context)")
        return model_or_operator
    raise TwinCellError(f"cannot score with a {type(model_or_operator).__name__}",
                        "pass a TwinCell model or a PropagationOperator")


def align_change(desired_change: pd.Series, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Place a desired change (indexed by HGNC symbol) on the operator's gene order.

    Parameters
    ----------
    desired_change
        Desired expression change per gene (e.g. healthy minus disease log fold change).
    genes
        (N,) the operator's gene order.

    Returns
    -------
    d
        (N,) float64 vector, 0 for genes without a value.
    present
        (N,) bool mask of genes that have a value.
    absent
        Genes of ``desired_change`` that are not in the network (reported, not used).

    Raises
    ------
    SignatureError
        Empty change, NaN or infinite values, duplicated genes, or no gene in the network.
    """
    if not isinstance(desired_change, pd.Series):
        raise SignatureError("the desired change must be a pandas Series indexed by gene, "
                             f"got {type(desired_change).__name__}",
                             "use twincell.data.signatures.read_signature(...).desired_change()")
    if desired_change.empty:
        raise SignatureError("the desired change is empty", "give at least one gene with a value")
    values = pd.to_numeric(desired_change, errors="coerce")
    bad = values.index[~np.isfinite(values.to_numpy(float))]
    if len(bad):
        raise SignatureError(f"the desired change has {len(bad)} missing or non-numeric value(s), e.g. "
                             f"{', '.join(map(str, bad[:10]))}", "drop those genes or fill them in")
    dup = desired_change.index[desired_change.index.duplicated()].unique()
    if len(dup):
        raise SignatureError(f"the desired change lists genes more than once: {', '.join(map(str, dup[:10]))}",
                             "keep one value per gene")
    index = {g: i for i, g in enumerate(genes)}
    pos = np.array([index.get(g, -1) for g in values.index])
    absent = [str(g) for g, p in zip(values.index, pos) if p < 0]
    if (pos < 0).all():
        raise SignatureError(f"none of the {len(values)} genes of the desired change is in the network "
                             f"(e.g. {', '.join(absent[:5])})",
                             "use HGNC symbols (read the signature with read_signature)")
    d = np.zeros(len(genes))
    d[pos[pos >= 0]] = values.to_numpy(float)[pos >= 0]
    present = np.zeros(len(genes), bool)
    present[pos[pos >= 0]] = True
    return d, present, absent


def simulate_scores(operator: OperatorLike, d: np.ndarray, nodes: Sequence[int] | np.ndarray | None = None,
                    present: np.ndarray | None = None, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force reference: forward-simulate each candidate node and align its response with ``d``.

    Candidates are batched as columns of identity blocks, ``forward(I[:, batch])``.

    Parameters
    ----------
    operator
        The propagation operator.
    d
        (N,) desired change on the operator's gene order.
    nodes
        Candidate node indices (default: all N).
    present
        (N,) mask of the genes the response norm is taken over (default: all genes).
    batch_size
        Candidates simulated per forward call.

    Returns
    -------
    scores
        (n,) alignments ``<d, M e_i>`` (activation direction).
    sq_norms
        (n,) exact squared response norms ``||P M e_i||^2`` over ``present`` genes.
    """
    n = len(operator.genes)
    nodes = np.arange(n) if nodes is None else np.asarray(nodes, dtype=np.int64)
    mask = np.ones(n, bool) if present is None else present
    scores = np.empty(len(nodes))
    sq_norms = np.empty(len(nodes))
    starts = range(0, len(nodes), batch_size)
    for start in track(starts, desc="simulating candidates", total=len(starts), unit="batch"):
        batch = nodes[start:start + batch_size]
        U = np.zeros((n, len(batch)), dtype=operator.A.dtype)
        U[batch, np.arange(len(batch))] = 1.0
        Y = np.asarray(operator.forward(U), dtype=float)
        scores[start:start + len(batch)] = d @ Y
        sq_norms[start:start + len(batch)] = np.square(Y[mask]).sum(axis=0)
    return scores, sq_norms


def hutchinson_sq_norms(operator: OperatorLike, present: np.ndarray, n_probes: int = 128,
                        seed: int = 0) -> np.ndarray:
    """Estimate every node's squared response norm over the ``present`` genes from random probes.

    ``||P M e_i||^2 = E_z[(M^T P z)_i^2]`` for Rademacher ``z``; the mean over ``n_probes`` probes is
    computed with one batched adjoint pass (no loop over nodes).

    Returns
    -------
    np.ndarray
        (N,) unbiased estimates (relative standard error about ``sqrt(2 / n_probes)`` or less).
    """
    rng = np.random.default_rng(seed)
    Z = rng.choice(np.array([-1.0, 1.0], dtype=operator.A.dtype), size=(len(operator.genes), n_probes))
    Z[~present] = 0.0
    return np.square(np.asarray(operator.adjoint(Z), dtype=float)).mean(axis=1)


def _direction_scores(signed: np.ndarray, direction: Direction) -> tuple[np.ndarray, np.ndarray]:
    if direction == "activate":
        return signed, np.full(len(signed), "activate", dtype=object)
    if direction == "inhibit":
        return -signed, np.full(len(signed), "inhibit", dtype=object)
    labels = np.where(signed > 0, "activate", np.where(signed < 0, "inhibit", "none")).astype(object)
    return np.abs(signed), labels


def target_scores(model_or_operator: Any, desired_change: pd.Series, context: str | np.ndarray | None = None,
                  direction: Direction = "both") -> pd.Series:
    """Adjoint score of every node in ``direction`` (gene -> score, node order): the one pass of
    :func:`rank_targets` without its z-scores, druggability and sorting, for callers that rank many
    signatures (TwinBench). Same scores as ``rank_targets(..., method="adjoint", normalize="none")``.
    """
    op = resolve_operator(model_or_operator, context)
    d, _, _ = align_change(desired_change, op.genes)
    score, _ = _direction_scores(np.asarray(op.adjoint(d), dtype=float), direction)
    return pd.Series(score, index=op.genes.astype(str), name="score")


def rank_targets(model_or_operator: Any, desired_change: pd.Series, context: str | np.ndarray | None = None,
                 direction: Direction = "both", method: Method = "adjoint", normalize: Normalize = "none",
                 n_probes: int = 128, n_degree_bins: int = 20, seed: int = 0,
                 drug_targets: DrugTargets | None = None) -> pd.DataFrame:
    """Rank every protein by how well perturbing it would produce ``desired_change`` in ``context``.

    Parameters
    ----------
    model_or_operator
        A model with ``.operator(context)`` or a propagation operator.
    desired_change
        Desired expression change per HGNC symbol, typically ``-(disease signature)``
        (:meth:`twincell.data.signatures.Signature.desired_change`).
    context
        Context id or vector; None uses the model's context-free edge strengths (stated in the output).
    direction
        ``both`` (best of inhibit / activate per gene), ``inhibit`` or ``activate``.
    method
        ``adjoint`` (one backward pass, the default) or ``simulate`` (brute-force reference).
    normalize
        ``none`` (default): score = alignment ``<d, response>`` (exact). ``cosine``: alignment divided
        by ``||d|| ||response||`` over the signature's genes; with ``adjoint`` the response norms are
        Hutchinson estimates from ``n_probes`` probes, with ``simulate`` they are exact.
    n_probes, seed
        Random probes (and their seed) for the cosine norms.
    n_degree_bins
        Degree quantile bins of the z-score null (see :mod:`twincell.identify.null`).
    drug_targets
        Drug-target table for the ``druggable`` column (default: :meth:`DrugTargets.universe`, DrugCentral ∪ approved targets).

    Returns
    -------
    pd.DataFrame
        One row per node, best first: ``gene, score, direction (activate | inhibit | none when the
        score is 0), rank (1 = best), z_score (degree-matched), druggable``. ``df.attrs`` records the
        method, normalisation, context, whether the context-free strengths were used and the
        signature genes found / absent in the network.
    """
    if direction not in ("both", "inhibit", "activate"):
        raise TwinCellError(f"unknown direction {direction!r}", "use 'both', 'inhibit' or 'activate'")
    if method not in ("adjoint", "simulate"):
        raise TwinCellError(f"unknown method {method!r}", "use 'adjoint' or 'simulate'")
    if normalize not in ("none", "cosine"):
        raise TwinCellError(f"unknown normalisation {normalize!r}", "use 'none' or 'cosine'")
    op = resolve_operator(model_or_operator, context)
    d, present, absent = align_change(desired_change, op.genes)
    if method == "adjoint":
        signed = np.asarray(op.adjoint(d), dtype=float)
        sq_norms = hutchinson_sq_norms(op, present, n_probes, seed) if normalize == "cosine" else None
    else:
        signed, sq_norms = simulate_scores(op, d, present=present)
    if normalize == "cosine":
        denom = np.sqrt(np.clip(sq_norms, 0.0, None)) * np.linalg.norm(d)
        signed = np.divide(signed, denom, out=np.zeros_like(signed), where=denom > 0)
    score, labels = _direction_scores(signed, direction)
    z = degree_matched_zscores(score, operator_degree(op.A), n_degree_bins)
    druggable = (drug_targets or DrugTargets.universe()).druggable_genes()
    df = pd.DataFrame({"gene": op.genes.astype(str), "score": score, "direction": labels, "z_score": z})
    df["druggable"] = df["gene"].isin(druggable)
    df = df.sort_values(["score", "gene"], ascending=[False, True], kind="stable").reset_index(drop=True)
    df.insert(3, "rank", np.arange(1, len(df) + 1))
    context_label = "context-free" if op.context_free else str(getattr(op, "context", None) or context)
    if op.context_free:
        logger.info("no cell context given: scores use the model's context-free edge strengths")
    df.attrs.update({
        "method": method, "normalize": normalize, "direction": direction, "context": context_label,
        "context_free": bool(op.context_free), "n_hops": int(op.n_hops),
        "signature_genes_found": int(present.sum()), "signature_genes_absent": absent,
    })
    return df
