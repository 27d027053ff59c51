"""Edge features of the shared edge model (``edge_model="shared"``): what an edge's strength and sign are functions of.

Node classes (multi-hot, (N, 3)): ``tf`` (a CollecTRI regulator: the source of a ``tf`` edge of the
interactome), ``ligand`` and ``receptor`` (a subunit of a LIANA consensus ligand or receptor). Every
other node has none of them. Edge features ``f_ij`` (E, F) of an edge ``i -> j``:

* ``bias``, ``log_evidence`` (log of the evidence weight), ``directed``;
* the classes of ``i`` (``src_*``) and of ``j`` (``dst_*``), and all their products (``src_* x dst_*``:
  receptor -> TF, ligand -> receptor, TF -> TF ...);
* ``log_out_degree`` of ``i`` and ``log_in_degree`` of ``j`` (unweighted, standardised over the layer).

The same few coefficients act on every edge, so what perturbations of a few hundred genes teach about
(say) receptor -> TF edges applies to all of them.
"""

from __future__ import annotations

import numpy as np

from twincell.data.cytosig import load_ligand_receptor
from twincell.network import Interactome

NODE_CLASSES = ("tf", "ligand", "receptor")


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


def feature_names() -> list[str]:
    """Names of the edge feature columns, in order."""
    pairs = [f"src_{a} x dst_{b}" for a in NODE_CLASSES for b in NODE_CLASSES]
    return ["bias", "log_evidence", "directed", *(f"src_{c}" for c in NODE_CLASSES),
            *(f"dst_{c}" for c in NODE_CLASSES), *pairs, "log_out_degree", "log_in_degree"]


def edge_features(src: np.ndarray, dst: np.ndarray, w0: np.ndarray, directed: np.ndarray, classes: np.ndarray,
                  ) -> np.ndarray:
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
    """
    n = classes.shape[0]
    cs, cd = classes[src], classes[dst]
    products = (cs[:, :, None] * cd[:, None, :]).reshape(len(src), -1)

    def log_degree(nodes: np.ndarray) -> np.ndarray:
        d = np.log1p(np.bincount(nodes, minlength=n)[nodes].astype(np.float64))
        return (d - d.mean()) / (d.std() or 1.0)

    return np.column_stack([np.ones(len(src)), np.log(np.clip(w0, 1e-6, None)), directed.astype(np.float64),
                            cs, cd, products, log_degree(src), log_degree(dst)]).astype(np.float32)
