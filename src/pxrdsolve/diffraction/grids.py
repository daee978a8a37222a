"""Pattern axes: Q (Å⁻¹, canonical inside the core), 2θ (degrees) and d (Å), and pattern grids.

Q = 4π sin(θ)/λ = 2π/d.  2θ exists only at the edges (file readers/writers, the CLI).
Grid specifications as strings (CLI):

* ``pxrdnet`` - PXRDNet's 512-point model-input grid and its 8192-point evaluation grid (Cu Kα);
* ``q:MIN:MAX:N`` - N points uniform in Q from MIN to MAX Å⁻¹ (inclusive);
* ``2theta:MIN:MAX:STEP`` - uniform in 2θ (degrees), converted to Q with the primary wavelength.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pxrdsolve.errors import InputError

PXRDNET_WAVELENGTH_ANGSTROM = 1.54184
PXRDNET_N_FINE = 4096
PXRDNET_N_INPUT = 512
PXRDNET_N_EVAL = 8192


def q_from_two_theta(two_theta_deg, wavelength_angstrom: float):
    """Q (Å⁻¹) from 2θ (degrees); works on floats, numpy arrays and tensors."""
    lib = torch if isinstance(two_theta_deg, torch.Tensor) else np
    return 4.0 * math.pi * lib.sin(lib.deg2rad(two_theta_deg * 1.0) / 2.0) / wavelength_angstrom


def two_theta_from_q(q_inv_angstrom, wavelength_angstrom: float):
    """2θ (degrees) from Q (Å⁻¹); NaN where Q > 4π/λ (no diffraction)."""
    lib = torch if isinstance(q_inv_angstrom, torch.Tensor) else np
    s = q_inv_angstrom * (wavelength_angstrom / (4.0 * math.pi))
    return lib.rad2deg(2.0 * lib.arcsin(s))


def dq_per_two_theta_deg(q_inv_angstrom, wavelength_angstrom: float):
    """The Jacobian dQ/d2θ = (4π/λ)·cos θ·(π/360) in Å⁻¹ per degree 2θ at Q (Å⁻¹): a density per Å⁻¹
    times it is a density per degree (counts per 2θ step).  Floats, numpy arrays and tensors; clamped
    just below back-scattering."""
    lib = torch if isinstance(q_inv_angstrom, torch.Tensor) else np
    k4 = 4.0 * math.pi / wavelength_angstrom
    s2 = (q_inv_angstrom / k4) ** 2
    s2 = s2.clamp(max=1.0 - 1e-12) if isinstance(s2, torch.Tensor) else np.minimum(s2, 1.0 - 1e-12)
    return k4 * lib.sqrt(1.0 - s2) * math.radians(0.5)


def d_from_q(q_inv_angstrom):
    """d spacing (Å) from Q (Å⁻¹)."""
    return 2.0 * math.pi / q_inv_angstrom


def q_max_for(wavelength_angstrom: float, two_theta_max_deg: float = 180.0) -> float:
    """Largest Q (Å⁻¹) reached at 2θ = ``two_theta_max_deg`` for this wavelength."""
    return float(q_from_two_theta(np.float64(two_theta_max_deg), wavelength_angstrom))


def pxrdnet_q_max() -> float:
    """PXRDNet's Q_max = 4π/λ(Cu Kα) = 8.1502 Å⁻¹ (the 2θ = 180° limit)."""
    return 4.0 * math.pi / PXRDNET_WAVELENGTH_ANGSTROM


def pxrdnet_fine_q() -> np.ndarray:
    """Q (Å⁻¹) attached to PXRDNet's 4096-bin pattern: ``linspace(0, Q_max, 4096)``."""
    return np.linspace(0.0, pxrdnet_q_max(), PXRDNET_N_FINE)


def pxrdnet_input_q() -> np.ndarray:
    """Q (Å⁻¹) of the 512-point model input: the first Q of each 8-bin max-pool window."""
    return pxrdnet_fine_q()[:: PXRDNET_N_FINE // PXRDNET_N_INPUT]


def pxrdnet_eval_q() -> np.ndarray:
    """Q (Å⁻¹) of the 8192-point evaluation pattern: ``linspace(0, Q_max, 8192)``."""
    return np.linspace(0.0, pxrdnet_q_max(), PXRDNET_N_EVAL)


@dataclass(frozen=True)
class GridSpec:
    """A pattern grid: ``kind`` is ``pxrdnet``, ``q`` or ``2theta``; bounds in Å⁻¹ or degrees."""

    kind: str
    start: float = 0.0
    stop: float = 0.0
    num_or_step: float = 0.0

    def to_json(self) -> dict:
        return {"kind": self.kind, "start": self.start, "stop": self.stop, "num_or_step": self.num_or_step}

    def axis(self) -> np.ndarray:
        """The native axis: Q (Å⁻¹) for ``q``, 2θ (degrees) for ``2theta``."""
        if self.kind == "q":
            return np.linspace(self.start, self.stop, int(self.num_or_step))
        if self.kind == "2theta":
            n = int(math.floor((self.stop - self.start) / self.num_or_step + 1e-9)) + 1
            return self.start + self.num_or_step * np.arange(n)
        raise ValueError("the pxrdnet grid has two axes: use pxrdnet_input_q()/pxrdnet_eval_q()")

    def q_axis(self, wavelength_angstrom: float) -> np.ndarray:
        """The grid as Q values (Å⁻¹)."""
        if self.kind == "2theta":
            return q_from_two_theta(self.axis(), wavelength_angstrom)
        return self.axis()


def parse_grid(spec: str) -> GridSpec:
    """Parse ``pxrdnet``, ``q:MIN:MAX:N`` or ``2theta:MIN:MAX:STEP`` (see module docstring)."""
    text = spec.strip().lower().replace("2θ", "2theta").replace("tth", "2theta")
    if text == "pxrdnet":
        return GridSpec("pxrdnet")
    parts = text.split(":")
    try:
        kind, a, b, c = parts[0], float(parts[1]), float(parts[2]), float(parts[3])
        if len(parts) != 4:
            raise ValueError
    except (IndexError, ValueError):
        raise InputError(
            f"bad grid {spec!r}: use pxrdnet, q:MIN:MAX:N (Å⁻¹) or 2theta:MIN:MAX:STEP (degrees)"
        ) from None
    if kind == "q":
        if not (0 <= a < b and c >= 2 and c == int(c) and c <= 1_000_000):
            raise InputError(f"bad Q grid {spec!r}: need 0 <= MIN < MAX and an integer N >= 2")
        return GridSpec("q", a, b, c)
    if kind == "2theta":
        if not (0 <= a < b < 180 and c > 0 and (b - a) / c <= 1_000_000):
            raise InputError(f"bad 2θ grid {spec!r}: need 0 <= MIN < MAX < 180 and STEP > 0")
        return GridSpec("2theta", a, b, c)
    raise InputError(f"bad grid {spec!r}: kind must be pxrdnet, q or 2theta")
