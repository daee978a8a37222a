"""``pxrdsolve inspect``'s core: read a pattern, preprocess it, summarise what was found."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pxrdsolve.diffraction.radiation import Radiation
from pxrdsolve.patterns.preprocess import prepare_for_model
from pxrdsolve.patterns.readers import read_pattern
from pxrdsolve.patterns.types import MeasuredPattern, ModelPattern

AXIS_UNITS = {"2theta": "deg", "q": "1/Å", "d": "Å"}


@dataclass(frozen=True)
class PatternReport:
    """Summary of a pattern file: what was read (axis range in its own unit and in Q, Å⁻¹),
    wavelength (Å), size estimate, background fraction (0…1) and all warnings, with the measured
    pattern and its model view for plotting."""

    path: str
    format: str
    source_axis: str
    axis_min: float
    axis_max: float
    q_min_inv_angstrom: float
    q_max_inv_angstrom: float
    wavelength_angstrom: float | None
    radiation: str | None
    wavelength_source: str | None
    n_points: int
    has_esd: bool
    background_fraction: float | None
    model_points_measured: int
    model_points_total: int
    warnings: tuple[str, ...]
    pattern: MeasuredPattern
    model: ModelPattern

    @property
    def axis_unit(self) -> str:
        return AXIS_UNITS[self.source_axis]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays except the per-peak widths of the size estimate)."""
        size = self.model.size
        return {
            "path": self.path,
            "format": self.format,
            "source_axis": self.source_axis,
            "axis_unit": self.axis_unit,
            "axis_min": self.axis_min,
            "axis_max": self.axis_max,
            "q_min_inv_angstrom": self.q_min_inv_angstrom,
            "q_max_inv_angstrom": self.q_max_inv_angstrom,
            "wavelength_angstrom": self.wavelength_angstrom,
            "radiation": self.radiation,
            "wavelength_source": self.wavelength_source,
            "n_points": self.n_points,
            "has_esd": self.has_esd,
            "size": None if size is None else size.to_json(),
            "background_fraction": _finite_or_none(self.background_fraction),
            "model_grid": {"n_points": self.model_points_total, "n_measured": self.model_points_measured},
            "steps": [s.to_json() for s in self.model.steps],
            "warnings": list(self.warnings),
        }


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def inspect_pattern(
    path: str | Path,
    *,
    wavelength: float | str | Radiation | None = None,
    axis: str | None = None,
    instrument_fwhm_q: float = 0.0,
    q_grid: np.ndarray | None = None,
) -> PatternReport:
    """Read ``path`` and prepare it for the model (default grid, SNIP background, size estimate)."""
    pattern = read_pattern(path, wavelength=wavelength, axis=axis)
    model = prepare_for_model(pattern, q_grid=q_grid, instrument_fwhm_q=instrument_fwhm_q)
    own = pattern.source_axis_values()
    frac = next((s.params.get("background_fraction") for s in model.steps if s.name == "background"), None)
    return PatternReport(
        path=str(path),
        format=pattern.format,
        source_axis=pattern.source_axis,
        axis_min=float(own.min()),
        axis_max=float(own.max()),
        q_min_inv_angstrom=float(pattern.q_inv_angstrom[0]),
        q_max_inv_angstrom=float(pattern.q_inv_angstrom[-1]),
        wavelength_angstrom=pattern.wavelength_angstrom,
        radiation=None if pattern.radiation is None else pattern.radiation.name,
        wavelength_source=pattern.metadata.get("wavelength_source"),
        n_points=pattern.n_points,
        has_esd=pattern.esd is not None,
        background_fraction=frac,
        model_points_measured=int(model.mask.sum()),
        model_points_total=int(model.mask.size),
        warnings=pattern.warnings + model.warnings,
        pattern=pattern,
        model=model,
    )
