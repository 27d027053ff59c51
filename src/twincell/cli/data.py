"""``twincell data``: bundled datasets."""

from __future__ import annotations

from pathlib import Path

import typer

from twincell.cli._common import console, print_table
from twincell.data.bundled import catalog
from twincell.errors import DataFileError

app = typer.Typer(help="Bundled data and data preparation.", no_args_is_help=True)


@app.command("list")
def list_datasets() -> None:
    """Show each bundled dataset: origin, licence, counts; '!' flags licences with conditions."""
    df = catalog()
    print_table(df[["flag", "name", "counts", "licence", "origin"]], title="Bundled datasets")
    flagged = df[df["flag"] == "!"]
    console.print(f"[yellow]! = licence with conditions[/] ({len(flagged)} datasets): "
                  + "; ".join(f"{n}: {c}" for n, c in zip(flagged["name"], flagged["conditions"])))


@app.command("prepare")
def prepare(
    kind: str = typer.Argument(..., help="Dataset kind; 'tahoe' (Tahoe-100M parquet layout)."),
    src: Path = typer.Option(..., "--src", help="Directory with data/train-*.parquet and metadata/."),
    out: Path = typer.Option(..., "--out", help="Output .h5ad file (PerturbationDataset)."),
    scheduler: str = typer.Option(None, "--scheduler",
                                  help="dask.distributed scheduler address (default: in-process)."),
    plates: str = typer.Option(None, "--plates", help="Comma-separated plates to keep (default: all)."),
) -> None:
    """Pseudobulk a perturbation atlas out of core into one PerturbationDataset file."""
    if kind != "tahoe":
        raise DataFileError(f"unknown dataset kind {kind!r}", "supported: tahoe")
    from twincell.data.tahoe import prepare_tahoe

    ds = prepare_tahoe(src, scheduler=scheduler, plates=[p.strip() for p in plates.split(",")] if plates else None,
                       out=out)
    console.print(f"{ds} -> {out}")
