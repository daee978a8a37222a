"""Shared reader plumbing: safe file loading and decoding, CIF-style numbers, the raw-columns record.

Every reader turns a file into :class:`RawColumns` (x in the file's axis unit, intensity, optional
esd, what the file says about the axis and wavelength); :mod:`pxrdsolve.patterns.validate` then
checks the numbers and converts to Q.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pxrdsolve.diffraction.radiation import Radiation
from pxrdsolve.errors import InputError

MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class RawColumns:
    """What a reader found, before validation.

    ``x`` is in the unit of ``axis`` (2θ degrees, Q Å⁻¹, d Å); ``axis`` is None when the file does not
    say.  ``axis_explicit`` is True when the format defines the axis (pdCIF tag, XRDML, GSAS), False
    for a guess from free text.  ``line_numbers`` (1-based, same length as ``x``) locate each point
    in the file for error messages, or None.
    """

    x: np.ndarray
    intensity: np.ndarray
    esd: np.ndarray | None
    axis: str | None
    axis_explicit: bool
    radiation: Radiation | None
    wavelength_source: str | None
    format: str
    line_numbers: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def read_file_bytes(path: Path) -> bytes:
    """The file's bytes; InputError for a missing, unreadable, empty or huge (> 200 MB) file."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a pattern file")
    if size > MAX_FILE_BYTES:
        raise InputError(f"{path}: file is {size / 1e6:.0f} MB, more than the 200 MB a pattern may have")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data.strip():
        raise InputError(f"{path}: empty file")
    return data


def decode_text(data: bytes, path: Path) -> tuple[str, str]:
    """Decode a text pattern: UTF-8 (BOM allowed), UTF-16 with BOM, else latin-1.

    Returns (text, encoding).  Raises InputError for binary content (NUL bytes or many control
    characters), which is what a binary instrument file or garbage looks like.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise InputError(f"{path}: not a readable text file (bad UTF-16)") from None
    head = data[:65536]
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    if b"\x00" in head or controls > 0.01 * len(head) + 2:
        raise InputError(f"{path}: binary file, not a text pattern (export it as two-column .xy text)")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


_CIF_NUMBER = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?:\((\d+)\))?$")


def parse_esd_number(text: str) -> tuple[float, float | None]:
    """Parse ``123``, ``1.25e3``, ``327(18)`` or ``1.234(5)`` → (value, esd or None).

    The esd in parentheses is in units of the last digit: ``1.234(5)`` → (1.234, 0.005).  ``.`` and
    ``?`` (CIF "not applicable"/"unknown") give (nan, None).  Raises ValueError for anything else.
    """
    token = text.strip()
    if token in (".", "?"):
        return math.nan, None
    m = _CIF_NUMBER.match(token)
    if m is None:
        raise ValueError(f"not a number: {text!r}")
    mantissa, esd_digits = m.group(1), m.group(2)
    value = float(mantissa)
    if esd_digits is None:
        return value, None
    base = mantissa.lower().split("e")
    decimals = len(base[0].split(".")[1]) if "." in base[0] else 0
    exponent = int(base[1]) if len(base) > 1 else 0
    return value, int(esd_digits) * 10.0 ** (exponent - decimals)


def radiation_from_wavelength(wavelength_angstrom: float, name: str | None = None) -> Radiation:
    """A single-line :class:`Radiation` of the given wavelength (Å), checked to lie in (0.01, 10) Å."""
    if not (math.isfinite(wavelength_angstrom) and 0.01 < wavelength_angstrom < 10.0):
        raise InputError(f"wavelength {wavelength_angstrom} Å is outside (0.01, 10) Å")
    return Radiation(name or f"{wavelength_angstrom:g}A", (float(wavelength_angstrom),))


def doublet_radiation(lam1: float, lam2: float, ratio: float, name: str | None = None) -> Radiation:
    """Kα1 + Kα2 radiation: wavelengths in Å, ``ratio`` = I(Kα2)/I(Kα1)."""
    first = radiation_from_wavelength(lam1)
    radiation_from_wavelength(lam2)
    return Radiation(name or f"{lam1:g}+{lam2:g}A", (first.wavelength_angstrom, float(lam2)), (1.0, float(ratio)))
