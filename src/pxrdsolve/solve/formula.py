"""Chemical formulas → :class:`~pxrdsolve.solve.types.Composition` (no pymatgen).

Accepted: element symbols with integer counts (``SrTiO3``), nested parentheses/brackets with a
multiplier (``Ca(OH)2``, ``K3[Fe(CN)6]``), adducts after ``·`` or ``*`` with an optional
leading count (``CuSO4·5H2O``) and whitespace.  The composition is reduced by the greatest common
divisor of the counts; a formula written as a multiple of its reduced form (``Sr4Ti4O12``) fixes Z to
that multiple unless ``z`` says otherwise.  Z always counts *reduced* formula units per cell.
"""

from __future__ import annotations

import math
import re

from pxrdsolve.elements import SYMBOLS, UnknownElementError, atomic_number
from pxrdsolve.errors import InputError
from pxrdsolve.solve.types import Composition

_TOKEN = re.compile(r"\s*(?:([A-Z][a-z]*)|(\d+(?:\.\d+)?)|([(\[{])|([)\]}]))")
_CLOSE = {"(": ")", "[": "]", "{": "}"}
_ADDUCT = re.compile(r"[·•*]")


def parse_formula(text: str, z: str | int = "auto", max_atoms: int = 20) -> Composition:
    """Parse ``text`` into a reduced :class:`Composition` with its Z choices.

    ``z``: ``"auto"`` (every Z with Z·atoms ≤ ``max_atoms``, or the written multiple for formulas such
    as ``Sr4Ti4O12``) or a positive integer (number of reduced formula units per cell).
    ``max_atoms``: atoms per cell allowed by ``auto``.  Raises :class:`InputError` (one line) for
    unknown elements, unbalanced parentheses, non-integer counts, empty text or bad ``z``.
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError("empty formula")
    counts: dict[str, int] = {}
    for part in _ADDUCT.split(text.strip()):
        part = part.strip()
        if not part:
            raise InputError(f"malformed formula {text!r}")
        mult = 1
        m = re.match(r"(\d+)\s*(?=[A-Z(\[{])", part)
        if m:
            mult = int(m.group(1))
            part = part[m.end():]
        for el, n in _parse_group(part, text).items():
            counts[el] = counts.get(el, 0) + n * mult
    counts = {el: n for el, n in counts.items() if n > 0}
    if not counts:
        raise InputError(f"formula {text!r} holds no atoms")
    g = math.gcd(*counts.values())
    amounts = tuple((el, n // g) for el, n in counts.items())
    per_fu = sum(n for _, n in amounts)
    return Composition(amounts=amounts, z_options=_z_options(text, z, g, per_fu, max_atoms))


def _z_options(text: str, z: str | int, written: int, per_fu: int, max_atoms: int) -> tuple[int, ...]:
    if isinstance(z, str):
        if z.strip().lower() == "auto":
            if written > 1:
                return (written,)
            options = tuple(k for k in range(1, max_atoms // per_fu + 1))
            if not options:
                raise InputError(
                    f"formula {text!r} has {per_fu} atoms per formula unit, more than the limit of {max_atoms} "
                    "atoms per cell"
                )
            return options
        if not re.fullmatch(r"[0-9]+", z.strip()):
            raise InputError(f"Z must be 'auto' or a positive integer, not {z!r}")
        z = int(z)
    if isinstance(z, bool) or not isinstance(z, int) or z < 1:
        raise InputError(f"Z must be 'auto' or a positive integer, not {z!r}")
    return (z,)


def _parse_group(part: str, text: str) -> dict[str, int]:
    """Counts of one adduct part; a stack of dicts handles nested groups."""
    stack: list[tuple[str, dict[str, int]]] = [("", {})]
    pos = 0
    last: dict[str, int] | None = None  # what a following number multiplies
    last_el: str | None = None
    while pos < len(part):
        m = _TOKEN.match(part, pos)
        if m is None or m.end() == pos:
            if part[pos:].strip() == "":
                break
            raise InputError(f"malformed formula {text!r} (unexpected {part[pos:pos + 5]!r})")
        pos = m.end()
        sym, num, opening, closing = m.groups()
        if sym is not None:
            el = _element(sym, text)
            stack[-1][1][el] = stack[-1][1].get(el, 0) + 1
            last, last_el = None, el
        elif num is not None:
            n = _count(num, text)
            if last_el is not None:
                stack[-1][1][last_el] += n - 1
            elif last is not None:
                for el, c in last.items():
                    stack[-1][1][el] = stack[-1][1].get(el, 0) + c * (n - 1)
            else:
                raise InputError(f"malformed formula {text!r} (a count without an element)")
            last, last_el = None, None
        elif opening is not None:
            stack.append((opening, {}))
            last, last_el = None, None
        else:
            if len(stack) == 1 or _CLOSE[stack[-1][0]] != closing:
                raise InputError(f"unbalanced parentheses in formula {text!r}")
            _, inner = stack.pop()
            if not inner:
                raise InputError(f"empty parentheses in formula {text!r}")
            for el, c in inner.items():
                stack[-1][1][el] = stack[-1][1].get(el, 0) + c
            last, last_el = inner, None
    if len(stack) != 1:
        raise InputError(f"unbalanced parentheses in formula {text!r}")
    return stack[0][1]


def _element(sym: str, text: str) -> str:
    if len(sym) > 3:
        raise InputError(f"unknown element {sym!r} in formula {text!r}")
    try:
        return SYMBOLS[atomic_number(sym)]
    except UnknownElementError:
        raise InputError(f"unknown element {sym!r} in formula {text!r}") from None


def _count(num: str, text: str) -> int:
    value = float(num)
    if value != int(value) or value < 1:
        raise InputError(
            f"formula {text!r}: count {num} is not a positive integer (partial occupancy is not supported)"
        )
    return int(value)


def anonymous_formula(amounts: dict[str, int] | tuple[tuple[str, int], ...]) -> str:
    """The anonymised reduced formula (``ABC3`` for SrTiO3), as pymatgen's ``anonymized_formula``.

    Amounts are reduced by their gcd and sorted ascending; letters A, B, C …; counts of 1 are omitted.
    """
    values = [int(n) for _, n in (amounts.items() if isinstance(amounts, dict) else amounts) if n > 0]
    g = math.gcd(*values)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return "".join(f"{letters[i]}{n // g if n // g != 1 else ''}" for i, n in enumerate(sorted(values)))
