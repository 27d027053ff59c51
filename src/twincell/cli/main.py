"""``twincell`` command: sub-commands per layer, errors shown as one clear message.

Each sub-command lives in its own module. :func:`run` imports only the module of the sub-command on
the command line (``twincell identify ...`` never imports the network builder, the trainer or the
service); ``twincell --help``, an unknown name and :data:`app` (for tests) register all of them.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

import typer

from twincell.cli._common import err_console
from twincell.errors import TwinCellError

HELP = "TwinCell: which protein should a drug hit, and why?"
# sub-command -> (module under twincell.cli, attribute, whether it is a group of commands)
COMMANDS = {"data": ("data", "app", True), "network": ("network", "app", True), "context": ("context", "app", True),
            "identify": ("identify", "identify", False), "bench": ("bench", "bench", False),
            "serve": ("serve", "serve", False), "train": ("train", "train", False)}


def build_app(argv: Sequence[str] | None = None) -> typer.Typer:
    """The typer app with the sub-command that ``argv`` names, or with all of them.

    Parameters
    ----------
    argv
        Command-line arguments without the program name; None registers every sub-command.
    """
    app = typer.Typer(help=HELP, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
    app.callback()(_root)  # a group even when one sub-command is registered
    first = next((a for a in argv or [] if not a.startswith("-")), None)
    for name in [first] if argv is not None and first in COMMANDS else COMMANDS:
        module, attr, group = COMMANDS[name]
        obj = getattr(importlib.import_module(f"twincell.cli.{module}"), attr)
        if group:
            app.add_typer(obj, name=name)
        else:
            app.command(name)(obj)
    return app


def _root() -> None:
    """TwinCell: which protein should a drug hit, and why?"""


def __getattr__(name: str) -> Any:
    if name == "app":  # the full app, built on first use (tests, typer's own tools)
        return build_app()
    raise AttributeError(f"module 'twincell.cli.main' has no attribute {name!r}")


def run() -> None:
    """Console-script entry point: runs the app and turns TwinCell errors into exit code 2."""
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=err_console, show_time=False, show_path=False)])
    try:
        build_app(sys.argv[1:])()
    except TwinCellError as exc:
        err_console.print(f"[bold red]error:[/] {exc.problem}")
        if exc.hint:
            err_console.print(f"[yellow]hint:[/] {exc.hint}")
        sys.exit(2)


if __name__ == "__main__":
    run()
