"""The TwinBench method interface, the method registry and the one entry that runs a method.

Every target-identification method (TwinCell and each baseline) is a :class:`Method` subclass
registered with :func:`register_method`; :data:`METHODS` maps names to classes and
:func:`list_methods` shows them as a table (decoupler's ``dc.mt.show()`` pattern). Benchmarks never
call a method's :meth:`Method.rank_targets` directly: :func:`run_method` validates the signature once
(gene IDs through :class:`~twincell.data.genes.GeneMapper`, NaNs, emptiness), runs the method and
returns its scores over the same candidate genes for every method alike. Signatures are
:class:`twincell.data.signatures.Signature` objects (``logfc`` on HGNC symbols).
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar, TypeVar

import numpy as np
import pandas as pd

from twincell.data.drugs import DrugTargets
from twincell.data.perturbation import PerturbationDataset
from twincell.data.signatures import Signature, check_change, signature_from_series
from twincell.errors import TwinCellError, check_count
from twincell.network import Interactome


@dataclass
class Resources:
    """What methods may draw on: the interactome, the drug table, a seed and model options.

    Attributes
    ----------
    network
        The interactome; its genes are the candidate targets.
    drugs
        Drug -> target table (druggability and popularity controls, the druggable-genome universe);
        TwinBench passes :meth:`DrugTargets.universe` (DrugCentral ∪ the approved-target table).
    seed
        Seed of every random choice a method makes.
    model
        A trained model for the learned methods, when one is given instead of training in :meth:`Method.fit`.
    contexts
        Context embeddings (a ``ContextRegistry``) for context-gated training; None trains context-free.
    train_options
        Keyword options passed to the learned model's training (epochs, ...).
    training_exposure
        Gene -> number of training examples that perturbed it (the ``training_exposure`` control);
        None reads the default model's training data
        (:func:`twincell.bench.exposure.default_training_exposure`).
    held_out
        Perturbation names a tier tests on (tier 2's held-out cytokines): a method that adds bundled training
        data of its own beyond ``train`` must leave these rows out.
    held_out_genes
        Target genes a tier tests on (tier 2's held-out LINCS targets): a method that adds bundled training data of
        its own beyond ``train`` must leave out the rows that perturb them
        (:meth:`~twincell.data.perturbation.PerturbationDataset.without_targets`).
    training_drugs
        Drugs whose bundled signature rows a method may add to its training: in tier 2 its training drugs
        (:func:`twincell.bench.tier2_drugs.split_drugs`; empty unless the run holds out only part of the drugs), in
        tier 3 every drug with a network target when a method reads them (``Method.trains_on_drugs``), as the
        default model trains on every drug.
    drug_datasets
        The bundled drug-signature datasets the tier already loaded
        (:func:`twincell.bench.tier2_drugs.load_drug_datasets`), for the methods that train on ``training_drugs`` to
        take their rows from instead of loading them again; empty when the tier loaded none.
    """

    network: Interactome
    drugs: DrugTargets
    seed: int = 0
    model: object | None = None
    contexts: object | None = None
    train_options: dict = field(default_factory=dict)
    training_exposure: pd.Series | None = None
    held_out: frozenset[str] = frozenset()
    held_out_genes: frozenset[str] = frozenset()
    training_drugs: frozenset[str] = frozenset()
    drug_datasets: tuple[PerturbationDataset, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        self.seed = check_count(self.seed, "seed", 0)


class Method(ABC):
    """A target-identification method under TwinBench.

    Subclasses set the class attributes, take a :class:`Resources` in ``__init__`` and override
    :meth:`rank_targets` (every method that ranks) and, for forward models, :meth:`predict_response`.

    Attributes
    ----------
    name, description, reference
        Registry key, one-line description and literature reference.
    needs_training
        ``True`` when :meth:`fit` learns from perturbation data (otherwise it does nothing).
    sees_input
        ``False`` for the controls whose ranking ignores the signature (disease-blind priors).
    ranks_targets, predicts_response
        Which tiers the method can take part in (2 and 3 need ranking, 1 needs forward prediction).
    gives_direction
        ``True`` when :meth:`target_directions` says whether to activate or inhibit each gene.
    in_default_run
        ``False`` for a design that failed its round's rule, or awaits it, or an ablation of one (issue 12): it runs
        when named, not by default, so a default TwinBench run does not score it on tier 3.
    trains_on_drugs
        ``True`` when :meth:`fit` reads the bundled drug responses of :attr:`Resources.training_drugs` (tier 3
        then lists every drug with a network target there).
    reads_drug_table
        ``True`` when the ranking is computed from the drug table itself (:attr:`Resources.drugs`): the
        disease-blind drug controls. A tier scores such a method with the case's own drugs hidden from that table
        (:meth:`hiding_drugs`), since their target pairs are the answer.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    reference: ClassVar[str] = ""
    needs_training: ClassVar[bool] = False
    sees_input: ClassVar[bool] = True
    ranks_targets: ClassVar[bool] = True
    predicts_response: ClassVar[bool] = False
    gives_direction: ClassVar[bool] = False
    in_default_run: ClassVar[bool] = True
    trains_on_drugs: ClassVar[bool] = False
    reads_drug_table: ClassVar[bool] = False

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @property
    def is_fitted(self) -> bool:
        """Whether the method is ready to rank / predict (methods that need no training always are)."""
        return not self.needs_training

    def fit(self, train: PerturbationDataset) -> Method:
        """Learn from training perturbations (no-op for methods that need no training); returns ``self``."""
        return self

    def predict_response(self, data: PerturbationDataset) -> pd.DataFrame:
        """Predicted expression change for every row of ``data``.

        Returns
        -------
        DataFrame
            Shape (data.n_obs, n_genes), columns = ``data.genes``; a gene the method cannot predict is 0.
        """
        raise TwinCellError(f"method {self.name!r} does not predict responses", "use it for tiers 2 and 3 only")

    def rank_targets(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """Score candidate targets for a validated signature.

        Parameters
        ----------
        signature
            HGNC symbol -> observed change (a disease signature, or a perturbation's response).
        context
            Cell context id, for the methods that use one.

        Returns
        -------
        Series
            Gene -> score, higher = better target; genes left out rank last (tied).
        """
        raise TwinCellError(f"method {self.name!r} does not rank targets", "use it for tier 1 only")

    def rank_targets_many(self, signatures: Sequence[pd.Series], context: str | None = None) -> pd.DataFrame:
        """Score candidate targets for many validated signatures at once (shuffle nulls, tier 3).

        The default calls :meth:`rank_targets` once per signature; methods with a batched form
        (one sparse mat-mat instead of B mat-vecs) override it with the same scores.

        Returns
        -------
        DataFrame
            Gene x signature scores, column ``j`` = ``signatures[j]`` (columns 0..B-1); genes a
            signature left out are NaN (they rank last).
        """
        return pd.concat([self.rank_targets(s, context) for s in signatures], axis=1,
                         keys=range(len(signatures)))

    def target_directions(self, signature: pd.Series, context: str | None = None) -> pd.Series:
        """Best direction per gene for reversing the signature: +1 activate, -1 inhibit, 0 none.

        Only methods with ``gives_direction`` implement it.
        """
        raise TwinCellError(f"method {self.name!r} gives no direction", "use a method with gives_direction = True")

    def hiding_drugs(self, drugs: Collection[str]) -> Method:
        """The method as it ranks when ``drugs`` are left out of the drug table it reads.

        ``drugs`` are the answer of the case being scored (a held-out drug in tier 2, the drugs approved for the
        disease in tier 3). A method that does not rank from the drug table (``reads_drug_table`` False), or an
        empty ``drugs``, returns ``self``; otherwise a new instance on :meth:`DrugTargets.without_drugs
        <twincell.data.drugs.DrugTargets.without_drugs>` (methods that read the table need no training).
        """
        if not self.reads_drug_table or not drugs:
            return self
        return type(self)(replace(self.resources, drugs=self.resources.drugs.without_drugs(drugs)))

    def own_transcript_variant(self) -> Method | None:
        """The method with the over-expressed gene's own transcript in its model (tier 2), or None.

        None (the default) means the method has no such term: tier 2's ``with_own_transcript`` variant then ranks
        the full response (the target's transcript included) with the method itself.
        """
        return None


M = TypeVar("M", bound=type[Method])

#: Registered methods, name -> class, in registration order.
METHODS: dict[str, type[Method]] = {}


def register_method(cls: M) -> M:
    """Class decorator adding a :class:`Method` subclass to :data:`METHODS` under ``cls.name``.

    Raises
    ------
    TwinCellError
        If the class lacks a name or description, or the name is taken by another class.
    """
    for attr in ("name", "description"):
        if not getattr(cls, attr, ""):
            raise TwinCellError(f"method class {cls.__name__} has no {attr}", f"set the class attribute {attr!r}")
    if cls.name in METHODS and METHODS[cls.name] is not cls:
        raise TwinCellError(f"a method named {cls.name!r} is already registered",
                            "choose another name (see twincell.bench.list_methods())")
    METHODS[cls.name] = cls
    return cls


def default_method_names() -> list[str]:
    """Names of the registered methods a TwinBench run takes when none are named (those with ``in_default_run``)."""
    return [name for name, cls in METHODS.items() if cls.in_default_run]


def list_methods() -> pd.DataFrame:
    """The registered methods as a table: name, description, training, input use, default run, tiers, reference."""
    rows = [{"name": c.name, "description": c.description, "needs_training": c.needs_training,
             "sees_input": c.sees_input, "in_default_run": c.in_default_run,
             "tiers": ",".join(t for t, ok in (("1", c.predicts_response), ("2", c.ranks_targets),
                                                ("3", c.ranks_targets)) if ok),
             "reference": c.reference} for c in METHODS.values()]
    return pd.DataFrame(rows)


def check_method_names(names: Iterable[str] | str) -> list[str]:
    """The names as a list (a string is read as comma-separated names), after checking each is registered, once.

    Raises
    ------
    TwinCellError
        Naming every unknown method, or the methods named twice.
    """
    names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise TwinCellError(f"unknown method(s): {', '.join(map(str, unknown))}", f"choose from: {', '.join(METHODS)}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise TwinCellError(f"method(s) named twice: {', '.join(twice)}", "name each method once")
    return names


def make_methods(names: Iterable[str], resources: Resources) -> list[Method]:
    """Instantiate registered methods by name (unknown names raise :class:`TwinCellError`)."""
    return [METHODS[n](resources) for n in check_method_names(names)]


def prepare_signature(signature: pd.Series | Signature, name: str | None = None) -> Signature:
    """Validate a signature and map its gene IDs to HGNC symbols.

    Parameters
    ----------
    signature
        Gene ID (symbol, Ensembl, Entrez, UniProt, alias) -> change, or an already read
        :class:`~twincell.data.signatures.Signature` (on HGNC symbols), whose values get the same checks.
    name
        Label for messages (default the Series name).

    Returns
    -------
    Signature
        Values on unique HGNC symbols, mapped by :func:`~twincell.data.signatures.signature_from_series` (unmapped
        IDs listed on the result); a given :class:`Signature` as is.

    Raises
    ------
    SignatureError
        As :func:`~twincell.data.signatures.check_change` (not a numeric Series, empty, NaN / infinite values naming
        the genes, a gene twice, absurd values, all zero), when no ID maps to a gene, or when several IDs name one gene.
    """
    if isinstance(signature, Signature):
        check_change(signature.logfc, f"signature {signature.name!r}")
        return signature
    label = name or str(signature.name if isinstance(signature, pd.Series) and signature.name else "signature")
    return signature_from_series(signature, label)


def _on_candidates(method: Method, scores: pd.DataFrame, candidates: pd.Index) -> pd.DataFrame:
    """Checked scores on the candidates, each column's unscored genes tied at its lowest score minus 1.

    Raises
    ------
    TwinCellError
        If a column is not numeric or holds infinite scores.
    """
    if not all(pd.api.types.is_numeric_dtype(t) for t in scores.dtypes):
        raise TwinCellError(f"method {method.name!r} returned non-numeric scores", "rank_targets must return gene -> score")
    if np.isinf(scores.to_numpy(float)).any():
        raise TwinCellError(f"method {method.name!r} returned infinite scores", "return finite scores")
    scores = scores[~scores.index.duplicated()].reindex(candidates).astype(float)
    return scores.fillna((scores.min() - 1.0).fillna(0.0))


def _require_method(method: object) -> None:
    """Refuse anything but a :class:`Method` instance (a name or a class has no resources to rank with)."""
    if not isinstance(method, Method):
        raise TwinCellError(f"a Method instance is needed, got {type(method).__name__} {method!r}"[:200],
                            "make one with make_methods([name], resources)")


def run_method(method: Method, signature: pd.Series | Signature, context: str | None = None, *,
               candidates: pd.Index | None = None) -> pd.Series:
    """Run one method on one signature: validate, rank, and score every candidate.

    Parameters
    ----------
    method
        A registered method instance (fitted if it needs training).
    signature
        Raw Series (validated here through :func:`prepare_signature`) or a prepared :class:`Signature`.
    context
        Cell context id passed to the method.
    candidates
        Genes to score (default the network's genes).

    Returns
    -------
    Series
        Score per candidate (index = candidates, name = method name), finite; candidates the method
        did not score share the lowest score.

    Raises
    ------
    TwinCellError
        If the method returns something other than a numeric Series or infinite scores.
    """
    _require_method(method)
    sig = prepare_signature(signature)
    cand = pd.Index(method.resources.network.genes) if candidates is None else candidates
    scores = method.rank_targets(sig.logfc.rename(sig.name), context)
    if not isinstance(scores, pd.Series):
        raise TwinCellError(f"method {method.name!r} returned {type(scores).__name__}, not a numeric Series",
                            "rank_targets must return gene -> score")
    return _on_candidates(method, scores.to_frame(), cand).iloc[:, 0].rename(method.name)


def run_method_many(method: Method, signatures: Sequence[pd.Series | Signature], context: str | None = None, *,
                    candidates: pd.Index | None = None) -> pd.DataFrame:
    """:func:`run_method` for many signatures at once, through :meth:`Method.rank_targets_many`.

    Returns
    -------
    DataFrame
        Candidates x signatures (columns = signature names, in order), finite; each column as
        :func:`run_method` would return it.

    Raises
    ------
    TwinCellError
        If the method returns a table of the wrong width, non-numeric or infinite scores.
    """
    _require_method(method)
    sigs = [prepare_signature(s) for s in signatures]
    cand = pd.Index(method.resources.network.genes) if candidates is None else candidates
    scores = method.rank_targets_many([s.logfc.rename(s.name) for s in sigs], context)
    if not isinstance(scores, pd.DataFrame) or scores.shape[1] != len(sigs):
        raise TwinCellError(f"method {method.name!r} returned no table of {len(sigs)} score columns",
                            "rank_targets_many must return genes x signatures")
    out = _on_candidates(method, scores, cand)
    out.columns = [s.name for s in sigs]
    return out
