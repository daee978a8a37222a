"""``pxrdsolve evaluate``: the benchmark harness (PXRDNet's metrics and the field's match rates)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pxrdsolve.cli import types as t
from pxrdsolve.cli.common import emit_json, handle_errors, progress_bar, stderr_console


@handle_errors
def evaluate(
    source: Annotated[Path | None, typer.Argument(help="Test CSV with a 'cif' column (e.g. PXRDNet's "
                                                      "pxrdnet_test_1130.csv).", show_default=False)] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Report folder.")] = Path("report"),
    size: Annotated[str, typer.Option("--size", "-s", help="Nanocrystal size τ in Å (PXRDNet convention) of the "
                                      "PXRDNet-preset targets ('auto' accepted and ignored for --manifest and "
                                      "--realistic). The solver is told it only with --size-given.",
                                      metavar="Å|auto")] = "10",
    size_given: Annotated[bool, typer.Option("--size-given", help="Tell the solver the target's size τ "
                                             "(default: size auto, as a user who does not know it).")] = False,
    z_given: Annotated[bool, typer.Option("--z-given", help="Tell the solver the reference's Z (default: Z auto; "
                                          "the formula is always the reduced one).")] = False,
    library_mode: Annotated[str | None, typer.Option("--library-mode", help="held-out: templates of the case's "
                                                     "own formula removed; full; both (held out, full beside). "
                                                     "[default: both for --manifest, held-out otherwise]",
                                                     show_default=False, metavar="held-out|full|both")] = None,
    realistic: Annotated[int | None, typer.Option("--realistic", help="Make N measured-like cases from the first "
                                                  "N rows of the test CSV (Cu/Mo lab, synchrotron; size, "
                                                  "background, counting noise ...; seeded by --seed, every "
                                                  "parameter recorded).", min=1)] = None,
    no_preferred_orientation: Annotated[bool, typer.Option("--no-preferred-orientation", help="--realistic "
                                                           "without March–Dollase texture.")] = False,
    no_impurity: Annotated[bool, typer.Option("--no-impurity", help="--realistic without minor impurity "
                                              "phases.")] = False,
    first: Annotated[int | None, typer.Option("--first", help="Only the first N rows (the paper: 200).")] = None,
    manifest: Annotated[Path | None, typer.Option("--manifest", help="MANIFEST.tsv of measured patterns "
                                                  "(<case_id>.xy + .cif beside it) instead of a CSV.")] = None,
    library: Annotated[Path | None, typer.Option("--library", help="Prototype library HDF5 [default: shipped]. "
                                                 "Use a composition-held-out library for --split "
                                                 "composition-heldout.")] = None,
    split: Annotated[str, typer.Option("--split", help="Label of the split: standard or composition-heldout "
                                       "(needs a library/model built with --holdout-formulas).",
                                       metavar="standard|composition-heldout")] = "standard",
    baseline: Annotated[list[str] | None, typer.Option("--baseline", help="Baselines run in the same job: "
                                                       "library-only (volume scan, no refinement).",
                                                       metavar="library-only")] = None,
    seed: t.Seed = 0,
    shard: t.Shard = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a killed evaluation in -o: finished "
                                         "materials are kept, those that failed with an unexpected error "
                                         "are redone; refused if the options or inputs changed.")] = False,
    merge: Annotated[list[Path] | None, typer.Option("--merge", help="Join the per-material results of these "
                                                     "report folders into -o (same configuration and code "
                                                     "version).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --resume/--merge mix results of another code "
                                        "version (the report lists every version).")] = False,
    quiet: t.Quiet = False,
    json_out: t.Json = False,
) -> None:
    """Solve simulated (PXRDNet preset or --realistic measured-like) or measured patterns with known
    structures and report R_wp² (best of 10, before/after refinement), match rates (standard and strict
    tolerances), by crystal system (radiation and size τ for --realistic), the verdict's precision and
    recall, validity, time and memory per material. The solver gets the pattern and the reduced formula;
    Z and size only with --z-given/--size-given; the library without the case's own formula unless
    --library-mode full. Resumable and shardable; every file records the code version.

    Exit status: 0 done, 2 unusable input (one line on stderr).
    """
    from pxrdsolve.errors import InputError
    from pxrdsolve.evaluate.run import run_evaluate_job
    from pxrdsolve.simulation.run import parse_shard

    if split not in ("standard", "composition-heldout"):
        raise InputError("--split must be standard or composition-heldout")
    if split == "composition-heldout" and library is None and not merge:
        raise InputError("--split composition-heldout needs --library built with --holdout-formulas")
    size_v: float | str = "auto" if size == "auto" else _float(size)
    if size_v == "auto" and manifest is None and realistic is None and not merge:
        raise InputError("--size auto: PXRDNet-preset targets need a τ in Å (tell the solver with --size-given)")
    with progress_bar(None, "evaluate", quiet) as advance:
        result = run_evaluate_job(
            None if source is None else str(source), output, size=size_v, first=first,
            manifest=None if manifest is None else str(manifest), library=None if library is None else str(library),
            seed=seed, baselines=tuple(baseline or ()), shard=parse_shard(shard), resume=resume,
            merge=[str(m) for m in merge] if merge else None, progress=advance, z_given=z_given,
            size_given=size_given, library_mode=library_mode, realistic=realistic,
            preferred_orientation=not no_preferred_orientation, impurity=not no_impurity, force=force,
        )
    s = result.summary
    stderr_console(quiet).print(
        f"{result.n_materials} materials: best-of-10 R_wp² {s['rwp2_best10_after']['mean']:.3f}, "
        f"match top-1 {s['match_top1_standard']['rate']:.1%} top-10 {s['match_top10_standard']['rate']:.1%} "
        f"→ {result.output}/report.md"
    )
    if json_out:
        emit_json(result.to_json())


def _float(text: str) -> float:
    from pxrdsolve.errors import InputError

    try:
        return float(text)
    except ValueError:
        raise InputError(f"bad --size {text!r}: a number of Å or auto") from None
