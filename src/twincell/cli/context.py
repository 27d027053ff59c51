"""``twincell context``: list the context registry, encode contexts from an .h5ad file."""

from __future__ import annotations

from pathlib import Path

import typer

from twincell.cli._common import console, print_table

app = typer.Typer(help="Cell contexts (Geneformer or expression embeddings).", no_args_is_help=True)


@app.command("list")
def list_contexts(
    registry: Path = typer.Option(None, "--registry", help="Saved registry (.npz); default: the bundled contexts."),
) -> None:
    """Show every context: whether it has baseline expression, its datasets, source and notes."""
    from twincell.context import ContextRegistry

    reg = ContextRegistry.load(registry) if registry else ContextRegistry.default()
    df = reg.to_frame()
    print_table(df[["context", "has_baseline", "n_profiles", "datasets", "source", "note"]], title=repr(reg))
    console.print("contexts without baseline expression use the zero vector (the reference mean); "
                  "sources are bundled datasets (`twincell data list`)")


@app.command("encode")
def encode(
    h5ad: Path = typer.Option(..., "--h5ad", help="AnnData of cells or bulk samples (raw counts / linear expression)."),
    key: str = typer.Option(..., "--key", help="obs column with the context id of each cell/sample."),
    out: Path = typer.Option(..., "--out", help="Output registry file (.npz)."),
    geneformer_dir: Path = typer.Option(None, "--geneformer-dir", help="Geneformer model directory (else "
                                        "$TWINCELL_GENEFORMER_DIR; without either, the ExpressionEncoder is used)."),
    layer: int = typer.Option(None, help="Geneformer layer: -1 = second-to-last (default), 0 = last."),
    pooling: str = typer.Option(None, help="Geneformer pooling: cls (V2 default) or mean."),
    batch_size: int = typer.Option(None, min=1, help="Cells per Geneformer forward pass (default 16)."),
    var_col: str = typer.Option(None, "--var-col", help="var column with gene symbols or Ensembl IDs (default: "
                                "var_names, or an 'ensembl_id' column)."),
) -> None:
    """Encode the contexts of an .h5ad file and save them as a context registry."""
    from twincell.context.encode import encode_h5ad, make_encoder

    given = {"layer": layer, "pooling": pooling, "batch_size": batch_size}
    encoder = make_encoder(geneformer_dir, **{k: v for k, v in given.items() if v is not None})
    reg = encode_h5ad(h5ad, key, encoder, var_col=var_col)
    console.print(f"{reg} -> {reg.save(out)}")
