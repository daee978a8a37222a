"""The ``evaluate`` job: build targets, wire the solver and baselines, run the harness, write the report."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from pxrdsolve.errors import InputError
from pxrdsolve.evaluate.harness import EvaluateConfig, load_records, run_evaluate
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


def _solver(config: EvaluateConfig, library: Any, baseline: str | None = None) -> Callable[[Target], Any]:
    from pxrdsolve.solve.pipeline import SolveConfig, solve_pattern

    cfg = SolveConfig()
    if baseline == "library-only":  # isotropic volume scan of every prototype, no further refinement
        cfg = replace(cfg, refine=replace(cfg.refine, top_k=0))

    def solve(target: Target):
        size = target.size if config.size != "auto" else "auto"
        c = cfg
        if target.instrument_fwhm_q:
            obj = replace(cfg.refine.objective, instrument_fwhm_q=target.instrument_fwhm_q)
            c = replace(cfg, refine=replace(cfg.refine, objective=obj))
        return solve_pattern(target.pattern, target.formula, size=size, z=target.z, library=library, config=c)

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
) -> EvaluateResult:
    """Evaluate the first ``first`` rows of a test CSV (PXRDNet preset targets) or a measured manifest."""
    for b in baselines:
        if b not in BASELINES:
            raise InputError(f"unknown baseline {b!r} (known: {', '.join(BASELINES)})")
    out = Path(out_dir)
    if merge:
        records = load_records(merge)
        if not records:
            raise InputError("--merge found no per-material results")
        cfg_text = Path(merge[0], "config.json").read_text() if Path(merge[0], "config.json").exists() else "{}"
        import json

        cfg = json.loads(cfg_text).get("evaluate", {})
        summary = write_report(records, out, cfg, machine_description())
        return EvaluateResult(str(out), len(records), 0, summary)
    if manifest:
        rows = manifest_targets(manifest)
        folder = Path(manifest).parent
        makers = [partial(measured_target, i, r, folder, size) for i, r in enumerate(rows)]
        labels = [r["case_id"] for r in rows]
        src = str(manifest)
    else:
        if source is None:
            raise InputError("give a test CSV or --manifest")
        rows = read_csv_rows(source, first)
        if isinstance(size, str):
            raise InputError("PXRDNet-preset targets need a numeric --size (τ in Å)")
        makers = [partial(pxrdnet_target, i, r, float(size), seed) for i, r in enumerate(rows)]
        labels = [r.get("material_id") or f"row{i}" for i, r in enumerate(rows)]
        src = str(source)
    config = EvaluateConfig(source=src, size=size, seed=seed, first=first, library=library, baselines=baselines,
                            input_sha256=_input_hashes(str(Path(src).parent) if manifest else src, library))
    lib = _load_library(library)
    solve = _solver(config, lib)
    base_fns = {b: _solver(config, lib, b) for b in baselines}
    done = run_evaluate(makers, labels, out, solve, config, shard, resume, progress, base_fns)
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
