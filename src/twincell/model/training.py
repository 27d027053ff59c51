"""Training data preparation, losses and the training loop of :class:`~twincell.model.TwinCell`.

Losses (per example, averaged over the examples of a batch)

The prediction for dataset d in context c is ``s_d * y_hat + b_{d,c}``: ``y_hat`` the model's causal,
perturbation-specific effect, ``s_d`` a learned per-dataset scale (the first absolute dataset is the
reference, ``s = 1``, and fixes the model's output units) and ``b_{d,c}`` the dataset's mean training
response in that context (see :class:`DatasetHeads`).

* absolute values (``zscore``, ``log_fold_change``): masked mean squared error on the measured genes,
  ``mean_g (pred_g - y_g)^2 / ms_d``, with ``ms_d`` the dataset's mean squared value (so that
  predicting 0 costs 1);
* rank-derived values (``rank_inverse_normal`` or ``uns["rank_derived"]``): ``1 - Pearson(pred, y)``
  over the stored genes, which is invariant to the arbitrary scale of ranks.

With ``residual_loss`` both losses are taken on the response after removing the dataset's background,
``y - b_{d,c}`` against ``s_d * y_hat``: the MSE is divided by the mean square of that residual and the
correlation is that of the causal part with the residual, so predicting the background alone scores
exactly what predicting nothing scores (MSE 1, correlation loss 1) and only the causal part can win.

Regularisers: ``l1 * (mean |w - w0| + mean |tanh(theta) - s0| + mean |r - r0|)`` per layer (deviation from the
prior network, each learned sign from its prior ``s0``; shared edge model: ``correction_penalty`` x the per-edge
corrections, see :meth:`~twincell.model.module.EdgeLayer.deviation`) and ``gate_entropy * mean H(g)`` (binary
entropy of switch gates in the batch's context, pushing gates to decide; modulating gates have none).
Early stopping and model selection on held-out examples: whole perturbations held out in every context
(``validation_split="perturbation"``) or whole target genes (``"target"``: every example that perturbs
a held-out gene, so the selected epoch is the one that transfers best to genes never perturbed in training).
The selected epoch has the lowest validation loss (``select_on="loss"``) or the highest validation inverse
AUROC (``"inverse_auroc"``, or ``"inverse_auroc_unseen"`` over targets no training row perturbs; below).

Inverse loss (``inverse_loss`` = lambda > 0, off by default): an auxiliary loss that rewards the task users
run, finding the perturbed gene from its response. For each training row the observed response minus the
dataset's background at the measured network genes, ``y``, is scored against every node by the drug
operator's adjoint (:meth:`~twincell.model.module.TwinCellModule.adjoint`, what ``identify`` computes),
``s = R0^T y + sum_{k=1..K} (A^T)^k R^T y``, and the row's targets t (signs u_t) must win a softmax over all
N nodes: ``logit_i = tau |s_i| / ||s||`` for every node (the ranking rule of ``identify``, either
direction), ``logit_t = tau u_t s_t / ||s||`` for a target (it must rank high *in its own direction*), loss
``-mean_t log softmax(logit)_t`` (:func:`inverse_row_losses`). Every other node is a negative, so nodes that
align with every response (hubs, TFs of the shared response) are pushed down. Total: ``forward + lambda *
inverse``. Whether on or off, validation records the targets' mean AUROC and median rank under ``|s|``
(history columns ``inverse_auroc_val``, ``inverse_rank_val``; :func:`target_ranks`), and the mean AUROC of
the validation targets that no training row perturbs (``inverse_auroc_unseen_val``: transfer, not memory).

Contrastive loss (``contrastive_loss`` = weight > 0, off by default): only what differs between the
perturbations of a batch pays. A batch holds rows of one dataset and context; for rows i and j, the logit
``cos(y_i, m_i * Delta_j) / tau_c`` compares row i's observed response minus its background, ``y_i``, with row j's
predicted causal response ``Delta_j`` on the genes row i measures (``m_i``), and each row must pick its own
perturbation (or one identical to it) in a softmax over the batch's rows: ``-log sum_{j ~ i} softmax_j``
(:func:`contrastive_row_losses`). Cosines ignore each prediction's size (a node's reach) and a response shared by
every row gives every j the same logit, so neither earns anything. Total: ``forward + weight * contrastive``.

Causal shrinkage (``causal_shrinkage``, ``"split"`` by default): after training, factors in [0, 1] per dataset
on the causal part of its prediction, chosen by least squares on the validation rows. ``"joint"``: one factor
``alpha_d`` on the whole causal part, ``b_{d,c} + alpha_d * s_d * y_hat`` (:func:`shrinkage_factor`); ``"split"``:
one on the network part and one on the genetic self term, fitted together
(``b_{d,c} + s_d * (alpha_net * y_net + alpha_self * y_self)``, :func:`shrinkage_factors`); ``"none"``: 1. A part
that does not help on held-out perturbations gets its factor -> 0 (the prediction falls back to the background);
they scale the dataset's predictions only, so target rankings do not change.

Background rows (``background_rows``): the background ``b_{d,c}`` is the mean over the training rows
(``"training"``) or, once early stopping and the shrinkage fit are done, over the training and validation rows
together (``"all"``, the default since the twentieth design round: what the mean-response baseline averages).
"""

from __future__ import annotations

import logging
import numbers
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import torch
from scipy.optimize import lsq_linear

from twincell._cache import atomic_write
from twincell._progress import bar
from twincell.data.perturbation import PerturbationDataset, parse_targets
from twincell.errors import ContextError, DataFileError, TwinCellError, check_count, is_finite_number
from twincell.model.module import TwinCellModule

logger = logging.getLogger(__name__)

GENETIC_TYPES = ("overexpression", "knockdown", "knockout")
ABSOLUTE_TYPES = ("zscore", "log_fold_change")


@dataclass
class DatasetInfo:
    """What the model made of one training dataset (kept in the model's metadata)."""

    name: str
    value_type: str
    loss: str
    n_rows: int
    n_rows_used: int
    n_genes: int
    n_genes_in_network: int
    mean_square: float
    skipped_perturbations: list[str] = field(default_factory=list)
    dropped_targets: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return dict(self.__dict__)


