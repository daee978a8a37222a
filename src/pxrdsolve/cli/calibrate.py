"""``pxrdsolve calibrate``: instrument parameters from a standard's pattern → GSAS-II .instprm (or JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pxrdsolve.cli import types as t
from pxrdsolve.cli.common import emit_json, handle_errors, stderr_console


@handle_errors
def calibrate(
    pattern: Annotated[Path, typer.Argument(help="The standard's measured pattern (.xy, .xye, .xrdml, .gsa …).")],
    standard: Annotated[str, typer.Option("--standard", help="LaB6 (SRM 660c), Si (SRM 640e), CeO2 or "
                                          "Al2O3 (SRM 676a).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file: .instprm (GSAS-II) or .json.")]
    = Path("instrument.instprm"),
    wavelength: Annotated[str | None, typer.Option("--wavelength", "-w", help="Wavelength if the file has none "
                                                   "(CuKa12 = Kα1+Kα2, CuKa1, MoKa12, or Å).")] = None,
    start: Annotated[Path | None, typer.Option("--start", help="Starting instrument (.instprm or .json) "
                                               "[default: a Cu lab diffractometer with the file's lines].")] = None,
    two_theta_min: Annotated[float | None, typer.Option("--two-theta-min", help="Fit from this 2θ (°).")] = None,
    two_theta_max: Annotated[float | None, typer.Option("--two-theta-max", help="Fit up to this 2θ (°).")] = None,
    background_terms: Annotated[int, typer.Option("--background-terms", help="Chebyshev background terms.")] = 6,
    quiet: t.Quiet = False,
    json_out: t.Json = False,
) -> None:
    """Refine Zero, sample displacement, U, V, W, X, Y, SH/L (with scale, Chebyshev background and an
    overall B) from a standard's pattern and write the instrument file atomically.

    Units (GSAS-II): Zero °2θ, displacement µm, U V W centideg², X Y centideg.
    Exit status: 0 done, 2 unusable input (one line on stderr).
    """
    from pxrdsolve.errors import InputError
    from pxrdsolve.instrument.calibrate import calibrate as run
    from pxrdsolve.instrument.instprm import read_instprm, write_instprm
    from pxrdsolve.instrument.model import read_instrument_json, write_instrument_json

    if not pattern.exists():
        raise InputError(f"{pattern}: no such file")
    if background_terms < 1 or background_terms > 20:
        raise InputError("--background-terms must be between 1 and 20")
    suffix = output.suffix.lower()
    if suffix not in (".instprm", ".prm", ".json"):
        raise InputError(f"{output}: the output must end in .instprm or .json")
    inst0 = None
    if start is not None:
        inst0 = read_instrument_json(start) if start.suffix.lower() == ".json" else read_instprm(start)
    lo = two_theta_min if two_theta_min is not None else 0.0
    hi = two_theta_max if two_theta_max is not None else 180.0
    if not lo < hi:
        raise InputError("--two-theta-min must be below --two-theta-max")
    rng = (lo, hi) if (two_theta_min is not None or two_theta_max is not None) else None
    result = run(pattern, standard, wavelength=wavelength, start=inst0, n_background=background_terms,
                 two_theta_range=rng)
    if suffix == ".json":
        write_instrument_json(result.instrument, output)
    else:
        write_instprm(result.instrument, output)
    i = result.instrument
    stderr_console(quiet).print(
        f"{result.standard}: Rwp {100 * result.rwp:.2f} %, χ²ᵣ {result.chi2_reduced:.2f}; Zero {i.zero_deg:.4f}°, "
        f"displacement {i.displacement_um:.1f} µm, U {i.u:.3f} V {i.v:.3f} W {i.w:.3f}, X {i.x:.3f} Y {i.y:.3f}, "
        f"SH/L {i.sh_l:.4f} → {output}")
    if json_out:
        emit_json(result.to_json() | {"output": str(output)})
