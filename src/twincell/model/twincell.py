"""`TwinCell`: the user-facing model (scvi-tools style) around :class:`~twincell.model.module.TwinCellModule`.

    model = TwinCell(Interactome.default(), context_dim=registry.dim)
    model.fit([lincs, tahoe], registry)              # progress bar, early stopping, history
    model.predict({"MAP2K1": -1, "MAP2K2": -1}, "A549")   # pd.Series of expression changes
    op = model.operator("A549")                       # scipy operator for the one-pass inverse
    model.save("model/"); TwinCell.load("model/")
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from twincell import __version__
from twincell._device import torch_device
from twincell.data.perturbation import PERTURBATION_TYPES, parse_targets
from twincell.errors import ContextError, TwinCellError, UnknownGeneError, check_count, is_finite_number
from twincell.model.features import (NODE_EMBEDDINGS, edge_features, network_embedding, node_class_index,
                                     node_classes)
from twincell.model.coexpression import bundled_coexpression, sign_prior_values
from twincell.model.module import EDGE_MODELS, GATE_MODES, NORMALISATIONS, TwinCellModule, prior_sign
from twincell.model.operator import PropagationOperator
from twincell.model.training import (
    GENETIC_TYPES, DatasetHeads, DatasetInfo, FitConfig, Trainer, as_adata, as_dataset, copy_state, dataset_name,
    prepare_rows,
)
from twincell.network import Interactome

if TYPE_CHECKING:
    import anndata as ad

    from twincell.context import ContextRegistry
    from twincell.data.perturbation import PerturbationDataset

#: Chosen on TwinBench tiers 1-2 and validation loss (benchmarks/ablation_model.py, docs/model.md): in-degree
#: normalisation with damping 0.8 and K = 4, modulating gates; free per-edge parameters; no sign prior (it cost
#: 0.04 tier-2 AUROC), no class attenuation (no measurable effect) and no co-expression sign prior (co-expression
#: does not predict known signs, AUROC 0.50; tier 2 unchanged over 3 seeds). Causal shrinkage is a fit option (on).
DEFAULT_HPARAMS = {"n_hops": 4, "damping": 0.8, "gate_rank": 8, "context_gates": True, "direct_init": 0.1,
                   "learn_unknown_signs": True, "sign_prior": False, "receiver_sign": False,
                   "learn_signalling": True, "coexpression_sign": False,
                   "normalisation": "in_degree", "edge_model": "free", "correction_penalty": 10.0,
                   "gate_mode": "modulate", "gate_bound": 0.5, "class_attenuation": False, "node_embedding": "none",
                   "seed": 0}


def check_hparams(hparams: Mapping[str, object]) -> None:
    """Check TwinCell's hyper-parameter values (:data:`DEFAULT_HPARAMS` names them).

    Raises
    ------
    TwinCellError
        Naming the first value out of its range: ``n_hops`` and ``gate_rank`` whole numbers >= 1, ``seed`` >= 0,
        ``damping`` in (0, 1], ``gate_bound`` in (0, 1) (a modulating gate never closes or flips an edge),
        ``direct_init`` finite, ``correction_penalty`` >= 0, the
        switches True / False, the modes among their choices, ``node_embedding`` other than ``"none"`` only with a
        shared edge model.
    """
    for name, minimum in (("n_hops", 1), ("gate_rank", 1), ("seed", 0)):
        check_count(hparams[name], name, minimum)
    for name, allowed in (("normalisation", NORMALISATIONS), ("edge_model", EDGE_MODELS), ("gate_mode", GATE_MODES),
                          ("node_embedding", NODE_EMBEDDINGS)):
        if hparams[name] not in allowed:
            raise TwinCellError(f"{name} must be one of {allowed}, not {hparams[name]!r}")
    if hparams["node_embedding"] != "none" and hparams["edge_model"] == "free":
        raise TwinCellError(f"node_embedding={hparams['node_embedding']!r} adds edge features, which only a shared "
                            "edge model uses", "pass edge_model='shared' or 'shared_strength' with it")
    for name, ok, rule in (("damping", lambda v: 0 < v <= 1, "in (0, 1]"),
                           ("gate_bound", lambda v: 0 < v < 1, "in (0, 1)"), ("direct_init", lambda v: True, "finite"),
                           ("correction_penalty", lambda v: v >= 0, ">= 0")):
        value = hparams[name]
        if not (is_finite_number(value) and ok(value)):
            raise TwinCellError(f"{name} must be a number {rule}, got {value!r}", f"e.g. {name}={DEFAULT_HPARAMS[name]}")
    for name in ("context_gates", "learn_unknown_signs", "sign_prior", "receiver_sign", "learn_signalling",
                 "coexpression_sign", "class_attenuation"):
        if not isinstance(hparams[name], (bool, np.bool_)):
            raise TwinCellError(f"{name} must be True or False, got {hparams[name]!r}")


def coexpression_prior(interactome: Interactome, src: np.ndarray, dst: np.ndarray, sign: np.ndarray,
                       sign_prior: bool) -> np.ndarray:
    """(E,) co-expression prior sign of one layer's edges (:func:`twincell.model.coexpression.sign_prior_values`).

    Edges without co-expression data get the layer's usual prior: :func:`~twincell.model.module.prior_sign`
    with ``sign_prior``, else 0.
    """
    co = bundled_coexpression(interactome.genes[src], interactome.genes[dst])
    return sign_prior_values(co, sign, prior_sign(sign) if sign_prior else 0.0)


def context_table(contexts: ContextRegistry | Mapping[str, np.ndarray] | None) -> tuple[dict[str, np.ndarray], str | None]:
    """``(id -> vector, encoder name)`` from a ContextRegistry-like object or a plain mapping.

    Raises
    ------
    ContextError
        Another kind of object, or vectors with non-finite values (named).
    """
    if contexts is None:
        return {}, None
    if hasattr(contexts, "vector") and hasattr(contexts, "ids"):
        table = {str(i): np.asarray(contexts.vector(str(i)), dtype=np.float32) for i in contexts.ids}
        encoder = getattr(contexts, "encoder_name", None)
    elif isinstance(contexts, Mapping):
        table, encoder = {str(k): np.asarray(v, dtype=np.float32) for k, v in contexts.items()}, None
    else:
        raise ContextError(f"contexts must be a ContextRegistry or a dict of vectors, not {type(contexts).__name__}",
                           "pass ContextRegistry.default() or {context_id: np.ndarray}")
    bad = [k for k, v in table.items() if not np.isfinite(v).all()]
    if bad:
        raise ContextError(f"{len(bad)} context vector(s) hold NaN or infinite values: {', '.join(bad[:10])}",
                           "encode those contexts again (twincell context encode) or leave them out")
    return table, encoder


def _training_context(context: str, ids: Mapping[str, int]) -> int | None:
    """Index among the training contexts ``ids`` of ``context`` (exact, else the one id equal ignoring case, as
    contexts are matched everywhere); None for a context the model never trained in."""
    from twincell.context.registry import match_context_id  # lazy: the context package is heavy

    try:
        return ids[match_context_id(context, ids, "the model's training contexts")]
    except ContextError:
        return None


class TwinCell:
    """Context-gated causal signal propagation over the interactome, trained on perturbation responses.

    Parameters
    ----------
    interactome
        The network (nodes = proteins / genes; ``ppi`` edges propagate, ``tf`` edges read out).
    context_dim
        Dimension D of the context embeddings (0 for a context-free model).
    n_hops
        K, number of propagation steps (walks of length 0..K are summed).
    damping
        gamma, factor on every signalling edge (favours short paths).
    gate_rank
        Rank r of the low-rank context gate.
    context_gates
        False gives the same model with every gate fixed at 1 (context-free ablation).
    direct_init
        Prior / initial value of each gene's direct readout term.
    learn_unknown_signs
        Learn signs of unsigned edges (from their prior sign) or keep them at it.
    sign_prior
        Prior sign of unsigned edges: 0 (False: they transmit nothing until trained) or the mean of the
        layer's known signs (True, :func:`~twincell.model.module.prior_sign`).
    coexpression_sign
        Give each unsigned edge its own prior sign from the co-expression of its two genes across the
        bundled baseline profiles, calibrated on the layer's known signs
        (:mod:`twincell.model.coexpression`); edges without co-expression data keep the prior above.
    normalisation
        ``symmetric`` (``1 / sqrt(d_out(i) d_in(j))``) or ``in_degree`` (``1 / d_in(j)``: a node's state
        is a weighted mean of its inputs, so cascades keep their size).
    receiver_sign
        Unsigned edges into the same node share one learned sign logit (plus small per-edge corrections), so
        what the data teach about how a node answers its partners reaches partners never perturbed.
    learn_signalling
        False keeps the signalling edges at their prior (evidence weights, known signs) and learns only the
        readout, direct terms, gates and gains: what the learned signalling layer adds.
    edge_model
        ``free`` (one strength and sign per edge), ``shared`` (strength and sign as functions of edge
        features, :mod:`twincell.model.features`, plus per-edge corrections) or ``shared_strength`` (shared
        strengths, free per-edge signs).
    correction_penalty
        Shared edge model and receiver signs: how much harder the per-edge corrections are pulled to 0.
    gate_mode, gate_bound
        ``switch``: gates ``sigmoid(...)`` in (0, 1); ``modulate``: ``1 + gate_bound * tanh(...)``
        around 1, and no context means every gate is exactly 1.
    class_attenuation
        Learn one attenuation per class (TF, receptor, ligand, other) of the receiving node of every
        signalling edge (:func:`~twincell.model.features.node_class_index`).
    node_embedding
        ``none``, or ``network``: the shared edge model's features also hold each end's position in the interactome's
        spectral embedding and their product (:func:`~twincell.model.features.network_embedding`), so strengths and
        signs can differ between network modules.
    seed
        Seeds initialisation, the validation split and batch order.
    device
        ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, interactome: Interactome, context_dim: int = 0, *, device: str = "cpu", **hparams) -> None:
        unknown = set(hparams) - set(DEFAULT_HPARAMS)
        if unknown:
            raise TwinCellError(f"unknown TwinCell hyper-parameters {sorted(unknown)}",
                                f"use any of {sorted(DEFAULT_HPARAMS)}")
        check_count(context_dim, "context_dim", 0)
        self.interactome = interactome
        self.context_dim = int(context_dim)
        self.hparams = {**DEFAULT_HPARAMS, **hparams}
        check_hparams(self.hparams)
        self.device = torch_device(device)
        self._edge_rows: dict[str, np.ndarray] = {}
        layers = {}
        needs_classes = self.hparams["edge_model"] != "free" or self.hparams["class_attenuation"]
        classes = node_classes(interactome) if needs_classes else None
        embedding = network_embedding(interactome) if self.hparams["node_embedding"] == "network" else None
        e = interactome.edges
        edge_priors: dict[str, np.ndarray] = {}
        for layer in ("ppi", "tf"):
            rows = np.flatnonzero(interactome.layer_mask(layer))
            rows = rows[np.lexsort((interactome.src[rows], interactome.dst[rows]))]
            self._edge_rows[layer] = rows
            src, dst, w0 = interactome.src[rows], interactome.dst[rows], e["weight"].to_numpy(np.float32)[rows]
            features = (None if self.hparams["edge_model"] == "free" else
                        edge_features(src, dst, w0, e["directed"].to_numpy(bool)[rows], classes, embedding))
            layers[layer] = (src, dst, w0, e["sign"].to_numpy(np.int8)[rows], features)
            if self.hparams["coexpression_sign"]:
                edge_priors[layer] = coexpression_prior(interactome, src, dst, layers[layer][3],
                                                        self.hparams["sign_prior"])
        module_hparams = {k: v for k, v in self.hparams.items() if k not in ("coexpression_sign", "node_embedding")}
        self.module = TwinCellModule(interactome.n_nodes, layers, self.context_dim, **module_hparams,
                                     edge_priors=edge_priors,
                                     node_class=None if classes is None else node_class_index(classes)).to(self.device)
        self.heads: DatasetHeads | None = None
        self.contexts: dict[str, np.ndarray] = {}
        self.datasets: list[DatasetInfo] = []
        self.history = pd.DataFrame()
        self._operators: dict[tuple[str | None, int], PropagationOperator] = {}
        self._operators_lock = threading.Lock()
        self.metadata: dict = {"twincell_version": __version__, "torch_version": torch.__version__,
                               "interactome": interactome.fingerprint, "interactome_summary": repr(interactome),
                               "context_encoder": None, "trained": False}

    @classmethod
    def prior(cls, interactome: Interactome, **hparams) -> TwinCell:
        """The untrained, context-free model: evidence weights, known signs only, gates off.

        Used as the "TwinCell-prior" ablation. Unsigned edges transmit nothing in the prior.
        """
        return cls(interactome, 0, **{**hparams, "context_gates": False})

    # ------------------------------------------------------------------ properties
    @property
    def genes(self) -> np.ndarray:
        """(N,) node / gene names, the interactome's order."""
        return self.interactome.genes

    @property
    def gated(self) -> bool:
        """Whether edges are gated by the context."""
        return self.module.gated

    def __repr__(self) -> str:
        state = "trained on " + ", ".join(d.name for d in self.datasets) if self.datasets else "untrained"
        return (f"TwinCell({self.interactome!r}, context_dim={self.context_dim}, K={self.hparams['n_hops']}, "
                f"gates={'on' if self.gated else 'off'}, {state})")

    # ------------------------------------------------------------------ contexts
    def _context_tensor(self, context: str | np.ndarray | None) -> tuple[torch.Tensor | None, str | None]:
        """The embedding used for ``context`` (None = mean training context, and always for a model without gates) and
        a label for it. An id must be one of the model's contexts (a gate-free model without contexts takes any id) and
        a vector must have the model's context dimension, gates or not (a model of dimension 0 ignores any vector): a
        wrong one is the caller's mistake."""
        if context is None:
            return None, None
        if isinstance(context, str):
            if not self.gated and not self.contexts:
                return None, context
            from twincell.context.registry import match_context_id  # lazy: the context package is heavy

            label = match_context_id(context, self.contexts, f"the model knows {len(self.contexts)} contexts")
            vec = self.contexts[label]
        else:
            vec, label = np.asarray(context, dtype=np.float32), "<vector>"
            if (self.gated or self.context_dim) and (vec.shape != (self.context_dim,) or not np.isfinite(vec).all()):
                raise ContextError(f"a context vector must be finite with shape ({self.context_dim},), got {vec.shape}",
                                   "encode the context with the encoder the model was trained with")
        return (torch.as_tensor(vec, device=self.device) if self.gated else None), label

    # ------------------------------------------------------------------ training
    def fit(self, datasets: PerturbationDataset | ad.AnnData | Sequence[PerturbationDataset | ad.AnnData],
            contexts: ContextRegistry | Mapping[str, np.ndarray] | None = None, *, max_epochs: int = 30, batch_size: int = 128, lr: float = 0.02,
            l1: float = 1e-3, gate_entropy: float = 1e-3, validation_fraction: float = 0.1,
            validation_split: str = "perturbation", residual_loss: bool = False,
            causal_shrinkage: bool | str = "split", background_rows: str = "all", patience: int = 3,
            inverse_loss: float = 0.0, inverse_temperature: float = 3.0,
            contrastive_loss: float = 0.0, contrastive_temperature: float = 0.1, select_on: str = "loss",
            time_budget_s: float | None = None, seed: int | None = None, checkpoint: str | os.PathLike | None = None,
            resume: bool = False) -> TwinCell:
        """Fit edge strengths, learned signs, readout and context gates to perturbation responses.

        Parameters
        ----------
        datasets
            One PerturbationDataset or a list; each keeps its own loss (MSE for z-scores / log fold
            changes, correlation for rank-derived values) and scale. An AnnData in the dataset layout is
            wrapped in a PerturbationDataset, which validates it.
        contexts
            ContextRegistry (or ``{id: vector}``) holding every context of the datasets. Optional
            for a gate-free model.
        max_epochs, batch_size, lr
            Adam optimisation settings (a batch = up to ``batch_size`` examples of one dataset and context).
        l1, gate_entropy
            Weights of the prior-deviation L1 and the gate-entropy regularisers.
        validation_fraction, validation_split, patience
            Share of perturbations (``validation_split="perturbation"``) or of target genes (``"target"``)
            held out, in all their contexts, for early stopping and model selection, and the number of
            epochs without improvement before stopping.
        residual_loss
            Take the losses on the response minus each dataset's background (see
            :mod:`twincell.model.training`), so that only the causal part can lower them.
        causal_shrinkage
            After training, fit factors in [0, 1] per dataset on the causal part of :meth:`predict_dataset` by
            least squares on the validation rows (0: the background alone predicts the held-out perturbations
            best): ``"split"`` (default) one on the network part and one on the genetic self term, ``"joint"``
            (or True) one factor on the whole causal part, ``"none"`` (or False) none. Stored with the model,
            reported in ``metadata["causal_shrinkage"]`` (network part) and ``metadata["self_shrinkage"]``.
            Rankings and :meth:`operator` do not use them.
        background_rows
            ``"all"`` (default): after early stopping and the shrinkage fit, each dataset's background is its mean
            over the training and validation rows; ``"training"``: over the training rows only.
        inverse_loss, inverse_temperature
            Weight lambda (0: off, the default) and temperature tau of the auxiliary inverse loss: each
            training row's background-removed response, scored against every node by the drug operator's
            adjoint, must rank the row's own targets first in a softmax over all nodes
            (:func:`~twincell.model.training.inverse_row_losses`).
        contrastive_loss, contrastive_temperature
            Weight (0: off, the default) and temperature tau_c of the auxiliary contrastive loss: within each
            batch, every row's background-removed response must match its own perturbation's predicted causal
            response better, by cosine, than the batch's other perturbations'
            (:func:`~twincell.model.training.contrastive_row_losses`): only what differs between perturbations pays.
        select_on
            What early stopping and model selection use on the validation rows: ``loss`` (default), or the
            inverse task (the rows' targets ranked by the adjoint of their responses): ``inverse_auroc`` (mean
            AUROC) or ``inverse_auroc_unseen`` (the same over targets no training row perturbs: transfer).
        time_budget_s
            Stop after this many seconds (the best weights so far are kept).
        seed
            Overrides the model's seed for the split and batch order.
        checkpoint, resume
            File to checkpoint after every epoch; with ``resume`` an existing checkpoint is continued.

        Returns
        -------
        TwinCell
            self, with :attr:`history` (one row per epoch; ``kept`` marks the epoch whose weights were kept) and
            :attr:`metadata` filled in.
        """
        datasets = [as_dataset(ds) for ds in ([datasets] if not isinstance(datasets, Sequence) else datasets)]
        if not datasets:
            raise TwinCellError("no training data given", "pass at least one PerturbationDataset")
        config = FitConfig(max_epochs=max_epochs, batch_size=batch_size, lr=lr, l1=l1, gate_entropy=gate_entropy,
                           validation_fraction=validation_fraction, validation_split=validation_split,
                           residual_loss=residual_loss, causal_shrinkage=causal_shrinkage,
                           background_rows=background_rows, patience=patience,
                           inverse_loss=inverse_loss, inverse_temperature=inverse_temperature,
                           contrastive_loss=contrastive_loss, contrastive_temperature=contrastive_temperature,
                           select_on=select_on, time_budget_s=time_budget_s,
                           seed=self.hparams["seed"] if seed is None else seed)
        table, encoder = context_table(contexts)
        if self.gated and not table:
            raise ContextError("a context-gated model needs context embeddings to train",
                               "pass contexts=ContextRegistry.default() (or a dict of vectors)")
        bad = {k: v.shape for k, v in table.items() if v.shape != (self.context_dim,)}
        if self.gated and bad:
            raise ContextError(f"context vectors must have dimension {self.context_dim}; got {list(bad.items())[:5]}",
                               "build the model with context_dim = the registry's dim")
        ids = sorted(table) if table else sorted({str(c) for ds in datasets for c in as_adata(ds).obs["context"]})
        rows, infos = prepare_rows(datasets, ids, self.interactome.gene_index)
        ctx = None
        before = copy_state(self.module)  # a fit that fails leaves the model as it was (buffers included)
        try:
            if self.gated:
                mat = np.stack([table[i] for i in ids])
                used = mat[np.unique(rows.context)]
                self.module.gate.context_mean.copy_(torch.as_tensor(used.mean(0)))
                sd = used.std(0)
                self.module.gate.context_scale.copy_(torch.as_tensor(np.where(sd > 1e-6, sd, 1.0)))
                ctx = torch.as_tensor(mat, device=self.device)
            heads = DatasetHeads(infos, len(ids), self.interactome.n_nodes, len(rows.extra_genes)).to(self.device)
            trainer = Trainer(self.module, heads, rows, infos, ctx, config)
            t0 = time.monotonic()
            history = trainer.fit(None if checkpoint is None else Path(checkpoint), resume)
        except BaseException:
            with torch.no_grad():
                self.module.load_state_dict(before)
            raise
        self.heads, self.history = heads, history
        self.contexts = table
        self.datasets = infos
        self.metadata.update({
            "trained": True, "context_encoder": encoder, "fit": config.__dict__, "context_ids": list(ids),
            "datasets": [i.to_dict() for i in infos], "n_train_examples": int(len(trainer.train_idx)),
            "background_genes": [str(g) for g in rows.extra_genes],
            "n_validation_examples": int(len(trainer.val_idx)),
            "validation_perturbations": sorted(set(rows.perturbation[trainer.val_idx])),
            "reference_units": next((i.value_type + f" ({i.name})" for i in infos if i.loss == "mse"), "arbitrary"),
            "causal_shrinkage": {i.name: float(self.heads.causal_factor(d)) for d, i in enumerate(infos)},
            "self_shrinkage": {i.name: float(self.heads.self_factor(d)) for d, i in enumerate(infos)},
            "training_seconds": time.monotonic() - t0, "device": str(self.device)})
        return self

    # ------------------------------------------------------------------ prediction
    def perturbation_vector(self, perturbation: Mapping[str, float]) -> np.ndarray:
        """(N,) perturbation vector from ``{gene: signed strength}`` (+1 activate, -1 inhibit); genes as HGNC symbols
        of network nodes or any ID :meth:`~twincell.network.Interactome.node_name` maps to one (Ensembl, Entrez,
        previous symbols, any case).

        Raises
        ------
        UnknownGeneError
            Genes that are not nodes of the network (all of them are named).
        TwinCellError
            A perturbation that is not a ``{gene: strength}`` mapping, an empty one, two IDs of one gene, or strengths
            that are not finite numbers.
        """
        if not isinstance(perturbation, Mapping):
            raise TwinCellError(f"a perturbation is a {{gene: signed strength}} mapping, not a {type(perturbation).__name__}",
                                "e.g. {'MAP2K1': -1, 'MAP2K2': -1} for a MEK inhibitor")
        if not perturbation:
            raise TwinCellError("the perturbation is empty", "give at least one target, e.g. {'MAP2K1': -1}")
        given = [str(g) for g in perturbation]
        genes = [self.interactome.node_name(g) for g in given]
        unknown = [g for g, node in zip(given, genes) if node not in self.interactome.gene_index]
        if unknown:
            raise UnknownGeneError(unknown, f"{len(unknown)} perturbed gene(s) not in the model's network: "
                                            f"{', '.join(unknown[:20])}",
                                   "use HGNC symbols of network nodes (map IDs with GeneMapper)")
        twice = sorted({node for node in genes if genes.count(node) > 1})
        if twice:
            names = [g for g, node in zip(given, genes) if node == twice[0]]
            raise TwinCellError(f"{' and '.join(names)} name one gene ({twice[0]}) of the perturbation",
                                "give each perturbed gene once")
        vals = pd.to_numeric(pd.Series(list(perturbation.values()), dtype=object), errors="coerce").to_numpy(float)
        if not np.isfinite(vals).all():
            raise TwinCellError("perturbation strengths must be finite numbers", "use +1 (activate) / -1 (inhibit)")
        u = np.zeros(self.interactome.n_nodes)
        np.add.at(u, self.interactome.node_index(genes), vals)
        return u

    def _forward(self, U: np.ndarray, context, genetic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, B) predictions of the columns of ``U`` in reference units, and the genetic self term they include."""
        c, _ = self._context_tensor(context)
        with torch.no_grad():
            u = torch.as_tensor(U, dtype=torch.float32, device=self.device)
            g = torch.as_tensor(genetic, device=self.device)
            Y, _ = self.module(u, c, g)
            own = self.module.self_term(u, g)
        return Y.cpu().numpy().astype(np.float64), own.cpu().numpy().astype(np.float64)

    def predict(self, perturbation: Mapping[str, float], context: str | np.ndarray | None = None, *,
                perturbation_type: str = "drug") -> pd.Series:
        """Predicted expression change of every gene for one perturbation in one context.

        Parameters
        ----------
        perturbation
            ``{gene: signed strength}``, e.g. ``{"MAP2K1": -1, "MAP2K2": -1}`` for a MEK inhibitor.
        context
            Context id known to the model, a context embedding (D,), or None (mean training context).
        perturbation_type
            ``drug`` (default), ``cytokine``, or a genetic type (``overexpression``, ``knockdown``,
            ``knockout``), which adds the self term on the perturbed genes' own transcripts.

        Returns
        -------
        pd.Series
            Indexed by gene (network node order), in the reference dataset's units
            (``metadata["reference_units"]``).
        """
        if perturbation_type not in PERTURBATION_TYPES:
            raise TwinCellError(f"unknown perturbation type {perturbation_type!r}",
                                f"use one of {', '.join(PERTURBATION_TYPES)}")
        u = self.perturbation_vector(perturbation)
        y = self._forward(u[:, None], context, np.array([perturbation_type in GENETIC_TYPES]))[0][:, 0]
        return pd.Series(y, index=pd.Index(self.genes, name="gene"), name="predicted_change")

    def predict_dataset(self, dataset: PerturbationDataset | ad.AnnData, *, background: bool = True) -> np.ndarray:
        """Predictions for every example of a PerturbationDataset, aligned to its ``X``.

        For a dataset the model was trained on (same name), predictions are in that dataset's units
        (its learned scale) and, with ``background``, are its mean training response in the example's
        context plus the causal part, its network part times the dataset's causal shrinkage ``alpha_d`` and its
        genetic self term times ``alpha_self_d`` (both 1 when fitted with ``causal_shrinkage="none"``; see
        :class:`~twincell.model.training.DatasetHeads`); otherwise they
        are the causal effect in reference units. With ``background`` and a dataset the model was trained
        on, a gene outside the network gets its background alone (measured in training; NaN otherwise), and
        so does an example without a target in the network (it has no causal part). Without them, both
        get NaN.

        Parameters
        ----------
        dataset
            The examples to predict (an AnnData in the dataset layout is validated as a PerturbationDataset).
        background
            Add the dataset's background (for a dataset the model was trained on; see above).

        Returns
        -------
        np.ndarray
            (n_examples, n_genes) float64 predictions, aligned to ``dataset``'s ``X`` (NaN where there is none).
        """
        adata = as_adata(dataset)
        gi = self.interactome.gene_index
        col_node = np.array([gi.get(str(g), -1) for g in adata.var_names])
        n = self.interactome.n_nodes
        extra = {g: n + k for k, g in enumerate(self.metadata.get("background_genes", []))}
        col_background = np.array([gi.get(str(g), extra.get(str(g), -1)) for g in adata.var_names])
        names = [d.name for d in self.datasets]
        d = names.index(dataset_name(adata, 0)) if self.heads is not None and dataset_name(adata, 0) in names else None
        ctx_ids = {c: i for i, c in enumerate(self.metadata.get("context_ids", []))}
        out = np.full(adata.shape, np.nan)
        obs = adata.obs
        for ctx, idx in obs.groupby(obs["context"].astype(str), observed=True).indices.items():
            U = np.zeros((self.interactome.n_nodes, len(idx)))
            ok = np.zeros(len(idx), bool)
            for j, i in enumerate(idx):
                for g, s in parse_targets(obs["targets"].iloc[i]).items():
                    if g in gi and s != 0:
                        U[gi[g], j] += s
                        ok[j] = True
            genetic = obs["perturbation_type"].astype(str).isin(GENETIC_TYPES).to_numpy()[idx]
            Y, own = self._forward(U, ctx, genetic)
            cols = col_node
            if d is not None:
                with torch.no_grad():
                    scale = float(self.heads.scale(d))
                    Y, own = Y * scale, own * scale
                    if background:  # (N + X, B): shrunk causal parts + background, background alone off the network
                        offset = self.heads.offset(d, _training_context(ctx, ctx_ids)).cpu().numpy().astype(np.float64)
                        Y = (float(self.heads.causal_factor(d)) * (Y - own) + float(self.heads.self_factor(d)) * own
                             + offset[:n, None])
                        Y = np.vstack([Y, np.broadcast_to(offset[n:, None], (len(offset) - n, Y.shape[1]))])
                        cols = col_background
            pred = np.where(cols[None, :] >= 0, Y[np.maximum(cols, 0)].T, np.nan)
            if cols is col_node:
                pred[~ok] = np.nan
            out[idx] = pred
        return out

    # ------------------------------------------------------------------ operator / inspection
    def operator(self, context: str | np.ndarray | None = None) -> PropagationOperator:
        """The model's linear map in one context as scipy matrices (see :class:`PropagationOperator`).

        ``operator(c).forward(u)`` equals ``predict`` of a drug perturbation ``u`` in context ``c``.
        Operators of named contexts are cached (thread-safe) until a parameter or buffer changes in place
        (training, loading weights): the key holds torch's in-place version counters. On a model without gates every
        context has the same matrices: they are built once and shared by each context's operator.
        """
        c, label = self._context_tensor(context)
        if label == "<vector>":
            return self._build_operator(c, label)
        version = sum(t._version for t in (*self.module.parameters(), *self.module.buffers()))
        with self._operators_lock:
            if (label, version) not in self._operators:
                shared = (None, version) if c is None and label is not None else None
                if shared is not None and shared not in self._operators:
                    self._operators[shared] = self._build_operator(None, None)
                built = (replace(self._operators[shared], context=label) if shared is not None
                         else self._build_operator(c, label))
                self._operators = {(label, version): built,
                                   **{k: v for k, v in self._operators.items() if k[1] == version}}
            return self._operators[(label, version)]

    def _build_operator(self, c: torch.Tensor | None, label: str | None) -> PropagationOperator:
        """Scipy matrices of the model's map for context tensor ``c`` (see :meth:`operator`)."""
        n = self.interactome.n_nodes
        m = self.module
        with torch.no_grad():
            vals = m.edge_values(c)
            gain = float(torch.exp(m.log_gain))
            A_vals = vals["A"].cpu().numpy().astype(np.float64)
            T_vals = vals["T"].cpu().numpy().astype(np.float64) * gain
            direct = m.direct.cpu().numpy().astype(np.float64) * gain
        A = sp.csr_matrix((A_vals, (m.ppi.edges.dst_np, m.ppi.edges.src_np)), shape=(n, n))
        T = sp.csr_matrix((T_vals, (m.tf.edges.dst_np, m.tf.edges.src_np)), shape=(n, n))
        R = (T + sp.diags(direct)).tocsr()
        for M in (A, T, R):
            M.eliminate_zeros()
        return PropagationOperator(genes=self.genes, A=A, R=R, R0=T, n_hops=int(m.n_hops),
                                   context_free=c is None, context=label,
                                   meta={"trained": bool(self.metadata.get("trained")),
                                         "interactome": self.interactome.fingerprint, "damping": float(m.damping)})

    def edge_table(self, context: str | np.ndarray | None = None) -> pd.DataFrame:
        """Every edge with its prior and learned parameters in one context.

        Columns: ``source, target, layer, prior_weight, prior_sign, weight, sign, gate, strength``
        (``strength`` = the operator entry: signed, gated, normalised, damped for ``ppi``).
        """
        c, _ = self._context_tensor(context)
        parts = []
        with torch.no_grad():
            vals = self.module.edge_values(c)
            for layer, key in (("ppi", "A"), ("tf", "T")):
                lay = getattr(self.module, layer)
                rows = self._edge_rows[layer]
                e = self.interactome.edges.iloc[rows]
                gate = vals[f"gate_{layer}"]
                parts.append(pd.DataFrame({
                    "source": e["source"].to_numpy(), "target": e["target"].to_numpy(), "layer": layer,
                    "prior_weight": e["weight"].to_numpy(), "prior_sign": e["sign"].to_numpy(),
                    "weight": lay.weight().cpu().numpy(), "sign": lay.sign().cpu().numpy(),
                    "gate": 1.0 if gate is None else gate.cpu().numpy(),
                    "strength": vals[key].cpu().numpy()}))
        return pd.concat(parts, ignore_index=True)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Save weights, config, interactome, contexts, the context-free operator, history and provenance to
        ``directory`` (atomically).

        A directory holding other files than a TwinCell model is refused unless ``overwrite``.
        """
        from twincell.model.io import save_model

        return save_model(self, directory, overwrite=overwrite)

    @classmethod
    def load(cls, directory: str | os.PathLike, device: str = "cpu") -> TwinCell:
        """Load a model saved with :meth:`save`; raises ModelFileError naming what is wrong."""
        from twincell.model.io import load_model

        return load_model(directory, device=device)

    def to(self, device: str) -> TwinCell:
        """Move the model to ``device`` (``cpu`` / ``cuda``)."""
        self.device = torch_device(device)
        self.module.to(self.device)
        if self.heads is not None:
            self.heads.to(self.device)
        return self