@dataclass
class TrainingRows:
    """All usable examples of all datasets, as flat arrays with CSR pointers.

    ``tgt_*``: the perturbation's target nodes and signs; ``obs_*``: measured genes and values. A measured
    gene outside the network has index ``N + k`` (``extra_genes[k]``): it enters the background only, never
    a loss (the model cannot predict it; :func:`build_batch` leaves it out).
    """

    dataset: np.ndarray
    context: np.ndarray
    perturbation: np.ndarray
    genetic: np.ndarray
    tgt_ptr: np.ndarray
    tgt_node: np.ndarray
    tgt_sign: np.ndarray
    obs_ptr: np.ndarray
    obs_node: np.ndarray
    obs_value: np.ndarray
    extra_genes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))

    def __len__(self) -> int:
        return len(self.dataset)


def as_dataset(dataset: PerturbationDataset | ad.AnnData) -> PerturbationDataset:
    """A PerturbationDataset as it is; a bare AnnData wrapped in one, which validates it.

    Parameters
    ----------
    dataset
        A :class:`~twincell.data.perturbation.PerturbationDataset`, or an AnnData in its layout.

    Returns
    -------
    PerturbationDataset
        ``dataset`` itself, or the AnnData wrapped (the AnnData is not copied).

    Raises
    ------
    DataFileError, UnknownGeneError
        An AnnData that breaks the contract (:meth:`~twincell.data.perturbation.PerturbationDataset.validate`:
        sparse or non-float32 X, infinite values, unknown perturbation types, missing ``uns`` keys, duplicate
        or non-HGNC genes ...). Wrap it with ``PerturbationDataset(adata, validate=False)`` to skip the checks.
    """
    return PerturbationDataset(dataset) if isinstance(dataset, ad.AnnData) else dataset


def as_adata(dataset: PerturbationDataset | ad.AnnData) -> ad.AnnData:
    """The AnnData of a PerturbationDataset; a bare AnnData is validated first (:func:`as_dataset`).

    Parameters
    ----------
    dataset
        A :class:`~twincell.data.perturbation.PerturbationDataset`, or an AnnData in its layout.

    Returns
    -------
    AnnData
        The dataset's AnnData (not a copy).

    Raises
    ------
    DataFileError
        An AnnData that breaks the contract, or a dataset without the obs columns training needs.
    TwinCellError
        An object that is neither.
    """
    adata = getattr(as_dataset(dataset), "adata", dataset)
    if not hasattr(adata, "obs") or not hasattr(adata, "X"):
        raise TwinCellError(f"cannot train on a {type(dataset).__name__}",
                            "pass twincell.data.perturbation.PerturbationDataset objects (or AnnData in that layout)")
    missing = [c for c in ("perturbation", "perturbation_type", "targets", "context") if c not in adata.obs.columns]
    if missing:
        raise DataFileError(f"perturbation dataset lacks obs columns {missing}",
                            "build it with PerturbationDataset.build (see docs/ARCHITECTURE.md)")
    return adata


def dataset_name(adata: ad.AnnData, i: int) -> str:
    """A dataset's name: ``uns['source']``, else its ``dataset`` column, else its position."""
    name = adata.uns.get("source")
    if not name and "dataset" in adata.obs and len(adata.obs):
        name = str(adata.obs["dataset"].iloc[0])
    return str(name or f"dataset{i}")


def loss_kind(adata: ad.AnnData) -> str:
    """``mse`` for absolute values, ``correlation`` for rank-derived ones."""
    vt = str(adata.uns.get("value_type", "zscore"))
    return "correlation" if bool(adata.uns.get("rank_derived", False)) or vt not in ABSOLUTE_TYPES else "mse"


