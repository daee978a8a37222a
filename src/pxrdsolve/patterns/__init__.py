"""Measured patterns in: readers, axes, wavelengths, background, and the model's view of a pattern.

* :func:`read_pattern` - any supported file → :class:`MeasuredPattern` on ascending Q (Å⁻¹);
* :func:`prepare_for_model` - zero shift, optional Kα2 stripping, size estimate, background,
  resampling onto the model grid with a mask, normalisation → :class:`ModelPattern`;
* :func:`estimate_size` - τ (Å) of the sinc² size kernel (FWHM 2.783/τ Å⁻¹, column length 2τ);
* :func:`inspect_pattern` - all of the above summarised as a :class:`PatternReport` (``inspect``).

Kα2: by default the raw data are kept and the Kα1+Kα2 doublet is modelled in the simulator;
Rachinger stripping is an option (see :mod:`pxrdsolve.patterns.kalpha2`).
"""

from __future__ import annotations

from pxrdsolve.patterns.background import polynomial_background, snip_background, snip_window_for_fwhm
from pxrdsolve.patterns.kalpha2 import rachinger_strip
from pxrdsolve.patterns.preprocess import (
    apply_zero_shift,
    background_fraction,
    estimate_background,
    normalize_max,
    prepare_for_model,
)
from pxrdsolve.patterns.readers import read_pattern
from pxrdsolve.patterns.report import PatternReport, inspect_pattern
from pxrdsolve.patterns.resample import resample_to_grid
from pxrdsolve.patterns.size import SINC2_FWHM_TIMES_TAU, estimate_size, fwhm_q_from_size, size_from_fwhm_q
from pxrdsolve.patterns.types import MeasuredPattern, ModelPattern, PeakWidth, ProcessingStep, SizeEstimate

__all__ = [
    "SINC2_FWHM_TIMES_TAU",
    "MeasuredPattern",
    "ModelPattern",
    "PatternReport",
    "PeakWidth",
    "ProcessingStep",
    "SizeEstimate",
    "apply_zero_shift",
    "background_fraction",
    "estimate_background",
    "estimate_size",
    "fwhm_q_from_size",
    "inspect_pattern",
    "normalize_max",
    "polynomial_background",
    "prepare_for_model",
    "rachinger_strip",
    "read_pattern",
    "resample_to_grid",
    "size_from_fwhm_q",
    "snip_background",
    "snip_window_for_fwhm",
]
