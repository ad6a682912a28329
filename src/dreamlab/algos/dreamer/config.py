"""DreamerV3's settings: one set of hyperparameters, a preset per model size.

The presets differ only in network sizes (Hafner et al. 2025, Table of model sizes); everything else
is the paper's and is shared by every task. Per-domain settings the paper itself varies (action
repeat, train ratio) are config fields the caller sets, not presets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["PRESETS", "SIZES", "DreamerConfig"]


@dataclass(frozen=True)
class DreamerConfig:
    """Everything that shapes a DreamerV3 run (defaults: the paper's, size 1m)."""

    # world model sizes (see SIZES)
    deter: int = 512
    """Size of the deterministic GRU state h_t."""
    hidden: int = 64
    """Width of the RSSM's input and prior/posterior layers."""
    stoch: int = 32
    """Categorical latent groups of z_t."""
    classes: int = 4
    """Classes per latent group."""
    blocks: int = 8
    """Blocks of the block-diagonal GRU."""
    units: int = 64
    """Width of the encoder, decoder, heads, actor and critic MLPs."""
    depth: int = 4
    """Channel multiplier of the image encoder and decoder (channels depth x (2, 3, 4, 4))."""
    mlp_layers: int = 3
    """Hidden layers of the vector encoder/decoder, actor and critic (reward and continue: 1)."""
    unimix: float = 0.01
    """Share of the uniform distribution mixed into latents and discrete actions."""
    bins: int = 255
    """Two-hot bins of the reward and critic heads (symlog space, -20 .. 20)."""
    # world model loss
    free_nats: float = 1.0
    dyn_scale: float = 1.0
    """Weight of the dynamics KL (0.5 in the 2023 preprint, 1.0 in the Nature version)."""
    rep_scale: float = 0.1
    # imagination and actor-critic
    horizon: int = 333
    """Discount horizon: gamma = 1 - 1 / horizon."""
    imag_length: int = 15
    return_lambda: float = 0.95
    actor_entropy: float = 3e-4
    slow_critic_rate: float = 0.02
    slow_reg: float = 1.0
    """Weight of the critic's regulariser toward its EMA (slow) copy."""
    repval_scale: float = 0.3
    """Weight of the critic loss on replayed trajectories."""
    retnorm_rate: float = 0.01
    min_std: float = 0.1
    max_std: float = 1.0
    # optimisation (LaProp with adaptive gradient clipping)
    lr: float = 4e-5
    agc: float = 0.3
    eps: float = 1e-20
    warmup: int = 1000
    batch: int = 16
    length: int = 64
    train_ratio: float = 512.0
    """Replayed steps per environment step: a gradient step replays batch x length steps, so
    one update happens every batch x length / train_ratio policy steps."""
    # acting and data
    pixels: bool = False
    """Observe the environment's rendered 64x64 frames instead of its vector observation."""
    action_repeat: int = 1
    envs: int = 1
    env_steps: int = 100_000
    """Environment steps (counted after action repeat, as in the paper's plots)."""
    prefill: int = 1000
    """Environment steps of a uniform random policy before the first update."""
    replay_capacity: int = 1_000_000
    # evaluation and logging
    eval_every: int = 10_000
    eval_episodes: int = 10
    log_every: int = 1000
    stop_return: float = 0.0
    """Stop once an evaluation's mean return reaches this (0: run all ``env_steps``)."""
    seed: int = 0
    threads: int = 1
    """torch threads: the 1m and 12m models are fastest on one."""


SIZES: dict[str, dict[str, int]] = {
    # name: (deter, hidden, classes) from the paper, units and depth as in its configuration
    "1m": {"deter": 512, "hidden": 64, "classes": 4, "units": 64, "depth": 4},
    "12m": {"deter": 2048, "hidden": 256, "classes": 16, "units": 256, "depth": 16},
    "25m": {"deter": 3072, "hidden": 384, "classes": 24, "units": 384, "depth": 24},
    "50m": {"deter": 4096, "hidden": 512, "classes": 32, "units": 512, "depth": 32},
    "100m": {"deter": 6144, "hidden": 768, "classes": 48, "units": 768, "depth": 48},
    "200m": {"deter": 8192, "hidden": 1024, "classes": 64, "units": 1024, "depth": 64},
    "400m": {"deter": 12288, "hidden": 1536, "classes": 96, "units": 1536, "depth": 96},
}

PRESETS: dict[str, DreamerConfig] = {
    name: replace(DreamerConfig(), **size)
    for name, size in SIZES.items()  # type: ignore[arg-type]
}
# Tiny and quick, for tests.
PRESETS["debug"] = replace(
    DreamerConfig(),
    deter=64,
    hidden=32,
    stoch=8,
    classes=4,
    blocks=4,
    units=32,
    depth=2,
    mlp_layers=1,
    bins=31,
    imag_length=5,
    batch=4,
    length=16,
    train_ratio=64.0,
    prefill=100,
    env_steps=400,
    eval_every=200,
    eval_episodes=2,
    warmup=10,
    lr=1e-3,
)
