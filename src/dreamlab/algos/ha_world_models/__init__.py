"""Ha & Schmidhuber's World Models (2018): V (ConvVAE), M (MDN-RNN) and C (linear controller)."""

from __future__ import annotations

from dreamlab.algos.ha_world_models.config import PRESETS, HaConfig
from dreamlab.algos.ha_world_models.model import (
    MDNRNN,
    Controller,
    ConvVAE,
    HaWorldModel,
    MDNOutput,
    mdn_nll,
    sample_mdn,
    vae_loss,
)

__all__ = [
    "MDNRNN",
    "PRESETS",
    "Controller",
    "ConvVAE",
    "HaConfig",
    "HaWorldModel",
    "MDNOutput",
    "mdn_nll",
    "sample_mdn",
    "vae_loss",
]
