"""Candidates from the generative model: PXRDNet's latent search (Eq. 4), started by the PXRD encoder.

For a measured pattern on the model's 512-point Q grid (:class:`~pxrdsolve.patterns.ModelPattern`)
and a known composition:

1. **Starts.** For every allowed Z (atoms per cell N = Z·atoms per formula unit ≤ the model's
   ``max_atoms``) the amortised PXRD encoder gives q(z | pattern, mask, composition, N); each Z gets
   its mean and samples ``μ + T·σ·ε`` (PXRDNet starts from 100 random N(0, I) latents instead).
2. **Latent search.** All latents are optimised together with Adam (LR: :func:`latent_lr`, a pure
   function of the step) on, per candidate,
   ``L1(regressor(z, τ), pattern)`` over the *measured* grid points only, at the crystallite size τ
   the solver uses (given, or estimated from the peak widths by the preprocessing; when neither is
   known, the τ of :data:`SIZE_LADDER_ANGSTROM` that fits the encoder means best)
   ``− 2e-4·log N(z; 0, I)`` (constant dropped) ``+ 0.1·CE(atom-count head, N)``
   ``+ 0.1·CE(composition head, composition)``.  The lowest-loss latent seen is kept.
3. **Decoding.** Annealed Langevin (:func:`~pxrdsolve.model.sampler.langevin_sample`) batched over
   every candidate, atom types forced to the composition × Z, lattice from the lattice head at N.
   On CPU the steps per σ level are cut to a budget of atom-pair score evaluations
   (:attr:`LatentSearchConfig.cpu_pair_budget`) so the whole source stays at a few seconds.

The candidates (best latent loss first) then go through the same refinement and ranking as the
prototypes.  torch only (no pymatgen).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from pxrdsolve.crystal import CrystalRecord
from pxrdsolve.elements import atomic_number
from pxrdsolve.errors import InputError
from pxrdsolve.model.geometry import lattice_from_normalized
from pxrdsolve.model.model import PXRDSolveModel
from pxrdsolve.model.sampler import LangevinSettings, langevin_sample
from pxrdsolve.solve.types import Candidate, Composition

DEFAULT_CHECKPOINT = "default_model.h5"  # inside the pxrdsolve.data package; shipped later
# Bounds on the lattice head's normalised lengths log(length / N^(1/3)): 0.5-8 Å per atom^(1/3),
# so an untrained or extrapolating head still gives a usable cell.
LOG_LENGTH_BOUNDS = (math.log(0.5), math.log(8.0))
# τ (Å) tried when the pattern's size is unknown (inf = bulk); the training range is 5-200 Å and bulk
SIZE_LADDER_ANGSTROM = (5.0, 10.0, 20.0, 50.0, 100.0, 200.0, math.inf)


@dataclass(frozen=True)
class LatentSearchConfig:
    """Knobs of the latent search and of the decoding budget (loss weights are PXRDNet's)."""

    lr: float = 0.05  # peak Adam learning rate, latent units (N(0, I) prior)
    warmup_steps: int = 10
    min_lr_ratio: float = 0.05  # cosine floor as a fraction of lr
    prior_weight: float = 2e-4  # × −log N(z; 0, I)
    natoms_weight: float = 0.1  # × CE(atom-count head, N)
    composition_weight: float = 0.1  # × CE(composition head, atom fractions)
    sample_temperature: float = 1.0  # σ multiplier of the encoder samples used as starts
    cpu_pair_budget: float = 1.0e6  # Langevin atom-pair score evaluations on CPU (≈ 4.5 s for `small`)


@dataclass(frozen=True)
class LatentSearchResult:
    """Optimised latents (B, latent) and, per candidate, the objective at its start and at the kept
    (lowest-loss) latent, the masked L1 pattern error there (pattern units, max = 1), and the mean
    objective per step (steps + 1 values, the last after the final update)."""

    z: torch.Tensor
    loss_start: torch.Tensor
    loss: torch.Tensor
    pattern_l1: torch.Tensor
    history: tuple[float, ...]


def latent_lr(step: int, steps: int, lr: float, warmup_steps: int = 10, min_ratio: float = 0.05) -> float:
    """Learning rate at ``step`` (0-based) of ``steps``: linear warmup, then cosine to ``min_ratio``·lr."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, steps - warmup_steps))
    return lr * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def default_checkpoint() -> Path | None:
    """The shipped model ``pxrdsolve/data/default_model.h5``, or None while none is shipped."""
    path = Path(str(resources.files("pxrdsolve.data").joinpath(DEFAULT_CHECKPOINT)))
    return path if path.is_file() else None


def load_solver_model(path: str | os.PathLike, device: str = "cpu") -> PXRDSolveModel:
    """:func:`~pxrdsolve.model.load_model` (EMA weights, eval mode), cached per (file, mtime, device)."""
    p = Path(path).resolve()
    if not p.is_file():
        raise InputError(f"{path}: checkpoint file not found")
    st = p.stat()
    return _load_cached(str(p), st.st_mtime_ns, st.st_size, str(device))


@functools.lru_cache(maxsize=2)
def _load_cached(path: str, mtime_ns: int, size: int, device: str) -> PXRDSolveModel:
    from pxrdsolve.model.checkpoint import load_model

    return load_model(path, use_ema=True, device=device)


def allowed_z(model: PXRDSolveModel, composition: Composition) -> tuple[int, ...]:
    """The composition's Z options whose cell fits the model's atom limit."""
    limit = model.config.model.max_atoms
    return tuple(z for z in composition.z_options if z * composition.atoms_per_formula_unit <= limit)


def skip_reason(model: PXRDSolveModel, composition: Composition) -> str | None:
    """Why the model cannot propose candidates for ``composition`` (element coverage, atom limit), or None."""
    n_el = model.config.model.num_elements
    outside = [el for el, _ in composition.amounts if atomic_number(el) > n_el]
    if outside:
        return f"the model covers elements up to Z = {n_el}; {', '.join(outside)} is outside"
    if not allowed_z(model, composition):
        n = min(composition.z_options) * composition.atoms_per_formula_unit
        return f"{composition.formula(min(composition.z_options))} has {n} atoms per cell, more than the " \
               f"model's limit of {model.config.model.max_atoms}"
    return None


def _split(n: int, zs: tuple[int, ...], order: list[int]) -> list[int]:
    """Candidates per Z: as even as possible, the extra ones (and, if n < len(zs), all) to the best Zs."""
    counts = [n // len(zs)] * len(zs)
    for j in order[: n % len(zs)]:
        counts[j] += 1
    return counts


def _objective(model: PXRDSolveModel, z: torch.Tensor, pattern: torch.Tensor, mask: torch.Tensor,
               num_atoms: torch.Tensor, comp: torch.Tensor, cfg: LatentSearchConfig,
               size_angstrom: float | torch.Tensor = math.inf) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-candidate objective (B,) and masked L1 (B,); ``pattern``/``mask`` (512,), ``comp`` (elements,);
    the regressor's pattern is taken at crystallite size ``size_angstrom`` (Å, one value or (B,))."""
    m = mask.to(z.dtype)
    l1 = ((model.pxrd_regressor(z, size_angstrom) - pattern).abs() * m).sum(-1) / m.sum().clamp_min(1.0)
    prior = 0.5 * (z**2).sum(-1)  # −log N(z; 0, I) without its constant
    natoms = F.cross_entropy(model.natoms_head(z), num_atoms.clamp_max(model.config.model.max_atoms),
                             reduction="none")
    comp_ce = -(comp * F.log_softmax(model.composition_head(z), -1)).sum(-1)
    total = l1 + cfg.prior_weight * prior + cfg.natoms_weight * natoms + cfg.composition_weight * comp_ce
    return total, l1


def optimize_latents(model: PXRDSolveModel, z0: torch.Tensor, pattern: torch.Tensor, mask: torch.Tensor,
                     num_atoms: torch.Tensor, composition: torch.Tensor, *, steps: int = 200,
                     config: LatentSearchConfig = LatentSearchConfig(),
                     size_angstrom: float = math.inf) -> LatentSearchResult:
    """Batched Adam on the latent objective (module docstring) from starts ``z0`` (B, latent).

    ``pattern`` (512,) in [0, 1] and ``mask`` (512,) bool on the model grid, compared with the
    regressor's pattern at crystallite size ``size_angstrom`` (Å; inf = bulk); ``num_atoms`` (B,);
    ``composition`` (num_elements,) atom fractions.  Only the latents get gradients (the model's
    parameters are neither changed nor given ``.grad``).
    """
    z = z0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=config.lr)
    best_z = z.detach().clone()
    best = torch.full((z.shape[0],), math.inf, device=z.device, dtype=z.dtype)
    best_l1 = torch.zeros_like(best)
    history: list[float] = []
    loss_start = None
    for step in range(steps + 1):
        total, l1 = _objective(model, z, pattern, mask, num_atoms, composition, config, size_angstrom)
        with torch.no_grad():
            if loss_start is None:
                loss_start = total.detach().clone()
            better = total < best
            best = torch.where(better, total, best)
            best_l1 = torch.where(better, l1, best_l1)
            best_z[better] = z.detach()[better]
        history.append(float(total.detach().mean()))
        if step == steps:
            break
        (grad,) = torch.autograd.grad(total.sum(), z)
        z.grad = grad
        for group in opt.param_groups:
            group["lr"] = latent_lr(step, steps, config.lr, config.warmup_steps, config.min_lr_ratio)
        opt.step()
    return LatentSearchResult(best_z, loss_start, best.detach(), best_l1.detach(), tuple(history))


