"""``evaluate``: solve every target, score it, write one JSON per material atomically.

Materials are taken in file order; ``shard=(i, n)`` takes the i-th of n contiguous blocks, and each
finished material is written to ``OUT/materials/NNNNN_ID.json`` at once, so a killed job resumes
where it stopped (``resume=True`` skips finished materials and retries those that failed with an
unexpected error, e.g. out of memory; a material refused as bad input stays refused) and shards
written into one folder (or merged with ``--merge``) give the same report as one process.

Every file records :func:`pxrdsolve.version.code_version`; resuming into, or merging, results of
another code version is refused unless forced (then the report lists every version it mixes).
What the solver was told is part of the configuration: the reduced formula always, Z and the size
τ only with ``z_given``/``size_given``, and the prototype library with the case's own formula
removed (``library_mode`` ``held-out``), whole (``full``) or both, the full one as a second result.
"""

from __future__ import annotations

import json
import resource
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pxrdsolve import __version__
from pxrdsolve.errors import InputError
from pxrdsolve.evaluate import metrics as m
from pxrdsolve.evaluate.targets import Target
from pxrdsolve.interrupt import Interrupted, StopFlag
from pxrdsolve.io.atomic import write_text_atomic
from pxrdsolve.version import code_version, same_code

TOP_K = 10
LIBRARY_MODES = ("held-out", "full", "both")
VARIANT_KEYS = ("rwp2_best10_after", "rwp2_best10_before", "rwp2_top1_after", "match_top1_standard",
                "match_top10_standard", "match_top1_strict", "match_top10_strict", "match_rms_standard",
                "match_source")


@dataclass(frozen=True)
class EvaluateConfig:
    """What an evaluation run does: target source, size, seed, solver settings, baselines, and what
    the solver is told: ``z_given``/``size_given`` (False: ``auto``, as a user who does not know them),
    ``library_mode`` (``held-out``: templates of the case's own formula removed; ``full``; ``both``).
    ``realistic``: number of measured-like cases (None: the source's own targets)."""

    source: str
    size: float | str = 10.0
    seed: int = 0
    first: int | None = None
    library: str | None = None
    solve: dict[str, Any] = field(default_factory=dict)
    baselines: tuple[str, ...] = ("library-only",)
    input_sha256: dict[str, str | None] = field(default_factory=dict)  # test CSV / manifest, library
    z_given: bool = False
    size_given: bool = False
    library_mode: str = "held-out"
    realistic: int | None = None
    realistic_options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    def told(self) -> dict[str, str]:
        """What the solver was given, in words (every report states it)."""
        return {"formula": "reduced formula", "z": "given (reference)" if self.z_given else "auto",
                "size": "given (target τ)" if self.size_given else "auto",
                "library": {"held-out": "own formula held out", "full": "full",
                            "both": "own formula held out (full library reported beside)"}[self.library_mode]}


def _verdict_fields(result) -> dict[str, Any]:
    """What the verdict was decided from (for calibrating it): its numbers and the top candidate's fit metrics."""
    out: dict[str, Any] = {}
    verdict = getattr(result, "verdict", None)
    if verdict is not None and hasattr(verdict, "to_json"):
        out["verdict_detail"] = verdict.to_json()
    ranked = getattr(result, "ranked", None) or []
    if ranked and isinstance(getattr(ranked[0], "metrics", None), dict):
        out["top1_fit"] = {k: float(v) for k, v in ranked[0].metrics.items()
                           if isinstance(v, (int, float, np.floating)) and np.isfinite(float(v))}
    return out


def _structures(records) -> list:
    from pxrdsolve.solve.rank import record_to_structure

    return [record_to_structure(r) for r in records]


def eval_patterns(structures) -> np.ndarray:
    """PXRDNet 8192-point evaluation patterns of pymatgen structures (conventional cells)."""
    from pxrdsolve.crystal import batch_from_records
    from pxrdsolve.diffraction.peaks import compute_peaks
    from pxrdsolve.diffraction.pxrdnet import pxrdnet_eval_patterns, pxrdnet_peak_q_max
    from pxrdsolve.io.structures import standardise, structure_to_record

    if not structures:
        return np.zeros((0, 8192))
    recs = [structure_to_record(standardise(s, "conventional")) for s in structures]
    peaks = compute_peaks(batch_from_records(recs), 1.54184, pxrdnet_peak_q_max())
    return pxrdnet_eval_patterns(peaks).numpy()


def rwp2_list(target_eval: np.ndarray | None, structures) -> list[float]:
    if target_eval is None or not structures:
        return []
    pred = eval_patterns(structures)
    return [float(np.sum((target_eval - p) ** 2) / np.sum(target_eval**2)) for p in pred]


