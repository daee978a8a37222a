"""Instrument and sample profile of a Rietveld program (GSAS-II conventions).

* :class:`Instrument` (``model``): the instrument parameters, presets, JSON;
* :func:`read_instprm` / :func:`write_instprm` (``instprm``): GSAS-II ``.instprm`` files;
* :func:`render_profile` / :class:`ProfileTensors` (``profile``): the differentiable renderer with
  angle-dependent TCH pseudo-Voigt ⊗ FCJ asymmetry ⊗ sinc² size widths;
* :func:`calibrate` (``calibrate``): instrument parameters from a standard's pattern.
"""

from __future__ import annotations

from pxrdsolve.instrument.model import Instrument, polarisation_ratio, read_instrument_json, write_instrument_json
from pxrdsolve.instrument.profile import ProfileTensors, render_profile

__all__ = [
    "Instrument",
    "ProfileTensors",
    "polarisation_ratio",
    "read_instrument_json",
    "render_profile",
    "write_instrument_json",
]
