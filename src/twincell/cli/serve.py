"""``twincell serve``: the HTTP API and web page (see docs/service.md)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import typer

from twincell.cli._common import console, load_model


def serve(
    model: Path = typer.Option(None, "--model", help="Saved model directory (default: the bundled default model)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; loopback by default."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    token_file: Path = typer.Option(None, "--token-file",
                                    help="File whose first line is the API bearer token "
                                         "(default: $TWINCELL_API_TOKEN; none = no auth)."),
    workers: int = typer.Option(1, "--workers", min=1,
                                help="Worker processes, each loading the model once (ranking holds the GIL: "
                                     "use about one per CPU core)."),
    allow_host: list[str] = typer.Option(None, "--allow-host",
                                         help="Host name clients may use in the Host header, besides the loopback "
                                              "names and --host (repeatable; '*' = any, only behind a proxy)."),
) -> None:
    """Serve the HTTP API (/v1/...) and the browsable page (/) for one model, loaded once per worker."""
    from twincell.model.default import default_model_dir
    from twincell.service.auth import allowed_host_names, resolve_token
    from twincell.service.server import check_bindable
    from twincell.service.server import serve as run_server

    check_bindable(host, port)  # a bad address or a taken port fails before the model loads
    token = resolve_token(token_file)
    loaded = load_model(model)  # fails here, in one process, on a bad directory; trains the default model once
    if not _is_loopback(host) and token is None:
        console.print(f"[yellow]warning:[/] serving on {host} without a token: anyone who can reach it can use it "
                      "(set $TWINCELL_API_TOKEN or --token-file)")
    hosts = allowed_host_names(host, allow_host or ())
    console.print(f"TwinCell service on http://{host}:{port}/ ({workers} worker(s); API schema at /openapi.json; "
                  f"allowed hosts: {', '.join(hosts)})")
    run_server(loaded if workers == 1 else (model or default_model_dir()), host=host, port=port, token=token,
               allowed_hosts=hosts, workers=workers)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