def score(target: Target, ranked, seconds: dict[str, float]) -> dict[str, Any]:
    """All metrics of one solved material (JSON-serialisable)."""
    top = list(ranked)[:TOP_K]
    refined = _structures([r.record for r in top])
    proposed = _structures([r.candidate.record for r in top])
    ref_sym = m.symmetry_summary(target.structure)
    out: dict[str, Any] = {
        "index": target.index, "id": target.identifier, "formula": target.formula, "kind": target.kind,
        "natoms": len(target.structure), "crystal_system": ref_sym["crystal_system"],
        "space_group": ref_sym["space_group"], "n_candidates_ranked": len(top), "seconds": seconds,
    }
    r_after = rwp2_list(target.eval_pattern, refined)
    r_before = rwp2_list(target.eval_pattern, proposed)
    out["rwp2_best10_after"] = min(r_after) if r_after else None
    out["rwp2_best10_before"] = min(r_before) if r_before else None
    out["rwp2_top1_after"] = r_after[0] if r_after else None
    for name, tol in (("standard", m.STANDARD_TOL), ("strict", m.STRICT_TOL)):
        rank, rms = m.first_match(target.structure, refined, tol)
        out[f"match_rank_{name}"] = rank
        out[f"match_rms_{name}"] = rms
        out[f"match_top1_{name}"] = rank == 0
        out[f"match_top10_{name}"] = rank is not None
        if name == "standard":
            b_rank, _ = m.first_match(target.structure, proposed, tol)
            out["match_top1_standard_before"] = b_rank == 0
            out["match_top10_standard_before"] = b_rank is not None
            out["match_source"] = top[rank].candidate.source if rank is not None else None
    if top:
        cand_sym = m.symmetry_summary(refined[0])
        out["top1_space_group"] = cand_sym["space_group"]
        out["top1_space_group_correct"] = cand_sym["space_group"] == ref_sym["space_group"]
        out["top1_lattice_error"] = m.lattice_error(ref_sym, cand_sym)
        out["top1_r_wp"] = float(top[0].metrics.get("r_wp", float("nan")))
        out["valid_fraction"] = float(np.mean([m.is_valid(s) for s in refined]))
        cb = [m.charge_balanced(s) for s in refined]
        cb = [c for c in cb if c is not None]
        out["charge_balanced_fraction"] = float(np.mean(cb)) if cb else None
        out["sources_top10"] = [r.candidate.source for r in top]
    return out


def run_evaluate(
    targets: list[Callable[[], Target]],
    labels: list[str],
    out_dir: str | Path,
    solve_fn: Callable[[Target], Any],
    config: EvaluateConfig,
    shard: tuple[int, int] | None = None,
    resume: bool = False,
    progress: Callable[..., None] | None = None,
    baseline_fns: dict[str, Callable[[Target], Any]] | None = None,
    force: bool = False,
) -> list[dict[str, Any]]:
    """Evaluate targets [shard block]; returns the per-material records written in this run.
    ``baseline_fns``: name → solver run on the same target, stored as ``baseline_<name>`` (a name
    starting with ``variant:`` is stored under the rest of the name, e.g. ``full_library``)."""
    from pxrdsolve.simulation.run import shard_range

    out = Path(out_dir)
    mat_dir = out / "materials"
    mat_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "config.json"
    version = code_version()
    cfg_obj = {"evaluate": config.to_json(), "software_version": __version__, "code_version": version}
    cfg = json.dumps(cfg_obj, sort_keys=True, default=str)
    if cfg_path.exists() and resume:
        old = _read_config(cfg_path)
        if json.dumps(old.get("evaluate"), sort_keys=True, default=str) != json.dumps(
                json.loads(json.dumps(config.to_json(), default=str)), sort_keys=True):
            raise InputError(f"{out}: holds results of another configuration; use a new -o or drop --resume")
        if not same_code(old.get("code_version"), version) and not force:
            was = old.get("code_version") or old.get("software_version")
            raise InputError(f"{out}: holds results of pxrdsolve {was}, this is {version}; use a new -o, "
                             "or --force to mix versions")
    if not cfg_path.exists() or not resume:
        write_text_atomic(cfg_path, cfg)
    lo, hi = shard_range(len(targets), shard)
    done: list[dict[str, Any]] = []
    if progress:
        progress(0, total=hi - lo)
    with StopFlag().installed() as stop:
        for i in range(lo, hi):
            if stop.set:
                raise Interrupted(f"{out}: interrupted before material {i} of [{lo}, {hi}) (finished ones are "
                                  "saved); rerun with --resume", stop.signum)
            record = _evaluate_one(i, targets, labels, mat_dir, solve_fn, baseline_fns, resume)
            if record is not None:
                done.append(record)
            if progress:
                progress(1)
    return done


