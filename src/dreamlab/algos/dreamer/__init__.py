"""DreamerV3 (Hafner et al., Nature 2025): an RSSM world model with categorical latents, and an
actor and a critic trained on trajectories imagined in its latent space."""

from __future__ import annotations

from dreamlab.algos.dreamer.config import PRESETS, SIZES, DreamerConfig
from dreamlab.algos.dreamer.train import Dreamer, EnvInfo
from dreamlab.algos.dreamer.train import evaluate as _evaluate
from dreamlab.algos.dreamer.train import train as _train
from dreamlab.algos.dreamer.video import imagination_video
from dreamlab.train.system import SystemSpec

__all__ = ["PRESETS", "SIZES", "SYSTEM", "Dreamer", "DreamerConfig", "EnvInfo"]

SYSTEM = SystemSpec(
    name="dreamer",
    paradigm="implicit (latent dynamics + actor-critic in imagination)",
    description="DreamerV3: RSSM with categorical latents, actor and critic trained in imagination",
    config=DreamerConfig,
    presets=PRESETS,
    default_env="cartpole",
    envs=("cartpole", "pendulum", "dmc/cartpole_balance", "dmc/cartpole_swingup"),
    train=_train,
    evaluate=_evaluate,
    dream=imagination_video,
)