def prepare_rows(datasets: Sequence, context_ids: Sequence[str], gene_index: Mapping[str, int],
                 ) -> tuple[TrainingRows, list[DatasetInfo]]:
    """Turn datasets into :class:`TrainingRows` over the network's nodes.

    Examples whose targets are all outside the network (or without a known direction) are skipped,
    and target genes outside the network dropped; both are listed in the returned infos. Genes
    outside the network cannot be predicted and are left out of the loss (counted in the infos); their
    values are kept for the dataset's background (``TrainingRows.extra_genes``).

    Raises
    ------
    ContextError
        A dataset's context is not among ``context_ids`` (all unknown ones are named).
    TwinCellError
        Two datasets share a name, a dataset has no usable example, or no dataset is given.
    """
    ctx_index = {c: i for i, c in enumerate(context_ids)}
    n_nodes = len(gene_index)
    extra_index: dict[str, int] = {}
    parts: dict[str, list] = {k: [] for k in ("dataset", "context", "perturbation", "genetic", "tgt_n", "tgt_node",
                                              "tgt_sign", "obs_n", "obs_node", "obs_value")}
    infos: list[DatasetInfo] = []
    names: set[str] = set()
    for d, ds in enumerate(datasets):
        adata = as_adata(ds)
        name = dataset_name(adata, d)
        if name in names:  # each dataset keeps its own head, found again by its name (predict_dataset)
            raise TwinCellError(f"two training datasets share the name {name!r} (uns['source'])",
                                "name each when building it (from_anndata(..., dataset=NAME)) or set its "
                                "uns['source'], or concatenate them into one dataset")
        names.add(name)
        obs = adata.obs
        unknown_ctx = sorted(set(obs["context"].astype(str)) - set(ctx_index))
        if unknown_ctx:
            raise ContextError(f"dataset {name!r} has contexts without an embedding: {', '.join(unknown_ctx[:10])}"
                               + (f" (+{len(unknown_ctx) - 10} more)" if len(unknown_ctx) > 10 else ""),
                               "add them to the context registry (ContextRegistry.add) or drop those rows")
        X = np.asarray(adata.X, dtype=np.float32)
        col_node = np.array([gene_index[g] if g in gene_index else n_nodes + extra_index.setdefault(g, len(extra_index))
                             for g in map(str, adata.var_names)], dtype=np.int64)
        in_net = np.flatnonzero(col_node < n_nodes)
        Xn = X[:, in_net]
        skipped, dropped = [], set()
        used_rows, n_targeted = [], 0
        for i, text in enumerate(obs["targets"].to_numpy(dtype=object)):
            targets = parse_targets(text)  # a missing value (None, NaN, pd.NA): targets unknown
            nodes = [(gene_index[g], s) for g, s in targets.items() if g in gene_index and s != 0]
            dropped.update(f"{g}:{s:+d}" if s else f"{g}:0" for g, s in targets.items()
                           if g not in gene_index or s == 0)
            measured = np.isfinite(Xn[i])
            n_targeted += bool(nodes)
            if not nodes or not measured.any():
                skipped.append(str(obs["perturbation"].iloc[i]))
                continue
            used_rows.append(i)
            parts["tgt_n"].append(len(nodes))
            parts["tgt_node"].extend(n for n, _ in nodes)
            parts["tgt_sign"].extend(float(s) for _, s in nodes)
            measured_all = np.isfinite(X[i])  # with the genes outside the network (background only)
            parts["obs_n"].append(int(measured_all.sum()))
            parts["obs_node"].append(col_node[measured_all])
            parts["obs_value"].append(X[i, measured_all])
        if not used_rows and n_targeted:  # targets fine: no value at a network gene
            raise TwinCellError(f"dataset {name!r}: none of its {n_targeted} rows with a target in the network has a "
                                f"finite value at a network gene ({len(in_net)} of its {adata.n_vars} genes are in the "
                                "network)", "give responses (finite numbers) over genes named by HGNC symbols of "
                                "network nodes, or leave the dataset out")
        if not used_rows:  # it would train nothing, yet fix a background and, if first, the model's units
            raise TwinCellError(f"dataset {name!r}: none of its {adata.n_obs} rows has a target among the network's "
                                f"genes and a measured value (targets such as {', '.join(sorted(dropped)[:5]) or 'none'})",
                                "leave the dataset out, or give its targets and genes as HGNC symbols of network nodes")
        used = np.asarray(used_rows, dtype=np.int64)
        parts["dataset"].append(np.full(len(used), d))
        parts["context"].append(obs["context"].astype(str).map(ctx_index).to_numpy()[used])
        parts["perturbation"].append(obs["perturbation"].astype(str).to_numpy()[used])
        parts["genetic"].append(obs["perturbation_type"].astype(str).isin(GENETIC_TYPES).to_numpy()[used])
        vals = Xn[used][np.isfinite(Xn[used])]
        infos.append(DatasetInfo(
            name=name, value_type=str(adata.uns.get("value_type", "zscore")), loss=loss_kind(adata),
            n_rows=int(adata.n_obs), n_rows_used=len(used), n_genes=int(adata.n_vars),
            n_genes_in_network=len(in_net), mean_square=float(np.mean(vals ** 2)) if len(vals) else 1.0,
            skipped_perturbations=sorted(set(skipped)), dropped_targets=sorted(dropped),
            provenance={str(k): str(v) for k, v in dict(adata.uns.get("provenance", {})).items()}))
        if skipped:
            logger.info("%s: %d of %d rows not used (no target in the network, or no measured gene): %s", name,
                        len(skipped), adata.n_obs, ", ".join(sorted(set(skipped))[:10])
                        + (" ..." if len(set(skipped)) > 10 else ""))
    if not infos:
        raise TwinCellError("no training dataset was given", "pass at least one PerturbationDataset")
    cat = lambda k, dt: np.concatenate(parts[k]).astype(dt) if parts[k] else np.zeros(0, dt)  # noqa: E731
    rows = TrainingRows(
        dataset=cat("dataset", np.int64), context=cat("context", np.int64),
        perturbation=np.concatenate(parts["perturbation"]).astype(object), genetic=cat("genetic", bool),
        tgt_ptr=np.r_[0, np.cumsum(parts["tgt_n"])].astype(np.int64),
        tgt_node=np.asarray(parts["tgt_node"], np.int64), tgt_sign=np.asarray(parts["tgt_sign"], np.float32),
        obs_ptr=np.r_[0, np.cumsum(parts["obs_n"])].astype(np.int64),
        obs_node=cat("obs_node", np.int64), obs_value=cat("obs_value", np.float32),
        extra_genes=np.array(list(extra_index), dtype=object))
    return rows, infos


VALIDATION_SPLITS = ("perturbation", "target")


def split_validation(rows: TrainingRows, fraction: float, rng: np.random.Generator, by: str = "perturbation",
                     ) -> np.ndarray:
    """Boolean mask of validation rows, held out in every context.

    ``by="perturbation"``: a random ``fraction`` of perturbation names; ``by="target"``: a random
    ``fraction`` of target genes (node ids), and every row that perturbs any of them.
    """
    if by not in VALIDATION_SPLITS:
        raise TwinCellError(f"validation_split must be one of {VALIDATION_SPLITS}, not {by!r}")
    if by == "target":
        owner = np.repeat(np.arange(len(rows)), np.diff(rows.tgt_ptr))
        names, keys = np.unique(rows.tgt_node), rows.tgt_node
    else:
        owner, names, keys = np.arange(len(rows)), np.unique(rows.perturbation), rows.perturbation
    n_val = int(round(fraction * len(names)))
    if fraction <= 0 or n_val == 0 or n_val >= len(names):
        if fraction > 0:
            logger.warning("no validation split: %d %s(s) are too few to hold %.0f%% out; the best epoch is chosen "
                           "on the training loss", len(names), by, 100 * fraction)
        return np.zeros(len(rows), bool)
    held = rng.choice(names, size=n_val, replace=False)
    mask = np.zeros(len(rows), bool)
    mask[owner[np.isin(keys, held)]] = True
    return mask


def make_batches(rows: TrainingRows, idx: np.ndarray, batch_size: int, rng: np.random.Generator | None,
                 ) -> list[np.ndarray]:
    """Batches of row indices, each from one (dataset, context) group; shuffled when ``rng`` is given."""
    key = rows.dataset[idx] * (rows.context.max() + 1) + rows.context[idx]
    batches = []
    for k in np.unique(key):
        members = idx[key == k]
        if rng is not None:
            members = rng.permutation(members)
        batches.extend(members[i:i + batch_size] for i in range(0, len(members), batch_size))
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


