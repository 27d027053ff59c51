"""Running the app under uvicorn: one process, or several worker processes that each load the model once.

Ranking holds the GIL, so one process uses about one core however many threads it runs. With
``workers > 1`` uvicorn's supervisor starts that many processes (it restarts a worker that dies), each
with its own ``SO_REUSEPORT`` listening socket on the port (:class:`PortListener`); each builds its app
with :func:`app_from_env` from the environment variables set here, loads the saved model read-only and
warms the context-free operator before it accepts requests.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from fastapi import FastAPI
try:  # uvicorn's compiled HTTP parser (the service extra installs httptools)
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as BaseHTTPProtocol
except ImportError:  # pragma: no cover - without httptools: uvicorn's pure-Python h11 parser
    from uvicorn.protocols.http.h11_impl import H11Protocol as BaseHTTPProtocol  # type: ignore[assignment]
from uvicorn.supervisors import Multiprocess

from twincell.model import TwinCell
from twincell.service.app import create_app
from twincell.service.auth import TOKEN_ENV, resolve_token

MODEL_ENV = "TWINCELL_SERVE_MODEL"
HOSTS_ENV = "TWINCELL_SERVE_HOSTS"
KEEP_ALIVE_S = 5  # idle keep-alive connections are closed after this many seconds
GRACEFUL_SHUTDOWN_S = 30  # requests still running at shutdown get this long to finish
# uvicorn's supervisor kills a worker that does not answer its ping within this many seconds (uvicorn: 5 s). A
# worker importing torch and loading the model on a busy machine can miss 5 s and be killed over and over.
WORKER_HEALTHCHECK_S = 120


class HeadTimeoutProtocol(BaseHTTPProtocol):
    """uvicorn's HTTP protocol (httptools, or h11 without it) that also closes a connection whose request head
    is late.

    uvicorn closes idle keep-alive connections, but not one that connects and sends nothing, or sends
    its headers a byte at a time (slowloris). Here a connection must deliver a complete request head
    within ``head_timeout_s`` seconds of connecting or of starting to send it; request bodies are timed
    by :class:`~twincell.service.auth.RequestGuard`.
    """

    head_timeout_s: float = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request head."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Parse as uvicorn does; stop the clock once a request head is complete, start it for the next one."""
        super().data_received(data)
        if self._waiting_for_head():
            self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._waiting_for_head():
            self.timeout_keep_alive_handler()  # closes the connection


def app_from_env() -> FastAPI:
    """The app of one worker process: model directory, token and allowed hosts from the environment.

    Reads ``$TWINCELL_SERVE_MODEL`` (saved model directory), ``$TWINCELL_API_TOKEN`` and
    ``$TWINCELL_SERVE_HOSTS`` (comma-separated host names), as :func:`serve` sets them.
    """
    model = TwinCell.load(os.environ[MODEL_ENV])
    model.operator(None)  # build the context-free operator now, not in the first request
    return create_app(model, token=resolve_token(), allowed_hosts=os.environ[HOSTS_ENV].split(","))


def serve(model: TwinCell | Path, *, host: str, port: int, token: str | None, allowed_hosts: Sequence[str],
          workers: int = 1, log_level: str = "info") -> None:
    """Serve the app with uvicorn until interrupted.

    Parameters
    ----------
    model
        A loaded model (one process) or a saved model directory (required when ``workers > 1``: each
        worker process loads it).
    host, port
        Address to bind.
    token
        Bearer token required on ``/v1`` requests, or None.
    allowed_hosts
        Host names accepted in the ``Host`` header.
    workers
        Number of worker processes.
    log_level
        uvicorn's log level.
    """
    options = {"host": host, "port": port, "log_level": log_level, "timeout_keep_alive": KEEP_ALIVE_S,
               "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S, "http": HeadTimeoutProtocol}
    if workers == 1:
        loaded = model if isinstance(model, TwinCell) else TwinCell.load(model)
        uvicorn.run(create_app(loaded, token=token, allowed_hosts=allowed_hosts), **options)
        return
    if isinstance(model, TwinCell):
        raise TypeError("several workers need a saved model directory, not a loaded model")
    os.environ[MODEL_ENV] = str(model)
    os.environ[HOSTS_ENV] = ",".join(allowed_hosts)
    if token is not None:
        os.environ[TOKEN_ENV] = token
    else:
        os.environ.pop(TOKEN_ENV, None)
    if not hasattr(socket, "SO_REUSEPORT"):  # e.g. Windows: one socket shared by the workers
        uvicorn.run(f"{__name__}:app_from_env", factory=True, workers=workers,
                    timeout_worker_healthcheck=WORKER_HEALTHCHECK_S, **options)
        return
    reuse_port_socket(host, port).close()  # a taken port fails here, once, not in every worker
    config = uvicorn.Config(f"{__name__}:app_from_env", factory=True, workers=workers,
                            timeout_worker_healthcheck=WORKER_HEALTHCHECK_S, **options)
    Multiprocess(config, sockets=[PortListener(host, port)]).run()


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT`` (several processes may bind the port; the
    kernel spreads new connections over them).

    Its protocol is stated (``IPPROTO_TCP``, not 0): asyncio sets ``TCP_NODELAY`` only on connections accepted
    from such a socket. Without it (uvicorn's own worker socket) an answer written in two pieces waited for
    the client's delayed ACK: every ``/healthz`` took 40-50 ms.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class PortListener:
    """Stands for a worker's listening socket: unpickled in each worker process, it binds that worker's own
    ``SO_REUSEPORT`` socket.

    uvicorn's supervisor hands every worker the same listening socket; the first worker to wake then accepts
    every pending connection, and with keep-alive clients one worker can hold all of them while the others
    idle (measured: one worker at 100 % of a core, the other at 0 %). With a socket per worker the kernel
    spreads connections over the workers.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def __reduce__(self) -> tuple:
        """Pickled into a worker as a call of :func:`reuse_port_socket`."""
        return reuse_port_socket, (self.host, self.port)
