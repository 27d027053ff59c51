"""Running the app under uvicorn: one process, or several worker processes that each load the model once.

Ranking holds the GIL, so one process uses about one core however many threads it runs. With
``workers > 1`` uvicorn's supervisor starts that many processes (it restarts a worker that dies), each
with its own ``SO_REUSEPORT`` listening socket on the port (:class:`PortListener`); each builds its app
with :func:`app_from_env` from the environment variables set here, loads the saved model read-only and
warms the context-free operator before it accepts requests.

The kernel spreads new connections over the workers' sockets at random, and a keep-alive connection stays
with its worker: 16 connections often split 10:6, and the busier worker's queue sets the tail latency. The
workers therefore publish their open connections (:class:`ConnectionLoads`), and a worker holding more than one
connection above the least busy one answers its next request with ``Connection: close``: the client
reconnects, and the kernel places the new connection again, until the workers hold equal shares.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import os
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import uvicorn
from fastapi import FastAPI
try:  # uvicorn's compiled HTTP parser (the service extra installs httptools)
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as BaseHTTPProtocol
except ImportError:  # pragma: no cover - without httptools: uvicorn's pure-Python h11 parser
    from uvicorn.protocols.http.h11_impl import H11Protocol as BaseHTTPProtocol  # type: ignore[assignment]
from uvicorn.supervisors import Multiprocess

from twincell.errors import TwinCellError
from twincell.identify import kernels, rank_targets
from twincell.identify.actionable import drug_target_list
from twincell.model import TwinCell
from twincell.service.app import create_app
from twincell.service.auth import TOKEN_ENV, resolve_token

MODEL_ENV = "TWINCELL_SERVE_MODEL"
HOSTS_ENV = "TWINCELL_SERVE_HOSTS"
LOADS_ENV = "TWINCELL_SERVE_LOADS"  # "<file>:<workers>": the workers' open-connection counts (ConnectionLoads)
KEEP_ALIVE_S = 5  # idle keep-alive connections are closed after this many seconds
GRACEFUL_SHUTDOWN_S = 30  # requests still running at shutdown get this long to finish
# uvicorn's supervisor kills a worker that does not answer its ping within this many seconds (uvicorn: 5 s). A
# worker importing torch and loading the model on a busy machine can miss 5 s and be killed over and over.
WORKER_HEALTHCHECK_S = 120


class ConnectionLoads:
    """Open connections of each worker process, in a small file that every worker maps.

    One signed 64-bit slot per worker (-1: no worker serves from it yet). A worker claims the first slot whose
    byte range it can lock (``fcntl.lockf``; the kernel drops the lock when the process dies, so a restarted
    worker takes the slot over), writes its count there when a connection opens or closes, and reads the others'.

    Parameters
    ----------
    path
        The file, made by :meth:`create`.
    workers
        Number of slots.
    """

    def __init__(self, path: str | os.PathLike, workers: int) -> None:
        import fcntl  # POSIX only, like SO_REUSEPORT (the only case with several sockets to balance)

        self._file = open(path, "r+b")  # noqa: SIM115 - held (with its lock) for the life of the worker
        self._open = self._leaving = 0
        self._counts = memoryview(mmap.mmap(self._file.fileno(), 8 * workers)).cast("q")
        for slot in range(workers):
            try:
                fcntl.lockf(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB, 8, 8 * slot)
            except OSError:
                continue
            self.slot = slot
            return
        raise RuntimeError(f"all {workers} worker slots of {path} are taken")

    @staticmethod
    def create(workers: int) -> Path:
        """A new slot file for ``workers`` workers, every slot -1 (the caller deletes it)."""
        fd, name = tempfile.mkstemp(prefix="twincell-serve-", suffix=".loads")
        with os.fdopen(fd, "wb") as f:
            f.write((-1).to_bytes(8, sys.byteorder, signed=True) * workers)  # native order, as the "q" view reads
        return Path(name)

    def change(self, opened: int = 0, leaving: int = 0) -> None:
        """Count connections opened (+1) or closed (-1), and those told to close after their answer (+1 when
        told, -1 when gone); the slot holds the connections that stay."""
        self._open += opened
        self._leaving += leaving
        self._counts[self.slot] = self._open - self._leaving

    def busier_than_others(self) -> bool:
        """Whether this worker keeps more than one connection above the least busy serving worker."""
        others = [c for i, c in enumerate(self._counts) if i != self.slot and c >= 0]
        return bool(others) and self._counts[self.slot] > min(others) + 1


class HeadTimeoutProtocol(BaseHTTPProtocol):
    """uvicorn's HTTP protocol (httptools, or h11 without it) that also closes a connection whose request head
    is late.

    uvicorn closes idle keep-alive connections, but not one that connects and sends nothing, or sends
    its headers a byte at a time (slowloris). Here a connection must deliver a complete request head
    within ``head_timeout_s`` seconds of connecting or of starting to send it, and in at most ``max_head_bytes``
    bytes (httptools sets no such cap: a longer head would be held in memory whole); request bodies are timed
    by :class:`~twincell.service.auth.RequestGuard`.
    """

    head_timeout_s: float = 10.0
    max_head_bytes: int = 16 * 1024
    _head_bytes: int = 0
    loads: ConnectionLoads | None = None  #: set in each worker of a multi-worker server (:func:`app_from_env`)
    _head_timer: asyncio.TimerHandle | None = None
    _leaving: bool = False

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
        """Start the clock for the first request head; count the connection."""
        super().connection_made(transport)
        self._arm()
        if self.loads is not None:
            self.loads.change(opened=1)

    def data_received(self, data: bytes) -> None:
        """Parse as uvicorn does; stop the clock once a request head is complete, start it for the next one; close
        a connection whose head passes ``max_head_bytes``.

        A request that arrives while this worker keeps more connections than its share is answered with
        ``Connection: close`` (the client reconnects, and the kernel places the connection anew).
        """
        super().data_received(data)
        if self._waiting_for_head():
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self.transport.close()
                return
            self._arm()
            return
        self._head_bytes = 0
        self._disarm()
        if self.loads is not None and not self._leaving and self.loads.busier_than_others():
            self.cycle.keep_alive = False
            self._leaving = True
            self.loads.change(leaving=1)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock; count the connection out."""
        self._disarm()
        super().connection_lost(exc)
        if self.loads is not None:
            self.loads.change(opened=-1, leaving=-1 if self._leaving else 0)

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._waiting_for_head():
            self.timeout_keep_alive_handler()  # closes the connection