class DatasetHeads(torch.nn.Module):
    """Per-dataset output scale ``s_d`` and background response ``b_{d,c}`` (not part of the causal model).

    ``s_d = exp(log_scale_d)`` is learned, fixed at 1 for the reference dataset. ``b_{d,c}`` (N + X,) is
    the mean training response of dataset d in context c (the response shared by every perturbation
    of a screen: transfection, vehicle, culture drift) over the N nodes and the X measured genes outside
    the network (``TrainingRows.extra_genes``: the model predicts their background alone); contexts
    without training rows of that dataset use the dataset's mean over all contexts (last slot). A
    dataset's prediction is ``s_d * (alpha_d * Y_net + alpha_self_d * Y_self) + b_{d,c}``; ``Y = Y_net + Y_self``
    alone is the perturbation-specific, causal effect (``Y_self`` the genetic self term) and ``alpha_d``,
    ``alpha_self_d`` its causal shrinkage (:meth:`causal_factor`, :meth:`self_factor`).
    """

    def __init__(self, infos: Sequence[DatasetInfo], n_contexts: int, n_nodes: int, n_extra: int = 0) -> None:
        super().__init__()
        self.log_scale = torch.nn.Parameter(torch.zeros(len(infos)))
        ref = reference_dataset(infos)
        free = torch.ones(len(infos))
        if ref is not None:
            free[ref] = 0.0
        self.register_buffer("free", free)
        self.register_buffer("background", torch.zeros(len(infos), n_contexts + 1, n_nodes + n_extra))
        seen = torch.zeros(len(infos), n_contexts + 1, dtype=torch.bool)
        seen[:, -1] = True
        self.register_buffer("seen", seen)
        self.register_buffer("shrink", torch.ones(len(infos)))
        self.register_buffer("shrink_self", torch.ones(len(infos)))

    def scale(self, d: int) -> torch.Tensor:
        """Output scale of dataset ``d``."""
        return torch.exp(self.log_scale[d] * self.free[d])

    def causal_factor(self, d: int) -> torch.Tensor:
        """Causal shrinkage ``alpha_d`` of dataset ``d``'s network part (1 when fitted with
        ``causal_shrinkage="none"``)."""
        return self.shrink[d]

    def self_factor(self, d: int) -> torch.Tensor:
        """Causal shrinkage of dataset ``d``'s genetic self term (``alpha_d`` unless fitted ``"split"``)."""
        return self.shrink_self[d]

    def offset(self, d: int, c: int | None) -> torch.Tensor:
        """(N + X,) background of dataset ``d`` in context ``c`` (dataset mean when c is None or unseen)."""
        return self.background[d, c if c is not None and bool(self.seen[d, c]) else -1]

    def set_background(self, rows: TrainingRows, idx: np.ndarray) -> None:
        """Empirical mean response per (dataset, context) and per dataset over the rows ``idx``."""
        n_d, n_slots, n = self.background.shape
        counts = np.diff(rows.obs_ptr)[idx]
        pos = np.concatenate([np.arange(rows.obs_ptr[i], rows.obs_ptr[i + 1]) for i in idx]) if len(idx) else []
        d = np.repeat(rows.dataset[idx], counts)
        c = np.repeat(rows.context[idx], counts)
        node, val = rows.obs_node[pos], rows.obs_value[pos].astype(np.float64)
        total = np.zeros((n_d, n_slots, n))
        count = np.zeros((n_d, n_slots, n))
        for slot in (c, np.full_like(c, n_slots - 1)):
            np.add.at(total, (d, slot, node), val)
            np.add.at(count, (d, slot, node), 1.0)
        self.background.copy_(torch.as_tensor(np.divide(total, count, out=np.zeros_like(total), where=count > 0)))
        seen = np.zeros((n_d, n_slots), bool)
        seen[rows.dataset[idx], rows.context[idx]] = True
        seen[:, -1] = True
        self.seen.copy_(torch.as_tensor(seen))


#: ``causal_shrinkage`` modes; ``True`` means ``"joint"`` and ``False`` ``"none"`` (the option's old booleans).
SHRINKAGE_MODES = ("joint", "split", "none")
#: ``background_rows`` modes: which rows the background averages after training.
BACKGROUND_ROWS = ("training", "all")


def shrinkage_factor(causal: np.ndarray, residual: np.ndarray) -> float:
    """Least-squares factor on the causal part, clipped to [0, 1]: ``argmin_a ||residual - a causal||^2``.

    Parameters
    ----------
    causal
        (M,) the causal part of the predictions, ``s_d * y_hat``, at measured entries (dataset units).
    residual
        (M,) the observed values minus the dataset's background at the same entries.

    Returns
    -------
    float
        ``clip(<causal, residual> / <causal, causal>, 0, 1)``; 1 when the causal part is all zero.
    """
    denominator = float(np.dot(causal, causal))
    if denominator <= 0:
        return 1.0
    return float(np.clip(np.dot(causal, residual) / denominator, 0.0, 1.0))


def shrinkage_factors(network: np.ndarray, own: np.ndarray, residual: np.ndarray) -> tuple[float, float]:
    """Factors in [0, 1] on the network part and the self term, fitted together:
    ``argmin ||residual - a_net network - a_self own||^2`` with both bounded to [0, 1].

    Parameters
    ----------
    network, own, residual
        (M,) at measured entries (dataset units): the network part of the causal predictions, the genetic self
        term (0 for a drug or cytokine row), and the observed values minus the dataset's background.

    Returns
    -------
    tuple of float
        ``(a_net, a_self)``; a part that is all zero gets 1 (it multiplies nothing), and the other part then gets
        :func:`shrinkage_factor`.
    """
    has_net, has_own = bool(np.any(network)), bool(np.any(own))
    if not (has_net and has_own):
        return (shrinkage_factor(network, residual) if has_net else 1.0,
                shrinkage_factor(own, residual) if has_own else 1.0)
    fit = lsq_linear(np.column_stack([network, own]).astype(np.float64), residual.astype(np.float64),
                     bounds=(0.0, 1.0))
    return float(fit.x[0]), float(fit.x[1])


def reference_dataset(infos: Sequence[DatasetInfo]) -> int | None:
    """Index of the first absolute-valued dataset (fixes the output units), or None."""
    return next((i for i, info in enumerate(infos) if info.loss == "mse"), None)


@dataclass
class Batch:
    """Tensors of one batch (all rows share a dataset and a context)."""

    dataset: int
    context: int
    U: torch.Tensor
    genetic: torch.Tensor
    obs_col: torch.Tensor
    obs_node: torch.Tensor
    obs_value: torch.Tensor


def build_batch(rows: TrainingRows, members: np.ndarray, n_nodes: int, device: torch.device) -> Batch:
    """Perturbation matrix U (N, B) and the measured entries of the rows ``members``."""
    def gather(ptr, *arrays):
        counts = ptr[members + 1] - ptr[members]
        pos = np.concatenate([np.arange(ptr[m], ptr[m + 1]) for m in members])
        return (np.repeat(np.arange(len(members)), counts), *(a[pos] for a in arrays))

    t_col, t_node, t_sign = gather(rows.tgt_ptr, rows.tgt_node, rows.tgt_sign)
    U = torch.zeros(n_nodes, len(members), device=device)
    U.index_put_((torch.as_tensor(t_node, device=device), torch.as_tensor(t_col, device=device)),
                 torch.as_tensor(t_sign, device=device), accumulate=True)
    o_col, o_node, o_val = gather(rows.obs_ptr, rows.obs_node, rows.obs_value)
    in_net = o_node < n_nodes  # genes outside the network enter the background only
    o_col, o_node, o_val = o_col[in_net], o_node[in_net], o_val[in_net]
    as_t = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
    return Batch(int(rows.dataset[members[0]]), int(rows.context[members[0]]), U,
                 as_t(rows.genetic[members]), as_t(o_col), as_t(o_node), as_t(o_val))


