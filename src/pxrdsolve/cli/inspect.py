"""``pxrdsolve inspect PATTERN``: what was read from a measured pattern and how the model will see it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pxrdsolve.cli import types as t
from pxrdsolve.cli.common import emit_json, handle_errors, stderr_console

if TYPE_CHECKING:
    from pxrdsolve.patterns.report import PatternReport


def _fmt(value: float | None, spec: str = ".4g") -> str:
    return "-" if value is None else format(value, spec)


def render_report(report: PatternReport) -> list[str]:
    """Human-readable lines (units stated) for a :class:`PatternReport`."""
    unit = {"2theta": "°", "q": " Å⁻¹", "d": " Å"}[report.source_axis]
    name = {"2theta": "2θ", "q": "Q", "d": "d"}[report.source_axis]
    lines = [
        f"file        {report.path}",
        f"format      {report.format}{' (with esd)' if report.has_esd else ''}",
        f"axis        {name}: {report.axis_min:.5g} … {report.axis_max:.5g}{unit}, {report.n_points} points",
        f"Q range     {report.q_min_inv_angstrom:.4f} … {report.q_max_inv_angstrom:.4f} Å⁻¹",
    ]
    if report.wavelength_angstrom is None:
        lines.append("wavelength  none (not needed for Q/d data)")
    else:
        lines.append(
            f"wavelength  {report.wavelength_angstrom:.5f} Å ({report.radiation}; from {report.wavelength_source})"
        )
    size = report.model.size
    if size is None:
        lines.append("size        not estimated (see warnings)")
    else:
        strain = "" if size.strain is None else f", strain {size.strain:.2e}"
        bound = "" if size.instrument_fwhm_q > 0 else " (lower bound: no instrument width given)"
        lines.append(
            f"size        τ = {size.size_angstrom:.1f} ± {size.uncertainty_angstrom:.1f} Å, column length "
            f"2τ = {size.column_length_angstrom:.1f} Å ({size.method}, {size.n_peaks} peaks{strain}){bound}"
        )
    frac = report.background_fraction
    lines.append(f"background  {'-' if frac is None else f'{100 * frac:.1f} %'} of the integrated intensity")
    lines.append(f"model grid  {report.model_points_measured} of {report.model_points_total} points measured")
    lines += [f"warning     {w}" for w in report.warnings]
    return lines


@handle_errors
def inspect(
    pattern: Annotated[
        Path,
        typer.Argument(
            help="Pattern file: .xy/.xye/.csv/.dat/.txt, pdCIF .cif, GSAS .gsa/.fxye or PANalytical .xrdml."
        ),
    ],
    wavelength: Annotated[
        str | None,
        typer.Option(
            "--wavelength", "-w",
            help="Wavelength in Å (e.g. 1.5406) or a line name (CuKa1, CuKa, CuKa12 doublet, MoKa …). "
            "Overrides the file's; needed for 2θ data whose file does not state one. Default: from the file."
        ),
    ] = None,
    axis: Annotated[
        str | None,
        typer.Option(
            help="What the x column is when the file does not say: 2theta (degrees), q (Å⁻¹) or d (Å). "
            "Default: from the file, else 2θ when x goes above 12."
        ),
    ] = None,
    instrument_fwhm_q: Annotated[
        float,
        typer.Option(
            "--instrument-fwhm-q", "--instrument-fwhm",
            min=0.0,
            help="Instrument peak FWHM in Q (Å⁻¹), removed in quadrature for the size estimate. "
            "Default 0: the size is then a lower bound.",
        ),
    ] = 0.0,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Write a PNG of the raw pattern with its background and the processed model input on "
            "the 512-point PXRDNet Q grid (unmeasured region shaded). Default: no plot."
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option("--json", help="Write the report as JSON on stdout (logs stay on stderr). Default: the "
                     "text report on stdout."),
    ] = False,
    quiet: t.Quiet = False,
) -> None:
    """Read a measured pattern and report its format, axis, Q range, wavelength, size estimate
    (τ of the sinc² kernel, column length 2τ, in Å), background fraction and warnings.

    Exit status: 0 done, 2 unusable input (one line on stderr).
    """
    from pxrdsolve.patterns.report import inspect_pattern

    console = stderr_console(quiet=quiet)
    report = inspect_pattern(pattern, wavelength=wavelength, axis=axis, instrument_fwhm_q=instrument_fwhm_q)
    if plot is not None:
        from pxrdsolve.patterns.plotting import plot_report

        written = plot_report(report, plot)
        console.print(f"wrote {written}")
    if json_output:
        payload = report.to_json()
        payload["plot"] = None if plot is None else str(plot)
        emit_json(payload)
    elif not quiet:
        import sys

        sys.stdout.write("\n".join(render_report(report)) + "\n")
        sys.stdout.flush()
