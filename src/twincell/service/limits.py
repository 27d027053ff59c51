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
        Largest request body in bytes (JSON or upload); larger bodies get 413 (FastAPI's ``max_body_size``).
    """

    max_genes: int = 25_000
    max_top: int = 1_000
    max_paths: int = 50
    max_perturbed: int = 100
    max_body_bytes: int = 8 * 1024 * 1024
