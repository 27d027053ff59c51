"""Where TwinCell caches what it builds once (network, training data, contexts, default model), and atomic writes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from twincell import __version__


def cache_dir() -> Path:
    """``$TWINCELL_CACHE``, else ``~/.cache/twincell``."""
    return Path(os.environ.get("TWINCELL_CACHE", Path.home() / ".cache" / "twincell"))


def code_key(files: Iterable[str | os.PathLike], extra: str = "") -> str:
    """12-hex-digit hash of source files, the package version and ``extra``: names a cache entry so that
    changed code never reads a stale one."""
    code = b"".join(Path(f).read_bytes() for f in files)
    return hashlib.sha1(code + f"{__version__};{extra}".encode()).hexdigest()[:12]


def atomic_write(file: str | os.PathLike, write: Callable[[Path], object], suffix: str = "") -> Path:
    """Call ``write(tmp)`` on a per-process temporary sibling of ``file``, then rename it onto ``file``.

    Readers (and parallel writers, e.g. pytest-xdist workers) never see half a file. ``suffix`` ends the
    temporary name where the writer insists on an extension (``np.savez`` appends ``.npz``).
    """
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp{suffix}")
    write(tmp)
    os.replace(tmp, file)
    return file
