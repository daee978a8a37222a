"""GSAS-II ``.instprm`` instrument parameter files (constant-wavelength X-ray, ``Type:PXC``).

Format (as GSAS-II's ``ReadInstprm``/``WriteInstprm`` read and write it): a first comment line
containing ``GSAS-II``; then ``name:value`` items, one per line or several per line separated by
``;``; spaces are ignored; ``#`` lines before the items are comments.  Multi-bank files separate
banks by ``#Bank N: ...`` header lines (the items indented below each).  Items read:

* ``Type`` (must be ``PXC``: X-ray, constant wavelength; ``PNC``/``PNT`` neutron files are refused);
* ``Lam`` (one line) or ``Lam1``, ``Lam2`` and ``I(L2)/I(L1)`` (Kα1+Kα2 doublet), Å;
* ``Zero`` (°2θ), ``Polariz.``, ``Azimuth``, ``U``, ``V``, ``W`` (centideg²), ``X``, ``Y``, ``Z``
  (centideg), ``SH/L``; missing profile terms are 0 (``SH/L`` 0.002 like GSAS-II);
* ``Gonio.radius`` (mm, also written ``Gonio. radius``), ``InstrName``; ``Bank``, ``Source``,
  ``Diff-type`` and other items are accepted and ignored.

Sample displacement is a GSAS-II *sample* parameter (``Shift``), not an instrument one: this
module writes it as a header comment ``#pxrdsolve: displacement_um=…`` (ignored by GSAS-II, read
back here).  Every problem raises :class:`~pxrdsolve.errors.InputError` naming the file.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from pxrdsolve.diffraction.radiation import Radiation
from pxrdsolve.errors import InputError
from pxrdsolve.instrument.model import Instrument

_BANK = re.compile(r"^#\s*bank\s+(\d+)\s*:", re.IGNORECASE)
_PXRD = re.compile(r"^#\s*pxrdsolve:\s*(.*)$", re.IGNORECASE)
_FLOAT_KEYS = {"Lam": "lam", "Lam1": "lam1", "Lam2": "lam2", "I(L2)/I(L1)": "ratio", "Zero": "zero_deg",
               "Polariz.": "polarisation", "Azimuth": "azimuth_deg", "U": "u", "V": "v", "W": "w", "X": "x",
               "Y": "y", "Z": "z", "SH/L": "sh_l", "Gonio.radius": "goniometer_radius_mm"}


def _bank_lines(lines: list[str], bank: int | None, src: str) -> tuple[list[tuple[int, str]], list[str]]:
    """The (line number, text) items of the chosen bank and the pxrdsolve comments before them."""
    banks: dict[int, list[tuple[int, str]]] = {}
    order: list[int] = []
    current: int | None = None
    plain: list[tuple[int, str]] = []
    notes: list[str] = []
    for n, raw in enumerate(lines, 1):
        s = raw.strip()
        if not s:
            continue
        if s.startswith("#"):
            m = _BANK.match(s)
            if m:
                current = int(m.group(1))
                if current in banks:
                    raise InputError(f"{src}:{n}: bank {current} appears twice")
                banks[current] = []
                order.append(current)
            m2 = _PXRD.match(s)
            if m2:
                notes.append(m2.group(1))
            continue
        (banks[current] if current is not None else plain).append((n, s))
    if not banks:
        if bank not in (None, 1):
            raise InputError(f"{src}: bank {bank} not found (the file has one bank)")
        return plain, notes
    if plain:
        raise InputError(f"{src}:{plain[0][0]}: items before the first '#Bank' header")
    chosen = order[0] if bank is None else bank
    if chosen not in banks:
        raise InputError(f"{src}: bank {bank} not found (banks {sorted(banks)})")
    return banks[chosen], notes


def parse_instprm(text: str, source: str = "instprm", bank: int | None = None) -> Instrument:
    """Parse the text of a GSAS-II ``.instprm`` file (see the module docstring)."""
    lines = text.splitlines()
    if not lines or "GSAS-II" not in lines[0]:
        raise InputError(f"{source}: not a GSAS-II instrument parameter file (the first line must "
                         "contain 'GSAS-II')")
    items, notes = _bank_lines(lines, bank, source)
    vals: dict[str, float] = {}
    text_vals: dict[str, str] = {}
    i = 0
    while i < len(items):
        n, s = items[i]
        i += 1
        if '"""' in s or "'''" in s:  # multi-line value: skip to the closing delimiter
            delim = '"""' if '"""' in s else "'''"
            if s.count(delim) < 2:
                while i < len(items) and delim not in items[i][1]:
                    i += 1
                i += 1
            continue
        for part in s.replace(" ", "").split(";"):
            if not part:
                continue
            if ":" not in part:
                raise InputError(f"{source}:{n}: expected name:value, got {part!r}")
            key, val = part.split(":", 1)
            if key in _FLOAT_KEYS:
                try:
                    v = float(val)
                except ValueError:
                    raise InputError(f"{source}:{n}: {key} must be a number, got {val!r}") from None
                if not math.isfinite(v):
                    raise InputError(f"{source}:{n}: {key} must be finite, got {val!r}")
                vals[_FLOAT_KEYS[key]] = v
            else:
                text_vals[key] = val
    typ = text_vals.get("Type")
    if typ is None:
        raise InputError(f"{source}: no 'Type' item")
    if typ != "PXC":
        raise InputError(f"{source}: Type {typ} is not supported (only PXC: X-ray, constant wavelength)")
    if "lam1" in vals:
        if "lam2" not in vals:
            raise InputError(f"{source}: Lam1 without Lam2")
        ratio = vals.get("ratio", 0.5)
        lams, weights = (vals["lam1"], vals["lam2"]), (1.0, ratio)
        name = "Ka1+Ka2"
    elif "lam" in vals:
        lams, weights, name = (vals["lam"],), (1.0,), f"{vals['lam']:g}A"
    else:
        raise InputError(f"{source}: no wavelength (need Lam, or Lam1 and Lam2)")
    if any(not 0.01 < lam < 10 for lam in lams) or not 0 <= weights[-1] <= 10:
        raise InputError(f"{source}: wavelengths must be in (0.01, 10) Å and I(L2)/I(L1) in [0, 10]")
    extra: dict[str, float] = {}
    for note in notes:
        for part in note.replace(" ", "").split(";"):
            if part.startswith("displacement_um="):
                try:
                    extra["displacement_um"] = float(part.split("=", 1)[1])
                except ValueError:
                    raise InputError(f"{source}: bad pxrdsolve displacement comment {part!r}") from None
    kw = {k: vals[k] for k in ("zero_deg", "polarisation", "azimuth_deg", "u", "v", "w", "x", "y", "z",
                               "sh_l", "goniometer_radius_mm") if k in vals}
    kw.setdefault("sh_l", 0.002)
    try:
        return Instrument(radiation=Radiation(name, lams, weights), name=text_vals.get("InstrName", ""),
                          **kw, **extra)
    except ValueError as exc:
        raise InputError(f"{source}: {exc}") from None


