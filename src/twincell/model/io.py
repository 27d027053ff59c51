"""Saving and loading TwinCell models: one directory, written atomically, checked on load.

Layout of a model directory::

    config.json          format version, hyper-parameters, context dim, dataset infos, metadata,
                         SHA-256 of every other file
    weights.pt           torch state dicts of the module and the per-dataset heads
    interactome.parquet  the network the model was trained on (Interactome.save)
    contexts.npz         context ids and the embeddings the model was trained with
    history.json         training curve, one record per epoch

The directory is first written under a temporary name next to the target and then renamed, so an
interrupted save never leaves a half-written model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from twincell import __version__
from twincell.errors import DataFileError, ModelFileError
from twincell.model.training import DatasetHeads, DatasetInfo
from twincell.network import Interactome

if TYPE_CHECKING:
    from twincell.model.twincell import TwinCell

FORMAT_VERSION = 1
FILES = ("weights.pt", "interactome.parquet", "contexts.npz", "history.json")


def _sha256(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(model: TwinCell, directory: str | os.PathLike) -> Path:
    """Write ``model`` to ``directory`` atomically (temporary sibling directory, then rename).

    An existing model directory at that path is replaced.
    """
    target = Path(directory).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        torch.save({"module": model.module.state_dict(),
                    "heads": None if model.heads is None else model.heads.state_dict()}, tmp / "weights.pt")
        model.interactome.save(tmp / "interactome.parquet")
        ids = np.array(sorted(model.contexts), dtype=str)
        vecs = (np.stack([model.contexts[i] for i in ids]) if len(ids)
                else np.zeros((0, model.context_dim), np.float32))
        np.savez(tmp / "contexts.npz", ids=ids, vectors=vecs)
        (tmp / "history.json").write_text(model.history.to_json(orient="records"))
        config = {"format": FORMAT_VERSION, "twincell_version": __version__, "context_dim": model.context_dim,
                  "hparams": model.hparams, "interactome_fingerprint": model.interactome.fingerprint,
                  "datasets": [d.to_dict() for d in model.datasets], "metadata": model.metadata,
                  "files": {f: _sha256(tmp / f) for f in FILES}}
        (tmp / "config.json").write_text(json.dumps(config, indent=1, default=_json_default))
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def read_config(directory: Path) -> dict:
    """The checked ``config.json`` of a model directory (format version and file checksums).

    Raises
    ------
    ModelFileError
        Missing directory or files, unreadable JSON, another format version, a checksum mismatch.
    """
    hint = "re-save the model, or train it again with `twincell train`"
    if not directory.is_dir():
        raise ModelFileError(f"model directory {directory} does not exist", "train one with `twincell train --out DIR`")
    cfg_file = directory / "config.json"
    if not cfg_file.exists():
        raise ModelFileError(f"{directory} is not a TwinCell model (no config.json)", hint)
    try:
        config = json.loads(cfg_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{cfg_file} is corrupt: {exc}", hint) from exc
    if config.get("format") != FORMAT_VERSION:
        raise ModelFileError(f"{directory} is model format {config.get('format')!r} "
                             f"(written by twincell {config.get('twincell_version')}), this twincell "
                             f"{__version__} reads format {FORMAT_VERSION}",
                             "train the model again with this version of twincell")
    for name in FILES:
        f = directory / name
        if not f.exists():
            raise ModelFileError(f"model directory {directory} is incomplete: {name} is missing", hint)
        expected = config.get("files", {}).get(name)
        if expected != _sha256(f):
            raise ModelFileError(f"{f} is corrupt (its checksum does not match config.json)", hint)
    return config


#: Hyper-parameters added after format 1 was fixed, with the behaviour of models saved before them
#: (a saved model without them was trained that way, whatever today's defaults are).
LEGACY_HPARAMS = {"normalisation": "symmetric", "edge_model": "free", "correction_penalty": 10.0,
                  "gate_mode": "switch", "gate_bound": 0.5}


def load_model(directory: str | os.PathLike, device: str = "cpu") -> TwinCell:
    """Load a model written by :func:`save_model`.

    Raises
    ------
    ModelFileError
        Whatever is wrong with the directory: missing, incomplete, corrupt, another format version,
        weights that do not fit the saved configuration.
    """
    from twincell.model.twincell import TwinCell

    directory = Path(directory)
    config = read_config(directory)
    try:
        net = Interactome.load(directory / "interactome.parquet")
    except DataFileError as exc:
        raise ModelFileError(f"the model's interactome is unreadable: {exc.problem}", exc.hint) from exc
    if net.fingerprint != config.get("interactome_fingerprint"):
        raise ModelFileError(f"{directory}/interactome.parquet is not the network the model was trained on",
                             "re-save the model")
    try:
        model = TwinCell(net, int(config["context_dim"]), device=device, **{**LEGACY_HPARAMS, **config["hparams"]})
        weights = torch.load(directory / "weights.pt", map_location=model.device, weights_only=True)
        model.module.load_state_dict(weights["module"])
        model.datasets = [DatasetInfo(**d) for d in config.get("datasets", [])]
        if weights.get("heads") is not None:
            n_contexts = len(config.get("metadata", {}).get("context_ids", []))
            model.heads = DatasetHeads(model.datasets, n_contexts, net.n_nodes).to(model.device)
            model.heads.load_state_dict(weights["heads"])
        ctx = np.load(directory / "contexts.npz", allow_pickle=False)
        model.contexts = {str(i): v.astype(np.float32) for i, v in zip(ctx["ids"], ctx["vectors"])}
        model.history = pd.DataFrame(json.loads((directory / "history.json").read_text()))
    except (KeyError, TypeError, RuntimeError, ValueError, OSError) as exc:
        raise ModelFileError(f"{directory} does not hold a loadable TwinCell model: {exc}",
                             "re-save the model, or train it again") from exc
    model.metadata = dict(config.get("metadata", {}))
    return model
