"""X-ray sources: wavelengths in Å and multi-line sources such as the Cu Kα1+Kα2 doublet.

Named wavelengths are those of pymatgen's ``WAVELENGTHS`` table (Å).  ``CuKa`` is the weighted
Kα mean 1.54184 Å used by PXRDNet.  A doublet name (``CuKa12``, ``MoKa12`` …) gives Kα1 and Kα2
with intensity ratio 1 : 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

from pxrdsolve.errors import InputError

WAVELENGTHS_ANGSTROM: dict[str, float] = {
    "CuKa": 1.54184, "CuKa2": 1.54439, "CuKa1": 1.54056, "CuKb1": 1.39222,
    "MoKa": 0.71073, "MoKa2": 0.71359, "MoKa1": 0.70930, "MoKb1": 0.63229,
    "CrKa": 2.29100, "CrKa2": 2.29361, "CrKa1": 2.28970, "CrKb1": 2.08487,
    "FeKa": 1.93735, "FeKa2": 1.93998, "FeKa1": 1.93604, "FeKb1": 1.75661,
    "CoKa": 1.79026, "CoKa2": 1.79285, "CoKa1": 1.78896, "CoKb1": 1.63079,
    "AgKa": 0.560885, "AgKa2": 0.563813, "AgKa1": 0.559421, "AgKb1": 0.497082,
}  # fmt: skip

KA2_KA1_RATIO = 0.5


@dataclass(frozen=True)
class Radiation:
    """A source of one or more lines.

    ``wavelengths_angstrom[0]`` is the primary line: it defines the Q ↔ 2θ conversion of the
    pattern axis.  ``weights`` are relative line intensities (primary = 1).
    """

    name: str
    wavelengths_angstrom: tuple[float, ...]
    weights: tuple[float, ...] = (1.0,)

    @property
    def wavelength_angstrom(self) -> float:
        """The primary wavelength, Å."""
        return self.wavelengths_angstrom[0]

    @property
    def is_doublet(self) -> bool:
        return len(self.wavelengths_angstrom) > 1

    def to_json(self) -> dict:
        return {"name": self.name, "wavelengths_angstrom": list(self.wavelengths_angstrom),
                "weights": list(self.weights)}


def _canon(name: str) -> str:
    return name.strip().replace("α", "a").replace("β", "b").replace(" ", "").replace("-", "").lower()


_CANON = {_canon(k): k for k in WAVELENGTHS_ANGSTROM}


def parse_radiation(spec: str | float) -> Radiation:
    """Parse a wavelength: a number in Å (``"1.5406"``), a line name (``"CuKa1"``, ``"MoKa"``) or a
    doublet (``"CuKa12"`` = Kα1 + 0.5 Kα2).  Raises :class:`InputError` for anything else."""
    if isinstance(spec, (int, float)):
        lam = float(spec)
        if not 0.01 < lam < 10.0:
            raise InputError(f"wavelength {lam} Å is outside (0.01, 10) Å")
        return Radiation(f"{lam:g}A", (lam,))
    text = str(spec).strip()
    try:
        return parse_radiation(float(text.rstrip("AÅ")))
    except ValueError:
        pass
    key = _canon(text)
    if key.endswith("a12") or key.endswith("a1a2"):
        base = _CANON.get(key.rsplit("a1", 1)[0] + "a1")
        if base is not None:
            k1 = base
            k2 = base[:-1] + "2"
            return Radiation(
                base[:-1] + "12", (WAVELENGTHS_ANGSTROM[k1], WAVELENGTHS_ANGSTROM[k2]), (1.0, KA2_KA1_RATIO)
            )
    if key in _CANON:
        name = _CANON[key]
        return Radiation(name, (WAVELENGTHS_ANGSTROM[name],))
    known = ", ".join(sorted(WAVELENGTHS_ANGSTROM)) + ", CuKa12, MoKa12, … or a number in Å"
    raise InputError(f"unknown wavelength {text!r} (use one of {known})")
