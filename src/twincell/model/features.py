"""Edge features of the shared edge model (``edge_model="shared"``): what an edge's strength and sign are functions of.

Node classes (multi-hot, (N, 3)): ``tf`` (a CollecTRI regulator: the source of a ``tf`` edge of the
interactome), ``ligand`` and ``receptor`` (a subunit of a LIANA consensus ligand or receptor). Every
other node has none of them. Edge features ``f_ij`` (E, F) of an edge ``i -> j``:

* ``bias``, ``log_evidence`` (log of the evidence weight), ``directed``;
* the classes of ``i`` (``src_*``) and of ``j`` (``dst_*``), and all their products (``src_* x dst_*``:
  receptor -> TF, ligand -> receptor, TF -> TF ...);
* ``log_out_degree`` of ``i`` and ``log_in_degree`` of ``j`` (unweighted, standardised over the layer);
* with node embeddings ``e`` (``node_embedding="network"``, :func:`network_embedding`, (N, d)): ``e_i`` (``src_emb*``),
  ``e_j`` (``dst_emb*``) and their product ``e_i * e_j`` (``emb_product*``), so that ``<phi, f_ij>`` holds a
  diagonal bilinear form ``sum_k phi_k e_ik e_jk`` of the two genes' positions.

The same few coefficients act on every edge, so what perturbations of a few hundred genes teach about
(say) receptor -> TF edges applies to all of them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, eigsh

from twincell.data.cytosig import load_ligand_receptor
from twincell.errors import TwinCellError
from twincell.network import Interactome

NODE_CLASSES = ("tf", "ligand", "receptor")
#: Node embeddings the shared edge model can add to its edge features: none, or the interactome's spectral embedding.
NODE_EMBEDDINGS = ("none", "network")
#: Dimensions d of :func:`network_embedding`.
EMBEDDING_DIM = 8


def node_classes(interactome: Interactome) -> np.ndarray:
    """(N, 3) float32 multi-hot node classes ``tf, ligand, receptor`` (see the module docstring)."""
    out = np.zeros((interactome.n_nodes, len(NODE_CLASSES)), np.float32)
    out[:, 0] = interactome.tf_mask
    pairs = load_ligand_receptor()
    index = interactome.gene_index
    ligands = {g for complex_ in pairs["ligand"] for g in complex_.split("_")}
    for col, genes in ((1, ligands), (2, set(pairs["receptor"]))):
        out[[index[g] for g in genes if g in index], col] = 1.0
    return out


NODE_CLASS_NAMES = ("tf", "receptor", "ligand", "other")


def node_class_index(classes: np.ndarray) -> np.ndarray:
    """(N,) int64 single class per node, in :data:`NODE_CLASS_NAMES` order, from the multi-hot :func:`node_classes`.

    A node in several classes takes the first of ``tf``, ``receptor``, ``ligand`` (e.g. a nuclear receptor
    that is a CollecTRI regulator is a ``tf``); a node in none is ``other``.
    """
    order = [NODE_CLASSES.index(c) for c in NODE_CLASS_NAMES[:-1]]
    member = classes[:, order] > 0
    return np.where(member.any(axis=1), member.argmax(axis=1), len(order)).astype(np.int64)


def network_embedding(interactome: Interactome, dim: int = EMBEDDING_DIM) -> np.ndarray:
    """(N, dim) float32 regularised spectral embedding of the interactome's nodes (Qin & Rohe 2013).

    Both layers, as an undirected graph weighted by evidence (``A = max(A, A^T)``), regularised by ``tau`` = the mean
    weighted degree: the ``dim`` leading eigenvectors, after the trivial one, of
    ``D_tau^-1/2 (A + tau/N 11^T) D_tau^-1/2`` with ``D_tau = D + tau I``, each multiplied by ``D_tau^-1/2`` (the
    random-walk form), standardised to unit standard deviation over the nodes, clipped to [-3, 3] (a few module
    members sit 20 standard deviations out) and divided by 3, so that each coordinate and each product lies in
    [-1, 1], on the scale of the other features. Without the regularisation the
    leading eigenvectors of a sparse network sit on a few tiny peripheral cliques; with it they separate its large
    modules (on the bundled interactome: cytokines, ribosome, respiratory complex I, Mediator, proteasome,
    spliceosome, T-cell receptor signalling). Each vector's sign is fixed so that its largest-magnitude entry is
    positive, and ARPACK starts from a seeded vector, so the embedding is the same on every call.

    Raises
    ------
    TwinCellError
        When the interactome has ``dim + 1`` nodes or fewer.
    """
    n = interactome.n_nodes
    if n <= dim + 1:
        raise TwinCellError(f"the interactome has {n} nodes; a {dim}-dimensional network embedding needs more",
                            "use node_embedding='none' on so small a network")
    a = interactome.adjacency()
    a = a.maximum(a.T).tocsr()
    degree = np.asarray(a.sum(axis=1)).ravel()
    tau = degree.mean()
    scale = 1.0 / np.sqrt(degree + tau)
    normalised = sp.diags(scale) @ a @ sp.diags(scale)
    operator = LinearOperator((n, n), dtype=np.float64,
                              matvec=lambda x: normalised @ x + scale * (tau / n) * (scale @ x))
    values, vectors = eigsh(operator, k=dim + 1, which="LA", v0=np.random.default_rng(0).random(n))
    vectors = vectors[:, np.argsort(-values)[1:]] * scale[:, None]
    vectors *= np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(dim)])
    return (np.clip(vectors / vectors.std(axis=0), -3.0, 3.0) / 3.0).astype(np.float32)


def feature_names(embedding_dim: int = 0) -> list[str]:
    """Names of the edge feature columns, in order (``embedding_dim``: columns d of the node embedding, 0 for none)."""
    pairs = [f"src_{a} x dst_{b}" for a in NODE_CLASSES for b in NODE_CLASSES]
    embedded = [f"{part}{k}" for part in ("src_emb", "dst_emb", "emb_product") for k in range(embedding_dim)]
    return ["bias", "log_evidence", "directed", *(f"src_{c}" for c in NODE_CLASSES),
            *(f"dst_{c}" for c in NODE_CLASSES), *pairs, "log_out_degree", "log_in_degree", *embedded]


def edge_features(src: np.ndarray, dst: np.ndarray, w0: np.ndarray, directed: np.ndarray, classes: np.ndarray,
                  embedding: np.ndarray | None = None) -> np.ndarray:
    """(E, F) float32 features of the edges ``src -> dst`` of one layer (columns: :func:`feature_names`).

    Parameters
    ----------
    src, dst
        (E,) node indices.
    w0
        (E,) evidence weights in (0, 1].
    directed
        (E,) whether the edge is known to be directed.
    classes
        (N, 3) node classes from :func:`node_classes`.
    embedding
        (N, d) node embedding (e.g. :func:`network_embedding`), or None for none.
    """
    n = classes.shape[0]
    cs, cd = classes[src], classes[dst]
    products = (cs[:, :, None] * cd[:, None, :]).reshape(len(src), -1)

    def log_degree(nodes: np.ndarray) -> np.ndarray:
        d = np.log1p(np.bincount(nodes, minlength=n)[nodes].astype(np.float64))
        return (d - d.mean()) / (d.std() or 1.0)

    embedded = () if embedding is None else (embedding[src], embedding[dst], embedding[src] * embedding[dst])
    return np.column_stack([np.ones(len(src)), np.log(np.clip(w0, 1e-6, None)), directed.astype(np.float64),
                            cs, cd, products, log_degree(src), log_degree(dst), *embedded]).astype(np.float32)
