"""Random shooting: sample action sequences uniformly, imagine them all, keep the best one."""

from __future__ import annotations

import torch
from torch import Tensor

from dreamlab.planners.common import (
    ActionSpec,
    PlanResult,
    check_common,
    evaluate,
    finite_costs,
    initial_mean,
)
from dreamlab.planners.objectives import Objective
from dreamlab.protocols import WorldModel
from dreamlab.types import State

__all__ = ["random_shooting"]


@torch.inference_mode()
def random_shooting(
    model: WorldModel,
    state: State,
    objective: Objective,
    horizon: int,
    spec: ActionSpec,
    samples: int = 1000,
    generator: torch.Generator | None = None,
    *,
    init_mean: Tensor | None = None,
) -> PlanResult:
    """The lowest-cost of ``samples`` uniform action sequences [B, H, A] for each environment.

    ``init_mean`` (a previous plan, shifted) is added as one more candidate, so warm-started MPC
    never does worse than its previous plan under the model.
    """
    check_common(horizon, spec, state, samples=samples)
    device = state.z.device
    spec = spec.to(device)
    b = state.batch_size
    candidates = spec.sample_uniform((b, samples, horizon), generator).to(device)  # [B, N, H, A]
    if init_mean is not None:
        warm = spec.clip(initial_mean(init_mean, b, horizon, spec, device))  # [B, H, A]
        candidates = torch.cat([warm.unsqueeze(1), candidates], dim=1)  # [B, N + 1, H, A]
    cost = finite_costs(evaluate(model, state, candidates, objective))  # [B, N]
    best_cost, best = cost.min(dim=1)
    actions = candidates[torch.arange(b, device=device), best]  # [B, H, A]
    return PlanResult(
        actions=actions,
        cost=best_cost,
        mean=None,
        std=None,
        costs_per_iteration=best_cost.unsqueeze(0),
    )
