"""``pxrdsolve library``: build a prototype library (HDF5) from pool CSVs of CIFs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pxrdsolve.cli import types as t
from pxrdsolve.cli.common import emit_json, handle_errors, progress_bar, stderr_console


@handle_errors
def library(
    pool: Annotated[list[Path], typer.Argument(help="Pool CSV file(s) with 'material_id' and 'cif' columns "
                                               "(e.g. MP-2025 ≤ 20 sites); rows whose 'mp20_known_split' is "
                                               "'test' are always dropped.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Library file to write (HDF5, written "
                                         "atomically).")] = Path("prototypes.h5"),
    exclude_csv: Annotated[list[Path] | None, typer.Option("--exclude-csv", help="CSV whose 'material_id's are "
                                                           "dropped from the pool (repeatable), e.g. a test "
                                                           "split.")] = None,
    holdout_formulas: Annotated[Path | None, typer.Option("--holdout-formulas", help="CSV whose reduced "
                                                          "formulas ('pretty_formula'/'formula' column, or its "
                                                          "CIFs) are all dropped (composition hold-out).")] = None,
    max_atoms: Annotated[int, typer.Option("--max-atoms", help="Largest cell kept (atoms per cell).")] = 20,
    cap: Annotated[int, typer.Option("--cap", help="Cell-shape variants kept per prototype (space group + "
                                     "Wyckoff letters).")] = 8,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Worker processes for CIF analysis.")] = 2,
    quiet: t.Quiet = False,
    json_out: t.Json = False,
) -> None:
    """Build a prototype library: analyse every CIF (pymatgen, spglib symprec 0.1), group by anonymous
    formula, atoms, space group and Wyckoff letters, keep distinct cell shapes (b/a, c/a within ~5 %,
    angles within 3°), and write a compact HDF5 file for 'solve'.

    Exit status: 0 done, 2 unusable input (one line on stderr).
    """
    from pxrdsolve.errors import InputError
    from pxrdsolve.library.build import build_library, ids_from_csvs

    for p in [*pool, *(exclude_csv or []), *([holdout_formulas] if holdout_formulas else [])]:
        if not p.is_file():
            raise InputError(f"{p}: no such file")
    if max_atoms < 1 or cap < 1 or workers < 1:
        raise InputError("--max-atoms, --cap and --workers must be positive")
    console = stderr_console(quiet)
    exclude = ids_from_csvs(exclude_csv or [])
    with progress_bar(None, "analysing CIFs", quiet) as advance:
        result = build_library(pool, output, exclude_ids=exclude, holdout_formulas_csv=holdout_formulas,
                               max_atoms=max_atoms, workers=workers, cap_per_prototype=cap, progress=advance)
    c = result.counts
    console.print(
        f"{c['rows']} rows: {c['excluded_split']} test-split and {c['excluded_id']} excluded ids dropped, "
        f"{c['failed']} unusable, {c['holdout_dropped']} held-out formulas dropped → {c['entries']} entries "
        f"({c['prototypes']} prototypes), {result.size_bytes / 1e6:.1f} MB in {result.seconds:.0f} s → {output}"
    )
    for source, reason in result.failures[:5]:
        console.print(f"  skipped {source}: {reason}")
    if json_out:
        emit_json(result.to_json())
