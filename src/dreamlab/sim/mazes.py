"""dreamlab's grid mazes as simulators: their state is the agent's cell and the world clock.

z = (cell index ``row * cols + col``, ``total_steps``) as float64 [B, 2]. The clock is part of the
state because the blocking and shortcut mazes change their walls when it reaches ``change_at``. The
batched step looks up ``transition_table`` of the layout in force at each state's clock, which is
exactly what ``GridMaze.step`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dreamlab.envs.mazes import GridMaze, transition_table
from dreamlab.errors import DreamlabError
from dreamlab.sim.base import StateAdapter

__all__ = ["MAZE_ADAPTER", "MazeSim"]


def _get_maze(env: GridMaze) -> np.ndarray:
    return np.array([env.layout.index(env.position), env.total_steps], dtype=np.float64)


def _set_maze(env: GridMaze, z: np.ndarray) -> None:
    # The clock first: it decides the layout in which the position is checked.
    env.set_total_steps(int(z[1]))
    env.reset(options={"position": env.layout.position(int(z[0]))})


def _maze_from_obs(env: GridMaze, obs: np.ndarray) -> np.ndarray:
    if env.changed_layout is not None:
        raise DreamlabError(
            "this maze changes with its world clock, which the observation does not show, so it does "
            "not determine the state; use SimulatorModel.capture(env)"
        )
    index = np.asarray(obs).reshape(-1).astype(np.int64)  # [B]
    if ((index < 0) | (index >= env.layout.num_states)).any():
        raise DreamlabError(
            f"maze observations must be cell indices in [0, {env.layout.num_states})"
        )
    # A maze that never changes does not depend on its clock: 0 is as good as the true one.
    return np.stack([index, np.zeros_like(index)], axis=1).astype(np.float64)  # [B, 2]


MAZE_ADAPTER = StateAdapter(_get_maze, _set_maze, _maze_from_obs)
"""GridMaze state: cell index and world clock (restored with ``set_total_steps`` and ``reset``)."""


@dataclass(frozen=True)
class MazeSim:
    """A GridMaze stepped for B states at once by table lookup."""

    env: GridMaze
    tables: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...] = field(init=False)

    def __post_init__(self) -> None:
        layouts = [self.env.initial_layout]
        if self.env.changed_layout is not None:
            layouts.append(self.env.changed_layout)
        object.__setattr__(self, "tables", tuple(transition_table(layout) for layout in layouts))

    def step(self, z: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """z [B, 2] (cell, clock), action int [B] -> next (cell, clock), reward [B], terminated [B]."""
        cell = z[:, 0].astype(np.int64)
        clock = z[:, 1]
        a = np.asarray(action, dtype=np.int64)
        nxt, rew, term = (t[cell, a] for t in self.tables[0])
        if len(self.tables) > 1:
            # The layout of a step is the one in force before it (GridMaze changes after the step).
            changed = clock >= float(self.env.change_at or 0)
            n2, r2, t2 = (t[cell, a] for t in self.tables[1])
            nxt, rew, term = (
                np.where(changed, n2, nxt),
                np.where(changed, r2, rew),
                np.where(changed, t2, term),
            )
        z_next = np.stack([nxt.astype(np.float64), clock + 1], axis=1)  # [B, 2]
        return z_next, rew.astype(np.float64), term.astype(bool)

    def observation(self, z: np.ndarray) -> np.ndarray:
        """The cell index, int64 [B]."""
        return z[:, 0].astype(np.int64)
