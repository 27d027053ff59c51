r"""The inverse head: a conditional-logit ranking of candidate targets, learned from perturbations.

For a signature :math:`d` and every candidate network gene :math:`i`,

.. math:: P(\text{target} = i \mid d) = \operatorname{softmax}_i(w \cdot f_i(d)),

with a handful of shared weights :math:`w` over per-(gene, signature) features :math:`f_i(d)`, each
standardised over the candidates within its signature (mean 0, sd 1):

* signature-aware (:data:`SIGNATURE_FEATURES`): ``adjoint`` = log |plain adjoint score| of the operator,
  ``propagation`` = log random-walk-with-restart visiting probability from the signature's |change|
  (:mod:`twincell.network.propagation`), ``footprint`` = log |footprint score|
  (:meth:`twincell.identify.null.Footprint.scores`);
* disease-blind (:data:`PRIOR_FEATURES`, the ``prior`` variant only): ``degree`` = log(1 + PPI degree),
  ``is_tf`` = has transcription-factor targets, ``hubness`` = log of the node's mean |plain adjoint score|
  over the fitting signatures.

The weights are fitted by maximum likelihood on perturbations with known targets (a row with several
network targets contributes the mean log-probability of its targets; the perturbation's sign is
irrelevant for ranking) with a small L2 penalty (:func:`fit_weights`, convex, scipy L-BFGS). The ranking
score is the linear predictor :math:`w \cdot f_i`; the direction is the sign of the plain adjoint score.
Logs are taken of ``|x| + eps`` with ``eps`` = 1e-3 x the signature's median non-zero |x|, so that genes
the signature cannot reach rank last without dominating the standardisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from twincell.data.perturbation import PerturbationDataset
from twincell.errors import TwinCellError
from twincell.identify.inverse import footprint_matrices, ranking_setup
from twincell.identify.null import Footprint
from twincell.model import TwinCell
from twincell.model.training import GENETIC_TYPES
from twincell.network import Interactome
from twincell.network.propagation import random_walk_with_restart, walk_transition

SIGNATURE_FEATURES: tuple[str, ...] = ("adjoint", "propagation", "footprint")
PRIOR_FEATURES: tuple[str, ...] = ("degree", "is_tf", "hubness")
#: Relative floor of the log transform: eps = LOG_FLOOR x the column's median non-zero |x|.
LOG_FLOOR = 1e-3
#: Fewest measured genes a fitting response needs (as tier 2's cases).
MIN_MEASURED = 10


def log_magnitude(X: np.ndarray) -> np.ndarray:
    """``log(|X| + eps)`` per column, ``eps`` = :data:`LOG_FLOOR` x the column's median non-zero ``|X|``
    (1 for an all-zero column); (N, B) in, (N, B) out."""
    A = np.abs(np.asarray(X, dtype=float))
    eps = np.array([LOG_FLOOR * np.median(col[col > 0]) if (col > 0).any() else 1.0 for col in A.T])
    return np.log(A + eps)


def standardise(F: np.ndarray) -> np.ndarray:
    """Each (signature, feature) slice of ``F`` (B, N, p) centred and scaled to sd 1 over the N candidates
    (a constant slice becomes 0)."""
    sd = F.std(axis=1, keepdims=True)
    return (F - F.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0)


def _target_means(F: np.ndarray, targets: Sequence[np.ndarray]) -> np.ndarray:
    """(B, p) mean feature vector of each row's targets."""
    return np.stack([F[b, t].mean(axis=0) for b, t in enumerate(targets)])


