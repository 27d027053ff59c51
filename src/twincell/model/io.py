"""Saving and loading TwinCell models: one directory, written atomically, checked on load.

Layout of a model directory::

    config.json          format version, hyper-parameters, context dim, dataset infos, metadata,
                         SHA-256 of every other file
    weights.pt           torch state dicts of the module and the per-dataset heads
    interactome.parquet  the network the model was trained on (Interactome.save)
    contexts.npz         context ids and the embeddings the model was trained with
    history.json         training curve, one record per epoch (floats written to read back exactly)
    operator.npz         the context-free PropagationOperator as plain CSR arrays (PropagationOperator.save);
                         its n_hops and damping are checked against config.json on load

The directory is first written under a temporary name next to the target and then renamed, so an
interrupted save never leaves a half-written model.

:func:`open_model` opens a directory for inference without torch: :class:`SavedModel` serves the
context-free operator from ``operator.npz`` (no network rebuild, no module, no operator build) and
loads the full :class:`~twincell.model.TwinCell` only when another context is asked for. Directories
written before ``operator.npz`` existed are still read (the operator is then built from the model).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from twincell import __version__
from twincell._cache import file_in_the_way
from twincell.errors import DataFileError, ModelFileError
from twincell.model.operator import PropagationOperator

if TYPE_CHECKING:
    import pandas as pd

    from twincell.model.twincell import TwinCell

FORMAT_VERSION = 1
FILES = ("weights.pt", "interactome.parquet", "contexts.npz", "history.json")
OPERATOR_FILE = "operator.npz"  # optional: written by this version, absent from older model directories
_HINT = "re-save the model, or train it again with `twincell train`"


def _sha256(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _model_config(directory: Path) -> dict | None:
    """The ``config.json`` of a TwinCell model directory, or None when ``directory`` does not hold one."""
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError, TypeError):
        return None
    return config if isinstance(config, dict) and "format" in config else None


#: Files that TwinCell itself writes beside a saved model (``twincell train``'s figure); replaced with the model.
MODEL_EXTRAS = ("training_curves.png",)


def _foreign_entries(directory: Path, config: dict) -> list[str]:
    """Names in a model directory that are neither the model's own files (``config.json`` and its listed files) nor
    :data:`MODEL_EXTRAS`."""
    files = config.get("files")
    own = {"config.json", *MODEL_EXTRAS, *(files if isinstance(files, dict) else ())}
    return sorted(p.name for p in directory.iterdir() if p.name not in own)


def check_output_dir(directory: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check that a model may be written to ``directory``; returns its absolute path.

    Allowed: a new path, an empty directory, or a directory holding a TwinCell model and nothing else (it is
    replaced). Anything else (a file, a directory of other files, a model directory with files of the user's
    beside the model's) only with ``overwrite=True``; the working directory, its parents and the home directory
    never.

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
    blocking = file_in_the_way(target.parent)
    if blocking is not None:
        raise ModelFileError(f"cannot write a model to {target}: {blocking} is a file, not a folder",
                             "give a directory whose parents are folders")
    if not target.exists() or overwrite or (target.is_dir() and not any(target.iterdir())):
        return target
    config = _model_config(target) if target.is_dir() else None
    if config is None:
        what = "a file" if not target.is_dir() else "a directory that is not a TwinCell model (no model config.json)"
        raise ModelFileError(f"{target} is {what}; saving a model there would delete it",
                             "give a new directory, or pass overwrite=True / --overwrite to replace it")
    foreign = _foreign_entries(target, config)
    if foreign:
        raise ModelFileError(f"{target} holds a TwinCell model and {len(foreign)} other file(s) or folder(s) "
                             f"({', '.join(foreign[:10])}); saving a model there replaces the whole directory and "
                             "would delete them", "move them out, give a new directory, or pass overwrite=True / "
                             "--overwrite to replace everything")
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
    import torch

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
        (tmp / "history.json").write_text(_history_json(model.history))
        model.operator(None).save(tmp / OPERATOR_FILE)
        config = {"format": FORMAT_VERSION, "twincell_version": __version__, "context_dim": model.context_dim,
                  "hparams": model.hparams, "interactome_fingerprint": model.interactome.fingerprint,
                  "datasets": [d.to_dict() for d in model.datasets], "metadata": model.metadata,
                  "files": {f: _sha256(tmp / f) for f in (*FILES, OPERATOR_FILE)}}
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


def _history_json(history: pd.DataFrame) -> str:
    """A training history as JSON records, one per epoch, that :func:`_read_history` reads back unchanged.

    Floats are written by :func:`json.dumps` (the shortest text that reads back to the same double; pandas'
    ``to_json`` keeps at most 15 decimals) and NaN as ``null``.
    """
    records = history.astype(object).where(history.notna(), None).to_dict(orient="records")
    return json.dumps(records, default=_json_default)


def _read_history(file: Path) -> pd.DataFrame:
    """The history written by :func:`_history_json` (floats parsed exactly, ``null`` as NaN, no dtype guessing)."""
    import pandas as pd

    return pd.read_json(io.StringIO(file.read_text()), orient="records", dtype=False, precise_float=True,
                        convert_dates=False)


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


def read_config(directory: Path, verify: tuple[str, ...] | None = None) -> dict:
    """The checked ``config.json`` of a model directory (format version and file checksums).

    Parameters
    ----------
    directory
        The model directory.
    verify
        Files whose presence and checksum are checked (default: every file of the model; ``operator.npz``
        only where ``config.json`` lists it).

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
    hint = _HINT
    if directory.is_file():
        raise ModelFileError(f"{directory} is a file; a TwinCell model is a directory",
                             "give the model's directory (the one `twincell train --out DIR` wrote)")
    if not directory.is_dir():
        raise ModelFileError(f"model directory {directory} does not exist", "train one with `twincell train --out DIR`")
    cfg_file = directory / "config.json"
    if not cfg_file.exists():
        raise ModelFileError(f"{directory} is not a TwinCell model (no config.json)", hint)
    try:
        config = json.loads(cfg_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ModelFileError(f"{cfg_file} is corrupt or unreadable: {exc}", hint) from exc
    _check_config_structure(config, cfg_file)
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
    listed = config.get("files", {})
    for name in (*FILES, *([OPERATOR_FILE] if OPERATOR_FILE in listed else [])) if verify is None else verify:
        _verify_file(directory, name, listed.get(name))
    return config


#: Keys of a model's ``config.json`` and the JSON types they must have (``metadata`` and ``datasets`` may be absent).
CONFIG_TYPES: dict[str, tuple[type, ...]] = {"files": (dict,), "context_dim": (int,), "hparams": (dict,),
                                             "metadata": (dict,), "datasets": (list,)}


def _check_config_structure(config: object, cfg_file: Path) -> None:
    """Raise ModelFileError unless ``config`` is an object whose keys of :data:`CONFIG_TYPES` have their types
    (``format`` is checked by the caller, so a config of another format version still says so)."""
    if not isinstance(config, dict):
        raise ModelFileError(f"{cfg_file} is corrupt: it holds a JSON {type(config).__name__}, not an object", _HINT)
    if config.get("format") != FORMAT_VERSION:
        return
    optional = ("metadata", "datasets")
    wrong = [key for key, types in CONFIG_TYPES.items()
             if (key in config or key not in optional) and (not isinstance(config.get(key), types)
                                                              or isinstance(config.get(key), bool))]
    if wrong:
        raise ModelFileError(f"{cfg_file} is corrupt: {', '.join(wrong)} missing or of the wrong type", _HINT)


def _verify_file(directory: Path, name: str, expected: str | None) -> None:
    """Raise ModelFileError when a model file is missing or its SHA-256 differs from ``expected``."""
    f = directory / name
    if not f.is_file():
        raise ModelFileError(f"model directory {directory} is incomplete: {name} is missing"
                             + (" (a folder is in its place)" if f.exists() else ""), _HINT)
    if expected != _sha256(f):
        raise ModelFileError(f"{f} is corrupt (its checksum does not match config.json)", _HINT)


#: Hyper-parameters added after format 1 was fixed, with the behaviour of models saved before them
#: (a saved model without them was trained that way, whatever today's defaults are).
LEGACY_HPARAMS = {"normalisation": "symmetric", "edge_model": "free", "correction_penalty": 10.0,
                  "gate_mode": "switch", "gate_bound": 0.5, "sign_prior": False, "class_attenuation": False,
                  "coexpression_sign": False, "receiver_sign": False, "learn_signalling": True,
                  "node_embedding": "none"}


def load_model(directory: str | os.PathLike, device: str = "cpu") -> TwinCell:
    """Load a model written by :func:`save_model`.

    Parameters
    ----------
    directory
        The model directory.
    device
        Torch device of the loaded model.

    Raises
    ------
    ModelFileError
        Whatever is wrong with the directory: missing, incomplete, corrupt, another format version,
        weights that do not fit the saved configuration.
    """
    import torch

    from twincell.model.training import DatasetHeads, DatasetInfo
    from twincell._device import torch_device
    from twincell.model.twincell import TwinCell
    from twincell.network import Interactome

    device = torch_device(device)  # a device this machine lacks is the caller's mistake, not the files'
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
            n_extra = len(config.get("metadata", {}).get("background_genes", []))  # none before they existed
            model.heads = DatasetHeads(model.datasets, n_contexts, net.n_nodes, n_extra).to(model.device)
            # heads saved before causal shrinkage existed have none: factor 1 (the causal part unshrunk); heads saved
            # before the self term had its own factor shrank it with the network part's
            shrink = weights["heads"].get("shrink", torch.ones(len(model.datasets)))
            model.heads.load_state_dict({"shrink": shrink, "shrink_self": shrink, **weights["heads"]})
        ctx = np.load(directory / "contexts.npz", allow_pickle=False)
        model.contexts = {str(i): v.astype(np.float32) for i, v in zip(ctx["ids"], ctx["vectors"])}
        model.history = _read_history(directory / "history.json")
    except (KeyError, TypeError, RuntimeError, ValueError, OSError) as exc:
        raise ModelFileError(f"{directory} does not hold a loadable TwinCell model: {exc}",
                             "re-save the model, or train it again") from exc
    if OPERATOR_FILE in config["files"]:
        check_stored_operator(PropagationOperator.load(directory / OPERATOR_FILE), model.hparams, directory)
    model.metadata = dict(config.get("metadata", {}))
    return model


def check_stored_operator(operator: PropagationOperator, hparams: Mapping[str, object], directory: Path) -> None:
    """Check that ``operator.npz`` was built with the propagation settings that ``config.json`` states.

    ``n_hops`` and ``damping`` do not change the shapes of the weights, so a hand-edited ``config.json`` still
    loads; the context-free operator (served from ``operator.npz``) would then disagree with every other
    context's. ``damping`` is compared where the stored operator records it (models saved since it does).

    Parameters
    ----------
    operator
        The operator read from ``operator.npz``.
    hparams
        The hyper-parameters of ``config.json`` (or of the model built from it).
    directory
        The model directory, for the message.

    Raises
    ------
    ModelFileError
        Naming each setting whose values differ, with both values.
    """
    stored = {"n_hops": operator.n_hops, "damping": operator.meta.get("damping")}
    wrong = [f"{key} is {value!r} in {OPERATOR_FILE} but {hparams[key]!r} in config.json"
             for key, value in stored.items() if value is not None and key in hparams and value != hparams[key]]
    if wrong:
        raise ModelFileError(f"{directory}: config.json does not match the saved operator: {'; '.join(wrong)}",
                             "restore config.json as it was saved (these settings cannot change after training), "
                             "or train the model again with the settings you want")


class SavedModel:
    """A saved model opened for inference: the context-free operator from stored arrays, the rest on demand.

    What :mod:`twincell.identify` needs from a model: ``operator(context)``, ``metadata``,
    ``context_dim`` (and ``contexts``, ``gated`` to resolve a named context). ``operator(None)`` reads ``operator.npz`` (a few array reads: no torch, no
    network rebuild); any other context, or a directory without ``operator.npz``, loads the full
    model once (:attr:`model`) and asks it.

    Attributes
    ----------
    directory
        The model directory.
    config
        Its ``config.json`` (format checked; file checksums are checked when a file is read).
    metadata
        The model's metadata (context encoder, training provenance).
    context_dim
        Dimension of the model's context embeddings.
    """

    def __init__(self, directory: Path, config: dict) -> None:
        self.directory = directory
        self.config = config
        self.metadata = dict(config.get("metadata", {}))
        self.context_dim = int(config["context_dim"])
        self._lock = threading.Lock()
        self._model: TwinCell | None = None
        self._stored: PropagationOperator | None = None

    def __repr__(self) -> str:
        return f"SavedModel({str(self.directory)!r})"

    @property
    def model(self) -> TwinCell:
        """The full :class:`~twincell.model.TwinCell`, loaded (with torch) on first access."""
        with self._lock:
            if self._model is None:
                self._model = load_model(self.directory)
            return self._model

    @property
    def contexts(self) -> dict[str, np.ndarray]:
        """The model's named contexts (from the full model: asking for a context means building its operator)."""
        return self.model.contexts

    @property
    def gated(self) -> bool:
        """Whether the model's edges are gated by the context (from the full model)."""
        return self.model.gated

    def operator(self, context: str | np.ndarray | None = None) -> PropagationOperator:
        """The model's operator in ``context`` (see :meth:`twincell.model.TwinCell.operator`).

        ``None`` is served from ``operator.npz`` when the directory has it (read once, then kept).
        """
        if context is None and OPERATOR_FILE in self.config.get("files", {}):
            with self._lock:
                if self._stored is None:
                    stored = PropagationOperator.load(self.directory / OPERATOR_FILE)
                    check_stored_operator(stored, self.config["hparams"], self.directory)
                    self._stored = stored
                return self._stored
        return self.model.operator(context)


def open_model(directory: str | os.PathLike) -> SavedModel:
    """Open a model directory for inference without loading torch (:class:`SavedModel`).

    Raises
    ------
    ModelFileError
        Missing directory, unreadable or other-version ``config.json``, a missing or corrupt
        ``operator.npz`` (the other files are checked when the full model is loaded).
    """
    directory = Path(directory)
    config = read_config(directory, verify=())
    if OPERATOR_FILE in config.get("files", {}):
        _verify_file(directory, OPERATOR_FILE, config["files"][OPERATOR_FILE])
    return SavedModel(directory, config)
