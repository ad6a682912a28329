"""DreamerV3's replay: the experience stream of each environment, stored step by step.

Each environment appends one row per step in dreamlab's time indexing (dreamlab.types: o_t, a_{t-1},
r_t, is_first, is_last, is_terminal), so a finished episode is followed directly by the first step of
the next one. A training sequence is any ``length`` consecutive rows of one environment's stream, drawn
uniformly; when it runs over an episode boundary, the row with is_first set tells the RSSM to start
again from its initial state. Short episodes (CartPole's first ones last ~20 steps) are therefore
as usable as long ones, and a sequence never mixes two environments.

Memory: observations keep their dtype (uint8 for images), so a million 64x64x3 frames take 12.3 GB
(plus 4 bytes per action dimension and 7 bytes of reward and flags per step); a million
5-dimensional vector observations take 20 MB. Oldest rows are overwritten first once ``capacity``
(summed over environments) is reached.
"""

from __future__ import annotations

import numpy as np
import torch

from dreamlab.errors import DreamlabError
from dreamlab.types import Batch

__all__ = ["StreamReplay"]

FIELDS = ("obs", "action", "reward", "is_first", "is_last", "is_terminal")


class StreamReplay:
    """Per-environment rings of steps; ``sample`` returns a Batch of [B, T] windows."""

    def __init__(
        self,
        envs: int,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype,
        action_shape: tuple[int, ...],
    ) -> None:
        per_env = max(1, capacity // envs)
        self.envs, self.per_env = envs, per_env
        self.data = {
            "obs": np.zeros((envs, per_env, *obs_shape), obs_dtype),
            "action": np.zeros((envs, per_env, *action_shape), np.float32),
            "reward": np.zeros((envs, per_env), np.float32),
            "is_first": np.zeros((envs, per_env), bool),
            "is_last": np.zeros((envs, per_env), bool),
            "is_terminal": np.zeros((envs, per_env), bool),
        }
        self.count = np.zeros(envs, np.int64)  # rows ever written, per environment

    def __len__(self) -> int:
        """Rows held (summed over environments)."""
        return int(np.minimum(self.count, self.per_env).sum())

    def add(self, env: int, **step: np.ndarray | float | bool) -> None:
        """Append one step of environment ``env`` (all six fields)."""
        row = int(self.count[env] % self.per_env)
        for name in FIELDS:
            self.data[name][env, row] = step[name]
        self.count[env] += 1

    def sample(self, batch: int, length: int, rng: np.random.Generator) -> Batch:
        """``batch`` windows of ``length`` consecutive steps, uniform over every window held."""
        held = np.minimum(self.count, self.per_env)
        windows = np.maximum(held - length + 1, 0)  # [envs]
        if windows.sum() == 0:
            raise DreamlabError(
                f"the replay holds {int(held.max())} steps per environment, fewer than a sequence "
                f"of {length}"
            )
        env = rng.choice(self.envs, size=batch, p=windows / windows.sum())  # [B]
        offset = rng.integers(0, windows[env])  # [B] windows counted from the oldest row
        oldest = np.where(self.count[env] > self.per_env, self.count[env] % self.per_env, 0)
        rows = (oldest + offset)[:, None] + np.arange(length)  # [B, T]
        rows %= self.per_env
        out = {k: torch.from_numpy(v[env[:, None], rows]) for k, v in self.data.items()}
        # a window that starts mid-episode starts from the initial state, like a new episode
        out["is_first"][:, 0] = True
        return Batch(**out)

    def arrays(self) -> dict[str, np.ndarray]:
        """The replay as arrays, for a checkpoint."""
        return {**self.data, "count": self.count.copy()}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the arrays of ``arrays()``."""
        for k in FIELDS:
            if arrays[k].shape != self.data[k].shape:
                raise DreamlabError(
                    f"the checkpoint's replay field {k} has shape {arrays[k].shape}, "
                    f"this run expects {self.data[k].shape}"
                )
            self.data[k][...] = arrays[k]
        self.count[...] = arrays["count"]