def row_losses(pred: torch.Tensor, batch: Batch, loss: str, mean_square: float, scale: torch.Tensor,
               offset: torch.Tensor, residual: bool = False) -> torch.Tensor:
    """(B,) per-example loss of a batch (see the module docstring).

    The prediction is ``scale * pred + offset`` against the data, or (``residual``) ``scale * pred``
    against the data minus ``offset``; ``loss`` is ``mse`` (divided by ``mean_square``) or ``correlation``.
    """
    B = batch.U.shape[1]
    p = scale * pred[batch.obs_node, batch.obs_col]
    y = batch.obs_value
    if residual:
        y = y - offset[batch.obs_node]
    else:
        p = p + offset[batch.obs_node]
    count = torch.zeros(B, device=p.device).index_add_(0, batch.obs_col, torch.ones_like(y))
    if loss == "mse":
        se = (p - y) ** 2 / mean_square
        return torch.zeros(B, device=p.device).index_add_(0, batch.obs_col, se) / count
    seg_mean = lambda v: (torch.zeros(B, device=p.device).index_add_(0, batch.obs_col, v) / count)  # noqa: E731
    pc = p - seg_mean(p)[batch.obs_col]
    yc = y - seg_mean(y)[batch.obs_col]
    cov = torch.zeros(B, device=p.device).index_add_(0, batch.obs_col, pc * yc)
    vp = torch.zeros(B, device=p.device).index_add_(0, batch.obs_col, pc * pc)
    vy = torch.zeros(B, device=p.device).index_add_(0, batch.obs_col, yc * yc)
    return 1.0 - cov / torch.sqrt(vp * vy + 1e-12)


def observed_residual(batch: Batch, offset: torch.Tensor) -> torch.Tensor:
    """(N, B) observed response minus the dataset's background at the measured network genes, 0 elsewhere."""
    D = batch.U.new_zeros(batch.U.shape)
    return D.index_put((batch.obs_node, batch.obs_col), batch.obs_value - offset[batch.obs_node])


