"""Temporal abstraction for planning: hold each planned action for k model steps.

A plan of H actions held k steps each looks k * H steps ahead for the price of H decisions, which
is what long detours need (Two-Rooms: through the door, away from the goal at first).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from dreamlab.protocols import WorldModel
from dreamlab.types import State, StepOut

__all__ = ["ActionRepeat"]


@dataclass(frozen=True)
class ActionRepeat(WorldModel):
    """A WorldModel whose step is ``repeat`` steps of ``model`` with the same action.

    The reward is the sum of the inner rewards, each counted only while the episode is still alive;
    ``cont`` is the probability of surviving all inner steps.
    """

    model: WorldModel
    repeat: int

    def __post_init__(self) -> None:
        if self.repeat < 1:
            raise ValueError(f"ActionRepeat needs repeat >= 1, got {self.repeat}")

    def initial(self, obs: Tensor) -> State:
        """The inner model's encoding."""
        return self.model.initial(obs)

    def step(self, state: State, action: Tensor) -> tuple[State, StepOut]:
        """``repeat`` inner steps: rewards [B] summed while alive, cont [B] multiplied."""
        state, out = self.model.step(state, action)
        reward, alive = out.reward, out.cont
        for _ in range(self.repeat - 1):
            state, out = self.model.step(state, action)
            reward = reward + alive * out.reward
            alive = alive * out.cont
        return state, StepOut(reward=reward, cont=alive, extras=out.extras)

    def observe(self, state: State, action: Tensor, obs: Tensor) -> State:
        """The inner model's filter."""
        return self.model.observe(state, action, obs)

    def decode(self, state: State) -> Tensor:
        """The inner model's decoder."""
        return self.model.decode(state)
