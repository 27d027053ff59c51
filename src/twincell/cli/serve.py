"""``twincell serve``: the HTTP API and web page (see docs/service.md)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import typer

from twincell.cli._common import console, load_model


def serve(
    model: Path = typer.Option(None, "--model", help="Saved model directory (default: the bundled default model)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; loopback by default."),
    port: int = typer.Option(8000, help="TCP port."),
    token_file: Path = typer.Option(None, "--token-file",
                                    help="File whose first line is the API bearer token "
                                         "(default: $TWINCELL_API_TOKEN; none = no auth)."),
) -> None:
    """Serve the HTTP API (/v1/...) and the browsable page (/) for one model, loaded once."""
    import uvicorn

    from twincell.service import create_app
    from twincell.service.auth import resolve_token

    token = resolve_token(token_file)
    loaded = load_model(model)
    if not _is_loopback(host) and token is None:
        console.print(f"[yellow]warning:[/] serving on {host} without a token: anyone who can reach it can use it "
                      "(set $TWINCELL_API_TOKEN or --token-file)")
    console.print(f"TwinCell service on http://{host}:{port}/ (API docs at /docs)")
    uvicorn.run(create_app(loaded, token=token), host=host, port=port, log_level="info")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
