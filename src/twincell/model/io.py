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
import re
import shutil
import warnings
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


def _is_model_dir(directory: Path) -> bool:
    try:
        return "format" in json.loads((directory / "config.json").read_text())
    except (OSError, ValueError, TypeError):
        return False


def check_output_dir(directory: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check that a model may be written to ``directory``; returns its absolute path.

    Allowed: a new path, an empty directory, or a directory holding a TwinCell model (it is
    replaced). Anything else (a file, a directory of other files) only with ``overwrite=True``; the
    working directory, its parents and the home directory never.

    Raises
    ------
    ModelFileError
        A target that would destroy files that are not a TwinCell model.
    """
    target = Path(directory).absolute()
    protected = {Path.cwd().absolute(), *Path.cwd().absolute().parents, Path.home().absolute()}
    if target in protected or target.resolve() in protected:
        raise ModelFileError(f"refusing to write a model to {target}: saving replaces the whole directory, and this "
                             "is the working directory, one of its parents or the home directory",
                             "give a new directory, e.g. --out models/my_model")
    if not target.exists() or (target.is_dir() and _is_model_dir(target)):
        return target
    if target.is_dir() and not any(target.iterdir()):
        return target
    if not overwrite:
        what = "a file" if not target.is_dir() else "a directory that is not a TwinCell model (no model config.json)"
        raise ModelFileError(f"{target} is {what}; saving a model there would delete it",
                             "give a new directory, or pass overwrite=True / --overwrite to replace it")
    return target


def _remove_stale_temporaries(target: Path) -> None:
    """Remove ``.NAME.tmp-PID`` / ``.NAME.old-PID`` folders left by saves whose process no longer runs."""
    for stale in target.parent.glob(f".{target.name}.*-*"):
        kind, _, pid = stale.name.removeprefix(f".{target.name}.").partition("-")
        if kind in ("tmp", "old") and pid.isdigit() and stale.is_dir() and not _process_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def save_model(model: TwinCell, directory: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``model`` to ``directory`` atomically (temporary sibling directory, then rename).

    An existing model directory at that path is replaced; anything else is refused unless
    ``overwrite`` (see :func:`check_output_dir`). Temporary folders left next to the target by
    interrupted saves are removed.

    Raises
    ------
    ModelFileError
        The target holds other files (and ``overwrite`` is False), or is the working directory.
    """
    target = check_output_dir(directory, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(target)
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
        if target.is_dir():
            os.replace(target, old)
        elif target.exists():  # a file, replaced with overwrite=True
            target.unlink()
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


class ModelVersionWarning(UserWarning):
    """A model directory was written by a newer twincell release (same format version)."""


def _newer_version(written_by: object) -> bool:
    """Whether ``written_by`` names a twincell release newer than this one, by release numbers (unparseable: False)."""
    theirs, ours = (re.match(r"\d+(\.\d+)*", str(v)) for v in (written_by, __version__))
    if theirs is None or ours is None:
        return False
    return tuple(map(int, theirs[0].split("."))) > tuple(map(int, ours[0].split(".")))


def read_config(directory: Path) -> dict:
    """The checked ``config.json`` of a model directory (format version and file checksums).

    Raises
    ------
    ModelFileError
        Missing directory or files, unreadable JSON, another format version (a newer one asks to
        upgrade twincell), a checksum mismatch.

    Warns
    -----
    ModelVersionWarning
        The model was saved by a newer twincell release with the same format.
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
    fmt, written_by = config.get("format"), config.get("twincell_version")
    if fmt != FORMAT_VERSION:
        newer = isinstance(fmt, int) and fmt > FORMAT_VERSION
        raise ModelFileError(f"{directory} is model format {fmt!r} (written by twincell {written_by}), this "
                             f"twincell {__version__} reads format {FORMAT_VERSION}",
                             "upgrade twincell (pip install -U twincell) to read it" if newer else
                             "train the model again with this version of twincell")
    if _newer_version(written_by):
        warnings.warn(f"{directory} was saved by twincell {written_by}, newer than this twincell {__version__}; "
                      "it has the same model format and is read, but upgrading twincell is safer",
                      ModelVersionWarning, stacklevel=3)
    for name in FILES:
        f = directory / name
        if not f.exists():
            raise ModelFileError(f"model directory {directory} is incomplete: {name} is missing", hint)
        expected = config.get("files", {}).get(name)
        if expected != _sha256(f):
            raise ModelFileError(f"{f} is corrupt (its checksum does not match config.json)", hint)
    return config


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
        model = TwinCell(net, int(config["context_dim"]), device=device, **config["hparams"])
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
