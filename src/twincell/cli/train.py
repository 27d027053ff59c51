"""``twincell train``: fit a TwinCell model to perturbation data and save it."""

from __future__ import annotations

from pathlib import Path

import typer

from twincell.cli._common import console, print_table
from twincell.cli.network import load_network
from twincell.errors import TwinCellError


def train(
    out: Path = typer.Option(..., "--out", help="New model directory, or one holding a TwinCell model (replaced "
                             "atomically); anything else needs --overwrite."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out even if it holds other files."),
    data: list[Path] = typer.Option(None, "--data", help="PerturbationDataset .h5ad file(s); default: the bundled "
                                                         "LINCS + Tahoe + NeurIPS + sci-Plex + CytoSig data."),
    contexts: Path = typer.Option(None, "--contexts", help="Saved ContextRegistry; default: the bundled contexts."),
    network: Path = typer.Option(None, "--network", help="Saved network (.parquet) or edge table (.tsv/.csv)."),
    epochs: int = typer.Option(None, min=1, help="Maximum number of epochs (default: the default model's, 8)."),
    batch_size: int = typer.Option(None, min=1, help="Examples per batch (default 128)."),
    lr: float = typer.Option(None, help="Adam learning rate (default 0.02)."),
    time_budget: float = typer.Option(None, min=1.0, help="Training budget in seconds (default: none; fixed epochs)."),
    seed: int = typer.Option(0, help="Random seed."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    no_gates: bool = typer.Option(False, "--no-gates", help="Context-free model (every gate fixed at 1)."),
    checkpoint: Path = typer.Option(None, "--checkpoint", help="Checkpoint file written after every epoch."),
    resume: bool = typer.Option(False, "--resume", help="Continue from --checkpoint if it exists."),
) -> None:
    """Train a TwinCell model (default: the bundled data, a few minutes on 2 CPU cores) and save it to --out."""
    from twincell.context import ContextRegistry
    from twincell.data.perturbation import PerturbationDataset
    from twincell.model.default import train_default_model
    from twincell.pl import training_curves

    if resume and checkpoint is None:
        raise TwinCellError("--resume needs --checkpoint FILE (the checkpoint to continue from)",
                            "e.g. --checkpoint train.ckpt --resume")
    overrides = {k: v for k, v in {"max_epochs": epochs, "batch_size": batch_size, "lr": lr}.items() if v is not None}
    model = train_default_model(
        out, datasets=[PerturbationDataset.read(f) for f in data] if data else None,
        contexts=ContextRegistry.load(contexts) if contexts else None,
        interactome=load_network(network) if network else None,
        time_budget_s=time_budget or None, device=device, seed=seed, context_gates=not no_gates,
        checkpoint=checkpoint, resume=resume, overwrite=overwrite, **overrides)
    print_table(model.history[["epoch", "train_loss", "val_loss", "seconds"]], title="training history")
    figure = out / "training_curves.png"
    training_curves(model.history).figure.savefig(figure, dpi=120, bbox_inches="tight")
    console.print(f"{model!r} -> {out} (training curves: {figure})")
