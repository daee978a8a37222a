"""Data types that cross the boundaries of the solver: compositions and candidates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pxrdsolve.crystal import CrystalRecord

SOURCES = ("direct", "model", "prototype", "user")


@dataclass(frozen=True)
class Composition:
    """A chemical composition: element symbol → amount per formula unit (reduced, e.g. SrTiO3).

    ``z_options`` are the numbers of formula units per cell to try (``--z auto`` gives every Z that
    keeps the cell within the atom limit).
    """

    amounts: tuple[tuple[str, int], ...]
    z_options: tuple[int, ...] = (1,)

    @property
    def atoms_per_formula_unit(self) -> int:
        return sum(n for _, n in self.amounts)

    def formula(self, z: int = 1) -> str:
        return "".join(f"{el}{n * z if n * z > 1 else ''}" for el, n in self.amounts)


@dataclass(frozen=True)
class Candidate:
    """One candidate structure for a pattern.

    ``source`` is ``model``, ``prototype`` or ``user``; ``label`` says where it came from (e.g.
    ``"mp-5229 SrTiO3→BaZrO3"`` or a file name); ``meta`` holds source-specific details (template
    id, space group, substitution map, latent index …), JSON-serialisable.
    """

    record: CrystalRecord
    source: str
    label: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown candidate source {self.source!r}")
