"""TwinBench baselines: forward and inverse baselines, and the disease-blind controls.

Signature-driven baselines
    ``linear`` (ridge over gene embeddings), ``network_propagation`` (random walk with restart),
    ``neighbourhood`` (mean |change| of a gene's network neighbours), ``de`` (rank by |change|),
    ``connectivity`` (signature reversal by the measured training responses, CMap-style: no network),
    ``connectivity_drugs`` (the same reading of the bundled drug responses, the Connectivity Map's own use),
    ``connectivity_drugs_centred`` (each drug row minus its context's mean drug row) and
    ``connectivity_drugs_partners`` (that, voting for the targets' PPI partners too).
Controls that see no disease (``sees_input = False``)
    ``degree`` (hub bias), ``druggability`` (number of drugs targeting the gene), ``popular_targets``
    (number of approved indications of the gene's drugs), ``training_exposure`` (how often the default
    model's training data perturbed the gene), ``random``. Two of them also give a disease-blind
    direction (tier 3's direction metrics): ``druggability`` inhibits every gene (the majority action
    of approved drugs, a class prior), ``popular_targets`` gives each gene the action most of its drugs
    have in the drug table.
Forward only
    ``mean`` (the perturbation's mean training response: tier 1's denominator), ``mean_shrunk`` (the same shrunk
    toward the mean of all training rows by a factor fitted leaving one training context out) and the control
    ``background`` (the mean training response in the row's context, of all training rows for a new context, whatever
    the perturbation: tier 1's perturbation-blind control).

Signature-driven methods rank by |alignment|: a gene whose perturbation explains a change also
reverses it when perturbed the other way, so both directions count (as ``direction="both"`` in
:func:`twincell.identify.rank_targets`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.decomposition import PCA

from twincell.bench.exposure import default_training_exposure
from twincell.bench.methods import Method, Resources, register_method
from twincell.bench.tier2_drugs import load_drug_datasets, training_drug_rows
from twincell.data.drugs import normalize_drug_name
from twincell.data.perturbation import PerturbationDataset
from twincell.errors import TwinCellError
from twincell.network.propagation import random_walk_with_restart, symmetric_weights, walk_transition


def _filled(data: PerturbationDataset) -> np.ndarray:
    """Responses with unmeasured (NaN) entries read as no change, float64 (n_obs, n_genes)."""
    return np.nan_to_num(np.asarray(data.X, dtype=np.float64), nan=0.0)


def _sparse_rows(data: PerturbationDataset, rows: Sequence[int], genes: pd.Index, *,
                 centre_contexts: bool = False) -> sp.csr_matrix:
    """Rows ``rows`` of ``data``'s responses as a float64 sparse matrix over ``genes`` (NaN and unmeasured: 0).

    With ``centre_contexts`` each row is read minus the mean of ``rows``' rows of its context (per gene, over the
    rows that measure it), which removes what every one of them does in that context.
    """
    X = np.asarray(data.X[np.asarray(rows, dtype=np.int64)], dtype=np.float64).reshape(len(rows), -1)
    if centre_contexts and len(rows):
        frame = pd.DataFrame(X)
        contexts = data.obs["context"].astype(str).to_numpy()[np.asarray(rows, dtype=np.int64)]
        X = (frame - frame.groupby(contexts).transform("mean").fillna(0.0)).to_numpy()
    r, c = np.nonzero(np.nan_to_num(X))
    cols = genes.get_indexer(pd.Index(data.genes).astype(str))
    return sp.csr_matrix((X[r, c], (r, cols[c])), shape=(len(rows), len(genes)))


def _require_fitted(method: Method, attr: str) -> None:
    if getattr(method, attr, None) is None:
        raise TwinCellError(f"method {method.name!r} is not fitted", "call fit(train) first")


# --------------------------------------------------------------------------- forward baselines
def _mean_responses(X: np.ndarray, genes: pd.Index, perturbations: np.ndarray) -> tuple[pd.Series, pd.DataFrame]:
    """Mean response over all rows of ``X`` (n_rows, n_genes) and per perturbation name (perturbations x genes).

    NaN-aware: unmeasured entries are left out of each mean; a gene no row measured is 0.
    """
    frame = pd.DataFrame(X, columns=genes)
    return frame.mean(axis=0).fillna(0.0), frame.groupby(perturbations).mean().fillna(0.0)


def context_transfer_factor(data: PerturbationDataset) -> tuple[float, int]:
    r"""Least-squares factor by which a perturbation's mean response in other contexts carries to a new context.

    Each context :math:`c` of ``data`` is left out in turn; its rows :math:`y` whose perturbation :math:`p` the other
    contexts also measured are predicted as :math:`o + a (m_p - o)`, with :math:`m_p` the perturbation's mean and
    :math:`o` the mean of all rows over the other contexts. :math:`a` minimises the squared error over every such
    row and measured gene, clipped to [0, 1] (0: the perturbation-blind mean transfers best, 1: the plain
    per-perturbation mean).

    Returns
    -------
    (float, int)
        The factor (1.0 when no perturbation was measured in two contexts: nothing to fit) and the number of rows
        it was fitted on.
    """
    X = np.asarray(data.X, dtype=np.float64)
    contexts = data.obs["context"].astype(str).to_numpy()
    perturbations = data.obs["perturbation"].astype(str).to_numpy()
    num = den = 0.0
    n_rows = 0
    for context in np.unique(contexts):
        inside = contexts == context
        overall, per = _mean_responses(X[~inside], data.genes, perturbations[~inside])
        rows = np.flatnonzero(inside & np.isin(perturbations, per.index))
        if not len(rows):
            continue
        shift = per.loc[perturbations[rows]].to_numpy() - overall.to_numpy()
        residual = X[rows] - overall.to_numpy()
        measured = np.isfinite(residual)
        num += float((shift * residual)[measured].sum())
        den += float((shift**2)[measured].sum())
        n_rows += len(rows)
    return (float(np.clip(num / den, 0.0, 1.0)) if den > 0 else 1.0), n_rows


@register_method
class MeanResponse(Method):
    """Predicts the perturbation's mean training response, or the mean over all training rows if unseen.

    Attributes
    ----------
    group_by
        The ``obs`` column whose value a row's prediction is the training mean of (``perturbation`` here).
    overall, per_group
        After :meth:`fit`: the mean over all training rows (genes) and per value of ``group_by`` (values x genes).
    """

    name = "mean"
    description = "Mean training response of the same perturbation (other contexts); global mean if unseen"
    reference = "the mean baseline of Ahlmann-Eltze et al. 2024 / Csendes et al. 2025"
    needs_training = True
    ranks_targets = False
    predicts_response = True
    group_by: ClassVar[str] = "perturbation"

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.per_group: pd.DataFrame | None = None
        self.overall: pd.Series | None = None

    @property
    def is_fitted(self) -> bool:
        """True once :meth:`fit` ran."""
        return self.overall is not None

    def fit(self, train: PerturbationDataset) -> MeanResponse:
        """Average the training responses per ``group_by`` value and overall (NaN-aware; never-measured genes are 0)."""
        self.overall, self.per_group = _mean_responses(np.asarray(train.X, dtype=np.float64), train.genes,
                                                       train.obs[self.group_by].astype(str).to_numpy())
        return self

    def predict_response(self, data: PerturbationDataset) -> pd.DataFrame:
        """Per-row prediction over ``data.genes`` (genes unseen in training: 0)."""
        _require_fitted(self, "overall")
        table = self.per_group.reindex(columns=data.genes, fill_value=0.0)
        overall = self.overall.reindex(data.genes, fill_value=0.0)
        rows = [table.loc[p].to_numpy() if p in table.index else overall.to_numpy()
                for p in data.obs[self.group_by].astype(str)]
        return pd.DataFrame(np.vstack(rows), columns=data.genes)


@register_method
class ShrunkMeanResponse(MeanResponse):
    r"""The perturbation's mean training response shrunk toward the mean of all training rows.

    Prediction :math:`o + a (m_p - o)` for a perturbation :math:`p` seen in training (:math:`m_p` its mean training
    response, :math:`o` the mean of all training rows), :math:`o` for an unseen one; the factor :math:`a` in [0, 1]
    is fitted on the training rows alone, leaving one training context out at a time
    (:func:`context_transfer_factor`): how much of a perturbation's response in some contexts carries to another.
    With one training context (or no perturbation measured in two) :math:`a = 1`, the plain ``mean``.
    """

    name = "mean_shrunk"
    description = ("Mean training response of the same perturbation, shrunk toward the mean of all training rows "
                   "by a factor fitted leaving one training context out")
    reference = "empirical-Bayes shrinkage of the mean baseline (James & Stein 1961), fitted by cross-validation"

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.factor: float | None = None
        self.n_factor_rows = 0

    def fit(self, train: PerturbationDataset) -> ShrunkMeanResponse:
        """Average the training responses, then fit the shrinkage factor (:attr:`factor`, fitted on
        :attr:`n_factor_rows` rows)."""
        super().fit(train)
        self.factor, self.n_factor_rows = context_transfer_factor(train)
        return self

    def predict_response(self, data: PerturbationDataset) -> pd.DataFrame:
        """Per-row prediction over ``data.genes`` (genes unseen in training: 0)."""
        _require_fitted(self, "factor")
        overall = self.overall.reindex(data.genes, fill_value=0.0).to_numpy()
        return overall + self.factor * (super().predict_response(data) - overall)


@register_method
class Background(MeanResponse):
    """Control: the mean training response in the row's context (of all training rows for a new context), whatever
    the perturbation: what TwinCell predicts with its causal part shrunk to nothing (its background)."""

    name = "background"
    description = ("Mean training response in the row's context (all training rows for a new context), whatever the "
                   "perturbation: tier 1's perturbation-blind control")
    reference = "the perturbation-blind control of the mean baseline; TwinCell's background"
    sees_input = False
    group_by = "context"


@register_method
class LinearRidge(Method):
    r"""Ridge regression from perturbation to response over gene embeddings (Ahlmann-Eltze et al.).

    With training responses :math:`Y` (examples x genes), gene embeddings :math:`G` (genes x K, the
    top K principal components of the genes' response profiles) and a perturbation embedding
    :math:`p_i = \sum_{t} s_t G_t` over the perturbation's targets :math:`t` with known sign
    :math:`s_t`, the model is :math:`y_i = G W p_i + b` with :math:`b` the mean response and

    .. math:: W = (G^T G + \lambda I)^{-1} G^T (Y - b)^T P (P^T P + \lambda I)^{-1}.

    The inverse score of candidate :math:`g` for a signature :math:`d` is
    :math:`|G_g W^T G^T d|`, its predicted response's alignment with :math:`d`; only genes measured
    in training have an embedding, the others rank last.
    """

    name = "linear"
    description = "Ridge from perturbation to response over training-data gene embeddings (PCA, K=10)"
    reference = "Ahlmann-Eltze, Huber & Anders 2024/2025, Nature Methods"
    needs_training = True
    predicts_response = True
    n_components = 10
    ridge = 0.1

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.gene_embedding: pd.DataFrame | None = None
        self.W: np.ndarray | None = None
        self.b: pd.Series | None = None

    def _perturbation_embedding(self, targets: dict[str, int]) -> np.ndarray:
        emb = np.zeros(self.gene_embedding.shape[1])
        for gene, sign in targets.items():
            if sign != 0 and gene in self.gene_embedding.index:
                emb += sign * self.gene_embedding.loc[gene].to_numpy()
        return emb

    @property
    def is_fitted(self) -> bool:
        """True once :meth:`fit` ran."""
        return self.W is not None

    def fit(self, train: PerturbationDataset) -> LinearRidge:
        """Fit gene embeddings (PCA) and the bilinear ridge map; NaN responses count as 0.

        Rows whose targets have no embedding (or no known sign) do not enter the fit.

        Raises
        ------
        TwinCellError
            If fewer than two training rows have an embedded target.
        """
        Y = _filled(train)
        self.b = pd.Series(Y.mean(axis=0), index=train.genes)
        k = min(self.n_components, *Y.shape)
        G = PCA(n_components=k, random_state=self.resources.seed).fit_transform(Y.T)
        self.gene_embedding = pd.DataFrame(G, index=train.genes)
        P = np.vstack([self._perturbation_embedding(train.targets_of(i)) for i in range(train.n_obs)])
        used = np.abs(P).sum(axis=1) > 0
        if used.sum() < 2:
            raise TwinCellError("the linear baseline found fewer than 2 training perturbations with a measured target",
                                "train on perturbations whose target genes are among the measured genes")
        P, Yc = P[used], (Y - self.b.to_numpy())[used]
        eye = self.ridge * np.eye(k)
        self.W = np.linalg.solve(G.T @ G + eye, G.T @ Yc.T @ P) @ np.linalg.inv(P.T @ P + eye)
        return self

    def predict_response(self, data: PerturbationDataset) -> pd.DataFrame:
        """Predicted change for each row of ``data`` (genes unseen in training: 0)."""
        _require_fitted(self, "W")
        P = np.vstack([self._perturbation_embedding(data.targets_of(i)) for i in range(data.n_obs)])
        pred = P @ self.W.T @ self.gene_embedding.to_numpy().T + self.b.to_numpy()
        return pd.DataFrame(pred, columns=self.gene_embedding.index).reindex(columns=data.genes, fill_value=0.0)

    def rank_targets(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """|alignment| of each embedded gene's predicted response with the signature."""
        return self.rank_targets_many([signature], context)[0]

    def rank_targets_many(self, signatures: Sequence[pd.Series], context: str | None = None) -> pd.DataFrame:
        """|alignment| for many signatures in one product (genes x signatures)."""
        _require_fitted(self, "W")
        G = self.gene_embedding.to_numpy()
        D = np.column_stack([s.reindex(self.gene_embedding.index, fill_value=0.0).to_numpy() for s in signatures])
        return pd.DataFrame(np.abs(G @ (self.W.T @ (G.T @ D))), index=self.gene_embedding.index)


# --------------------------------------------------------------------------- inverse baselines
@register_method
class Connectivity(Method):
    r"""Signature reversal by the measured training responses (the Connectivity Map's reading; no network).

    Each training row :math:`r` (response :math:`y_r`, NaN read as 0; targets :math:`t` with signs :math:`a_{rt}`,
    +1 over-expression / activation, -1 knock-down / inhibition) is scored against the desired change
    :math:`d = -s` (the signature reversed) on the signature's genes :math:`S`:
    :math:`c_r = \langle d_S, y_{r,S} \rangle / (\lVert d_S \rVert \lVert y_{r,S} \rVert)` (cosine; 0 where the
    row measures none of :math:`S`). A gene's signed score is the mean of :math:`a_{rt} c_r` over the rows that
    perturb it: positive when activating it moved cells the way the signature must move. Genes no training row
    perturbed get no score (they rank last): the reading cannot reach them. Direction: the sign.
    """

    name = "connectivity"
    description = ("Signature reversal by the training responses (cosine on the signature's genes), averaged per "
                   "perturbed gene with the perturbation's sign; no network")
    reference = "Lamb et al. 2006, Science (Connectivity Map); Subramanian et al. 2017, Cell (L1000)"
    needs_training = True
    gives_direction = True
    #: Read each training row minus the mean of the training rows of its dataset and context.
    centre_contexts: ClassVar[bool] = False
    #: A row also votes for the direct PPI partners of its targets (either direction), with its targets' signs.
    partner_votes: ClassVar[bool] = False

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.measured: pd.Index | None = None  # the training responses' genes
        self.responses: sp.csr_matrix | None = None  # (rows, genes), NaN as 0; only rows with a signed target
        self.squared: sp.csr_matrix | None = None  # the responses squared, for each row's norm on a signature's genes
        self.votes: sp.csc_matrix | None = None  # (rows, perturbed genes): a_rt / n_t
        self.perturbed: pd.Index | None = None  # the votes' genes

    @property
    def is_fitted(self) -> bool:
        """True once :meth:`fit` ran."""
        return self.responses is not None

    def fit(self, train: PerturbationDataset) -> Connectivity:
        """Keep ``train``'s responses and each perturbed gene's signed, averaging vote over its rows.

        Raises
        ------
        TwinCellError
            If no training row has a target with a known sign.
        """
        return self._keep([train])

    def _keep(self, datasets: Sequence[PerturbationDataset]) -> Connectivity:
        """Keep the rows of ``datasets`` that have a signed target (sparse, on the union of their genes) and the
        votes; with no dataset, every score is empty (nothing ranks)."""
        signed = [[{g: a for g, a in d.targets_of(i).items() if a != 0} for i in range(d.n_obs)] for d in datasets]
        parts = [(d, [i for i, t in enumerate(rows) if t]) for d, rows in zip(datasets, signed)]
        targets = [t for rows in signed for t in rows if t]
        if datasets and not targets:
            raise TwinCellError("the connectivity baseline found no training row with a target of known sign",
                                "train on perturbations whose obs['targets'] give each target a sign")
        self.measured = pd.Index(sorted({str(g) for d in datasets for g in d.genes}))
        self.responses = sp.vstack([_sparse_rows(d, rows, self.measured, centre_contexts=self.centre_contexts)
                                    for d, rows in parts] or [sp.csr_matrix((0, len(self.measured)))], format="csr")
        if self.partner_votes:
            targets = self._with_partners(targets)
        self.squared = self.responses.multiply(self.responses).tocsr()
        self.perturbed = pd.Index(sorted({g for t in targets for g in t}))
        column = {g: j for j, g in enumerate(self.perturbed)}
        entries = [(i, column[g], float(a)) for i, t in enumerate(targets) for g, a in t.items()]
        rows, cols, signs = zip(*entries) if entries else ((), (), ())
        votes = sp.csc_matrix((signs, (rows, cols)), shape=(len(targets), len(self.perturbed)))
        n_rows = np.maximum(np.asarray(abs(votes).sum(axis=0)).ravel(), 1.0)
        self.votes = (votes @ sp.diags(1.0 / n_rows)).tocsc()  # the mean over each gene's rows
        return self

    def _with_partners(self, targets: list[dict[str, int]]) -> list[dict[str, int]]:
        """Each row's votes: its targets and their direct PPI partners, each with the sign of the summed actions of
        the row's targets it is or neighbours (a gene where they cancel gets no vote from the row)."""
        network = self.resources.network
        ppi = symmetric_weights(network, "ppi")
        reach: dict[str, list[str]] = {}
        for gene in {g for t in targets for g in t}:
            partners = network.genes[ppi[network.gene_index[gene]].indices] if gene in network.gene_index else []
            reach[gene] = [gene] + [str(g) for g in partners if g != gene]
        voted = []
        for t in targets:
            total: dict[str, int] = {}
            for gene, action in t.items():
                for g in reach[gene]:
                    total[g] = total.get(g, 0) + action
            voted.append({g: int(np.sign(a)) for g, a in total.items() if a != 0})
        return voted

    def signed_scores(self, signatures: Sequence[pd.Series]) -> pd.DataFrame:
        """Mean signed reversal :math:`\sum_r a_{rt} c_r / n_t` of every perturbed gene (genes x signatures)."""
        _require_fitted(self, "responses")
        D = -np.column_stack([s.reindex(self.measured).to_numpy(float) for s in signatures])
        on = np.isfinite(D)
        D = np.where(on, D, 0.0)
        row_norms = np.sqrt(self.squared @ on.astype(float))  # (rows, B): each row's norm on each signature's genes
        denom = row_norms * np.linalg.norm(D, axis=0)
        cosine = np.divide(self.responses @ D, denom, out=np.zeros_like(denom), where=denom > 0)
        return pd.DataFrame(self.votes.T @ cosine, index=self.perturbed)

    def rank_targets(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """|mean signed reversal| of every gene a training row perturbed."""
        return self.rank_targets_many([signature], context)[0]

    def rank_targets_many(self, signatures: Sequence[pd.Series], context: str | None = None) -> pd.DataFrame:
        """|mean signed reversal| for many signatures in one product (perturbed genes x signatures)."""
        return self.signed_scores(signatures).abs()

    def target_directions(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """Sign of the mean signed reversal: +1 activate, -1 inhibit, 0 where it is 0."""
        return np.sign(self.signed_scores([signature])[0]).astype(int)


@register_method
class ConnectivityDrugs(Connectivity):
    """:class:`Connectivity` on the bundled drug responses (Tahoe-100M lines, NeurIPS PBMC types, sci-Plex) instead of
    the tier's over-expressions: the Connectivity Map's own use, drugs whose responses reverse a signature voting for
    their DrugCentral targets (inhibitors with sign -1).

    It trains on the rows of ``resources.training_drugs`` (every drug with a network target in tier 3; in tier 2 the
    training drugs of a ``--drug-test-fraction`` split, none by default, when it ranks nothing) and ignores the tier's
    training rows. Rank-derived values need no scale: the cosine has none. A case's own drugs are the answer, so it
    scores each case without their responses (:meth:`hiding_drugs`; tier 3: the disease's approved drugs).
    """

    name = "connectivity_drugs"
    trains_on_drugs = True
    description = ("Signature reversal by the bundled drug responses (cosine on the signature's genes), averaged per "
                   "DrugCentral target with the drug's action; no network")
    reference = "Lamb et al. 2006, Science (Connectivity Map); Sirota et al. 2011, Sci Transl Med"

    def fit(self, train: PerturbationDataset | None = None) -> ConnectivityDrugs:
        """Keep the training drugs' responses and votes (``train`` is not used: see the class); their rows come from
        ``resources.drug_datasets``, loaded here only when the tier passed none."""
        drugs = self.resources.training_drugs
        return self._keep(training_drug_rows(self.resources.drug_datasets or load_drug_datasets(), drugs,
                                             self.resources.held_out_genes) if drugs else [])

    def hiding_drugs(self, drugs: Collection[str]) -> Method:
        """The method refitted without the responses of the training drugs that ``drugs`` name: the same drugs the
        drug-table controls hide (:meth:`~twincell.data.drugs.DrugTargets.same_drug_ids`: salt forms and other names
        of one drug), and, for drugs the table lacks, the same parent name. ``self`` when it profiles none of them."""
        table = self.resources.drugs
        ids, parents = table.same_drug_ids(drugs), {normalize_drug_name(n) for n in drugs}
        hidden = {d for d in self.resources.training_drugs
                  if normalize_drug_name(d) in parents or table.same_drug_ids([d]) & ids}
        if not hidden:
            return self
        return type(self)(replace(self.resources, training_drugs=self.resources.training_drugs - hidden)).fit()


@register_method
class ConnectivityDrugsCentred(ConnectivityDrugs):
    """:class:`ConnectivityDrugs` with each training drug row read minus the mean of the training drug rows of its
    dataset and context: what any drug does in a cell line no longer makes every drug of that line resemble a case
    (the twenty-second round; the case is read as given)."""

    name = "connectivity_drugs_centred"
    description = ("connectivity_drugs with each training drug row minus its dataset and context's mean training "
                   "drug row")
    centre_contexts = True
    in_default_run = False


@register_method
class ConnectivityDrugsPartners(ConnectivityDrugsCentred):
    """:class:`ConnectivityDrugsCentred` whose drug rows vote for their targets and the targets' direct PPI partners
    (the twenty-second round): a drug's response resembles those of drugs whose targets are partners of its own
    (``benchmarks/eval_neighbour_transfer.py``), so training drugs can name a held-out drug's targets through theirs."""

    name = "connectivity_drugs_partners"
    description = ("connectivity_drugs_centred whose drugs vote for their targets and the targets' direct PPI "
                   "partners")
    reference = "after Lamb et al. 2006 (Connectivity Map) and Woo et al. 2015 (DeMAND: a target's neighbourhood)"
    partner_votes = True


@register_method
class DifferentialExpression(Method):
    """Ranks the signature's own genes by |change|; genes outside the signature rank last."""

    name = "de"
    description = "Rank genes by |logFC| in the signature itself"
    reference = "standard practice"

    def rank_targets(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """|change| of each signature gene."""
        return signature.abs()


@register_method
class NetworkPropagation(Method):
    r"""Random walk with restart (personalised PageRank) from the signature genes
    (:func:`twincell.network.propagation.random_walk_with_restart`).

    On the symmetrised, evidence-weighted interactome with column-stochastic transition matrix
    :math:`T`, the stationary visiting probability solves :math:`p = (1 - r) T p + r s`, where the
    restart vector :math:`s` holds the signature genes' |change| (normalised to sum 1) and
    :math:`r` is the restart probability. Solved by power iteration.
    """

    name = "network_propagation"
    description = "Random walk with restart (r=0.5) from the signature genes over the interactome"
    reference = "Köhler et al. 2008, Am J Hum Genet; Cowen et al. 2017, Nat Rev Genet"
    restart = 0.5
    tol = 1e-10
    max_iter = 200

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.transition = walk_transition(resources.network)
        self.genes = pd.Index(resources.network.genes)

    def rank_targets(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """Visiting probability of every network gene (seeds: the signature genes in the network).

        Raises
        ------
        TwinCellError
            If no signature gene with a non-zero change is in the network.
        """
        return self.rank_targets_many([signature], context)[0]

    def rank_targets_many(self, signatures: Sequence[pd.Series], context: str | None = None) -> pd.DataFrame:
        """Visiting probabilities for many signatures, one power iteration over all of them (genes x signatures).

        Raises
        ------
        TwinCellError
            Naming a signature without a changed gene in the network.
        """
        seeds = np.column_stack([s.abs().reindex(self.genes, fill_value=0.0).to_numpy() for s in signatures])
        total = seeds.sum(axis=0)
        if (total == 0).any():
            name = signatures[int(np.argmax(total == 0))].name
            raise TwinCellError(f"no changed gene of signature {name!r} is in the network",
                                "network propagation needs seed genes that are network nodes")
        P = random_walk_with_restart(self.transition, seeds, self.restart, self.tol, self.max_iter)
        return pd.DataFrame(P, index=self.genes)


@register_method
class Neighbourhood(Method):
    r"""Mean |change| of a gene's network neighbours that the signature measures: a one-hop, local reading.

    On the same symmetrised, evidence-weighted interactome the random walk uses (:math:`W = \max(A, A^T)`, both
    layers), gene :math:`i` scores :math:`\sum_j W_{ij} |d_j| / \sum_j W_{ij} m_j`, where :math:`m_j = 1` for the
    signature's genes (measured, any change) and :math:`d_j` is the change (0 off the signature); its own change does
    not count, and a gene with no measured neighbour scores 0. Unlike ``network_propagation`` it keeps no restart
    mass at the signature genes themselves and looks one hop away: a drug target whose interaction partners'
    transcripts change (feedback on the target's pathway) ranks high although its own transcript may not change, the
    idea behind neighbourhood-based mechanism-of-action methods such as DeMAND (which scores the dysregulation of
    the target's interactions over many samples; this is the one-signature analogue).
    """

    name = "neighbourhood"
    description = "Mean |change| of the gene's network neighbours measured in the signature (one hop, self excluded)"
    reference = "after Woo et al. 2015, Cell (DeMAND: a drug target's network neighbourhood)"

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        weights = symmetric_weights(resources.network)
        weights.setdiag(0)
        weights.eliminate_zeros()
        self.weights = weights
        self.genes = pd.Index(resources.network.genes)

    def rank_targets(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """Weighted mean |change| over each network gene's measured neighbours (0 without one).

        Raises
        ------
        TwinCellError
            If no signature gene is in the network.
        """
        return pd.Series(self.neighbour_mean(signature), index=self.genes)

    def neighbour_mean(self, signature: pd.Series, signed: bool = False) -> np.ndarray:
        """(N,) weighted mean over each network gene's measured neighbours of their |change| (of their signed change
        with ``signed``), in the network's gene order; 0 for a gene with no measured neighbour.

        Raises
        ------
        TwinCellError
            If no signature gene is in the network.
        """
        change = signature.reindex(self.genes)
        measured = change.notna().to_numpy()
        if not measured.any():
            raise TwinCellError(f"no gene of signature {signature.name!r} is in the network",
                                "the neighbourhood baseline needs signature genes that are network nodes")
        values = change.fillna(0.0).to_numpy(float)
        total = self.weights @ (values if signed else np.abs(values))
        weight = self.weights @ measured.astype(float)
        return np.divide(total, weight, out=np.zeros_like(total), where=weight > 0)


# --------------------------------------------------------------------------- controls that see no disease
class _FixedScores(Method):
    """A control that ignores its input: one score (and, with ``gives_direction``, one direction) per gene."""

    sees_input = False

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.scores = self.fixed_scores(resources).astype(float)
        self.directions = self.fixed_directions(resources).astype(int) if self.gives_direction else None

    def fixed_scores(self, resources: Resources) -> pd.Series:
        """Gene -> score, the same for every signature."""
        raise NotImplementedError

    def fixed_directions(self, resources: Resources) -> pd.Series:
        """Gene -> direction (+1 activate / -1 inhibit) over the network's genes, the same for every signature.

        Only controls with ``gives_direction`` implement it.
        """
        raise NotImplementedError

    def target_directions(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """The fixed directions, whatever the signature (a control without directions raises as :class:`Method`)."""
        if self.directions is None:
            return super().target_directions(signature, context)
        return self.directions

    def rank_targets(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """The fixed scores, whatever the signature."""
        return self.scores

    def rank_targets_many(self, signatures: Sequence[pd.Series], context: str | None = None) -> pd.DataFrame:
        """The fixed scores once per signature (genes x signatures)."""
        return pd.DataFrame(np.repeat(self.scores.to_numpy()[:, None], len(signatures), axis=1), index=self.scores.index)


@register_method
class Degree(_FixedScores):
    """Ranks genes by their number of interaction partners (hub bias)."""

    name = "degree"
    description = "Input-independent control: PPI degree (hub bias)"

    def fixed_scores(self, resources: Resources) -> pd.Series:
        """PPI degree of every network gene."""
        return resources.network.degree("ppi")


@register_method
class Druggability(_FixedScores):
    """Ranks genes by how many drugs of the bundled drug table target them (0 for undrugged genes).

    Its direction is "inhibit" for every gene: the majority action of approved drugs, a class prior
    that knows neither the disease nor the gene. Scored with the case's own drugs hidden from the table
    (:meth:`~twincell.bench.methods.Method.hiding_drugs`): a held-out drug's targets, a disease's approved drugs.
    """

    name = "druggability"
    description = ("Input-independent control: is the gene a drug target (ties broken by the number of drugs); "
                   "direction: inhibit every gene")
    gives_direction = True
    reads_drug_table = True

    def fixed_scores(self, resources: Resources) -> pd.Series:
        """Number of drugs per target gene (druggable genes first, then by drug count)."""
        return resources.drugs.n_drugs_per_gene()

    def fixed_directions(self, resources: Resources) -> pd.Series:
        """-1 (inhibit) for every network gene."""
        return pd.Series(-1, index=pd.Index(resources.network.genes), name="direction")


@register_method
class PopularTargets(_FixedScores):
    """One fixed ranking for every disease: how many approved indications the gene's drugs have.

    Its direction is the action most of the gene's drugs have in the drug table (the ``sign`` column:
    agonists and activators +1, inhibitors and antagonists -1); inhibit where no drug's action is
    known or the two actions tie. What the drug table already knows about the gene, with no disease: scored with
    the case's own drugs hidden from it (:meth:`~twincell.bench.methods.Method.hiding_drugs`).
    """

    name = "popular_targets"
    description = ("Input-independent control: number of approved indications targeting the gene; "
                   "direction: the action most of its drugs have")
    gives_direction = True
    reads_drug_table = True

    def fixed_scores(self, resources: Resources) -> pd.Series:
        """Indication count per target gene."""
        return resources.drugs.indication_counts_per_gene()

    def fixed_directions(self, resources: Resources) -> pd.Series:
        """+1 for network genes with more activating than inhibiting drugs (distinct drugs per sign), else -1."""
        table = resources.drugs.table
        per_sign = table[table["sign"] != 0].groupby(["gene", "sign"])["drug_id"].nunique().unstack(fill_value=0)
        per_sign = per_sign.reindex(columns=[-1, 1], fill_value=0)
        activated = per_sign.index[per_sign[1] > per_sign[-1]]
        genes = pd.Index(resources.network.genes)
        return pd.Series(np.where(genes.isin(activated), 1, -1), index=genes, name="direction")


@register_method
class TrainingExposure(_FixedScores):
    """How often the training data perturbed the gene (a drug's target or a perturbed gene).

    The training data are those of the model under test: the default model's in tier 3, the split's
    training part in tiers 1-2 (``resources.training_exposure``). A method that merely remembers its
    training perturbations scores like this control; genes never perturbed share the lowest score.
    """

    name = "training_exposure"
    description = "Input-independent control: times the gene was a perturbation target in the training data"

    def fixed_scores(self, resources: Resources) -> pd.Series:
        """Training perturbations per gene (``resources.training_exposure``, default the default model's data)."""
        counts = resources.training_exposure
        return default_training_exposure() if counts is None else counts


@register_method
class RandomRanking(Method):
    """A fresh uniformly random ranking for every call (seeded once per instance)."""

    name = "random"
    description = "Input-independent control: uniformly random scores"
    sees_input = False

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.rng = np.random.default_rng(resources.seed)

    def rank_targets(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """Uniform random score per network gene."""
        genes = self.resources.network.genes
        return pd.Series(self.rng.random(len(genes)), index=genes)
