"""One reader for the tables users give TwinCell (signatures, target lists, networks).

Users export tables from R, Excel, scanpy, Galaxy or biomaRt; file names do not reliably say what is
inside. :func:`read_user_table` therefore decides from the bytes, not the extension:

* gzip content is recognised by its magic bytes (with or without ``.gz``);
* the text encoding: UTF-8 (with or without Excel's byte-order mark), UTF-16/UTF-32 (byte-order mark,
  or UTF-16 without one recognised by its NUL bytes), else Windows-1252/Latin-1 with a warning;
* binary files (Excel workbooks, parquet, HDF5 / h5ad, anything with NUL bytes) raise a
  :class:`~twincell.errors.DataFileError` naming the format and the fix;
* the delimiter is sniffed from the first lines (tab, comma, semicolon or pipe), and a semicolon
  table with decimal commas (European Excel) is read with ``decimal=","``.
"""

from __future__ import annotations

import codecs
import csv
import json
import gzip
import io
import logging
import threading
import os
import re
import zlib
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from twincell.errors import DataFileError

logger = logging.getLogger("twincell.data.tables")

#: Candidate delimiters, in order of preference on ties.
DELIMITERS = ("\t", ",", ";", "|")
_SNIFF_LINES = 50
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
#: Magic bytes of binary formats users mistake for tables, and what to do instead.
_BINARY = ((b"PK\x03\x04", "a zip archive or an Excel .xlsx workbook", "save the sheet as CSV (UTF-8) or unzip it"),
           (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook", "save the sheet as CSV (UTF-8)"),
           (b"PAR1", "a parquet file", "export it as CSV/TSV (pandas: read_parquet(...).to_csv(...))"),
           (b"\x89HDF", "an HDF5 / .h5ad file", "give it where TwinCell asks for an .h5ad, or export a CSV/TSV table"),
           (b"BZh", "a bzip2 archive", "decompress it (bunzip2) or recompress it with gzip"),
           (b"\xfd7zXZ", "an xz archive", "decompress it (unxz) or recompress it with gzip"),
           (b"%PDF", "a PDF document", "export the table itself as CSV/TSV"))
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+([eE][+-]?\d+)?$")
_DECIMAL_POINT = re.compile(r"^[+-]?\d*\.\d+([eE][+-]?\d+)?$")


def _decompress(data: bytes, label: str, max_bytes: int | None) -> bytes:
    """Gunzip, streaming: at most ``max_bytes + 1`` bytes are ever inflated (a decompression bomb stops there)."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            return f.read() if max_bytes is None else f.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataFileError(f"{label} is gzip-compressed but the archive is corrupt or truncated ({exc})",
                            "compress the table again (gzip FILE) or give it uncompressed") from exc


def refuse_binary(data: bytes, label: str) -> None:
    """Raise :class:`DataFileError` (naming the format and what to export instead) when ``data`` (decompressed)
    starts with the magic bytes of a binary format users mistake for a table (workbooks, parquet, HDF5, PDF, ...)."""
    for magic, what, fix in _BINARY:
        if data.startswith(magic):
            raise DataFileError(f"{label} is {what}, not a text table", fix)


def decode_text(data: bytes, label: str, max_bytes: int | None = None, *, strict: bool = False) -> str:
    """Bytes of a table -> text: gunzip if gzip, detect the encoding, refuse binary formats.

    Parameters
    ----------
    data
        The raw file content.
    label
        How to name the input in messages (e.g. ``signature file x.csv``).
    max_bytes
        Largest (decompressed) size accepted; decompression stops just past it.
    strict
        Refuse text that is not UTF-8 (or UTF-16/32) instead of reading it as Windows-1252/Latin-1 with a logged
        warning: the service's choice, whose callers never see the log.

    Raises
    ------
    DataFileError
        A binary format, a corrupt gzip archive, undecodable UTF-16/32, more than ``max_bytes``, or (``strict``)
        text that is not UTF-8.
    """
    if data[:2] == b"\x1f\x8b":
        data = _decompress(data, label, max_bytes)
    if max_bytes is not None and len(data) > max_bytes:
        raise DataFileError(f"{label} is larger than the limit of {max_bytes:,} bytes (uncompressed)",
                            "send a smaller table, e.g. only the significant genes")
    refuse_binary(data, label)
    head = data[:4096]
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
    if encoding is None and b"\x00" in head:
        odd, even = head[1::2].count(0), head[0::2].count(0)
        if max(odd, even) > 0.4 * (len(head) // 2) and min(odd, even) == 0:
            encoding = "utf-16-le" if odd > even else "utf-16-be"
        else:
            raise DataFileError(f"{label} is a binary file (it contains NUL bytes), not a text table",
                                "export the table as CSV or TSV text (UTF-8)")
    if encoding is not None:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise DataFileError(f"{label} looks like {encoding.upper()} text but does not decode: {exc}",
                                "save the table as UTF-8 text (Excel: 'CSV UTF-8')") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if strict:
            raise DataFileError(f"{label} is not UTF-8 text ({exc.reason} at byte {exc.start})",
                                "save the table as 'CSV UTF-8' (Excel) or re-encode it to UTF-8") from exc
        logger.warning("%s is not UTF-8; read as Windows-1252/Latin-1 (save it as UTF-8 to be sure of "
                       "non-ASCII characters)", label)
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
            return data.decode("latin-1")


#: Held while :func:`sniff_delimiter` lifts the csv module's (process-wide) field limit.
_FIELD_LIMIT_LOCK = threading.Lock()


def sniff_delimiter(text: str) -> str:
    """The delimiter of a delimited table: the candidate giving the most columns, consistently over the first lines.

    A header may have one field fewer than the data rows (R's ``write.table`` with row names). A few ragged rows
    (one, or at most a tenth) do not hide the delimiter, so that the parser names them. A text with a single column
    gets a tab. Fields of any length are read: the csv module's field limit guards against reading unbounded input,
    and the text is in memory already, so it is lifted to the text's length while the lines are split.
    """
    lines = [ln for ln in text.splitlines()[:_SNIFF_LINES] if ln.strip() and not ln.startswith("#")]
    best, best_n = "\t", 1
    split = {delim: _csv_rows(lines, delim, len(text)) for delim in DELIMITERS}
    for delim, rows in split.items():
        if not rows:
            continue
        n = len(rows[0])
        ragged = sum(len(r) not in (n, n + 1) for r in rows[1:])
        if n > best_n and ragged <= max(1.0, 0.1 * (len(rows) - 1)):
            best, best_n = delim, n
    return best


def _not_a_table(text: str) -> str | None:
    """What ``text`` is instead of a delimited table, when it is recognisably JSON or a web page (else None)."""
    head = text.lstrip()[:512].lower()
    if head.startswith(("{", "[")):
        try:
            json.loads(text)
        except ValueError:
            pass  # e.g. a header such as "[gene]<TAB>logFC": a table after all
        else:
            return "JSON"
    if head.startswith(("<!doctype html", "<html", "<?xml")) or "<html" in head:
        return "HTML or XML (a web page?)"
    return None


def without_leading_comments(text: str) -> str:
    """``text`` without the ``#`` comment lines above its header (featureCounts' ``# Program:...``, export notes)."""
    lines = text.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if not line.lstrip().startswith("#")), len(lines))
    return "".join(lines[first:])


