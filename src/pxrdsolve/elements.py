"""Element symbols and atomic numbers, without pymatgen (the GPU/training path imports only torch)."""

from __future__ import annotations

SYMBOLS: tuple[str, ...] = (
    "X", "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl",
    "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se",
    "Br", "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb",
    "Te", "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er",
    "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At",
    "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No",
    "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og",
)  # fmt: skip

_Z = {s: z for z, s in enumerate(SYMBOLS) if z > 0}
_Z["D"] = 1
_Z["T"] = 1


class UnknownElementError(ValueError):
    """An element symbol or atomic number that pxrdsolve does not know."""


def atomic_number(symbol: str) -> int:
    """Atomic number of an element symbol (case-insensitive first letter, e.g. ``"fe"`` -> 26)."""
    key = symbol.strip()
    key = key[:1].upper() + key[1:].lower()
    try:
        return _Z[key]
    except KeyError:
        raise UnknownElementError(f"unknown element {symbol!r}") from None


def symbol(z: int) -> str:
    """Element symbol of atomic number ``z`` (1..118)."""
    if not 1 <= int(z) < len(SYMBOLS):
        raise UnknownElementError(f"unknown atomic number {z}")
    return SYMBOLS[int(z)]
