"""The two pieces a simulator needs to become a world model: a state adapter and, optionally, a batched step.

A ``StateAdapter`` saves and restores the full state of one real env as a float64 vector [D]; that is
all the generic loop backend needs. A ``BatchedSim`` steps B such vectors at once (vectorised numpy for
classic control and the mazes, MuJoCo's thread pool for MuJoCo) and must agree with the real env's
``step`` exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

__all__ = ["BatchedSim", "StateAdapter"]


@dataclass(frozen=True)
class StateAdapter:
    """How to save and restore the full state of an env (the unwrapped env is passed to both).

    ``get_state(env) -> float64 [D]`` must capture everything the env's ``step`` depends on, and
    ``set_state(env, z)`` must put it back so that stepping the env continues exactly as the original
    would. ``from_obs(obs [B, ...]) -> float64 [B, D]`` is given only where the observation determines
    the state exactly.
    """

    get_state: Callable[[Any], np.ndarray]
    set_state: Callable[[Any, np.ndarray], None]
    from_obs: Callable[[Any, np.ndarray], np.ndarray] | None = None


class BatchedSim(Protocol):
    """B simulator states stepped at once, with the env's own rewards and termination."""

    def step(self, z: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """z float64 [B, D] and a_t ([B] int64, or [B, A] in the action space's dtype) ->
        (z_{t+1} float64 [B, D] as a new array, reward float64 [B], terminated bool [B])."""
        ...

    def observation(self, z: np.ndarray) -> np.ndarray:
        """The env's observation of each state, [B, ...] in the env's observation dtype."""
        ...
