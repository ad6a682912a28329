"""Gradient-based planning: optimise the action sequence by backpropagating through the model.

Actions are squashed from unconstrained parameters u, a = low + (high - low) * sigmoid(u), so every
step of Adam stays inside the bounds. Several starts are optimised in parallel (as candidates of
one batch) because the cost landscape of a learned model is rarely convex; the best is returned.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dreamlab.errors import DreamlabError
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

__all__ = ["gradient_plan"]

_EDGE = 1e-4  # keeps sigmoid's inverse finite for initial actions on a bound


def gradient_plan(
    model: WorldModel,
    state: State,
    objective: Objective,
    horizon: int,
    spec: ActionSpec,
    *,
    iterations: int = 100,
    lr: float = 0.05,
    starts: int = 8,
    init_mean: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> PlanResult:
    """Plan [B, H, A] by Adam on ``starts`` action sequences per environment, through ``model.step``.

    Starts are uniform random in the bounds; with ``init_mean`` (a previous plan, shifted) the first
    start is that plan. The model and the objective must be differentiable in the actions; a
    DreamlabError says so when no gradient reaches them (a table model, a simulator). Model
    parameters are not updated and gather no gradients. The best sequence evaluated is returned.
    """
    check_common(horizon, spec, state, iterations=iterations, starts=starts)
    if lr <= 0:
        raise DreamlabError(f"gradient_plan needs a positive learning rate, got {lr}")
    device = state.z.device
    # Copies outside inference mode, so states or plans made while acting can enter autograd.
    spec = ActionSpec(spec.low.clone(), spec.high.clone()).to(device)
    state = state.map(lambda t: t.detach().clone())
    b = state.batch_size
    low, span = spec.low, spec.range
    start = spec.sample_uniform((b, starts, horizon), generator).to(device)  # [B, S, H, A]
    if init_mean is not None:
        warm = spec.clip(initial_mean(init_mean.detach().clone(), b, horizon, spec, device))
        start[:, 0] = warm
    frac = ((start - low) / span.clamp_min(1e-12)).clamp(_EDGE, 1 - _EDGE)
    u = torch.logit(frac).requires_grad_(True)  # [B, S, H, A]
    optimizer = torch.optim.Adam([u], lr=lr)

    best_actions = start[:, 0].clone()
    best_cost = torch.full((b,), float("inf"), device=device)
    per_iteration = []

    def remember(actions: Tensor, cost: Tensor) -> Tensor:
        """Keep the best sequence seen so far; return this evaluation's lowest cost [B]."""
        nonlocal best_actions, best_cost
        low_cost, idx = finite_costs(cost).min(dim=1)
        better = low_cost < best_cost
        chosen = actions[torch.arange(b, device=device), idx]  # [B, H, A]
        best_actions = torch.where(better[:, None, None], chosen, best_actions)
        best_cost = torch.where(better, low_cost, best_cost)
        return low_cost

    with torch.enable_grad():
        for _ in range(iterations):
            actions = low + span * torch.sigmoid(u)  # [B, S, H, A]
            cost = evaluate(model, state, actions, objective)  # [B, S]
            per_iteration.append(remember(actions.detach(), cost.detach()))
            if not cost.requires_grad:
                raise DreamlabError(
                    f"gradient_plan needs a differentiable model: no gradient reaches the actions "
                    f"through {type(model).__name__}.step and the objective"
                )
            # Candidates are independent, so the gradient of the sum is each one's own gradient.
            (grad,) = torch.autograd.grad(finite_costs(cost).sum(), [u], allow_unused=True)
            if grad is None:
                raise DreamlabError(
                    f"gradient_plan needs a differentiable model: the cost of "
                    f"{type(model).__name__} does not depend on the actions"
                )
            # A diverging candidate must not poison the others' Adam statistics.
            u.grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
            optimizer.step()
    with torch.inference_mode():
        actions = low + span * torch.sigmoid(u.detach())
        cost = evaluate(model, state, actions, objective)
    # The last Adam step's result counts towards the last iteration.
    per_iteration[-1] = torch.minimum(per_iteration[-1], remember(actions, cost))
    return PlanResult(
        actions=best_actions,
        cost=best_cost,
        mean=best_actions,
        std=None,
        costs_per_iteration=torch.stack(per_iteration),
    )
