"""GSAS raw powder files (``.gsa``, ``.gsas``, ``.gss``, ``.fxye``, GSAS ``.raw``), constant wavelength.

Layout: a title line, an optional ``Instrument parameter file:`` line, ``#`` comments, then
``BANK ibank nchan nrec bintyp bcoef1 bcoef2 bcoef3 bcoef4 type`` and the data records.  Supported:

* ``CONST``/``CONS`` banks: 2θ = bcoef1 + i·bcoef2 in centidegrees, with ``STD`` records (ten 8-char
  fields: 2-char counter count, 6-char counts) or ``ESD`` records (five 8+8-char intensity, esd pairs);
* ``FXYE``/``FXY`` records: free-format x (centidegrees), intensity (and esd);
* ``RALF`` banks with ``ALT`` records: four 20-char triplets x (centidegrees × 32, i.e. /3200 →
  degrees, as GSAS-II reads them), intensity/1000, esd/1000.  Time-of-flight banks (``TIME_MAP``) are
  refused: this is an X-ray tool.

Only the first bank is read (a warning names how many there are).  GSAS data files carry no
wavelength (it is in the instrument parameter file), so one is taken from the title or comments when
they state it, else ``--wavelength`` is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pxrdsolve.errors import InputError
from pxrdsolve.patterns.readers.common import RawColumns
from pxrdsolve.patterns.readers.text import find_radiation


def _field(text: str, path: Path, line: int) -> float:
    s = text.strip()
    if not s:
        return 0.0
    try:
        return float(s)
    except ValueError:
        raise InputError(f"{path}: line {line}: non-numeric value {s[:20]!r} in the GSAS data") from None


def _records(lines: list[str], start: int) -> list[tuple[int, str]]:
    out = []
    for i in range(start, len(lines)):
        line = lines[i].rstrip("\r\n")
        if line.startswith(("BANK", "TIME_MAP")) or "\x1a" in line:
            break
        if line.startswith("#") or not line.strip():
            continue
        out.append((i + 1, line.ljust(80)))
    return out


def _std(records, path, nchan):
    y, lines = [], []
    for number, line in records:
        for k in range(0, 80, 8):
            chunk = line[k : k + 8]
            if not chunk.strip():
                continue
            _field(chunk[:2], path, number)  # number of counters: checked, not needed
            y.append(_field(chunk[2:], path, number))
            lines.append(number)
    return np.asarray(y[:nchan]), None, np.asarray(lines[:nchan])


def _esd(records, path, nchan):
    y, e, lines = [], [], []
    for number, line in records:
        for k in range(0, 80, 16):
            if not line[k : k + 16].strip():
                continue
            y.append(_field(line[k : k + 8], path, number))
            e.append(_field(line[k + 8 : k + 16], path, number))
            lines.append(number)
    return np.asarray(y[:nchan]), np.asarray(e[:nchan]), np.asarray(lines[:nchan])


def _alt(records, path, nchan):
    x, y, e, lines = [], [], [], []
    for number, line in records:
        for k in range(0, 80, 20):
            if not line[k : k + 8].strip():
                continue
            x.append(_field(line[k : k + 8], path, number) / 3200.0)
            y.append(_field(line[k + 8 : k + 15], path, number) / 1000.0)
            e.append(_field(line[k + 15 : k + 20], path, number) / 1000.0)
            lines.append(number)
    return np.asarray(x[:nchan]), np.asarray(y[:nchan]), np.asarray(e[:nchan]), np.asarray(lines[:nchan])


def _free(records, path, ncols):
    rows, lines = [], []
    for number, line in records:
        fields = line.split()
        if len(fields) < ncols:
            raise InputError(f"{path}: line {number} has {len(fields)} values, FXY{'E' * (ncols == 3)} needs {ncols}")
        rows.append([_field(f, path, number) for f in fields[:ncols]])
        lines.append(number)
    data = np.asarray(rows, dtype=float).reshape(-1, ncols)
    return data, np.asarray(lines)


def read_gsas(text: str, path: Path) -> RawColumns:
    """Read the first bank of a GSAS constant-wavelength file (see module docstring)."""
    lines = text.splitlines()
    banks = [i for i, line in enumerate(lines) if line.startswith("BANK")]
    if not banks:
        raise InputError(f"{path}: no BANK line: not a GSAS powder file")
    if any(line.startswith("TIME_MAP") for line in lines):
        raise InputError(f"{path}: time-of-flight (TIME_MAP) data are not supported: X-ray 2θ data only")
    header = [lines[0]] + [line.lstrip("#").strip() for line in lines[1 : banks[0]] if line.strip()]
    header += [line.lstrip("#").strip() for line in lines if line.startswith("#")]
    warnings: list[str] = []
    if len(banks) > 1:
        warnings.append(f"{len(banks)} banks in the file: read bank 1 only")
    bank_line = lines[banks[0]]
    fields = bank_line.split()
    if len(fields) < 5:
        raise InputError(f"{path}: line {banks[0] + 1}: incomplete BANK line {bank_line.strip()!r}")
    try:
        nchan = int(fields[2])
    except ValueError:
        raise InputError(f"{path}: line {banks[0] + 1}: bad channel count in {bank_line.strip()!r}") from None
    bintyp = fields[4].upper()
    dtype = fields[-1].upper() if len(fields) > 5 else "STD"
    records = _records(lines, banks[0] + 1)
    esd = None
    if dtype in ("FXYE", "FXY"):
        data, line_numbers = _free(records, path, 3 if dtype == "FXYE" else 2)
        x, y = data[:, 0] / 100.0, data[:, 1]
        esd = data[:, 2] if dtype == "FXYE" else None
    elif bintyp == "RALF" or dtype == "ALT":
        x, y, esd, line_numbers = _alt(records, path, nchan)
    elif bintyp in ("CONST", "CONS"):
        try:
            start, step = float(fields[5]) / 100.0, float(fields[6]) / 100.0
        except (IndexError, ValueError):
            raise InputError(f"{path}: line {banks[0] + 1}: CONST bank needs start and step (centidegrees)") from None
        if dtype == "ESD":
            y, esd, line_numbers = _esd(records, path, nchan)
        else:
            y, esd, line_numbers = _std(records, path, nchan)
        x = start + step * np.arange(y.size)
    else:
        raise InputError(f"{path}: line {banks[0] + 1}: unsupported GSAS bank type {bintyp}/{dtype}")
    if esd is not None and np.any(esd <= 0):
        warnings.append("some esd values are 0 or negative: esd ignored")
        esd = None
    radiation, more = find_radiation(header)
    metadata = {"format": "gsas", "bank": bank_line.strip(), "title": lines[0].strip()[:80]}
    return RawColumns(
        x=np.asarray(x, dtype=float),
        intensity=np.asarray(y, dtype=float),
        esd=esd,
        axis="2theta",
        axis_explicit=True,
        radiation=radiation,
        wavelength_source=None if radiation is None else "header",
        format="gsas",
        line_numbers=line_numbers,
        metadata=metadata,
        warnings=tuple(warnings + more),
    )
