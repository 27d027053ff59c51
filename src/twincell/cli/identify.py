"""``twincell identify``: rank targets that reverse a disease signature, list the drug targets, explain the best."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from twincell.cli._common import MAX_EXPLAIN, MAX_PATHS, console, open_model, print_table
from twincell.errors import SignatureError


def identify(
    signature: list[Path] = typer.Option(None, "--signature", help="Disease signature table (gene, logFC[, padj]; "
                                         "TSV/CSV). Repeat it for several signatures of one disease: each is "
                                         "ranked and the rankings are combined."),
    disease: str = typer.Option(None, "--disease", help="Bundled disease signature by name, e.g. SLE."),
    h5ad: Path = typer.Option(None, "--h5ad", help="AnnData of patient and control samples or cells; the signature "
                              "is computed with scanpy (wilcoxon) or PyDESeq2 (deseq2)."),
    groupby: str = typer.Option(None, "--groupby", help="--h5ad: obs column holding the groups."),
    disease_group: str = typer.Option(None, "--disease-group", help="--h5ad: the patients' group."),
    control_group: str = typer.Option(None, "--control-group", help="--h5ad: the controls' group."),
    layer: str = typer.Option(None, "--layer", help="--h5ad: layer to use instead of X."),
    de: str = typer.Option("wilcoxon", "--de", help="--h5ad: wilcoxon (scanpy) | deseq2 (PyDESeq2, raw counts)."),
    log_base: str = typer.Option(None, "--log-base", help="--h5ad: log base of log-normalised data (2, 10 or e); "
                                 "not needed for raw counts or when adata.uns['log1p'] records it."),
    var_col: str = typer.Option(None, "--var-col", help="--h5ad: var column with gene names (default: var_names)."),
    keep_sex_genes: bool = typer.Option(False, "--keep-sex-genes", help="Keep Y-chromosome genes and XIST/TSIX in "
                                        "the signature (left out by default: they follow the donors' sex)."),
    context: str = typer.Option(None, "--context", help="Context id (any case; `twincell context list`), an .h5ad of "
                                "the patients' baseline expression, or a registry FILE.npz[:ID] from `twincell context "
                                "encode` (default: context-free edge strengths)."),
    out: Path = typer.Option(..., "--out", help="Output directory (targets.csv, ranking.csv, paths.csv, run.json, "
                             "report.html)."),
    model: Path = typer.Option(None, "--model", help="Saved model directory (default: the bundled default model)."),
    top: int = typer.Option(50, "--top", min=1, help="Targets shown in the report (the first 20 of them printed; every "
                            "target is in targets.csv and ranking.csv)."),
    n_explain: int = typer.Option(5, "--explain", min=0, max=MAX_EXPLAIN, help="Explain the best N proteins and the "
                                  "best N drug targets by their signalling walks."),
    k: int = typer.Option(5, "--paths", min=1, max=MAX_PATHS, help="Walks per explained target."),
    direction: Literal["both", "inhibit", "activate"] = typer.Option("both", "--direction", help="Target direction."),
    normalize: Literal["none", "cosine"] = typer.Option("none", "--normalize",
                                                        help="none (alignment) | cosine (Hutchinson norms)."),
    gene_col: str = typer.Option(None, "--gene-col", help="Gene column of the signature table."),
    logfc_col: str = typer.Option(None, "--logfc-col", help="Log fold change column of the signature table."),
    padj_col: str = typer.Option(None, "--padj-col", help="Adjusted p-value column of the signature table."),
    padj_max: float = typer.Option(None, "--padj-max", min=0.0, max=1.0, help="Keep signature genes with padj <= this."),
) -> None:
    """Rank every protein by how well perturbing it reverses a disease signature, list the drug targets, show why."""
    from twincell.data.signatures import load_disease_signature, read_signature, signature_from_h5ad
    from twincell.identify import check_report_dir, identify_targets, resolve_context, write_report
    from twincell.identify.actionable import brief_targets
    from twincell.model.default import default_model_dir

    if sum(bool(x) for x in (signature, disease, h5ad)) != 1:
        raise SignatureError("give exactly one of --signature FILE (repeatable), --disease NAME or --h5ad FILE",
                             "e.g. twincell identify --disease SLE --out results/")
    _check_options(signature, h5ad, {"--gene-col": gene_col, "--logfc-col": logfc_col, "--padj-col": padj_col},
                   {"--groupby": groupby, "--disease-group": disease_group, "--control-group": control_group,
                    "--layer": layer, "--log-base": log_base, "--var-col": var_col, "--de": de != "wilcoxon"})
    if padj_max is not None and h5ad is not None:
        raise SignatureError("--padj-max applies to signature tables and bundled signatures, not to --h5ad",
                             "drop it: the --h5ad signature keeps every tested gene")
    check_report_dir(out)                      # before any work: a bad --out fails fast
    if h5ad is not None:
        if not (groupby and disease_group and control_group):
            raise SignatureError("--h5ad needs --groupby, --disease-group and --control-group",
                                 "e.g. --h5ad pbmc.h5ad --groupby condition --disease-group SLE --control-group healthy")
        sigs = [signature_from_h5ad(h5ad, groupby, disease_group, control_group, method=de, gene_col=var_col,
                                    layer=layer, log_base=log_base)]
    elif disease is not None:
        sigs = [load_disease_signature(disease, padj_max=padj_max)]
    else:
        sigs = [read_signature(f, gene_col=gene_col, logfc_col=logfc_col, padj_col=padj_col, padj_max=padj_max)
                for f in signature]
    for sig in sigs:  # as it is scored: without the sex-chromosome genes unless they are kept
        shown = sig if keep_sex_genes else sig.without_sex_genes()
        console.print(shown.summary() + (f"; log base {sig.log_base}" if sig.log_base else ""))
    twin = open_model(model)
    result = identify_targets(twin, sigs, resolve_context(context, twin), context_source=context, n_explain=n_explain,
                              k=k, direction=direction,  # type: ignore[arg-type]
                              normalize=normalize, keep_sex_genes=keep_sex_genes,  # type: ignore[arg-type]
                              model_source=str(model or default_model_dir()))
    files = write_report(result, out, top=top)
    for key, value in result.facts.items():
        console.print(f"[bold]{key}:[/] {value}")
    for s in result.signatures:
        if s["sex_genes_removed"]:
            console.print(f"{s['name']}: left out {len(s['sex_genes_removed'])} sex-chromosome genes "
                          f"({', '.join(s['sex_genes_removed'])}); --keep-sex-genes keeps them")
    print_table(brief_targets(result.targets.head(min(top, 20))), title="top drug targets (targets.csv)")
    print_table(result.ranking.head(min(top, 20)), title="top targets (all proteins)")
    for e in result.explanations:
        console.print(str(e))
    console.print(f"wrote {', '.join(str(files[key]) for key in ('targets', 'ranking', 'paths', 'run'))} "
                  f"and {files['report']}")


def _check_options(signature: list[Path] | None, h5ad: Path | None, table_options: dict[str, object],
                   h5ad_options: dict[str, object]) -> None:
    """Refuse options that the chosen input would ignore, and a signature file given twice."""
    table_unused = [name for name, value in table_options.items() if value and not signature]
    h5ad_unused = [name for name, value in h5ad_options.items() if value and h5ad is None]
    reasons = ([f"{', '.join(table_unused)} only with --signature"] if table_unused else []) + \
              ([f"{', '.join(h5ad_unused)} only with --h5ad"] if h5ad_unused else [])
    if reasons:
        raise SignatureError(f"options that this input would ignore: {'; '.join(reasons)}",
                             "drop them, or give the input they belong to")
    files = [Path(f).resolve() for f in signature or ()]
    twice = sorted({str(f) for f in files if files.count(f) > 1})
    if twice:
        raise SignatureError(f"--signature names the same file more than once: {', '.join(twice)}",
                             "give each signature once (each counts as one independent signature)")
