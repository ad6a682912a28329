"""Model predictive path integral control (MPPI; Williams et al., 2017), as TD-MPC uses it.

Each iteration samples candidates around the mean, imagines them, and moves the mean to their
average weighted by softmax(-cost / temperature). Costs are first normalised by their spread within
each environment, so one temperature fits objectives of any scale.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dreamlab.errors import DreamlabError
from dreamlab.planners.common import (
    ActionSpec,
    PlanResult,
    check_common,
    colored_noise,
    evaluate,
    finite_costs,
    keep_best,
    search_start,
)
from dreamlab.planners.objectives import Objective
from dreamlab.protocols import WorldModel
from dreamlab.types import State

__all__ = ["mppi", "mppi_weights"]


def mppi_weights(cost: Tensor, temperature: float, elites: int | None = None) -> Tensor:
    """Weights [B, N] = softmax(-normalised cost / temperature) over each environment's candidates.

    Costs [B, N] are shifted by their minimum and divided by their standard deviation; infinite
    costs get weight 0, and with ``elites`` only the ``elites`` lowest costs get any weight.
    """
    finite = torch.isfinite(cost)
    safe = torch.where(finite, cost, torch.zeros_like(cost))
    count = finite.sum(dim=1, keepdim=True).clamp_min(1)
    low = torch.where(finite, cost, torch.full_like(cost, float("inf"))).min(dim=1, keepdim=True)[0]
    low = torch.where(torch.isfinite(low), low, torch.zeros_like(low))
    mean = safe.sum(dim=1, keepdim=True) / count
    spread = ((safe - mean).square() * finite).sum(dim=1, keepdim=True) / count
    spread = spread.sqrt().clamp_min(1e-8)
    logits = -(safe - low) / spread / temperature  # [B, N]
    allowed = finite
    if elites is not None and elites < cost.shape[1]:
        idx = torch.topk(cost, elites, dim=1, largest=False)[1]  # [B, E]
        top = torch.zeros_like(finite).scatter(1, idx, True)
        allowed = allowed & top
    # An environment whose candidates all diverged averages them uniformly rather than dividing by 0.
    allowed = torch.where(allowed.any(dim=1, keepdim=True), allowed, torch.ones_like(allowed))
    logits = torch.where(allowed, logits, torch.full_like(logits, float("-inf")))
    return torch.softmax(logits, dim=1)


@torch.inference_mode()
def mppi(
    model: WorldModel,
    state: State,
    objective: Objective,
    horizon: int,
    spec: ActionSpec,
    *,
    samples: int = 500,
    iterations: int = 5,
    temperature: float = 0.1,
    elites: int | None = None,
    momentum: float = 0.1,
    init_mean: Tensor | None = None,
    init_std: Tensor | float | None = None,
    min_std: float = 0.05,
    noise_beta: float = 0.0,
    generator: torch.Generator | None = None,
) -> PlanResult:
    """Plan [B, H, A] for every environment of ``state`` with MPPI.

    The new mean (and std) is the weighted average (and weighted spread) of the candidates,
    smoothed as ``momentum * old + (1 - momentum) * new``; ``temperature`` acts on costs normalised
    by their per-environment standard deviation (smaller: greedier). The current mean is always a
    candidate; the final mean is evaluated once more and returned as the plan unless a sampled
    candidate had a lower cost. ``min_std`` (relative to the bound range), ``init_mean``,
    ``init_std`` and ``noise_beta`` behave as in ``cem``.
    """
    check_common(horizon, spec, state, samples=samples, iterations=iterations)
    if temperature <= 0:
        raise DreamlabError(f"mppi needs a positive temperature, got {temperature}")
    if elites is not None and not 1 <= elites <= samples:
        raise DreamlabError(f"mppi needs 1 <= elites <= samples, got elites={elites}")
    device = state.z.device
    spec = spec.to(device)
    b, a = state.batch_size, spec.dim
    search = search_start("mppi", state, horizon, spec, init_mean, init_std, min_std, momentum)
    mean, std = search.mean, search.std
    per_iteration = []
    for _ in range(iterations):
        noise = colored_noise(noise_beta, (b, samples - 1), horizon, a, generator, device)
        sampled = spec.clip(mean.unsqueeze(1) + std.unsqueeze(1) * noise)  # [B, N - 1, H, A]
        candidates = torch.cat([spec.clip(mean).unsqueeze(1), sampled], dim=1)  # [B, N, H, A]
        cost = finite_costs(evaluate(model, state, candidates, objective))  # [B, N]
        low, idx = cost.min(dim=1)
        keep_best(search, candidates[torch.arange(b, device=device), idx], low)
        per_iteration.append(low)
        w = mppi_weights(cost, temperature, elites)[:, :, None, None]  # [B, N, 1, 1]
        new_mean = (w * candidates).sum(dim=1)  # [B, H, A]
        new_std = (w * (candidates - new_mean.unsqueeze(1)).square()).sum(dim=1).sqrt()
        mean = momentum * mean + (1 - momentum) * new_mean
        std = torch.maximum(momentum * std + (1 - momentum) * new_std, search.floor)
    # The final mean is MPPI's answer; it has not been imagined yet, so score it once.
    final = spec.clip(mean)
    final_cost = finite_costs(evaluate(model, state, final.unsqueeze(1), objective))[:, 0]  # [B]
    use_mean = final_cost <= search.best_cost
    return PlanResult(
        actions=torch.where(use_mean[:, None, None], final, search.best_actions),
        cost=torch.where(use_mean, final_cost, search.best_cost),
        mean=mean,
        std=std,
        costs_per_iteration=torch.stack(per_iteration),
    )
