"""``twincell`` command: sub-commands per layer, errors shown as one clear message."""

from __future__ import annotations

import logging
import sys

import typer
from rich.logging import RichHandler

from twincell.cli import bench as bench_cli
from twincell.cli import context as context_cli
from twincell.cli import data as data_cli
from twincell.cli import identify as identify_cli
from twincell.cli import network as network_cli
from twincell.cli import serve as serve_cli
from twincell.cli import train as train_cli
from twincell.cli._common import console
from twincell.errors import TwinCellError

app = typer.Typer(help="TwinCell: which protein should a drug hit, and why?", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
app.add_typer(data_cli.app, name="data")
app.add_typer(network_cli.app, name="network")
app.add_typer(context_cli.app, name="context")
app.command("identify")(identify_cli.identify)
app.command("bench")(bench_cli.bench)
app.command("serve")(serve_cli.serve)
app.command("train")(train_cli.train)


def run() -> None:
    """Console-script entry point: runs the app and turns TwinCell errors into exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=console, show_time=False, show_path=False)])
    try:
        app()
    except TwinCellError as exc:
        console.print(f"[bold red]error:[/] {exc.problem}")
        if exc.hint:
            console.print(f"[yellow]hint:[/] {exc.hint}")
        sys.exit(2)


if __name__ == "__main__":
    run()
