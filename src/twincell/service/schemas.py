"""Request and response models of the HTTP API (pydantic), with the limits of :class:`ServiceLimits`.

Request models are built per app by :func:`request_models` so that the OpenAPI schema states the
limits the app really enforces (``maxProperties``, ``maximum`` ...). Response models are fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from twincell.service.limits import ServiceLimits

GeneId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
                   Field(description="Gene identifier: HGNC symbol, alias, Ensembl, Entrez or UniProt ID.")]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False, strict=True)]  # a number: not true, not "1.5"
Count = Annotated[int, Field(strict=True)]
ContextId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Direction = Literal["both", "activate", "inhibit"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _distinct_genes_and_no_booleans(cls, data: Any) -> Any:
        """Refuse a gene map whose keys name one gene twice once spaces are trimmed (JSON keeps only one of them),
        and booleans as values (``true`` is not a log fold change or a sign)."""
        for field, value in (data.items() if isinstance(data, dict) else ()):
            if not isinstance(value, dict):
                continue
            keys: dict[str, list[str]] = {}
            for key in value:
                keys.setdefault(str(key).strip(), []).append(str(key))
            twice = [" / ".join(map(repr, k)) for k in keys.values() if len(k) > 1]
            if twice:
                raise ValueError(f"`{field}` names the same gene twice after trimming spaces: "
                                 f"{'; '.join(twice[:5])}; give each gene once")
            flags = [str(k) for k, v in value.items() if isinstance(v, bool)]
            if flags:
                raise ValueError(f"`{field}` has true/false values for {', '.join(flags[:5])}; give numbers")
        return data


@dataclass(frozen=True)
class RequestModels:
    """The request body models of one app (their field limits come from its :class:`ServiceLimits`)."""

    targets: type[BaseModel]
    explain: type[BaseModel]
    predict: type[BaseModel]


def request_models(limits: ServiceLimits) -> RequestModels:
    """Build the request models whose field limits are ``limits``.

    Parameters
    ----------
    limits
        The bounds on genes per signature / profile, ``top``, ``k`` and perturbed genes.
    """
    signature_field = Field(
        min_length=1, max_length=limits.max_genes,
        description=f"Disease signature: gene -> log fold change, disease vs healthy (1 to {limits.max_genes:,} "
                    "genes). Targets are ranked for the reverse change.",
        examples=[{"STAT1": 1.2, "IRF1": 0.8, "IL10": -0.6}])

    class ContextFields(_Request):
        context: ContextId | None = Field(None, description="Context id from GET /v1/contexts; omit for the "
                                                            "model's mean / context-free edge strengths.")
        context_profile: dict[GeneId, FiniteFloat] | None = Field(
            None, min_length=1, max_length=limits.max_genes,
            description="Baseline expression of the cell context (gene -> linear-scale expression: counts, "
                        "CPM or TPM), encoded with the model's encoder; instead of `context`.")
        platform: Literal["scrna", "rnaseq", "l1000"] | None = Field(
            None, description="Platform of `context_profile` (reference statistics of the encoder).")

        @model_validator(mode="after")
        def _one_context(self) -> ContextFields:
            if self.context is not None and self.context_profile is not None:
                raise ValueError("give either `context` (an id) or `context_profile` (expression), not both")
            if self.platform is not None and self.context_profile is None:
                raise ValueError("`platform` applies only to `context_profile`")
            return self

        def context_label(self) -> str | None:
            """The context as reported back: its id, ``profile`` or None."""
            return "profile" if self.context_profile is not None else self.context

    class TargetsRequest(ContextFields):
        """Rank every protein of the network as a target for reversing a disease signature."""

        signature: dict[GeneId, FiniteFloat] = signature_field
        direction: Direction = Field("both", description="Which targets to rank: to activate, to inhibit, or both.")
        top: Count = Field(50, ge=1, le=limits.max_top, description="Number of ranked targets returned.")

    class ExplainRequest(ContextFields):
        """Explain one target's score by its top signed walks to the responding genes."""

        target: GeneId = Field(description="HGNC symbol of the target protein.")
        signature: dict[GeneId, FiniteFloat] = signature_field
        direction: Direction = Field("both", description="The direction the target was ranked in (the /v1/targets "
                                                         "request's): its walks are explained for that direction.")
        k: Count = Field(5, ge=1, le=limits.max_paths, description="Number of walks returned.")

    class PredictRequest(ContextFields):
        """Predict the expression change caused by a perturbation."""

        perturbation: dict[GeneId, Literal[-1, 1]] = Field(
            min_length=1, max_length=limits.max_perturbed,
            description="Perturbed proteins (HGNC symbols or other gene IDs of network nodes) -> sign: -1 inhibition, "
                        "+1 activation.",
            examples=[{"JAK1": -1}])
        perturbation_type: Literal["drug", "cytokine", "overexpression", "knockdown", "knockout"] = Field(
            "drug", description="Genetic types add the perturbed genes' own-transcript term.")
        top: Count = Field(100, ge=1, le=limits.max_top,
                           description="Number of genes returned, largest absolute change first.")

    return RequestModels(TargetsRequest, ExplainRequest, PredictRequest)


