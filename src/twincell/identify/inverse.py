"""One-pass inverse: rank every protein by how well perturbing it produces a desired change.

For a linear propagation operator ``M = R0 + R (A + ... + A^K)`` (genes x nodes; hop 0 reads out through
``R0``, :mod:`twincell.model.operator`), perturbing node
``i`` by ``+1`` changes expression by ``M e_i``; its alignment with the desired change ``d`` is
``<d, M e_i> = (M^T d)_i``. One adjoint pass (``operator.adjoint(d)``) therefore scores all N
candidates at once: ``s > 0`` means activating the node moves the cell towards ``d``, ``s < 0``
means inhibiting it does. ``method="simulate"`` is the brute-force reference that forward-simulates
every candidate (in batches of identity columns) and takes the same inner products.

A normalised score (cosine between ``d`` and the response, over the signature's genes) needs each
candidate's response norm ``||M e_i||``; it is estimated for all N nodes at once from random sign
probes (Hutchinson): ``||P M e_i||^2 = E[(M^T P z)_i^2]`` for Rademacher ``z`` and the 0/1 mask
``P`` of signature genes. The default score is the exact, unnormalised alignment.

``null="shuffle"`` calibrates each candidate's alignment against its own shuffled-signature null
(:mod:`twincell.identify.null`): the observed change and ``n_null`` permutations of its values among
its own genes go through one batched adjoint (an N x (1 + B) matrix, K sparse mat-mats), and the
score becomes ``(s_i - mean_b) / sd_b``; the exact alignment stays in the ``alignment`` column.
``null="center"`` subtracts instead the alignment's exact expectation over all permutations of the
values among the signature's genes, the part every permutation shares: one adjoint pass of the
centred change (:func:`~twincell.identify.null.centered_change`), no shuffles, no division by a spread.
``null="common"`` removes from the change, on its own genes, its least-squares projection onto the
operator's ``n_common`` common response directions (:func:`~twincell.identify.null.common_directions`,
cached per operator) before the one adjoint pass (:func:`~twincell.identify.null.remove_common`).
``null="footprint"`` normalises at the readout stage instead of at the candidate: the readouts
``R0^T d`` and ``R^T d`` are replaced by their exact z-scores over permutations of the values among
the signature's genes, and the second is propagated upstream by the operator's own ``A^T``
(:class:`~twincell.identify.null.Footprint`, its matrices cached per operator by :func:`footprint_matrices`).
``null="footprint_max"`` keeps the same z-scores but scores each node by its strongest single walk
instead of the sum over walks: ``max(|z0|, max_walk prod |A| * |z_end|)``, signed by the footprint score
(:meth:`~twincell.identify.null.Footprint.max_path_scores`).

What ranking needs besides the adjoint (gene index, degree bins, druggable mask, name order for
ties) is computed once per operator (:func:`ranking_setup`), so a ranking costs little more than
its adjoint pass.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from twincell._progress import track
from twincell.data.drugs import DrugTargets
from twincell.data.pathways import load_progeny
from twincell.data.genes import GeneMapper
from twincell.data.signatures import check_change
from twincell.errors import ContextError, SignatureError, TwinCellError, check_count
from twincell.identify.null import (
    Footprint,
    binned_zscores,
    calibrate,
    centered_change,
    common_directions,
    degree_bins,
    hutchinson_sq_norms,
    operator_degree,
    remove_common,
    shuffled_changes,
)

logger = logging.getLogger("twincell.identify")
T = TypeVar("T")

Direction = Literal["both", "inhibit", "activate"]
Method = Literal["adjoint", "simulate"]
Normalize = Literal["none", "cosine"]
Null = Literal["none", "shuffle", "center", "common", "footprint", "footprint_max"]
#: The nulls scored from the readouts' permutation z-scores (:class:`~twincell.identify.null.Footprint`).
FOOTPRINT_NULLS = ("footprint", "footprint_max")
RANKING_COLUMNS = ("gene", "score", "direction", "rank", "z_score", "druggable")
CALIBRATED_COLUMNS = (*RANKING_COLUMNS, "alignment")
#: Largest number of common response directions ``null="common"`` accepts.
MAX_COMMON = 200


@runtime_checkable
class OperatorLike(Protocol):
    """What ranking needs from a :class:`twincell.model.PropagationOperator` (explanations and footprint scores also
    read its hop-0 readout ``readout0``, ``R0`` below)."""

    genes: np.ndarray
    A: sp.csr_matrix
    R: sp.csr_matrix
    n_hops: int
    context_free: bool

    def forward(self, U: np.ndarray) -> np.ndarray:
        """``R0 @ U + R @ sum_{1<=k<=K} A^k U`` for U (N,) or (N, B)."""

    def adjoint(self, D: np.ndarray) -> np.ndarray:
        """``R0^T D + (sum_{1<=k<=K} A^k)^T R^T D`` for D (N,) or (N, B)."""


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


def operator_context_label(op: OperatorLike, context: str | np.ndarray | None) -> str:
    """How a ranking's ``attrs["context"]`` names the context of ``op`` (resolved from ``context``):
    ``"context-free"`` for the model's context-free edge strengths, else the context id."""
    return "context-free" if op.context_free else str(getattr(op, "context", None) or context)


