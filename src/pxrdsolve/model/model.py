"""The full model: crystal encoder, PXRD encoder, heads, PXRD regressor and score decoder.

:meth:`PXRDSolveModel.losses` computes every training term for one batch:

* ``kl`` - KL(q(z|crystal) ‖ N(0, I)), mean over crystals;
* ``natoms`` - cross entropy of the atom count; ``composition`` - KL(true fractions ‖ predicted)
  (the cross entropy minus the true fractions' entropy, so a perfect fit scores 0);
* ``lattice`` - MSE of the 6 normalised lattice parameters (conditioned on the true N);
* ``coord`` - denoising score matching of fractional coordinates at a random σ level per crystal
  (types and lattice teacher-forced), mean squared error per atom and axis;
* ``pxrd`` - L1 between the regressor's pattern at the sample's τ and the clean (unmasked) simulated
  pattern at that τ;
* ``pxrd_encoder`` - KL(q(z|crystal) (detached) ‖ q(z|pattern)) for the amortised PXRD encoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pxrdsolve.crystal import CrystalBatch
from pxrdsolve.model.config import Config
from pxrdsolve.model.decoder import ScoreDecoder
from pxrdsolve.model.encoder import CrystalEncoder
from pxrdsolve.model.geometry import composition_vector, normalized_lattice_params
from pxrdsolve.model.heads import CompositionHead, LatticeHead, NumAtomsHead, PXRDRegressor
from pxrdsolve.model.noise import NoiseSchedule
from pxrdsolve.model.pxrd_encoder import PXRDEncoder

LOSS_NAMES = ("natoms", "coord", "lattice", "composition", "kl", "pxrd", "pxrd_encoder")


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor | None = None,
                logvar_p: torch.Tensor | None = None) -> torch.Tensor:
    """KL(N(μ_q, σ_q²) ‖ N(μ_p, σ_p²)) summed over latent dims, (B,); p defaults to N(0, I)."""
    if mu_p is None:
        mu_p = torch.zeros_like(mu_q)
    if logvar_p is None:
        logvar_p = torch.zeros_like(logvar_q)
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0).sum(-1)


class PXRDSolveModel(nn.Module):
    """CDVAE-style latent model conditioned on PXRD; see the module docstring for the losses."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        m = config.model
        self.encoder = CrystalEncoder(m)
        self.pxrd_encoder = PXRDEncoder(m)
        self.lattice_head = LatticeHead(m)
        self.natoms_head = NumAtomsHead(m)
        self.composition_head = CompositionHead(m)
        self.pxrd_regressor = PXRDRegressor(m)
        self.decoder = ScoreDecoder(m)
        self.schedule = NoiseSchedule.from_config(config.noise)

    def composition(self, crystals: CrystalBatch) -> torch.Tensor:
        """(B, num_elements) atom fractions."""
        return composition_vector(crystals.atomic_numbers, crystals.batch, crystals.num_crystals,
                                  self.config.model.num_elements).to(crystals.lattice.device,
                                                                     self.decoder.embed.weight.dtype)

    def encode(self, crystals: CrystalBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | crystal): ``(mu, logvar)``."""
        return self.encoder(crystals)

    def encode_pattern(self, pattern: torch.Tensor, mask: torch.Tensor, composition: torch.Tensor,
                       num_atoms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | pattern, mask, composition): ``(mu, logvar)``."""
        return self.pxrd_encoder(pattern, mask, composition, num_atoms)

    def score(self, z: torch.Tensor, atomic_numbers: torch.Tensor, frac: torch.Tensor,
              lattice: torch.Tensor, num_atoms: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Score ∇ log p of noisy coordinates (N, 3), 1/fractional units (network output / σ)."""
        out = self.decoder(z, atomic_numbers, frac, lattice, num_atoms, sigma)
        batch = torch.repeat_interleave(torch.arange(z.shape[0], device=z.device), num_atoms)
        return out / sigma.to(out.dtype)[batch].unsqueeze(-1)

    def losses(self, crystals: CrystalBatch, pattern: torch.Tensor, mask: torch.Tensor,
               clean_pattern: torch.Tensor, generator: torch.Generator | None = None,
               size_angstrom: torch.Tensor | float = float("inf")) -> dict[str, torch.Tensor]:
        """Every loss term (scalars) plus ``total`` (weighted sum) for one batch.

        ``pattern``/``mask`` (B, 512) are the encoder input (noisy, possibly Q-cut); ``clean_pattern``
        (B, 512) is the regressor target, simulated at crystallite sizes ``size_angstrom`` (Å, (B,) or
        one value; inf = bulk), which the regressor is given.  Randomness comes from ``generator`` only.
        """
        dev = crystals.lattice.device
        dtype = self.decoder.embed.weight.dtype
        crystals = crystals.to(dtype=dtype)
        nb = crystals.num_crystals
        comp = self.composition(crystals)
        mu, logvar = self.encode(crystals)
        eps = torch.randn(mu.shape, device=dev, dtype=dtype, generator=generator)
        z = mu + torch.exp(0.5 * logvar) * eps
        out: dict[str, torch.Tensor] = {"kl": gaussian_kl(mu, logvar).mean()}
        out["natoms"] = F.cross_entropy(self.natoms_head(z), crystals.num_atoms.clamp_max(
            self.config.model.max_atoms))
        logp = F.log_softmax(self.composition_head(z), -1)
        out["composition"] = (comp * (torch.log(comp.clamp_min(1e-12)) - logp)).sum(-1).mean()
        target_lat = normalized_lattice_params(crystals.lattice, crystals.num_atoms)
        out["lattice"] = F.mse_loss(self.lattice_head(z, crystals.num_atoms), target_lat)
        levels = self.schedule.sample_levels(nb, dev, generator)
        sigma = self.schedule.sigma_of(levels, dtype)
        sigma_atom = sigma[crystals.batch]
        noisy, target = self.schedule.perturb(crystals.frac, sigma_atom, generator)
        pred = self.decoder(z, crystals.atomic_numbers, noisy, crystals.lattice, crystals.num_atoms, sigma)
        out["coord"] = F.mse_loss(pred, target)
        out["pxrd"] = F.l1_loss(self.pxrd_regressor(z, size_angstrom), clean_pattern.to(dtype))
        mu_p, logvar_p = self.encode_pattern(pattern.to(dtype), mask, comp, crystals.num_atoms)
        out["pxrd_encoder"] = gaussian_kl(mu.detach(), logvar.detach(), mu_p, logvar_p).mean()
        w = self.config.loss
        out["total"] = sum(getattr(w, name) * out[name] for name in LOSS_NAMES)
        return out


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
