"""Run a policy (or uniform random actions) in a gymnasium environment and store the episodes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np

from dreamlab.data.episodes import EpisodeBuilder, EpisodeStore
from dreamlab.errors import DreamlabError
from dreamlab.train.progress import progress_bar

__all__ = ["CollectPolicy", "collect"]

CollectPolicy = Callable[[Any, np.random.Generator], Any]
"""A policy for collection: (observation as the env returned it, rng) -> action for ``env.step``."""


def collect(
    env: gymnasium.Env,
    episodes: int,
    store: EpisodeStore,
    policy: CollectPolicy | None = None,
    seed: int = 0,
    max_steps: int | None = None,
    progress: bool | None = None,
) -> dict[str, float]:
    """Run ``episodes`` episodes in ``env`` and add them to ``store`` (flushed at the end).

    Actions come from ``policy(obs, rng)`` with ``rng = np.random.default_rng(seed)``, or are
    drawn uniformly from ``env.action_space`` seeded with ``seed``; the first reset is seeded with
    ``seed`` too, so the same seed gives the same episodes. Episodes are cut (truncated, not
    terminal) after ``max_steps`` steps when given. Observations are stored as the env returns
    them (Discrete observations as int64, image frames as uint8).

    Returns ``{"episodes", "steps", "mean_return", "seconds"}``.
    """
    if episodes < 0:
        raise DreamlabError(f"collect needs a non-negative number of episodes, got {episodes}")
    if max_steps is not None and max_steps < 1:
        raise DreamlabError(f"max_steps must be at least 1, got {max_steps}")
    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    builder = EpisodeBuilder(env.action_space)
    returns: list[float] = []
    steps = 0
    began = time.perf_counter()
    with progress_bar(episodes, "collect", enabled=progress) as bar:
        for i in range(episodes):
            # Seed only the first reset: later resets continue the env's own random stream.
            obs, _ = env.reset(seed=seed if i == 0 else None)
            builder.start(obs)
            done = False
            while not done:
                action = env.action_space.sample() if policy is None else policy(obs, rng)
                obs, reward, terminated, truncated, _ = env.step(action)
                cut = max_steps is not None and builder.steps + 1 >= max_steps
                builder.add(action, obs, float(reward), terminated, truncated or cut)
                done = bool(terminated or truncated or cut)
            episode = builder.finish()
            store.add(episode)
            returns.append(episode.ret)
            steps += episode.steps
            bar.advance()
            bar.status(f"return {episode.ret:.2f}")
    store.flush()
    return {
        "episodes": episodes,
        "steps": steps,
        "mean_return": float(np.mean(returns)) if returns else 0.0,
        "seconds": time.perf_counter() - began,
    }
