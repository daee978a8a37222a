"""``pxrdsolve simulate``: structures → peaks and patterns (HDF5 or .xy)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pxrdsolve.cli import types as t
from pxrdsolve.cli.common import emit_json, handle_errors, progress_bar, stderr_console


@handle_errors
def simulate(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="CIF files, folders of CIFs, or CSV files with a 'cif' column.", show_default=False),
    ] = None,
    output: t.Output = Path("patterns.h5"),
    wavelength: t.Wavelength = "CuKa",
    size: t.Sizes = ["inf"],  # noqa: B006 - typer needs a literal default
    grid: t.Grid = "pxrdnet",
    instrument_fwhm: t.InstrumentFwhm = 0.0,
    instrument_eta: t.InstrumentEta = 0.0,
    noise: t.Noise = None,
    seed: t.Seed = 0,
    cell: Annotated[str, typer.Option("--cell", help="Cell to simulate: auto (conventional standard cell for "
                                     "the pxrdnet grid, as PXRDNet; as given otherwise), as-is, conventional or "
                                     "primitive (spglib, symprec 0.01).")] = "auto",
    sticks_only: Annotated[bool, typer.Option("--sticks-only", help="Store peaks only, no profiles.")] = False,
    output_format: Annotated[str, typer.Option("--format", help="h5 (one file) or xy (a folder of "
                                                                "two-column files).")] = "h5",
    merge: Annotated[bool, typer.Option("--merge", help="Join the shard HDF5 files given as INPUTS into -o.")] = False,
    shard: t.Shard = None,
    resume: t.Resume = False,
    device: t.Device = "cpu",
    batch_size: t.BatchSize = 256,
    workers: Annotated[int | None, typer.Option("--workers", "-j", help="CIF-parsing processes running ahead of "
                                                "the simulator; 0 = parse in this process [default: one per "
                                                "CPU core]. The output does not depend on it.")] = None,
    threads: Annotated[int, typer.Option("--threads", help="Torch threads of the simulator (CPU). The output "
                                         "does not depend on it.")] = 1,
    quiet: t.Quiet = False,
    json_out: t.Json = False,
) -> None:
    """Simulate powder patterns of many structures.

    Writes one HDF5 file with every structure (id, formula, CIF, arrays), its peaks (Q Å⁻¹, 2θ °, d Å,
    relative intensity, hkl, multiplicity) and its patterns, or (--format xy) one two-column file per
    structure and size. Bad structures are reported, skipped and counted. Exit status 2 for unusable
    invocations.
    """
    from pxrdsolve.errors import InputError

    console = stderr_console(quiet)
    if not inputs:
        raise InputError("no INPUTS given (CIF files, folders or CSV files)")
    if merge:
        from pxrdsolve.simulation.merge import merge_pattern_files

        n = merge_pattern_files([str(p) for p in inputs], output)
        console.print(f"merged {len(inputs)} files, {n} structures → {output}")
        if json_out:
            emit_json({"output": str(output), "n_structures": n, "merged": [str(p) for p in inputs]})
        return
    from pxrdsolve.simulation.config import SimulateConfig, parse_sizes
    from pxrdsolve.simulation.run import parse_shard, run_simulate

    config = SimulateConfig(
        radiation=wavelength, grid=grid, sizes_angstrom=parse_sizes(size), instrument_fwhm_q=instrument_fwhm,
        instrument_eta=instrument_eta, noise_std=noise, seed=seed, cell=cell, sticks_only=sticks_only,
    )
    shard_t = parse_shard(shard)
    with progress_bar(None, "simulate", quiet) as advance:
        result = run_simulate([str(p) for p in inputs], output, config, shard_t, resume, batch_size, device,
                              output_format, advance, workers, threads)
    if result.batch_size != batch_size:
        console.print(f"resumed with the interrupted run's --batch-size {result.batch_size} (not {batch_size}), "
                      "so the output equals an uninterrupted run bit for bit")
    for source, reason in result.failures:
        console.print(f"skipped {source}: {reason}")
    console.print(
        f"simulated {result.n_simulated} of {result.n_inputs} structures in {result.seconds:.1f} s"
        f" ({result.n_failed} skipped) → {result.output}"
    )
    if json_out:
        emit_json(result.to_json())
    if result.n_simulated == 0 and result.n_inputs > 0 and result.resumed_from == 0:
        reasons = "; ".join(f"{src}: {why}" for src, why in result.failures[:3])
        more = f" (and {len(result.failures) - 3} more)" if len(result.failures) > 3 else ""
        raise InputError(f"nothing simulated: every input was skipped ({reasons}{more})")
