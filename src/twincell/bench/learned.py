"""TwinCell under TwinBench: the trained model, its untrained prior and a random-sign prior.

All rank with the adjoint scores of :func:`~twincell.identify.rank_targets` (``direction="both"``,
desired change = the reversed signature) on the model's operator, which the model caches per
context; many signatures go through one batched adjoint (``PropagationOperator.adjoint`` of an
(N, B) matrix). The sign of a gene's adjoint score is its direction (+1 activate, -1 inhibit).

* ``twincell_prior`` is the ablation: the untrained network (evidence weights, known signs, no
  learning, no context); its unsigned edges (97.7 % of PPI edges) transmit nothing.
* ``twincell_calibrated`` ranks with the same trained model, each score calibrated against shuffles of
  the signature (``rank_targets(..., null="shuffle")``): nodes that score high for any signature stop leading.
* ``twincell_centered`` ranks with the same trained model, each alignment minus its exact expectation
  over permutations of the signature's values among its genes (``rank_targets(..., null="center")``):
  one adjoint pass of the centred signature, magnitudes kept.
* ``twincell_common`` ranks with the same trained model, each signature minus its least-squares
  projection, on its own genes, onto the operator's common response directions (the top singular
  vectors of the response matrix; ``rank_targets(..., null="common")``): one adjoint pass.
* ``twincell_head`` and ``twincell_head_prior`` rank with the same trained model through an inverse head
  (:mod:`twincell.identify.head`): a conditional logit over a few standardised per-gene features (adjoint,
  network propagation, footprint; the prior variant adds degree, is-TF and hubness), fitted on the model's
  held-out perturbations.
* ``random_sign_prior`` is the same untrained network with seeded random signs (+1 / -1) on the
  unsigned PPI edges: a network that learned nothing, but whose every edge transmits.

Tier 2's ``with_own_transcript`` variant (:meth:`Method.own_transcript_variant`) adds the model's
self term of genetic perturbations (an over-expressed gene's own transcript, ``self_weight * u``),
which the drug operator leaves out.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata

from twincell._cache import cache_dir, code_key
from twincell.bench.methods import Method, Resources, register_method
from twincell.data.perturbation import PerturbationDataset
from twincell.data.training_data import DEFAULT_DATASETS, bundled_key, load_bundled
from twincell.errors import ModelFileError, TwinCellError
from twincell.identify.head import FittingRows, InverseHead, head_inputs, held_out_rows
from twincell.identify.inverse import FOOTPRINT_NULLS, common_basis, footprint_matrices, node_reach, pathway_basis
from twincell.identify.null import (Footprint, calibrate, centered_change, project_changes, reach_scaled,
                                    readout_zscores, remove_common, shuffled_changes, top_changes)
from twincell.model import TwinCell

#: tanh of this is 1.0 in float32: a learned-sign parameter set to +-SATURATED is a fixed sign.
SATURATED = 20.0
#: What to do when a method must read back the bundled training data of a model that has none recorded.
BUNDLED_MODEL_HINT = ("give --model a model trained on bundled datasets (twincell train), or leave --model out for the "
                      "default model (in Python: fit(train) first)")


def desired_changes(signatures: Sequence[pd.Series], genes: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Reversed signatures on ``genes`` (absent genes 0) and their masks of genes in each signature, both (N, B)."""
    D = np.column_stack([-s.reindex(genes, fill_value=0.0).to_numpy(float) for s in signatures])
    return D, np.column_stack([genes.isin(s.index) for s in signatures])


def bundled_training_names(model: TwinCell, reader: str, hint: str) -> list[str]:
    """Names of the bundled datasets ``model`` was trained on (``metadata["datasets"]``), so they can be read back.

    Raises
    ------
    TwinCellError
        Naming ``reader`` (who needs them) and ``hint``, if the model records none or one is not bundled.
    """
    names = [d["name"] for d in model.metadata.get("datasets", [])]
    unknown = [n for n in names if n not in DEFAULT_DATASETS]
    if not names or unknown:
        raise TwinCellError(f"{reader} cannot read back the training data of the given model "
                            f"({', '.join(unknown) or 'nothing recorded'})", hint)
    return names


