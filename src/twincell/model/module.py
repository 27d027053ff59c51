"""The TwinCell maths as one torch module: context-gated, signed, damped propagation over the interactome.

Notation (N nodes, D context dimensions, r gate rank, K hops)

* Perturbation ``U`` (N, B): one column per perturbation, ``+1`` / ``-1`` on its targets
  (activation or over-expression / inhibition or knock-down).
* Signalling edge ``i -> j`` (interactome layer ``ppi``)::

      A_c[j, i] = gamma * s_ij * w_ij * g_ij(c) * n_ij

  - ``s_ij``: known sign (+1 / -1, OmniPath / SIGNOR / PhosphoSitePlus), or learned where the
    sign is unknown: ``tanh(theta_ij)`` (``edge_model="free"`` or ``"shared_strength"``) or
    ``tanh(<phi_s, f_ij> + theta_ij)`` (``"shared"``), with ``receiver_sign=True`` plus a logit ``theta_j`` of
    the receiving node shared by all its unsigned in-edges (what is learned about how ``j`` answers its
    partners applies to partners never perturbed), starting at (and penalised toward) the prior sign ``s0``: 0 by default (an unsigned
    edge transmits nothing until the data give it a sign) or, with ``sign_prior=True``, the mean of the
    layer's known signs (:func:`prior_sign`; 0.37 for the default interactome's PPI layer, 68 % of its
    signed edges activating), so that cascades of unsigned edges carry signal from the start, or per
    edge (``edge_priors``, e.g. the co-expression prior of :mod:`twincell.model.coexpression`);
  - ``w_ij >= 0``: base strength, initialised at the evidence score ``w0_ij``: ``softplus(omega_ij)``
    (``"free"``: one free parameter per edge) or ``w0_ij exp(<phi_w, f_ij> + delta_ij)`` (``"shared"`` and
    ``"shared_strength"``:
    a function of the edge's features ``f_ij`` (:mod:`twincell.model.features`: node classes of both
    ends, evidence, degrees) shared by all edges, plus small per-edge corrections ``delta``, ``theta``
    that the prior-deviation penalty pulls to 0 ``correction_penalty`` times harder);
  - ``g_ij(c)``: the context gate, from ``z = P (c - mu) / sd`` (a rank-r projection of the
    standardised context embedding) and ``a``, ``b`` (N, r) node embeddings (parameters grow with
    nodes, not edges): ``sigmoid(beta + <a_j, z> + <b_i, z>)`` in (0, 1) (``gate_mode="switch"``) or
    ``1 + gate_bound * tanh(<a_j, z> + <b_i, z>)`` (``"modulate"``: bounded around 1, never closes
    an edge). No context (``context=None``) is ``z = 0``: every gate is ``sigmoid(beta)`` (switch) or
    exactly 1 (modulate: the context-free network is the state every context modulates); ``g = 1``
    without gates;
  - ``n_ij``: fixed normalisation by the evidence-weighted degrees, so that hubs do not blow up the
    walk sums: ``1 / sqrt(d_out(i) d_in(j))`` (``normalisation="symmetric"``) or ``1 / d_in(j)``
    (``"in_degree"``: a node's state is a weighted mean of its inputs, so a signal keeps its size down
    a cascade instead of shrinking at every hop through a hub); ``gamma``: damping;
  - ``a_{k(j)}``, optional (``class_attenuation=True``): a learned attenuation ``2 sigmoid(kappa_k)`` in
    (0, 2), starting at 1, shared by every signalling edge whose receiving node ``j`` is of class ``k``
    (``tf``, ``receptor``, ``ligand`` or ``other``, :func:`twincell.model.features.node_class_index`):
    four parameters that set how strongly each kind of node passes a signal on, learned from the
    perturbed genes and applied to every node of the class.
* Node state, truncated walk sum: ``x = sum_{k=0..K} A_c^k U``.
* Readout to transcripts: ``Y = exp(rho) * (T_c x + diag(r) (x - U))`` with ``T_c[g, t] = s * w * g * n``
  over CollecTRI TF -> target edges (same parameterisation, no damping) and ``r`` a per-gene direct term
  (a node's activity seen in its own transcript), initialised at ``direct_init``. The direct term reads
  only activity that arrives through the network (hops >= 1): hitting a protein with a drug does not
  change its own gene's transcript, and without this exclusion the inverse ranking would score every
  signature gene for "perturbing itself".
* Self term, genetic perturbations only: ``Y += self_weight * U`` (an over-expressed gene's own
  transcript rises). Drugs do not change their target's transcript, so it is kept out of
  :class:`~twincell.model.operator.PropagationOperator`.

All sparse products use :func:`edge_spmm` (CSR mat-mat, with a hand-written backward: the transpose
product for the input and a sampled dense-dense product for the edge values), so one batch costs
K sparse mat-mats forward and 2K backward. :meth:`TwinCellModule.adjoint` (the drug operator's exact
transpose, for the optional inverse loss) runs the same kernel over the reversed edges (:func:`edge_spmm_t`).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from twincell.model.coexpression import MAX_PRIOR

GATE_BIAS_INIT = 2.0  # sigmoid(2) = 0.88: gates start mostly open


class EdgeSet:
    """Sparse structure of one edge layer, sorted by (dst, src), with CSR indices for A and A^T.

    Parameters
    ----------
    src, dst
        (E,) int64 node indices, sorted by ``dst`` then ``src`` (no duplicates).
    n_nodes
        N.
    """

    def __init__(self, src: np.ndarray, dst: np.ndarray, n_nodes: int, device: torch.device | str = "cpu") -> None:
        key = dst.astype(np.int64) * n_nodes + src
        if len(key) > 1 and not np.all(np.diff(key) > 0):
            raise ValueError("edges must be sorted by (dst, src) without duplicates")
        self.n_nodes = int(n_nodes)
        self.n_edges = len(src)
        self.src_np = src.astype(np.int64)
        self.dst_np = dst.astype(np.int64)
        t_order = np.lexsort((dst, src))  # transposed CSR: rows = src
        self._host = {
            "src": torch.as_tensor(self.src_np),
            "dst": torch.as_tensor(self.dst_np),
            "crow": torch.as_tensor(np.r_[0, np.cumsum(np.bincount(dst, minlength=n_nodes))].astype(np.int64)),
            "crow_t": torch.as_tensor(np.r_[0, np.cumsum(np.bincount(src, minlength=n_nodes))].astype(np.int64)),
            "col_t": torch.as_tensor(self.dst_np[t_order]),
            "perm_t": torch.as_tensor(t_order.astype(np.int64)),
        }
        self._transposed: EdgeSet | None = None
        self.to(device)

    def to(self, device: torch.device | str) -> EdgeSet:
        """Move the index tensors (and those of the transposed set, once built) to ``device``."""
        self.device = torch.device(device)
        for name, t in self._host.items():
            setattr(self, name, t.to(self.device))
        if self._transposed is not None:
            self._transposed.to(self.device)
        return self

    def transposed(self) -> EdgeSet:
        """The reversed edges ``dst -> src`` as an EdgeSet (built on first use, kept); its values are
        ``values[self.perm_t]``, so that ``edge_spmm(t, values[perm_t], Y) = M^T Y`` (:func:`edge_spmm_t`)."""
        if self._transposed is None:
            order = self._host["perm_t"].numpy()
            self._transposed = EdgeSet(self.dst_np[order], self.src_np[order], self.n_nodes, self.device)
        return self._transposed

    def out_edges(self, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Edges leaving ``nodes``: (edge ids, position in ``nodes`` of each edge's source)."""
        starts = self.crow_t[nodes]
        counts = self.crow_t[nodes + 1] - starts
        owner = torch.repeat_interleave(torch.arange(len(nodes), device=self.device), counts)
        first = torch.cumsum(counts, 0) - counts
        pos = starts[owner] + torch.arange(int(counts.sum()), device=self.device) - first[owner]
        return self.perm_t[pos], owner

    def matrix(self, values: torch.Tensor) -> torch.Tensor:
        """CSR tensor ``M[dst, src] = values`` (values in edge order)."""
        return _csr(self.crow, self.src, values, self.n_nodes)

    def matrix_t(self, values: torch.Tensor) -> torch.Tensor:
        """CSR tensor of the transpose, ``M^T[src, dst] = values``."""
        return _csr(self.crow_t, self.col_t, values[self.perm_t], self.n_nodes)


