"""The torch device a user names, checked once for every layer that runs torch (context encoders, the model)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from twincell.errors import TwinCellError

if TYPE_CHECKING:
    import torch


def torch_device(device: str | torch.device, error: type[TwinCellError] = TwinCellError) -> torch.device:
    """The torch device ``device`` names; ``error`` (a :class:`TwinCellError` subclass) for an unknown one or a GPU
    this machine lacks."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise error(f"unknown device {device!r}", "use device='cpu' or device='cuda'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise error("device='cuda' was asked for but no CUDA GPU is available", "use device='cpu'")
    return dev
