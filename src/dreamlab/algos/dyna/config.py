"""Dyna's configuration: one frozen dataclass and its named presets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PRESETS", "DynaConfig"]


@dataclass(frozen=True)
class DynaConfig:
    """Tabular Dyna (Sutton & Barto 2nd ed., ch. 8). Defaults are the book's Dyna Maze settings."""

    variant: Literal["dyna_q", "dyna_q_plus", "prioritized_sweeping"] = "dyna_q"
    """Which member of the family: Dyna-Q, Dyna-Q+ (exploration bonus), or prioritized sweeping."""
    planning_steps: int = 5
    """n: simulated updates from the learned model after every real step (0 is plain Q-learning)."""
    alpha: float = 0.1
    """Step size of every Q update."""
    gamma: float = 0.95
    """Discount factor."""
    epsilon: float = 0.1
    """Probability of a uniformly random action when acting (epsilon-greedy, ties broken at random)."""
    kappa: float = 1e-3
    """Dyna-Q+ bonus weight: planning reward r + kappa * sqrt(steps since the pair was last tried)."""
    theta: float = 1e-4
    """Prioritized sweeping: pairs whose priority (|TD error|) is not above theta are not queued."""
    episodes: int = 50
    """Number of episodes to run (the run also stops at max_steps, whichever comes first)."""
    max_steps: int = 0
    """Stop after this many real steps (the book's time axis for the changing mazes); 0 = no limit."""
    seed: int = 0
    """Seed of the acting and planning random streams (separate, so episode 1 is the same for all n)."""
    checkpoint_every: int = 10
    """Write a checkpoint every this many episodes (and at the end)."""
    eval_episodes: int = 10
    """Greedy episodes run by `dreamlab eval`."""


PRESETS: dict[str, DynaConfig] = {
    # Example 8.1 / Figure 8.2: the Dyna Maze, n = 50.
    "fig8_2": DynaConfig(planning_steps=50, episodes=50),
    # Example 8.2 / Figure 8.4: the blocking maze, 3000 steps.
    "blocking": DynaConfig(
        variant="dyna_q_plus",
        planning_steps=10,
        alpha=1.0,
        kappa=1e-4,
        episodes=10_000,
        max_steps=3000,
    ),
    # Example 8.3 / Figure 8.5: the shortcut maze, 6000 steps.
    "shortcut": DynaConfig(
        variant="dyna_q_plus",
        planning_steps=50,
        alpha=1.0,
        kappa=1e-3,
        episodes=10_000,
        max_steps=6000,
    ),
    # Example 8.4: prioritized sweeping.
    "sweeping": DynaConfig(variant="prioritized_sweeping", planning_steps=5, alpha=0.5),
    # A few seconds, for tests and the demo.
    "debug": DynaConfig(planning_steps=5, episodes=5, checkpoint_every=1),
}
