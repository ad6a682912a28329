"""The three contracts every dreamlab system implements: WorldModel, Encoder and Agent.

They are ``typing.Protocol`` classes, so any object with the right methods satisfies them; a class
may also inherit from one to get the default ``observe`` and ``decode``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor

from dreamlab.types import State, StepOut

__all__ = ["Agent", "Encoder", "WorldModel"]


@runtime_checkable
class WorldModel(Protocol):
    """A model of how an environment changes under actions.

    Actions are [B] int64 for discrete action spaces and [B, A] float for continuous ones.
    """

    def initial(self, obs: Tensor) -> State:
        """Encode a batch of observations o_t [B, ...] into a state."""
        ...

    def step(self, state: State, action: Tensor) -> tuple[State, StepOut]:
        """Predict the next state and its reward and continuation from a state and a_t."""
        ...

    def observe(self, state: State, action: Tensor, obs: Tensor) -> State:
        """Filter a new real observation o_{t+1}, reached by a_t, into the state.

        Models with a posterior (an RSSM) override this; the default forgets the past and encodes
        the observation alone.
        """
        return self.initial(obs)

    def decode(self, state: State) -> Tensor:
        """Render a state as an observation [B, ...], for pictures and pixel-space objectives."""
        raise NotImplementedError(f"{type(self).__name__} has no decoder")


@runtime_checkable
class Encoder(Protocol):
    """A representation learner without an action-conditioned step (I-JEPA, V-JEPA)."""

    def encode(self, obs: Tensor) -> Tensor:
        """Embed observations [B, ...] into features [B, D] (or tokens [B, P, D])."""
        ...


@runtime_checkable
class Agent(Protocol):
    """Anything that acts: a learned policy, an MPC loop around a planner, a tree search.

    ``carry`` is the agent's own memory between steps (a recurrent state, a warm-start plan);
    ``None`` starts a new episode.
    """

    def act(self, obs: Any, carry: Any = None) -> tuple[Any, Any]:
        """Choose an action for an observation; return the action and the new carry."""
        ...