def common_response_twin(model: TwinCell) -> TwinCell:
    """``model`` trained again on its training data's common responses: TwinBench's target-blind control.

    Same network, hyper-parameters, contexts and fit settings (seed included); each bundled training dataset
    the model names in ``metadata["datasets"]`` is replaced by its
    :meth:`~twincell.data.perturbation.PerturbationDataset.common_response`. Cached under
    :func:`~twincell._cache.cache_dir` by a key of the model code, the data transform and those settings, so
    the twin trains once (as long as the model itself did).

    Raises
    ------
    TwinCellError
        If ``model`` is untrained or was trained on data that are not bundled.
    """
    names = bundled_training_names(model, "the common-response twin", BUNDLED_MODEL_HINT)
    vectors = hashlib.sha1()
    for context in sorted(model.contexts):
        vectors.update(context.encode() + np.asarray(model.contexts[context], dtype=np.float32).tobytes())
    settings = {"fit": model.metadata["fit"], "datasets": {name: bundled_key(name) for name in names},
                "hparams": model.hparams, "context_dim": model.context_dim, "contexts": vectors.hexdigest(),
                "interactome": model.metadata["interactome"]}
    sources = [*sorted(Path(inspect.getfile(TwinCell)).parent.glob("*.py")), inspect.getfile(PerturbationDataset)]
    key = code_key(sources, json.dumps(settings, sort_keys=True, default=str))
    directory = cache_dir() / f"control-common-response-{key}"
    try:
        return TwinCell.load(directory)
    except ModelFileError:
        pass
    twin = TwinCell(model.interactome, model.context_dim, **model.hparams)
    twin.fit([load_bundled(n).common_response() for n in names], model.contexts or None, **model.metadata["fit"])
    twin.save(directory, overwrite=True)
    return twin


