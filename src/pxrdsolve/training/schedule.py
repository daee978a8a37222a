"""Learning-rate schedule as a pure function of the step: linear warmup, then cosine decay."""

from __future__ import annotations

import math

from pxrdsolve.model.config import TrainConfig


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate at optimizer step ``step`` (0-based).

    Warmup: lr·(step+1)/warmup_steps for step < warmup_steps; then cosine from lr down to
    lr·min_lr_ratio at ``total_steps``; constant at the floor afterwards.
    """
    base, floor = config.lr, config.lr * config.min_lr_ratio
    if step < config.warmup_steps:
        return base * (step + 1) / config.warmup_steps
    span = max(config.total_steps - config.warmup_steps, 1)
    t = min((step - config.warmup_steps) / span, 1.0)
    return floor + 0.5 * (base - floor) * (1.0 + math.cos(math.pi * t))


def ema_decay_at(step: int, decay: float) -> float:
    """EMA decay with a short ramp, min(decay, (1 + step)/(10 + step)), so early weights fade fast."""
    return min(decay, (1.0 + step) / (10.0 + step))