def change_key(d: np.ndarray, context: str | np.ndarray | None) -> str:
    """12-hex-digit key of a ranking's desired change placed on the network (``d``, (N,)) and of its context vector when
    one was given (a context id is compared by name): ``attrs["change_key"]`` of :func:`rank_targets`, which
    :func:`~twincell.identify.actionable.drug_target_list` checks so that flags of another change are never mixed in."""
    h = hashlib.sha1(np.ascontiguousarray(d, dtype=np.float64).tobytes())
    if isinstance(context, np.ndarray):
        h.update(np.ascontiguousarray(context, dtype=np.float64).tobytes())
    return h.hexdigest()[:12]


def align_change(desired_change: pd.Series, genes: np.ndarray | pd.Index) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Place a desired change on the operator's gene order.

    Parameters
    ----------
    desired_change
        Desired expression change per gene (e.g. healthy minus disease log fold change), indexed by the network's
        gene names (HGNC symbols for the bundled interactome) or any other gene ID: entries that are not network
        genes are mapped to HGNC symbols (:class:`~twincell.data.genes.GeneMapper`: Ensembl, Entrez, UniProt,
        aliases, any case) when some of them is not already an HGNC symbol; network genes are used as given.
    genes
        (N,) the operator's gene order (a ``pd.Index`` of it is used as is, e.g. ``ranking_setup(op).gene_index``).

    Returns
    -------
    d
        (N,) float64 vector, 0 for genes without a value.
    present
        (N,) bool mask of genes that have a value.
    absent
        Entries of ``desired_change`` that are not network genes (as given), reported, not used.

    Raises
    ------
    SignatureError
        As :func:`~twincell.data.signatures.check_change` (not a Series, empty, NaN or infinite values, a gene twice,
        values above :data:`~twincell.data.signatures.MAX_ABS_LOGFC`, all zero), one gene under several IDs, no
        gene in the network, or only zeros on the network's genes.
    """
    values = check_change(desired_change, "the desired change")
    index = genes if isinstance(genes, pd.Index) else pd.Index(np.asarray(genes))
    keys = _network_keys(values.index, index)
    pos = index.get_indexer(keys)
    absent = [str(g) for g in values.index[pos < 0]]
    if (pos < 0).all():
        raise SignatureError(f"none of the {len(values)} genes of the desired change is in the network "
                             f"(e.g. {', '.join(absent[:5])})",
                             "give human protein-coding genes (HGNC symbols; Ensembl, Entrez and UniProt IDs are "
                             "mapped): genes the interactome does not hold, such as non-coding RNAs, cannot be scored")
    d = np.zeros(len(genes))
    d[pos[pos >= 0]] = values.to_numpy(float)[pos >= 0]
    if not d.any():
        raise SignatureError(f"every value of the desired change on its {int((pos >= 0).sum())} gene(s) in the network "
                             "is 0, so no target can move the cells towards it",
                             "give the signature's non-zero changes (log fold changes of the genes that differ)")
    present = np.zeros(len(genes), bool)
    present[pos[pos >= 0]] = True
    return d, present, absent


def _network_keys(ids: pd.Index, network: pd.Index) -> pd.Index:
    """``ids`` with the entries that are not network genes mapped to HGNC symbols where some of them is not one
    already (unmapped IDs kept as given, so they stay absent); network genes as given.

    Raises
    ------
    SignatureError
        If two IDs name one gene (e.g. ``TP53`` and ``ENSG00000141510``): which value to use is the caller's choice.
    """
    outside = ids[~ids.isin(network)]
    mapper = GeneMapper.default()
    if all(str(g) in mapper.symbols for g in outside):
        return ids
    symbol_of = mapper.map(outside.astype(str)).symbols
    keys = pd.Index([symbol_of.get(g, g) for g in ids.astype(str)])
    twice = keys[keys.duplicated(keep=False)]
    if len(twice):
        named = {k: [str(i) for i, key in zip(ids, keys) if key == k] for k in dict.fromkeys(twice)}
        raise SignatureError("the desired change names one gene under several IDs: "
                             + "; ".join(f"{k} <- {', '.join(v)}" for k, v in list(named.items())[:5]),
                             "keep one value per gene")
    return keys


def simulate_scores(operator: OperatorLike, d: np.ndarray, nodes: Sequence[int] | np.ndarray | None = None,
                    present: np.ndarray | None = None, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force reference: forward-simulate each candidate node and align its response with ``d``.

    Candidates are batched as columns of identity blocks, ``forward(I[:, batch])``.

    Parameters
    ----------
    operator
        The propagation operator.
    d
        (N,) desired change on the operator's gene order, or (N, B) several changes (e.g. shuffles).
    nodes
        Candidate node indices (default: all N).
    present
        (N,) mask of the genes the response norm is taken over (default: all genes).
    batch_size
        Candidates simulated per forward call.

    Returns
    -------
    scores
        (n,) alignments ``<d, M e_i>`` (activation direction), or (n, B) for an (N, B) ``d``.
    sq_norms
        (n,) exact squared response norms ``||P M e_i||^2`` over ``present`` genes.
    """
    n = len(operator.genes)
    nodes = np.arange(n) if nodes is None else np.asarray(nodes, dtype=np.int64)
    mask = np.ones(n, bool) if present is None else present
    d = np.asarray(d, float)
    scores = np.empty((len(nodes), *d.shape[1:]))
    sq_norms = np.empty(len(nodes))
    starts = range(0, len(nodes), batch_size)
    for start in track(starts, desc="simulating candidates", total=len(starts), unit="batch"):
        batch = nodes[start:start + batch_size]
        U = np.zeros((n, len(batch)), dtype=operator.A.dtype)
        U[batch, np.arange(len(batch))] = 1.0
        Y = np.asarray(operator.forward(U), dtype=float)
        scores[start:start + len(batch)] = Y.T @ d
        sq_norms[start:start + len(batch)] = np.square(Y[mask]).sum(axis=0)
    return scores, sq_norms


