"""Reading the versioned ``.npz`` files that context encoders and registries save (no pickles)."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from twincell.errors import DataFileError


def npz_target(path: str | os.PathLike) -> Path:
    """The file numpy writes for ``path``: ``path`` itself when it ends in ``.npz``, else ``path`` + ``.npz``."""
    return Path(path) if str(path).endswith(".npz") else Path(f"{path}.npz")


def write_npz(path: str | os.PathLike, what: str, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` to the compressed ``.npz`` file :func:`npz_target` names (its folder made when missing) and
    return that file; an OS error (unwritable folder, full disk) becomes a :class:`DataFileError` naming ``what``."""
    target = npz_target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(target, **arrays)
    except OSError as exc:
        raise DataFileError(f"cannot write {what} {target}: {exc}", "give a writable file path") from exc
    return target


@contextmanager
def open_versioned_npz(path: str | os.PathLike, fmt: int, what: str, hint: str) -> Iterator[np.lib.npyio.NpzFile]:
    """Open ``path`` and check its ``format`` entry equals ``fmt``; every read error inside becomes a
    :class:`DataFileError` naming ``what`` and ``path``, with ``hint`` (a DataFileError raised inside
    passes through with its own hint)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if int(f["format"]) != fmt:
                raise DataFileError(f"{path}: {what} format {int(f['format'])}, expected {fmt}",
                                    "re-create the file with this TwinCell version")
            yield f
    except DataFileError:
        raise
    except (OSError, KeyError, ValueError, IndexError, zipfile.BadZipFile) as exc:
        why = ("it is not an .npz archive written by TwinCell (numpy would have to unpickle it, which TwinCell never "
               "does: unpickling can run code)" if "allow_pickle" in str(exc)
               else f"it is not a TwinCell {what} (no {exc} entry)" if isinstance(exc, KeyError) else str(exc))
        raise DataFileError(f"cannot read {what} {path}: {why}", hint) from exc
