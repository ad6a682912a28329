"""Dyna's world model: a deterministic table Model(s, a) -> (r, s'), behind the WorldModel contract.

The agent fills the table from real experience (step (e) of the book's Tabular Dyna-Q box). The same
class also wraps an environment's true transition table, so a learned table can be compared with the
truth, and any planner can run on either.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dreamlab.protocols import WorldModel
from dreamlab.types import State, StepOut

__all__ = ["TabularModel"]


@dataclass(frozen=True)
class TabularModel(WorldModel):
    """A table over S states and A actions.

    ``next_state`` [S, A] int64, ``reward`` [S, A] float, ``terminal`` [S, A] bool and ``known`` [S, A]
    bool (pairs never tried in the real world: the model predicts a self-loop with reward 0, the
    assumption Dyna-Q+ plans with). States are table indices: State.z is [B] int64.
    """

    next_state: Tensor  # [S, A]
    reward: Tensor  # [S, A]
    terminal: Tensor  # [S, A]
    known: Tensor  # [S, A]

    def __post_init__(self) -> None:
        shape = self.next_state.shape
        for name in ("reward", "terminal", "known"):
            if getattr(self, name).shape != shape:
                raise ValueError(f"TabularModel.{name} must be [S, A] = {tuple(shape)}")

    @property
    def num_states(self) -> int:
        """S."""
        return int(self.next_state.shape[0])

    @property
    def num_actions(self) -> int:
        """A."""
        return int(self.next_state.shape[1])

    def initial(self, obs: Tensor) -> State:
        """A state index per observation: obs [B] int -> State(z [B] int64)."""
        obs = torch.as_tensor(obs).long().reshape(-1)  # [B]
        if bool(((obs < 0) | (obs >= self.num_states)).any()):
            raise ValueError(f"observations must be state indices in [0, {self.num_states})")
        return State(z=obs)

    def step(self, state: State, action: Tensor) -> tuple[State, StepOut]:
        """Look up Model(s, a): next state, reward r_{t+1} and cont = 1 - terminal, each [B]."""
        s = state.z
        a = torch.as_tensor(action, device=s.device).long().reshape(-1)  # [B]
        if a.shape != s.shape:
            raise ValueError(f"action must be [B] = [{s.shape[0]}], got {tuple(a.shape)}")
        known = self.known[s, a]
        next_s = torch.where(known, self.next_state[s, a], s)
        reward = torch.where(known, self.reward[s, a], torch.zeros_like(self.reward[s, a]))
        cont = 1.0 - (self.terminal[s, a] & known).to(reward.dtype)
        return State(z=next_s), StepOut(reward=reward, cont=cont)

    def observe(self, state: State, action: Tensor, obs: Tensor) -> State:
        """A tabular state is fully observed: the new observation is the state."""
        return self.initial(obs)

    def decode(self, state: State) -> Tensor:
        """The observation of a state is its index [B]."""
        return state.z

    def agreement(self, truth: TabularModel) -> float:
        """Fraction of the known pairs where this model predicts the true next state and reward."""
        if truth.next_state.shape != self.next_state.shape:
            raise ValueError("models cover different state or action sets")
        k = self.known
        if not bool(k.any()):
            return 0.0
        same = (self.next_state == truth.next_state) & (self.reward == truth.reward)
        return float(same[k].float().mean())
