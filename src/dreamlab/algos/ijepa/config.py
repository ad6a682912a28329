"""I-JEPA's settings; the presets are the ones the benchmarks use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PRESETS", "IJEPAConfig"]


@dataclass(frozen=True)
class IJEPAConfig:
    """Everything that shapes an I-JEPA run (defaults: the ``shapes`` preset)."""

    # data
    image_size: int = 32
    """Images are square, ``image_size`` pixels a side."""
    train_images: int = 4000
    """Images to pretrain on (and to fit the probes on); ``digits`` has 1,437 at most."""
    test_images: int = 1000
    """Held-out images the probes are scored on; ``digits`` has 360 at most."""
    data_seed: int = 0
    """Seed of the procedural images and of the train/test split."""
    colours: int = 12
    """``shapes`` only: colour classes, hues evenly spaced on the circle. On the textured
    background random weights read 6 colours (60 degrees apart) at 91%, which leaves no room for
    a 10-point gain, and 12 (30 degrees apart) at 72%."""
    background: Literal["plain", "texture"] = "texture"
    """The shapes' background (``dreamlab.data.shapes``): on ``plain`` grey, random weights
    already read colour at 100% and size at ~90%, which leaves no room to show a gain."""
    # networks
    patch: int = 4
    """Patch side in pixels: 32 / 4 gives an 8 x 8 grid."""
    width: int = 96
    """D, the encoder's token width (divisible by 4 and by ``heads``)."""
    depth: int = 4
    heads: int = 3
    pred_width: int = 48
    """Dp, the predictor's narrower width (divisible by 4 and by ``pred_heads``)."""
    pred_depth: int = 2
    pred_heads: int = 3
    mlp_ratio: float = 4.0
    embed_std: float = 0.08
    """Std of the patch embedding's initial weights. ViTs use 0.02 on 16 x 16 x 3 = 768 inputs;
    on 4 x 4 x 3 = 48 inputs that leaves a patch's content at 4% of a token's variance, drowned
    by the positional embedding, and I-JEPA then learns little of it. 0.08 = 0.02 sqrt(768 / 48)
    gives the tokens the paper's scale of content (a third of the variance here)."""
    # masking
    n_targets: int = 4
    """M, target blocks per image."""
    target_scale: tuple[float, float] = (0.15, 0.2)
    target_aspect: tuple[float, float] = (0.75, 1.5)
    context_scale: tuple[float, float] = (0.85, 1.0)
    min_keep: int = 10
    """Fewest context patches an image may keep once the targets are removed."""
    # objective
    objective: Literal["jepa", "mae"] = "jepa"
    """``jepa``: predict the EMA target encoder's features of the target blocks (I-JEPA);
    ``mae``: reconstruct their per-patch normalised pixels with the predictor as a light decoder
    (the masked-autoencoder baseline; no target encoder, probes read the online encoder)."""
    loss: Literal["l2", "smooth_l1"] = "l2"
    """The paper's (squared) L2, or the released code's smooth L1 (``jepa`` only: ``mae`` uses
    the MSE on pixels)."""
    ema_start: float = 0.996
    ema_end: float = 1.0
    # optimisation
    batch: int = 128
    steps: int = 3000
    """Updates: 3,000 take ~25 min on one core. In exploratory runs shape gained +0.10 over
    random weights after 2,000 and +0.13 after 3,200."""
    lr: float = 2.5e-4
    """Peak learning rate of AdamW, reached after the warm-up. The paper's 1e-3 is for batches
    of 2,048; at 128 on the textured shapes the loss fell to 0.0015 within 350 updates while
    the target features' spread across images shrank threefold: the targets went near-constant."""
    lr_start: float = 2.5e-5
    """Learning rate at step 0, raised linearly to ``lr`` over ``warmup_steps``."""
    lr_end: float = 1e-6
    """Learning rate at the last step, after a cosine decay from ``lr``."""
    warmup_steps: int = 200
    weight_decay: float = 0.04
    """AdamW weight decay on weight matrices (biases, norms and the mask token get none)."""
    # probes and bookkeeping
    probe_epochs: int = 300
    """Full-batch Adam steps of the linear probe."""
    probe_lr: float = 0.01
    log_every: int = 50
    checkpoint_every: int = 500
    seed: int = 0
    threads: int = 1
    """torch threads: small networks are fastest on one."""


PRESETS: dict[str, IJEPAConfig] = {
    "shapes": IJEPAConfig(),
    "debug": IJEPAConfig(
        train_images=256,
        test_images=128,
        width=32,
        depth=1,
        heads=2,
        pred_width=16,
        pred_depth=1,
        pred_heads=2,
        batch=16,
        steps=30,
        warmup_steps=5,
        probe_epochs=50,
        log_every=10,
        checkpoint_every=20,
    ),
}
