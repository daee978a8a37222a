"""Two/three-column text patterns: ``.xy``, ``.xye``, ``.dat``, ``.csv``, ``.txt``.

Comment lines start with ``#``, ``!`` or ``;``; text lines before the first numeric line are header
lines (e.g. a CSV column row); ``#`` also starts an inline comment.  Separators: commas, semicolons,
tabs or spaces.  Headers and comments are searched for a wavelength (``wavelength``/``lambda`` then a
number in Å, or a line name such as ``Cu Kα1``, ``MoKa``, ``Cu Ka1/Ka2``), an ``axis:`` statement
and the x-column name (``2theta``, ``2θ``, ``tth``, ``Q``, ``d`` …).  A third column is the esd for
``.xye`` files or when its header says ``esd``/``sigma``/``error``; other extra columns are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from pxrdsolve.diffraction.radiation import Radiation, parse_radiation
from pxrdsolve.errors import InputError
from pxrdsolve.patterns.readers.common import RawColumns, radiation_from_wavelength

_SPLIT = re.compile(r"[\s,;]+")
_COMMENT_CHARS = ("#", "!", ";")
_WAVELENGTH = re.compile(
    r"(?:wave\s*length|lambda|λ)[\w\s]*?(?:\((?:a|å|angstrom)\))?\s*[=:]?\s*"
    r"([0-9]*\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?![\w.])",
    re.IGNORECASE,
)
_LINE_NAME = re.compile(
    r"\b(cu|mo|co|ag|cr|fe)\s*[-_ ]?\s*k\s*[-_ ]?\s*(?:a|α|alpha)"
    r"\s*(1\s*/\s*k?\s*(?:a|α|alpha)?\s*2|1\s*\+\s*2|12|1|2)?(?![a-z0-9])",
    re.IGNORECASE,
)
_AXIS_STATEMENT = re.compile(r"\baxis\s*[:=]\s*([^\s,;]+)", re.IGNORECASE)
_COLUMNS = re.compile(r"\bcolumns?\b\s*[:=]?\s*(.*)", re.IGNORECASE)
_TWO_THETA_NAME = re.compile(r"^(2[-_ ]?(theta|th|θ)|two[-_]?theta|tth|angle)", re.IGNORECASE)
_Q_NAME = re.compile(r"^q($|[_\W])", re.IGNORECASE)
_D_NAME = re.compile(r"^(d|d[-_]?spacing|dspacing)($|[_\W])", re.IGNORECASE)
_ESD_NAME = re.compile(r"(esd|sigma|σ|err|unc|std|^dy|^s\(?i)", re.IGNORECASE)
FORMATS = {".xy": "xy", ".xye": "xye", ".csv": "csv", ".dat": "dat", ".txt": "txt"}


def classify_axis_name(name: str) -> str | None:
    """``2theta``, ``q`` or ``d`` for a column name such as ``2Theta(deg)``, ``Q_invA``, ``d (Å)``."""
    token = name.strip().strip("\"'[]()").strip()
    if _TWO_THETA_NAME.match(token):
        return "2theta"
    if _Q_NAME.match(token):
        return "q"
    if _D_NAME.match(token):
        return "d"
    return None


def _split_columns(line: str) -> list[str]:
    return [f for f in _SPLIT.split(line.strip()) if f]


def _parse_row(line: str) -> list[float] | None:
    fields = _split_columns(line)
    if not fields:
        return None
    try:
        return [_to_float(f) for f in fields]
    except ValueError:
        return None


def _to_float(field: str) -> float:
    if "_" in field:  # float() accepts "1_000"; a data file does not mean that
        raise ValueError(field)
    return float(field)


def _radiation_from_name(match: re.Match[str]) -> Radiation | None:
    element = match.group(1).capitalize()
    suffix = re.sub(r"[^12]", "", match.group(2) or "")
    line = "Ka" + ("12" if suffix in ("12", "122") else suffix)
    try:
        return parse_radiation(element + line)
    except InputError:
        return None


def find_radiation(lines: list[str]) -> tuple[Radiation | None, list[str]]:
    """The wavelength stated in header/comment lines, and warnings about unusable statements."""
    warnings: list[str] = []
    number: float | None = None
    named: Radiation | None = None
    for line in lines:
        if number is None:
            for m in _WAVELENGTH.finditer(line):
                value = float(m.group(1))
                if 0.01 < value < 10.0:
                    number = value
                    break
                warnings.append(f"ignored header wavelength {value:g} (not in (0.01, 10) Å)")
        if named is None:
            m = _LINE_NAME.search(line)
            if m is not None:
                named = _radiation_from_name(m)
    if number is not None:
        if named is not None and abs(named.wavelength_angstrom - number) < 1e-3:
            return named, warnings
        return radiation_from_wavelength(number), warnings
    return named, warnings


def find_axis_hint(comments: list[str], header: list[str], last_comment_before_data: str | None) -> str | None:
    """Axis named in an ``axis:`` statement, a ``columns:`` comment or a column-name row."""
    for line in comments + header:
        m = _AXIS_STATEMENT.search(line)
        if m is not None:
            axis = classify_axis_name(m.group(1))
            if axis is not None:
                return axis
    candidates = [m.group(1) for line in comments if (m := _COLUMNS.search(line)) is not None]
    candidates += header[-1:]
    if last_comment_before_data is not None:
        candidates.append(last_comment_before_data)
    for text in candidates:
        fields = _split_columns(text)
        if fields:
            axis = classify_axis_name(fields[0])
            if axis is not None:
                return axis
    return None


def _column_names(comments: list[str], header: list[str], last_comment: str | None) -> list[str]:
    for text in header[-1:] + [m.group(1) for c in comments if (m := _COLUMNS.search(c))] + [last_comment or ""]:
        fields = _split_columns(text)
        if len(fields) >= 2 and classify_axis_name(fields[0]) is not None:
            return fields
    return []


def read_text(text: str, path: Path) -> RawColumns:
    """Parse a column text pattern (see module docstring) into :class:`RawColumns`."""
    comments: list[str] = []
    header: list[str] = []
    rows: list[list[float]] = []
    line_numbers: list[int] = []
    last_comment: str | None = None
    ncols = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(_COMMENT_CHARS):
            body = stripped.lstrip("#!;").strip()
            comments.append(body)
            if not rows:
                last_comment = body
            continue
        values = _parse_row(stripped.split("#", 1)[0])
        if values is None:
            if rows:
                bad = next((f for f in _split_columns(stripped) if _parse_row(f) is None), stripped)
                raise InputError(f"{path}: line {number}: non-numeric value {bad[:40]!r} in the data")
            header.append(stripped)
            continue
        if not rows and len(values) == 1:
            header.append(stripped)
            continue
        if not rows:
            ncols = len(values)
        elif len(values) != ncols:
            raise InputError(f"{path}: line {number} has {len(values)} columns, the data before it {ncols}")
        rows.append(values)
        line_numbers.append(number)
    if not rows:
        if header and all(_parse_row(h) is not None for h in header):
            raise InputError(f"{path}: only one column: need x and intensity")
        raise InputError(f"{path}: no numeric data found")
    data = np.asarray(rows, dtype=float)
    ext = path.suffix.lower()
    names = _column_names(comments, header, last_comment)
    esd = None
    metadata: dict[str, object] = {"format": FORMATS.get(ext, "text"), "n_columns": ncols}
    if ncols >= 3 and (ext == ".xye" or (len(names) >= 3 and _ESD_NAME.search(names[2]))):
        esd = data[:, 2]
    elif ncols >= 3:
        metadata["ignored_columns"] = ncols - 2
    if names:
        metadata["column_names"] = names[:ncols]
    radiation, warnings = find_radiation(comments + header)
    axis = find_axis_hint(comments, header, last_comment)
    metadata["header"] = (comments + header)[:20]
    return RawColumns(
        x=data[:, 0],
        intensity=data[:, 1],
        esd=esd,
        axis=axis,
        axis_explicit=False,
        radiation=radiation,
        wavelength_source=None if radiation is None else "header",
        format=str(metadata["format"]),
        line_numbers=np.asarray(line_numbers),
        metadata=metadata,
        warnings=tuple(warnings),
    )
