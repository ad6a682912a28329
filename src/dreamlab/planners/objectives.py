"""Objectives: what a planner minimises over an imagined trajectory (lower is better).

An objective maps a ``Trajectory`` of B * N imagined candidates to a cost [B * N]. Two families cover
the field: the negative discounted return (reward-driven control) and a distance to a goal in feature
space (goal-conditioned planning with goal observations or goal *embeddings*, as JEPA and DINO-WM do).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import torch
from torch import Tensor

from dreamlab.errors import DreamlabError, unknown_choice
from dreamlab.types import State, Trajectory

__all__ = ["Metric", "Objective", "Reduce", "goal_objective", "reward_objective"]

Objective = Callable[[Trajectory], Tensor]
"""An imagined Trajectory of B * N candidates -> cost [B * N], lower is better."""

Reduce = Literal["sum", "last"]
Metric = Literal["l2", "l1", "sq"]


def reward_objective(gamma: float = 1.0) -> Objective:
    """Minus the discounted return sum_t gamma^t r_{t+1}, each reward weighted by P(still alive)."""
    if not 0.0 <= gamma <= 1.0:
        raise DreamlabError(f"reward_objective needs a discount gamma in [0, 1], got {gamma}")

    def objective(trajectory: Trajectory) -> Tensor:
        return -trajectory.discounted_return(gamma)

    return objective


def goal_objective(
    goal: Tensor,
    *,
    reduce: Reduce = "sum",
    metric: Metric = "l2",
    features: Callable[[State], Tensor] | None = None,
) -> Objective:
    """Distance between the features of the imagined states s_1 .. s_H and the goal's features.

    ``goal`` is [D] (one goal for every environment) or [G, D]: one goal per environment, repeated to
    the candidates in the layout of ``State.repeat`` (the candidates of environment b are rows
    b*N .. b*N+N-1). ``features`` maps a State [B, ...] to [B, D] (default ``State.features``: z, then
    h, flattened). ``reduce="sum"`` adds the distance of every step, which prefers reaching the goal
    early; ``"last"`` scores the final state only. ``metric`` is the Euclidean distance ``"l2"``, the
    ``"l1"`` distance, or the squared Euclidean distance ``"sq"``.
    """
    if reduce not in get_args(Reduce):
        raise unknown_choice("goal reduction", str(reduce), get_args(Reduce))
    if metric not in get_args(Metric):
        raise unknown_choice("goal metric", str(metric), get_args(Metric))
    goal = torch.as_tensor(goal)
    if goal.dim() == 1:
        goal = goal.unsqueeze(0)  # [1, D]
    if goal.dim() != 2:
        raise DreamlabError(f"a goal must be [D] or [B, D], got shape {tuple(goal.shape)}")
    feat = State.features if features is None else features

    def objective(trajectory: Trajectory) -> Tensor:
        states = trajectory.states  # tensors [BN, H + 1, ...]
        bn, h = states.batch_size, trajectory.horizon
        # Fold the time steps s_1 .. s_H into the batch so ``features`` sees ordinary states.
        flat = states.map(lambda t: t[:, 1:].reshape(bn * h, *t.shape[2:]))  # [BN * H, ...]
        x = feat(flat)
        x = x.reshape(bn, h, -1)  # [BN, H, D]
        if x.shape[-1] != goal.shape[-1]:
            raise DreamlabError(
                f"goal has {goal.shape[-1]} features but the imagined states have {x.shape[-1]}"
            )
        if bn % goal.shape[0] != 0:
            raise DreamlabError(
                f"{goal.shape[0]} goals do not divide the {bn} imagined candidates; pass one goal "
                "per environment"
            )
        g = goal.to(device=x.device, dtype=x.dtype).repeat_interleave(bn // goal.shape[0], dim=0)
        diff = x - g.unsqueeze(1)  # [BN, H, D]
        if metric == "l2":
            dist = torch.linalg.vector_norm(diff, dim=-1)  # [BN, H]
        elif metric == "l1":
            dist = diff.abs().sum(-1)
        else:
            dist = diff.square().sum(-1)
        return dist.sum(1) if reduce == "sum" else dist[:, -1]

    return objective
