"""MuZero (Schrittwieser et al. 2020) and Gumbel MuZero (Danihelka et al. 2022): planning by tree
search inside a learned latent model of representation h, dynamics g and prediction f."""

from __future__ import annotations

from dreamlab.algos.muzero.config import PRESETS, MuZeroConfig
from dreamlab.algos.muzero.networks import MuZeroNet, scale_gradient, scale_latent
from dreamlab.algos.muzero.picture import search_tree_picture
from dreamlab.algos.muzero.replay import Game, GameReplay, TargetPlan
from dreamlab.algos.muzero.train import evaluate as _evaluate
from dreamlab.algos.muzero.train import train as _train
from dreamlab.train.system import SystemSpec

__all__ = [
    "PRESETS",
    "SYSTEM",
    "Game",
    "GameReplay",
    "MuZeroConfig",
    "MuZeroNet",
    "TargetPlan",
    "scale_gradient",
    "scale_latent",
]

SYSTEM = SystemSpec(
    name="muzero",
    paradigm="implicit (value-equivalent model + tree search)",
    description="MuZero / Gumbel MuZero: h, g, f networks, batched MCTS in latent space, Reanalyze",
    config=MuZeroConfig,
    presets=PRESETS,
    default_env="cartpole",
    envs=("cartpole", "CartPole-v1", "tictactoe"),
    train=_train,
    evaluate=_evaluate,
    dream=search_tree_picture,
)