def fit_weights(F: np.ndarray, targets: Sequence[np.ndarray], l2: float = 1e-2) -> np.ndarray:
    """Maximum-likelihood weights of the conditional logit ``softmax_i(F[b] @ w)`` with an L2 penalty.

    Parameters
    ----------
    F
        (B, N, p) features of N candidates for B fitting signatures (standardised within each signature).
    targets
        B integer arrays: the candidate indices of each signature's true targets (at least one each).
    l2
        Penalty ``l2 * |w|^2`` added to the mean negative log-likelihood.

    Returns
    -------
    np.ndarray
        (p,) weights minimising ``-mean_b mean_{t in targets_b} log softmax(F[b] @ w)_t + l2 |w|^2``.

    Raises
    ------
    TwinCellError
        If there is no fitting row, a row has no target, or ``F`` holds NaN or infinite values.
    """
    if len(targets) == 0 or len(targets) != F.shape[0]:
        raise TwinCellError(f"the inverse head got {F.shape[0]} feature rows and {len(targets)} target lists",
                            "fit it on at least one perturbation with a known network target")
    if any(len(t) == 0 for t in targets):
        raise TwinCellError("a fitting row of the inverse head has no network target",
                            "drop perturbations whose targets are not network genes before fitting")
    if not np.isfinite(F).all():
        raise TwinCellError("the inverse head's features hold NaN or infinite values",
                            "check the signatures: every fitting and scoring signature needs finite values")
    Ft = _target_means(F, targets)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        eta = F @ w
        p = softmax(eta, axis=1)
        nll = float(np.mean(logsumexp(eta, axis=1) - Ft @ w)) + l2 * float(w @ w)
        grad = np.einsum("bn,bnp->p", p, F) / len(F) - Ft.mean(axis=0) + 2 * l2 * w
        return nll, grad

    result = minimize(loss, np.zeros(F.shape[2]), jac=True, method="L-BFGS-B")
    return result.x


