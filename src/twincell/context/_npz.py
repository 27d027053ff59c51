"""Reading the versioned ``.npz`` files that context encoders and registries save (no pickles)."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from twincell.errors import DataFileError


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
