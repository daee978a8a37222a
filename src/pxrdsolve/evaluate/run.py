"""The ``evaluate`` job: build targets, wire the solver and baselines, run the harness, write the report.

The solver gets what a user gives: the pattern, the reduced formula, Z and size ``auto`` unless
``z_given``/``size_given``; with ``library_mode`` ``held-out`` (default; ``both`` for measured cases)
the prototype library loses every template of the case's own formula
(``prototype_candidates(..., exclude_formula=True)``), so a hit is a solution by analogy, not a
look-up; ``both`` also solves with the full library and reports it beside.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from pxrdsolve.errors import InputError
from pxrdsolve.evaluate.harness import LIBRARY_MODES, EvaluateConfig, check_versions, load_records, run_evaluate
from pxrdsolve.evaluate.report import write_report
from pxrdsolve.evaluate.targets import Target, manifest_targets, measured_target, pxrdnet_target, read_csv_rows

BASELINES = ("library-only",)


@dataclass(frozen=True)
class EvaluateResult:
    """Where the report went and its headline numbers."""

    output: str
    n_materials: int
    n_run: int
    summary: dict[str, Any]

    def to_json(self) -> dict:
        return {"output": self.output, "n_materials": self.n_materials, "n_run": self.n_run, "summary": self.summary}


def machine_description() -> str:
    import torch

    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", CPU"
    py = platform.python_version()
    return f"{platform.machine()} {os.cpu_count()} cores, Python {py}, torch {torch.__version__}{gpu}"


def held_out_source(library: Any) -> Callable[[Any, int], list]:
    """Candidate source ``(composition, max_candidates) → candidates`` of ``library`` without any
    template of the target's own formula (all Z, all polymorphs)."""
    from pxrdsolve.solve.candidates_prototype import prototype_candidates

    def source(composition, max_candidates: int) -> list:
        return prototype_candidates(composition, library, max_candidates=max_candidates, exclude_formula=True)

    return source


def _solver(config: EvaluateConfig, library: Any, baseline: str | None = None,
            held_out: bool = True) -> Callable[[Target], Any]:
    from pxrdsolve.solve.pipeline import SolveConfig, solve_pattern

    cfg = SolveConfig()
    if baseline == "library-only":  # isotropic volume scan of every prototype, no further refinement
        cfg = replace(cfg, refine=replace(cfg.refine, top_k=0))
    source = held_out_source(library) if held_out else library

    def solve(target: Target):
        size = target.size if config.size_given else "auto"
        z = target.z if config.z_given else "auto"
        c = cfg
        if target.instrument_fwhm_q:
            obj = replace(cfg.refine.objective, instrument_fwhm_q=target.instrument_fwhm_q)
            c = replace(cfg, refine=replace(cfg.refine, objective=obj))
        return solve_pattern(target.pattern, target.formula, size=size, z=z, library=source, config=c)

    return solve


def run_evaluate_job(
    source: str | None,
    out_dir: str | Path,
    *,
    size: float | str = 10.0,
    first: int | None = None,
    manifest: str | None = None,
    library: str | None = None,
    seed: int = 0,
    baselines: tuple[str, ...] = (),
    shard: tuple[int, int] | None = None,
    resume: bool = False,
    merge: list[str] | None = None,
    progress: Callable[..., None] | None = None,
    z_given: bool = False,
    size_given: bool = False,
    library_mode: str | None = None,
    realistic: int | None = None,
    preferred_orientation: bool = True,
    impurity: bool = True,
    force: bool = False,
) -> EvaluateResult:
    """Evaluate the first ``first`` rows of a test CSV (PXRDNet preset targets), ``realistic``
    measured-like cases made from the first rows of a test CSV, or a measured manifest.
    ``library_mode``: None = ``both`` for a manifest, ``held-out`` otherwise."""
    for b in baselines:
        if b not in BASELINES:
            raise InputError(f"unknown baseline {b!r} (known: {', '.join(BASELINES)})")
    out = Path(out_dir)
    if merge:
        configs = check_versions(merge, force)
        records = load_records(merge)
        if not records:
            raise InputError("--merge found no per-material results")
        summary = write_report(records, out, configs[0].get("evaluate", {}), machine_description())
        return EvaluateResult(str(out), len(records), 0, summary)
    mode = library_mode or ("both" if manifest else "held-out")
    if mode not in LIBRARY_MODES:
        raise InputError(f"unknown library mode {mode!r} (known: {', '.join(LIBRARY_MODES)})")
    realistic_options: dict[str, Any] = {}
    if manifest:
        if realistic:
            raise InputError("--realistic makes targets from a test CSV; it does not go with --manifest")
        if size_given:
            raise InputError("--size-given: measured cases have no known size τ")
        rows = manifest_targets(manifest)
        folder = Path(manifest).parent
        makers = [partial(measured_target, i, r, folder, "auto") for i, r in enumerate(rows)]
        labels = [r["case_id"] for r in rows]
        src = str(manifest)
    else:
        if source is None:
            raise InputError("give a test CSV or --manifest")
        src = str(source)
        if realistic:
            from pxrdsolve.evaluate.realistic import realistic_target

            all_rows = read_csv_rows(source)
            if realistic > len(all_rows):
                raise InputError(f"{source}: --realistic {realistic} but the file has {len(all_rows)} rows")
            rows = all_rows[:realistic]
            realistic_options = {"preferred_orientation": preferred_orientation, "impurity": impurity}
            case_dir = out / "patterns"
            case_dir.mkdir(parents=True, exist_ok=True)
            makers = [partial(realistic_target, i, r, all_rows, seed, case_dir,
                              preferred_orientation=preferred_orientation, impurity=impurity)
                      for i, r in enumerate(rows)]
            size = "per case"
        else:
            rows = read_csv_rows(source, first)
            if isinstance(size, str):
                raise InputError("PXRDNet-preset targets need a numeric --size (τ in Å)")
            makers = [partial(pxrdnet_target, i, r, float(size), seed) for i, r in enumerate(rows)]
        labels = [r.get("material_id") or f"row{i}" for i, r in enumerate(rows)]
    config = EvaluateConfig(source=src, size=size, seed=seed, first=None if realistic else first, library=library,
                            baselines=baselines, z_given=z_given, size_given=size_given, library_mode=mode,
                            realistic=realistic or None, realistic_options=realistic_options,
                            input_sha256=_input_hashes(str(Path(src).parent) if manifest else src, library))
    lib = _load_library(library)
    solve = _solver(config, lib, held_out=mode != "full")
    base_fns = {b: _solver(config, lib, b, held_out=mode != "full") for b in baselines}
    if mode == "both":
        base_fns["variant:full_library"] = _solver(config, lib, held_out=False)
    done = run_evaluate(makers, labels, out, solve, config, shard, resume, progress, base_fns, force=force)
    records = load_records([out])
    summary = write_report(records, out, config.to_json(), machine_description())
    return EvaluateResult(str(out), len(records), len(done), summary)


def _input_hashes(source: str, library: str | None) -> dict[str, str | None]:
    """sha256 of the targets' source (test CSV or manifest folder) and of the library used, recorded in
    ``config.json`` and ``report.json``; ``--resume`` refuses a folder whose inputs changed."""
    from pxrdsolve.io.provenance import sha256_path
    from pxrdsolve.library.store import default_library_path

    return {"source": sha256_path(source), "library": sha256_path(library or default_library_path())}


def _load_library(path: str | None):
    from pxrdsolve.library.store import load_library

    return load_library(path)
