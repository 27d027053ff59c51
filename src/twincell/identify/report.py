"""Identification run for one signature: ranking, explanations, and the files a user reads (CSV + HTML)."""

from __future__ import annotations

import base64
import functools
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from twincell._cache import cache_dir, probe_output_dir
from twincell._progress import bar
from twincell.data.drugs import DrugTargets
from twincell.data.signatures import Signature
from twincell.errors import SignatureError, TwinCellError, check_count
from twincell.identify.actionable import (FRAGILE_MIN_GENES, FRAGILE_SHARE, actionable_targets, combine_rankings,
                                          drug_annotation, fragility)
from twincell.identify.explain import PATHS_CSV_COLUMNS, Explanation, explain_many
from twincell.identify.inverse import Direction, Normalize, align_change, rank_targets, resolve_operator
from twincell.identify.null import operator_degree
from twincell.pl.svg import paths_svg

if TYPE_CHECKING:
    import jinja2


@functools.cache
def _templates() -> jinja2.Environment:
    """The report templates, compiled once per template version into :func:`~twincell._cache.cache_dir`
    (``jinja/``; jinja2 checks each template's checksum, so an edited template never reads stale code)."""
    import jinja2

    folder = cache_dir() / "jinja"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        bytecode = jinja2.FileSystemBytecodeCache(str(folder))
    except OSError:  # an unwritable cache only costs the compilation
        bytecode = None
    return jinja2.Environment(loader=jinja2.PackageLoader("twincell.identify", "templates"),
                              autoescape=jinja2.select_autoescape(["html", "j2"]), bytecode_cache=bytecode)


