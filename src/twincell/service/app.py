"""The FastAPI app: TwinCell's library calls behind an HTTP API, plus a browsable page.

Every endpoint is a thin wrapper: it validates the request (pydantic, :class:`ServiceLimits`), calls
the same library function a notebook would, and returns its result. Ranking and explanation are
CPU-bound, so the endpoints are plain functions that FastAPI runs in its thread pool, sized to
``ServiceLimits.threads`` when the server starts (more threads would only fight over the GIL; more
cores are used by worker processes); ``/healthz`` is async (answered on the event loop, never queued
behind rankings). The model is loaded once by the
caller and only read here. :class:`~twincell.service.auth.RequestGuard` refuses wrong hosts,
cross-origin posts, missing tokens and oversized bodies before any work is done.

Library input errors (:class:`~twincell.errors.TwinCellError`) become 422 answers (400 for an
unreadable upload) in FastAPI's validation-error shape, naming the request field at fault.
"""

import gc
import io
import json
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal

import anndata as ad
import anyio.to_thread
import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from matplotlib.figure import Figure
from pydantic import BaseModel
from pydantic_core import to_json

from twincell import __version__
from twincell.context import default_encoder
from twincell.context.expression import LOW_COVERAGE
from twincell.data.signatures import Signature, read_signature
from twincell.data.tables import decode_text, parse_table, without_leading_comments
from twincell.errors import ContextError, DataFileError, SignatureError, TwinCellError
from twincell.identify import Explanation, baseline_context, explain, rank_targets
from twincell.identify.actionable import drug_target_list
from twincell.model import TwinCell
from twincell.pl.paths import paths as draw_paths
from twincell.service.auth import RequestGuard, allowed_host_names
from twincell.service.limits import ServiceLimits
from twincell.service.schemas import (
    ContextsResponse,
    Direction,
    DrugTargetRow,
    ErrorResponse,
    ExplainResponse,
    Health,
    InteractomeInfo,
    MessageResponse,
    ModelResponse,
    PredictResponse,
    SignatureParsed,
    SignatureReport,
    TargetRow,
    TargetsResponse,
    request_models,
)

STATIC = files("twincell.service") / "static"
FIGURE_TYPES = {"svg": "image/svg+xml", "png": "image/png"}
UPLOAD_CHUNK = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"


class FieldError(Exception):
    """A library input error attributed to one request field (``loc``)."""

    def __init__(self, loc: tuple[str, ...], error: TwinCellError) -> None:
        super().__init__(error.problem)
        self.loc = loc
        self.error = error


@contextmanager
def blame(*loc: str, signature: tuple[str, ...] | None = None, context: tuple[str, ...] | None = None,
          ) -> Iterator[None]:
    """Attribute any :class:`TwinCellError` raised inside the block to the request field ``loc``, a
    :class:`SignatureError` to ``signature`` and a :class:`ContextError` to ``context`` when those are given."""
    try:
        yield
    except TwinCellError as exc:
        where = (signature if isinstance(exc, SignatureError) else context if isinstance(exc, ContextError) else None)
        raise FieldError(where or loc, exc) from exc


class KeysNotedRequest(Request):
    """A request whose JSON body is parsed once (by FastAPI for the endpoint's body, else by :func:`unique_json_keys`),
    noting in :attr:`twice` the first key that one of its objects names twice."""

    twice: str | None = None

    async def json(self) -> Any:
        """The parsed JSON body (parsed on the first call).

        A body that is not UTF-8, or holds a number Python refuses to convert (over 4,300 digits), raises
        :class:`json.JSONDecodeError` naming that, so FastAPI answers with its 422 ``json_invalid`` error and the
        reason instead of a bare 400 "There was an error parsing the body"."""
        if not hasattr(self, "_parsed"):
            body = await self.body()
            try:
                self._parsed = json.loads(body, object_pairs_hook=self._pairs)
            except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
                if isinstance(exc, json.JSONDecodeError):
                    raise
                reason = ("the body is not UTF-8 text: send JSON encoded as UTF-8" if isinstance(exc, UnicodeDecodeError)
                          else f"{exc} (send large numbers as strings)")
                raise json.JSONDecodeError(reason, body.decode("utf-8", errors="replace"), 0) from exc
        return self._parsed

    def _pairs(self, items: list[tuple[str, Any]]) -> dict[str, Any]:
        if self.twice is None:
            counts = Counter(key for key, _ in items)
            self.twice = next((key for key, _ in items if counts[key] > 1), None)
        return dict(items)