def _evaluate_one(i, targets, labels, mat_dir: Path, solve_fn, baseline_fns, resume: bool) -> dict | None:
    """Solve and score material ``i``; its record is written atomically (None when already done)."""
    path = mat_dir / f"{i:05d}_{_safe(labels[i])}.json"
    attempt = 1
    if resume and path.exists():
        previous = _read_record(path)
        if previous is not None and "traceback" not in previous:
            return None  # finished, or refused as bad input (deterministic): keep
        attempt = int((previous or {}).get("attempt", 1)) + 1
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    try:
        target = targets[i]()
        t1 = time.perf_counter()
        result = solve_fn(target)
        t2 = time.perf_counter()
        seconds = {"target": t1 - t0, "solve": t2 - t1, **{f"solve_{k}": v for k, v in
                                                             getattr(result, "seconds", {}).items()}}
        record = score(target, result.ranked, seconds)
        record["seconds"]["score"] = time.perf_counter() - t2
        record["verdict"] = getattr(getattr(result, "verdict", None), "label", None)
        record.update(_verdict_fields(result))
        record.update(_info_fields(getattr(target, "info", None)))
        for name, fn in (baseline_fns or {}).items():
            tb = time.perf_counter()
            res = fn(target)
            base = score(target, res.ranked, {})
            key = name[len("variant:"):] if name.startswith("variant:") else f"baseline_{name}"
            record[key] = {k: base.get(k) for k in VARIANT_KEYS}
            record[key]["verdict"] = getattr(getattr(res, "verdict", None), "label", None)
            record[key]["seconds"] = time.perf_counter() - tb
    except InputError as exc:
        record = {"index": i, "id": labels[i], "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - one material must not stop a batch run
        record = {"index": i, "id": labels[i], "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc(limit=5)}
    record["code_version"] = code_version()
    record["peak_rss_mb"] = max(rss0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024
    if attempt > 1:
        record["attempt"] = attempt
    write_text_atomic(path, json.dumps(record, default=_json_default, sort_keys=True))
    return record


def _info_fields(info: dict[str, Any] | None) -> dict[str, Any]:
    """What a target records beside its scores (a realistic case: parameters, radiation, τ bin)."""
    if not info:
        return {}
    out = {k: v for k, v in info.items() if k != "params"}
    if "params" in info:
        out["realistic"] = info["params"]
    return out


def _read_config(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        raise InputError(f"{path}: unreadable evaluation config; use a new -o") from None
    return obj if isinstance(obj, dict) else {}


def check_versions(out_dirs: list[str | Path], force: bool = False) -> list[dict[str, Any]]:
    """The ``config.json`` of each folder, refused (InputError) when they disagree on the configuration
    or on the code version (the latter unless ``force``)."""
    configs = []
    for d in out_dirs:
        p = Path(d, "config.json")
        if not p.exists():
            raise InputError(f"{d}: no config.json (not an evaluate folder, or written before versions were kept)")
        configs.append(_read_config(p))
    first = json.dumps(configs[0].get("evaluate"), sort_keys=True, default=str)
    for d, c in zip(out_dirs, configs):
        if json.dumps(c.get("evaluate"), sort_keys=True, default=str) != first:
            raise InputError(f"{d}: evaluated with another configuration than {out_dirs[0]}; merge like with like")
        if not force and not same_code(c.get("code_version"), configs[0].get("code_version") or "?"):
            raise InputError(f"{d}: written by pxrdsolve {c.get('code_version') or c.get('software_version')}, "
                             f"{out_dirs[0]} by {configs[0].get('code_version')}; --force to merge anyway")
    return configs


def _read_record(path: Path) -> dict | None:
    """A per-material record, or None when the file is unreadable (then the material is redone)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def load_records(out_dirs: list[str | Path]) -> list[dict[str, Any]]:
    """All per-material records under one or more output folders (deduplicated by index)."""
    recs: dict[int, dict] = {}
    for d in out_dirs:
        for p in sorted(Path(d, "materials").glob("*.json")):
            r = _read_record(p)
            if r is None or "index" not in r:
                raise InputError(f"{p}: damaged per-material record; rerun evaluate with --resume to redo it")
            recs[int(r["index"])] = r
    return [recs[k] for k in sorted(recs)]


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:60]


def _json_default(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)
