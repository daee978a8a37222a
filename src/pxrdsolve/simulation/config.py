"""Configuration of a simulation job (a frozen dataclass serialised to JSON in every output file)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from pxrdsolve.diffraction.grids import GridSpec, parse_grid
from pxrdsolve.diffraction.profiles import SINC2_FWHM_TIMES_TAU
from pxrdsolve.diffraction.radiation import Radiation, parse_radiation
from pxrdsolve.errors import InputError
from pxrdsolve.io.structures import CELL_CHOICES, DEFAULT_MAX_ATOMS


@dataclass(frozen=True)
class SimulateConfig:
    """What to simulate.

    ``radiation``: wavelength spec (Å number, ``CuKa``, ``CuKa12`` doublet …); ``grid``: ``pxrdnet``,
    ``q:MIN:MAX:N`` or ``2theta:MIN:MAX:STEP``; ``sizes_angstrom``: nanocrystal sizes τ (PXRDNet
    convention, inf = bulk); ``instrument_fwhm_q`` (Å⁻¹) and ``instrument_eta`` (Lorentz fraction):
    instrument pseudo-Voigt (ignored by ``pxrdnet``, which draws its own Gaussian);
    ``noise_std``: additive Gaussian noise relative to the pattern maximum (None = 1e-3 for
    ``pxrdnet``, 0 otherwise); ``seed``: noise seed (per structure, independent of batching/sharding).
    """

    radiation: str = "CuKa"
    grid: str = "pxrdnet"
    sizes_angstrom: tuple[float, ...] = (math.inf,)
    instrument_fwhm_q: float = 0.0
    instrument_eta: float = 0.0
    noise_std: float | None = None
    seed: int = 0
    cell: str = "auto"
    max_atoms: int = DEFAULT_MAX_ATOMS
    sticks_only: bool = field(default=False)

    def __post_init__(self) -> None:
        if self.cell not in CELL_CHOICES:
            raise InputError(f"--cell must be one of {', '.join(CELL_CHOICES)}")
        if not self.sizes_angstrom or any(not (s > 0) for s in self.sizes_angstrom):
            raise InputError("sizes must be positive numbers of Å (or inf)")
        if self.instrument_fwhm_q < 0 or not 0 <= self.instrument_eta <= 1:
            raise InputError("instrument FWHM must be >= 0 Å⁻¹ and eta in [0, 1]")
        if self.noise_std is not None and self.noise_std < 0:
            raise InputError("noise must be >= 0")
        spec = self.grid_spec
        rad = self.radiation_obj
        if spec.kind == "pxrdnet" and (rad.is_doublet or abs(rad.wavelength_angstrom - 1.54184) > 1e-9):
            raise InputError("the pxrdnet grid is defined for Cu Kα (1.54184 Å): use --wavelength CuKa")
        if spec.kind != "pxrdnet" and not self.sticks_only:
            no_size = all(math.isinf(s) for s in self.sizes_angstrom)
            if no_size and self.instrument_fwhm_q == 0:
                raise InputError("a continuous pattern needs a finite --size or an --instrument-fwhm")

    @property
    def effective_cell(self) -> str:
        """``auto``: the conventional standard cell for ``pxrdnet`` (as PXRDNet does), else as given."""
        if self.cell != "auto":
            return self.cell
        return "conventional" if self.grid_spec.kind == "pxrdnet" else "as-is"

    @property
    def grid_spec(self) -> GridSpec:
        return parse_grid(self.grid)

    @property
    def radiation_obj(self) -> Radiation:
        return parse_radiation(self.radiation)

    @property
    def effective_noise_std(self) -> float:
        if self.noise_std is not None:
            return self.noise_std
        return 1e-3 if self.grid_spec.kind == "pxrdnet" else 0.0

    def q_axis(self):
        """The output Q axis (Å⁻¹) for q/2θ grids."""
        return self.grid_spec.q_axis(self.radiation_obj.wavelength_angstrom)

    def grid_q_reach(self) -> float:
        """Largest reflection Q (Å⁻¹) that lands on the output grid (q/2θ grids): the grid end, reached
        by the longest-wavelength line of the source at Q·λ_i/λ₁ on the primary axis."""
        lam_max = max(self.radiation_obj.wavelengths_angstrom)
        return float(self.q_axis()[-1]) * lam_max / self.radiation_obj.wavelength_angstrom

    def peak_q_max(self) -> float:
        """Largest Q (Å⁻¹) for which peaks are computed: the grid end plus room for profile tails."""
        from pxrdsolve.diffraction.pxrdnet import pxrdnet_peak_q_max

        if self.grid_spec.kind == "pxrdnet":
            return pxrdnet_peak_q_max() * (1 + 1e-9)
        widths = [SINC2_FWHM_TIMES_TAU / s for s in self.sizes_angstrom if math.isfinite(s)]
        widths.append(self.instrument_fwhm_q)
        # a line at λ_i appears at Q·λ_i/λ_1 on the primary axis: reach far enough for every line
        return self.grid_q_reach() + 10.0 * max(widths)

    def to_json(self) -> dict:
        d = asdict(self)
        d["sizes_angstrom"] = list(self.sizes_angstrom)
        d["radiation_lines"] = self.radiation_obj.to_json()
        d["grid_parsed"] = self.grid_spec.to_json()
        d["effective_noise_std"] = self.effective_noise_std
        return d


def parse_sizes(text: str | list[str]) -> tuple[float, ...]:
    """Sizes from ``"10,100,inf"`` or a list of such strings (Å)."""
    parts = [text] if isinstance(text, str) else list(text)
    out: list[float] = []
    for part in parts:
        for tok in str(part).split(","):
            tok = tok.strip().lower()
            if not tok:
                continue
            try:
                val = math.inf if tok in ("inf", "bulk", "none") else float(tok)
            except ValueError:
                raise InputError(f"bad size {tok!r}: give Å values like 10,100,inf") from None
            if not val > 0:
                raise InputError(f"bad size {tok!r}: must be > 0 Å")
            out.append(val)
    if not out:
        raise InputError("no size given")
    return tuple(out)
