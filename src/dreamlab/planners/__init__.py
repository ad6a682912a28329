"""Planners: functions that search action sequences in any WorldModel against an objective.

``random_shooting``, ``cem`` (with iCEM's colored noise and kept elites), ``mppi`` and
``gradient_plan`` all take ``(model, state, objective, horizon, spec)`` and return a ``PlanResult``;
``MPCAgent`` turns any of them into an Agent. ``mcts`` is MuZero's batched tree search (pUCT or
Gumbel MuZero's root) over any model whose step also returns a value and policy logits. Objectives map an imagined Trajectory to a cost
(lower is better): ``reward_objective`` and ``goal_objective``.
"""

from __future__ import annotations

from dreamlab.planners.cem import cem
from dreamlab.planners.common import ActionSpec, Planner, PlanResult, colored_noise, evaluate
from dreamlab.planners.gradient import gradient_plan
from dreamlab.planners.mcts import SearchConfig, SearchResult, mcts
from dreamlab.planners.mpc import MPCAgent, MPCCarry, shift_plan
from dreamlab.planners.mppi import mppi, mppi_weights
from dreamlab.planners.objectives import Objective, goal_objective, reward_objective
from dreamlab.planners.repeat import ActionRepeat
from dreamlab.planners.shooting import random_shooting

__all__ = [
    "ActionRepeat",
    "ActionSpec",
    "MPCAgent",
    "MPCCarry",
    "Objective",
    "PlanResult",
    "Planner",
    "SearchConfig",
    "SearchResult",
    "cem",
    "colored_noise",
    "evaluate",
    "goal_objective",
    "gradient_plan",
    "mcts",
    "mppi",
    "mppi_weights",
    "random_shooting",
    "reward_objective",
    "shift_plan",
]