def _csr(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, n: int) -> torch.Tensor:
    """An n x n CSR tensor (indices are built here, valid by construction: torch's beta warning is silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, (n, n), check_invariants=False)


class _EdgeSpMM(torch.autograd.Function):
    """``Y = M X`` with ``M[dst, src] = values``; differentiable in ``values`` and ``X``."""

    @staticmethod
    def forward(ctx, values: torch.Tensor, X: torch.Tensor, edges: EdgeSet) -> torch.Tensor:  # noqa: D102
        ctx.edges = edges
        ctx.save_for_backward(values, X)
        return edges.matrix(values) @ X

    @staticmethod
    def backward(ctx, dY: torch.Tensor):  # noqa: D102
        values, X = ctx.saved_tensors
        edges: EdgeSet = ctx.edges
        d_values = d_X = None
        dY = dY.contiguous()
        if ctx.needs_input_grad[0]:
            pattern = edges.matrix(values.new_ones(edges.n_edges))
            d_values = torch.sparse.sampled_addmm(pattern, dY, X.T.contiguous(), beta=0.0).values()
        if ctx.needs_input_grad[1]:
            d_X = edges.matrix_t(values) @ dY
        return d_values, d_X, None


def edge_spmm(edges: EdgeSet, values: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Sparse product ``M X`` with ``M[dst, src] = values`` over ``edges``; X is (N, B)."""
    return _EdgeSpMM.apply(values, X, edges)


