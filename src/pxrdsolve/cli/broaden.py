"""``pxrdsolve broaden``: re-broaden stored peaks with new size / instrument / noise settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pxrdsolve.cli import types as t
from pxrdsolve.cli.common import emit_json, handle_errors, stderr_console


@handle_errors
def broaden(
    source: Annotated[Path, typer.Argument(help="A pattern HDF5 file from 'simulate', a CIF file, or a "
                                             "two-column pattern (.xy, .xye, .dat, .csv …).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output HDF5 file; a .xy file for a two-column "
                                         "pattern input.")] = Path("broadened.h5"),
    size: t.Sizes = ["inf"],  # noqa: B006
    grid: Annotated[str | None, typer.Option("--grid", "-g", help="New grid (pxrdnet, q:MIN:MAX:N, "
                                             "2theta:MIN:MAX:STEP) [default: the file's grid].")] = None,
    instrument_fwhm: t.InstrumentFwhm = 0.0,
    instrument_eta: t.InstrumentEta = 0.0,
    noise: t.Noise = None,
    seed: t.Seed = 0,
    wavelength: Annotated[str | None, typer.Option("--wavelength", "-w", help="Wavelength for a CIF input "
                                                   "[default CuKa] or a 2θ pattern without one in its header "
                                                   "(HDF5 inputs keep their own).")] = None,
    resume: t.Resume = False,
    quiet: t.Quiet = False,
    json_out: t.Json = False,
) -> None:
    """Re-broaden stored peaks (no structure factors recomputed), simulate one CIF, or add broadening
    to a two-column pattern (written as .xy on its own axis).

    Sizes τ in Å (PXRDNet convention, column length 2τ); instrument FWHM in Å⁻¹.

    Exit status: 0 done, 2 unusable input (one line on stderr).
    """
    from pxrdsolve.errors import InputError
    from pxrdsolve.simulation.broaden import broaden_measured, run_broaden
    from pxrdsolve.simulation.config import parse_sizes

    if source.suffix.lower() not in (".h5", ".hdf5", ".cif", ".mcif") and source.exists():
        sizes = parse_sizes(size)
        if len(sizes) != 1:
            raise InputError("give one --size for a pattern file")
        n = broaden_measured(source, output, sizes[0], instrument_fwhm, instrument_eta, wavelength)
        stderr_console(quiet).print(f"broadened {n} points → {output}")
        if json_out:
            emit_json({"output": str(output), "n_points": n})
        return
    changes: dict = {"sizes_angstrom": parse_sizes(size), "instrument_fwhm_q": instrument_fwhm,
                     "instrument_eta": instrument_eta, "noise_std": noise, "seed": seed}
    if grid is not None:
        changes["grid"] = grid
    if source.suffix.lower() in (".cif", ".mcif"):
        changes["radiation"] = wavelength or "CuKa"
    elif not source.exists():
        raise InputError(f"{source}: no such file")
    result = run_broaden(source, output, changes, resume=resume)
    stderr_console(quiet).print(f"broadened {result.n_simulated} structures in {result.seconds:.1f} s → {output}")
    if json_out:
        emit_json(result.to_json())
