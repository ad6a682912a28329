"""The data that flows through every dreamlab system: states, step outputs and batches.

Dimension legend (used in every shape comment and docstring of the package)::

    B   batch (environments, sequences, or planning candidates folded into the batch)
    T   time steps of a stored sequence
    H   planning or imagination horizon
    N   candidates of a planner (often folded into B as B * N)
    A   action dimension (continuous) or number of actions (discrete)
    K   classes of a categorical variable (two-hot bins, codebook entries)
    P   patches or tokens of an image
    D   feature dimension
    C, Hh, W   image channels, height and width (Hh so that H stays the horizon)

Time indexing, used by every buffer, dataset and loss (Dreamer's convention)::

    index t:        0          1          2          3
    obs:            o_0        o_1        o_2        o_3
    action:         (none)     a_0        a_1        a_2       a_{t-1}: the action that led to o_t
    reward:         0          r_1        r_2        r_3       r_t: received on arriving at o_t
    is_first:       1          0          0          0
    is_last:        0          0          0          1         the episode ends at o_t
    is_terminal:    0          0          0          1|0       it ends because the task ended (not a time limit)

    o_0 --a_0--> o_1 --a_1--> o_2 --a_2--> o_3
                 r_1          r_2          r_3

So step t holds everything known on arriving at o_t. A world model that is given the state at t and
a_t returns the state at t + 1 together with r_{t+1} and the probability that the episode goes on.
Index 0's action slot holds zeros (continuous) or 0 (discrete) and is never a training target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace

import torch
from torch import Tensor

__all__ = ["Batch", "State", "StepOut", "Trajectory", "map_tensors"]


def map_tensors(fn: Callable[[Tensor], Tensor], tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """Apply ``fn`` to every tensor of a name -> tensor mapping and return a new mapping."""
    return {name: fn(value) for name, value in tensors.items()}


@dataclass(frozen=True)
class State:
    """A world model's state for a batch of B parallel worlds.

    Every tensor has the batch as its first dimension. ``z`` is the part that planners compare to a
    goal (a latent, an embedding, a table index, a simulator state); ``h`` is an optional
    deterministic or recurrent part (an RSSM's or an LSTM's hidden state); ``extras`` holds anything
    else a model needs to carry (a simulator's full state, an LSTM cell, a frame history).

    States are values: models never hold episode state, they take a State and return a new one.
    """

    z: Tensor  # [B, ...]
    h: Tensor | None = None  # [B, ...]
    extras: dict[str, Tensor] = field(default_factory=dict)  # each [B, ...]

    def __post_init__(self) -> None:
        b = self.z.shape[0] if self.z.dim() > 0 else None
        if b is None:
            raise ValueError("State.z needs a leading batch dimension, got a scalar tensor")
        for name, t in self.tensors().items():
            if t.dim() == 0 or t.shape[0] != b:
                raise ValueError(
                    f"State.{name} has shape {tuple(t.shape)}, expected leading batch dimension {b}"
                )

    @property
    def batch_size(self) -> int:
        """B, the number of parallel worlds in this state."""
        return int(self.z.shape[0])

    def tensors(self) -> dict[str, Tensor]:
        """All tensors of the state by name (``z``, ``h`` if present, then ``extras.<name>``)."""
        out: dict[str, Tensor] = {"z": self.z}
        if self.h is not None:
            out["h"] = self.h
        out.update({f"extras.{k}": v for k, v in self.extras.items()})
        return out

    def map(self, fn: Callable[[Tensor], Tensor]) -> State:
        """Apply ``fn`` to every tensor (it must keep the batch dimension first)."""
        return State(
            z=fn(self.z),
            h=None if self.h is None else fn(self.h),
            extras=map_tensors(fn, self.extras),
        )

    def index(self, idx: Tensor | slice | int) -> State:
        """Select worlds along the batch dimension: ``state.index(torch.tensor([0, 2]))``."""
        if isinstance(idx, int):
            idx = slice(idx, idx + 1)
        return self.map(lambda t: t[idx])

    def repeat(self, n: int) -> State:
        """Repeat every world n times in place: [B, ...] -> [B * n, ...] (world b at b*n .. b*n+n-1).

        This is how a planner turns one state per environment into one per candidate.
        """
        return self.map(lambda t: t.repeat_interleave(n, dim=0))

    def features(self) -> Tensor:
        """The state flattened to features [B, D]: z, then h, concatenated (extras excluded)."""
        parts = [self.z.reshape(self.batch_size, -1).float()]  # [B, Dz]
        if self.h is not None:
            parts.append(self.h.reshape(self.batch_size, -1).float())  # [B, Dh]
        return torch.cat(parts, dim=-1)

    @staticmethod
    def cat(states: list[State]) -> State:
        """Concatenate states along the batch dimension (all must carry the same tensors)."""
        if not states:
            raise ValueError("State.cat needs at least one state")
        first = states[0]
        return State(
            z=torch.cat([s.z for s in states]),
            h=None if first.h is None else torch.cat([_need(s.h, "h") for s in states]),
            extras={k: torch.cat([s.extras[k] for s in states]) for k in first.extras},
        )

    @staticmethod
    def stack(states: list[State]) -> State:
        """Stack states along a new time dimension after the batch: list of [B, ...] -> [B, T, ...].

        The result is a container of sequences, used by ``Trajectory``; its batch size is still B.
        """
        if not states:
            raise ValueError("State.stack needs at least one state")
        first = states[0]
        return State(
            z=torch.stack([s.z for s in states], dim=1),
            h=None if first.h is None else torch.stack([_need(s.h, "h") for s in states], dim=1),
            extras={k: torch.stack([s.extras[k] for s in states], dim=1) for k in first.extras},
        )


def _need(t: Tensor | None, name: str) -> Tensor:
    if t is None:
        raise ValueError(f"states disagree: some carry {name}, some do not")
    return t


@dataclass(frozen=True)
class StepOut:
    """What a world model predicts for one step, besides the next state.

    ``reward`` [B] is the expected reward r_{t+1}; ``cont`` [B] is the probability that the episode
    goes on after the step (1 - P(terminal)). ``extras`` carries what some planners need (MuZero's
    ``value`` [B] and ``policy_logits`` [B, A], a decoded ``obs`` [B, C, Hh, W], ...).
    """

    reward: Tensor  # [B]
    cont: Tensor  # [B]
    extras: dict[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.reward.dim() != 1 or self.cont.shape != self.reward.shape:
            raise ValueError(
                f"StepOut needs reward [B] and cont [B], got {tuple(self.reward.shape)} and "
                f"{tuple(self.cont.shape)}"
            )


@dataclass(frozen=True)
class Trajectory:
    """An imagined trajectory from ``rollout``: H steps from a start state.

    ``states`` stacks the H + 1 states s_0 .. s_H as [B, H + 1, ...]; ``actions`` are a_0 .. a_{H-1}
    ([B, H] for discrete, [B, H, A] for continuous); ``reward`` and ``cont`` are r_1 .. r_H and the
    continuation probabilities [B, H]; ``extras`` stacks StepOut extras as [B, H, ...].
    """

    states: State  # tensors [B, H + 1, ...]
    actions: Tensor  # [B, H] or [B, H, A]
    reward: Tensor  # [B, H]
    cont: Tensor  # [B, H]
    extras: dict[str, Tensor] = field(default_factory=dict)  # [B, H, ...]

    @property
    def horizon(self) -> int:
        """H, the number of imagined steps."""
        return int(self.reward.shape[1])

    def discounted_return(self, gamma: float = 1.0) -> Tensor:
        """Sum of gamma^t r_{t+1}, each term weighted by the probability of still being alive [B]."""
        h = self.horizon
        discount = gamma ** torch.arange(h, dtype=self.reward.dtype, device=self.reward.device)
        # The reward of step t counts only if every earlier step continued.
        alive = torch.cumprod(
            torch.cat([torch.ones_like(self.cont[:, :1]), self.cont[:, :-1]], dim=1), dim=1
        )  # [B, H]
        return (self.reward * alive * discount).sum(dim=1)


@dataclass(frozen=True)
class Batch:
    """A batch of stored sequences in the time indexing of the module docstring.

    ``obs`` is [B, T, ...] (uint8 images stay uint8 until the model converts them);
    ``action`` [B, T] (discrete) or [B, T, A]; ``reward``, ``is_first``, ``is_last`` and
    ``is_terminal`` are [B, T].
    """

    obs: Tensor  # [B, T, ...]
    action: Tensor  # [B, T] or [B, T, A]
    reward: Tensor  # [B, T]
    is_first: Tensor  # [B, T] bool
    is_last: Tensor  # [B, T] bool
    is_terminal: Tensor  # [B, T] bool

    def __post_init__(self) -> None:
        bt = tuple(self.obs.shape[:2])
        for f in fields(self):
            t = getattr(self, f.name)
            if tuple(t.shape[:2]) != bt:
                raise ValueError(
                    f"Batch.{f.name} has shape {tuple(t.shape)}, expected [B, T] = {bt}"
                )

    @property
    def shape(self) -> tuple[int, int]:
        """(B, T)."""
        return int(self.obs.shape[0]), int(self.obs.shape[1])

    def items(self) -> Iterator[tuple[str, Tensor]]:
        """Field name and tensor pairs, in declaration order."""
        for f in fields(self):
            yield f.name, getattr(self, f.name)

    def to(self, device: torch.device | str) -> Batch:
        """The same batch on another device."""
        return replace(self, **{name: t.to(device) for name, t in self.items()})
