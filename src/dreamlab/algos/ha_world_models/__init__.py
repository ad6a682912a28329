"""Ha & Schmidhuber's World Models (2018): V (ConvVAE), M (MDN-RNN) and C (linear controller)."""

from __future__ import annotations

from dreamlab.algos.ha_world_models.config import PRESETS, HaConfig
from dreamlab.algos.ha_world_models.dream import controller_act, dream_returns
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

# Aliased, so that ``ha_world_models.train`` stays the pipeline module.
from dreamlab.algos.ha_world_models.train import evaluate as _evaluate
from dreamlab.algos.ha_world_models.train import train as _train
from dreamlab.algos.ha_world_models.video import dream_videos
from dreamlab.train.system import SystemSpec

__all__ = [
    "MDNRNN",
    "PRESETS",
    "SYSTEM",
    "Controller",
    "ConvVAE",
    "HaConfig",
    "HaWorldModel",
    "MDNOutput",
    "controller_act",
    "dream_returns",
    "mdn_nll",
    "sample_mdn",
    "vae_loss",
]


def _dream(run, frames: int, seed: int):  # type: ignore[no-untyped-def]
    return dream_videos(run, frames=frames, seed=seed)


SYSTEM = SystemSpec(
    name="world_models",
    paradigm="implicit (V-M-C)",
    description="Ha & Schmidhuber's World Models: ConvVAE V, MDN-RNN M, CMA-ES controller C, trained in the dream",
    config=HaConfig,
    presets=PRESETS,
    default_env="DoomTakeCover",
    envs=("DoomTakeCover", "CarRacing-v3"),
    train=_train,
    evaluate=_evaluate,
    dream=_dream,
)
