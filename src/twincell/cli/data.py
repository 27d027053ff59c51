"""``twincell data``: bundled datasets."""

from __future__ import annotations

import typer

from twincell.cli._common import console, print_table
from twincell.data.bundled import catalog

app = typer.Typer(help="Bundled data and data preparation.", no_args_is_help=True)


@app.command("list")
def list_datasets() -> None:
    """Show each bundled dataset: origin, licence, counts; '!' flags licences with conditions."""
    df = catalog()
    print_table(df[["flag", "name", "counts", "licence", "origin"]], title="Bundled datasets")
    flagged = df[df["flag"] == "!"]
    console.print(f"[yellow]! = licence with conditions[/] ({len(flagged)} datasets): "
                  + "; ".join(f"{n}: {c}" for n, c in zip(flagged["name"], flagged["conditions"])))