@dataclass(frozen=True)
class HeadInputs:
    """What the head's features need from one operator and its network, built once per operator.

    Attributes
    ----------
    operator
        The propagation operator (``adjoint`` of (N, B) desired changes).
    footprint
        Its footprint matrices (:func:`twincell.identify.inverse.footprint_matrices`).
    transition
        (N, N) random-walk transition matrix of the network (:func:`walk_transition`).
    degree, is_tf
        (N,) log(1 + PPI degree) and 1.0 for nodes with transcription-factor targets, else 0.0.
    """

    operator: object
    footprint: Footprint
    transition: sp.csr_matrix
    degree: np.ndarray
    is_tf: np.ndarray

    @classmethod
    def of(cls, operator: object, network: Interactome, footprint: Footprint | None = None) -> HeadInputs:
        """The inputs of ``operator`` over ``network`` (the operator's genes must be the network's, in order);
        ``footprint``: the operator's footprint matrices when already built.

        Raises
        ------
        TwinCellError
            If the operator's genes are not the network's.
        """
        genes = np.asarray(operator.genes).astype(str)
        if not np.array_equal(genes, np.asarray(network.genes).astype(str)):
            raise TwinCellError("the operator's genes are not the network's genes",
                                "build the inverse head from a model and the interactome it was built on")
        return cls(operator=operator, footprint=footprint or Footprint.of(operator), transition=walk_transition(network),
                   degree=np.log1p(network.degree("ppi").to_numpy(float)), is_tf=network.tf_mask.astype(float))

    def plain_scores(self, D: np.ndarray) -> np.ndarray:
        """(N, B) plain adjoint scores of the desired changes ``D`` (G, B)."""
        return np.asarray(self.operator.adjoint(D), dtype=float)

    def signature_features(self, D: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw signature-aware features and the plain adjoint scores.

        Parameters
        ----------
        D, present
            (N, B) desired changes on the operator's genes and their masks of genes in the signature.

        Returns
        -------
        features
            (B, N, 3) log-magnitudes in the order of :data:`SIGNATURE_FEATURES` (not standardised).
        plain
            (N, B) plain adjoint scores (their sign is the head's direction).
        """
        plain = self.plain_scores(D)
        walk = random_walk_with_restart(self.transition, np.abs(D))
        footprint = self.footprint.scores(D, present)
        columns = [log_magnitude(x) for x in (plain, walk, footprint)]
        return np.stack(columns, axis=2).transpose(1, 0, 2), plain


def design_matrix(inputs: HeadInputs, raw: np.ndarray, hubness: np.ndarray | None = None) -> np.ndarray:
    """(B, N, p) standardised features: the raw signature features (B, N, 3), then, when ``hubness`` (N,) is
    given, the disease-blind ones (:data:`PRIOR_FEATURES`)."""
    if hubness is not None:
        fixed = np.stack([inputs.degree, inputs.is_tf, hubness], axis=1)
        raw = np.concatenate([raw, np.broadcast_to(fixed, (raw.shape[0], *fixed.shape))], axis=2)
    return standardise(raw)


@dataclass(frozen=True)
class InverseHead:
    """A fitted inverse head: feature names, their weights and the fitting signatures' hubness.

    Attributes
    ----------
    names
        Feature names (:data:`SIGNATURE_FEATURES`, then :data:`PRIOR_FEATURES` for the prior variant).
    weights
        (p,) fitted weights, one per name (features standardised within each signature).
    hubness
        (N,) log mean |plain adjoint score| over the fitting signatures (used by the prior variant only).
    n_rows
        Number of fitting signatures.
    """

    names: tuple[str, ...]
    weights: np.ndarray
    hubness: np.ndarray
    n_rows: int

    @property
    def prior(self) -> bool:
        """Whether the disease-blind features are part of the head."""
        return len(self.names) > len(SIGNATURE_FEATURES)

    @classmethod
    def fit(cls, inputs: HeadInputs, D: np.ndarray, present: np.ndarray, targets: Sequence[np.ndarray], *,
            prior: bool = False, l2: float = 1e-2) -> InverseHead:
        """Fit the head on perturbation responses with known targets.

        Parameters
        ----------
        inputs
            The operator's :class:`HeadInputs`.
        D, present
            (N, B) observed responses on the operator's genes (either sign) and their measured-gene masks.
        targets
            B integer arrays of network node indices: each response's true targets.
        prior
            Add the disease-blind features (:data:`PRIOR_FEATURES`).
        l2
            L2 penalty of :func:`fit_weights`.

        Raises
        ------
        TwinCellError
            If the target lists are not one per response, no response has a target, or a feature is NaN
            (:func:`fit_weights`).
        """
        if not len(targets) == D.shape[1] == present.shape[1]:
            raise TwinCellError(f"{len(targets)} target lists for {D.shape[1]} responses ({present.shape[1]} masks)",
                                "give one target list (possibly empty) per response column")
        keep = [b for b, t in enumerate(targets) if len(t)]
        if not keep:
            raise TwinCellError("no fitting perturbation of the inverse head has a network target",
                                "fit it on perturbations whose targets are network genes")
        D, present = D[:, keep], present[:, keep]
        raw, plain = inputs.signature_features(D, present)
        hubness = log_magnitude(np.abs(plain).mean(axis=1, keepdims=True))[:, 0]
        F = design_matrix(inputs, raw, hubness if prior else None)
        weights = fit_weights(F, [np.asarray(targets[b], dtype=int) for b in keep], l2)
        return cls(names=SIGNATURE_FEATURES + (PRIOR_FEATURES if prior else ()), weights=weights, hubness=hubness,
                   n_rows=len(keep))

    def design(self, inputs: HeadInputs, D: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardised features (B, N, p) of the desired changes ``D`` (N, B) and their plain scores (N, B)."""
        raw, plain = inputs.signature_features(D, present)
        return design_matrix(inputs, raw, self.hubness if self.prior else None), plain

    def scores(self, inputs: HeadInputs, D: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ranking scores and directions for desired changes.

        Parameters
        ----------
        inputs
            The operator's :class:`HeadInputs` (the one the head was fitted with).
        D, present
            (N, B) desired changes on the operator's genes and their masks of genes in the signature.

        Returns
        -------
        score
            (N, B) linear predictor ``w . f_i`` (the log-odds of being the target, up to a per-signature constant).
        direction
            (N, B) sign of the plain adjoint score (+1 activate, -1 inhibit, 0 unreachable).

        Raises
        ------
        TwinCellError
            If a feature is NaN or infinite.
        """
        F, plain = self.design(inputs, D, present)
        if not np.isfinite(F).all():
            raise TwinCellError("the inverse head's features hold NaN or infinite values",
                                "every signature needs finite values on at least one network gene")
        return (F @ self.weights).T, np.sign(plain)

    def weight_table(self) -> dict[str, float]:
        """Feature name -> fitted weight."""
        return {n: float(w) for n, w in zip(self.names, self.weights)}


def head_inputs(operator: object, network: Interactome) -> HeadInputs:
    """The :class:`HeadInputs` of ``operator`` (built on the network it was made from), kept with its
    :func:`~twincell.identify.inverse.ranking_setup` so every call on the same operator shares them."""
    footprint = footprint_matrices(operator)  # outside: derived() builds one structure at a time
    return ranking_setup(operator).derived("head_inputs", lambda: HeadInputs.of(operator, network, footprint))


@dataclass(frozen=True)
class FittingRows:
    """Perturbation responses the head is fitted on, on the network's genes.

    Attributes
    ----------
    D, present
        (N, B) responses (unmeasured genes 0) and their measured-gene masks.
    targets
        B arrays of network node indices: each response's targets.
    labels
        B labels ``dataset:perturbation@context``.
    n_available
        Usable rows before subsampling to at most ``max_rows``.
    """

    D: np.ndarray
    present: np.ndarray
    targets: list[np.ndarray]
    labels: list[str]
    n_available: int


def held_out_rows(model: TwinCell, datasets: Sequence[PerturbationDataset], max_rows: int = 200,
                  seed: int = 0) -> FittingRows:
    """The rows of ``datasets`` whose responses the model's edge weights were not fitted on.

    Those are the rows of the model's validation perturbations (``model.metadata["validation_perturbations"]``,
    held out of the gradient steps in every context), restricted to their network targets that no training row
    (any other row of ``datasets``) perturbed, so that no adjoint score of a fitting target was trained towards
    its own response. A genetic perturbation's (over-expression, knock-down, knock-out) own transcripts are left out
    of its response, as tier 2's ``network_only`` view leaves them out: that change is the perturbation itself, not
    signal the network carries. Rows with no such target or fewer than :data:`MIN_MEASURED` other measured genes are
    left out, and at most ``max_rows`` are drawn at random (seeded).

    Raises
    ------
    TwinCellError
        If the model records no validation perturbations, or none of them is usable.
    """
    held = set(model.metadata.get("validation_perturbations", []))
    if not held:
        raise TwinCellError("the model records no validation perturbations to fit the inverse head on",
                            "train it with validation_fraction > 0")
    index = model.interactome.gene_index
    trained = {g for ds in datasets for i in np.flatnonzero(~ds.obs["perturbation"].isin(held).to_numpy())
               for g, s in ds.targets_of(int(i)).items() if s != 0}
    columns, masks, targets, labels = [], [], [], []
    for ds in datasets:
        rows = np.flatnonzero(ds.obs["perturbation"].isin(held).to_numpy())
        in_net = np.array([g in index for g in ds.genes])
        nodes = np.array([index[g] for g in np.asarray(ds.genes)[in_net]], dtype=int)
        X = np.asarray(ds.X[rows][:, in_net], dtype=float)
        genes = np.asarray(ds.genes)[in_net]
        for r, i in enumerate(rows):
            perturbed = ds.targets_of(int(i))
            t = [index[g] for g, s in perturbed.items() if s != 0 and g in index and g not in trained]
            values = X[r]
            measured = np.isfinite(values)
            if ds.obs["perturbation_type"].iloc[i] in GENETIC_TYPES:
                measured &= ~np.isin(genes, list(perturbed))
            if not t or measured.sum() < MIN_MEASURED:
                continue
            d, m = np.zeros(len(index)), np.zeros(len(index), bool)
            d[nodes[measured]], m[nodes[measured]] = values[measured], True
            columns.append(d)
            masks.append(m)
            targets.append(np.asarray(t, dtype=int))
            labels.append("{}:{}@{}".format(*ds.obs[["dataset", "perturbation", "context"]].iloc[i]))
    if not columns:
        raise TwinCellError("none of the model's validation perturbations has a network target that training "
                            "did not perturb", "train with a larger validation_fraction, or fit on other data")
    keep = np.arange(len(columns))
    if len(keep) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(keep), max_rows, replace=False))
    return FittingRows(D=np.column_stack([columns[k] for k in keep]), present=np.column_stack([masks[k] for k in keep]),
                       targets=[targets[k] for k in keep], labels=[labels[k] for k in keep], n_available=len(columns))