@dataclass
class RankingSetup:
    """What ranking needs from an operator besides its adjoint; built once per operator by :func:`ranking_setup`.

    Attributes
    ----------
    gene_index
        ``pd.Index`` of the operator's genes (node order), for placing a desired change.
    names
        (N,) gene names as Python strings (object array), the ``gene`` column.
    name_rank
        (N,) position of each gene in alphabetical order (the tie-break of equal scores).
    degree
        (N,) in + out degree of each node in ``A`` (:func:`~twincell.identify.null.operator_degree`).

    Other per-operator structures (e.g. the fragility passes' arrays) are built on first use and kept with
    :meth:`derived`.
    """

    gene_index: pd.Index
    names: np.ndarray
    name_rank: np.ndarray
    degree: np.ndarray
    _bins: dict[int, np.ndarray] = field(default_factory=dict)
    _druggable: dict[int, tuple[DrugTargets, np.ndarray]] = field(default_factory=dict)
    _derived: dict[str, Any] = field(default_factory=dict)
    _derived_lock: threading.Lock = field(default_factory=threading.Lock)

    def bins(self, n_bins: int) -> np.ndarray:
        """(N,) degree quantile bin codes for ``n_bins`` bins (kept per ``n_bins``)."""
        if n_bins not in self._bins:
            self._bins[n_bins] = degree_bins(self.degree, n_bins)
        return self._bins[n_bins]

    def druggable(self, drug_targets: DrugTargets) -> np.ndarray:
        """(N,) bool: which genes ``drug_targets`` lists as targeted by a drug (kept per table object)."""
        entry = self._druggable.get(id(drug_targets))
        if entry is None or entry[0] is not drug_targets:
            entry = (drug_targets, self.gene_index.isin(list(drug_targets.druggable_genes())))
            self._druggable[id(drug_targets)] = entry
        return entry[1]

    def derived(self, name: str, build: Callable[[], T]) -> T:
        """The operator-only structure ``name``: ``build()`` on first use, then the same object (thread-safe:
        built once even when concurrent requests ask at the same time). ``build`` must depend on the operator only.
        """
        with self._derived_lock:
            if name not in self._derived:
                self._derived[name] = build()
            return self._derived[name]