class KeysNotedRoute(APIRoute):
    """A route that hands its endpoint and dependencies a :class:`KeysNotedRequest`."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        """The route's handler, called with the request as a :class:`KeysNotedRequest`."""
        handler = super().get_route_handler()

        async def noting(request: Request) -> Response:
            return await handler(KeysNotedRequest(request.scope, request.receive))

        return noting


async def unique_json_keys(request: KeysNotedRequest) -> None:
    """A dependency (of :class:`KeysNotedRoute` routes) that refuses a JSON body naming one key twice in an object
    (``{"STAT1": 1, "STAT1": -1}``): JSON parsing keeps the last value, so the first would be lost without a word.
    Other bodies pass untouched. The body is parsed once: FastAPI's parse for the endpoint is the one checked."""
    if "json" not in request.headers.get("content-type", ""):
        return
    try:
        await request.json()
    except ValueError:  # malformed JSON: FastAPI's own validation names it
        return
    if request.twice is not None:
        raise FieldError(("body",), TwinCellError(f"the request names {request.twice!r} twice in one object (JSON "
                                                  "keeps only the last value)", "give each gene or field once"))


def only_form_fields(*names: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency that refuses form fields other than ``names`` (a misspelt ``drection`` would otherwise be ignored
    and its default used), as the JSON endpoints refuse unknown keys, and a field sent twice (all but the last would
    be ignored)."""
    allowed = frozenset(names)

    async def check(request: Request) -> None:
        keys = [key for key, _ in (await request.form()).multi_items()]
        unknown = sorted(set(keys) - allowed)
        if unknown:
            raise FieldError(("body", unknown[0]), TwinCellError(
                f"unknown form field(s) {', '.join(map(repr, unknown))}", f"the fields are {', '.join(sorted(allowed))}"))
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            raise FieldError(("body", twice[0]), TwinCellError(
                f"form field {twice[0]!r} was sent {keys.count(twice[0])} times", "send each field once (one file "
                "per request; several signatures go to the command line or the library)"))

    return check


def _field_error_response(_: Request, exc: FieldError) -> JSONResponse:
    status = 400 if isinstance(exc.error, DataFileError) else 422
    kind = "".join("_" + c.lower() if c.isupper() else c for c in type(exc.error).__name__).lstrip("_")
    item = {"loc": list(exc.loc), "msg": exc.error.problem, "type": kind, "hint": exc.error.hint}
    return JSONResponse({"detail": [item]}, status_code=status)


#: Hints of the schema violations users make most, by pydantic error type (others get :data:`SCHEMA_HINT`).
VALIDATION_HINTS = {
    "extra_forbidden": "remove the field: the request's fields are in the schema at /openapi.json",
    "missing": "add the field (the request's fields are in the schema at /openapi.json)",
    "model_attributes_type": "send the body as a JSON object with the header Content-Type: application/json",
    "dict_type": "give a JSON object here ({gene: value, ...})",
    "too_long": "send fewer items: the limits are in the schema at /openapi.json",
    "finite_number": "give finite numbers (no NaN or Infinity)",
    "json_invalid": "send valid JSON with the header Content-Type: application/json",
}
SCHEMA_HINT = "see the request schema at /openapi.json"


def _validation_error_response(_: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with ``loc``, ``msg``, ``type`` and ``hint`` per problem (the offending input is not echoed: it may be NaN or
    huge; a JSON decode error's ``msg`` carries the decoder's reason, e.g. "Expecting value")."""
    items = [{"loc": list(e["loc"]), "msg": _with_reason(e), "type": e["type"],
              "hint": VALIDATION_HINTS.get(e["type"], SCHEMA_HINT)} for e in exc.errors()]
    return JSONResponse({"detail": items}, status_code=422)


def _with_reason(error: dict[str, Any]) -> str:
    reason = error.get("ctx", {}).get("error") if error["type"] == "json_invalid" else None
    return f"{error['msg']}: {reason}" if isinstance(reason, str) else error["msg"]


def inflate(stream: BinaryIO, chunk_bytes: int = UPLOAD_CHUNK) -> Iterator[bytes]:
    """The bytes of ``stream``, gunzipped on the fly when they start with the gzip magic number.

    Yields pieces of at most ``chunk_bytes`` (decompressed), so a caller that stops early never holds
    more than it asked for (a few KB of gzip can expand to gigabytes).

    Raises
    ------
    zlib.error
        The gzip stream is corrupt or truncated.
    """
    data = stream.read(chunk_bytes)
    if data[:2] != GZIP_MAGIC:
        while data:
            yield data
            data = stream.read(chunk_bytes)
        return
    while data:  # one gzip member after another (bgzip, `cat a.gz b.gz`)
        if data[:2] != GZIP_MAGIC:
            raise zlib.error("bytes that are not gzip data follow the gzip data")
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        while data and not inflater.eof:
            yield inflater.decompress(data, chunk_bytes)
            data = inflater.unconsumed_tail or stream.read(chunk_bytes)
        yield inflater.flush()
        if not inflater.eof:
            raise zlib.error("the gzip stream ends early (truncated file)")
        data = inflater.unused_data or stream.read(chunk_bytes)


def upload_text(file: UploadFile, max_bytes: int, max_rows: int) -> str:
    """The text of an uploaded table (gzip or plain; UTF-8 with or without byte-order mark, or UTF-16 with one).

    Decompression stops as soon as the table passes ``max_bytes`` bytes or four line breaks (``\\n`` and ``\\r``
    counted apart) per allowed row (room for CRLF and blank lines); the decoded text may then hold at most
    ``max_rows`` data rows (non-blank lines after the header and any ``#`` comment lines above it), whatever its line
    endings and encoding.

    Raises
    ------
    DataFileError
        Corrupt gzip data, a binary format (a workbook, parquet, ...: named; NUL bytes) or text that is not UTF-8,
        UTF-16 or UTF-32 (:func:`~twincell.data.tables.decode_text`, strict).
    SignatureError
        The table is larger than the limits.
    """
    name = file.filename or "upload"
    too_many = SignatureError(f"the uploaded signature {name!r} has more than the limit of {max_rows:,} rows",
                              "keep the most significant genes")
    buf = bytearray()
    breaks = 0
    try:
        for piece in inflate(file.file):
            buf += piece
            breaks += piece.count(b"\n") + piece.count(b"\r")  # a rough bound, counted once per piece
            if len(buf) > max_bytes:
                raise SignatureError(f"the uploaded signature {name!r} is larger than the limit of {max_bytes:,} "
                                     "bytes (uncompressed)", "keep the most significant genes")
            if breaks > 4 * (max_rows + 1):  # CRLF counts twice, and blank lines are allowed
                raise too_many
    except zlib.error as exc:
        raise DataFileError(f"the uploaded signature {name!r} is not valid gzip data: {exc}",
                            "upload the table itself or a complete .gz file") from exc
    text = decode_text(bytes(buf), f"the uploaded signature {name!r}", max_bytes, strict=True)  # the library's
    lines = [line for line in without_leading_comments(text).splitlines() if line.strip()]  # as the reader reads it
    if len(lines) - 1 > max_rows:
        raise too_many
    return text


def read_upload(file: UploadFile, limits: ServiceLimits) -> Signature:
    """Parse an uploaded signature table (CSV or TSV, optionally gzipped; delimiter sniffed) with the library.

    Y-chromosome genes and XIST/TSIX are left out (:meth:`Signature.without_sex_genes`) and reported.

    Raises
    ------
    FieldError
        On ``file``: unreadable table (400), too many rows or bytes, or an unusable signature (422).
    """
    with blame("body", "file"):
        table = parse_table(upload_text(file, limits.max_upload_bytes, limits.max_genes),
                            f"the uploaded signature {file.filename!r}",
                            "upload a CSV or TSV table with a header, e.g. `gene,logFC`")
        return read_signature(table, name=Path(file.filename or "upload").name.split(".")[0]).without_sex_genes()


def signature_from_mapping(mapping: dict[str, float]) -> Signature:
    """A :class:`~twincell.data.signatures.Signature` from a JSON ``gene -> logFC`` mapping (disease vs healthy),
    without Y-chromosome genes and XIST/TSIX (reported)."""
    with blame("body", "signature"):
        return read_signature(pd.DataFrame({"gene": list(mapping), "logFC": list(mapping.values())}),
                              gene_col="gene", logfc_col="logFC", name="request").without_sex_genes()


def encode_profile(model: TwinCell, profile: dict[str, float], platform: str | None) -> np.ndarray:
    """Embed a baseline expression profile with the library's :func:`~twincell.identify.baseline_context`.

    Only the weight-free ``expression-pca`` encoder (:func:`twincell.context.default_encoder`) can be
    applied here; its ``platform`` (``scrna``, ``rnaseq``, ``l1000``) selects the reference statistics, and the profile
    must hold at least :data:`~twincell.context.expression.LOW_COVERAGE` of that platform's reference genes (the
    encoder's log warning would not reach the caller).

    Raises
    ------
    ContextError
        The model's contexts come from another encoder, or the profile cannot be encoded or covers too few genes.
    """
    adata = ad.AnnData(np.array([list(profile.values())], dtype=np.float64),  # float32 would turn 1e39 into inf
                       var=pd.DataFrame(index=pd.Index(list(profile), dtype=str)))
    return baseline_context(adata, model, default_encoder(model.context_dim), platform=platform,
                            min_coverage=LOW_COVERAGE)


def rows(df: pd.DataFrame, row: type[BaseModel], n: int | None = None, **given: list) -> list[dict]:
    """The first ``n`` rows of ``df`` (all when None) as dicts of the fields of the response model ``row``, in its
    field order, with plain Python values taken column by column (``DataFrame.to_dict("records")`` boxes every
    cell one at a time); a field that is not a column of ``df`` comes from ``given`` (a list per field)."""
    plain = pd.DataFrame(df)  # without df's attrs, which pandas would deep-copy for every column taken
    names = list(row.model_fields)
    columns = [given[name] if name in given else plain[name].to_numpy()[:n].tolist() for name in names]
    return [dict(zip(names, values)) for values in zip(*columns)]


def json_answer(content: dict) -> Response:
    """``content`` (plain Python values and pydantic models) as a JSON answer, in one pass of pydantic's serialiser
    (NaN becomes null).

    The rows come field by field from the library's frames (:func:`rows`) and are not validated again:
    building the response model would validate every cell (~1 ms for a ranking's answer), and returning it
    would make FastAPI dump it, validate it again against the route's ``response_model`` and re-encode it.
    """
    return Response(to_json(content, inf_nan_mode="null"), media_type="application/json")


def _server_error_response(_: Request, exc: Exception) -> JSONResponse:
    """500 as JSON like every other error (the traceback goes to the server log)."""
    return JSONResponse({"detail": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500)


def create_app(model: TwinCell, *, token: str | None = None, limits: ServiceLimits = ServiceLimits(),
               allowed_hosts: Sequence[str] | None = None) -> FastAPI:
    """Build the HTTP app serving ``model``.

    Parameters
    ----------
    model
        A loaded :class:`~twincell.model.TwinCell`; it is shared (read-only) by all requests.
    token
        When given, every ``/v1`` request must carry ``Authorization: Bearer <token>`` (else 401,
        before any work). ``/``, ``/healthz`` and ``/openapi.json`` stay open.
    limits
        Bounds on request size, genes per signature, ``top``, ``k`` and perturbed genes.
    allowed_hosts
        Host names accepted in the ``Host`` header (default: the loopback names,
        :func:`~twincell.service.auth.allowed_host_names`); ``"*"`` accepts any. Without a token,
        cross-origin ``POST`` requests are refused (see :class:`~twincell.service.auth.RequestGuard`).

    Returns
    -------
    FastAPI
        The app: ``/v1/targets``, ``/v1/targets/upload``, ``/v1/signature``, ``/v1/explain``,
        ``/v1/explain/figure``, ``/v1/predict``, ``/v1/contexts``, ``/v1/model``, ``/healthz``, ``/openapi.json``
        and the page at ``/`` (no ``/docs``: Swagger UI would load from a CDN). Every error answer is JSON.
    """
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = limits.threads
        # the model and the imported libraries (~360,000 objects) stay for the server's life: out of the cyclic
        # collector's scans, whose full passes over them took 0.1-0.3 s in the middle of a request
        gc.freeze()
        yield

    bodies = request_models(limits)
    TargetsRequest, ExplainRequest, PredictRequest = bodies.targets, bodies.explain, bodies.predict
    app = FastAPI(title="TwinCell", version=__version__,
                  description="Drug target identification with a virtual cell: rank targets for a desired "
                              "expression change, explain them by signed paths, predict perturbations. "
                              "Signatures are disease-vs-healthy log fold changes; the desired change is "
                              "their reverse.",
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    app.add_exception_handler(FieldError, _field_error_response)
    app.add_exception_handler(Exception, _server_error_response)
    app.add_exception_handler(RequestValidationError, _validation_error_response)
    errors = {400: {"model": ErrorResponse, "description": "Unreadable upload"},
              403: {"model": MessageResponse, "description": "Cross-origin request to a service without a token"},
              408: {"model": MessageResponse, "description": "Request body not received in time"},
              413: {"model": MessageResponse, "description": "Request body too large"},
              422: {"model": ErrorResponse, "description": "Invalid request (the field is named in `loc`)"}}
    if token is not None:
        errors[401] = {"model": MessageResponse, "description": "Missing or wrong bearer token"}
    v1 = APIRouter(prefix="/v1", tags=["v1"], responses=errors, dependencies=[Depends(unique_json_keys)],
                   route_class=KeysNotedRoute)

    def context_of(request: TargetsRequest | ExplainRequest | PredictRequest) -> str | np.ndarray | None:
        if request.context_profile is None:
            return request.context
        with blame("body", "context_profile"):
            return encode_profile(model, request.context_profile, request.platform)

    nodes = frozenset(np.asarray(model.genes).astype(str).tolist())  # the network's genes, for every report

    def report(sig: Signature) -> SignatureReport:
        cov = sig.coverage(nodes)
        return SignatureReport(n_genes=cov["found"], unmapped_genes=sig.unmapped, absent_genes=cov["absent_genes"],
                               collapsed_genes=sig.collapsed, rows_without_value=sig.missing_ids,
                               merged_rows=sig.merged, sex_genes_removed=sig.sex_genes_removed,
                               rows_without_gene_id=sig.n_rows_without_id)

    def rank(sig: Signature, context: str | np.ndarray | None, label: str | None, direction: str,
             top: int, signature_field: str) -> Response:
        desired = sig.desired_change()
        with blame("body", "context", signature=("body", signature_field)):
            table = rank_targets(model, desired, context=context, direction=direction)
            drugs = drug_target_list(model, desired, table, context=context, top=top)
        fragile = set(drugs.attrs["fragile"])
        flags = [gene in fragile for gene in pd.DataFrame(drugs)["gene"].tolist()]
        return json_answer({"context": label, "direction": direction, "signature": report(sig),
                            "targets": rows(table, TargetRow, top), "drug_targets": rows(drugs, DrugTargetRow,
                                                                                       fragile=flags)})

    @v1.post("/targets", response_model=TargetsResponse)
    def targets(request: TargetsRequest) -> Response:
        """Rank every protein as a target for reversing a disease signature (JSON gene -> logFC)."""
        return rank(signature_from_mapping(request.signature), context_of(request), request.context_label(),
                    request.direction, request.top, "signature")

    @v1.post("/targets/upload", response_model=TargetsResponse,
             dependencies=[Depends(only_form_fields("file", "context", "direction", "top"))])
    def targets_upload(
        file: Annotated[UploadFile, File(description="Disease signature table (CSV/TSV, optionally gzipped) with a "
                                                     "gene and a log-fold-change column.")],
        context: Annotated[str | None, Form(min_length=1, max_length=128)] = None,
        direction: Annotated[Direction, Form()] = "both",
        top: Annotated[int, Form(ge=1, le=limits.max_top)] = 50,
    ) -> Response:
        """Rank targets for a disease signature uploaded as a table (context by id)."""
        return rank(read_upload(file, limits), context, context, direction, top, "file")

    @v1.post("/signature", response_model=SignatureParsed, dependencies=[Depends(only_form_fields("file"))])
    def signature(file: Annotated[UploadFile, File(description="Disease signature table (CSV/TSV) with a gene "
                                                               "and a log-fold-change column.")]) -> SignatureParsed:
        """Parse a signature table to HGNC symbols (the page sends the result to /v1/targets)."""
        sig = read_upload(file, limits)
        return SignatureParsed(signature=sig.logfc.to_dict(), report=report(sig))

    def explanation(request: ExplainRequest) -> tuple[Signature, Explanation]:
        sig = signature_from_mapping(request.signature)
        context = context_of(request)
        with blame("body", "target", signature=("body", "signature"), context=("body", "context")):
            return sig, explain(model, request.target, sig.desired_change(), context=context, k=request.k,
                                direction=request.direction)

    @v1.post("/explain", response_model=ExplainResponse)
    def explain_target(request: ExplainRequest) -> ExplainResponse:
        """The top signed walks from a target to the responding genes, with their contributions."""
        sig, expl = explanation(request)
        paths = expl.paths.assign(nodes=expl.paths["nodes"].map(list), strengths=expl.paths["strengths"].map(list))
        return ExplainResponse(target=expl.target, direction=expl.direction, context=request.context_label(),
                               score=expl.score, covered_share=expl.covered_share, complete=expl.complete,
                               signature=report(sig), paths=paths.to_dict("records"))

    @v1.post("/explain/figure", response_class=Response,
             responses={200: {"content": {t: {} for t in FIGURE_TYPES.values()}, "description": "The path figure"}})
    def explain_figure(request: ExplainRequest,
                       format: Annotated[Literal["svg", "png"], Query(description="Image format.")] = "svg",
                       ) -> Response:
        """The figure of ``twincell.pl.paths`` for one target, as SVG or PNG."""
        _, expl = explanation(request)
        fig = Figure(figsize=(8, 4.5), layout="constrained")  # no pyplot: safe in worker threads
        draw_paths(expl, ax=fig.subplots())
        buf = io.BytesIO()
        fig.savefig(buf, format=format)
        return Response(buf.getvalue(), media_type=FIGURE_TYPES[format])

    @v1.post("/predict", response_model=PredictResponse)
    def predict(request: PredictRequest) -> PredictResponse:
        """Predicted expression change of every gene for a perturbation (largest absolute change first)."""
        context = context_of(request)
        with blame("body", "perturbation", context=("body", "context")):
            change = model.predict(request.perturbation, context, perturbation_type=request.perturbation_type)
        change = change.iloc[np.argsort(-change.abs().to_numpy(), kind="stable")]
        return PredictResponse(context=request.context_label(), perturbation=request.perturbation,
                               units=str(model.metadata.get("reference_units", "arbitrary")),
                               change=change.head(request.top).to_dict())

    @v1.get("/contexts", response_model=ContextsResponse)
    def contexts() -> ContextsResponse:
        """The cell contexts the model was trained with (ids to pass as `context`)."""
        return ContextsResponse(encoder=model.metadata.get("context_encoder"), dim=model.context_dim,
                                gated=model.gated, contexts=sorted(model.contexts))

    @v1.get("/model", response_model=ModelResponse)
    def model_info() -> ModelResponse:
        """Provenance of the served model: training data, network sources, encoder, versions."""
        net = model.interactome
        return ModelResponse(twincell_version=__version__, encoder=model.metadata.get("context_encoder"),
                             hparams=model.hparams,
                             interactome=InteractomeInfo(nodes=net.n_nodes, edges=net.n_edges,
                                                         fingerprint=net.fingerprint,
                                                         sources=[str(s) for s in net.meta.get("sources", [])]),
                             metadata=jsonable_encoder(model.metadata))

    app.include_router(v1)

    @app.get("/healthz", response_model=Health, tags=["ops"])
    async def healthz() -> Health:
        """Liveness check (never needs a token); answered on the event loop, never queued behind rankings."""
        return Health(status="ok", nodes=model.interactome.n_nodes)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"))

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    # runs before any body is read: no work for a refused request (wrong host, cross-origin, no token, too large)
    app.add_middleware(RequestGuard, token=token, max_body_bytes=limits.max_body_bytes,
                       allowed_hosts=allowed_host_names() if allowed_hosts is None else allowed_hosts,
                       body_timeout_s=limits.body_timeout_s)
    if token is not None:
        app.openapi = lambda: _openapi_with_bearer(app)
    return app


def _openapi_with_bearer(app: FastAPI) -> dict:
    """The OpenAPI schema with the bearer scheme declared on every /v1 operation."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        for path, ops in schema["paths"].items():
            if path.startswith("/v1/"):
                for op in ops.values():
                    op["security"] = [{"bearer": []}]
        app.openapi_schema = schema
    return app.openapi_schema
