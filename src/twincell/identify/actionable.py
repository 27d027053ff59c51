"""The actionable list: drug targets only, with their drugs, a direction check and fragility flags.

Three things turn a ranking of every protein into a list a drug hunter can act on:

* **Drugs named.** Each drug target (:meth:`DrugTargets.universe`: DrugCentral 2016 ∪ the approved-target
  table) carries its drugs, one action per drug, and the drugs' approved indications.
* **Directions checked** (:func:`direction_agreement`). A drug acts in one direction: ``inhibit`` matches the
  lowering actions (inhibitor, antagonist, blocker, negative allosteric modulator, inverse agonist, antibody
  binding), ``activate`` the raising ones (agonist, partial agonist, activator, positive (allosteric)
  modulator, opener, releasing agent); see :func:`twincell.data.drugs.action_sign`. A target ``agrees`` when at
  least one of its drugs acts in the predicted direction (a drug exists to test the prediction with, even if
  other drugs of the gene act the other way: ``drug_actions`` lists each), ``conflict`` when its drugs with a
  known action all act the other way, and ``unknown`` when none has a known action (modulator, substrate, an
  approved-target row without action).
* **Artefacts caught** (:func:`fragility`). ``top_walk_share`` = |contribution of the target's single best
  walk| / |score|, and ``n_signature_genes_reached`` = signature genes that any walk of at most K hops from
  the target reaches through the operator. Both come from passes over the edges (no per-target search): for
  all N nodes at once, or, for the rows a list returns, only from those nodes.
  A target is **fragile** when ``top_walk_share > 0.5`` (one walk onto one gene carries more than half of its
  score, e.g. a TF edge onto a sex-chromosome gene) or when it reaches fewer than 3 signature genes at all.
  Within the model's K hops most proteins of the interactome reach most signature genes through some (often tiny)
  walk, so in practice the share is what flags a target; the reach count catches peripheral proteins.

Several signatures of one disease are combined by :func:`combine_rankings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from twincell.data.drugs import DrugTargets
from twincell.errors import ContextError, SignatureError, TwinCellError, UnknownGeneError, check_count
from twincell.identify.explain import AbsColumns
from twincell.identify.inverse import (align_change, change_key, operator_context_label, ranking_setup,
                                      resolve_operator)
from twincell.identify.null import degree_matched_zscores

FRAGILE_SHARE = 0.5  #: a target is fragile when its best walk carries more than this share of its score ...
FRAGILE_MIN_GENES = 3  #: ... or when it reaches fewer than this many signature genes
TARGET_COLUMNS = ("gene", "rank", "overall_rank", "score", "direction", "z_score", "drugs", "drug_actions",
                  "direction_agrees", "indications", "top_walk_share", "n_signature_genes_reached")
RANKING_COLUMNS = ("gene", "rank", "score", "direction", "z_score")  #: what the actionable list reads of a ranking


class WalkArrays:
    """What the fragility passes need from an operator's matrices, built once per operator (:func:`walk_arrays`).

    Parameters
    ----------
    A, R, R0
        (N, N) propagation (``A[dst, src]``) and readout (``R[gene, node]`` after >= 1 hop, ``R0`` at hop 0)
        matrices; never modified.

    Attributes
    ----------
    A
        ``|A|`` by columns: column v lists the u with ``A[u, v] != 0`` (v's successors).
    A_rows
        ``|A^T|`` by columns: column u lists the v with ``A[u, v] != 0`` (u's predecessors).
    R, R0
        ``|R|``, ``|R0|`` by columns (the genes each node reads out).
    R_rows, R0_rows
        ``|R^T|``, ``|R0^T|`` by columns (the nodes each gene is read out from).
    """

    def __init__(self, A: sp.spmatrix, R: sp.spmatrix, R0: sp.spmatrix) -> None:
        self.A, self.A_rows = AbsColumns(A), AbsColumns(sp.csr_matrix(A).T)
        self.R, self.R_rows = AbsColumns(R), AbsColumns(sp.csr_matrix(R).T)
        self.R0, self.R0_rows = AbsColumns(R0), AbsColumns(sp.csr_matrix(R0).T)


def walk_arrays(operator: Any) -> WalkArrays:
    """The :class:`WalkArrays` of ``operator`` (``A``, ``R``, ``readout0``), built on first use and kept with the
    operator's :func:`~twincell.identify.inverse.ranking_setup`."""
    return ranking_setup(operator).derived("walk_arrays",
                                           lambda: WalkArrays(operator.A, operator.R, operator.readout0))


def best_walk_values(A: sp.spmatrix, R: sp.spmatrix, R0: sp.spmatrix, d: np.ndarray, n_hops: int,
                     nodes: np.ndarray | None = None) -> np.ndarray:
    """|contribution| of the single best walk from every node (or from ``nodes``), by a max-product dynamic programme.

    A walk ``i = v_0 -> ... -> v_h`` (h <= K) onto gene ``g`` contributes
    ``A[v_1, v_0] ... A[v_h, v_{h-1}] * R_h[g, v_h] * d_g`` (``R_0 = R0``, ``R`` after one hop or more), as in
    :mod:`twincell.identify.explain`. With ``B_0(v) = max_g |R[g, v] d_g|`` and
    ``B_r(v) = max(B_0(v), max_u |A[u, v]| B_{r-1}(u))`` (best walk of at most r hops ending in ``R``), the best
    walk from ``i`` is ``max(max_g |R0[g, i] d_g|, max_u |A[u, i]| B_{K-1}(u))``. Levels ``B_1 .. B_{K-1}`` are
    computed for every node (:meth:`~twincell.identify.explain.AbsColumns.levels`, the programme of explain's
    search bounds, each step pulled or pushed by :func:`_max_product_step`); the last step only from the
    requested nodes (the columns of ``A`` leaving them).

    Parameters
    ----------
    A
        (N, N) propagation matrix, ``A[dst, src]``.
    R, R0
        (N, N) readout matrices ``R[gene, node]`` after >= 1 hop and at hop 0.
    d
        (N,) desired change on the operator's gene order.
    n_hops
        Longest walk length K.
    nodes
        Start-node indices to return (default: all N nodes, in order).

    Returns
    -------
    np.ndarray
        (N,) or (len(nodes),) largest |contribution| of one walk per start node (0 when no walk reaches a changed
        gene).
    """
    return _best_walks(WalkArrays(A, R, R0), d, n_hops, nodes)


def _best_walks(arrays: WalkArrays, d: np.ndarray, n_hops: int, nodes: np.ndarray | None) -> np.ndarray:
    """:func:`best_walk_values` on prepared :class:`WalkArrays`."""
    absd = np.abs(np.asarray(d, dtype=float))
    hop0 = arrays.R0.column_max(absd, nodes)
    if n_hops == 0:
        return hop0
    bound = arrays.A.levels(arrays.R.column_max(absd), n_hops - 1, lambda b: _max_product_step(arrays, b))[-1]
    return np.maximum(hop0, arrays.A.column_max(bound, nodes))


def _max_product_step(arrays: WalkArrays, bound: np.ndarray) -> np.ndarray:
    """(N,) ``max_u |A[u, v]| bound[u]`` per node v: pulled along every column of ``A``, or pushed from the nodes
    with a non-zero ``bound`` when their in-edges are fewer than half of all edges (the same products and maxima)."""
    support = np.flatnonzero(bound)
    if 2 * len(support) < len(bound):  # else their in-edges are most edges, as a rule
        in_edges = arrays.A_rows.indptr[support + 1] - arrays.A_rows.indptr[support]
        if 2 * int(in_edges.sum()) < len(arrays.A_rows.indices):
            return arrays.A_rows.scatter_max(bound, support)
    return arrays.A.column_max(bound)


def _set_bits(bits: np.ndarray, columns: np.ndarray, positions: np.ndarray) -> None:
    """Set bit ``positions[k]`` (counted across words) of column ``columns[k]`` of ``bits`` (W, N), in place."""
    positions = np.asarray(positions, dtype=np.uint64)
    np.bitwise_or.at(bits, ((positions // 64).astype(np.intp), columns),
                     np.left_shift(np.uint64(1), positions % np.uint64(64)))


def _spread_bits(M: AbsColumns, columns: np.ndarray, n_rows: int) -> np.ndarray:
    """(ceil(len(columns) / 64), n_rows) uint64 bit sets: bit j of row g is set when ``M[g, columns[j]] != 0``."""
    indptr, positions = M.column_entries(columns)
    bits = np.zeros(((len(columns) + 63) // 64, n_rows), dtype=np.uint64)
    _set_bits(bits, M.indices[positions], np.repeat(np.arange(len(columns)), np.diff(indptr)))
    return bits


def _count_bits(bits: np.ndarray, n: int) -> np.ndarray:
    """(n,) int64: in how many columns of ``bits`` (W, M) bit position j (counted across words, j < n) is set."""
    per_column = np.ascontiguousarray(bits.T).astype("<u8").view(np.uint8)
    return np.unpackbits(per_column, axis=1, bitorder="little").sum(axis=0, dtype=np.int64)[:n]


def signature_genes_reached(A: sp.spmatrix, R: sp.spmatrix, R0: sp.spmatrix, signature: np.ndarray,
                            n_hops: int, nodes: np.ndarray | None = None) -> np.ndarray:
    """Number of signature genes that some walk of at most K hops from each node reaches (boolean reachability).

    ``G_0(v)`` = signature genes read out from ``v`` (``R[g, v] != 0``), ``G_r(v) = G_0(v) ∪ ⋃_{A[u, v] != 0}
    G_{r-1}(u)``; node ``i`` reaches ``{g: R0[g, i] != 0} ∪ ⋃_{A[u, i] != 0} G_{K-1}(u)``. Sets are bit sets and
    each hop is one OR-reduction over the edges, run in whichever direction needs fewer 64-bit words per node:
    backwards with one bit per signature gene (all nodes at once), or forwards from the requested ``nodes``
    with one bit per start node (the nodes each node is reached from), then onto the genes they read out.

    Parameters
    ----------
    A
        (N, N) propagation matrix, ``A[dst, src]``.
    R, R0
        (N, N) readout matrices ``R[gene, node]`` after >= 1 hop and at hop 0.
    signature
        Node indices of the signature genes (genes with a non-zero desired change).
    n_hops
        Longest walk length K.
    nodes
        Start-node indices to count for (default: all N nodes, in order).

    Returns
    -------
    np.ndarray
        (N,) or (len(nodes),) int64 counts.
    """
    return _genes_reached(WalkArrays(A, R, R0), signature, n_hops, nodes)


def _genes_reached(arrays: WalkArrays, signature: np.ndarray, n_hops: int, nodes: np.ndarray | None) -> np.ndarray:
    """:func:`signature_genes_reached` on prepared :class:`WalkArrays`."""
    signature = np.asarray(signature, dtype=np.int64)
    n = arrays.A.shape[0]
    if nodes is not None:
        nodes = np.asarray(nodes, dtype=np.int64)
        if (len(nodes) + 63) // 64 < (len(signature) + 63) // 64:
            return _reached_forward(arrays, signature, n_hops, nodes)
    hop0 = _spread_bits(arrays.R0_rows, signature, n)
    if n_hops > 0:
        terminal = _spread_bits(arrays.R_rows, signature, n)
        reach = terminal
        for _ in range(n_hops - 1):
            reach = terminal | arrays.A.column_or(reach)
        hop0 = hop0 | arrays.A.column_or(reach)
    counts = np.bitwise_count(hop0).sum(axis=0).astype(np.int64)
    return counts if nodes is None else counts[nodes]


def _reached_forward(arrays: WalkArrays, signature: np.ndarray, n_hops: int, nodes: np.ndarray) -> np.ndarray:
    """:func:`signature_genes_reached` for a few start nodes: one bit per start node, propagated forwards.

    ``W_h(u)`` = start nodes with a walk of 1..h hops to ``u``: ``W_1(u) = ⋃_{A[u, v] != 0} S(v)``,
    ``W_h(u) = ⋃_{A[u, v] != 0} (S(v) ∪ W_{h-1}(v))`` (``S(v)``: v's own bit). Gene g is reached from start
    node i when ``R0[g, i] != 0`` or ``R[g, v] != 0`` for some v with i in ``W_K(v)``. ``W_1`` is spread from the
    start nodes' own edges, and ``W_K`` is needed (and computed) only at the nodes that read out a signature gene.
    """
    n = arrays.A.shape[0]
    start = np.zeros(((len(nodes) + 63) // 64, n), dtype=np.uint64)
    _set_bits(start, nodes, np.arange(len(nodes)))
    genes = arrays.R0_rows.column_or(start, signature)
    if n_hops > 0:
        walked = _spread_bits(arrays.A, nodes, n)  # W_1: the start nodes' successors
        reads_out = np.zeros(n, dtype=bool)
        reads_out[arrays.R_rows.indices[arrays.R_rows.column_entries(signature)[1]]] = True
        readers = np.flatnonzero(reads_out)
        for hop in range(2, n_hops + 1):
            if hop < n_hops:
                walked = arrays.A_rows.column_or(start | walked)
            else:  # the last hop only onto the nodes that read out a signature gene
                last = np.zeros_like(walked)
                last[:, readers] = arrays.A_rows.column_or(start | walked, readers)
                walked = last
        genes |= arrays.R_rows.column_or(walked, signature)
    return _count_bits(genes, len(nodes))


def fragility(operator: Any, d: np.ndarray, signed_scores: np.ndarray,
              nodes: np.ndarray | None = None) -> pd.DataFrame:
    """Fragility flags of every node (or of ``nodes``) for one desired change.

    Parameters
    ----------
    operator
        A :class:`~twincell.model.PropagationOperator` (``A``, ``R``, ``readout0``, ``n_hops``, ``genes``).
    d
        (N,) desired change on the operator's gene order.
    signed_scores
        (N,) adjoint scores ``operator.adjoint(d)`` (the sum of all walks' contributions).
    nodes
        Node indices to flag (default: all N nodes). The values of a node do not depend on which others are
        asked for; a few nodes cost a fraction of all of them.

    Returns
    -------
    pd.DataFrame
        Indexed by gene (in ``nodes`` order): ``top_walk_share`` (best walk |contribution| / |score|; NaN for a
        zero score; above 1 when walks cancel), ``n_signature_genes_reached``, ``fragile`` (see
        :data:`FRAGILE_SHARE`).

    Raises
    ------
    TwinCellError
        A node index outside ``0 .. N - 1`` or not a whole number, or ``d`` / ``signed_scores`` not of shape (N,)
        (the compiled walk passes read them without bounds checks) or not finite.
    """
    n = len(operator.genes)
    for name, values in (("d", d), ("signed_scores", signed_scores)):
        if np.shape(values) != (n,):
            raise TwinCellError(f"{name} must have shape ({n},), the operator's genes, got {np.shape(values)}",
                                "align the change with the operator's genes (align_change) and score it with "
                                "operator.adjoint")
        if not np.isfinite(np.asarray(values, dtype=float)).all():  # a NaN would be counted as a gene reached
            raise TwinCellError(f"{name} holds NaN or infinite values", "give finite values (align_change refuses "
                                                                        "changes that are not)")
    if nodes is not None and not np.issubdtype(np.asarray(nodes).dtype, np.integer) and len(nodes):
        raise TwinCellError(f"node indices must be whole numbers, got {np.asarray(nodes).dtype}",
                            "give positions in the operator's gene order (ranking_setup(op).gene_index)")
    index = np.arange(n) if nodes is None else np.asarray(nodes, dtype=np.int64)
    if len(index) and (index.min() < 0 or index.max() >= n):
        raise TwinCellError(f"node indices must lie in 0..{n - 1}, got {index.min()}..{index.max()}",
                            "give positions in the operator's gene order (ranking_setup(op).gene_index)")
    share, reached, fragile = _flag_values(operator, d, np.abs(np.asarray(signed_scores, dtype=float))[index], nodes)
    return pd.DataFrame({"top_walk_share": share, "n_signature_genes_reached": reached, "fragile": fragile},
                        index=pd.Index(ranking_setup(operator).names[index], name="gene"))


def _flag_values(operator: Any, d: np.ndarray, abs_scores: np.ndarray,
                 nodes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`fragility`'s three columns as arrays, from the nodes' |scores| ((N,) or (len(nodes),), in ``nodes``
    order)."""
    arrays, k = walk_arrays(operator), int(operator.n_hops)
    best = _best_walks(arrays, d, k, nodes)
    share = np.divide(best, abs_scores, out=np.full(len(best), np.nan), where=abs_scores > 0)
    reached = _genes_reached(arrays, np.flatnonzero(np.asarray(d) != 0), k, nodes)
    return share, reached, (share > FRAGILE_SHARE) | (reached < FRAGILE_MIN_GENES)


def helpful_direction(direction: str, score: float) -> str:
    """The direction that moves the cells towards the desired change, by a ranking row's ``direction`` and ``score``:
    the row's direction when its score is positive, the opposite one when it is negative (a one-sided ranking,
    ``direction="inhibit"`` or ``"activate"``, labels every row alike; a negative score says that direction moves
    the cells away), none (``"none"``) when it is 0."""
    if score > 0:
        return direction
    if score < 0:
        return {"inhibit": "activate", "activate": "inhibit"}.get(direction, "none")
    return "none"


def direction_agreement(direction: str, signs: Sequence[int]) -> str:
    """Whether a target's drugs act in its predicted direction.

    Parameters
    ----------
    direction
        ``inhibit`` or ``activate`` (anything else gives ``unknown``).
    signs
        Action sign of each of the target's drugs (+1 raises activity, -1 lowers it, 0 unknown).

    Returns
    -------
    str
        ``agrees`` when at least one drug acts in the predicted direction, ``conflict`` when the drugs with a
        known action all act the other way, ``unknown`` when no drug has a known action.
    """
    wanted = {"inhibit": -1, "activate": 1}.get(direction)
    known = {int(s) for s in signs if s != 0}
    if wanted is None or not known:
        return "unknown"
    return "agrees" if wanted in known else "conflict"


def drug_annotation(drug_targets: DrugTargets | None = None) -> pd.DataFrame:
    """Per drug target: ``drugs``, ``drug_actions`` (one per drug), ``indications`` and the drugs' action signs.

    Returns
    -------
    pd.DataFrame
        Indexed by gene: ``drugs``, ``drug_actions`` (``;``-joined, aligned), ``indications`` (``;``-joined
        distinct approved indications, empty when none recorded), ``signs`` (tuple of per-drug signs).
    """
    return _shared_annotation(drug_targets).copy()


def _shared_annotation(drug_targets: DrugTargets | None) -> pd.DataFrame:
    """:func:`drug_annotation` without the copy (the universe's is shared: read it, never modify it)."""
    return _universe_annotation() if drug_targets is None else _annotate(drug_targets)


@lru_cache(maxsize=1)
def _universe_annotation() -> pd.DataFrame:
    """:func:`drug_annotation` of :meth:`DrugTargets.universe` (disease-independent: built once per process)."""
    return _annotate(DrugTargets.universe())


def _annotate(drugs: DrugTargets) -> pd.DataFrame:
    per_gene = drugs.per_gene()[["drugs", "drug_actions"]]
    signs = drugs.table.sort_values(["gene", "drug"]).groupby("gene")["sign"].agg(lambda s: tuple(int(v) for v in s))
    return per_gene.join(drugs.indications_per_gene()).join(signs.rename("signs")).fillna({"indications": ""})


def actionable_targets(ranking: pd.DataFrame, flags: pd.DataFrame,
                       drug_targets: DrugTargets | None = None) -> pd.DataFrame:
    """The drug targets of a ranking, in rank order, with drugs, direction check and fragility flags.

    Parameters
    ----------
    ranking
        A ranking (``gene, score, direction, rank, z_score``), best first.
    flags
        :func:`fragility` output indexed by gene (``top_walk_share``, ``n_signature_genes_reached``).
    drug_targets
        Drug-target table (default: :meth:`DrugTargets.universe`).

    Returns
    -------
    pd.DataFrame
        Columns :data:`TARGET_COLUMNS` (plus ``n_signatures_agree`` for combined rankings): ``rank`` counts drug
        targets only, ``overall_rank`` is the rank among all proteins. ``attrs["fragile"]`` lists the fragile
        genes of the table.
    """
    _check_ranking(ranking)
    drugs = _shared_annotation(drug_targets)
    positions = np.flatnonzero(_is_drug_target(ranking["gene"], drugs.index))
    flag = flags.reindex(ranking["gene"].to_numpy()[positions])
    return _drug_target_rows(ranking, positions, drugs, flag["top_walk_share"].to_numpy(),
                             flag["n_signature_genes_reached"].to_numpy(), flag["fragile"].fillna(False).to_numpy(bool))


def _is_drug_target(genes: pd.Series, drug_genes: pd.Index) -> np.ndarray:
    """(len(genes),) bool: which genes ``drug_genes`` (unique) lists; a lookup in the index's own hash table, which
    it keeps (``Series.isin`` builds one per call)."""
    return drug_genes.get_indexer(genes.to_numpy()) >= 0


def _drug_target_rows(ranking: pd.DataFrame, positions: np.ndarray, drugs: pd.DataFrame, share: np.ndarray,
                      reached: np.ndarray, fragile: np.ndarray) -> pd.DataFrame:
    """:func:`actionable_targets` of the drug-target rows at ``positions`` of ``ranking``, given their flags
    (arrays aligned with ``positions``) and the drug annotation (:func:`drug_annotation`)."""
    genes = ranking["gene"].to_numpy()[positions]
    listed = drugs.index.get_indexer(genes)
    annotation = {c: drugs[c].to_numpy()[listed] for c in ("drugs", "drug_actions", "indications", "signs")}
    row = {c: ranking[c].to_numpy()[positions] for c in ("rank", "score", "direction", "z_score")}
    columns = {"gene": genes, "rank": np.arange(1, len(genes) + 1), "overall_rank": row["rank"],
               **{c: row[c] for c in ("score", "direction", "z_score")},
               **{c: annotation[c] for c in ("drugs", "drug_actions")},
               "direction_agrees": [direction_agreement(helpful_direction(direction, score), signs)
                                    for direction, score, signs in zip(row["direction"], row["score"],
                                                                       annotation["signs"])],
               "indications": annotation["indications"], "top_walk_share": share, "n_signature_genes_reached": reached,
               **{c: ranking[c].to_numpy()[positions] for c in ("n_signatures_agree",) if c in ranking.columns}}
    out = pd.DataFrame(columns)
    out.attrs["fragile"] = genes[fragile].tolist()
    return out


def combine_rankings(rankings: Sequence[pd.DataFrame], degree: np.ndarray, genes: np.ndarray,
                     n_degree_bins: int = 20) -> pd.DataFrame:
    """Combine the rankings of several signatures of one disease into one.

    Rule: each signature supports every gene with ``max(z, 0)`` (its degree-matched ``z_score``; a score below
    the degree-matched mean supports nothing) in its predicted direction, signed (+ ``activate``, - ``inhibit``).
    The combined signed support is the mean over signatures: ``direction`` is its sign, ``score`` its absolute
    value, ``z_score`` the degree-matched z of that score, and ``n_signatures_agree`` counts the signatures that
    support the combined direction (same direction, positive z-score). The per-signature signed supports are
    kept as ``support_<i>`` columns (i = 1, 2, ... in input order).

    Parameters
    ----------
    rankings
        :func:`~twincell.identify.rank_targets` outputs (direction ``both``) on the same operator.
    degree
        (N,) node degrees of the operator (for the combined z-score), in ``genes`` order.
    genes
        (N,) the operator's gene order.
    n_degree_bins
        Degree bins of the z-score null.

    Returns
    -------
    pd.DataFrame
        ``gene, score, direction, rank, z_score, druggable, n_signatures_agree, support_1 ..``, best first.

    Raises
    ------
    TwinCellError
        No ranking, a ranking that is not a table of ``gene, direction, z_score, druggable`` listing each of
        ``genes`` exactly once, one ranked in a one-sided direction, or ``degree`` not one value per gene.
    """
    genes = np.asarray(genes).astype(str)
    if not len(rankings):
        raise TwinCellError("no ranking to combine", "pass one rank_targets output per signature")
    if len(degree) != len(genes):
        raise TwinCellError(f"degree has {len(degree)} values for {len(genes)} genes",
                            "pass operator_degree(op.A) of the operator the rankings come from")
    hint = "combine rank_targets outputs (direction 'both') made with the same model and context"
    for j, ranking in enumerate(rankings, start=1):
        if not isinstance(ranking, pd.DataFrame):
            raise TwinCellError(f"ranking {j} is a {type(ranking).__name__}, not a table", hint)
        missing = [c for c in ("gene", "direction", "z_score", "druggable") if c not in ranking.columns]
        if missing:
            raise TwinCellError(f"ranking {j} lacks column(s) {', '.join(missing)}", hint)
        if ranking.attrs.get("direction", "both") != "both":
            raise TwinCellError(f"ranking {j} was ranked with direction {ranking.attrs['direction']!r}", hint)
        if ranking["gene"].duplicated().any() or set(ranking["gene"].astype(str)) != set(genes):
            raise TwinCellError(f"ranking {j} does not rank exactly the operator's {len(genes)} genes, once each",
                                "combine rank_targets outputs made with the same model and context")
    support = np.zeros((len(genes), len(rankings)))
    for j, ranking in enumerate(rankings):
        r = ranking.set_index("gene").reindex(genes)
        sign = r["direction"].map({"activate": 1.0, "inhibit": -1.0}).fillna(0.0).to_numpy(float)
        support[:, j] = sign * np.clip(np.nan_to_num(r["z_score"].to_numpy(float)), 0.0, None)
    mean = support.mean(axis=1)
    direction = np.where(mean > 0, "activate", np.where(mean < 0, "inhibit", "none")).astype(object)
    agree = ((np.sign(support) == np.sign(mean)[:, None]) & (support != 0)).sum(axis=1)
    druggable = rankings[0].set_index("gene")["druggable"].reindex(genes).fillna(False).to_numpy(bool)
    df = pd.DataFrame({"gene": genes, "score": np.abs(mean), "direction": direction,
                       "z_score": degree_matched_zscores(np.abs(mean), degree, n_degree_bins),
                       "druggable": druggable, "n_signatures_agree": agree})
    for j in range(support.shape[1]):
        df[f"support_{j + 1}"] = support[:, j]
    df = df.sort_values(["score", "gene"], ascending=[False, True], kind="stable").reset_index(drop=True)
    df.insert(3, "rank", np.arange(1, len(df) + 1))
    return df


def brief_targets(targets: pd.DataFrame, max_drugs: int = 2) -> pd.DataFrame:
    """The actionable list for a terminal: key columns, at most ``max_drugs`` drugs as ``drug (action)``.

    Parameters
    ----------
    targets
        :func:`actionable_targets` output.
    max_drugs
        Drugs kept per row; the rest is counted as ``+n``.

    Returns
    -------
    pd.DataFrame
        ``gene, rank, overall_rank, direction, drugs, agrees, walk_share`` (the last two are
        ``direction_agrees`` and ``top_walk_share``).
    """
    max_drugs = check_count(max_drugs, "max_drugs", 0)

    def drugs(names: str, actions: str) -> str:
        pairs = [f"{n} ({a})" for n, a in zip(str(names).split(";"), str(actions).split(";"))]
        return " ".join(filter(None, (", ".join(pairs[:max_drugs]),
                                      f"+{len(pairs) - max_drugs}" if len(pairs) > max_drugs else "")))

    return pd.DataFrame({"gene": targets["gene"], "rank": targets["rank"], "overall_rank": targets["overall_rank"],
                         "direction": targets["direction"],
                         "drugs": [drugs(n, a) for n, a in zip(targets["drugs"], targets["drug_actions"])],
                         "agrees": targets["direction_agrees"], "walk_share": targets["top_walk_share"]})


def _first_drug_targets(genes: pd.Series, drug_genes: pd.Index, top: int | None) -> np.ndarray:
    """Positions in ``genes`` (best first) of the first ``top`` drug targets (all when None), scanning only as
    far down the ranking as needed: ``16 * top`` rows first (the 50th drug target of UC and SLE rankings lies
    within ~600 rows), four times more while too few are found."""
    stop = len(genes) if top is None else 16 * top
    while True:
        positions = np.flatnonzero(_is_drug_target(genes.iloc[:stop], drug_genes))
        if top is None or len(positions) >= top or stop >= len(genes):
            return positions[:top]
        stop *= 4


def _check_ranking(ranking: object) -> None:
    """Refuse anything but a table holding :data:`RANKING_COLUMNS` (TwinCellError naming what is missing)."""
    if not isinstance(ranking, pd.DataFrame):
        raise TwinCellError(f"ranking must be a rank_targets table, got {type(ranking).__name__}",
                            "pass the ranking that rank_targets made with this model")
    missing = [c for c in RANKING_COLUMNS if c not in ranking.columns]
    if missing:
        raise TwinCellError(f"the ranking lacks the column(s) {', '.join(missing)}",
                            f"pass a rank_targets table (columns {', '.join(RANKING_COLUMNS)})")


def _check_same_run(attrs: dict, context: str, n_found: int, key: str) -> None:
    """Refuse a ranking whose ``attrs`` (a :func:`~twincell.identify.rank_targets` table's) say it was made in another
    context or from another desired change (another number of its genes in the network, or another ``change_key``:
    other values, or another context vector) than the one given now: the table would mix its scores with flags
    computed for the other. Rankings without those ``attrs`` pass."""
    made_in = attrs.get("context")
    if made_in is not None and str(made_in) != context:
        raise ContextError(f"the ranking was made in context {made_in!r}, the drug targets are asked in {context!r}",
                           "pass the context the ranking was made with (context=...)")
    found = attrs.get("signature_genes_found")
    if isinstance(found, (int, np.integer)) and int(found) != n_found:
        raise SignatureError(f"the ranking was made from {int(found)} genes of its desired change in the network, "
                             f"the desired change given here has {n_found}",
                             "pass the desired change the ranking was made with")
    made_from = attrs.get("change_key")
    if isinstance(made_from, str) and made_from != key:
        raise SignatureError("the ranking was made from another desired change (other values on the same genes) or "
                             "another context vector than the ones given here",
                             "pass the desired change and context the ranking was made with")


def _ranking_abs_scores(ranking: pd.DataFrame, attrs: dict, positions: np.ndarray) -> np.ndarray | None:
    """|adjoint score| of the ranking's rows at ``positions``, when the ranking holds it exactly, else None.

    A :func:`~twincell.identify.rank_targets` ranking by the adjoint (its ``attrs``) holds it as ``|alignment|``
    (with a null) or as ``score`` itself (without a null or normalisation: the alignment in the row's direction).
    """
    if attrs.get("method") != "adjoint":
        return None
    if "alignment" in ranking.columns:
        column = "alignment"
    elif attrs.get("null") == "none" and attrs.get("normalize") == "none":
        column = "score"
    else:
        return None
    return np.abs(ranking[column].to_numpy(dtype=float)[positions])


def drug_target_list(model_or_operator: Any, desired_change: pd.Series, ranking: pd.DataFrame,
                     context: str | np.ndarray | None = None,
                     drug_targets: DrugTargets | None = None, top: int | None = None) -> pd.DataFrame:
    """The actionable list of one ranking: its fragility flags computed on the same operator and change.

    Only the rows returned are flagged (:func:`fragility` for those nodes); a row's values do not depend on
    ``top``. The targets' |scores| are read from a :func:`~twincell.identify.rank_targets` ranking by the adjoint
    (``score``, or ``alignment`` with a null) and recomputed with one adjoint pass for any other ranking.

    Parameters
    ----------
    model_or_operator
        The model or operator the ranking was computed with.
    desired_change
        The desired change the ranking was computed for (gene -> value).
    ranking
        :func:`~twincell.identify.rank_targets` output for that change.
    context
        The ranking's context (None: context-free).
    drug_targets
        Drug-target table (default: :meth:`DrugTargets.universe`).
    top
        Return only the best ``top`` drug targets (default: all of them).

    Returns
    -------
    pd.DataFrame
        :func:`actionable_targets` output (its first ``top`` rows).

    Raises
    ------
    TwinCellError
        ``ranking`` is not a table with the columns of :data:`RANKING_COLUMNS`.
    UnknownGeneError
        A gene of ``ranking`` is not a node of the model's network (a ranking made with another model).
    ContextError, SignatureError
        ``ranking.attrs`` say it was made in another context, or from another desired change or context vector
        (its ``change_key``), than the ones given.
    """
    if top is not None:
        top = check_count(top, "top")
    op = resolve_operator(model_or_operator, context)
    genes = ranking_setup(op).gene_index
    _check_ranking(ranking)
    foreign = ranking["gene"][genes.get_indexer(ranking["gene"].to_numpy()) < 0]
    if len(foreign):
        raise UnknownGeneError(list(foreign), f"{len(foreign)} gene(s) of the ranking are not nodes of the model's "
                               f"network: {', '.join(map(str, foreign[:10]))}",
                               "pass the ranking that rank_targets made with this model")
    d, present, _ = align_change(desired_change, genes)
    attrs, drugs = ranking.attrs, _shared_annotation(drug_targets)
    _check_same_run(attrs, operator_context_label(op, context), int(present.sum()), change_key(d, context))
    ranking = pd.DataFrame(ranking)  # without the ranking's attrs, which pandas would deep-copy at every step
    positions = _first_drug_targets(ranking["gene"], drugs.index, top)
    abs_scores = _ranking_abs_scores(ranking, attrs, positions)
    nodes = genes.get_indexer(ranking["gene"].to_numpy()[positions])
    if abs_scores is None:
        abs_scores = np.abs(op.adjoint(d))[nodes]
    return _drug_target_rows(ranking, positions, drugs, *_flag_values(op, d, abs_scores, nodes))
