"""Request limits of the service (enforced by the request models and FastAPI's body-size limit)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceLimits:
    """Upper bounds on what one request may ask for.

    Attributes
    ----------
    max_genes
        Most genes in a signature or a context expression profile.
    max_top
        Most ranked targets (or predicted genes) returned by one request.
    max_paths
        Most explanation paths (``k``) returned by ``/v1/explain``.
    max_perturbed
        Most genes perturbed at once in ``/v1/predict``.
    max_body_bytes
        Largest request body in bytes (JSON or upload, as sent); larger bodies get 413, from
        ``Content-Length`` before the body is read, else while it streams in.
    max_upload_bytes
        Largest uploaded table after gzip decompression (bytes); decompression stops there (422).
    body_timeout_s
        Seconds a client may take between two chunks of a request body (else 408).
    threads
        Requests computed at once per process (the size of its worker-thread pool); the others wait.
        Ranking holds the GIL, so more threads than this only add switching: use worker processes
        (``twincell serve --workers N``) to use more cores.
    """

    max_genes: int = 25_000
    max_top: int = 1_000
    max_paths: int = 50
    max_perturbed: int = 100
    max_body_bytes: int = 8 * 1024 * 1024
    max_upload_bytes: int = 16 * 1024 * 1024
    body_timeout_s: float = 30.0
    threads: int = 1
