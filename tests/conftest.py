"""Shared fixtures. The real interactome is built once per session (cached on disk after the first build)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TWINCELL_PROGRESS", "0")


@pytest.fixture(scope="session")
def interactome():
    """The default interactome built from the bundled real sources."""
    from twincell.network import Interactome

    return Interactome.default()


@pytest.fixture(scope="session")
def service_model(interactome):
    """A small context-gated TwinCell for the service tests.

    Network: the real edges among the 300 nodes nearest STAT1 (breadth-first, both directions).
    Contexts ``synthetic_ctx_a`` / ``synthetic_ctx_b`` are random vectors, and the training data are
    responses simulated from the prior model (labelled synthetic); a 2-epoch fit (~2 s) sets the gates.
    """
    import numpy as np

    from twincell.data.perturbation import PerturbationDataset
    from twincell.model import TwinCell
    from twincell.model.synthetic import simulate_responses

    net = interactome.subgraph(interactome.neighbourhood("STAT1", 300))
    rng = np.random.default_rng(0)
    perturbations = [{str(g): int(rng.choice([-1, 1]))} for g in rng.choice(net.genes, 30, replace=False)]
    simulated = simulate_responses(TwinCell.prior(net), perturbations, [None], name="synthetic_service")
    parts = []
    for ctx in ("synthetic_ctx_a", "synthetic_ctx_b"):
        adata = simulated.adata.copy()
        adata.obs["context"] = ctx
        adata.obs_names = [f"{ctx}:{i}" for i in range(adata.n_obs)]
        parts.append(PerturbationDataset(adata, validate=False))
    contexts = {c: rng.standard_normal(4).astype(np.float32) for c in ("synthetic_ctx_a", "synthetic_ctx_b")}
    return TwinCell(net, 4, seed=0).fit([PerturbationDataset.concat(parts)], contexts, max_epochs=2)


@pytest.fixture()
def python_environ(monkeypatch):
    """``os.environ`` replaced, for one test, by a plain copy that the test and the code it calls may change.

    Changing the real ``os.environ`` calls C ``setenv`` / ``unsetenv``, which race with ``getenv`` in other
    threads (e.g. the session's uvicorn threads formatting a log time: ``localtime`` reads ``TZ``) and can
    crash the process; Python code reads the copy through ``os.environ`` / ``os.getenv`` all the same.
    Subprocesses started by the test do not see its changes.
    """
    monkeypatch.setattr(os, "environ", dict(os.environ))
    return os.environ


@pytest.fixture(scope="session")
def serve_app():
    """Start uvicorn on a free loopback port for an ASGI app (in a thread); returns its base URL.

    Every server started through it stops at the end of the session: gracefully, then forced after 10 s; a server
    thread still running after that fails the session's teardown instead of being left to the interpreter's exit.

    The servers run on asyncio's own event loop (``loop="asyncio"``, unless a test passes another). Several of them
    live at once, each in a thread of the test process; on uvloop, ``uvicorn``'s default, a fresh-clone test run
    crashed with a segmentation fault inside one server thread while a connection closed (rare; not reproduced on
    demand; native crashes on connection close are reported for uvloop, MagicStack/uvloop#706). The service itself
    runs one loop per process (``twincell serve``, one per worker process, as ``benchmarks/load_service.py`` runs
    it), where uvloop stays uvicorn's choice.
    """
    import socket
    import threading
    import time

    import uvicorn

    servers = []

    def start(app, **config) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config.setdefault("loop", "asyncio")
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    yield start
    for server, _ in servers:
        server.should_exit = True
    for server, thread in servers:  # a graceful stop waits for open connections; then force it
        thread.join(timeout=10)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=10)
    stuck = [thread.name for _, thread in servers if thread.is_alive()]
    assert not stuck, f"uvicorn server threads still running after the session: {stuck}"


@pytest.fixture(scope="session")
def live_service(service_model, serve_app):
    """Base URL of uvicorn serving ``create_app(service_model)`` on a free loopback port (in a thread)."""
    from twincell.service import create_app

    return serve_app(create_app(service_model))
