"""Where TwinCell caches what it builds once (network, training data, contexts, default model), and atomic writes."""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from twincell import __version__
from twincell.errors import TwinCellError

T = TypeVar("T")


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
    temporary name where the writer insists on an extension (``np.savez`` appends ``.npz``). A failed write leaves
    no temporary file behind.

    Raises
    ------
    TwinCellError
        If ``file`` is an existing directory (checked before ``write`` runs).
    """
    file = Path(file)
    if file.is_dir():
        raise TwinCellError(f"{file} is a directory, not a file", "give a file name, e.g. network.parquet")
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp{suffix}")
    try:
        write(tmp)
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)
    return file


def file_in_the_way(path: str | os.PathLike) -> Path | None:
    """The first of ``path`` and its parents that exists and is not a folder (a file that blocks creating folders
    there), or None."""
    path = Path(path)
    return next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)


def probe_output_dir(out: Path, what: str, flag: str = "--out") -> None:
    """Check that ``what`` can be written into the folder ``out``: create it (with its parents) and a temporary file
    in it, then remove the folders the probe created (the writer creates them again). A blocked or unwritable folder
    then fails before a long run, not after it.

    Raises
    ------
    TwinCellError
        If ``out`` or one of its parents is a file, or the folder cannot be created or written to.
    """
    blocking = file_in_the_way(out)
    if blocking is not None:
        raise TwinCellError(f"cannot write {what} to {out}: {blocking} is a file, not a folder",
                            f"give a folder for {flag} (it is created if needed)")
    created = [p for p in (out, *out.parents) if not p.exists()]  # before the probe: what it will create
    try:
        out.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out).close()
    except OSError as exc:
        raise TwinCellError(f"cannot write {what} to {out}: {exc.strerror or exc}",
                            f"give a folder you can write to for {flag} (it is created if needed)") from exc
    finally:
        for folder in created:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


def cached_build(name: str, sources: Iterable[str | os.PathLike], build: Callable[[], T]) -> T:
    """``build()`` once per code and data version: later calls (other processes too) read its pickle.

    The pickle lives in :func:`cache_dir` as ``NAME-KEY.pkl``, ``KEY`` = :func:`code_key` of ``sources`` (the
    modules and data files the object is built from), so a changed source never reads a stale object. A
    missing, unreadable or unwritable cache file only costs the build.
    """
    file = cache_dir() / f"{name}-{code_key(sources)}.pkl"
    try:
        with open(file, "rb") as fh:
            return pickle.load(fh)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        pass
    obj = build()
    try:
        atomic_write(file, lambda tmp: tmp.write_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)))
    except OSError:
        pass
    return obj
