"""What the CLI needs to know about a system: its config, presets and entry points."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dreamlab.train.run import RunDir

__all__ = ["SystemSpec"]

TrainFn = Callable[[Any, str, RunDir, bool], dict[str, Any]]
"""train(config, env name, run directory, resume) -> summary of the run."""
EvalFn = Callable[[RunDir, int], dict[str, Any]]
"""evaluate(run directory, episodes) -> evaluation metrics (keys like ``eval/return``)."""
PolicyFn = Callable[[RunDir], Callable[[Any, Any], Any]]
"""policy(run directory) -> act(obs, rng) -> action, for ``dreamlab collect --policy RUN``."""
DemoFn = Callable[[Path], dict[str, Any]]
"""demo(output folder) -> summary; trains a model and writes its dream next to reality."""
DreamFn = Callable[[RunDir, int, int], dict[str, Any]]
"""dream(run directory, frames, seed) -> summary; writes the trained model's dream videos."""


@dataclass(frozen=True)
class SystemSpec:
    """One trainable system as the CLI sees it. Each ``algos/<system>/__init__.py`` defines ``SYSTEM``."""

    name: str
    paradigm: str
    description: str
    config: type
    presets: dict[str, Any]
    default_env: str
    envs: tuple[str, ...]
    """Environments the system is known to work on (others are tried but not promised)."""
    train: TrainFn
    evaluate: EvalFn
    policy: PolicyFn | None = None
    demo: DemoFn | None = None
    dream: DreamFn | None = None
    datasets: tuple[str, ...] = ()
    """For systems that learn from a fixed data set rather than an environment: the names
    ``--env`` accepts (nothing else is)."""
