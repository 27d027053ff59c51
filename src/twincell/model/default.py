"""The bundled default model: trained once on the bundled data, cached under ``$TWINCELL_CACHE``.

Training data: ``load_default_training_data()`` (LINCS over-expression consensus z-scores + the
context-resolved Tahoe-100M, NeurIPS 2023 PBMC and sci-Plex 3 rank signatures, drugs entering through
their DrugCentral targets and action signs), contexts: ``ContextRegistry.default()``. The training
schedule (at most ``DEFAULT_FIT["max_epochs"]`` epochs with early stopping; no wall-clock budget, so the
result does not depend on the machine) keeps it to a few minutes on two CPU cores.
"""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from twincell import __version__
from twincell._cache import cache_dir, code_key
from twincell.errors import ContextError, ModelFileError, TwinCellError
from twincell.model.io import FORMAT_VERSION, SavedModel, check_output_dir, open_model

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from twincell.model.twincell import TwinCell
    from twincell.context import ContextRegistry
    from twincell.data.perturbation import PerturbationDataset
    from twincell.network import Interactome

DEFAULT_TIME_BUDGET_S: float | None = None  # deterministic: fixed epochs + early stopping, not wall-clock
DEFAULT_FIT = {"max_epochs": 8, "batch_size": 128, "lr": 0.02, "validation_fraction": 0.1, "patience": 2}


def default_model_dir() -> Path:
    """Where the default model is cached: ``$TWINCELL_CACHE`` (default ``~/.cache/twincell``)/model-default-...

    The name holds a hash of the model code (this file included) and of the keys of what the model is built from (the
    default interactome, training data and contexts), so changed maths or inputs never load a stale model.
    """
    from twincell.context.bundled import default_context_key
    from twincell.data.training_data import default_training_key
    from twincell.network.interactome import default_cache_key

    key = code_key(sorted(Path(__file__).parent.glob("*.py")),
                   f"{default_cache_key()};{default_training_key()};{default_context_key()}")
    return cache_dir() / f"model-default-v{FORMAT_VERSION}-{__version__}-{key}"


def train_default_model(out_dir: str | os.PathLike | None = None, *,
                        datasets: list[PerturbationDataset] | None = None,
                        contexts: ContextRegistry | Mapping[str, np.ndarray] | None = None,
                        interactome: Interactome | None = None, time_budget_s: float | None = DEFAULT_TIME_BUDGET_S, device: str = "cpu",
                        seed: int = 0, context_gates: bool = True, checkpoint: str | os.PathLike | None = None,
                        resume: bool = False, overwrite: bool = False, hparams: Mapping[str, object] | None = None,
                        **fit) -> TwinCell:
    """Train a model (by default: the bundled data, contexts and network) and save it to ``out_dir``.

    Parameters
    ----------
    out_dir
        Model directory to write (atomically); default: the cache (:func:`default_model_dir`).
    datasets
        PerturbationDatasets; default ``load_default_training_data()``.
    contexts
        ContextRegistry (or dict of vectors); default ``ContextRegistry.default()``.
    interactome
        Network; default ``Interactome.default()``.
    time_budget_s
        Wall-clock training budget in seconds (the best epoch so far is kept); None = no limit.
    device, seed, context_gates
        Training device, seed, and whether edges are gated by the context.
    checkpoint, resume
        Checkpoint file written after every epoch, and whether to continue from it.
    overwrite
        Replace ``out_dir`` even when it holds files that are not a TwinCell model (checked before training).
    hparams
        Overrides of the TwinCell hyper-parameters (:data:`~twincell.model.twincell.DEFAULT_HPARAMS`),
        e.g. ``{"normalisation": "symmetric"}``.
    **fit
        Overrides of :data:`DEFAULT_FIT` (``max_epochs``, ``batch_size``, ``lr`` ...).

    Raises
    ------
    TwinCellError
        ``hparams`` naming ``seed`` or ``context_gates`` (arguments of their own), or ``fit`` naming an option
        :meth:`~twincell.model.twincell.TwinCell.fit` does not have.
    ContextError
        ``contexts`` without any vector.
    """
    from twincell.context import ContextRegistry
    from twincell.data.training_data import load_default_training_data
    from twincell.model.twincell import TwinCell
    from twincell.network import Interactome

    own = sorted(set(hparams or {}) & {"seed", "context_gates"})
    if own:
        raise TwinCellError(f"hparams names {', '.join(own)}, an argument of train_default_model",
                            f"pass {', '.join(f'{k}=...' for k in own)} itself")
    options = [k for k in inspect.signature(TwinCell.fit).parameters
               if k not in ("self", "datasets", "contexts", "time_budget_s", "checkpoint", "resume")]
    unknown = sorted(set(fit) - set(options))
    if unknown:
        raise TwinCellError(f"unknown fit option(s) {', '.join(unknown)}",
                            f"fit options: {', '.join(options)} (time_budget_s, checkpoint, resume: arguments of "
                            "their own)")
    if contexts is not None and not len(contexts):
        raise ContextError("no context vectors given", "pass ContextRegistry.default() or leave contexts out")
    out = default_model_dir() if out_dir is None else check_output_dir(out_dir, overwrite)
    contexts = ContextRegistry.default() if contexts is None else contexts
    datasets = load_default_training_data() if datasets is None else datasets
    dim = contexts.dim if hasattr(contexts, "dim") else len(next(iter(contexts.values())))
    model = TwinCell(Interactome.default() if interactome is None else interactome, dim, device=device, seed=seed,
                     **{"context_gates": context_gates, **(hparams or {})})
    model.fit(datasets, contexts, time_budget_s=time_budget_s, checkpoint=checkpoint, resume=resume,
              **{**DEFAULT_FIT, **fit})
    model.save(out, overwrite=overwrite or out_dir is None)
    return model


def default_model(*, retrain: bool = False, device: str = "cpu") -> TwinCell:
    """The default model: loaded from the cache, or trained (a few minutes) and cached on first use.

    A cached model that cannot be read (corrupt, older format) is trained again.
    """
    from twincell.model.twincell import TwinCell

    directory = default_model_dir()
    if directory.exists() and not retrain:
        try:
            return TwinCell.load(directory, device=device)
        except ModelFileError:
            log.warning("the cached default model in %s cannot be read; training it again", directory)
    log.info("training the default model on the bundled data (first use: about 1-2 minutes on 2 CPU cores); "
             "it is cached in %s", directory)
    return train_default_model(directory, device=device, overwrite=True)


def open_default_model() -> SavedModel:
    """The default model opened for inference (:func:`~twincell.model.io.open_model`: no torch for the
    context-free operator); trained and cached first when the cache has no readable one."""
    try:
        return open_model(default_model_dir())
    except ModelFileError:
        default_model()
        return open_model(default_model_dir())