_SETUPS: OrderedDict[int, tuple[Any, RankingSetup]] = OrderedDict()
_SETUPS_LOCK = threading.Lock()
_MAX_SETUPS = 8


def ranking_setup(operator: OperatorLike) -> RankingSetup:
    """The :class:`RankingSetup` of ``operator``, built on first use and kept for the last few operators.

    Operators are immutable (a model hands out a new one when its parameters change), so the
    setup is keyed by the operator object itself (held in the cache, so its id is not reused). Concurrent first
    calls may each build one, but all get the one stored first (so its :meth:`RankingSetup.derived` structures
    are built once).
    """
    with _SETUPS_LOCK:
        entry = _SETUPS.get(id(operator))
        if entry is not None and entry[0] is operator:
            _SETUPS.move_to_end(id(operator))
            return entry[1]
    names = np.asarray(operator.genes).astype(str).astype(object)
    name_rank = np.empty(len(names), np.int64)
    name_rank[np.argsort(names, kind="stable")] = np.arange(len(names))
    setup = RankingSetup(gene_index=pd.Index(names), names=names, name_rank=name_rank,
                         degree=operator_degree(operator.A))
    with _SETUPS_LOCK:
        entry = _SETUPS.get(id(operator))
        if entry is not None and entry[0] is operator:  # another thread built it meanwhile: one setup per operator
            return entry[1]
        _SETUPS[id(operator)] = (operator, setup)
        while len(_SETUPS) > _MAX_SETUPS:
            _SETUPS.popitem(last=False)
    return setup


def common_basis(operator: OperatorLike, n_common: int, unit_columns: bool = True, seed: int = 0) -> np.ndarray:
    """(G, k) common response directions of ``operator`` (:func:`~twincell.identify.null.common_directions`),
    computed once per operator and setting and kept with its :func:`ranking_setup`."""
    return ranking_setup(operator).derived(f"common_directions/{int(n_common)}/{bool(unit_columns)}/{int(seed)}",
                                           lambda: common_directions(operator, n_common, unit_columns, seed))


def pathway_basis(operator: OperatorLike) -> np.ndarray:
    """(G, 14) PROGENy pathway footprints on ``operator``'s gene order (:func:`~twincell.data.pathways.load_progeny`;
    0 for genes outside PROGENy), built once per operator and kept with its :func:`ranking_setup`."""
    return ranking_setup(operator).derived(
        "progeny", lambda: load_progeny().reindex(operator.genes.astype(str), fill_value=0.0).to_numpy(float))


def footprint_matrices(operator: OperatorLike) -> Footprint:
    """The :class:`~twincell.identify.null.Footprint` matrices of ``operator`` (``A^T``, ``|A|^T``, the
    readouts and their squares), built once per operator and kept with its :func:`ranking_setup`."""
    return ranking_setup(operator).derived("footprint", lambda: Footprint.of(operator))


def node_reach(operator: OperatorLike) -> np.ndarray:
    """(N,) unsigned reach of every node (:func:`~twincell.identify.null.reach`), computed once per operator from its
    :func:`footprint_matrices` and kept with its :func:`ranking_setup`."""
    footprint = footprint_matrices(operator)  # outside derived(): it takes the same setup's lock
    return ranking_setup(operator).derived("reach", footprint.reach)


