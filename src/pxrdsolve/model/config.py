"""Model, noise, loss, augmentation and training configuration: nested frozen dataclasses.

A :class:`Config` serialises to JSON (:meth:`Config.to_json`) and back (:meth:`Config.from_json`);
the JSON is stored in every dataset and checkpoint file.  Three presets:

* ``tiny`` - tests; trains in seconds on a CPU;
* ``small`` - useful after about an hour on a 2-core CPU;
* ``paper`` - PXRDNet-sized (hidden 128/256, latent 256, 50 noise levels, batch 256).

Units: fractional-coordinate noise σ is in fractional units (the cell edge = 1); crystallite
sizes τ are in Å (PXRDNet's sinc² convention); Q in Å⁻¹; Gaussian widths in 4096-grid bins.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

NUM_ELEMENTS = 100  # Z = 1..100 are representable; index = Z - 1


@dataclass(frozen=True)
class ModelConfig:
    """Network sizes."""

    hidden: int = 128  # node/edge width of the encoder and score decoder
    latent: int = 256  # latent dimension z
    encoder_layers: int = 4
    decoder_layers: int = 4
    num_freqs: int = 32  # Fourier frequencies k = 1..num_freqs of fractional differences
    time_embed: int = 32  # sinusoidal embedding width of log σ
    max_atoms: int = 20  # largest cell (atoms) the atom-count head can predict
    num_elements: int = NUM_ELEMENTS
    pxrd_points: int = 512  # model-input pattern length (PXRDNet's 512-point Q grid)
    pxrd_channels: int = 32  # first conv width of the PXRD encoder (doubles per stage, max 4x)
    pxrd_hidden: int = 256  # MLP width of the PXRD encoder and the PXRD regressor


@dataclass(frozen=True)
class NoiseConfig:
    """Geometric σ ladder for fractional coordinates and the annealed Langevin sampler."""

    sigma_max: float = 0.5  # fractional units (wrapped normal on the unit torus)
    sigma_min: float = 0.005
    num_levels: int = 50
    wrap_terms: int = 3  # images k = -wrap_terms..wrap_terms in the wrapped-normal sums
    langevin_steps: int = 100  # steps per noise level
    langevin_eps: float = 2e-5  # step α_i = eps · (σ_i / σ_min)², fractional units²


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (PXRDNet's: natoms 1, coord 10, lattice 10, comp 1, KL 0.01, PXRD 1)."""

    natoms: float = 1.0
    coord: float = 10.0
    lattice: float = 10.0
    composition: float = 1.0
    kl: float = 0.01
    pxrd: float = 1.0
    pxrd_encoder: float = 0.1  # KL(q_crystal(z) ‖ q_pxrd(z)), trains the amortised PXRD encoder


@dataclass(frozen=True)
class AugmentConfig:
    """On-the-fly PXRD simulation of every training batch."""

    simulator: str = "pxrdnet"  # "pxrdnet" (pxrdsolve.diffraction) or "toy" (tests without it)
    wavelength_angstrom: float = 1.54184
    size_min_angstrom: float = 5.0  # τ drawn log-uniform in [size_min, size_max]
    size_max_angstrom: float = 200.0
    bulk_fraction: float = 0.2  # fraction of samples with τ = inf (no size broadening)
    sigma_bins_min: float = 40.96  # Gaussian instrument σ in 4096-grid bins, uniform in [min, max]
    sigma_bins_max: float = 45.06
    noise_std: float = 1e-3
    mask_fraction: float = 0.3  # fraction of samples whose Q range is cut at a random Q_max
    mask_q_min: float = 2.5  # Å⁻¹, lowest random cut
    full_q_max: float = 5.7632  # Å⁻¹, Q at 2θ = 90° for Cu Kα: PXRDNet patterns are zero above
    cache_peaks: bool = True  # compute each structure's peaks once (pxrdnet simulator), broaden per step


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule and bookkeeping."""

    batch_size: int = 256
    lr: float = 5e-4
    min_lr_ratio: float = 0.01  # cosine floor as a fraction of lr
    warmup_steps: int = 1000
    total_steps: int = 200_000
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0  # max global gradient norm
    ema_decay: float = 0.999
    checkpoint_every: int = 2000  # steps
    log_every: int = 50  # steps between JSONL lines
    val_batches: int = 20  # validation batches per evaluation (0 = whole split)
    val_every: int = 0  # steps between validations (0 = once per epoch)


@dataclass(frozen=True)
class Config:
    """Everything that defines a model and its training."""

    preset: str = "paper"
    model: ModelConfig = field(default_factory=ModelConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        return _from_dict(cls, data)

    @classmethod
    def from_json(cls, text: str) -> Config:
        return cls.from_dict(json.loads(text))

    def replace(self, **sections: Any) -> Config:
        """Copy with sections replaced; a dict value updates fields of that section."""
        changes = {}
        for name, value in sections.items():
            current = getattr(self, name)
            changes[name] = dataclasses.replace(current, **value) if isinstance(value, dict) else value
        return dataclasses.replace(self, **changes)


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build dataclass ``cls`` from a dict, recursing into nested dataclasses; unknown keys fail."""
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"unknown config keys for {cls.__name__}: {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    defaults = cls()
    for name, value in data.items():
        current = getattr(defaults, name)
        if is_dataclass(current):
            kwargs[name] = _from_dict(type(current), value)
        elif isinstance(current, tuple):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def preset(name: str) -> Config:
    """The named preset: ``tiny``, ``small`` or ``paper``."""
    if name == "paper":
        return Config(preset="paper")
    if name == "small":
        return Config(
            preset="small",
            model=ModelConfig(hidden=64, latent=64, encoder_layers=3, decoder_layers=3, num_freqs=16,
                              time_embed=16, pxrd_channels=16, pxrd_hidden=128),
            noise=NoiseConfig(num_levels=30, langevin_steps=30),
            train=TrainConfig(batch_size=32, lr=1e-3, warmup_steps=200, total_steps=10_000,
                              checkpoint_every=500, log_every=20, val_batches=10, ema_decay=0.995),
        )
    if name == "tiny":
        return Config(
            preset="tiny",
            model=ModelConfig(hidden=32, latent=16, encoder_layers=2, decoder_layers=2, num_freqs=4,
                              time_embed=8, pxrd_channels=4, pxrd_hidden=32),
            noise=NoiseConfig(num_levels=10, langevin_steps=5),
            train=TrainConfig(batch_size=4, lr=3e-3, warmup_steps=5, total_steps=200, checkpoint_every=50,
                              log_every=1, val_batches=2, ema_decay=0.9, weight_decay=0.0),
        )
    raise ValueError(f"unknown preset {name!r}: use tiny, small or paper")


PRESETS = ("tiny", "small", "paper")