def _decimal(text: str, sep: str) -> str:
    """``","`` when the fields of a ``;``- or tab-separated table write decimals with commas and none with points."""
    if sep not in (";", "\t"):
        return "."
    fields = [f.strip() for ln in text.splitlines()[1:_SNIFF_LINES] for f in ln.split(sep)]
    comma = sum(bool(_DECIMAL_COMMA.match(f)) for f in fields)
    point = sum(bool(_DECIMAL_POINT.match(f)) for f in fields)
    return "," if comma > 0 and point == 0 else "."


def read_user_table(source: str | os.PathLike | bytes, *, what: str = "table",
                    hint: str = "give a CSV or TSV table with a header row", max_bytes: int | None = None,
                    **kwargs: object) -> pd.DataFrame:
    """Read a user's delimited table, whatever its delimiter, encoding or compression.

    Parameters
    ----------
    source
        A file path, or the file's bytes (e.g. an upload).
    what
        What the table is, for messages (``signature file``, ``target file``, ``edge table``).
    hint
        What a valid table looks like (the hint of a parse error).
    max_bytes
        Largest (decompressed) size accepted, e.g. a service's upload limit (default: none).
    **kwargs
        Passed on to :func:`pandas.read_csv` (``dtype``, ``keep_default_na``, ...); ``sep`` and
        ``decimal`` are sniffed.

    Returns
    -------
    pd.DataFrame
        The table as pandas reads it with the sniffed delimiter.

    Raises
    ------
    DataFileError
        Missing file, a directory, a binary or corrupt file, an undecodable encoding, more than
        ``max_bytes``, or a table pandas cannot parse.
    """
    if isinstance(source, bytes):
        label, data = what, source
    else:
        p = Path(source)
        label = f"{what} {p}"
        if not p.exists():
            raise DataFileError(f"{label} does not exist", "check the path")
        if p.is_dir():
            raise DataFileError(f"{label} is a directory, not a table file", "give the path of the file itself")
        data = p.read_bytes()
    return parse_table(decode_text(data, label, max_bytes), label, hint, **kwargs)