class _TwinCellRanker(Method):
    """Shared ranking and prediction of a :class:`~twincell.model.TwinCell` held in ``self.model``."""

    predicts_response = True
    gives_direction = True
    #: ``none``: raw adjoint alignment; ``shuffle``: alignment calibrated against shuffled signatures;
    #: ``center``: alignment minus its exact mean over permutations of the signature's values; ``reach``: alignment
    #: divided by the node's reach plus the median reach; ``share``: the unsigned adjoint of ``|d|`` divided so;
    #: ``blend``: the mean of the ranks by ``|alignment|`` and by the share; ``footprint``, ``footprint_max``,
    #: ``footprint_share``: the readouts' permutation z-scores (:class:`twincell.identify.null.Footprint`);
    #: ``progeny``: the alignment of the signature's projection onto PROGENy's pathway footprints; ``top``: the
    #: alignment of the signature cut to its ``n_top`` largest increases and decreases.
    null = "none"
    #: shuffles per signature when ``null == "shuffle"``.
    n_null = 50
    #: ``common`` only: number of common response directions removed, and whether each node's
    #: response is scaled to unit norm before they are computed.
    n_common = 20
    unit_columns = True
    #: ``footprint`` only: size from the unsigned propagation of ``|z|`` (sign from the signed score).
    magnitude = False
    #: ``top`` only: genes kept on each side of a signature (:func:`twincell.identify.null.top_changes`).
    n_top = 150

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.model: TwinCell | None = None
        self.own_transcript = False

    @property
    def is_fitted(self) -> bool:
        """True once a model is held (trained here or given)."""
        return self.model is not None

    def _require_model(self) -> TwinCell:
        if self.model is None:
            raise TwinCellError(f"method {self.name!r} has no model", "call fit(train) first or pass Resources(model=...)")
        return self.model

    def predict_response(self, data: PerturbationDataset) -> pd.DataFrame:
        """Model predictions over ``data.genes`` (genes outside the network, rows without a network target: 0)."""
        pred = self._require_model().predict_dataset(data)
        return pd.DataFrame(np.nan_to_num(pred, nan=0.0), columns=data.genes)

    def signed_scores(self, signatures: Sequence[pd.Series], context: str | None = None) -> pd.DataFrame:
        """Adjoint score of activating each network gene, for reversing each signature (genes x signatures).

        One batched adjoint over all signatures; positive = activate, negative = inhibit. With
        ``own_transcript`` the genetic self term ``self_weight * d`` is added. With ``null = "shuffle"``
        each signature's scores are z-scores against ``n_null`` seeded permutations of its values among
        its own genes (:func:`twincell.identify.null.calibrate`; one adjoint over 1 + ``n_null`` columns).
        With ``null = "center"`` each signature is centred on its own genes first
        (:func:`twincell.identify.null.centered_change`; still one batched adjoint over all signatures).
        With ``null = "common"`` each signature loses its projection onto the operator's ``n_common``
        common response directions on its own genes (:func:`twincell.identify.null.remove_common`); with
        ``null = "progeny"`` it is replaced by its projection onto PROGENy's 14 pathway footprints on its own genes
        (:func:`twincell.identify.null.project_changes`, :func:`twincell.identify.inverse.pathway_basis`); with
        ``null = "top"`` it keeps only its ``n_top`` largest increases and decreases
        (:func:`twincell.identify.null.top_changes`).
        With ``null = "footprint"`` the scores are :meth:`twincell.identify.null.Footprint.scores` (the own
        transcript, when added, is part of the hop-0 readout that is z-scored), with ``null = "footprint_max"``
        :meth:`twincell.identify.null.Footprint.max_path_scores` (the strongest single walk), with
        ``null = "footprint_share"`` :meth:`twincell.identify.null.Footprint.share_scores` (the mean size of the
        footprints a node reaches). With
        ``null = "reach"`` each alignment is divided by the node's reach plus the median reach
        (:func:`twincell.identify.null.reach_scaled`); with ``null = "share"`` the size is the unsigned adjoint of
        ``|d|`` (:func:`twincell.identify.null.unsigned_adjoint`) divided the same way, the sign the alignment's;
        with ``null = "blend"`` the size is the mean of the node's ranks by ``|alignment|`` and by that share.
        """
        model = self._require_model()
        op = self._operator(context)
        genes = pd.Index(op.genes.astype(str))
        D, present = desired_changes(signatures, genes)
        self_weight = float(model.module.self_weight.detach()) if self.own_transcript else 0.0
        if self.null in (*FOOTPRINT_NULLS, "footprint_share"):
            footprint = Footprint.of(op, self_weight) if self_weight else footprint_matrices(op)
            return pd.DataFrame(footprint.null_scores(self.null, D, present, self.magnitude), index=genes)
        if self.null == "center":
            D = centered_change(D, present)
        elif self.null == "common":
            D = remove_common(D, present, common_basis(op, self.n_common, self.unit_columns, self.resources.seed))
        elif self.null == "progeny":
            D = project_changes(D, present, pathway_basis(op))
        elif self.null == "top":
            D = top_changes(D, present, self.n_top)
        if self.null == "shuffle":
            columns = []
            for j in range(len(signatures)):
                Dj = np.column_stack([D[:, j], shuffled_changes(D[:, j], present[:, j], self.n_null,
                                                                self.resources.seed)])
                S = np.asarray(op.adjoint(Dj), dtype=float) + self_weight * Dj
                columns.append(calibrate(S[:, 0], S[:, 1:])[0])
            return pd.DataFrame(np.column_stack(columns), index=genes)
        S = np.asarray(op.adjoint(D), dtype=float) + self_weight * D
        if self.null == "reach":
            S = reach_scaled(S, node_reach(op))
        elif self.null in ("share", "blend"):  # the unsigned share of the node's reach on the signature's |changes|
            unsigned = footprint_matrices(op).unsigned_adjoint(np.abs(D))
            share = reach_scaled(unsigned + self_weight * np.abs(D), node_reach(op))
            size = share if self.null == "share" else (rankdata(np.abs(S), axis=0) + rankdata(share, axis=0)) / 2
            S = np.sign(S) * size
        return pd.DataFrame(S, index=genes)

    def _operator(self, context: str | None) -> object:
        """The model's operator for ``context`` (a gate-free model has one operator whatever the context:
        the model's cache is asked for that one)."""
        model = self._require_model()
        return model.operator(context if model.gated else None)

    def rank_targets(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """|adjoint score| of every network gene for reversing the signature (best direction)."""
        return self.rank_targets_many([signature], context)[0]

    def rank_targets_many(self, signatures: Sequence[pd.Series], context: str | None = None) -> pd.DataFrame:
        """|adjoint score| for many signatures through one batched adjoint (genes x signatures)."""
        return self.signed_scores(signatures, context).abs()

    def target_directions(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """Sign of the adjoint score: +1 activate, -1 inhibit, 0 for genes that cannot reach the signature."""
        return np.sign(self.signed_scores([signature], context)[0])

    def own_transcript_variant(self) -> Method:
        """A copy that adds the over-expressed gene's own transcript (the model's genetic self term)."""
        variant = copy.copy(self)
        variant.own_transcript = True
        return variant


@register_method
class TwinCellMethod(_TwinCellRanker):
    """TwinCell trained on the benchmark's training split (or the model given in the resources)."""

    name = "twincell"
    description = "TwinCell: learned signed propagation over the interactome, one-pass adjoint ranking"
    reference = "this package"
    needs_training = True
    #: fit options of this method on top of ``resources.train_options`` (a design's own settings).
    fit_options: dict = {}

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        if resources.model is not None and not isinstance(resources.model, TwinCell):
            raise TwinCellError(f"Resources.model must be a TwinCell, got {type(resources.model).__name__}",
                                "pass TwinCell.load(DIR), or no model (the method then trains its own)")
        self.model = resources.model

    def fit(self, train: PerturbationDataset) -> TwinCellMethod:
        """Train TwinCell on ``train``: context-gated with ``resources.contexts``, else context-free.

        Options (epochs, time budget) come from ``resources.train_options``. The trained model is shared
        (:func:`shared_fit`): ``twincell`` and each of its scores (``twincell_calibrated``, ``twincell_head``, ...) fitted
        on the same split with the same resources rank with one model, trained once.
        """
        self.model = shared_fit(self.resources, train, self.fit_options)
        return self


#: Training split -> the models :func:`shared_fit` trained on it, with what they were trained with (kept while the
#: split lives).
_SHARED_FITS: weakref.WeakKeyDictionary[PerturbationDataset, list[tuple[Resources, str, TwinCell]]] = \
    weakref.WeakKeyDictionary()


def shared_fit(resources: Resources, train: PerturbationDataset, fit_options: dict | None = None) -> TwinCell:
    """TwinCell trained on ``train`` with the network, contexts, seed and ``train_options`` of ``resources`` (updated
    by ``fit_options``), once.

    A second call with the same split (the same object) and resources that match (the same network and context
    objects, the same seed and options) returns the same model instead of training an identical one: a TwinBench run
    trains one TwinCell per split for ``twincell`` and all of its scores, not one per score. Models are kept while
    ``train`` lives.
    """
    merged = {**resources.train_options, **(fit_options or {})}
    options = json.dumps(merged, sort_keys=True, default=str)
    fitted = _SHARED_FITS.setdefault(train, [])
    for given, given_options, model in fitted:
        if (given.network is resources.network and given.contexts is resources.contexts
                and given.seed == resources.seed and given_options == options):
            return model
    dim = 0 if resources.contexts is None else int(resources.contexts.dim)
    model = TwinCell(resources.network, dim, seed=resources.seed).fit([train], resources.contexts, **merged)
    fitted.append((resources, options, model))
    return model


@register_method
class TwinCellJointShrinkage(TwinCellMethod):
    """Ablation of round 20: TwinCell's forward predictions as before it, one shrinkage factor on the whole causal part
    and the background averaged over the training rows only (``fit(causal_shrinkage="joint",
    background_rows="training")``; the default is ``"split"`` and ``"all"``).

    It trains its own model with ``twincell``'s seed and settings; the options differ only in steps after training, so
    its rankings are ``twincell``'s wherever training repeats (it does on the 2-core CPU: round 20's run gave identical
    training histories) and only :meth:`~twincell.model.TwinCell.predict_dataset` differs. It is scored on tier 1
    (forward prediction) and runs only when named.
    """

    name = "twincell_joint_shrinkage"
    description = "Ablation (round 20): forward predictions with one shrinkage factor, background over training rows"
    in_default_run = False
    fit_options = {"causal_shrinkage": "joint", "background_rows": "training"}


@register_method
class TwinCellCommonResponse(TwinCellMethod):
    """Control: TwinCell trained on target-blind responses.

    The same model, trained the same way on the same rows, perturbations and contexts, but every response
    replaced by its context's mean response (:meth:`~twincell.data.perturbation.PerturbationDataset.common_response`):
    the data no longer say which gene was perturbed. What ``twincell`` scores beyond this control is what it
    learned from target-specific responses. When a trained model is given (tier 3's default model), the
    control is that model's twin: its bundled training datasets' common responses, its hyper-parameters, fit
    settings and contexts (:func:`common_response_twin`, cached).
    """

    name = "twincell_common_response"
    description = "Control: TwinCell trained on target-blind responses (each row replaced by its context's mean)"

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.model = None
        self.twin_of = resources.model if isinstance(resources.model, TwinCell) else None

    @property
    def is_fitted(self) -> bool:
        """True once a model is held or a given model's twin can be trained on first use."""
        return self.model is not None or self.twin_of is not None

    def fit(self, train: PerturbationDataset) -> TwinCellCommonResponse:
        """Train as ``twincell`` does, on ``train``'s common responses."""
        return super().fit(train.common_response())

    def _require_model(self) -> TwinCell:
        if self.model is None and self.twin_of is not None:
            self.model = common_response_twin(self.twin_of)
        return super()._require_model()


class _TwinCellScore(TwinCellMethod):
    """TwinCell trained like ``twincell`` (same seed and options: the same model, :func:`shared_fit`), ranking with
    another score (its ``null``); not scored on tier 1: its forward predictions are ``twincell``'s."""

    predicts_response = False


@register_method
class TwinCellCalibrated(_TwinCellScore):
    """TwinCell with the score a signature must earn: each candidate's alignment as a z-score against
    its alignments with ``n_null`` shuffles of the signature's values among its own genes
    (``rank_targets(..., null="shuffle")``). Trained like ``twincell`` (same seed and options)."""

    name = "twincell_calibrated"
    description = "TwinCell, adjoint alignment calibrated against 50 shuffles of the signature (null='shuffle')"
    null = "shuffle"


@register_method
class TwinCellCentered(_TwinCellScore):
    """TwinCell with the part of the alignment every permutation of the signature's values shares removed:
    each candidate's alignment minus its exact expectation over permutations of the values among the
    signature's genes (``rank_targets(..., null="center")``), magnitudes kept. Trained like ``twincell``."""

    name = "twincell_centered"
    description = ("TwinCell, adjoint alignment minus its exact mean over permutations of the signature's values "
                   "(null='center')")
    null = "center"


class _FailedScoreDesign(_TwinCellScore):
    """A score design of issue 12 that failed its round's tier-2 rule (rounds 10-12, 16, 18 and 19 in docs/model.md):
    registered so its round can be rerun, but it runs only when named, so a default TwinBench run does not score it on
    tier 3."""

    in_default_run = False


@register_method
class TwinCellReach(_FailedScoreDesign):
    """TwinCell with each candidate's alignment divided by its reach over all genes plus the median reach
    (:func:`twincell.identify.null.reach_scaled`): the share of a node's influence that lands on the signature,
    so nodes that move the transcriptome for any signature stop leading. Trained like ``twincell``."""

    name = "twincell_reach"
    description = "TwinCell, adjoint alignment divided by the node's unsigned reach over all genes + the median reach"
    null = "reach"


@register_method
class TwinCellShare(_FailedScoreDesign):
    """TwinCell ranking by the share of each node's unsigned reach that lands on the signature's changed genes:
    ``unsigned_adjoint(|d|)`` divided by the node's reach plus the median reach, signed by the adjoint alignment
    (:func:`twincell.identify.null.unsigned_adjoint`, :func:`~twincell.identify.null.reach_scaled`). Which genes
    change, weighted by how much, through the learned edge strengths, as network propagation reads a case.
    Trained like ``twincell``."""

    name = "twincell_share"
    description = ("TwinCell, unsigned adjoint of |signature| over the node's reach + the median reach, "
                   "signed by the alignment")
    null = "share"


@register_method
class TwinCellBlend(_FailedScoreDesign):
    """TwinCell ranking by the mean of two ranks per node: by ``|alignment|`` (``twincell``, whose fixed ranking
    places cytokine receptors well) and by the share of its reach on the signature's changed genes
    (``twincell_share``, which reads the case), signed by the alignment. No weight to tune. Trained like ``twincell``."""

    name = "twincell_blend"
    description = "TwinCell, mean of the ranks by |adjoint alignment| and by the share score, signed by the alignment"
    null = "blend"


@register_method
class TwinCellCommon(_TwinCellScore):
    """TwinCell with the operator's common response directions removed from each signature: its
    least-squares projection, on its own genes, onto the top ``n_common`` left singular vectors of the
    response matrix (``rank_targets(..., null="common")``), then the exact adjoint. Trained like ``twincell``."""

    name = "twincell_common"
    description = ("TwinCell, adjoint of the signature minus its projection onto the operator's 20 common "
                   "response directions, unit-scaled responses (null='common')")
    null = "common"


@register_method
class TwinCellFootprint(_TwinCellScore):
    """TwinCell scored by the footprint: the readout stage's exact permutation z-score (how much the
    signature moves each TF's target footprint beyond what a shuffle of its values would), propagated
    upstream by the operator's own ``A^T`` (``rank_targets(..., null="footprint")``). Trained like ``twincell``."""

    name = "twincell_footprint"
    description = ("TwinCell, readout z-scored over permutations of the signature's values, then propagated "
                   "upstream (null='footprint')")
    null = "footprint"


@register_method
class TwinCellFootprintMax(TwinCellFootprint):
    """TwinCell scored by its strongest single walk onto a moved footprint: the readouts' exact permutation
    z-scores as in ``twincell_footprint``, but each node's size is the largest ``|A|``-product of one walk of
    at most K hops times ``|z|`` where it ends, not the sum over walks (``rank_targets(..., null="footprint_max")``).
    Trained like ``twincell``."""

    name = "twincell_footprint_max"
    description = ("TwinCell, readout z-scored over permutations of the signature's values, strongest single "
                   "walk upstream (null='footprint_max')")
    null = "footprint_max"


@register_method
class TwinCellFootprintShare(_FailedScoreDesign):
    """TwinCell scored by the mean size of the footprints a node reaches: the readouts' exact permutation z-scores as
    in ``twincell_footprint`` (signed by CollecTRI's and the learned readout's signs), their sizes carried upstream by
    ``|A|^T`` and divided by the node's reach into footprints the signature defines plus the median reach
    (:meth:`twincell.identify.null.Footprint.share_scores`); sign the footprint score's. The sixteenth round's design
    (docs/model.md): it failed its rule. Trained like ``twincell``."""

    name = "twincell_footprint_share"
    description = ("TwinCell, |A|-weighted mean size of the permutation z-scored footprints a node reaches, signed by "
                   "the footprint score")
    null = "footprint_share"


@register_method
class TwinCellProgeny(_FailedScoreDesign):
    """TwinCell scored on the part of each signature that PROGENy's 14 pathway footprints explain: its least-squares
    projection onto them on its own genes (decoupler's ``mlm`` pathway activities times the footprints;
    :func:`twincell.identify.null.project_changes`), then the exact adjoint. The ranking can read the case only
    through its 14 pathway activities. The eighteenth round's design (docs/model.md): it failed its rule, so it runs
    only when named. Trained like ``twincell``."""

    name = "twincell_progeny"
    description = "TwinCell, adjoint of the signature's projection onto PROGENy's 14 pathway footprints"
    null = "progeny"


@register_method
class TwinCellTop(_FailedScoreDesign):
    """TwinCell on each signature cut to its 150 largest increases and 150 largest decreases, the Connectivity Map's
    query (:func:`twincell.identify.null.top_changes`), then the exact adjoint: a dense signature's many small changes
    no longer add up to each node's reach. The nineteenth round's design (docs/model.md): it failed its rule, so it
    runs only when named. Trained like ``twincell``."""

    name = "twincell_top"
    description = "TwinCell, adjoint of the signature cut to its top 150 up and top 150 down genes"
    null = "top"


class _TwinCellHead(_TwinCellScore):
    """TwinCell trained like ``twincell``, ranking with an inverse head (:class:`twincell.identify.head.InverseHead`)
    fitted on the responses the model's edges were not fitted on (:func:`twincell.identify.head.held_out_rows`):
    the validation perturbations of its training split when :meth:`fit` trains it, those of the bundled training
    data when the model is given (the default model, tier 3; fitted on first use). The head is fitted and scores
    on the context-free operator of a gated model; its direction is the plain adjoint score's sign."""

    #: add the disease-blind features (degree, is-TF, hubness).
    prior = False
    #: at most this many fitting responses (seeded draw).
    max_fit_rows = 200
    #: L2 penalty on the head's weights.
    l2 = 1e-2

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.head: InverseHead | None = None
        self.fitting_rows: FittingRows | None = None

    def fit(self, train: PerturbationDataset) -> _TwinCellHead:
        """Train TwinCell on ``train`` as ``twincell`` does, then fit the head on its validation rows of ``train``."""
        super().fit(train)
        self.fit_head([train])
        return self

    def fit_head(self, datasets: Sequence[PerturbationDataset]) -> InverseHead:
        """Fit the head on the rows of ``datasets`` the model's edges were not fitted on; returns it."""
        model = self._require_model()
        rows = held_out_rows(model, datasets, self.max_fit_rows, self.resources.seed)
        inputs = head_inputs(self._operator(None), model.interactome)
        self.head = InverseHead.fit(inputs, rows.D, rows.present, rows.targets, prior=self.prior, l2=self.l2)
        self.fitting_rows = rows
        return self.head

    def _require_head(self) -> InverseHead:
        """The fitted head; a given model's head is fitted here on its bundled training data's validation rows.

        Raises
        ------
        TwinCellError
            If the model was trained on data that are not bundled (its validation rows cannot be read back).
        """
        if self.head is None:
            names = bundled_training_names(self._require_model(), f"method {self.name!r}", BUNDLED_MODEL_HINT)
            self.fit_head([load_bundled(n) for n in names])
        return self.head

    def rank_targets_many(self, signatures: Sequence[pd.Series], context: str | None = None) -> pd.DataFrame:
        """The head's linear predictor ``w . f_i`` of every network gene for each signature (genes x signatures), on the
        context-free operator whatever ``context`` is (the head was fitted there)."""
        head = self._require_head()
        op = self._operator(None)  # the head's features were fitted there (the class docstring)
        genes = pd.Index(op.genes.astype(str))
        D, present = desired_changes(signatures, genes)
        scores, _ = head.scores(head_inputs(op, self._require_model().interactome), D, present)
        return pd.DataFrame(scores, index=genes)

    def own_transcript_variant(self) -> None:
        """None: the head has no self term (tier 2's ``with_own_transcript`` variant gives it the full response)."""
        return None


@register_method
class TwinCellHead(_TwinCellHead):
    """TwinCell with the inverse head on the signature-aware features only: log |plain adjoint score|,
    log network-propagation visiting probability and log |footprint score|, standardised within each
    signature, weighted by a conditional logit fitted on held-out perturbations. Trained like ``twincell``."""

    name = "twincell_head"
    description = ("TwinCell, inverse head: conditional logit over adjoint, propagation and footprint features, "
                   "fitted on the model's held-out perturbations")


@register_method
class TwinCellHeadPrior(_TwinCellHead):
    """``twincell_head`` plus the disease-blind features: log(1 + degree), is-TF and the node's hubness
    (log mean |plain adjoint score| over the fitting signatures). Trained like ``twincell``."""

    name = "twincell_head_prior"
    description = ("TwinCell, inverse head with disease-blind features too (degree, is-TF, hubness), fitted on the "
                   "model's held-out perturbations")
    prior = True


@register_method
class TwinCellPrior(_TwinCellRanker):
    """The untrained TwinCell: evidence weights and known signs, no learning, no context."""

    name = "twincell_prior"
    description = "Ablation: the same one-pass ranking on the untrained network (evidence weights, known signs)"
    reference = "this package"

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.model = TwinCell.prior(resources.network, seed=resources.seed)


@register_method
class TwinCellPriorFootprint(TwinCellPrior):
    """The untrained TwinCell scored by the footprint (``null = "footprint"``): the readouts' permutation z-scores
    carried upstream along known-sign walks only (the prior keeps unsigned edges shut). The seventeenth round's
    ranking design (docs/model.md): it failed its rule, so it runs only when named."""

    name = "twincell_prior_footprint"
    description = ("Untrained network (known signs only), readout z-scored over permutations of the signature's "
                   "values, propagated upstream (null='footprint')")
    null = "footprint"
    predicts_response = False
    in_default_run = False


@register_method
class TwinCellKnownDirection(TwinCellMethod):
    """TwinCell's ranking with directions read along known signs: for a node with a known-sign edge into a TF whose
    footprint the signature defines, the sign of ``sum_h A_prior[h, g] z_h`` over the TFs ``h`` (the untrained prior's
    one-hop edges ``g -> h``, which carry only known signs, times the TFs' readout z-scores of the footprint score,
    :func:`twincell.identify.null.readout_zscores`; TFs = the network's CollecTRI regulators); every other node keeps
    ``twincell``'s direction. Sizes are ``twincell``'s, so every ranking equals it. The seventeenth round's direction
    design (docs/model.md): it failed its rule, so it runs only when named. Trained like ``twincell``."""

    name = "twincell_known_direction"
    description = ("TwinCell's ranking; direction from the known-sign edges into TFs times their footprints' "
                   "permutation z-scores where there are any")
    predicts_response = False
    in_default_run = False

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.prior = TwinCell.prior(resources.network, seed=resources.seed)
        network = resources.network
        self.tfs = np.isin(self.prior.operator(None).genes.astype(str), np.asarray(network.genes)[network.tf_mask])

    def signed_scores(self, signatures: Sequence[pd.Series], context: str | None = None) -> pd.DataFrame:
        """``twincell``'s scores, their signs replaced by the known-sign one-hop reading of TF footprints where it is
        not 0."""
        plain = super().signed_scores(signatures, context)
        op = self.prior.operator(None)
        footprint = footprint_matrices(op)
        genes = pd.Index(op.genes.astype(str))
        D, present = desired_changes(signatures, genes)
        z = readout_zscores(footprint.R, footprint.R_sq, D, present) * self.tfs[:, None]
        known = pd.DataFrame(footprint.A_T @ z, index=genes)
        known = known.reindex(plain.index, fill_value=0.0).to_numpy()
        return pd.DataFrame(np.abs(plain.to_numpy()) * np.where(known != 0, np.sign(known), np.sign(plain.to_numpy())),
                            index=plain.index, columns=plain.columns)


@register_method
class RandomSignPrior(_TwinCellRanker):
    """The untrained TwinCell with seeded random signs (+1 / -1) on the unsigned PPI edges.

    Evidence weights, known signs where known, no learning, no context: a network that learned
    nothing but transmits over every edge (the prior keeps unsigned edges shut). Comparing it with
    ``twincell`` separates what training learned from what merely opening the edges gives.
    """

    name = "random_sign_prior"
    description = "Control: the untrained network with seeded random signs on its unsigned PPI edges"
    reference = "this package"

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        model = TwinCell.prior(resources.network, seed=resources.seed)
        theta = model.module.ppi.theta  # one learned-sign parameter per unsigned PPI edge
        signs = np.random.default_rng(resources.seed).choice([-1.0, 1.0], size=theta.shape[0])
        with torch.no_grad():
            theta.copy_(torch.as_tensor(SATURATED * signs, dtype=theta.dtype))
        self.model = model