def decode_settings(model: PXRDSolveModel, num_atoms: torch.Tensor, device: str,
                    config: LatentSearchConfig = LatentSearchConfig()) -> LangevinSettings:
    """The model's Langevin settings; on CPU, steps per level cut to the pair budget (at least 1)."""
    steps = model.schedule.langevin_steps
    if str(device).startswith("cpu"):
        pairs = float((num_atoms.double() ** 2).sum()) * model.schedule.num_levels
        steps = max(1, min(steps, int(config.cpu_pair_budget // max(pairs, 1.0))))
    return LangevinSettings(steps_per_level=steps)


def model_candidates(
    model: PXRDSolveModel,
    model_pattern: Any,
    composition: Composition,
    *,
    n_candidates: int = 32,
    steps: int = 200,
    langevin: LangevinSettings | None = None,
    config: LatentSearchConfig = LatentSearchConfig(),
    seed: int = 0,
    device: str = "cpu",
    size_angstrom: float | None = None,
) -> list[Candidate]:
    """``n_candidates`` model candidates for ``composition``, best latent loss first.

    ``model_pattern``: a :class:`~pxrdsolve.patterns.ModelPattern` (or anything with 512-point
    ``intensity`` and bool ``mask``) on the model grid.  ``steps``: Adam steps of the latent search.
    ``langevin``: sampler settings (None = the model's, step count cut to the CPU budget).
    ``size_angstrom``: crystallite size τ (Å, inf = bulk) at which the regressor's pattern is compared;
    None = the pattern's own estimate (``model_pattern.size``), else the best of
    :data:`SIZE_LADDER_ANGSTROM` at the encoder means (:func:`choose_size`).  The same
    ``seed`` gives the same candidates.  Raises :class:`InputError` when the model cannot serve the
    composition (:func:`skip_reason`) or the mask covers no grid point.  The model is moved to ``device``.
    """
    reason = skip_reason(model, composition)
    if reason is not None:
        raise InputError(reason)
    mcfg = model.config.model
    intensity = np.asarray(model_pattern.intensity, dtype=float)
    mask_np = np.asarray(model_pattern.mask, dtype=bool)
    if intensity.shape != (mcfg.pxrd_points,) or mask_np.shape != (mcfg.pxrd_points,):
        raise InputError(f"the model needs a {mcfg.pxrd_points}-point pattern, got {intensity.shape}")
    if not mask_np.any():
        raise InputError("the measured Q range does not cover the model's grid")
    if n_candidates < 1:
        return []
    model = model.to(device)
    dtype = model.decoder.embed.weight.dtype
    gen = torch.Generator(device=device).manual_seed(int(seed))
    pattern = torch.as_tensor(np.clip(intensity, 0.0, 1.0), dtype=dtype, device=device)
    mask = torch.as_tensor(mask_np, device=device)
    comp = torch.zeros(mcfg.num_elements, dtype=dtype, device=device)
    apfu = composition.atoms_per_formula_unit
    for el, n in composition.amounts:
        comp[atomic_number(el) - 1] += n / apfu
    zs = allowed_z(model, composition)

    with torch.no_grad():  # one encoder call per Z; order Zs by the objective at their encoder mean
        n_z = torch.tensor([z * apfu for z in zs], device=device)
        mu, logvar = model.encode_pattern(pattern.expand(len(zs), -1), mask.expand(len(zs), -1),
                                          comp.expand(len(zs), -1), n_z)
        tau, tau_from = _size_for_search(model, mu, pattern, mask, n_z, comp, config, model_pattern, size_angstrom)
        start_loss, _ = _objective(model, mu, pattern, mask, n_z, comp, config, tau)
    order = sorted(range(len(zs)), key=lambda j: (float(start_loss[j]), j))
    per_z = _split(n_candidates, zs, order)
    starts, z_of, kinds = [], [], []
    for j in order:
        k = per_z[j]
        if k == 0:
            continue
        eps = torch.randn((k - 1, mu.shape[1]), generator=gen, device=device, dtype=dtype)
        std = torch.exp(0.5 * logvar[j]) * config.sample_temperature
        starts += [mu[j : j + 1], mu[j] + std * eps]
        z_of += [zs[j]] * k
        kinds += ["encoder mean"] + ["encoder sample"] * (k - 1)
    z0 = torch.cat(starts)
    num_atoms = torch.tensor([z * apfu for z in z_of], device=device)
    search = optimize_latents(model, z0, pattern, mask, num_atoms, comp, steps=steps, config=config,
                              size_angstrom=tau)

    with torch.no_grad():
        y = model.lattice_head(search.z, num_atoms)
        y = torch.cat([y[:, :3].clamp(*LOG_LENGTH_BOUNDS), y[:, 3:]], -1)
        lattice = lattice_from_normalized(y, num_atoms)
    types = [torch.tensor([atomic_number(el)] * (n * z), device=device) for z in z_of
             for el, n in composition.amounts]
    settings = langevin or decode_settings(model, num_atoms, device, config)
    crystals = langevin_sample(model, search.z, torch.cat(types), num_atoms, lattice=lattice,
                               settings=settings, generator=gen)
    return _to_candidates(crystals, search, z_of, kinds, settings, seed, (tau, tau_from))


def choose_size(model: PXRDSolveModel, mu: torch.Tensor, pattern: torch.Tensor, mask: torch.Tensor,
                num_atoms: torch.Tensor, comp: torch.Tensor, config: LatentSearchConfig = LatentSearchConfig(),
                ladder: tuple[float, ...] = SIZE_LADDER_ANGSTROM) -> float:
    """The τ (Å) of ``ladder`` whose regressor patterns at the latents ``mu`` fit ``pattern`` best
    (lowest objective over the rows of ``mu``; the first such τ on ties)."""
    best, best_tau = math.inf, ladder[0]
    with torch.no_grad():
        for tau in ladder:
            loss = float(_objective(model, mu, pattern, mask, num_atoms, comp, config, tau)[0].min())
            if loss < best:
                best, best_tau = loss, tau
    return float(best_tau)


def given_size(size: Any) -> float | None:
    """τ (Å) from the solver's ``size`` argument (a number or a numeric string), None for ``"auto"`` or
    anything unusable (the solver itself reports a bad size)."""
    try:
        tau = float(size)
    except (TypeError, ValueError):
        return None
    return tau if tau > 0 else None


def _size_for_search(model: PXRDSolveModel, mu: torch.Tensor, pattern: torch.Tensor, mask: torch.Tensor,
                     num_atoms: torch.Tensor, comp: torch.Tensor, config: LatentSearchConfig, model_pattern: Any,
                     size_angstrom: float | None) -> tuple[float, str]:
    """(τ Å, where it came from: ``given``, ``estimated`` or ``fitted``) for the latent search."""
    if size_angstrom is not None:
        if not size_angstrom > 0:
            raise InputError(f"size must be > 0 Å, got {size_angstrom}")
        return float(size_angstrom), "given"
    estimate = getattr(model_pattern, "size", None)
    tau = getattr(estimate, "size_angstrom", None)
    if tau is not None and tau > 0:
        return float(tau), "estimated"
    return choose_size(model, mu, pattern, mask, num_atoms, comp, config), "fitted"


def _to_candidates(crystals: Any, search: LatentSearchResult, z_of: list[int], kinds: list[str],
                   settings: LangevinSettings, seed: int, size: tuple[float, str] = (math.inf, "given")
                   ) -> list[Candidate]:
    """Candidates sorted by latent loss (stable), labelled ``model #0`` (best) onwards."""
    lat = crystals.lattice.detach().cpu().double().numpy()
    frac = crystals.frac.detach().cpu().double().numpy()
    types = crystals.atomic_numbers.detach().cpu().numpy().astype(np.int64)
    off = np.concatenate([[0], np.cumsum(crystals.num_atoms.cpu().numpy())])
    loss = search.loss.cpu().double().numpy()
    out = []
    for rank, b in enumerate(np.argsort(loss, kind="stable").tolist()):
        f = np.mod(frac[off[b]:off[b + 1]], 1.0)
        f[f >= 1.0] = 0.0
        record = CrystalRecord(lat[b], f, types[off[b]:off[b + 1]], np.ones(off[b + 1] - off[b]))
        meta = {"latent_index": b, "z": z_of[b], "start": kinds[b], "seed": int(seed),
                "latent_loss_start": float(search.loss_start[b]), "latent_loss": float(loss[b]),
                "pattern_l1": float(search.pattern_l1[b]), "langevin_steps_per_level": settings.steps_per_level,
                "search_size_angstrom": size[0], "search_size_from": size[1]}
        out.append(Candidate(record, "model", f"model #{rank}", meta))
    return out


def model_source(measured: Any, composition: Composition, checkpoint: Any, *, n_candidates: int = 32,
                 steps: int = 200, seed: int = 0, device: str = "cpu", instrument_fwhm_q: float = 0.0,
                 size_angstrom: float | None = None) -> tuple[list[Candidate], list[str]]:
    """The solver's model source: ``(candidates, warnings)`` for a measured pattern.

    ``size_angstrom``: τ (Å) the user gave; None = the estimate from the peak widths (see
    :func:`model_candidates`).
    ``checkpoint``: a loaded :class:`PXRDSolveModel`, a checkpoint path, or None (the shipped default
    if there is one, else no model candidates).  A model that cannot serve the composition or
    pattern gives a warning and no candidates; an unreadable checkpoint raises :class:`InputError`.
    """
    if n_candidates < 1:
        return [], []
    if checkpoint is None:
        checkpoint = default_checkpoint()
        if checkpoint is None:
            return [], []
    model = checkpoint if isinstance(checkpoint, PXRDSolveModel) else load_solver_model(checkpoint, device)
    reason = skip_reason(model, composition)
    if reason is not None:
        return [], [f"model candidates skipped: {reason}"]
    from pxrdsolve.patterns import prepare_for_model

    prepared = prepare_for_model(measured, instrument_fwhm_q=instrument_fwhm_q)
    if not prepared.mask.any():
        return [], ["model candidates skipped: the measured Q range does not cover the model's grid"]
    cands = model_candidates(model, prepared, composition, n_candidates=n_candidates, steps=steps, seed=seed,
                             device=device, size_angstrom=size_angstrom)
    return cands, []
