"""Pattern file readers and the one entry point :func:`read_pattern`.

The format is chosen from the extension and, for unknown extensions (or GSAS ``.raw`` vs Bruker
``.raw``), from the content: XRDML (XML with ``xrdMeasurement``), pdCIF (``data_`` + ``_pd_``), GSAS
(``BANK`` lines) or column text.  Bruker ``.brml`` (zip) and binary ``.raw`` files are refused with
the advice to export ``.xy``.
"""

from __future__ import annotations

import re
from pathlib import Path

from pxrdsolve.diffraction.radiation import Radiation
from pxrdsolve.errors import InputError
from pxrdsolve.patterns.readers.common import RawColumns, decode_text, read_file_bytes
from pxrdsolve.patterns.readers.gsas import read_gsas
from pxrdsolve.patterns.readers.pdcif import read_pdcif
from pxrdsolve.patterns.readers.text import read_text
from pxrdsolve.patterns.readers.xrdml import read_xrdml
from pxrdsolve.patterns.types import MeasuredPattern

__all__ = ["read_pattern", "read_raw_columns", "sniff_format"]

TEXT_EXTENSIONS = (".xy", ".xye", ".dat", ".csv", ".txt", ".asc", ".x_y")
GSAS_EXTENSIONS = (".gsa", ".gsas", ".gss", ".fxye", ".gda")
_READERS = {"text": read_text, "pdcif": read_pdcif, "gsas": read_gsas, "xrdml": read_xrdml}
_BANK = re.compile(r"^BANK\s+\d", re.MULTILINE)


def _convert_advice(path: Path, what: str) -> InputError:
    return InputError(
        f"{path}: {what} files are not read: export the scan as .xy (2θ, intensity) or .xrdml and pass --wavelength"
    )


def sniff_format(path: Path, data: bytes) -> str:
    """``text``, ``pdcif``, ``gsas`` or ``xrdml`` for this file; InputError for Bruker binaries."""
    ext = path.suffix.lower()
    if ext == ".brml" or data.startswith(b"PK\x03\x04"):
        raise _convert_advice(path, "Bruker .brml (zip)" if ext == ".brml" else "zip archive")
    if data.startswith((b"RAW1.01", b"RAW2", b"RAW4.00", b"RAW ")) or (ext == ".raw" and b"\x00" in data[:4096]):
        raise _convert_advice(path, "Bruker binary .raw")
    if ext in (".xrdml",):
        return "xrdml"
    if ext in (".cif", ".pdcif", ".rtv"):
        return "pdcif"
    if ext in GSAS_EXTENSIONS:
        return "gsas"
    head = data[:200_000].decode("latin-1")
    if ext not in TEXT_EXTENSIONS:
        if head.lstrip("\ufeff \r\n\t").startswith("<") and "xrdMeasurement" in head:
            return "xrdml"
        if re.search(r"^\s*data_\S", head, re.MULTILINE) and "_pd_" in head:
            return "pdcif"
    if ext in (".raw", ".xml") or ext not in TEXT_EXTENSIONS:
        if _BANK.search(head):
            return "gsas"
    return "text"


def read_raw_columns(path: str | Path) -> RawColumns:
    """Read a pattern file into unvalidated :class:`RawColumns` (see :func:`read_pattern`)."""
    p = Path(path)
    data = read_file_bytes(p)
    kind = sniff_format(p, data)
    text, encoding = decode_text(data, p)
    try:
        raw = _READERS[kind](text, p)
    except (RecursionError, MemoryError, OverflowError) as exc:
        raise InputError(f"{p}: cannot read as {kind} ({type(exc).__name__})") from None
    if encoding != "utf-8":
        raw.metadata["encoding"] = encoding
    return raw


def read_pattern(
    path: str | Path,
    *,
    wavelength: float | str | Radiation | None = None,
    axis: str | None = None,
) -> MeasuredPattern:
    """Read a measured powder pattern and put it on ascending Q (Å⁻¹).

    Formats: column text (``.xy``, ``.xye``, ``.dat``, ``.csv``, ``.txt``), pdCIF (``.cif``), GSAS
    (``.gsa``, ``.fxye`` …) and PANalytical ``.xrdml``.  ``wavelength`` (Å, or a name such as
    ``CuKa1``/``MoKa``/``CuKa12``) overrides the file's; 2θ data need one from somewhere.  ``axis``
    (``2theta``, ``q``, ``d``) says what x is when the file does not.  Every problem with the file
    raises :class:`~pxrdsolve.errors.InputError` with a one-line message naming the file.
    """
    from pxrdsolve.patterns.validate import finalize_pattern

    p = Path(path)
    return finalize_pattern(read_raw_columns(p), p, wavelength=wavelength, axis=axis)
