"""``twincell network``: build, summarise and query the interactome."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from twincell.cli._common import MAX_PATHS, console, print_table
from twincell.data.tables import read_user_table
from twincell.network import Interactome
from twincell.network.build import ALL_SOURCES

app = typer.Typer(help="The interactome.", no_args_is_help=True)


def load_network(network: Path | None) -> Interactome:
    """The default cached interactome, a saved ``.parquet`` network, or a user edge table (TSV/CSV)."""
    if network is None:
        return Interactome.default()
    if network.suffix == ".parquet":
        return Interactome.load(network)
    return Interactome.from_edges(read_user_table(network, what="edge table",
                                                  hint="give a TSV/CSV with source, target, weight columns"),
                                  name=network.name)


@app.command()
def summary(network: Path = typer.Option(None, "--network", help="Saved network (.parquet) or edge table (.tsv/.csv).")) -> None:
    """Print nodes, edges, signed and directed share, TF edges, largest component, degree stats."""
    net = load_network(network)
    s = net.summary()
    print_table(pd.DataFrame({"quantity": list(s), "value": list(s.values())}), title=repr(net))


@app.command("build")
def build_network(
    out: Path = typer.Option(..., "--out", help="Output parquet file."),
    sources: str = typer.Option(",".join(ALL_SOURCES), help="Comma-separated sources."),
    min_weight: float = typer.Option(0.0, help="Minimum PathLinker evidence score."),
) -> None:
    """Build the interactome from the bundled raw sources and save it to one file."""
    net = Interactome.build(sources=[s.strip() for s in sources.split(",")], min_weight=min_weight)
    net.save(out)
    console.print(f"{net} -> {out}")


@app.command()
def paths(source: str, target: str, k: int = typer.Option(5, min=1, max=MAX_PATHS, help="Number of paths."),
          network: Path = typer.Option(None, "--network")) -> None:
    """The k most probable simple paths from SOURCE to TARGET."""
    net = load_network(network)
    rows = [{"path": str(p), "sign": p.sign, "probability": p.probability} for p in net.paths(source, target, k)]
    if not rows:
        console.print(f"no path from {source} to {target} in {net!r}")
        return
    print_table(pd.DataFrame(rows), title=f"{source} -> {target}")