def _csv_rows(lines: Iterable[str], delimiter: str, longest: int) -> list[list[str]]:
    """``lines`` split by the csv module, with its (process-wide) field limit lifted to ``longest`` characters while
    they are read: the text is in memory already, so its fields may be as long as it."""
    with _FIELD_LIMIT_LOCK:
        limit = csv.field_size_limit()
        csv.field_size_limit(max(limit, longest))
        try:
            return list(csv.reader(lines, delimiter=delimiter))
        finally:
            csv.field_size_limit(limit)


def _delimiter_ends_rows(text: str, sep: str) -> bool:
    """True when data rows end with a delimiter: each has the header's fields or one more, at least one has one more,
    and every extra last field is empty (blank lines are left out, as pandas leaves them). Not R's unnamed row-name
    column (first, filled) nor a named last column of missing values (``NA``).

    An R table written with ``na = ""`` and row names whose last column is all missing reads the same; it is taken
    for the trailing delimiter.
    """
    rows = [row for row in _csv_rows(io.StringIO(text), sep, len(text)) if any(field.strip() for field in row)]
    if len(rows) < 2:
        return False
    n = len(rows[0])
    longer = [row for row in rows[1:] if len(row) == n + 1]
    return bool(longer) and all(len(row) in (n, n + 1) for row in rows[1:]) and not any(r[-1].strip() for r in longer)


def parse_table(text: str, label: str, hint: str = "give a CSV or TSV table with a header row",
                **kwargs: object) -> pd.DataFrame:
    """Parse the text of a delimited table with its sniffed delimiter (and decimal commas in ``;`` or tab tables),
    after the ``#`` comment lines above its header.

    Parameters
    ----------
    text
        The decoded table (see :func:`decode_text`).
    label, hint
        How to name the input in messages, and what a valid table looks like.
    **kwargs
        Passed on to :func:`pandas.read_csv`.

    Raises
    ------
    DataFileError
        An empty text or a table pandas cannot parse.
    """
    text = without_leading_comments(text)
    if not text.strip():
        raise DataFileError(f"{label} is empty", hint)
    kind = _not_a_table(text)
    if kind:
        raise DataFileError(f"{label} is {kind}, not a delimited table", hint)
    sep = sniff_delimiter(text)
    options = {"sep": sep, "decimal": _decimal(text, sep), **kwargs}
    try:
        frame = pd.read_csv(io.StringIO(text), **options)  # type: ignore[arg-type]
        if (not isinstance(frame.index, pd.RangeIndex) and "index_col" not in kwargs
                and _delimiter_ends_rows(text, str(options["sep"]))):
            # pandas reads the first field as an index, shifting every column by one
            frame = pd.read_csv(io.StringIO(text), index_col=False, **options)  # type: ignore[arg-type]
        return frame
    except Exception as exc:  # pandas raises many types for malformed text
        raise DataFileError(f"cannot read {label}: {exc}", hint) from exc
