"""``twincell identify``: rank targets that reverse a disease signature, explain the best, write a report."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from twincell.cli._common import MAX_EXPLAIN, MAX_PATHS, console, load_model, print_table
from twincell.errors import SignatureError


def identify(
    signature: Path = typer.Option(None, "--signature", help="Disease signature table (gene, logFC[, padj]; TSV/CSV)."),
    disease: str = typer.Option(None, "--disease", help="Bundled disease signature by name, e.g. SLE."),
    context: str = typer.Option(None, "--context", help="Context id (any case; `twincell context list`), an .h5ad of "
                                "the patients' baseline expression, or a registry FILE.npz[:ID] from `twincell context "
                                "encode` (default: context-free edge strengths)."),
    out: Path = typer.Option(..., "--out", help="Output directory (ranking.csv, paths.csv, report.html)."),
    model: Path = typer.Option(None, "--model", help="Saved model directory (default: the bundled default model)."),
    top: int = typer.Option(50, "--top", min=1, help="Targets shown in the report and printed."),
    n_explain: int = typer.Option(5, "--explain", min=0, max=MAX_EXPLAIN, help="Top targets explained by signalling walks."),
    k: int = typer.Option(5, "--paths", min=1, max=MAX_PATHS, help="Walks per explained target."),
    direction: Literal["both", "inhibit", "activate"] = typer.Option("both", "--direction", help="Target direction."),
    normalize: Literal["none", "cosine"] = typer.Option("none", "--normalize",
                                                        help="none (alignment) | cosine (Hutchinson norms)."),
    gene_col: str = typer.Option(None, "--gene-col", help="Gene column of the signature table."),
    logfc_col: str = typer.Option(None, "--logfc-col", help="Log fold change column of the signature table."),
    padj_col: str = typer.Option(None, "--padj-col", help="Adjusted p-value column of the signature table."),
    padj_max: float = typer.Option(None, "--padj-max", min=0.0, max=1.0, help="Keep signature genes with padj <= this."),
) -> None:
    """Rank every protein by how well perturbing it reverses a disease signature, and show why."""
    from twincell.data.signatures import load_disease_signature, read_signature
    from twincell.identify import identify_targets, resolve_context, write_report

    if (signature is None) == (disease is None):
        raise SignatureError("give exactly one of --signature FILE or --disease NAME",
                             "e.g. twincell identify --disease SLE --out results/")
    sig = (load_disease_signature(disease, padj_max=padj_max) if disease is not None else
           read_signature(signature, gene_col=gene_col, logfc_col=logfc_col, padj_col=padj_col, padj_max=padj_max))
    console.print(sig.summary())
    twin = load_model(model)
    result = identify_targets(twin, sig, resolve_context(context, twin), n_explain=n_explain, k=k,
                              direction=direction, normalize=normalize)
    files = write_report(result, out, top=top)
    for key, value in result.facts.items():
        console.print(f"[bold]{key}:[/] {value}")
    print_table(result.ranking.head(min(top, 20)), title="top targets")
    for e in result.explanations:
        console.print(str(e))
    console.print(f"wrote {files['ranking']}, {files['paths']} and {files['report']}")
