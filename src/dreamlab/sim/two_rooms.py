"""Two-Rooms as a batched simulator: the env's own dynamics, vectorised over B states.

z = (position x, y, wall x, door y, goal x, goal y) as float64 [B, 6], the vector of
``TwoRoomsEnv.get_state``. The step runs ``two_rooms_step`` in float32, as the env does, so the
batched simulator agrees with ``TwoRoomsEnv.step`` bit for bit; the reward is minus the distance
to the goal and a state within 4.5 px of its goal is terminal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dreamlab.envs.two_rooms import (
    SUCCESS_DISTANCE,
    TwoRoomsEnv,
    WallSpec,
    render_two_rooms,
    two_rooms_step,
)

__all__ = ["TwoRoomsSim"]


@dataclass(frozen=True)
class TwoRoomsSim:
    """B Two-Rooms states stepped at once (float32 dynamics, like the env)."""

    env: TwoRoomsEnv

    def _walls(self, z: np.ndarray) -> WallSpec:
        wall = torch.from_numpy(z[:, 2:4].astype(np.float32))  # [B, 2]
        return WallSpec.from_tensor(wall, self.env.thickness, self.env.door_gap)

    def step(self, z: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """z float64 [B, 6], action [B, 2] -> z' [B, 6], reward -distance [B], terminated [B]."""
        pos = torch.from_numpy(z[:, 0:2].astype(np.float32))  # [B, 2]
        act = torch.from_numpy(np.asarray(action, dtype=np.float32))  # [B, 2]
        nxt = two_rooms_step(pos, act, self._walls(z)).numpy()  # [B, 2] float32
        z_next = z.copy()
        z_next[:, 0:2] = nxt
        # The env measures the distance in float64 from its float32 position and goal.
        distance = np.hypot(
            *(nxt.astype(np.float64) - z[:, 4:6].astype(np.float32).astype(np.float64)).T
        )
        return z_next, -distance, distance < SUCCESS_DISTANCE

    def observation(self, z: np.ndarray) -> np.ndarray:
        """The env's observation of each state: uint8 frames [B, ...] in its obs mode."""
        pos = torch.from_numpy(z[:, 0:2].astype(np.float32))
        return render_two_rooms(pos, self._walls(z), self.env.obs_mode).numpy()