def read_instprm(path: str | Path, bank: int | None = None) -> Instrument:
    """Read a GSAS-II ``.instprm`` file (first bank by default)."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror})") from None
    return parse_instprm(text, str(p), bank)


def format_instprm(inst: Instrument) -> str:
    """The ``.instprm`` text of ``inst`` (GSAS-II's item order; displacement as a header comment)."""
    rad = inst.radiation
    lines = ["#GSAS-II instrument parameter file; do not add/delete items!",
             f"#pxrdsolve: displacement_um={inst.displacement_um!r}",
             "Type:PXC", "Bank:1.0"]
    if rad.is_doublet:
        if len(rad.wavelengths_angstrom) != 2:
            raise ValueError("an .instprm file holds one or two lines")
        lines += [f"Lam1:{rad.wavelengths_angstrom[0]!r}", f"Lam2:{rad.wavelengths_angstrom[1]!r}",
                  f"I(L2)/I(L1):{rad.weights[1] / rad.weights[0]!r}"]
    else:
        lines.append(f"Lam:{rad.wavelengths_angstrom[0]!r}")
    for key, attr in (("Zero", "zero_deg"), ("Polariz.", "polarisation"), ("Azimuth", "azimuth_deg"),
                      ("U", "u"), ("V", "v"), ("W", "w"), ("X", "x"), ("Y", "y"), ("Z", "z"), ("SH/L", "sh_l")):
        lines.append(f"{key}:{float(getattr(inst, attr))!r}")
    lines.append(f"Gonio. radius:{float(inst.goniometer_radius_mm)!r}")
    if inst.name:
        lines.append(f"InstrName:{inst.name.replace(';', ',').replace(':', ' ')}")
    return "\n".join(lines) + "\n"


def write_instprm(inst: Instrument, path: str | Path) -> None:
    """Write ``inst`` as a GSAS-II ``.instprm`` file, atomically."""
    from pxrdsolve.io.atomic import write_text_atomic

    write_text_atomic(path, format_instprm(inst))
