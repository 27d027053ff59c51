"""Identification run for one signature: ranking, explanations, and the files a user reads (CSV + HTML)."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from twincell._progress import bar
from twincell.data.signatures import Signature
from twincell.identify.explain import Explanation, explain
from twincell.identify.inverse import Direction, Normalize, rank_targets, resolve_operator
from twincell.pl.paths import paths as plot_paths

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("twincell.identify", "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]))


@dataclass
class IdentifyResult:
    """Outcome of :func:`identify_targets`.

    Attributes
    ----------
    ranking
        The full ranking (:func:`~twincell.identify.rank_targets` output, all nodes).
    explanations
        One :class:`Explanation` per explained top target.
    facts
        Run description shown in the report (signature, coverage, context, method).
    title
        Short label of the run (the signature's name).
    files
        Written files (``ranking``, ``paths``, ``report``) once :func:`write_report` ran.
    """

    ranking: pd.DataFrame
    explanations: list[Explanation]
    facts: dict[str, str]
    title: str = ""
    files: dict[str, Path] = field(default_factory=dict)


def identify_targets(model_or_operator: Any, signature: Signature, context: str | np.ndarray | None = None, *,
                     n_explain: int = 5, k: int = 5, direction: Direction = "both",
                     normalize: Normalize = "none") -> IdentifyResult:
    """Rank all targets for reversing ``signature`` and explain the best ``n_explain`` of them.

    Parameters
    ----------
    model_or_operator
        A model with ``.operator(context)`` or a propagation operator.
    signature
        Disease signature; the desired change is its reverse (:meth:`Signature.desired_change`).
    context
        Context id or vector, or None for the context-free edge strengths.
    n_explain
        Number of top targets to explain.
    k
        Walks per explained target.
    direction, normalize
        As for :func:`~twincell.identify.rank_targets`.
    """
    desired = signature.desired_change()
    with bar(desc="identifying targets", total=2 + n_explain, unit="step") as progress:
        op = resolve_operator(model_or_operator, context)
        progress.update(1)
        ranking = rank_targets(op, desired, direction=direction, normalize=normalize)
        progress.update(1)
        explanations = []
        for gene, gene_direction in ranking.loc[:n_explain - 1, ["gene", "direction"]].itertuples(index=False):
            explanations.append(explain(op, gene, desired, k=k,
                                        direction=gene_direction if gene_direction != "none" else "both"))
            progress.update(1)
    attrs = ranking.attrs
    facts = {
        "signature": f"{signature.name} ({signature.method}; {signature.source})",
        "desired change": "reverse of the disease signature: -logFC (healthy minus disease)",
        "signature genes": (f"{len(signature)} mapped to HGNC ({len(signature.unmapped)} IDs unmapped, "
                            f"{signature.n_missing_values} rows without a finite logFC, "
                            f"{len(signature.collapsed)} genes merged from several rows); "
                            f"{attrs['signature_genes_found']} in the network, "
                            f"{len(attrs['signature_genes_absent'])} absent"),
        "context": str(attrs["context"]) + (" (model's context-free edge strengths)" if attrs["context_free"] else ""),
        "scoring": (f"{attrs['method']} pass, normalisation {attrs['normalize']}, direction {attrs['direction']}, "
                    f"walks up to {attrs['n_hops']} hops"),
    }
    return IdentifyResult(ranking=ranking, explanations=explanations, facts=facts, title=signature.name)


def _png(explanation: Explanation) -> str:
    fig = Figure(figsize=(8, 4.5))
    plot_paths(explanation, ax=fig.subplots())
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


N_DRUGGABLE_SHOWN = 20  # rows of the druggable-only table in the HTML report


def write_report(result: IdentifyResult, out_dir: str | Path, *, top: int = 50, title: str = "") -> dict[str, Path]:
    """Write ``ranking.csv`` (all genes), ``paths.csv`` (all explanations) and ``report.html``.

    Parameters
    ----------
    result
        Output of :func:`identify_targets`.
    out_dir
        Output directory (created if needed).
    top
        Rows of the ranking shown in the HTML report.
    title
        Report title (default: ``result.title``, the signature's name).

    Returns
    -------
    dict
        ``ranking``, ``paths`` and ``report`` file paths (also stored in ``result.files``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"ranking": out / "ranking.csv", "paths": out / "paths.csv", "report": out / "report.html"}
    result.ranking.to_csv(files["ranking"], index=False)
    frames = [e.to_frame() for e in result.explanations]
    (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()).to_csv(files["paths"], index=False)
    fmt = "{:.4g}".format
    items = [{"target": e.target, "direction": e.direction, "n_paths": len(e.paths), "score": f"{e.score:.4g}",
              "share": f"{e.covered_share:.1%}", "png": _png(e),
              "table_html": e.paths.drop(columns=["nodes", "strengths"]).to_html(index=False, float_format=fmt)}
             for e in result.explanations]
    html = _ENV.get_template("identify_report.html.j2").render(
        title=title or result.title, facts=list(result.facts.items()),
        context_free=bool(result.ranking.attrs.get("context_free")), n_top=min(top, len(result.ranking)),
        ranking_html=result.ranking.head(top).to_html(index=False, float_format=fmt),
        druggable_html=result.ranking[result.ranking["druggable"]].head(N_DRUGGABLE_SHOWN).to_html(
            index=False, float_format=fmt),
        n_druggable=N_DRUGGABLE_SHOWN,
        explanations=items)
    files["report"].write_text(html, encoding="utf-8")
    result.files = files
    return files
