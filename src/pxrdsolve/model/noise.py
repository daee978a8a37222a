"""Noise schedule for fractional coordinates: geometric σ ladder and the wrapped-normal score.

Kept apart from the score network (:mod:`~pxrdsolve.model.decoder`) and the sampler
(:mod:`~pxrdsolve.model.sampler`).  Fractional coordinates live on the unit torus, so the
perturbation x̃ = (x + σ ε) mod 1 has the wrapped-normal density
p(d) ∝ Σ_k exp(-(d + k)² / 2σ²) in each of the three coordinates, with score
∇ log p(d) = -Σ_k (d + k) w_k / (σ² Σ_k w_k), w_k = exp(-(d + k)² / 2σ²).
σ is in fractional units (cell edge = 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pxrdsolve.model.config import NoiseConfig


def geometric_sigmas(sigma_max: float, sigma_min: float, num_levels: int) -> torch.Tensor:
    """(L,) float64 σ_i = σ_max · (σ_min/σ_max)^(i/(L-1)), i = 0..L-1, largest first."""
    if num_levels == 1:
        return torch.tensor([sigma_min], dtype=torch.float64)
    i = torch.arange(num_levels, dtype=torch.float64)
    return sigma_max * (sigma_min / sigma_max) ** (i / (num_levels - 1))


def wrap_delta(delta: torch.Tensor) -> torch.Tensor:
    """Map fractional differences into [-0.5, 0.5)."""
    return delta - torch.floor(delta + 0.5)


def wrapped_normal_score(delta: torch.Tensor, sigma: torch.Tensor, wrap_terms: int = 3) -> torch.Tensor:
    """Score ∇_d log p(d) of the wrapped normal at displacement ``delta`` (any shape, fractional).

    ``sigma`` broadcasts against ``delta``.  Uses images k = -wrap_terms..wrap_terms of the
    displacement wrapped into [-0.5, 0.5); units 1/fractional.
    """
    d = wrap_delta(delta).unsqueeze(-1)
    k = torch.arange(-wrap_terms, wrap_terms + 1, dtype=delta.dtype, device=delta.device)
    s = sigma.unsqueeze(-1) if isinstance(sigma, torch.Tensor) else torch.as_tensor(sigma)
    dk = d + k
    logw = -(dk**2) / (2.0 * s**2)
    w = torch.softmax(logw, dim=-1)
    return -(dk * w).sum(-1) / (s.squeeze(-1) ** 2)


@dataclass(frozen=True)
class NoiseSchedule:
    """The σ ladder (float64 tensor, largest first) and the perturbation used in training."""

    sigmas: torch.Tensor
    wrap_terms: int = 3
    langevin_steps: int = 100
    langevin_eps: float = 2e-5

    @classmethod
    def from_config(cls, cfg: NoiseConfig) -> NoiseSchedule:
        return cls(geometric_sigmas(cfg.sigma_max, cfg.sigma_min, cfg.num_levels), cfg.wrap_terms,
                   cfg.langevin_steps, cfg.langevin_eps)

    @property
    def num_levels(self) -> int:
        return int(self.sigmas.numel())

    def sample_levels(self, num: int, device: torch.device | str, generator: torch.Generator | None = None
                      ) -> torch.Tensor:
        """(num,) random level indices, uniform over the ladder."""
        return torch.randint(0, self.num_levels, (num,), device=device, generator=generator)

    def sigma_of(self, levels: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """σ (fractional) of level indices."""
        return self.sigmas.to(device=levels.device, dtype=dtype)[levels]

    def perturb(self, frac: torch.Tensor, sigma_per_atom: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Noisy coordinates in [0, 1) and the training target σ·score (N, 3), dimensionless.

        The target σ·∇ log p is about -ε for small σ, so it has unit scale at every level.
        """
        eps = torch.randn(frac.shape, device=frac.device, dtype=frac.dtype, generator=generator)
        sig = sigma_per_atom.unsqueeze(-1)
        delta = sig * eps
        noisy = torch.remainder(frac + delta, 1.0)
        target = sig * wrapped_normal_score(delta, sig.expand_as(delta), self.wrap_terms)
        return noisy, target

    def step_size(self, level: int, steps: int | None = None, cap: float = 1.0) -> float:
        """Langevin step α_i (fractional units²) for ``steps`` per level (None = ``langevin_steps``):
        eps·(σ_i/σ_min)²·langevin_steps/steps, at most cap·σ_i² (see :mod:`~pxrdsolve.model.sampler`)."""
        steps = steps or self.langevin_steps
        alpha = self.langevin_eps * (self.sigmas[level] / self.sigmas[-1]) ** 2 * self.langevin_steps / steps
        return float(min(alpha, cap * self.sigmas[level] ** 2))