@dataclass
class IdentifyResult:
    """Outcome of :func:`identify_targets`.

    Attributes
    ----------
    ranking
        The full ranking (:func:`~twincell.identify.rank_targets` output, all nodes; for several signatures the
        :func:`~twincell.identify.actionable.combine_rankings` output).
    explanations
        One :class:`Explanation` per explained top target.
    facts
        Run description shown in the report (signature, coverage, context, method).
    targets
        The actionable list (:func:`~twincell.identify.actionable.actionable_targets`): drug targets only.
    signatures
        One summary per signature used (genes used, up / down, not in the network, left out and why).
    provenance
        Model, network, context, signature files and genes left out (written to ``run.json``).
    title
        Short label of the run (the signature's name).
    files
        Written files (``ranking``, ``targets``, ``paths``, ``run``, ``report``) once :func:`write_report` ran.
    explained_with
        The name of the signature each explanation's walks were computed with, parallel to ``explanations`` (the
        signature that supports the target most when several were combined); empty means ``title`` for all.
    """

    ranking: pd.DataFrame
    explanations: list[Explanation]
    facts: dict[str, str]
    targets: pd.DataFrame = field(default_factory=pd.DataFrame)
    signatures: list[dict[str, Any]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    files: dict[str, Path] = field(default_factory=dict)
    explained_with: list[str] = field(default_factory=list)

    def explanation_signatures(self) -> list[str]:
        """:attr:`explained_with`, or ``title`` for every explanation when it is empty.

        Raises
        ------
        TwinCellError
            If it names another number of signatures than there are explanations.
        """
        names = self.explained_with or [self.title] * len(self.explanations)
        if len(names) != len(self.explanations):
            raise TwinCellError(f"explained_with names {len(names)} signatures for {len(self.explanations)} "
                                "explanations", "give one signature name per explanation, or none")
        return names


def signature_summary(signature: Signature, genes: np.ndarray) -> dict[str, Any]:
    """What became of one signature's genes: used, up / down, not in the network, left out and why.

    Parameters
    ----------
    signature
        The signature as used (after the sex-gene filter, if any).
    genes
        (N,) the network's genes.
    """
    coverage = signature.coverage(genes)
    return {"name": signature.name, "source": signature.source, "method": signature.method,
            "log_base": signature.log_base, "n_genes": len(signature), "n_up": int((signature.logfc > 0).sum()),
            "n_down": int((signature.logfc < 0).sum()), "n_in_network": coverage["found"],
            "not_in_network": coverage["absent_genes"], "unmapped": list(signature.unmapped),
            "sex_genes_removed": list(signature.sex_genes_removed),
            "rows_without_logfc": list(signature.missing_ids), "merged_rows": dict(signature.merged),
            "rows_without_gene_id": signature.n_rows_without_id, "padj_max": signature.padj_max,
            "left_out_by_padj_max": list(signature.padj_filtered)}


def run_provenance(model_or_operator: Any, operator: Any, summaries: list[dict[str, Any]],
                   model_source: str | None = None, context_source: str | None = None) -> dict[str, Any]:
    """Where a run's numbers come from: model, network, context and encoder, signatures, genes left out.

    Parameters
    ----------
    model_or_operator
        What the run scored with (a model records its version, training state and context encoder).
    operator
        The operator the run used (its context and network fingerprint).
    summaries
        :func:`signature_summary` of each signature.
    model_source
        Where the model was loaded from (a directory), when known.
    context_source
        What the context was given as (a context id, ``FILE.npz[:ID]`` or a baseline ``.h5ad``), when known.
    """
    from twincell import __version__

    meta = getattr(model_or_operator, "metadata", None) or {}
    return {
        "twincell_version": __version__,
        "model": {"directory": model_source, "version": meta.get("twincell_version"),
                  "trained": meta.get("trained", operator.meta.get("trained")),
                  "training_data": [d.get("name") for d in meta.get("datasets", [])]},
        "network": {"fingerprint": meta.get("interactome", operator.meta.get("interactome")),
                    "summary": meta.get("interactome_summary")},
        "context": {"context": "context-free" if operator.context_free else str(operator.context),
                    "source": context_source, "encoder": meta.get("context_encoder")},
        "signatures": [{"name": s["name"], "source": s["source"], "method": s["method"], "log_base": s["log_base"]}
                       for s in summaries],
        "genes_left_out": {s["name"]: {"sex_genes": s["sex_genes_removed"], "unmapped": s["unmapped"],
                                       "not_in_network": s["not_in_network"],
                                       "rows_without_logfc": s["rows_without_logfc"],
                                       "merged_rows": s["merged_rows"],
                                       "rows_without_gene_id": s["rows_without_gene_id"],
                                       "left_out_by_padj_max": s["left_out_by_padj_max"]} for s in summaries},
        "rules": {"fragile": f"top_walk_share > {FRAGILE_SHARE} or fewer than {FRAGILE_MIN_GENES} signature "
                            "genes reached within K hops",
                  "direction_agrees": "agrees: a drug acts in the predicted direction (the one that helps: the "
                                      "opposite of the row's direction when its score is negative); conflict: the "
                                      "drugs with a known action all act the other way; unknown: no drug with a "
                                      "known action, or a score of 0",
                  "combination": "mean over signatures of the signed, non-negative per-signature z-scores"},
    }


def distinct_names(signatures: Sequence[Signature]) -> list[Signature]:
    """The signatures, a name that several share made distinct by its position among them (``sig``, ``sig #2``; the
    next free number when a signature already has that name):
    the report keys every signature's provenance by its name, and two files ``a/sig.tsv`` and ``b/sig.tsv`` are both
    named ``sig``."""
    taken = {s.name for s in signatures}
    seen: Counter[str] = Counter()
    out = []
    for s in signatures:
        seen[s.name] += 1
        if seen[s.name] == 1:
            out.append(s)
            continue
        number = seen[s.name]
        while f"{s.name} #{number}" in taken:  # a signature already named "sig #2" keeps its name
            number += 1
        taken.add(f"{s.name} #{number}")
        out.append(replace(s, name=f"{s.name} #{number}"))
    return out


def identify_targets(model_or_operator: Any, signature: Signature | Sequence[Signature],
                     context: str | np.ndarray | None = None, *, n_explain: int = 5, k: int = 5,
                     direction: Direction = "both", normalize: Normalize = "none", keep_sex_genes: bool = False,
                     drug_targets: DrugTargets | None = None, model_source: str | None = None,
                     context_source: str | None = None) -> IdentifyResult:
    """Rank all targets for reversing one or several signatures, list the drug targets, explain the best.

    Parameters
    ----------
    model_or_operator
        A model with ``.operator(context)`` or a propagation operator.
    signature
        Disease signature, or several signatures of one disease (ranked each, then combined with
        :func:`~twincell.identify.actionable.combine_rankings`); the desired change is the reverse
        (:meth:`Signature.desired_change`).
    context
        Context id or vector, or None for the context-free edge strengths.
    n_explain
        Targets explained by their walks: the best ``n_explain`` proteins and the best ``n_explain`` drug targets
        (the actionable list's first rows), in ranking order; each with the signature that supports it most.
    k
        Walks per explained target.
    direction, normalize
        As for :func:`~twincell.identify.rank_targets` (``direction`` must be ``both`` for several signatures).
    keep_sex_genes
        Keep the sex-chromosome genes (:data:`~twincell.data.signatures.SEX_GENES`); by default they are left
        out and reported.
    drug_targets
        Drug-target table of the actionable list (default: :meth:`DrugTargets.universe`).
    model_source
        Where the model was loaded from, recorded in the provenance.
    context_source
        What ``context`` was made from (e.g. ``twincell identify --context``'s ``FILE.npz:ID`` or baseline ``.h5ad``),
        recorded in the provenance and the report: a context vector has no name of its own.

    Raises
    ------
    SignatureError
        No signature, anything but :class:`~twincell.data.signatures.Signature` objects, or several signatures with
        a one-sided ``direction``.
    TwinCellError
        ``n_explain`` not a whole number >= 0 or ``k`` not one >= 1.
    """
    sigs = [signature] if isinstance(signature, Signature) else (
        list(signature) if isinstance(signature, Sequence) and not isinstance(signature, str) else [signature])
    if not all(isinstance(s, Signature) for s in sigs):
        raise SignatureError(f"identify_targets takes Signature objects, got {type(signature).__name__}",
                             "read one with twincell.data.signatures.read_signature or load_disease_signature "
                             "(rank_targets takes a plain desired-change Series)")
    n_explain, k = check_count(n_explain, "n_explain", minimum=0), check_count(k, "k")
    if not sigs:
        raise SignatureError("no signature was given", "give at least one disease signature")
    if len(sigs) > 1 and direction != "both":
        raise SignatureError(f"several signatures are combined with direction 'both', not {direction!r}",
                             "drop --direction or rank one signature at a time")
    if not keep_sex_genes:
        sigs = [s.without_sex_genes() for s in sigs]
    sigs = distinct_names(sigs)
    with bar(desc="identifying targets", total=2 + 2 * len(sigs), unit="step") as progress:
        op = resolve_operator(model_or_operator, context)
        progress.update(1)
        rankings, flags, changes = [], [], []
        # fragility is reported for drug targets only (the actionable list), so only their nodes are flagged
        drug_nodes = np.flatnonzero(pd.Index(op.genes.astype(str)).isin(drug_annotation(drug_targets).index))
        for sig in sigs:
            desired = sig.desired_change()
            try:
                rankings.append(rank_targets(op, desired, direction=direction, normalize=normalize,
                                             drug_targets=drug_targets))
            except SignatureError as exc:  # which of several signatures, and from which file
                raise SignatureError(f"signature {sig.name!r} ({sig.source}): {exc.problem}", exc.hint) from exc
            progress.update(1)
            d, _, _ = align_change(desired, op.genes)
            flags.append(fragility(op, d, op.adjoint(d), nodes=drug_nodes))
            changes.append(desired)
            progress.update(1)
        if len(sigs) == 1:
            ranking, flag, best = rankings[0], flags[0], np.zeros(len(rankings[0]), np.int64)
        else:
            ranking = combine_rankings(rankings, operator_degree(op.A), op.genes)
            support = ranking.set_index("gene")[[f"support_{j + 1}" for j in range(len(sigs))]]
            sign = np.where(ranking.set_index("gene")["direction"] == "inhibit", -1.0, 1.0)
            best = np.argmax(support.to_numpy() * sign[:, None], axis=1)  # the signature supporting each gene most
            flag = pd.concat([flags[j].loc[flags[j].index.intersection(support.index[best == j])]
                              for j in range(len(sigs))])
        # the best n_explain proteins and the best n_explain drug targets, in ranking order
        chosen = np.union1d(np.arange(min(n_explain, len(ranking))),
                            np.flatnonzero(ranking["druggable"].to_numpy(bool))[:n_explain])
        top, which = ranking.iloc[chosen], best[chosen]  # each explained by the signature that supports it most
        explanations: list[Explanation] = [None] * len(top)  # type: ignore[list-item]
        for j in np.unique(which):  # one shared explain setup per signature
            rows = np.flatnonzero(which == j)
            for i, e in zip(rows, explain_many(op, top["gene"].iloc[rows], changes[j], k=k,
                                               direction=top["direction"].iloc[rows])):
                explanations[i] = e
        progress.update(1)
    targets = actionable_targets(ranking, flag, drug_targets)
    summaries = [signature_summary(s, op.genes) for s in sigs]
    attrs = rankings[0].attrs
    facts = {
        "signature": "; ".join(f"{s.name} ({s.method}; {s.source})" for s in sigs),
        "desired change": "reverse of the disease signature: -logFC (healthy minus disease)",
        "context": str(attrs["context"]) + (" (model's context-free edge strengths)" if attrs["context_free"] else "")
                   + (f" from {context_source}" if context_source else ""),
        "scoring": (f"{attrs['method']} pass, normalisation {attrs['normalize']}, direction {attrs['direction']}, "
                    f"walks up to {attrs['n_hops']} hops"),
        "score": score_description(len(sigs), direction, normalize),
    }
    if len(sigs) > 1:
        facts["combination"] = (f"{len(sigs)} signatures ranked each and combined: mean of the signed, non-negative "
                                "degree-matched z-scores; n_signatures_agree counts the signatures that support the "
                                "combined direction; fragility flags and walks come from the signature that "
                                "supports the target most")
    provenance = run_provenance(model_or_operator, op, summaries, model_source, context_source)
    provenance["scoring"] = {"method": attrs["method"], "normalize": attrs["normalize"],
                             "direction": attrs["direction"], "n_hops": attrs["n_hops"], "n_explain": n_explain,
                             "k": k, "keep_sex_genes": keep_sex_genes}
    facts["model"] = (f"{provenance['model']['directory'] or 'in memory'} (TwinCell "
                      f"{provenance['model']['version'] or '?'}, trained: {provenance['model']['trained']})")
    facts["network"] = str(provenance["network"]["fingerprint"])
    facts["context encoder"] = str(provenance["context"]["encoder"])
    if len(sigs) == 1:
        ranking.attrs.update(attrs)
    else:  # the combined score is no adjoint alignment: its attrs say so and keep each signature's gene counts
        ranking.attrs.update({**attrs, "method": "combined", "null": "none",
                              **{key: [r.attrs[key] for r in rankings]
                                 for key in ("signature_genes_found", "signature_genes_absent", "change_key")}})
    return IdentifyResult(ranking=ranking, explanations=explanations, facts=facts, targets=targets,
                          signatures=summaries, provenance=provenance, title=" + ".join(s.name for s in sigs),
                          explained_with=[sigs[j].name for j in which])


def score_description(n_signatures: int, direction: Direction, normalize: Normalize) -> str:
    """What the ``score`` column of a run's ranking is, in words (the report's and ``run.json``'s)."""
    if n_signatures > 1:
        return (f"mean over the {n_signatures} signatures of each one's signed, non-negative degree-matched z-score "
                "(support_1, support_2, ... in ranking.csv), in the combined direction")
    what = ("cosine between the predicted expression response to perturbing the gene and the desired change "
            "(the alignment divided by both norms; the response norm estimated)" if normalize == "cosine" else
            "alignment of the predicted expression response to perturbing the gene with the desired change")
    if direction == "both":
        return f"{what}, in the gene's better direction (inhibit or activate)"
    return (f"{what}, when the gene is {'inhibited' if direction == 'inhibit' else 'activated'}: positive moves the "
            "cells towards the desired change, negative away from it")


def _svg(explanation: Explanation) -> str:
    """The explanation's path figure (:func:`~twincell.pl.svg.paths_svg`) as base64 SVG."""
    return base64.b64encode(paths_svg(explanation).encode("utf-8")).decode("ascii")


def _targets_rows(targets: pd.DataFrame, top: int) -> list[dict[str, Any]]:
    """The first ``top`` rows of the actionable list as display strings, fragile rows marked."""
    fragile = set(targets.attrs.get("fragile", []))
    rows = []
    for row in targets.head(top).to_dict("records"):
        cells = {c: (f"{v:.3g}" if isinstance(v, float) else str(v)) for c, v in row.items()}
        cells["drugs"] = cells["drugs"].replace(";", "; ")
        cells["drug_actions"] = cells["drug_actions"].replace(";", "; ")
        cells["indications"] = cells["indications"].replace(";", "; ")
        rows.append({"cells": cells, "fragile": row["gene"] in fragile})
    return rows


#: Columns of ``paths.csv``: :data:`~twincell.identify.explain.PATHS_CSV_COLUMNS` with, after the target's score, the
#: signature its walks were computed with.
REPORT_PATHS_COLUMNS: tuple[str, ...] = (*PATHS_CSV_COLUMNS[:3], "signature", *PATHS_CSV_COLUMNS[3:])

#: The files :func:`write_report` writes into its output folder.
REPORT_FILES: tuple[str, ...] = ("targets.csv", "ranking.csv", "paths.csv", "run.json", "report.html")


def check_report_dir(out_dir: str | Path) -> Path:
    """Check that :func:`write_report` may write into ``out_dir``; returns it as a ``Path``.

    Allowed: a new folder, a folder without any of :data:`REPORT_FILES`, or the folder of an earlier report (its
    ``run.json`` lists those files), whose files are replaced. Other files in the folder are never touched. The
    folder is probed by creating it (with its parents) and a temporary file in it; the folders the probe created are
    removed again.

    Raises
    ------
    TwinCellError
        If ``out_dir`` or one of its parents is a file, the folder holds files named like the report's that an
        earlier report did not write (they would be replaced), or it cannot be created or written to.
    """
    out = Path(out_dir)
    probe_output_dir(out, "the report")  # a file in the way or an unwritable folder fails before the ranking
    clash = [name for name in REPORT_FILES if (out / name).exists()]
    if clash and not _earlier_report(out):
        raise TwinCellError(f"{out} already holds {', '.join(clash)}, not written by an earlier twincell report; "
                            "writing the report there would replace them", "give a new --out folder, or move them")
    return out


def _earlier_report(out: Path) -> bool:
    """True when ``out/run.json`` is the provenance of an earlier :func:`write_report` (it lists the report's files)."""
    try:
        run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    files = run.get("files") if isinstance(run, dict) else None
    return (isinstance(files, dict) and all(isinstance(name, str) for name in files.values())
            and set(files.values()) <= set(REPORT_FILES) and "run.json" in files.values())


def write_report(result: IdentifyResult, out_dir: str | Path, *, top: int = 50, title: str = "") -> dict[str, Path]:
    """Write ``targets.csv``, ``ranking.csv`` (all genes), ``paths.csv``, ``run.json`` and ``report.html``.

    Parameters
    ----------
    result
        Output of :func:`identify_targets`.
    out_dir
        Output directory (created if needed; checked by :func:`check_report_dir`).
    top
        Rows of the actionable list and of the full ranking shown in the HTML report.
    title
        Report title (default: ``result.title``, the signature's name).

    Returns
    -------
    dict
        ``targets``, ``ranking``, ``paths``, ``run`` and ``report`` file paths (also stored in ``result.files``).

    Raises
    ------
    TwinCellError
        ``top`` not a whole number >= 1, a folder :func:`check_report_dir` refuses, or a result whose explanations
        do not match its ``explained_with``; nothing is written then. ``run.json`` is written first, so a folder a
        failed write left behind is still recognised as a report's.
    """
    top = check_count(top, "top")
    out = check_report_dir(out_dir)
    files = dict(zip(("targets", "ranking", "paths", "run", "report"), (out / name for name in REPORT_FILES)))
    # everything is built before the first file is written: a result that fails a check leaves the folder as it was
    used = result.explanation_signatures()
    frames = [e.to_frame().assign(signature=name) for e, name in zip(result.explanations, used)]
    paths = (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(REPORT_PATHS_COLUMNS)))[
        list(REPORT_PATHS_COLUMNS)]  # a header even without explanations
    run = {**result.provenance, "signature_summaries": result.signatures,
           "n_targets": len(result.targets), "fragile_targets": result.targets.attrs.get("fragile", []),
           "files": {key: path.name for key, path in files.items()}}
    fmt = "{:.4g}".format
    items = [{"target": e.target, "direction": e.direction, "n_paths": len(e.paths), "score": f"{e.score:.4g}",
              "signature": name, "share": f"{e.covered_share:.1%}", "svg": _svg(e),
              "table_html": e.paths.drop(columns=["nodes", "strengths"]).to_html(index=False, float_format=fmt)}
             for e, name in zip(result.explanations, used)]
    html = _templates().get_template("identify_report.html.j2").render(
        title=title or result.title, facts=list(result.facts.items()), signatures=result.signatures,
        score_description=result.facts.get("score", ""),
        context_free=bool(result.ranking.attrs.get("context_free")), n_top=min(top, len(result.ranking)),
        target_columns=list(result.targets.columns), target_rows=_targets_rows(result.targets, top),
        n_targets=len(result.targets), n_fragile=len(result.targets.attrs.get("fragile", [])),
        fragile_share=FRAGILE_SHARE, fragile_min_genes=FRAGILE_MIN_GENES,
        ranking_html=result.ranking.head(top).to_html(index=False, float_format=fmt),
        explanations=items)
    out.mkdir(parents=True, exist_ok=True)
    files["run"].write_text(json.dumps(run, indent=2, default=str), encoding="utf-8")  # first: marks the folder ours
    result.targets.to_csv(files["targets"], index=False)
    result.ranking.to_csv(files["ranking"], index=False)
    paths.to_csv(files["paths"], index=False)
    files["report"].write_text(html, encoding="utf-8")
    result.files = files
    return files
