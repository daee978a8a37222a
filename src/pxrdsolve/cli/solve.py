"""``pxrdsolve solve`` (pattern + formula → ranked, refined structures) and ``pxrdsolve rank``
(given structures → refined and ranked against a pattern).

Exit status: 0 with an answer (``solved`` or ``ambiguous``), 1 for ``no confident solution``,
2 for unusable input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pxrdsolve.cli import types as t
from pxrdsolve.cli.common import EXIT_NO_ANSWER, emit_json, handle_errors, stderr_console

OutDir = Annotated[Path, typer.Option("--output", "-o", help="Output folder (rankNN.cif, results.h5, summary.json, "
                                                             "results.txt, fit.png, fit.txt).")]
Size = Annotated[str, typer.Option("--size", "-s", help="Nanocrystal size τ in Å (PXRDNet convention; column "
                                                        "length D = 2τ), or 'auto' (estimated, then refined).",
                                   metavar="Å|auto")]
P1 = Annotated[bool, typer.Option("--p1", help="Write P1 cells instead of symmetrised CIFs.")]
Restarts = Annotated[int, typer.Option("--restarts", help="Jittered restarts per refined candidate.")]
TopK = Annotated[int, typer.Option("--refine-top", help="Candidates given the full refinement.")]
InstrFwhm = Annotated[float, typer.Option("--instrument-fwhm", "--instrument-fwhm-q", min=0.0,
                                          help="Instrument FWHM in Q (Å⁻¹); 0 = none.")]
InstrEta = Annotated[float, typer.Option("--instrument-eta", min=0.0, max=1.0,
                                         help="Lorentzian fraction of the instrument pseudo-Voigt (0 = Gaussian).")]
SolveSeed = Annotated[int, typer.Option("--seed", help="Random seed of the refinement's jittered restarts and of "
                                        "the model's candidate sampling (same seed, same results).")]
InstrumentFile = Annotated[Path | None, typer.Option(
    "--instrument", help="Calibrated instrument: a GSAS-II .instprm or a pxrdsolve instrument .json (e.g. from "
    "'pxrdsolve calibrate'); its widths stay fixed. Without it, 2θ data are fitted with a lab (or, for one line "
    "below 0.9 Å, synchrotron) preset whose W, U, Y and sample displacement are refined.")]
ProfileOpt = Annotated[str, typer.Option(
    "--profile", help="Peak profile: auto (instrument model for 2θ data or with --instrument, fixed-width "
    "Fourier for Q data), instrument, or fourier (one width, --instrument-fwhm/--instrument-eta).")]
FitRange = Annotated[str | None, typer.Option(
    "--fit-range", help="Fit only LO:HI on the pattern's axis (2θ degrees or Q Å⁻¹), or 2theta:LO:HI, q:LO:HI, "
    "d:LO:HI (Å).")]
Exclude = Annotated[list[str] | None, typer.Option(
    "--exclude", help="Leave an interval out of the fit (same syntax as --fit-range; repeatable), e.g. a "
    "sample-holder peak.")]
Phases = Annotated[list[Path] | None, typer.Option(
    "--phase", help="Structure (CIF) of a known extra phase fitted with every candidate: an impurity, a standard "
    "mixed in, the sample holder (repeatable). Its scale is refined and weight fractions are reported.")]
WavelengthOpt = Annotated[str | None, typer.Option(
    "--wavelength", "-w", help="X-ray wavelength when the file has none: Å or a name (CuKa1, CuKa12, MoKa …).")]


def _config(seed: int, device: str, restarts: int, top_k: int, instrument_fwhm: float, instrument_eta: float = 0.0,
            instrument: Path | None = None, profile: str = "auto", fit_range: str | None = None,
            exclude: list[str] | None = None, texture: str = "auto"):
    from dataclasses import replace

    from pxrdsolve.errors import InputError
    from pxrdsolve.solve.pipeline import SolveConfig, load_instrument
    from pxrdsolve.solve.texture import parse_texture

    try:
        texture = parse_texture(texture)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if profile not in ("auto", "instrument", "fourier"):
        raise InputError(f"--profile {profile!r}: give auto, instrument or fourier")
    base = SolveConfig()
    obj = replace(base.refine.objective, instrument_fwhm_q=instrument_fwhm, instrument_eta=instrument_eta,
                  instrument=None if instrument is None else load_instrument(instrument), profile=profile,
                  fit_range=fit_range, exclude=tuple(exclude or ()))
    refine = replace(base.refine, seed=seed, device=device, restarts=restarts, top_k=top_k, objective=obj,
                     texture=replace(base.refine.texture, mode=texture))
    return replace(base, refine=refine)


def _stages(quiet: bool):
    """A ``progress`` callback printing each solve stage with the elapsed time on stderr."""
    import time

    console = stderr_console(quiet)
    t0 = time.perf_counter()

    def say(stage: str) -> None:
        console.print(f"[{time.perf_counter() - t0:6.1f} s] {stage}", markup=False)

    return say


def _report(result, out: Path, p1: bool, quiet: bool, json_out: bool) -> None:
    """Write the outputs; the results table and verdict go to stdout (to stderr with --json, whose
    stdout is the JSON); -q keeps the verdict line.  Exit 1 when the verdict is not confident."""
    import sys

    from pxrdsolve.solve.outputs import results_table_text, verdict_line, write_outputs

    console = stderr_console(quiet)
    files = write_outputs(result, out, p1=p1)
    for w in result.warnings:
        console.print(f"warning: {w}", markup=False)
    table = results_table_text(result)
    if json_out:
        console.print(table, end="", markup=False)
        emit_json({**result.to_json(), "files": files})
    else:
        sys.stdout.write(verdict_line(result) + "\n" if quiet else table)
        sys.stdout.flush()
    console.print(f"wrote {len(files)} files to {out} (the table is also in {out / 'results.txt'})", markup=False)
    if not result.verdict.confident:
        raise typer.Exit(EXIT_NO_ANSWER)


@handle_errors
def solve(
    pattern: Annotated[Path, typer.Argument(help="Measured pattern (.xy, .xye, .csv, pdCIF, GSAS, .xrdml).")],
    formula: Annotated[str, typer.Option("--formula", "-f", help="Chemical formula, e.g. SrTiO3.",
                                         metavar="FORMULA")],
    output: OutDir = Path("solution"),
    size: Size = "auto",
    z: Annotated[str, typer.Option("--z", help="Formula units per cell, or 'auto'.", metavar="Z|auto")] = "auto",
    wavelength: WavelengthOpt = None,
    space_group: Annotated[str | None, typer.Option("--space-group", help="Space group (number or symbol) "
                                                    "that candidates must have.")] = None,
    cell: Annotated[str | None, typer.Option("--cell", help="Known cell 'a,b,c,alpha,beta,gamma' (Å, degrees): "
                                             "candidates take it and refine only ±2 %.")] = None,
    candidates: Annotated[list[Path] | None, typer.Option("--candidates", help="Extra candidate CIFs/folders "
                                                          "(repeatable).")] = None,
    library: Annotated[Path | None, typer.Option("--library", help="Prototype library (.h5) instead of the "
                                                 "shipped one.")] = None,
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="Generative-model checkpoint (.h5) "
                                                    "that adds model candidates [default: the shipped model, "
                                                    "if any].")] = None,
    direct: Annotated[int, typer.Option("--direct", min=0, help="Add N direct-space candidates for structure "
                                        "types the library lacks: every Wyckoff arrangement with ≤ 2 free "
                                        "coordinates (enumerated, likeliest first), then random symmetric "
                                        "structures. Costs ~3 s plus ~20 ms per candidate.", metavar="N")] = 0,
    p1: P1 = False,
    restarts: Restarts = 2,
    refine_top: TopK = 12,
    instrument_fwhm: InstrFwhm = 0.0,
    instrument_eta: InstrEta = 0.0,
    instrument: InstrumentFile = None,
    profile: ProfileOpt = "auto",
    fit_range: FitRange = None,
    exclude: Exclude = None,
    phase: Phases = None,
    texture: t.Texture = "auto",
    device: t.Device = "cpu",
    seed: SolveSeed = 0,
    quiet: t.Quiet = False,
    json_out: t.Json = False,
) -> None:
    """Solve a crystal structure from a powder pattern and its chemical formula.

    Candidates from the prototype library, the generative model (--checkpoint), --direct and --candidates are
    refined together against the pattern (scale, background, zero shift, cell, size, atom positions),
    ranked, merged when identical and judged. Exit status 1 when there is no confident solution.
    """
    from dataclasses import replace

    from pxrdsolve.solve.pipeline import solve_pattern

    stderr_console(quiet).print(f"solving {pattern} for {formula} …", markup=False)
    config = _config(seed, device, restarts, refine_top, instrument_fwhm, instrument_eta, instrument, profile,
                     fit_range, exclude, texture)
    result = solve_pattern(
        pattern, formula, size=size, z=z, wavelength=wavelength, space_group=space_group, cell=cell,
        candidates=[str(c) for c in candidates or []], library=None if library is None else str(library),
        checkpoint=None if checkpoint is None else str(checkpoint),
        config=replace(config, direct_candidates=direct), progress=_stages(quiet),
        phases=[str(p) for p in phase or []],
    )
    _report(result, output, p1, quiet, json_out)


@handle_errors
def rank(
    candidates: Annotated[list[Path], typer.Argument(help="Candidate structures: CIF files, folders, CSV, "
                                                          "pattern HDF5 files.")],
    pattern: Annotated[Path, typer.Option("--pattern", "-p", help="Measured pattern file.")],
    output: OutDir = Path("ranking"),
    size: Size = "auto",
    wavelength: WavelengthOpt = None,
    p1: P1 = False,
    restarts: Restarts = 2,
    refine_top: TopK = 12,
    instrument_fwhm: InstrFwhm = 0.0,
    instrument_eta: InstrEta = 0.0,
    instrument: InstrumentFile = None,
    profile: ProfileOpt = "auto",
    fit_range: FitRange = None,
    exclude: Exclude = None,
    phase: Phases = None,
    texture: t.Texture = "auto",
    device: t.Device = "cpu",
    seed: SolveSeed = 0,
    quiet: t.Quiet = False,
    json_out: t.Json = False,
) -> None:
    """Refine given candidate structures against a pattern and rank them (same outputs as solve).

    Exit status: 0 a confident answer, 1 when the verdict is 'no confident solution', 2 unusable input.
    """
    from pxrdsolve.solve.pipeline import rank_candidates

    result = rank_candidates([str(c) for c in candidates], pattern, size=size, wavelength=wavelength,
                             config=_config(seed, device, restarts, refine_top, instrument_fwhm, instrument_eta,
                                            instrument, profile, fit_range, exclude, texture),
                             phases=[str(p) for p in phase or []],
                             progress=_stages(quiet))
    _report(result, output, p1, quiet, json_out)