def _best_first(score: np.ndarray, name_rank: np.ndarray) -> np.ndarray:
    """Node order by decreasing score, equal scores by name (``name_rank``).

    One unstable argsort of the scores (several times faster than a stable one), then the nodes in runs of
    equal scores (e.g. every node whose score is 0) are put in name order by one argsort of the unique integer
    key (run, name rank) of those nodes only.
    """
    order = np.argsort(-score)
    ordered = score[order]
    tied = ordered[1:] == ordered[:-1]
    if not tied.any():
        return order
    in_run = np.zeros(len(score), dtype=bool)
    in_run[1:] |= tied
    in_run[:-1] |= tied
    at = np.flatnonzero(in_run)
    run = np.concatenate([[0], np.cumsum(ordered[at[1:]] != ordered[at[:-1]])])
    tied_nodes = order[at]
    order[at] = tied_nodes[np.argsort(run * len(score) + name_rank[tied_nodes])]
    return order


_LABELS = np.array(["inhibit", "none", "activate"], dtype=object)  # indexed by sign + 1


def _direction_scores(signed: np.ndarray, direction: Direction) -> tuple[np.ndarray, np.ndarray]:
    if direction == "activate":
        return signed, _LABELS[np.full(len(signed), 2)]
    if direction == "inhibit":
        return -signed, _LABELS[np.zeros(len(signed), np.int64)]
    return np.abs(signed), _LABELS[np.sign(signed).astype(np.int64) + 1]


def _check_options(direction: str, method: str = "adjoint", normalize: str = "none", null: str = "none",
                   n_null: int = 2, n_common: int = 0, n_probes: int = 1, n_degree_bins: int = 1,
                   seed: int = 0) -> None:
    """Raise a TwinCellError naming the first unknown or out-of-range option value."""
    if direction not in ("both", "inhibit", "activate"):
        raise TwinCellError(f"unknown direction {direction!r}", "use 'both', 'inhibit' or 'activate'")
    if method not in ("adjoint", "simulate"):
        raise TwinCellError(f"unknown method {method!r}", "use 'adjoint' or 'simulate'")
    if normalize not in ("none", "cosine"):
        raise TwinCellError(f"unknown normalisation {normalize!r}", "use 'none' or 'cosine'")
    if null not in ("none", "shuffle", "center", "common", *FOOTPRINT_NULLS):
        raise TwinCellError(f"unknown null {null!r}",
                            "use 'none' (raw alignment), 'shuffle' (calibrated), 'center' (permutation mean removed), "
                            "'common' (the operator's common response directions removed), 'footprint' (readout "
                            "z-scored over permutations, propagated upstream) or 'footprint_max' (the same "
                            "z-scores, strongest single walk)")
    if null in FOOTPRINT_NULLS and method != "adjoint":
        raise TwinCellError(f"method={method!r} and null={null!r} were both given",
                            "use method='adjoint': the footprint score is not an alignment of simulated responses")
    if null == "common" and (isinstance(n_common, bool) or not isinstance(n_common, (int, np.integer))
                             or not 0 <= n_common <= MAX_COMMON):
        raise TwinCellError(f"n_common must be an integer from 0 to {MAX_COMMON} for the common null, got {n_common!r}",
                            "use e.g. n_common=20 (the default, chosen on TwinBench tier 2; 0 is the plain alignment)")
    if null == "shuffle" and (isinstance(n_null, bool) or not isinstance(n_null, (int, np.integer)) or n_null < 2):
        raise TwinCellError(f"n_null must be an integer >= 2 for the shuffle null, got {n_null!r}",
                            "use e.g. n_null=100 (one batched adjoint over that many shuffles)")
    if null == "shuffle" and normalize == "cosine":
        raise TwinCellError("normalize='cosine' and null='shuffle' were both given",
                            "use one: the shuffle-calibrated score is already scale-free per candidate "
                            "(a shuffle keeps the change's norm, so the cosine denominator cancels)")
    if null in ("center", "common", *FOOTPRINT_NULLS) and normalize == "cosine":
        raise TwinCellError(f"normalize='cosine' and null={null!r} were both given",
                            "use one: this score divides nothing per candidate by design (it keeps each node's reach)")
    check_count(n_probes, "n_probes")
    check_count(n_degree_bins, "n_degree_bins")
    check_count(seed, "seed", minimum=0)