def prepare_worker(model: TwinCell) -> TwinCell:
    """Ready a serving process before it accepts requests; returns ``model``.

    Turns the compiled kernels on when numba is installed (the ``fast`` extra; :func:`twincell.identify.kernels.enable`:
    the drug-target list's edge passes, the same values) and ranks a one-gene change on the context-free operator,
    so that the operator, its per-operator arrays and the kernels (from numba's cache, or compiled) are ready
    before the first request.
    """
    fast = kernels.enable()
    logging.getLogger("uvicorn.error").info("compiled kernels %s", "on" if fast else "off (numba is not installed)")
    desired = pd.Series({str(model.operator(None).genes[0]): 1.0})
    drug_target_list(model, desired, rank_targets(model, desired), top=1)
    return model


def app_from_env() -> FastAPI:
    """The app of one worker process: model directory, token and allowed hosts from the environment.

    Reads ``$TWINCELL_SERVE_MODEL`` (saved model directory), ``$TWINCELL_API_TOKEN``,
    ``$TWINCELL_SERVE_HOSTS`` (comma-separated host names) and ``$TWINCELL_SERVE_LOADS`` (the workers'
    :class:`ConnectionLoads` file and their number; balancing is off without it), as :func:`serve` sets them.
    """
    model = prepare_worker(TwinCell.load(os.environ[MODEL_ENV]))
    app = create_app(model, token=resolve_token(), allowed_hosts=os.environ[HOSTS_ENV].split(","))
    if os.environ.get(LOADS_ENV):
        path, workers = os.environ[LOADS_ENV].rsplit(":", 1)
        HeadTimeoutProtocol.loads = ConnectionLoads(path, int(workers))
        HeadTimeoutProtocol.loads.change()  # serving, with no connection yet
    return app


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
        loaded = prepare_worker(model if isinstance(model, TwinCell) else TwinCell.load(model))
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
    loads = ConnectionLoads.create(workers)
    os.environ[LOADS_ENV] = f"{loads}:{workers}"
    config = uvicorn.Config(f"{__name__}:app_from_env", factory=True, workers=workers,
                            timeout_worker_healthcheck=WORKER_HEALTHCHECK_S, **options)
    try:
        Multiprocess(config, sockets=[PortListener(host, port)]).run()
    finally:
        loads.unlink(missing_ok=True)
        os.environ.pop(LOADS_ENV, None)


def check_bindable(host: str, port: int) -> None:
    """Check that ``host:port`` can be bound now, before any model is loaded or worker started.

    Raises
    ------
    TwinCellError
        If ``host`` does not resolve, ``port`` is outside 1-65535, or the address is taken or not this machine's.
    """
    if not 1 <= port <= 65535:
        raise TwinCellError(f"port {port} is outside 1-65535", "give --port a TCP port, e.g. 8000")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise TwinCellError(f"cannot resolve --host {host!r}: {exc}",
                            "give an address or host name of this machine, e.g. 127.0.0.1 or 0.0.0.0") from exc
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise TwinCellError(f"cannot serve on {host}:{port}: {exc.strerror or exc}",
                                "choose a free port (--port), stop the process holding it, or give --host an "
                                "address of this machine") from exc


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
