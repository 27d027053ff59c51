"""k most probable simple paths over a weighted CSR graph (Yen's algorithm on -log weight).

Shortest-path searches run in C through :func:`scipy.sparse.csgraph.dijkstra`; Yen's spur
searches forbid edges and nodes by setting their cost to infinity in a copy of the cost vector.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra


@dataclass(frozen=True)
class SignedPath:
    """A path through the interactome.

    Attributes
    ----------
    nodes
        Gene symbols from source to target.
    edge_signs
        Sign of each edge (+1, -1, 0 unknown).
    probability
        Product of the edges' evidence weights.
    """

    nodes: tuple[str, ...]
    edge_signs: tuple[int, ...]
    probability: float

    @property
    def sign(self) -> int:
        """Overall sign: product of edge signs (0 when any edge's sign is unknown)."""
        return int(np.prod(self.edge_signs)) if self.edge_signs else 1

    def __str__(self) -> str:
        arrows = {1: " -> ", -1: " -| ", 0: " -- "}
        out = self.nodes[0]
        for s, n in zip(self.edge_signs, self.nodes[1:]):
            out += arrows[s] + n
        return out


def _cost_graph(weights: sp.csr_matrix) -> sp.csr_matrix:
    cost = weights.copy().tocsr()
    cost.data = -np.log(np.clip(cost.data, 1e-9, 1.0)) + 1e-9  # strictly positive: zero cost would drop the edge
    return cost


def _shortest(cost: sp.csr_matrix, data: np.ndarray, i: int, j: int) -> list[int] | None:
    g = sp.csr_matrix((data, cost.indices, cost.indptr), shape=cost.shape)
    dist, pred = dijkstra(g, directed=True, indices=i, return_predecessors=True)
    if not np.isfinite(dist[j]):
        return None
    path = [j]
    while path[-1] != i:
        path.append(int(pred[path[-1]]))
    return path[::-1]


def _edge_pos(cost: sp.csr_matrix, u: int, v: int) -> int:
    lo, hi = cost.indptr[u], cost.indptr[u + 1]
    return int(lo + np.searchsorted(cost.indices[lo:hi], v))


def k_shortest_paths(weights: sp.csr_matrix, signs: sp.csr_matrix, names: np.ndarray,
                     i: int, j: int, k: int) -> list[SignedPath]:
    """Yen's k shortest loopless paths from node ``i`` to node ``j``.

    Parameters
    ----------
    weights
        N x N CSR of edge probabilities in (0, 1] (row = source).
    signs
        N x N CSR of sign x weight with the same sparsity (used for edge signs).
    names
        Node names (length N).
    """
    cost = _cost_graph(weights)
    cost.sort_indices()
    sgn = signs.tocsr()
    base = cost.data.copy()
    first = _shortest(cost, base, i, j)
    if first is None or i == j:
        return []
    found: list[list[int]] = [first]
    candidates: list[tuple[float, list[int]]] = []
    seen = {tuple(first)}

    def total(path: list[int]) -> float:
        return float(sum(base[_edge_pos(cost, u, v)] for u, v in zip(path[:-1], path[1:])))

    while len(found) < k:
        prev = found[-1]
        for s in range(len(prev) - 1):
            spur, root = prev[s], prev[: s + 1]
            data = base.copy()
            for p in found:
                if p[: s + 1] == root and len(p) > s + 1:
                    data[_edge_pos(cost, p[s], p[s + 1])] = np.inf
            for node in root[:-1]:
                data[cost.indptr[node]: cost.indptr[node + 1]] = np.inf
                col = cost.indices == node
                data[col] = np.inf
            tail = _shortest(cost, data, spur, j)
            if tail is None:
                continue
            cand = root[:-1] + tail
            if tuple(cand) not in seen:
                seen.add(tuple(cand))
                heapq.heappush(candidates, (total(cand), cand))
        if not candidates:
            break
        found.append(heapq.heappop(candidates)[1])

    out = []
    for p in found:
        pairs = list(zip(p[:-1], p[1:]))
        prob = float(np.prod([weights[u, v] for u, v in pairs]))
        edge_signs = tuple(int(np.sign(sgn[u, v])) for u, v in pairs)
        out.append(SignedPath(tuple(str(names[n]) for n in p), edge_signs, prob))
    return out
