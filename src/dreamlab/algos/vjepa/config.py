"""V-JEPA's settings; the presets are the ones the benchmarks use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PRESETS", "VJEPAConfig"]


@dataclass(frozen=True)
class VJEPAConfig:
    """Everything that shapes a V-JEPA run (defaults: the ``sprites`` preset)."""

    # data
    frames: int = 8
    """T, frames per clip (a multiple of ``tubelet``); frames are the sprites env's 64 x 64."""
    num_objects: int = 3
    """Bouncing sprites besides the controlled agent."""
    policy: Literal["random", "uniform", "none"] = "random"
    """How the agent is driven: smooth random (Ornstein-Uhlenbeck), i.i.d. uniform, or not at all."""
    probe_train_clips: int = 1000
    """Clips the probes are fitted on (pretraining draws fresh clips every step)."""
    probe_test_clips: int = 500
    """Held-out clips the probes are scored on."""
    data_seed: int = 0
    """Seed of the probe clips (the pretraining stream is seeded from ``seed``)."""
    # networks
    patch: int = 8
    """Tubelet side in pixels: 64 / 8 gives an 8 x 8 grid per time slot."""
    tubelet: int = 2
    """Frames per tubelet: T / 2 time slots."""
    width: int = 96
    """D, the encoder's token width (divisible by 8 and by ``heads``)."""
    depth: int = 4
    heads: int = 3
    pred_width: int = 48
    """Dp, the predictor's narrower width (divisible by 8 and by ``pred_heads``)."""
    pred_depth: int = 2
    pred_heads: int = 3
    mlp_ratio: float = 4.0
    # masking: two mask sets per batch, each the union of its blocks over the whole clip
    short_blocks: int = 8
    """Blocks of the short-range mask."""
    short_scale: float = 0.15
    """Fraction of a frame's patches each short-range block covers."""
    long_blocks: int = 2
    """Blocks of the long-range mask."""
    long_scale: float = 0.7
    """Fraction of a frame's patches each long-range block covers."""
    aspect: tuple[float, float] = (0.75, 1.5)
    """Range of a block's height / width."""
    min_keep: int = 1
    """Fewest context tokens a clip may keep (V-JEPA's collator only demands one)."""
    # objective
    ema_start: float = 0.998
    ema_end: float = 1.0
    # optimisation
    batch: int = 32
    steps: int = 1500
    lr: float = 1e-3
    """Peak learning rate of AdamW, reached after the warm-up."""
    lr_start: float = 1e-4
    """Learning rate at step 0, raised linearly to ``lr`` over ``warmup_steps``."""
    lr_end: float = 1e-6
    """Learning rate at the last step, after a cosine decay from ``lr``."""
    warmup_steps: int = 150
    weight_decay: float = 0.04
    """AdamW weight decay on weight matrices (biases, norms and the mask token get none)."""
    # probes and bookkeeping
    probe_epochs: int = 300
    """Full-batch Adam steps of the linear probe."""
    probe_lr: float = 0.01
    attentive_epochs: int = 100
    """Epochs of the attentive probe (minibatches of 512)."""
    log_every: int = 50
    checkpoint_every: int = 250
    seed: int = 0
    threads: int = 1
    """torch threads: small networks are fastest on one."""


PRESETS: dict[str, VJEPAConfig] = {
    "sprites": VJEPAConfig(),
    "debug": VJEPAConfig(
        frames=4,
        probe_train_clips=96,
        probe_test_clips=64,
        width=32,
        depth=1,
        heads=2,
        pred_width=16,
        pred_depth=1,
        pred_heads=2,
        batch=4,
        steps=30,
        warmup_steps=5,
        probe_epochs=50,
        attentive_epochs=20,
        log_every=10,
        checkpoint_every=20,
    ),
}
