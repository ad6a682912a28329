"""Which envs can be simulated, and how: two plain dicts and the functions that look into them.

``STATE_ADAPTERS`` maps an env class (any subclass matches) or a gymnasium id to its StateAdapter;
an env without an entry that has ``get_state()`` / ``set_state(z)`` methods is adapted generically.
``BATCHED_SIMS`` maps an exact env class to a factory of its BatchedSim (None where the env's
configuration cannot be batched exactly).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
from gymnasium.error import DependencyNotInstalled

from dreamlab.envs.mazes import GridMaze
from dreamlab.envs.two_rooms import TwoRoomsEnv
from dreamlab.sim.base import BatchedSim, StateAdapter
from dreamlab.sim.classic import CLASSIC_ADAPTERS, CLASSIC_BATCHED
from dreamlab.sim.mazes import MAZE_ADAPTER, MazeSim
from dreamlab.sim.two_rooms import TwoRoomsSim

__all__ = ["BATCHED_SIMS", "METHOD_ADAPTER", "STATE_ADAPTERS", "find_adapter", "find_batched"]


def _get_by_method(env: Any) -> np.ndarray:
    return np.asarray(env.get_state(), dtype=np.float64).reshape(-1).copy()


def _set_by_method(env: Any, z: np.ndarray) -> None:
    env.set_state(np.array(z, dtype=np.float64))


METHOD_ADAPTER = StateAdapter(_get_by_method, _set_by_method)
"""For envs with their own ``get_state() -> array [D]`` and ``set_state(z: float64 [D])`` methods."""

STATE_ADAPTERS: dict[type | str, StateAdapter] = {**CLASSIC_ADAPTERS, GridMaze: MAZE_ADAPTER}
"""State adapters by env class (subclasses match) or gymnasium id (takes precedence)."""

BATCHED_SIMS: dict[type, Callable[[Any], BatchedSim | None]] = {
    **CLASSIC_BATCHED,
    GridMaze: MazeSim,
    TwoRoomsEnv: TwoRoomsSim,
}
"""Batched simulators by exact env class."""

try:  # MuJoCo is an optional dependency
    from dreamlab.sim.mujoco import MUJOCO_ADAPTERS, MUJOCO_BATCHED
except (ImportError, DependencyNotInstalled):
    pass
else:
    STATE_ADAPTERS.update(MUJOCO_ADAPTERS)
    BATCHED_SIMS.update(MUJOCO_BATCHED)


def find_adapter(env: gymnasium.Env) -> StateAdapter | None:
    """The StateAdapter of an env (by id, then class, then its own methods), or None."""
    unwrapped = env.unwrapped
    spec = getattr(unwrapped, "spec", None) or getattr(env, "spec", None)
    if spec is not None and spec.id in STATE_ADAPTERS:
        return STATE_ADAPTERS[spec.id]
    for cls in type(unwrapped).__mro__:
        if cls in STATE_ADAPTERS:
            return STATE_ADAPTERS[cls]
    if callable(getattr(unwrapped, "get_state", None)) and callable(
        getattr(unwrapped, "set_state", None)
    ):
        return METHOD_ADAPTER
    return None


def find_batched(env: gymnasium.Env) -> BatchedSim | None:
    """A BatchedSim for this env's exact class and configuration, or None."""
    unwrapped = env.unwrapped
    factory = BATCHED_SIMS.get(type(unwrapped))
    return None if factory is None else factory(unwrapped)