class SignatureReport(BaseModel):
    """What became of the signature's genes (nothing is dropped silently)."""

    n_genes: int = Field(description="Signature genes used (mapped to HGNC and in the model's network).")
    unmapped_genes: list[str] = Field(description="Identifiers that map to no HGNC symbol.")
    absent_genes: list[str] = Field(description="HGNC symbols that are not nodes of the model's network.")
    collapsed_genes: list[str] = Field(description="Symbols several input rows mapped to (one row kept).")
    rows_without_value: list[str] = Field(default_factory=list,
                                          description="Identifiers of rows left out for a missing or infinite logFC.")
    merged_rows: dict[str, list[str]] = Field(default_factory=dict,
                                              description="For each collapsed symbol: the input identifiers of its rows.")
    sex_genes_removed: list[str] = Field(default_factory=list,
                                         description="Y-chromosome genes and XIST/TSIX left out (they follow the "
                                                     "donors' sex, not the disease).")
    rows_without_gene_id: int = Field(0, ge=0, description="Rows of an uploaded table left out for an empty gene "
                                                           "identifier (e.g. unannotated microarray probes).")


class TargetRow(BaseModel):
    """One ranked target (the columns of :func:`twincell.identify.rank_targets`)."""

    gene: str
    score: float
    direction: str
    rank: int
    z_score: float | None = Field(description="Degree-matched z-score (null when undefined).")
    druggable: bool


class DrugTargetRow(BaseModel):
    """One drug target of the actionable list: the columns of ``targets.csv`` and ``fragile`` (kept in ``run.json``'s
    ``fragile_targets`` by the command line's report)."""

    gene: str
    rank: int = Field(description="Rank among drug targets.")
    overall_rank: int = Field(description="Rank among all proteins.")
    score: float
    direction: str
    z_score: float | None
    drugs: str = Field(description="`;`-separated drugs that target the gene.")
    drug_actions: str = Field(description="One action per drug, aligned with `drugs`.")
    direction_agrees: Literal["agrees", "conflict", "unknown"]
    indications: str = Field(description="`;`-separated approved indications of the drugs.")
    top_walk_share: float | None = Field(description="Share of the score carried by the single best walk.")
    n_signature_genes_reached: int
    fragile: bool = Field(description="Carried by one walk (share > 0.5) or reaching fewer than 3 signature genes.")


class TargetsResponse(BaseModel):
    """Ranked targets (best first), the drug targets among them, and the fate of the signature's genes."""

    context: str | None
    direction: Direction
    signature: SignatureReport
    targets: list[TargetRow]
    drug_targets: list[DrugTargetRow] = Field(description="The best `top` drug targets (the actionable list).")


class PathRow(BaseModel):
    """One signed walk from the target to a responding gene (columns of ``Explanation.paths``)."""

    rank: int
    path: str = Field(description="`->` activating edge, `-|` inhibiting edge, `=>` readout onto the gene.")
    nodes: list[str]
    gene: str
    hops: int
    strengths: list[float]
    readout: float
    change: float
    contribution: float
    share: float | None


class ExplainResponse(BaseModel):
    """Top walks explaining a target's score."""

    target: str
    direction: str
    context: str | None
    score: float
    covered_share: float | None = Field(description="Share of the score covered by the returned walks.")
    complete: bool = Field(description="False when the walk search stopped at its limit before finding k walks.")
    signature: SignatureReport
    paths: list[PathRow]


class PredictResponse(BaseModel):
    """Predicted expression change (gene -> change, largest absolute change first)."""

    context: str | None
    perturbation: dict[str, int]
    units: str = Field(description="Units of the changes (the model's reference dataset).")
    change: dict[str, float]


class SignatureParsed(BaseModel):
    """A signature table parsed to HGNC symbols (log fold change, disease vs healthy)."""

    signature: dict[str, float]
    report: SignatureReport


class ContextsResponse(BaseModel):
    """The contexts the model was trained with."""

    encoder: str | None = Field(description="Encoder of the context embeddings (None for a context-free model).")
    dim: int
    gated: bool = Field(description="Whether edge strengths depend on the context.")
    contexts: list[str]


class InteractomeInfo(BaseModel):
    """Size and identity of the model's network."""

    nodes: int
    edges: int
    fingerprint: str
    sources: list[str]


class ModelResponse(BaseModel):
    """Provenance of the served model."""

    twincell_version: str
    encoder: str | None
    hparams: dict[str, Any]
    interactome: InteractomeInfo
    metadata: dict[str, Any] = Field(description="The model's provenance record (training data, fit settings ...).")


class Health(BaseModel):
    """Liveness: the model is loaded and the service answers."""

    status: Literal["ok"]
    nodes: int


class ErrorItem(BaseModel):
    """One problem with a request: where (``loc``), what (``msg``) and what to do (``hint``)."""

    loc: list[str | int]
    msg: str
    type: str
    hint: str | None = None


class ErrorResponse(BaseModel):
    """Error body of 400 / 422 answers (same shape as FastAPI's validation errors)."""

    detail: list[ErrorItem]


class MessageResponse(BaseModel):
    """Error body of 401 / 413 answers."""

    detail: str
