"""A replay buffer of whole episodes, sampled as transitions or as fixed-length sequences.

Storage is one flat ring of numpy arrays (one per field, ``capacity`` rows each); every episode
occupies a contiguous run of rows, so a sequence window is the index range start .. start + T - 1
and a batch of windows is one fancy-indexing gather per field::

    rows:  | ep 3 ......... | ep 4 ..... | ep 5 ...... |  gap  | ep 2 ......... |
                                                        ^ write position

An episode that does not fit before the end of the ring is written at row 0 (the rows after the
write position are left as a gap), and every episode it overlaps is evicted together with all
older ones, so eviction is first in, first out. Frames keep their stored dtype (uint8 stays uint8).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dreamlab.data.episodes import FORMAT, Episode, EpisodeStore
from dreamlab.errors import DreamlabError
from dreamlab.train.files import fsync_dir
from dreamlab.types import Batch

__all__ = ["ReplayBuffer", "Transitions"]


@dataclass(frozen=True)
class Transitions:
    """A batch of single transitions o_t --a_t--> o_{t+1} from one episode each.

    ``obs`` and ``next_obs`` [B, ...] in their stored dtype; ``action`` a_t [B] or [B, A];
    ``reward`` r_{t+1} [B] float32; ``terminal`` [B] bool, whether o_{t+1} ended the task.
    """

    obs: Tensor  # [B, ...]
    action: Tensor  # [B] or [B, A]
    reward: Tensor  # [B]
    next_obs: Tensor  # [B, ...]
    terminal: Tensor  # [B] bool

    def to(self, device: torch.device | str) -> Transitions:
        """The same transitions on another device."""
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def _is_episode_store(root: Path) -> bool:
    """Whether ``root`` is an empty folder or holds metadata.json of the episode store format."""
    if root.is_dir() and not any(root.iterdir()):
        return True
    try:
        metadata = json.loads((root / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(metadata, dict) and metadata.get("format") == FORMAT


class ReplayBuffer:
    """Whole episodes in a flat ring of ``capacity`` stored steps, oldest evicted first.

    ``capacity`` and ``len(buffer)`` count stored steps (rows, one per observation, o_0 of every
    episode included), so memory is bounded by exactly ``capacity`` rows of every field.
    ``num_transitions`` counts environment steps (len - num_episodes).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise DreamlabError(f"replay capacity must be at least 2 steps, got {capacity}")
        self.capacity = capacity
        self._storage: dict[str, np.ndarray] = {}  # name -> [capacity, ...]
        self._schema: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {}
        self._episodes: deque[tuple[int, int]] = deque()  # (start row, length), oldest first
        self._write = 0
        self._rows = 0
        self._index: tuple[np.ndarray, np.ndarray] | None = None  # cached (starts, lengths)

    def __len__(self) -> int:
        """The number of stored steps (rows), o_0 of every episode included."""
        return self._rows

    @property
    def num_episodes(self) -> int:
        """The number of stored episodes."""
        return len(self._episodes)

    @property
    def num_transitions(self) -> int:
        """The number of stored transitions t -> t + 1 (environment steps)."""
        return self._rows - len(self._episodes)

    def __repr__(self) -> str:
        return f"ReplayBuffer(capacity={self.capacity}, steps={len(self)}, episodes={self.num_episodes})"

    # --- adding ------------------------------------------------------------------------------

    def add(self, episode: Episode) -> None:
        """Store a finished episode, evicting the oldest ones to make room."""
        length = len(episode)
        if length > self.capacity:
            raise DreamlabError(
                f"an episode of {length} steps does not fit in a replay buffer of capacity {self.capacity}"
            )
        arrays = episode.arrays()
        if not self._storage:
            self._allocate(arrays)
        self._check_schema(arrays)

        if self._write + length > self.capacity:
            self._write = 0  # wrap: the rows after the old write position become a gap
        lo, hi = self._write, self._write + length
        # Episodes are in age order; evict up to the youngest one the new rows overlap.
        last = -1
        for i, (start, n) in enumerate(self._episodes):
            if start < hi and lo < start + n:
                last = i
        for _ in range(last + 1):
            _, n = self._episodes.popleft()
            self._rows -= n

        for name, array in arrays.items():
            self._storage[name][lo:hi] = array
        self._episodes.append((lo, length))
        self._rows += length
        self._write = hi
        self._index = None

    def _allocate(self, arrays: dict[str, np.ndarray]) -> None:
        # np.zeros maps pages lazily, so a large capacity costs memory only as it fills.
        for name, array in arrays.items():
            self._schema[name] = (array.dtype, tuple(array.shape[1:]))
            self._storage[name] = np.zeros((self.capacity, *array.shape[1:]), dtype=array.dtype)

    def _check_schema(self, arrays: dict[str, np.ndarray]) -> None:
        if set(arrays) != set(self._schema):
            raise DreamlabError(
                f"episode has arrays {sorted(arrays)}, the replay buffer holds {sorted(self._schema)}"
            )
        for name, array in arrays.items():
            dtype, shape = self._schema[name]
            if array.dtype != dtype or tuple(array.shape[1:]) != shape:
                raise DreamlabError(
                    f"episode '{name}' is {array.dtype} {list(array.shape[1:])} per step, the replay buffer "
                    f"holds {dtype} {list(shape)}"
                )

    # --- sampling ----------------------------------------------------------------------------

    def _episode_index(self) -> tuple[np.ndarray, np.ndarray]:
        if self._index is None:
            table = np.array(self._episodes, dtype=np.int64).reshape(-1, 2)  # [E, 2]
            self._index = (table[:, 0], table[:, 1])
        return self._index

    def _window_starts(self, batch_size: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """First rows of ``batch_size`` windows of ``length`` rows, uniform over all valid windows."""
        if batch_size < 1 or length < 1:
            raise DreamlabError(
                f"batch size and length must be positive, got {batch_size} and {length}"
            )
        starts, lengths = self._episode_index()
        counts = np.maximum(lengths - length + 1, 0)  # [E] valid windows per episode
        cum = np.cumsum(counts)  # [E]
        total = int(cum[-1]) if len(cum) else 0
        if total == 0:
            longest = int(lengths.max()) if len(lengths) else 0
            raise DreamlabError(
                f"no stored episode has {length} steps to sample from "
                f"({self.num_episodes} episodes, the longest has {longest})"
            )
        # Number every valid window 0 .. total - 1, draw numbers, map each back to its episode.
        u = rng.integers(0, total, size=batch_size)  # [B]
        e = np.searchsorted(cum, u, side="right")  # [B]
        offset = u - (cum[e] - counts[e])  # [B]
        return starts[e] + offset  # [B]

    def sample(self, batch_size: int, rng: np.random.Generator) -> Transitions:
        """``batch_size`` transitions t -> t + 1, uniform over all stored transitions."""
        if self.num_transitions == 0:
            raise DreamlabError("the replay buffer holds no transitions to sample")
        t = self._window_starts(batch_size, 2, rng)  # [B]
        s = self._storage
        # Row t + 1 holds a_t, r_{t+1} and the flags of o_{t+1} (see dreamlab.types).
        return Transitions(
            obs=torch.from_numpy(s["obs"][t]),
            action=torch.from_numpy(s["action"][t + 1]),
            reward=torch.from_numpy(s["reward"][t + 1]),
            next_obs=torch.from_numpy(s["obs"][t + 1]),
            terminal=torch.from_numpy(s["is_terminal"][t + 1]),
        )

    def sample_sequences(self, batch_size: int, length: int, rng: np.random.Generator) -> Batch:
        """``batch_size`` windows of ``length`` steps, each inside one episode, uniform over all such windows.

        is_first is set at t = 0 exactly where a window starts at its episode's start.
        """
        first = self._window_starts(batch_size, length, rng)  # [B]
        rows = first[:, None] + np.arange(length)  # [B, T]
        s = self._storage
        return Batch(
            obs=torch.from_numpy(s["obs"][rows]),
            action=torch.from_numpy(s["action"][rows]),
            reward=torch.from_numpy(s["reward"][rows]),
            is_first=torch.from_numpy(s["is_first"][rows]),
            is_last=torch.from_numpy(s["is_last"][rows]),
            is_terminal=torch.from_numpy(s["is_terminal"][rows]),
        )

    # --- episodes and persistence ------------------------------------------------------------

    def episodes(self) -> Iterator[Episode]:
        """Yield copies of the stored episodes, oldest first."""
        for start, n in list(self._episodes):
            yield Episode.from_arrays(
                {k: v[start : start + n].copy() for k, v in self._storage.items()}
            )

    def save(
        self, root: str | Path, env_name: str = "", meta: dict[str, Any] | None = None
    ) -> None:
        """Write the stored episodes to an ``EpisodeStore`` at ``root``, replacing a store already there.

        The new store is written beside ``root`` and swapped in, so a failure leaves the old one.
        A folder at ``root`` that is not an episode store is never replaced.
        """
        root = Path(root)
        if root.exists() and not _is_episode_store(root):
            raise DreamlabError(
                f"cannot save replay to {root}: it exists and is not an episode store"
            )
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.", suffix=".tmp"))
        try:
            with EpisodeStore.create(tmp, env_name, meta) as store:
                for episode in self.episodes():
                    store.add(episode)
            if root.exists():
                old = root.with_name(f".{root.name}.old")
                if old.exists():
                    shutil.rmtree(old)
                root.rename(old)
                tmp.rename(root)
                shutil.rmtree(old)
            else:
                tmp.rename(root)
            fsync_dir(root.parent)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)

    @classmethod
    def load(cls, root: str | Path, capacity: int) -> ReplayBuffer:
        """A buffer of ``capacity`` filled from the store at ``root``; if it is too small, the newest episodes stay."""
        buffer = cls(capacity)
        for episode in EpisodeStore(root):
            buffer.add(episode)
        return buffer
