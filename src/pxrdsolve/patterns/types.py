"""Data types of the patterns layer: a measured pattern as read, the model's view of it, size estimates.

Units: Q in Å⁻¹ (ascending, the canonical axis), 2θ in degrees, d and wavelengths and sizes in Å.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pxrdsolve.diffraction.radiation import Radiation

AXES = ("2theta", "q", "d")


@dataclass(frozen=True)
class MeasuredPattern:
    """A measured powder pattern as read from a file, on its own points, sorted by ascending Q.

    ``intensity`` and ``esd`` are in the file's units (counts or arbitrary); ``esd`` is None when the
    file gives none.  ``two_theta_deg`` is the file's 2θ axis (degrees, same order as Q) for 2θ data,
    else None.  ``wavelength_angstrom`` is the primary wavelength (Kα1 for a doublet) used for the
    2θ → Q conversion; None for Q or d data read without one.  ``metadata`` holds at least
    ``format`` (``xy``, ``xye``, ``csv``, ``pdcif``, ``gsas``, ``xrdml`` …) and ``wavelength_source``.
    """

    q_inv_angstrom: np.ndarray
    intensity: np.ndarray
    esd: np.ndarray | None
    wavelength_angstrom: float | None
    radiation: Radiation | None
    source_axis: str
    two_theta_deg: np.ndarray | None
    path: str
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def n_points(self) -> int:
        return int(self.q_inv_angstrom.size)

    @property
    def format(self) -> str:
        return str(self.metadata.get("format", "unknown"))

    def source_axis_values(self) -> np.ndarray:
        """The axis in the file's own unit (2θ degrees, Q Å⁻¹ or d Å), in ascending-Q order."""
        if self.source_axis == "2theta" and self.two_theta_deg is not None:
            return self.two_theta_deg
        if self.source_axis == "d":
            return 2.0 * np.pi / self.q_inv_angstrom
        return self.q_inv_angstrom


@dataclass(frozen=True)
class ProcessingStep:
    """One preprocessing step that was applied: a short name, a human-readable detail, parameters."""

    name: str
    detail: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "detail": self.detail, "params": dict(self.params)}


@dataclass(frozen=True)
class PeakWidth:
    """One fitted peak: centre Q₀ (Å⁻¹), observed FWHM and FWHM after removing the instrument (Å⁻¹)."""

    q_inv_angstrom: float
    fwhm_q: float
    fwhm_size_q: float
    height: float
    eta: float

    def to_json(self) -> dict[str, float]:
        return {
            "q_inv_angstrom": self.q_inv_angstrom,
            "fwhm_q": self.fwhm_q,
            "fwhm_size_q": self.fwhm_size_q,
            "height": self.height,
            "eta": self.eta,
        }


@dataclass(frozen=True)
class SizeEstimate:
    """Nanocrystal size from peak widths, in the project's convention.

    ``size_angstrom`` is τ (Å) of PXRDNet's size kernel τ·sinc²(τΔQ), whose FWHM is 2.783/τ Å⁻¹;
    ``column_length_angstrom`` is the equivalent Scherrer/Laue column length D = 2τ.
    ``method`` is ``williamson-hall`` (intercept of FWHM vs Q, slope → ``strain``), ``mean-fwhm``
    (no significant Q dependence) or ``single-peak``.  ``strain`` is the Williamson–Hall apparent
    strain ε (FWHM_Q = 2.783/τ + 2εQ), None when not fitted.
    """

    size_angstrom: float
    uncertainty_angstrom: float
    column_length_angstrom: float
    method: str
    n_peaks: int
    strain: float | None = None
    instrument_fwhm_q: float = 0.0
    peaks: tuple[PeakWidth, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "size_angstrom": self.size_angstrom,
            "uncertainty_angstrom": self.uncertainty_angstrom,
            "column_length_angstrom": self.column_length_angstrom,
            "method": self.method,
            "n_peaks": self.n_peaks,
            "strain": self.strain,
            "instrument_fwhm_q": self.instrument_fwhm_q,
            "peaks": [p.to_json() for p in self.peaks],
        }


@dataclass(frozen=True)
class ModelPattern:
    """The model's view of a measured pattern: processed intensity on a Q grid (Å⁻¹).

    ``mask`` is True where the grid point lies inside the measured Q range (and not in a gap of the
    data); where it is False, ``intensity`` and ``background`` are 0 and carry no information.
    ``background`` is the estimated background on the same grid, in the same (normalised) units as
    ``intensity`` before subtraction.  ``steps`` lists what was done, in order.
    """

    q_inv_angstrom: np.ndarray
    intensity: np.ndarray
    mask: np.ndarray
    background: np.ndarray
    steps: tuple[ProcessingStep, ...]
    size: SizeEstimate | None = None
    warnings: tuple[str, ...] = ()

    @property
    def measured_q_range(self) -> tuple[float, float]:
        """(min, max) Q (Å⁻¹) of the unmasked grid points; (nan, nan) when nothing is covered."""
        q = self.q_inv_angstrom[self.mask]
        if q.size == 0:
            return (float("nan"), float("nan"))
        return (float(q.min()), float(q.max()))
