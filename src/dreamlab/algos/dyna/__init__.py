"""Dyna (Sutton 1990, 1991): Dyna-Q, Dyna-Q+ and prioritized sweeping with a learned tabular model."""

from __future__ import annotations

from dreamlab.algos.dyna.config import PRESETS, DynaConfig
from dreamlab.algos.dyna.demo import demo
from dreamlab.algos.dyna.model import TabularModel
from dreamlab.algos.dyna.train import evaluate, learned_model, policy, train
from dreamlab.train.system import SystemSpec

__all__ = ["PRESETS", "SYSTEM", "DynaConfig", "TabularModel", "learned_model"]

SYSTEM = SystemSpec(
    name="dyna",
    paradigm="Dyna (the origin)",
    description="Dyna-Q, Dyna-Q+ and prioritized sweeping: a learned tabular model drives planning",
    config=DynaConfig,
    presets=PRESETS,
    default_env="dyna_maze",
    envs=("dyna_maze", "blocking_maze", "shortcut_maze", "FrozenLake-v1", "CliffWalking-v1"),
    train=train,
    evaluate=evaluate,
    policy=policy,
    demo=demo,
)