def _targets(U: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Target entries of the perturbation matrix U (N, B): (node, column, sign), each (T,)."""
    node, col = U.nonzero(as_tuple=True)
    return node, col, torch.sign(U[node, col])


def inverse_row_losses(scores: torch.Tensor, U: torch.Tensor, temperature: float) -> torch.Tensor:
    """(B,) inverse loss of each row: ``-mean_t log softmax(logits)_t`` over its targets t (module docstring).

    Parameters
    ----------
    scores
        (N, B) adjoint alignments ``s`` of each row's observed response with every node.
    U
        (N, B) perturbation matrix (targets and their signs ``u_t``; every column has a target).
    temperature
        tau, the scale of the normalised logits (``tau |s_i| / ||s||`` lie in [0, tau]).
    """
    norm = torch.sqrt((scores ** 2).sum(0) + 1e-12)  # (B,), differentiable at s = 0
    node, col, sign = _targets(U)
    target_logits = temperature * sign * scores[node, col] / norm[col]
    logits = (temperature * scores.abs() / norm).index_put((node, col), target_logits)
    log_p = torch.log_softmax(logits, dim=0)[node, col]
    B = U.shape[1]
    count = scores.new_zeros(B).index_add_(0, col, torch.ones_like(log_p))
    return -scores.new_zeros(B).index_add_(0, col, log_p) / count.clamp(min=1.0)


def contrastive_row_losses(pred: torch.Tensor, batch: Batch, offset: torch.Tensor,
                           temperature: float) -> torch.Tensor:
    """(B,) contrastive loss of each row of a batch (module docstring): its observed response must match its own
    perturbation's predicted causal response better than the batch's other perturbations', by cosine.

    Parameters
    ----------
    pred
        (N, B) predicted causal responses ``Delta`` of the batch's perturbations.
    batch
        The batch (observed entries, perturbation matrix ``U``).
    offset
        (N,) the dataset's background in the batch's context, removed from the observed values.
    temperature
        tau_c: logits are cosines (in [-1, 1]) divided by it.
    """
    Y = observed_residual(batch, offset)  # (N, B), 0 where a row measures nothing
    measured = torch.zeros_like(Y).index_put((batch.obs_node, batch.obs_col), torch.ones_like(batch.obs_value))
    dot = Y.T @ pred  # (B, B): <y_i, Delta_j> over row i's measured genes
    pred_norm = torch.sqrt(measured.T @ pred ** 2 + 1e-12)  # ||m_i * Delta_j||
    y_norm = torch.sqrt((Y ** 2).sum(0) + 1e-12)[:, None]
    logits = dot / (y_norm * pred_norm) / temperature
    same = torch.cdist(batch.U.T, batch.U.T) == 0  # rows with identical perturbations are all right answers
    return torch.logsumexp(logits, dim=1) - torch.logsumexp(logits.masked_fill(~same, float("-inf")), dim=1)


def target_ranks(scores: torch.Tensor, U: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Rank (1 = best) and AUROC of every target among all N nodes by ``|s|`` (tier 2's ranking rule).

    Returns
    -------
    (rank, auroc)
        Each (T,) over the target entries of U: ``rank = 1 + #{i: |s_i| > |s_t|}`` and the share of the
        other nodes scored below the target (ties count half).
    """
    node, col, _ = _targets(U)
    ordered = torch.sort(scores.abs(), dim=0).values  # (N, B), each column's |s| ascending
    own = scores.abs()[node, col]
    below = torch.empty_like(own)
    not_above = torch.empty_like(own)
    for c in torch.unique(col):  # per column: (N,) sorted scores, no (N, T) copy
        at = col == c
        below[at] = torch.searchsorted(ordered[:, c].contiguous(), own[at], right=False).to(own.dtype)
        not_above[at] = torch.searchsorted(ordered[:, c].contiguous(), own[at], right=True).to(own.dtype)
    n_nodes = scores.shape[0]
    rank = (1.0 + n_nodes - not_above).double().cpu().numpy()
    tied = not_above - below - 1.0  # the target itself excluded
    auroc = ((below + 0.5 * tied) / (n_nodes - 1)).double().cpu().numpy()
    return rank, auroc


#: Validation metrics of the inverse task (:meth:`Trainer.evaluate`), in the history as ``<name>_val``.
INVERSE_METRICS = ("inverse_auroc", "inverse_rank", "inverse_auroc_unseen")
#: Fit settings a resumed training may change (the limits it trains on to, early stopping's patience included); any
#: other change is refused.
RESUMABLE_CHANGES = frozenset({"max_epochs", "time_budget_s", "patience"})
#: What early stopping and model selection maximise on the validation rows: minus the loss, or an inverse metric.
SELECTION_METRICS = ("loss", "inverse_auroc", "inverse_auroc_unseen")


@dataclass
class FitConfig:
    """Optimisation settings of :meth:`TwinCell.fit`."""

    max_epochs: int = 30
    batch_size: int = 128
    lr: float = 0.02
    l1: float = 1e-3
    gate_entropy: float = 1e-3
    validation_fraction: float = 0.1
    validation_split: str = "perturbation"
    residual_loss: bool = False
    causal_shrinkage: bool | str = "split"
    background_rows: str = "all"
    patience: int = 3
    time_budget_s: float | None = None
    seed: int = 0
    inverse_loss: float = 0.0
    inverse_temperature: float = 3.0
    contrastive_loss: float = 0.0
    contrastive_temperature: float = 0.1
    select_on: str = "loss"

    def __post_init__(self) -> None:
        for name, minimum in (("max_epochs", 1), ("batch_size", 1), ("patience", 1), ("seed", 0)):
            check_count(getattr(self, name), name, minimum)
        if not (isinstance(self.validation_fraction, numbers.Real) and 0 <= self.validation_fraction < 1):
            raise TwinCellError(f"validation_fraction must be a share in [0, 1), got {self.validation_fraction!r}",
                                "e.g. 0.1 (0: no validation rows; the best epoch is then chosen on the training loss)")
        if self.time_budget_s is not None and not (isinstance(self.time_budget_s, numbers.Real)
                                                   and self.time_budget_s > 0):
            raise TwinCellError(f"time_budget_s must be a number of seconds > 0 (or None), got {self.time_budget_s!r}")
        if isinstance(self.causal_shrinkage, bool):
            self.causal_shrinkage = "joint" if self.causal_shrinkage else "none"
        if not (is_finite_number(self.lr) and self.lr > 0):
            raise TwinCellError(f"the learning rate must be a positive number, got {self.lr!r}",
                                "e.g. lr=0.02 (--lr 0.02)")
        for name, value, allowed in (("causal_shrinkage", self.causal_shrinkage, SHRINKAGE_MODES),
                                     ("background_rows", self.background_rows, BACKGROUND_ROWS),
                                     ("validation_split", self.validation_split, VALIDATION_SPLITS)):
            if value not in allowed:
                raise TwinCellError(f"{name} must be one of {allowed}, not {value!r}")
        if self.select_on not in SELECTION_METRICS:
            raise TwinCellError(f"select_on must be one of {SELECTION_METRICS}, not {self.select_on!r}")
        if self.select_on != "loss" and self.validation_fraction <= 0:
            raise TwinCellError(f"select_on={self.select_on!r} needs validation rows",
                                "give validation_fraction > 0, or select on the loss")
        for name, weight, hint in (("l1", True, "use e.g. 1e-3"), ("gate_entropy", True, "use e.g. 1e-3"),
                                   ("inverse_loss", True, "use 0 (off) or e.g. 0.1"),
                                   ("inverse_temperature", False, "use e.g. 3"),
                                   ("contrastive_loss", True, "use 0 (off) or e.g. 0.3"),
                                   ("contrastive_temperature", False, "use e.g. 0.1")):
            value = getattr(self, name)  # a weight may be 0 (off); a temperature must be > 0
            if not (is_finite_number(value) and (value >= 0 if weight else value > 0)):
                kind = "a finite weight >= 0" if weight else "a finite number > 0"
                raise TwinCellError(f"{name} must be {kind}, got {value!r}", hint)


class Trainer:
    """Fits a :class:`TwinCellModule` and :class:`DatasetHeads` to :class:`TrainingRows`.

    Parameters
    ----------
    module, heads
        The model and the per-dataset scales (on the training device).
    rows, infos
        Prepared examples and their datasets.
    contexts
        (n_contexts, D) context embeddings, rows indexed by ``rows.context`` (None for a gate-free model).
    config
        Optimisation settings.
    """

    def __init__(self, module: TwinCellModule, heads: DatasetHeads, rows: TrainingRows, infos: list[DatasetInfo],
                 contexts: torch.Tensor | None, config: FitConfig) -> None:
        self.module, self.heads, self.rows, self.infos = module, heads, rows, infos
        self.contexts = contexts
        self.config = config
        self.device = module.direct.device
        self.rng = np.random.default_rng(config.seed)
        self.val_mask = split_validation(rows, config.validation_fraction, self.rng, config.validation_split)
        self.train_idx = np.flatnonzero(~self.val_mask)
        self.val_idx = np.flatnonzero(self.val_mask)
        owner = np.repeat(np.arange(len(rows)), np.diff(rows.tgt_ptr))
        self.train_targets = np.unique(rows.tgt_node[~self.val_mask[owner]])  # nodes perturbed in training
        heads.set_background(rows, self.train_idx)
        self.mean_square = [info.mean_square for info in infos]
        if config.residual_loss:
            self.mean_square = [self._residual_mean_square(d) for d in range(len(infos))]
        params = [p for p in list(module.parameters()) + list(heads.parameters()) if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=config.lr)
        self.history: list[dict] = []
        self.best: tuple[float, dict, dict] | None = None
        self.best_epoch: int | None = None  # the epoch whose weights ``best`` holds
        self.bad_epochs = 0
        self.epoch = 0

    def _context(self, c: int) -> torch.Tensor | None:
        return None if self.contexts is None else self.contexts[c]

    def _residual_mean_square(self, d: int) -> float:
        """Mean square of dataset ``d``'s training values after removing its background (MSE normaliser)."""
        idx = self.train_idx[self.rows.dataset[self.train_idx] == d]
        if not len(idx):
            return self.infos[d].mean_square
        pos = np.concatenate([np.arange(self.rows.obs_ptr[i], self.rows.obs_ptr[i + 1]) for i in idx])
        ctx = np.repeat(self.rows.context[idx], np.diff(self.rows.obs_ptr)[idx])
        in_net = self.rows.obs_node[pos] < self.module.n_nodes
        background = self.heads.background[d].cpu().numpy()[ctx[in_net], self.rows.obs_node[pos][in_net]]
        return float(np.mean((self.rows.obs_value[pos][in_net] - background) ** 2)) or 1.0

    def _batch_loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Summed forward loss of a batch, its (B,) per-row losses (detached), the (N, B) prediction, edge values."""
        pred, values = self.module(batch.U, self._context(batch.context), batch.genetic)
        d = batch.dataset
        losses = row_losses(pred, batch, self.infos[d].loss, self.mean_square[d], self.heads.scale(d),
                            self.heads.offset(d, batch.context), self.config.residual_loss)
        return losses.sum(), losses.detach(), pred, values

    def _adjoint_scores(self, batch: Batch, values: dict) -> torch.Tensor:
        """(N, B) adjoint alignment of each row's background-removed response with every node (drug operator)."""
        return self.module.adjoint(observed_residual(batch, self.heads.offset(batch.dataset, batch.context)), values)

    def initialise_scales(self) -> None:
        """Data-dependent start: set the readout gain and dataset scales so predictions match the data's RMS."""
        ref = reference_dataset(self.infos)
        ratios = {}
        with torch.no_grad():
            for d in range(len(self.infos)):
                idx = self.train_idx[self.rows.dataset[self.train_idx] == d][:256]
                p2 = y2 = 0.0
                for members in make_batches(self.rows, idx, self.config.batch_size, None):
                    b = build_batch(self.rows, members, self.module.n_nodes, self.device)
                    pred, _ = self.module(b.U, self._context(b.context), b.genetic)
                    p2 += float((pred[b.obs_node, b.obs_col] ** 2).sum())
                    y2 += float((b.obs_value ** 2).sum())
                if p2 > 0 and y2 > 0:
                    ratios[d] = np.sqrt(y2 / p2)
            base = ratios.get(ref, 1.0) if ref is not None else 1.0
            if ref is not None and ref in ratios:
                self.module.log_gain += float(np.log(base))
            for d, r in ratios.items():
                if d != ref:
                    self.heads.log_scale[d] = float(np.log(r / base))

    def fit_shrinkage(self) -> np.ndarray:
        """Set and return (n_datasets, 2) causal shrinkage factors fitted on the validation rows: the network part's
        and the self term's.

        ``"joint"``: one :func:`shrinkage_factor` of each dataset's causal predictions against its validation values
        minus their background, for both parts; ``"split"``: :func:`shrinkage_factors`. A dataset without
        validation rows keeps 1.
        """
        n = len(self.infos)
        parts: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(n)]
        with torch.no_grad():
            for members in make_batches(self.rows, self.val_idx, self.config.batch_size, None):
                b = build_batch(self.rows, members, self.module.n_nodes, self.device)
                pred, _ = self.module(b.U, self._context(b.context), b.genetic)
                d, scale = b.dataset, self.heads.scale(b.dataset)
                own = self.module.self_term(b.U, b.genetic)
                at = (b.obs_node, b.obs_col)
                residual = b.obs_value - self.heads.offset(d, b.context)[b.obs_node]
                parts[d].append(tuple(x.cpu().numpy() for x in (scale * (pred - own)[at], scale * own[at], residual)))
        alpha = np.ones((n, 2))
        for d in range(n):
            if parts[d]:
                network, own, residual = (np.concatenate(x) for x in zip(*parts[d]))
                alpha[d] = (shrinkage_factors(network, own, residual) if self.config.causal_shrinkage == "split"
                            else shrinkage_factor(network + own, residual))
        self.heads.shrink.copy_(torch.as_tensor(alpha[:, 0], dtype=self.heads.shrink.dtype))
        self.heads.shrink_self.copy_(torch.as_tensor(alpha[:, 1], dtype=self.heads.shrink_self.dtype))
        return alpha

    def evaluate(self, idx: np.ndarray) -> dict[str, float]:
        """Mean loss overall and per dataset on rows ``idx`` (no gradients), and the inverse task's
        ``inverse_auroc`` (mean) and ``inverse_rank`` (median) of the rows' targets (:func:`target_ranks`),
        and ``inverse_auroc_unseen``: the mean AUROC of the targets never perturbed by a training row."""
        totals = np.zeros(len(self.infos))
        counts = np.zeros(len(self.infos))
        ranks, aurocs, nodes = [], [], []
        with torch.no_grad():
            for members in make_batches(self.rows, idx, self.config.batch_size, None):
                b = build_batch(self.rows, members, self.module.n_nodes, self.device)
                _, losses, _, values = self._batch_loss(b)
                totals[b.dataset] += float(losses.sum())
                counts[b.dataset] += len(members)
                rank, auroc = target_ranks(self._adjoint_scores(b, values), b.U)
                ranks.append(rank)
                aurocs.append(auroc)
                nodes.append(_targets(b.U)[0].cpu().numpy())
        out = {"loss": float(totals.sum() / max(counts.sum(), 1))}
        out.update({info.name: float(totals[d] / counts[d]) for d, info in enumerate(self.infos) if counts[d]})
        if ranks:
            auroc = np.concatenate(aurocs)
            unseen = ~np.isin(np.concatenate(nodes), self.train_targets)
            out.update({"inverse_auroc": float(auroc.mean()), "inverse_rank": float(np.median(np.concatenate(ranks))),
                        "inverse_auroc_unseen": float(auroc[unseen].mean()) if unseen.any() else np.nan})
        return out

    def train_epoch(self, deadline: float | None) -> dict[str, float]:
        """One pass over the training rows; stops early at ``deadline`` (time.monotonic)."""
        cfg = self.config
        sums = {"loss": 0.0, "l1": 0.0, "entropy": 0.0, "inverse": 0.0, "contrastive": 0.0}
        n = 0
        batches = make_batches(self.rows, self.train_idx, cfg.batch_size, self.rng)
        with bar(desc=f"epoch {self.epoch + 1}", total=len(batches), unit="batch") as pbar:
            for members in batches:
                b = build_batch(self.rows, members, self.module.n_nodes, self.device)
                self.optimizer.zero_grad(set_to_none=True)
                data_loss, losses, pred, values = self._batch_loss(b)
                l1 = self.module.l1_deviation()
                loss = data_loss / len(members) + cfg.l1 * l1
                ent = self.module.gate_entropy(values)
                if ent is not None:
                    loss = loss + cfg.gate_entropy * ent
                    sums["entropy"] += float(ent.detach()) * len(members)
                if cfg.inverse_loss > 0:
                    inverse = inverse_row_losses(self._adjoint_scores(b, values), b.U, cfg.inverse_temperature)
                    loss = loss + cfg.inverse_loss * inverse.mean()
                    sums["inverse"] += float(inverse.detach().sum())
                if cfg.contrastive_loss > 0 and len(members) > 1:
                    contrastive = contrastive_row_losses(pred, b, self.heads.offset(b.dataset, b.context),
                                                         cfg.contrastive_temperature)
                    loss = loss + cfg.contrastive_loss * contrastive.mean()
                    sums["contrastive"] += float(contrastive.detach().sum())
                loss.backward()
                self.optimizer.step()
                sums["loss"] += float(losses.sum())
                sums["l1"] += float(l1.detach()) * len(members)
                n += len(members)
                pbar.update(1)
                pbar.set_postfix(loss=f"{sums['loss'] / n:.4f}")
                if deadline is not None and time.monotonic() > deadline:
                    break
        return {k: v / max(n, 1) for k, v in sums.items()} | {"n_examples": n}

    def state(self) -> dict:
        """Everything needed to resume: weights, optimizer, history, best weights, counters, the fit settings."""
        return {"module": self.module.state_dict(), "heads": self.heads.state_dict(),
                "optimizer": self.optimizer.state_dict(), "history": self.history, "epoch": self.epoch,
                "best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs,
                "rng": self.rng.bit_generator.state, "config": asdict(self.config)}

    def load_state(self, state: Mapping) -> None:
        """Restore a :meth:`state` (resume from a checkpoint).

        Raises
        ------
        TwinCellError
            When the checkpoint was written with other fit settings than this trainer's (``max_epochs``,
            ``time_budget_s`` and ``patience`` may change: resuming trains on to the new limits).
        """
        saved = state.get("config")  # checkpoints written before the settings were stored carry none
        if saved is not None:
            mine = asdict(self.config)
            changed = sorted(k for k in set(saved) | set(mine)
                             if k not in RESUMABLE_CHANGES and saved.get(k) != mine.get(k))
            if changed:
                raise TwinCellError("the checkpoint was written with other fit settings: "
                                    + ", ".join(f"{k}={saved.get(k)!r} (now {mine.get(k)!r})" for k in changed),
                                    "resume with the checkpoint's settings, or delete it to start afresh")
        self.module.load_state_dict(state["module"])
        self.heads.load_state_dict(state["heads"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.history = list(state["history"])
        self.epoch = int(state["epoch"])
        self.best = state["best"]
        self.best_epoch = state.get("best_epoch")
        self.bad_epochs = int(state["bad_epochs"])
        self.rng.bit_generator.state = state["rng"]

    def fit(self, checkpoint: Path | None = None, resume: bool = False) -> pd.DataFrame:
        """Train until ``max_epochs``, early stopping or the time budget; keep the best weights.

        Parameters
        ----------
        checkpoint
            File written (atomically) after every epoch; with ``resume`` and an existing file,
            training continues from it.

        Returns
        -------
        pd.DataFrame
            One row per epoch; ``kept`` is True on the epoch whose weights were kept (by ``select_on``).
        """
        cfg = self.config
        start = time.monotonic()
        deadline = None if cfg.time_budget_s is None else start + cfg.time_budget_s
        if resume and checkpoint is not None and checkpoint.exists():
            try:
                self.load_state(torch.load(checkpoint, map_location=self.device, weights_only=False))
            except TwinCellError:
                raise
            except Exception as exc:
                raise TwinCellError(f"cannot resume from checkpoint {checkpoint}: {exc}",
                                    "delete it to start afresh, or train with the same data and settings") from exc
        else:
            self.initialise_scales()
        while self.epoch < cfg.max_epochs and self.bad_epochs < cfg.patience:  # a resumed early stop stays stopped
            t0 = time.monotonic()
            tr = self.train_epoch(deadline)
            if not np.isfinite(tr["loss"]):
                raise TwinCellError(f"training diverged in epoch {self.epoch + 1}: the training loss is {tr['loss']}",
                                    "check the training data's values (z-scores, log fold changes or rank scores; "
                                    "no raw counts), or lower the learning rate (--lr / fit(lr=...))")
            self.epoch += 1
            va = self.evaluate(self.val_idx) if len(self.val_idx) else {}
            score = self._selection_score(va, tr)
            rec = {"epoch": self.epoch, "train_loss": tr["loss"], "val_loss": va.get("loss", np.nan),
                   "l1": tr["l1"], "gate_entropy": tr["entropy"], "inverse_loss": tr["inverse"],
                   "contrastive_loss": tr["contrastive"],
                   "n_examples": tr["n_examples"],
                   "seconds": time.monotonic() - t0}
            rec.update({f"{k}_val": va.pop(k) for k in INVERSE_METRICS if k in va})
            rec.update({f"val_{k}": v for k, v in va.items() if k != "loss"})
            self.history.append(rec)
            if self.best is None or score < self.best[0] - 1e-6:
                self.best = (score, copy_state(self.module), copy_state(self.heads))
                self.best_epoch = self.epoch
                self.bad_epochs = 0
            else:
                self.bad_epochs += 1
            if checkpoint is not None:
                atomic_write(checkpoint, lambda tmp: torch.save(self.state(), tmp))
            if self.bad_epochs >= cfg.patience or (deadline is not None and time.monotonic() > deadline):
                break
        if self.best is not None:
            self.module.load_state_dict(self.best[1])
            self.heads.load_state_dict(self.best[2])
        if cfg.causal_shrinkage != "none":
            self.fit_shrinkage()
        if cfg.background_rows == "all":
            self.heads.set_background(self.rows, np.concatenate([self.train_idx, self.val_idx]))
        history = pd.DataFrame(self.history)
        if not history.empty:
            history["kept"] = history["epoch"] == self.best_epoch
        return history

    def _selection_score(self, val: dict[str, float], train: dict[str, float]) -> float:
        """The number early stopping lowers: the validation loss (the training loss without validation rows), or
        minus the validation metric of ``select_on``."""
        metric = self.config.select_on
        if metric == "loss":
            return val.get("loss", train["loss"])
        value = val.get(metric, np.nan)
        if not np.isfinite(value):
            raise TwinCellError(f"select_on={metric!r}: the validation rows give no {metric}",
                                "inverse_auroc_unseen needs validation rows whose targets no training row perturbs "
                                "(e.g. validation_split='target'); or select on inverse_auroc or the loss")
        return -value


def copy_state(module: torch.nn.Module) -> dict:
    """A detached copy of ``module``'s state dict (parameters and buffers), for ``load_state_dict`` later."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}

