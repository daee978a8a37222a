"""CLI options defined once (``typing.Annotated``) and shared by the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Wavelength = Annotated[
    str,
    typer.Option(
        "--wavelength", "-w",
        help="X-ray wavelength: a number in Å or a name (CuKa = 1.54184 Å, CuKa1, CuKa12 = Kα1+Kα2 "
        "doublet, MoKa, CoKa, AgKa, …).",
    ),
]
Sizes = Annotated[
    list[str],
    typer.Option(
        "--size", "-s",
        help="Nanocrystal size τ in Å (PXRDNet convention; column length D = 2τ). Repeat or comma-separate "
        "for several; 'inf' = no size broadening.",
    ),
]
Grid = Annotated[
    str,
    typer.Option(
        "--grid", "-g",
        help="Pattern grid: 'pxrdnet' (512-point model input + 8192-point evaluation pattern, Cu Kα), "
        "'q:MIN:MAX:N' (Å⁻¹) or '2theta:MIN:MAX:STEP' (degrees).",
    ),
]
InstrumentFwhm = Annotated[
    float,
    typer.Option("--instrument-fwhm", "--instrument-fwhm-q", help="Instrument profile FWHM in Q (Å⁻¹); 0 = "
                 "none. Ignored by the pxrdnet grid, which draws PXRDNet's Gaussian."),
]
InstrumentEta = Annotated[
    float, typer.Option("--instrument-eta", help="Lorentzian fraction of the instrument pseudo-Voigt (0 = Gaussian).")
]
Noise = Annotated[
    float | None,
    typer.Option("--noise", help="Additive Gaussian noise std relative to the pattern maximum "
                 "[default: 1e-3 for pxrdnet, 0 otherwise]."),
]
Seed = Annotated[int, typer.Option("--seed", help="Random seed for noise and PXRDNet's σ (per structure).")]
Output = Annotated[Path, typer.Option("--output", "-o", help="Output file (HDF5) or folder (--format xy).")]
Shard = Annotated[
    str | None, typer.Option("--shard", help="Process shard I of N (0-based contiguous blocks), e.g. 0/4.")
]
Resume = Annotated[bool, typer.Option("--resume", help="Continue a killed job from its .partial output.")]
Device = Annotated[str, typer.Option("--device", help="cpu or cuda.")]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Structures per batch.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or log messages.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable results on stdout.")]
Texture = Annotated[
    str,
    typer.Option(
        "--texture",
        help="March–Dollase preferred orientation: 'auto' (the best refined candidates try [001], [100], [010], "
        "[110], [111] as their crystal system distinguishes them and keep the best; 2θ data or --instrument "
        "only, Q-axis model-input patterns stay untextured), 'none' (random powder), "
        "or a direction H,K,L (reciprocal lattice, conventional standard cell). Kept only where it lowers the "
        "penalised χ² (one extra parameter).",
    ),
]
