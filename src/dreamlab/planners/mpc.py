"""Model-predictive control: an Agent that plans with a world model and executes the plan's start.

Every ``replan_every`` steps the agent encodes the observation into a state, plans H steps ahead
with any planner, warm-started from the previous plan shifted by the steps already executed, and
in between executes the stored plan open-loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dreamlab.errors import DreamlabError
from dreamlab.planners.common import ActionSpec, Planner, PlanResult
from dreamlab.planners.objectives import Objective
from dreamlab.protocols import WorldModel
from dreamlab.rollout import rollout
from dreamlab.types import State, Trajectory

__all__ = ["MPCAgent", "MPCCarry", "shift_plan"]


def shift_plan(plan: Tensor, steps: int, spec: ActionSpec) -> Tensor:
    """Drop the first ``steps`` actions of a plan [B, H, A] and pad the tail with the midpoint."""
    b, h, a = plan.shape
    k = min(max(steps, 0), h)
    tail = spec.midpoint.to(plan.device, plan.dtype).expand(b, k, a)  # [B, k, A]
    return torch.cat([plan[:, k:], tail], dim=1)  # [B, H, A]


@dataclass(frozen=True)
class MPCCarry:
    """The MPC agent's memory between steps.

    ``plan`` is the last PlanResult (for B = 1 environment), ``trajectory`` the imagined Trajectory
    of its chosen actions (for videos of what the agent expects), ``offset`` how many of its actions
    have been executed, ``step`` the step of the episode and ``replans`` how many plans were made.
    """

    plan: PlanResult
    trajectory: Trajectory
    offset: int = 0
    step: int = 0
    replans: int = 1


@dataclass(frozen=True, kw_only=True)
class MPCAgent:
    """An Agent that acts by planning in ``model`` (satisfies ``dreamlab.protocols.Agent``).

    ``planner`` is any planner of this package, usually with its options bound by
    ``functools.partial(cem, samples=300, generator=g)``; it is called as
    ``planner(model, state, objective, horizon, spec, init_mean=...)``. Give either a fixed
    ``objective`` or ``objective_for``, which builds one from each observation it replans on (goals
    that arrive with the observation). ``encode`` turns one observation into a State with one
    environment (default: ``model.initial`` on the observation batched as [1, ...]).
    """

    model: WorldModel
    planner: Planner
    horizon: int
    spec: ActionSpec
    objective: Objective | None = None
    objective_for: Callable[[Any], Objective] | None = None
    replan_every: int = 1
    encode: Callable[[Any], State] | None = None
    warm_start: bool = True

    def __post_init__(self) -> None:
        if (self.objective is None) == (self.objective_for is None):
            raise DreamlabError("MPCAgent needs exactly one of objective and objective_for")
        if self.horizon < 1:
            raise DreamlabError(f"MPCAgent needs a horizon of at least 1, got {self.horizon}")
        if not 1 <= self.replan_every <= self.horizon:
            raise DreamlabError(
                f"MPCAgent needs 1 <= replan_every <= horizon ({self.horizon}), "
                f"got {self.replan_every}"
            )

    def act(self, obs: Any, carry: MPCCarry | None = None) -> tuple[np.ndarray, MPCCarry]:
        """The next action [A] (numpy) for ``obs``, replanning when ``replan_every`` steps have passed."""
        if carry is None or carry.offset >= self.replan_every:
            carry = self._replan(obs, carry)
        action = carry.plan.actions[0, carry.offset]  # [A]
        return action.detach().cpu().numpy(), replace(
            carry, offset=carry.offset + 1, step=carry.step + 1
        )

    def _state(self, obs: Any) -> State:
        with torch.no_grad():
            if self.encode is not None:
                state = self.encode(obs)
            else:
                x = torch.as_tensor(np.asarray(obs))
                if x.is_floating_point():
                    x = x.float()
                state = self.model.initial(x.unsqueeze(0))  # [1, ...]
        if state.batch_size != 1:
            raise DreamlabError(
                f"MPCAgent plans for one environment, but encode gave a state of batch {state.batch_size}"
            )
        return state

    def _replan(self, obs: Any, carry: MPCCarry | None) -> MPCCarry:
        state = self._state(obs)
        objective = self.objective if self.objective is not None else _need(self.objective_for)(obs)
        kwargs: dict[str, Any] = {}
        if carry is not None and self.warm_start:
            previous = carry.plan.mean if carry.plan.mean is not None else carry.plan.actions
            kwargs["init_mean"] = shift_plan(previous, carry.offset, self.spec)
        plan = self.planner(self.model, state, objective, self.horizon, self.spec, **kwargs)
        expected = (1, self.horizon, self.spec.dim)
        if tuple(plan.actions.shape) != expected:
            raise DreamlabError(
                f"the planner returned actions {tuple(plan.actions.shape)}, expected {expected}"
            )
        # One more rollout of the chosen plan, so the agent can show what it imagines.
        with torch.inference_mode():
            trajectory = rollout(self.model, state, plan.actions, self.horizon)
        return MPCCarry(
            plan=plan,
            trajectory=trajectory,
            offset=0,
            step=0 if carry is None else carry.step,
            replans=1 if carry is None else carry.replans + 1,
        )


def _need(fn: Callable[[Any], Objective] | None) -> Callable[[Any], Objective]:
    if fn is None:  # excluded by __post_init__
        raise DreamlabError("MPCAgent needs an objective")
    return fn