def signed_scores(operator: OperatorLike, d: np.ndarray, present: np.ndarray, *, method: Method = "adjoint",
                  null: Null = "none", n_null: int = 100, seed: int = 0, n_common: int = 20,
                  unit_columns: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Signed score of activating every node: the alignment, calibrated, centred, or common directions removed.

    Parameters
    ----------
    operator
        The propagation operator.
    d, present
        (N,) desired change and mask of its genes (:func:`align_change`).
    method
        ``adjoint`` (one batched backward pass) or ``simulate`` (brute-force forward reference).
    null
        ``none``: the score is the alignment. ``shuffle``: the alignment as a z-score against
        ``n_null`` seeded permutations of the change's values among its genes, all scored in the
        same pass as the observed change (:func:`~twincell.identify.null.calibrate`). ``center``:
        the alignment minus its exact mean over all permutations of the change's values among its
        genes, i.e. the alignment of the centred change (:func:`~twincell.identify.null.centered_change`).
        ``common``: the alignment of the change minus its projection, on its genes, onto the operator's
        ``n_common`` common response directions (:func:`~twincell.identify.null.remove_common`).
        ``footprint``: the exact permutation z-scores of the readouts ``R0^T d`` and ``R^T d``, the second
        propagated upstream by ``A^T`` (:meth:`~twincell.identify.null.Footprint.scores`; adjoint only).
        ``footprint_max``: the same z-scores, each node scored by its strongest single walk onto them
        (:meth:`~twincell.identify.null.Footprint.max_path_scores`; adjoint only).
    n_null, seed
        Number of shuffles B and their seed (``shuffle``; ``seed`` also seeds ``common``'s randomized SVD).
    n_common, unit_columns
        Number of common directions k and whether every node's response is scaled to unit norm
        before they are computed (``common`` only; :func:`~twincell.identify.null.common_directions`).

    Returns
    -------
    score
        (N,) signed score (positive: activating the node moves the cell towards ``d``).
    alignment
        (N,) the exact signed alignment ``<d, M e_i>`` (equal to ``score`` when ``null="none"``).
    sq_norms
        (N,) exact squared response norms over ``present`` genes when ``method="simulate"``, else None.
    """
    if null in (*FOOTPRINT_NULLS, "shuffle", "center") and np.ptp(d[present]) == 0:
        raise SignatureError(f"null={null!r} scores a change against permutations of its values, and this change's "
                             f"{int(present.sum())} network gene(s) all have the value {d[present][0]:g}: every "
                             "permutation is the change itself, so every score would be 0",
                             "give a signature with values that differ (e.g. log fold changes), or use null='none'")
    if null in FOOTPRINT_NULLS:
        score = footprint_matrices(operator).null_scores(null, d, present)
        return score, np.asarray(operator.adjoint(d), dtype=float), None
    if null == "shuffle":
        D = np.column_stack([d, shuffled_changes(d, present, n_null, seed)])
    elif null == "center":  # the observed change rides along for the exact alignment
        D = np.column_stack([centered_change(d, present), d])
    elif null == "common":
        D = np.column_stack([remove_common(d, present, common_basis(operator, n_common, unit_columns, seed)), d])
        if not D[:, 0].any():
            raise SignatureError(f"null='common' removed all of the change: its {int(present.sum())} network genes "
                                 f"lie within the span of the {n_common} common response directions on them",
                                 "give a signature on more genes than n_common, lower n_common, or use null='none'")
    else:
        D = d
    if method == "adjoint":
        S, sq_norms = np.asarray(operator.adjoint(D), dtype=float), None
    else:
        S, sq_norms = simulate_scores(operator, D, present=present)
    if null == "none":
        return S, S, sq_norms
    if null in ("center", "common"):
        return S[:, 0], S[:, 1], sq_norms
    z, _, _ = calibrate(S[:, 0], S[:, 1:])
    return z, S[:, 0], sq_norms


def target_scores(model_or_operator: Any, desired_change: pd.Series, context: str | np.ndarray | None = None,
                  direction: Direction = "both", null: Null = "none", n_null: int = 100, seed: int = 0,
                  n_common: int = 20, unit_columns: bool = True) -> pd.Series:
    """Adjoint score of every node in ``direction``: the one pass of :func:`rank_targets` without its z-scores,
    druggability and sorting, for callers that rank many signatures (TwinBench).

    Parameters
    ----------
    model_or_operator, desired_change, context, direction
        As in :func:`rank_targets` (``desired_change`` placed on the network by :func:`align_change`).
    null, n_null, seed, n_common, unit_columns
        As in :func:`rank_targets`: ``none``, ``shuffle``, ``center``, ``common``, ``footprint`` or
        ``footprint_max``, with their settings.

    Returns
    -------
    pd.Series
        (N,) score per network gene, in the operator's node order (name ``score``): the same scores as
        ``rank_targets(..., method="adjoint", normalize="none")`` with the same options.
    """
    _check_options(direction, null=null, n_null=n_null, n_common=n_common, seed=seed)
    op = resolve_operator(model_or_operator, context)
    setup = ranking_setup(op)
    d, present, _ = align_change(desired_change, setup.gene_index)
    signed, _, _ = signed_scores(op, d, present, null=null, n_null=n_null, seed=seed, n_common=n_common,
                                 unit_columns=unit_columns)
    score, _ = _direction_scores(signed, direction)
    return pd.Series(score, index=setup.gene_index, name="score")


def rank_targets(model_or_operator: Any, desired_change: pd.Series, context: str | np.ndarray | None = None,
                 direction: Direction = "both", method: Method = "adjoint", normalize: Normalize = "none",
                 null: Null = "none", n_null: int = 100, n_probes: int = 128, n_degree_bins: int = 20,
                 seed: int = 0, drug_targets: DrugTargets | None = None, n_common: int = 20,
                 unit_columns: bool = True) -> pd.DataFrame:
    """Rank every protein by how well perturbing it would produce ``desired_change`` in ``context``.

    Parameters
    ----------
    model_or_operator
        A model with ``.operator(context)`` or a propagation operator.
    desired_change
        Desired expression change per gene (network gene names; other gene IDs are mapped, :func:`align_change`),
        typically ``-(disease signature)`` (:meth:`twincell.data.signatures.Signature.desired_change`).
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
    null
        ``none`` (default): the score is the alignment. ``shuffle``: the score a signature must earn,
        each candidate's alignment as a z-score against its own null of ``n_null`` shuffles of the
        change's values among its genes (one batched adjoint; see :mod:`twincell.identify.null`).
        ``center``: the alignment minus its exact expectation over all permutations of the change's
        values among its genes (the part every permutation shares), i.e. the alignment of the change
        centred on its genes; one adjoint pass, magnitudes kept. With either, the exact alignment is
        kept in an ``alignment`` column. Neither is combinable with ``cosine``.
        ``common``: the alignment of the change minus its least-squares projection, on its own genes,
        onto the operator's ``n_common`` common response directions (the directions almost every
        node's response shares; :mod:`twincell.identify.null`); exact, one adjoint pass, ``alignment``
        column kept, not combinable with ``cosine``.
        ``footprint``: normalised at the readout stage, not at the candidate: each node's readout
        ``R^T d`` (its targets' weighted change; likewise hop 0's ``R0^T d``) as its exact z-score over
        permutations of the change's values among its genes, then propagated upstream with ``A^T``, so a
        node scores by its reach into the nodes whose footprint the signature moves
        (:class:`~twincell.identify.null.Footprint`); ``alignment`` column kept, ``adjoint`` only, not
        combinable with ``cosine``.
        ``footprint_max``: the same readout z-scores, but each node scores by its strongest single walk
        of at most K hops, ``max(|z0|, max_walk prod |A| * |z_end|)``, not by the sum over walks, signed
        by the ``footprint`` score (:meth:`~twincell.identify.null.Footprint.max_path_scores`); same
        restrictions.
    n_null
        Number of shuffles B for ``null="shuffle"`` (at least 2).
    n_common, unit_columns
        For ``null="common"``: number of common directions k (0 to ``MAX_COMMON``; 0 is the plain
        alignment) and whether every node's response is scaled to unit norm before they are computed;
        the defaults (20, True) had the best TwinBench tier-2 AUROC of six settings (docs/identify.md).
    n_probes
        Random probes for the cosine norms.
    seed
        Seed of the cosine probes and of the shuffles.
    n_degree_bins
        Degree quantile bins of the z-score null (see :mod:`twincell.identify.null`).
    drug_targets
        Drug-target table for the ``druggable`` column (default: :meth:`DrugTargets.universe`, DrugCentral ∪ approved targets).

    Returns
    -------
    pd.DataFrame
        One row per node, best first: ``gene, score, direction`` (with ``direction="both"`` the score's sign,
        ``activate | inhibit``, or ``none`` when it is 0; with ``"activate"`` or ``"inhibit"`` that word on every
        row), ``rank (1 = best), z_score (degree-matched), druggable`` and, with
        any ``null`` but ``"none"``, ``alignment`` (the exact alignment in the row's direction).
        ``df.attrs`` records the method, normalisation, null, context, whether the context-free
        strengths were used, the signature genes found / absent in the network and the change's key
        (:func:`change_key`).

    Raises
    ------
    SignatureError
        As :func:`align_change`, or when no protein reaches the change's genes (every score would be 0).
    """
    _check_options(direction, method, normalize, null, n_null, n_common, n_probes=n_probes,
                   n_degree_bins=n_degree_bins, seed=seed)
    op = resolve_operator(model_or_operator, context)
    setup = ranking_setup(op)
    d, present, absent = align_change(desired_change, setup.gene_index)
    signed, alignment, sq_norms = signed_scores(op, d, present, method=method, null=null, n_null=n_null, seed=seed,
                                                n_common=n_common, unit_columns=unit_columns)
    if not np.any(alignment):  # an all-zero ranking would list every protein in name order as if it meant something
        genes = setup.gene_index[present]
        raise SignatureError(f"no protein's walks of at most {op.n_hops} hops reach the {len(genes)} network gene(s) of "
                             f"the desired change ({', '.join(map(str, genes[:5]))}{' ...' if len(genes) > 5 else ''}): "
                             "every score would be 0",
                             "give a signature of more genes, or of genes with regulators in the network "
                             "(transcripts of signalling-regulated TFs)")
    if normalize == "cosine":
        if sq_norms is None:
            sq_norms = hutchinson_sq_norms(op, present, n_probes, seed)
        denom = np.sqrt(np.clip(sq_norms, 0.0, None)) * np.linalg.norm(d)
        signed = np.divide(signed, denom, out=np.zeros_like(signed), where=denom > 0)
    score, labels = _direction_scores(signed, direction)
    z = binned_zscores(score, setup.bins(n_degree_bins))
    if drug_targets is not None and not isinstance(drug_targets, DrugTargets):
        raise TwinCellError(f"drug_targets must be a DrugTargets table, got {type(drug_targets).__name__}",
                            "pass DrugTargets.universe() (the default) or a DrugTargets you built")
    druggable = setup.druggable(drug_targets or DrugTargets.universe())
    order = _best_first(score, setup.name_rank)
    columns = {"gene": setup.names[order], "score": score[order], "direction": labels[order],
               "rank": np.arange(1, len(order) + 1), "z_score": z[order], "druggable": druggable[order]}
    if null != "none":
        columns["alignment"] = np.where(labels == "inhibit", -alignment, alignment)[order]
    df = pd.DataFrame(columns, copy=False)
    context_label = operator_context_label(op, context)
    if op.context_free:
        logger.info("no cell context given: scores use the model's context-free edge strengths")
    df.attrs.update({
        "method": method, "normalize": normalize, "direction": direction, "context": context_label,
        "null": null, "n_null": int(n_null) if null == "shuffle" else 0,
        "n_common": int(n_common) if null == "common" else 0,
        "unit_columns": bool(unit_columns) if null == "common" else False,
        "context_free": bool(op.context_free), "n_hops": int(op.n_hops),
        "signature_genes_found": int(present.sum()), "signature_genes_absent": absent,
        "change_key": change_key(d, context),
    })
    return df
