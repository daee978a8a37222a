"""The instrument: one frozen dataclass holding every instrument parameter, in GSAS-II conventions.

Units and meaning (GSAS-II constant-wavelength X-ray, ``Type:PXC``):

* ``radiation``: source lines (:class:`~pxrdsolve.diffraction.radiation.Radiation`): Kα1 first, a
  Kα2 line with its intensity ratio I(L2)/I(L1) as the second weight;
* ``zero_deg``: zero shift, °2θ, added to every calculated position (GSAS-II ``Zero``);
* ``u, v, w``: Caglioti Gaussian variance σ² = U tan²θ + V tanθ + W, centidegrees²;
* ``x, y, z``: Lorentzian FWHM X/cosθ + Y tanθ + Z, centidegrees;
* ``sh_l``: axial-divergence asymmetry SH/L = S/L + H/L (Finger–Cox–Jephcoat);
* ``displacement_um``: sample displacement s, µm, with ``goniometer_radius_mm`` R:
  Δ2θ = −2s·cosθ/R rad (GSAS-II Sample ``Shift``; positive s moves peaks to lower angle);
* ``polarisation``: GSAS-II ``Polariz.`` P, the beam polarisation factor
  (1 − P)·cos²2θ + P at azimuth 0 (P = 0.5: unpolarised, the simulator's LP);
* ``azimuth_deg``: GSAS-II ``Azimuth`` (kept for round trips; only 0 is modelled).

JSON (:meth:`Instrument.to_json`): ``{"format": "pxrdsolve-instrument", "format_version": 1,
"radiation": {"name", "wavelengths_angstrom": [..], "weights": [..]}, "zero_deg", "u", "v", "w",
"x", "y", "z", "sh_l", "displacement_um", "goniometer_radius_mm", "polarisation",
"azimuth_deg", "name"}`` with the units above.  GSAS-II ``.instprm`` files: see
:mod:`pxrdsolve.instrument.instprm`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from pxrdsolve.diffraction.radiation import Radiation, parse_radiation
from pxrdsolve.errors import InputError

FORMAT = "pxrdsolve-instrument"
FORMAT_VERSION = 1
_FLOATS = ("zero_deg", "u", "v", "w", "x", "y", "z", "sh_l", "displacement_um", "goniometer_radius_mm",
           "polarisation", "azimuth_deg")


def _mono(lam: float) -> Radiation:
    return Radiation(f"{lam:g}A", (float(lam),))


@dataclass(frozen=True)
class Instrument:
    """Instrument parameters (see the module docstring for units); the single home of them."""

    radiation: Radiation = field(default_factory=lambda: parse_radiation("CuKa12"))
    zero_deg: float = 0.0
    u: float = 0.0
    v: float = 0.0
    w: float = 0.0
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    sh_l: float = 0.0
    displacement_um: float = 0.0
    goniometer_radius_mm: float = 240.0
    polarisation: float = 0.5
    azimuth_deg: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        for k in _FLOATS:
            if not math.isfinite(float(getattr(self, k))):
                raise ValueError(f"instrument parameter {k} must be finite")
        if not self.goniometer_radius_mm > 0 or not 0.0 <= self.polarisation <= 1.0 or self.sh_l < 0:
            raise ValueError("need goniometer radius > 0, 0 <= polarisation <= 1 and SH/L >= 0")
        lams = self.radiation.wavelengths_angstrom
        if not lams or any(not 0.01 < lam < 10 for lam in lams) or len(self.radiation.weights) != len(lams):
            raise ValueError("radiation needs wavelengths in (0.01, 10) Å with one weight each")

    # presets ----------------------------------------------------------------------------------
    @staticmethod
    def none(wavelength_angstrom: float = 1.54184) -> Instrument:
        """No instrument broadening or shifts, one line, unpolarised (size-only profiles)."""
        return Instrument(radiation=_mono(wavelength_angstrom), name="none")

    @staticmethod
    def lab_cu() -> Instrument:
        """A Bragg–Brentano Cu Kα1+Kα2 laboratory diffractometer (GSAS-II's default lab CuKa set,
        U=2, V=−2, W=5, SH/L=0.002, Polariz. 0.7, plus a small Lorentzian Y=2 centideg)."""
        return Instrument(radiation=parse_radiation("CuKa12"), u=2.0, v=-2.0, w=5.0, y=2.0, sh_l=0.002,
                          polarisation=0.7, goniometer_radius_mm=240.0, name="lab Cu Ka1+Ka2")

    @staticmethod
    def lab_mo() -> Instrument:
        """A Mo Kα1+Kα2 laboratory diffractometer (same optics as :meth:`lab_cu`)."""
        return replace(Instrument.lab_cu(), radiation=parse_radiation("MoKa12"), name="lab Mo Ka1+Ka2")

    @staticmethod
    def synchrotron(wavelength_angstrom: float = 0.413263) -> Instrument:
        """A high-resolution synchrotron powder beamline (GSAS-II's APS 11-BM defaults:
        U=1.163, V=−0.126, W=0.063 centideg², SH/L=0.002, Polariz. 0.99), one line."""
        return Instrument(radiation=_mono(wavelength_angstrom), u=1.163, v=-0.126, w=0.063, sh_l=0.002,
                          polarisation=0.99, goniometer_radius_mm=1000.0, name="synchrotron")

    # derived quantities -------------------------------------------------------------------------
    @property
    def wavelength_angstrom(self) -> float:
        """Primary wavelength (Å): the one of the pattern's Q ↔ 2θ conversion."""
        return self.radiation.wavelength_angstrom

    def fwhm_deg(self, two_theta_deg: float) -> tuple[float, float]:
        """Gaussian and Lorentzian FWHM (°2θ) at ``two_theta_deg``: √(8 ln2·σ²)/100, (X/cosθ+Y tanθ+Z)/100."""
        th = math.radians(two_theta_deg / 2.0)
        var = self.u * math.tan(th) ** 2 + self.v * math.tan(th) + self.w
        return (math.sqrt(8.0 * math.log(2.0) * max(var, 0.0)) / 100.0,
                max(self.x / math.cos(th) + self.y * math.tan(th) + self.z, 0.0) / 100.0)

    def with_(self, **changes) -> Instrument:
        return replace(self, **changes)

    # JSON -----------------------------------------------------------------------------------
    def to_json(self) -> dict:
        d = {"format": FORMAT, "format_version": FORMAT_VERSION, "radiation": self.radiation.to_json()}
        d.update({k: float(getattr(self, k)) for k in _FLOATS})
        d["name"] = self.name
        return d

    @staticmethod
    def from_json(data: dict, source: str = "instrument JSON") -> Instrument:
        """Parse :meth:`to_json` output; :class:`InputError` naming ``source`` on any problem."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(f"{source}: not a pxrdsolve instrument file (format must be {FORMAT!r})")
        if data.get("format_version") != FORMAT_VERSION:
            raise InputError(f"{source}: unsupported format_version {data.get('format_version')!r} "
                             f"(this version reads {FORMAT_VERSION})")
        unknown = set(data) - {"format", "format_version", "radiation", "name", *_FLOATS}
        if unknown:
            raise InputError(f"{source}: unknown keys {sorted(unknown)}")
        try:
            rad = data.get("radiation") or {}
            lams = tuple(float(v) for v in rad["wavelengths_angstrom"])
            weights = tuple(float(v) for v in rad.get("weights", [1.0] * len(lams)))
            kw = {k: float(data[k]) for k in _FLOATS if k in data}
            return Instrument(radiation=Radiation(str(rad.get("name", "")), lams, weights),
                              name=str(data.get("name", "")), **kw)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source}: bad instrument parameters ({exc})") from None

    def to_dict(self) -> dict:
        return asdict(self)


def read_instrument_json(path: str | Path) -> Instrument:
    """Read an instrument JSON file (see the module docstring)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{p}: not valid JSON ({exc})") from None
    return Instrument.from_json(data, str(p))


def write_instrument_json(instrument: Instrument, path: str | Path) -> None:
    """Write ``instrument`` as JSON, atomically."""
    from pxrdsolve.io.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(instrument.to_json(), indent=2) + "\n")


def polarisation_ratio(q_inv_angstrom, wavelength_angstrom: float, polarisation: float):
    """Factor turning the simulator's unpolarised (1 + cos²2θ)/2 into GSAS-II's (1 − P)cos²2θ + P.

    Multiply stick intensities on the primary-wavelength Q axis by it (works on tensors/arrays).
    """
    s = q_inv_angstrom * (wavelength_angstrom / (4.0 * math.pi))
    c2 = (1.0 - 2.0 * s**2) ** 2
    return ((1.0 - polarisation) * c2 + polarisation) / (0.5 * (1.0 + c2))