def edge_spmm_t(edges: EdgeSet, values: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Transposed product ``M^T Y`` with ``M[dst, src] = values``; Y is (N, B).

    The same kernel as :func:`edge_spmm` over the reversed edges (:meth:`EdgeSet.transposed`), so it is
    differentiable in ``values`` and ``Y`` alike.
    """
    return edge_spmm(edges.transposed(), values[edges.perm_t], Y)


def sparse_input_spmm(edges: EdgeSet, values: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """``M U`` for a very sparse U (a few targets per column), touching only the edges leaving its non-zeros.

    Same result as :func:`edge_spmm`; the first propagation step costs O(edges out of the targets), not O(E B).
    """
    rows, cols = U.nonzero(as_tuple=True)
    e, owner = edges.out_edges(rows)
    out = U.new_zeros(U.shape)
    return out.index_put((edges.dst[e], cols[owner]), values[e] * U[rows, cols][owner], accumulate=True)


def _inverse_softplus(w: np.ndarray) -> np.ndarray:
    return np.where(w > 20, w, np.log(np.expm1(np.maximum(w, 1e-6))))


NORMALISATIONS = ("symmetric", "in_degree")
N_NODE_CLASSES = 4  # tf, receptor, ligand, other (twincell.model.features.node_class_index)
EDGE_MODELS = ("free", "shared", "shared_strength")
GATE_MODES = ("switch", "modulate")


def prior_sign(sign: np.ndarray) -> float:
    """Prior sign ``s0`` of a layer's unsigned edges: the mean of its known signs (+1 / -1), 0 without any, within
    ``+-MAX_PRIOR`` (as the co-expression priors): a layer whose known signs all agree would otherwise start every
    unsigned edge at ``atanh(+-1) = +-inf``, where its sign can never learn.

    Parameters
    ----------
    sign
        (E,) edge signs, +1 / -1 known, 0 unknown.
    """
    known = sign[sign != 0]
    return float(np.clip(known.mean(), -MAX_PRIOR, MAX_PRIOR)) if len(known) else 0.0


def _normalisation(src: np.ndarray, dst: np.ndarray, w0: np.ndarray, n: int, kind: str) -> np.ndarray:
    """(E,) fixed degree normalisation ``n_ij`` of one layer (``kind`` in :data:`NORMALISATIONS`)."""
    d_in = np.bincount(dst, weights=w0, minlength=n)
    if kind == "in_degree":
        return 1.0 / d_in[dst]
    d_out = np.bincount(src, weights=w0, minlength=n)
    return 1.0 / np.sqrt(d_out[src] * d_in[dst])


class EdgeLayer(nn.Module):
    """Learned strengths and signs of one edge layer (``ppi`` or ``tf``).

    Parameters
    ----------
    edges
        The layer's sparse structure.
    w0
        (E,) evidence weights in (0, 1]: the prior and initial base strength.
    sign
        (E,) known signs (+1 / -1), 0 where unknown (learned from 0).
    features
        (E, F) edge features; given, strengths (and with ``share_signs`` the learned signs) are shared functions
        of them plus per-edge corrections; None gives one free strength and sign per edge.
    share_signs
        With ``features``: learned signs get the shared term ``<phi_s, f>`` too (``edge_model="shared"``);
        False shares the strengths alone (``"shared_strength"``).
    receiver_sign
        Add a logit ``theta_j`` of the receiving node, shared by all its unsigned in-edges, to every learned sign.
    learn_unknown_signs
        If False, unknown-sign edges stay at their prior sign (0 by default: they never transmit).
    sign_prior
        Unknown signs start at (and are penalised toward) :func:`prior_sign` of the layer instead of 0.
    edge_prior
        (E,) per-edge prior signs in (-1, 1) (e.g. :func:`twincell.model.coexpression.sign_prior_values`);
        given, each unknown sign starts at (and is penalised toward) its edge's value instead of the
        layer's single prior (0 or :func:`prior_sign`).
    normalisation
        ``symmetric`` or ``in_degree`` (see the module docstring).
    correction_penalty
        Shared model: factor on the prior-deviation penalty of the per-edge corrections.
    """

    def __init__(self, edges: EdgeSet, w0: np.ndarray, sign: np.ndarray, features: np.ndarray | None = None, *,
                 share_signs: bool = True, receiver_sign: bool = False, learn_unknown_signs: bool = True,
                 sign_prior: bool = False, edge_prior: np.ndarray | None = None,
                 normalisation: str = "symmetric", correction_penalty: float = 10.0) -> None:
        super().__init__()
        self.edges = edges
        self.shared = features is not None
        self.share_signs = self.shared and share_signs
        self.correction_penalty = float(correction_penalty)
        self.sign_prior = prior_sign(sign) if sign_prior else 0.0
        centre = np.full(len(sign), self.sign_prior) if edge_prior is None else np.asarray(edge_prior, np.float64)
        self.register_buffer("w0", torch.as_tensor(w0, dtype=torch.float32))
        known = np.where(sign == 0, centre, sign)  # unsigned edges that are not learned keep their prior
        self.register_buffer("known_sign", torch.as_tensor(known, dtype=torch.float32))
        unknown = np.flatnonzero(sign == 0) if learn_unknown_signs else np.zeros(0, np.int64)
        self.register_buffer("unknown", torch.as_tensor(unknown, dtype=torch.int64))
        # per unknown edge: the prior sign (penalty centre) and its logit (initial theta); derived, not saved
        self.register_buffer("sign_centre", torch.as_tensor(centre[unknown], dtype=torch.float32), persistent=False)
        self.register_buffer("theta_centre", torch.atanh(self.sign_centre), persistent=False)
        self.theta = nn.Parameter(self.theta_centre.clone())
        self.theta_node: nn.Parameter | None = None
        if receiver_sign:  # one logit per receiving node, shared by all its unsigned in-edges
            self.register_buffer("unknown_dst", torch.as_tensor(edges.dst_np[unknown], dtype=torch.int64),
                                 persistent=False)
            self.theta_node = nn.Parameter(torch.zeros(edges.n_nodes))
            self.register_buffer("receivers", torch.as_tensor(np.unique(edges.dst_np[unknown]), dtype=torch.int64),
                                 persistent=False)
        if self.shared:
            self.register_buffer("features", torch.as_tensor(features, dtype=torch.float32))
            self.phi_w = nn.Parameter(torch.zeros(features.shape[1]))
            if self.share_signs:
                self.phi_s = nn.Parameter(torch.zeros(features.shape[1]))
            self.delta = nn.Parameter(torch.zeros(len(w0)))
        else:
            self.omega = nn.Parameter(torch.as_tensor(_inverse_softplus(w0.astype(np.float64)), dtype=torch.float32))
        self.register_buffer("norm", torch.as_tensor(
            _normalisation(edges.src_np, edges.dst_np, w0, edges.n_nodes, normalisation), dtype=torch.float32))

    def weight(self) -> torch.Tensor:
        """(E,) non-negative base strengths: ``softplus(omega)`` or ``w0 exp(<phi_w, f> + delta)``."""
        if self.shared:
            return self.w0 * torch.exp((self.features @ self.phi_w + self.delta).clamp(max=10.0))
        return F.softplus(self.omega)

    def sign(self) -> torch.Tensor:
        """(E,) signs: known ones fixed, unknown ones ``tanh(theta_ij)``, plus ``<phi_s, f_ij>`` (shared signs)
        and the receiving node's ``theta_j`` (receiver signs) inside the tanh."""
        logit = self.theta
        if self.share_signs:
            logit = logit + self.features[self.unknown] @ self.phi_s
        if self.theta_node is not None:
            logit = logit + self.theta_node[self.unknown_dst]
        return self.known_sign.index_put((self.unknown,), torch.tanh(logit))

    def values(self, gate: torch.Tensor | None) -> torch.Tensor:
        """(E,) signed, gated, normalised strengths ``s * w * g * n`` (no damping)."""
        v = self.sign() * self.weight() * self.norm
        return v if gate is None else v * gate

    def deviation(self) -> torch.Tensor:
        """Prior-deviation penalty, the sum of a strength and a sign term.

        Strengths: mean |w - w0| (free) or ``correction_penalty`` x mean |delta| (shared). Unknown signs: mean
        |tanh(theta) - prior| (per-edge signs); ``correction_penalty`` x mean |theta - theta_prior| when shared
        functions carry the sign (shared signs: ``phi_s``; receiver signs: ``theta_j``, whose own term is the
        mean |tanh(theta_j)| over the nodes with unsigned in-edges).
        """
        dev = (self.correction_penalty * self.delta.abs().mean() if self.shared
               else (self.weight() - self.w0).abs().mean())
        if not len(self.unknown):
            return dev
        if self.share_signs or self.theta_node is not None:
            dev = dev + self.correction_penalty * (self.theta - self.theta_centre).abs().mean()
        else:
            dev = dev + (torch.tanh(self.theta) - self.sign_centre).abs().mean()
        if self.theta_node is not None:
            dev = dev + torch.tanh(self.theta_node[self.receivers]).abs().mean()
        return dev


class ContextGate(nn.Module):
    """Low-rank context gate of every edge ``i -> j`` from ``z = P (c - mu) / sd``.

    ``mode="switch"``: ``g = sigmoid(beta + <a_j, z> + <b_i, z>)`` in (0, 1); ``mode="modulate"``:
    ``g = 1 + bound * tanh(<a_j, z> + <b_i, z>)`` in (1 - bound, 1 + bound). ``a`` and ``b`` start at
    zero, so every gate starts at ``sigmoid(beta)`` (switch) or 1 (modulate) whatever the context.
    """

    def __init__(self, n_nodes: int, context_dim: int, rank: int, generator: torch.Generator,
                 mode: str = "switch", bound: float = 0.5) -> None:
        super().__init__()
        self.mode = mode
        self.bound = float(bound)
        self.proj = nn.Parameter(torch.randn(context_dim, rank, generator=generator) / np.sqrt(context_dim))
        self.node_dst = nn.Parameter(torch.zeros(n_nodes, rank))
        self.node_src = nn.Parameter(torch.zeros(n_nodes, rank))
        if mode == "switch":
            self.bias = nn.Parameter(torch.tensor(GATE_BIAS_INIT))
        self.register_buffer("context_mean", torch.zeros(context_dim))
        self.register_buffer("context_scale", torch.ones(context_dim))

    def node_terms(self, context: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-node gate terms ``(<a_j, z>, <b_i, z>)``, each (N,); zero for ``context=None`` (no context, z = 0)."""
        if context is None:
            zero = self.node_dst.new_zeros(self.node_dst.shape[0])
            return zero, zero
        z = ((context - self.context_mean) / self.context_scale) @ self.proj
        return self.node_dst @ z, self.node_src @ z

    def edge_gates(self, edges: EdgeSet, terms: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """(E,) gates of one layer: in (0, 1) (switch) or (1 - bound, 1 + bound) (modulate)."""
        a, b = terms
        if self.mode == "modulate":
            return 1.0 + self.bound * torch.tanh(a[edges.dst] + b[edges.src])
        return torch.sigmoid(self.bias + a[edges.dst] + b[edges.src])


class TwinCellModule(nn.Module):
    """Context-gated signed propagation ``Y = exp(rho) (T_c x + diag(r) (x - U))``, ``x = sum_k A_c^k U`` (module docstring).

    Parameters
    ----------
    n_nodes
        N.
    layers
        ``{"ppi": (src, dst, w0, sign, features), "tf": (...)}``, each sorted by (dst, src); ``features``
        (E, F) is used by ``edge_model="shared"`` (it may be None otherwise).
    context_dim
        D; 0 (or ``context_gates=False``) gives a gate-free model (g = 1).
    n_hops
        K, walks of length 0..K are summed.
    damping
        gamma, multiplies every signalling edge.
    gate_rank
        r, rank of the context projection.
    context_gates
        Whether edges are gated by the context.
    direct_init
        Initial (and prior) value of the per-gene direct readout term.
    learn_unknown_signs
        Learn signs of unsigned edges (from their prior sign) or keep them at it.
    sign_prior
        Prior sign of unsigned edges: the mean of the layer's known signs (True) or 0 (False).
    receiver_sign
        Unsigned edges share a sign logit per receiving node: ``tanh(theta_j + theta_ij)``, with per-edge
        ``theta_ij`` penalised ``correction_penalty`` times harder.
    learn_signalling
        Learn the signalling (``ppi``) edges' strengths and signs; False keeps them at their prior (evidence
        weights, known signs, unsigned edges at the prior sign) while the readout, gates and gains learn.
    edge_priors
        ``{layer: (E,) per-edge prior signs}`` replacing the layer's single prior sign (``coexpression_sign``
        of :class:`~twincell.model.TwinCell`); layers not in it keep theirs.
    normalisation
        ``symmetric`` (``1 / sqrt(d_out(i) d_in(j))``) or ``in_degree`` (``1 / d_in(j)``).
    edge_model
        ``free`` (a strength and sign per edge), ``shared`` (strengths and signs as functions of edge features +
        corrections) or ``shared_strength`` (shared strengths, free per-edge signs).
    correction_penalty
        Shared edge model and receiver signs: factor on the penalty of the per-edge corrections.
    gate_mode, gate_bound
        ``switch`` (sigmoid gates in (0, 1)) or ``modulate`` (``1 + bound * tanh``, around 1).
    class_attenuation
        Learn one attenuation per class of the receiving node of signalling edges (needs ``node_class``).
    node_class
        (N,) int class of every node in ``0..N_NODE_CLASSES-1`` (``class_attenuation`` only).
    seed
        Seeds the gate projection's initialisation.
    """

    def __init__(self, n_nodes: int, layers: dict[str, tuple[np.ndarray, ...]], context_dim: int, *,
                 n_hops: int = 3, damping: float = 0.5, gate_rank: int = 8, context_gates: bool = True,
                 direct_init: float = 0.1, learn_unknown_signs: bool = True, sign_prior: bool = False,
                 receiver_sign: bool = False, learn_signalling: bool = True,
                 edge_priors: dict[str, np.ndarray] | None = None,
                 normalisation: str = "symmetric", edge_model: str = "free", correction_penalty: float = 10.0,
                 gate_mode: str = "switch", gate_bound: float = 0.5, class_attenuation: bool = False,
                 node_class: np.ndarray | None = None, seed: int = 0) -> None:
        super().__init__()
        for name, value, allowed in (("normalisation", normalisation, NORMALISATIONS),
                                     ("edge_model", edge_model, EDGE_MODELS), ("gate_mode", gate_mode, GATE_MODES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
        self.n_nodes = int(n_nodes)
        self.n_hops = int(n_hops)
        self.damping = float(damping)
        for name in ("ppi", "tf"):
            src, dst, w0, sign, features = layers[name]
            setattr(self, name, EdgeLayer(EdgeSet(src, dst, n_nodes), w0, sign,
                                          None if edge_model == "free" else features,
                                          share_signs=edge_model == "shared", receiver_sign=receiver_sign,
                                          learn_unknown_signs=learn_unknown_signs, sign_prior=sign_prior,
                                          edge_prior=(edge_priors or {}).get(name),
                                          normalisation=normalisation, correction_penalty=correction_penalty))
        if not learn_signalling:  # the signalling edges keep their prior; readout, gates and gains still learn
            self.ppi.requires_grad_(False)
        self.class_logit: nn.Parameter | None = None
        if class_attenuation:
            if node_class is None or len(node_class) != n_nodes:
                raise ValueError("class_attenuation needs node_class, one class per node")
            self.register_buffer("node_class", torch.as_tensor(node_class, dtype=torch.int64))
            self.class_logit = nn.Parameter(torch.zeros(N_NODE_CLASSES))
        self.direct = nn.Parameter(torch.full((n_nodes,), float(direct_init)))
        self.register_buffer("direct_prior", torch.full((n_nodes,), float(direct_init)))
        self.log_gain = nn.Parameter(torch.zeros(()))
        self.self_weight = nn.Parameter(torch.ones(()))
        gen = torch.Generator().manual_seed(int(seed))
        self.gate = (ContextGate(n_nodes, context_dim, gate_rank, gen, gate_mode, gate_bound)
                     if context_gates and context_dim > 0 else None)

    @property
    def gated(self) -> bool:
        """Whether the model has context gates."""
        return self.gate is not None

    def _apply(self, fn, recurse: bool = True):  # keep the index tensors on the module's device
        out = super()._apply(fn, recurse)
        device = self.direct.device
        for layer in (self.ppi, self.tf):
            if layer.edges.device != device:
                layer.edges.to(device)
        return out

    def edge_values(self, context: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Signed strengths in one context: ``A`` (ppi, damped), ``T`` (tf readout) and the gates.

        Returns
        -------
        dict
            ``A`` (E_ppi,), ``T`` (E_tf,) without the readout gain, ``gate_ppi`` / ``gate_tf`` (or None).
        """
        if self.gate is None:
            g_ppi = g_tf = None
        else:
            terms = self.gate.node_terms(context)
            g_ppi = self.gate.edge_gates(self.ppi.edges, terms)
            g_tf = self.gate.edge_gates(self.tf.edges, terms)
        A = self.damping * self.ppi.values(g_ppi)
        if self.class_logit is not None:
            A = A * self.class_attenuation()[self.node_class[self.ppi.edges.dst]]
        return {"A": A, "T": self.tf.values(g_tf), "gate_ppi": g_ppi, "gate_tf": g_tf}

    def class_attenuation(self) -> torch.Tensor:
        """(N_NODE_CLASSES,) attenuation ``2 sigmoid(kappa)`` in (0, 2) per receiving-node class (ones if off)."""
        if self.class_logit is None:
            return torch.ones(N_NODE_CLASSES, device=self.direct.device)
        return 2.0 * torch.sigmoid(self.class_logit)

    def propagate(self, U: torch.Tensor, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """Node states ``sum_{k=0..K} A^k U``, (N, B); the first step exploits the sparsity of U."""
        total = U
        x = U
        for k in range(self.n_hops):
            x = (sparse_input_spmm if k == 0 else edge_spmm)(self.ppi.edges, values["A"], x)
            total = total + x
        return total

    def readout(self, x: torch.Tensor, U: torch.Tensor, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """Transcript change ``exp(rho) (T x + r * (x - U))``, (N, B): the direct term skips hop 0."""
        return torch.exp(self.log_gain) * (edge_spmm(self.tf.edges, values["T"], x) + self.direct[:, None] * (x - U))

    def adjoint(self, D: torch.Tensor, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """Adjoint of the drug map, differentiable: ``R0^T D + sum_{k=1..K} (A^T)^k R^T D``, (N, B).

        The torch counterpart of :meth:`~twincell.model.operator.PropagationOperator.adjoint` for the
        same ``values`` (``R = exp(rho) (T + diag(r))``, ``R0 = exp(rho) T``: no own-transcript term):
        entry ``[i, b]`` is the alignment of column ``b`` of ``D`` (N, B) with the response to
        perturbing node ``i`` by +1.
        """
        gain = torch.exp(self.log_gain)
        back = gain * edge_spmm_t(self.tf.edges, values["T"], D)
        y = back + gain * self.direct[:, None] * D
        total = back
        for _ in range(self.n_hops):
            y = edge_spmm_t(self.ppi.edges, values["A"], y)
            total = total + y
        return total

    def forward(self, U: torch.Tensor, context: torch.Tensor | None = None,
                genetic: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Predicted transcript change for the columns of ``U`` in one context.

        Parameters
        ----------
        U
            (N, B) perturbation columns.
        context
            (D,) context embedding, or None for the mean context.
        genetic
            (B,) bool, columns that are genetic perturbations (get the self term); None = none.

        Returns
        -------
        (Y, values)
            Y (N, B) in the model's reference units, and the edge values / gates used.
        """
        values = self.edge_values(context)
        Y = self.readout(self.propagate(U, values), U, values)
        if genetic is not None and bool(genetic.any()):
            Y = Y + self.self_term(U, genetic)
        return Y, values

    def self_term(self, U: torch.Tensor, genetic: torch.Tensor) -> torch.Tensor:
        """(N, B) the genetic self term of :meth:`forward`, ``self_weight * U`` in the genetic columns (0 elsewhere):
        a perturbed gene's own transcript, which the forward prediction includes and causal shrinkage scales apart."""
        return self.self_weight * U * genetic.to(U.dtype)[None, :]

    def gate_entropy(self, values: dict[str, torch.Tensor | None]) -> torch.Tensor | None:
        """Mean binary entropy of the switch gates in ``values`` (None without gates or for modulating gates)."""
        if self.gate is None or self.gate.mode != "switch":
            return None
        g = torch.cat([values["gate_ppi"], values["gate_tf"]]).clamp(1e-6, 1 - 1e-6)
        return -(g * torch.log(g) + (1 - g) * torch.log(1 - g)).mean()

    def l1_deviation(self) -> torch.Tensor:
        """Mean absolute deviation of strengths, learned signs and direct terms from their priors."""
        return self.ppi.deviation() + self.tf.deviation() + (self.direct - self.direct_prior).abs().mean()
