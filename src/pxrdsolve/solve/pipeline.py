"""One solve: pattern + formula → candidates → batched refinement → ranking → verdict.

:func:`solve_pattern` is the core that the ``solve`` command wraps; :func:`rank_candidates` ranks
given structure files against a pattern (``rank`` command).  Candidate sources are imported lazily
(generative model, prototype library, user CIFs), so this module imports without them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pxrdsolve.errors import InputError
from pxrdsolve.solve.rank import RankConfig, RankedCandidate, rank_and_merge
from pxrdsolve.solve.refine import RefineConfig, RefineResult, refine_candidates
from pxrdsolve.solve.types import Candidate
from pxrdsolve.solve.verdict import Verdict, VerdictConfig, decide

DEFAULT_START_SIZE_ANGSTROM = 50.0


@dataclass(frozen=True)
class SolveConfig:
    """Everything a solve uses (nested frozen dataclasses; :meth:`to_json` for files)."""

    refine: RefineConfig = field(default_factory=RefineConfig)
    rank: RankConfig = field(default_factory=RankConfig)
    verdict: VerdictConfig = field(default_factory=VerdictConfig)
    max_candidates: int = 300
    cell_hint_window: float = 0.02
    # model candidate source (candidates_model): latents searched and decoded per solve; 0 = off
    model_candidates: int = 32
    model_steps: int = 200  # Adam steps of the latent search
    # direct-space source (candidates_direct: enumerated few-parameter arrangements, then random
    # symmetric structures) for structure types the library lacks; 0 = off (opt-in, see docs/model-card.md)
    direct_candidates: int = 0

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SolveResult:
    """Ranked distinct structures (best first), the verdict, all candidates with their refinement,
    the fit grid (Q Å⁻¹, observed, 2θ degrees or None), timings (s) and the configuration."""

    ranked: tuple[RankedCandidate, ...]
    verdict: Verdict
    candidates: tuple[Candidate, ...]
    refined: RefineResult
    q_inv_angstrom: np.ndarray
    observed: np.ndarray
    two_theta_deg: np.ndarray | None
    wavelength_angstrom: float
    weighting: str
    size_mode: str
    seconds: dict[str, float]
    config: dict[str, Any]
    inputs: dict[str, Any]
    warnings: tuple[str, ...] = ()
    phases: Any = None  # the known extra phases fitted with every candidate (ExtraPhases or None)

    def _extras(self, r: RankedCandidate) -> dict[str, Any]:
        """Per ranked candidate: refined instrument (with the instrument model), March–Dollase texture (when
        kept: r and the preferred direction hkl, conventional standard cell) and phase weight fractions."""
        out: dict[str, Any] = {}
        texture = self.refined.march_dollase(r.index)
        if texture is not None:
            out["march_dollase"] = texture
        inst = self.refined.instrument_of(r.index)
        if inst is not None:
            out["instrument"] = inst.to_json()
        ph = self.refined.phase_scales
        if ph is not None and self.phases is not None:
            from pxrdsolve.solve.phases import weight_fractions

            out["weight_fractions"] = weight_fractions(float(self.refined.scale[r.index]), r.record,
                                                       ph[r.index], self.phases)
        return out

    @property
    def best(self) -> RankedCandidate | None:
        return self.ranked[0] if self.ranked else None

    def to_json(self) -> dict[str, Any]:
        """The ``summary.json`` content."""
        return {
            "verdict": self.verdict.to_json(), "n_candidates": len(self.candidates),
            "n_refined": len(self.refined.refined_indices), "size_mode": self.size_mode,
            "weighting": self.weighting, "wavelength_angstrom": self.wavelength_angstrom,
            "top": [r.to_json() | self._extras(r) for r in self.ranked], "seconds": self.seconds,
            "inputs": self.inputs,
            "warnings": list(self.warnings), "code_version": _code_version(),
        }


def _code_version() -> str:
    from pxrdsolve.version import code_version

    return code_version()


def _load_phases(paths: Sequence[str | Path], data, tau: float):
    """Known extra phases from structure files (one-line errors naming the file)."""
    from pxrdsolve.solve.candidates_user import user_candidates
    from pxrdsolve.solve.phases import extra_phases
    from pxrdsolve.solve.render import stick_pad

    found, failures = user_candidates([str(p) for p in paths])
    if failures:
        src, why = failures[0]
        raise InputError(f"{src}: cannot use as --phase ({why})")
    q_max = data.q_range[1] + stick_pad(data, tau) + 0.5
    return extra_phases([c.record for c in found], [c.label for c in found], data.radiation.wavelength_angstrom,
                        q_max)


def load_instrument(path: str | Path):
    """An :class:`~pxrdsolve.instrument.model.Instrument` from a GSAS-II ``.instprm`` or a pxrdsolve JSON file."""
    from pxrdsolve.instrument.instprm import read_instprm
    from pxrdsolve.instrument.model import read_instrument_json

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such instrument file")
    return read_instrument_json(p) if p.suffix.lower() == ".json" else read_instprm(p)


def _load_pattern(pattern, wavelength):
    if isinstance(pattern, (str, Path)):
        from pxrdsolve.patterns import read_pattern

        return read_pattern(pattern, wavelength=wavelength)
    if wavelength is not None and getattr(pattern, "wavelength_angstrom", None) is None:
        raise InputError("pass the wavelength when reading the pattern (read_pattern(..., wavelength=...))")
    return pattern


def _start_size(pattern, size, warnings: list[str]) -> tuple[float, bool, str]:
    """(τ Å, refine τ?, mode) from ``size`` = "auto" or a number of Å."""
    if isinstance(size, str) and size.strip().lower() != "auto":
        try:
            size = float(size)
        except ValueError:
            raise InputError(f"bad size {size!r}: give τ in Å or 'auto'") from None
    if isinstance(size, (int, float)):
        if not (size > 0):
            raise InputError(f"size must be > 0 Å, got {size}")
        return float(size), False, "fixed"
    try:
        from pxrdsolve.patterns import estimate_size

        tau = float(estimate_size(pattern).size_angstrom)
        if not (math.isfinite(tau) and tau > 0):
            raise InputError("no finite size")
        return min(max(tau, 3.0), 2000.0), True, "auto"
    except InputError as exc:
        warnings.append(f"size not estimated ({exc}); starting from τ = {DEFAULT_START_SIZE_ANGSTROM:g} Å")
        return DEFAULT_START_SIZE_ANGSTROM, True, "auto"


def parse_cell(text: str | Sequence[float] | None) -> tuple[float, ...] | None:
    """``"a,b,c,alpha,beta,gamma"`` (Å, degrees) → 6 floats; None passes through."""
    if text is None:
        return None
    parts = [float(v) for v in (text.replace(";", ",").split(",") if isinstance(text, str) else text)]
    if len(parts) != 6 or min(parts[:3]) <= 0 or not all(0 < v < 180 for v in parts[3:]):
        raise InputError(f"bad cell {text!r}: give a,b,c,alpha,beta,gamma (Å, degrees)")
    return tuple(parts)


def _space_group_number(spec: str | int) -> int:
    try:
        n = int(spec)
    except (TypeError, ValueError):
        from pymatgen.symmetry.groups import SpaceGroup

        try:
            n = int(SpaceGroup(str(spec).replace(" ", "")).int_number)
        except Exception:
            raise InputError(f"unknown space group {spec!r}") from None
    if not 1 <= n <= 230:
        raise InputError(f"space group number {n} outside 1–230")
    return n


def _apply_hints(candidates: list[Candidate], space_group, cell, window: float, warnings: list[str]):
    """Keep candidates of the hinted space group; put hinted cells on candidates whose cell matches
    (within 25 % in lengths, 10° in angles, same axis order)."""
    out = candidates
    if space_group is not None:
        target = _space_group_number(space_group)
        from pxrdsolve.structure.template import symmetric_template

        symprec = RefineConfig().symprec_angstrom
        out = [c for c in out if symmetric_template(c.record, symprec).number == target]
        if not out:
            warnings.append(f"no candidate has space group {target}; the hint was ignored")
            out = candidates
    if cell is not None:
        import torch

        from pxrdsolve.crystal import CrystalRecord
        from pxrdsolve.structure.cell import cell_parameters, lattice_from_parameters

        hint = torch.tensor([cell], dtype=torch.float64)
        lat_hint = lattice_from_parameters(hint)[0].numpy()
        matched = []
        for c in out:
            p = cell_parameters(torch.as_tensor(c.record.lattice, dtype=torch.float64)[None])[0]
            if bool((p[:3] / hint[0, :3] - 1).abs().max() < 0.25) and bool((p[3:] - hint[0, 3:]).abs().max() < 10):
                r = c.record
                matched.append(replace(c, record=CrystalRecord(lat_hint, r.frac, r.atomic_numbers, r.occupancy,
                                                               r.b_iso), meta={**c.meta, "cell_hint": list(cell)}))
        if matched:
            out = matched
        else:
            warnings.append("no candidate cell matches the --cell hint; the hint was ignored")
    return out


def _prototype_source(composition, library, max_candidates: int, space_group: int | None) -> list[Candidate]:
    """Prototype candidates; ``library`` may also be a callable ``(composition, max_candidates) → list``."""
    if callable(library) and not isinstance(library, (str, Path)):
        return list(library(composition, max_candidates))
    from pxrdsolve.solve.candidates_prototype import prototype_candidates

    if library is None or isinstance(library, (str, Path)):
        from pxrdsolve.library.store import load_library

        library = load_library(library)
    return list(prototype_candidates(composition, library, max_candidates=max_candidates, space_group=space_group))


def _direct_source(composition, library, config: SolveConfig, space_group: int | None,
                   progress: Callable[[str], None] | None) -> list[Candidate]:
    """``config.direct_candidates`` direct-space candidates, priors from ``library`` (a path, a loaded
    library, or a source callable carrying its library as ``.library``; otherwise the shipped one)."""
    if config.direct_candidates <= 0:
        return []
    from pxrdsolve.library.store import PrototypeLibrary, load_library
    from pxrdsolve.solve.candidates_direct import direct_space_candidates

    if progress:
        progress(f"direct-space candidates ({config.direct_candidates}: enumerated arrangements, random structures)")
    lib = getattr(library, "library", library)
    if not isinstance(lib, PrototypeLibrary):
        lib = load_library(lib if isinstance(lib, (str, Path)) else None)
    groups = None if space_group is None else (space_group,)
    return direct_space_candidates(composition, config.direct_candidates, seed=config.refine.seed, library=lib,
                                   space_groups=groups)


def _user_source(candidates, warnings: list[str]) -> list[Candidate]:
    if not candidates:
        return []
    given = [c for c in candidates if isinstance(c, Candidate)]
    paths = [str(c) for c in candidates if not isinstance(c, Candidate)]
    if paths:
        from pxrdsolve.solve.candidates_user import user_candidates

        found, failures = user_candidates(paths)
        given += list(found)
        warnings += [f"skipped {src}: {why}" for src, why in failures]
    return given


def run_solve(
    pattern, candidates: list[Candidate], *, size="auto", config: SolveConfig = SolveConfig(),
    inputs: dict[str, Any] | None = None, warnings: list[str] | None = None,
    progress: Callable[[str], None] | None = None, phases: Sequence[str | Path] = (),
) -> SolveResult:
    """Refine, rank and judge given candidates against a read pattern (shared by solve and rank);
    ``progress`` (optional) is told each stage as it starts; ``phases``: structure files of known extra
    phases fitted with every candidate (see :mod:`pxrdsolve.solve.phases`)."""
    from pxrdsolve.solve.objective import prepare_fit_data

    warnings = list(warnings or [])
    if not candidates:
        raise InputError("no candidate structures to refine")
    t0 = time.perf_counter()
    tau, refine_size, mode = _start_size(pattern, size, warnings)
    narrowest = math.hypot(2.7831 / (2.0 * tau if refine_size else tau), config.refine.objective.instrument_fwhm_q)
    try:
        data = prepare_fit_data(pattern, config.refine.objective, narrowest_fwhm_q=narrowest)
    except ValueError as exc:
        raise InputError(f"{getattr(pattern, 'path', 'pattern')}: {exc}") from None
    warnings += list(data.notes)
    if phases:
        data = replace(data, phases=_load_phases(phases, data, tau))
    if progress:
        progress(f"refining {len(candidates)} candidates against {data.n_points} points (start τ = {tau:.1f} Å)")
    refined = refine_candidates([c.record for c in candidates], data, tau, refine_size, config.refine)
    t1 = time.perf_counter()
    if progress:
        progress("ranking, merging duplicates and judging")
    ranked = rank_and_merge(candidates, refined, config.rank)
    verdict = decide(ranked, config.verdict)
    if ranked:
        from pxrdsolve.solve.residual_peaks import unexplained_peaks

        strong = unexplained_peaks(data, refined, ranked[0].index)
        if strong:
            warnings.append("strong observed peaks that no phase explains at " + ", ".join(strong)
                            + " (an impurity? try --phase)")
    t2 = time.perf_counter()
    seconds = {**{f"refine_{k}": v for k, v in refined.seconds.items()}, "rank": t2 - t1, "total": t2 - t0}
    return SolveResult(
        ranked=tuple(ranked), verdict=verdict, candidates=tuple(candidates), refined=refined,
        q_inv_angstrom=data.q_inv_angstrom.numpy(), observed=data.intensity.numpy(),
        two_theta_deg=None if data.two_theta_deg is None else data.two_theta_deg.numpy(),
        wavelength_angstrom=data.radiation.wavelength_angstrom, weighting=data.weighting, size_mode=mode,
        seconds=seconds, config=config.to_json(), inputs=dict(inputs or {}),
        warnings=tuple(warnings) + tuple(getattr(pattern, "warnings", ())), phases=data.phases,
    )


def solve_pattern(
    pattern,
    formula: str,
    *,
    size: str | float = "auto",
    z: str | int = "auto",
    wavelength: float | str | None = None,
    space_group: str | int | None = None,
    cell: str | Sequence[float] | None = None,
    candidates: Sequence[str | Path | Candidate] | None = None,
    library: Any = None,
    checkpoint: Any = None,
    config: SolveConfig = SolveConfig(),
    progress: Callable[[str], None] | None = None,
    phases: Sequence[str | Path] = (),
) -> SolveResult:
    """Solve a structure from a powder pattern (a path or a ``MeasuredPattern``) and a formula.

    ``size``: τ in Å (PXRDNet convention, column length 2τ) or ``"auto"`` (estimated from peak
    widths, then refined).  ``z``: formula units per cell or ``"auto"``.  ``space_group`` and
    ``cell`` (``"a,b,c,alpha,beta,gamma"``) restrict the candidates; with a cell the lattice window
    shrinks to ±``cell_hint_window``.  ``candidates``: extra user structures (CIF paths or
    :class:`Candidate`).  ``library``: prototype library path or object (None = shipped default), or a
    callable ``(composition, max_candidates) → list[Candidate]`` used as the candidate source.
    ``checkpoint``: generative model (checkpoint path or loaded ``PXRDSolveModel``; None = the shipped
    default if any) adding ``config.model_candidates`` candidates; skipped with a warning when the
    model cannot serve the formula.
    """
    from pxrdsolve.solve.formula import parse_formula

    t0 = time.perf_counter()
    warnings: list[str] = []
    measured = _load_pattern(pattern, wavelength)
    composition = parse_formula(formula, z=z)
    sg = None if space_group is None else _space_group_number(space_group)
    # --- model candidate source (candidates_model.py); an unusable checkpoint fails here, before the rest
    from pxrdsolve.solve.candidates_model import given_size, model_source

    t_model = time.perf_counter()
    if progress:
        progress("model candidates (generative model, if a checkpoint is available)")
    model_pool, model_warnings = model_source(
        measured, composition, checkpoint, n_candidates=config.model_candidates, steps=config.model_steps,
        seed=config.refine.seed, device=config.refine.device,
        instrument_fwhm_q=config.refine.objective.instrument_fwhm_q, size_angstrom=given_size(size))
    warnings += model_warnings
    t_model = time.perf_counter() - t_model
    # --- end model candidate source
    if progress:
        progress("prototype candidates from the library")
    pool = (_prototype_source(composition, library, config.max_candidates, sg) + model_pool
            + _direct_source(composition, library, config, sg, progress) + _user_source(candidates, warnings))
    cell_t = parse_cell(cell)
    pool = _apply_hints(pool, space_group, cell_t, config.cell_hint_window, warnings)
    if cell_t is not None:
        lat = replace(config.refine.lattice, length_window=config.cell_hint_window, angle_window_deg=1.0)
        scan = replace(config.refine.scan, min_scale=1.0 - config.cell_hint_window,
                       max_scale=1.0 + config.cell_hint_window)
        config = replace(config, refine=replace(config.refine, lattice=lat, scan=scan))
    t_cand = time.perf_counter() - t0
    inputs = {"pattern": str(getattr(measured, "path", pattern)), "formula": formula, "size": size, "z": z,
              "wavelength": wavelength, "space_group": space_group, "cell": cell_t,
              "n_user_candidates": len(candidates or []), "n_model_candidates": len(model_pool),
              "checkpoint": str(checkpoint) if isinstance(checkpoint, (str, Path)) else None,
              "library": str(library) if isinstance(library, (str, Path)) else getattr(library, "path", None)}
    result = run_solve(measured, pool, size=size, config=config, inputs=inputs, warnings=warnings, phases=phases,
                       progress=progress)
    return replace(result, seconds={"candidates": t_cand, "candidates_model": t_model, **result.seconds,
                                    "total": result.seconds["total"] + t_cand})


def rank_candidates(
    candidate_paths: Sequence[str | Path | Candidate],
    pattern,
    *,
    size: str | float = "auto",
    wavelength: float | str | None = None,
    config: SolveConfig = SolveConfig(),
    progress: Callable[[str], None] | None = None,
    phases: Sequence[str | Path] = (),
) -> SolveResult:
    """Refine and rank given structures (CIF paths or :class:`Candidate`) against a pattern."""
    warnings: list[str] = []
    measured = _load_pattern(pattern, wavelength)
    pool = _user_source(list(candidate_paths), warnings)
    inputs = {"pattern": str(getattr(measured, "path", pattern)), "candidates": [str(c) for c in candidate_paths
              if not isinstance(c, Candidate)], "size": size, "wavelength": wavelength}
    return run_solve(measured, pool, size=size, config=config, inputs=inputs, warnings=warnings, progress=progress,
                     phases=phases)
